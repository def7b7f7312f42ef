"""Sign-in lockout: too many failures for one account name, or from one client address, within a
window refuse further attempts until the oldest counted failure leaves the window.

Account names are counted whether or not an account exists, so a lockout (or its absence) tells
nothing about which names are real. Both keys are stored as keyed hashes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac

from edureg.access.models import LoginFailure

Kind = LoginFailure.Kind


@dataclasses.dataclass(frozen=True)
class LockoutPolicy:
    account_limit: int
    address_limit: int
    window: dt.timedelta


def lockout_policy() -> LockoutPolicy:
    return LockoutPolicy(
        account_limit=settings.EDUREG_LOCKOUT_ACCOUNT_FAILURES,
        address_limit=settings.EDUREG_LOCKOUT_ADDRESS_FAILURES,
        window=dt.timedelta(seconds=settings.EDUREG_LOCKOUT_WINDOW_SECONDS),
    )


def _key(kind: str, value: str) -> str:
    return salted_hmac(f"edureg.access.lockout.{kind}", value, algorithm="sha256").hexdigest()


def account_key(username: str) -> str:
    return _key(Kind.ACCOUNT, username.strip().casefold())


def address_key(address: str) -> str:
    return _key(Kind.ADDRESS, address)


@dataclasses.dataclass(frozen=True)
class Lockout:
    until: dt.datetime
    kind: str  # which key tripped: account or address


def _until(kind: str, key: str, limit: int, policy: LockoutPolicy,
           now: dt.datetime) -> dt.datetime | None:
    recent = list(
        LoginFailure.objects.filter(kind=kind, key_hash=key, occurred_at__gt=now - policy.window)
        .order_by("-occurred_at").values_list("occurred_at", flat=True)[:limit]
    )
    if len(recent) < limit:
        return None
    # Attempts open again once the limit-th most recent failure is older than the window.
    return recent[limit - 1] + policy.window


def lockout_get(*, username: str, address: str | None,
                now: dt.datetime | None = None) -> Lockout | None:
    """The lockout in force for this name or this address, if any."""
    policy = lockout_policy()
    moment = now or timezone.now()
    found: list[Lockout] = []
    until = _until(Kind.ACCOUNT, account_key(username), policy.account_limit, policy, moment)
    if until is not None:
        found.append(Lockout(until=until, kind=Kind.ACCOUNT))
    if address:
        until = _until(Kind.ADDRESS, address_key(address), policy.address_limit, policy, moment)
        if until is not None:
            found.append(Lockout(until=until, kind=Kind.ADDRESS))
    return max(found, key=lambda lockout: lockout.until) if found else None


def failure_add(*, username: str, address: str | None) -> Lockout | None:
    """Count one failure; return the lockout it starts, if it starts one."""
    now = timezone.now()
    rows = [LoginFailure(kind=Kind.ACCOUNT, key_hash=account_key(username), occurred_at=now)]
    if address:
        rows.append(LoginFailure(kind=Kind.ADDRESS, key_hash=address_key(address),
                                 occurred_at=now))
    LoginFailure.objects.bulk_create(rows)
    return lockout_get(username=username, address=address, now=now)


def failures_clear(*, username: str) -> None:
    """A successful sign-in forgives the account's earlier failures (not the address's)."""
    LoginFailure.objects.filter(kind=Kind.ACCOUNT, key_hash=account_key(username)).delete()


def failures_prune(*, now: dt.datetime | None = None) -> int:
    """Delete failures that can no longer count; returns how many."""
    cutoff = (now or timezone.now()) - lockout_policy().window
    deleted, _ = LoginFailure.objects.filter(occurred_at__lte=cutoff).delete()
    return deleted
