"""Fixtures shared by the privacy tests."""

from tests.messages.sim_process import message_simulator  # noqa: F401 - a fixture
