"""Helpers for the account tests: passwords, signing in through the real pages, TOTP codes."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from edureg.access.models import User
from edureg.access.roles import Role
from tests import factories as f
from tests.conftest import Cast

PASSWORD = "Hoa-phượng-đỏ-2026"


def set_password(user: User, password: str = PASSWORD) -> None:
    user.set_password(password)
    user.save(update_fields=["password"])


def sign_in(client: Client, username: str, password: str = PASSWORD, **extra: str) -> object:
    return client.post(reverse("web:login"), {"username": username, "password": password},
                       **extra)  # type: ignore[arg-type]


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the authenticator app shows now (or ``steps_ahead`` periods later)."""
    t0 = device.t0 - steps_ahead * device.step
    return f"{totp(device.bin_key, device.step, t0, device.digits, device.drift):0{device.digits}d}"


@pytest.fixture
def ivan(cast: Cast) -> User:
    """IT officer of school A."""
    return f.make_user("ivan", Role.IT_OFFICER, cast.school_a)


@pytest.fixture
def olga(cast: Cast) -> User:
    """IT officer of school B."""
    return f.make_user("olga", Role.IT_OFFICER, cast.school_b)
