"""The SMS simulator as its own process, for any test that sends messages.

    # tests/<package>/conftest.py
    from tests.messages.sim_process import message_simulator  # noqa: F401 - a fixture

    # tests/<package>/test_….py
    def test_a_code_is_sent(message_simulator: str) -> None:
        ...                                 # code under test calls message_sender().send(…)
        [message] = read_outbox(message_simulator, to="0912345678")

``message_simulator`` (function scope) runs ``edureg sim messages`` on a free port, points
``EDUREG_MESSAGES_URL`` (and ``EDUREG_MESSAGE_SENDER``, at the HTTP adapter) at it, and clears
the ``message_sender()`` cache before and after the test. Options of
``running_message_simulator`` are the command's: ``fail_rate=0.5``, ``down=True``,
``latency_ms=200``, ``seed=1``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings

from edureg.core.messages import message_sender_clear

HTTP_SENDER = "edureg.core.messages.http_adapter.HttpMessageSender"
_START_SECONDS = 30


@dataclasses.dataclass(frozen=True)
class SimulatorProcess:
    url: str
    token: str
    log: Path  # the process's stderr: its log lines
    process: subprocess.Popen[str]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _flags(options: dict[str, Any]) -> list[str]:
    flags: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is not False and value is not None:
            flags.extend([flag, str(value)])
    return flags


@contextlib.contextmanager
def message_simulator_process(**options: Any) -> Iterator[SimulatorProcess]:
    """``edureg sim messages --port 0`` with ``options`` as flags, in its own process, once it
    answers; stopped (SIGTERM) on exit. Its token is the current EDUREG_MESSAGES_TOKEN."""
    token = django_settings.EDUREG_MESSAGES_TOKEN
    env = {**os.environ, "EDUREG_MESSAGES_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="messages-sim-") as folder:
        log = Path(folder) / "sim.log"
        with log.open("w") as stderr:
            process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [sys.executable, "-m", "edureg.cli.main", "sim", "messages", "--port", "0",
                 *_flags(options)],
                stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        try:
            sim = SimulatorProcess(_started_url(process, log), token, log, process)
            yield sim
        finally:
            _stop(process)


@contextlib.contextmanager
def running_message_simulator(**options: Any) -> Iterator[str]:
    """The base URL of a simulator process (see ``message_simulator_process``)."""
    with message_simulator_process(**options) as sim:
        yield sim.url


def _started_url(process: subprocess.Popen[str], log: Path) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], _START_SECONDS)
    line = process.stdout.readline() if ready else ""
    found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not found:
        raise AssertionError(f"the messages simulator did not start: {line!r} "
                             f"{log.read_text(encoding='utf-8')}")
    url = f"http://127.0.0.1:{found.group(1)}"
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=url, timeout=2) as http:
        while True:
            try:
                http.get("/_sim/health").raise_for_status()
                return url
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after 10 s (a slow stop on a loaded machine is not a failure)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    finally:
        if process.stdout is not None:
            process.stdout.close()


def read_outbox(url: str, to: str | None = None) -> list[dict[str, str]]:
    """The messages the simulator at ``url`` delivered (to ``to``), newest first."""
    response = httpx.get(f"{url}/_sim/outbox", params={"to": to} if to else None, timeout=5)
    response.raise_for_status()
    messages: list[dict[str, str]] = response.json()
    return messages


@pytest.fixture
def message_simulator(settings: Any) -> Iterator[str]:
    """A fresh simulator for this test; ``message_sender()`` sends to it. Yields its URL."""
    with running_message_simulator() as url:
        settings.EDUREG_MESSAGE_SENDER = HTTP_SENDER
        settings.EDUREG_MESSAGES_URL = url
        message_sender_clear()
        try:
            yield url
        finally:
            message_sender_clear()
