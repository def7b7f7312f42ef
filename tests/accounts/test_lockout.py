"""Brute force: failures per account name and per client address lock sign-in for a window;
every attempt is audited without the typed password, and unknown names are only hashed."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from edureg.access.models import LoginFailure
from edureg.audit.models import AuditEvent
from tests.accounts.conftest import PASSWORD, set_password, sign_in, signed_in
from tests.conftest import Cast

LOCKED = "tạm thời bị khoá"


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_five_failures_lock_the_account_and_the_lockout_is_audited(client: Client,
                                                                    cast: Cast) -> None:
    set_password(cast.bob)
    for attempt in range(4):
        response = sign_in(client, "bob", f"sai-mat-khau-{attempt}")
        assert LOCKED not in response.content.decode()
    fifth = sign_in(client, "bob", "sai-mat-khau-5")
    assert LOCKED in fifth.content.decode()
    assert "Hãy thử lại sau" in fifth.content.decode()
    refused = sign_in(client, "bob", PASSWORD)
    assert LOCKED in refused.content.decode()
    assert not signed_in(client)
    lockouts = _events("auth.lockout")
    assert len(lockouts) == 1
    assert lockouts[0].entity_id == str(cast.bob.pk)
    assert lockouts[0].data["key"] == "account"
    failed = _events("auth.login_failed")
    assert [event.data["reason"] for event in failed] == ["bad_credentials"] * 5 + ["locked_out"]
    assert all(event.data["username"] == "bob" for event in failed)
    stored = json.dumps([event.data for event in failed], ensure_ascii=False)
    assert "sai-mat-khau" not in stored
    assert PASSWORD not in stored


def test_unknown_names_lock_the_same_way_and_are_stored_only_as_a_hash(client: Client,
                                                                        cast: Cast) -> None:
    typed = "nguyen.van.a.0912345678"
    responses = [sign_in(client, typed, "sai-mat-khau") for _ in range(5)]
    assert LOCKED in responses[-1].content.decode()
    events = _events("auth.login_failed") + _events("auth.lockout")
    assert events
    assert all("username_hash" in event.data and "username" not in event.data
               for event in events)
    assert typed not in json.dumps([event.data for event in events])
    assert not LoginFailure.objects.filter(key_hash__contains=typed).exists()


@override_settings(EDUREG_LOCKOUT_ADDRESS_FAILURES=6)
def test_failures_from_one_address_lock_that_address_only(client: Client, cast: Cast) -> None:
    set_password(cast.bob)
    for n in range(6):
        sign_in(client, f"khach{n}", "sai-mat-khau", REMOTE_ADDR="203.0.113.7")
    refused = sign_in(client, "bob", PASSWORD, REMOTE_ADDR="203.0.113.7")
    assert LOCKED in refused.content.decode()
    assert not signed_in(client)
    assert _events("auth.lockout")[-1].data["key"] == "address"
    accepted = sign_in(client, "bob", PASSWORD, REMOTE_ADDR="198.51.100.20")
    assert accepted.status_code == 302
    assert signed_in(client)


def test_lockout_ends_when_the_failures_leave_the_window(client: Client, cast: Cast) -> None:
    set_password(cast.bob)
    for _ in range(5):
        sign_in(client, "bob", "sai-mat-khau")
    assert LOCKED in sign_in(client, "bob", PASSWORD).content.decode()
    # Sixteen minutes pass (the window is fifteen).
    for failure in LoginFailure.objects.all():
        failure.occurred_at -= dt.timedelta(minutes=16)
        failure.save(update_fields=["occurred_at"])
    response = sign_in(client, "bob", PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)
    assert _events("auth.login")[-1].actor_id == cast.bob.pk


def test_successful_sign_in_forgives_earlier_account_failures(client: Client,
                                                              cast: Cast) -> None:
    set_password(cast.bob)
    for _ in range(4):
        sign_in(client, "bob", "sai-mat-khau")
    assert sign_in(client, "bob", PASSWORD).status_code == 302
    client.post(reverse("web:logout"))
    for _ in range(4):
        sign_in(client, "bob", "sai-mat-khau")
    assert sign_in(client, "bob", PASSWORD).status_code == 302


def test_sign_in_and_sign_out_are_audited(client: Client, cast: Cast) -> None:
    set_password(cast.bob)
    sign_in(client, "bob", PASSWORD, HTTP_USER_AGENT="Firefox/140")
    client.post(reverse("web:logout"))
    login, logout = _events("auth.login")[-1], _events("auth.logout")[-1]
    assert login.actor_id == logout.actor_id == cast.bob.pk
    assert login.data["ip"] == "127.0.0.1"
    assert logout.data["reason"] == "user"


def test_old_failures_are_pruned_and_recent_ones_kept(client: Client, cast: Cast) -> None:
    sign_in(client, "bob", "sai-mat-khau")
    for failure in LoginFailure.objects.all():  # an hour passes
        failure.occurred_at -= dt.timedelta(hours=1)
        failure.save(update_fields=["occurred_at"])
    sign_in(client, "bob", "sai-mat-khau-2")
    out = StringIO()
    call_command("accounts", "prune-login-failures", stdout=out)
    assert "Đã xoá 2" in out.getvalue()  # the old failure's account and address rows
    assert LoginFailure.objects.count() == 2
