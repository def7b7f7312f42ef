"""Sign-in, sign-out and their audit events (``auth.*``), with the lockout.

Typed passwords are never stored. A typed account name is stored only when it names an account;
otherwise the event keeps a keyed hash of it (it may be someone's personal data mistyped).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from edureg.access import lockout
from edureg.access.lockout import Lockout
from edureg.access.models import User
from edureg.access.sessions import CLIENT_KEY, LAST_SEEN_KEY, STARTED_KEY, USER_AGENT_LENGTH
from edureg.audit.services import audit_record


@dataclasses.dataclass(frozen=True)
class Client:
    address: str | None
    agent: str


def _valid_address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_of(request: HttpRequest) -> Client:
    """The client's address: REMOTE_ADDR, or, behind ``EDUREG_PROXY_COUNT`` trusted proxies,
    the entry of X-Forwarded-For that the outermost trusted proxy saw."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.EDUREG_PROXY_COUNT
    if proxies:
        forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                     if part.strip()]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    agent = request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_LENGTH]
    return Client(address=_valid_address(address), agent=agent)


def username_hash(username: str) -> str:
    return salted_hmac("edureg.access.audit.username", username.strip().casefold(),
                       algorithm="sha256").hexdigest()[:32]


def _account_named(username: str) -> User | None:
    return User.objects.filter(username=username).first()


def _who(username: str) -> tuple[User | None, dict[str, Any]]:
    user = _account_named(username)
    if user is not None:
        return user, {"username": user.username}
    return None, {"username_hash": username_hash(username)}


def _record(action: str, user: User | None, *, actor: AbstractBaseUser | None, client: Client,
            data: dict[str, Any]) -> None:
    audit_record(actor=actor, action=action, entity="user",
                 entity_id=user.pk if user is not None else "",
                 data={"ip": client.address, **data})


def lockout_check(*, username: str, client: Client) -> Lockout | None:
    """The lockout in force for this attempt; the refused attempt itself is audited."""
    found = lockout.lockout_get(username=username, address=client.address)
    if found is not None:
        user, who = _who(username)
        with transaction.atomic():
            _record("auth.login_failed", user, actor=None, client=client,
                    data={**who, "reason": "locked_out", "until": found.until.isoformat()})
    return found


def login_failed(*, username: str, client: Client, second_factor: bool = False
                 ) -> Lockout | None:
    """Count and audit a failed attempt (a wrong password, or a wrong second-factor code after
    a right password); returns the lockout it starts, if any."""
    user, who = _who(username)
    with transaction.atomic():
        started = lockout.failure_add(username=username, address=client.address)
        if second_factor:
            _record("auth.2fa_failed", user, actor=user, client=client, data=who)
        else:
            _record("auth.login_failed", user, actor=None, client=client,
                    data={**who, "reason": "bad_credentials"})
        if started is not None:
            _record("auth.lockout", user, actor=None, client=client,
                    data={**who, "key": started.kind, "until": started.until.isoformat()})
    return started


def login_succeeded(*, request: HttpRequest, user: User, client: Client,
                    second_factor: str) -> None:
    """After ``django.contrib.auth.login``: audit, forgive the account's failures, and note the
    client and start time in the session (the session store copies them to its row)."""
    now = timezone.now()
    request.session[CLIENT_KEY] = {"ip": client.address, "agent": client.agent}
    request.session[STARTED_KEY] = now.timestamp()
    request.session[LAST_SEEN_KEY] = now.timestamp()
    with transaction.atomic():
        lockout.failures_clear(username=user.username)
        _record("auth.login", user, actor=user, client=client,
                data={"second_factor": second_factor})


def logout_recorded(*, user: User, client: Client, reason: str = "user") -> None:
    with transaction.atomic():
        _record("auth.logout", user, actor=user, client=client, data={"reason": reason})


def locked_until_local(found: Lockout) -> dt.datetime:
    return timezone.localtime(found.until)
