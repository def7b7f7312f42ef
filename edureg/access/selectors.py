"""Reads about accounts: a school's accounts for its managers (scoped, audited), one account,
and the holder's own sessions and sign-in history."""

from __future__ import annotations

import dataclasses

from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from edureg.access import policy
from edureg.access.models import Membership, User, UserSession
from edureg.access.policy import Actor
from edureg.access.roles import Perm
from edureg.audit.models import AuditEvent
from edureg.audit.services import audit_read
from edureg.schools.models import School

LOGIN_HISTORY_LENGTH = 30


def _with_two_factor(users: QuerySet[User]) -> QuerySet[User]:
    return users.annotate(two_factor=Exists(
        TOTPDevice.objects.filter(user_id=OuterRef("pk"), confirmed=True)))


@dataclasses.dataclass(frozen=True)
class SchoolAccounts:
    school: School
    accounts: list[User]


def school_accounts(*, actor: Actor, school_id: int) -> SchoolAccounts:
    school = policy.get_scoped_or_404(School.objects.all(), actor, Perm.ACCOUNT_VIEW,
                                      pk=school_id)
    at_school = Membership.objects.filter(school=school)
    users = (
        _with_two_factor(policy.scope(User.objects.all(), actor, Perm.ACCOUNT_VIEW))
        .filter(pk__in=at_school.values("user_id"))
        .prefetch_related(Prefetch("memberships", queryset=at_school.order_by("starts_on"),
                                   to_attr="school_memberships"))
        .order_by("username")
    )
    accounts: list[User] = list(users)
    audit_read(actor=actor, entity="user", ids=[user.pk for user in accounts],
               school_id=school.pk, view="account_list")
    return SchoolAccounts(school=school, accounts=accounts)


def account_get(*, actor: Actor, user_id: int, perm: Perm = Perm.ACCOUNT_VIEW) -> User:
    user = policy.get_scoped_or_404(_with_two_factor(User.objects.all()), actor, perm,
                                    pk=user_id)
    audit_read(actor=actor, entity="user", ids=[user.pk], view="account_detail")
    return user


def account_memberships(user: User) -> list[Membership]:
    return list(user.memberships.select_related("school", "authority")
                .order_by("-starts_on", "pk"))


def own_sessions(user: User) -> list[UserSession]:
    return list(UserSession.objects.filter(user=user, expire_date__gt=timezone.now())
                .order_by("-last_seen"))


def own_login_history(user: User, *, limit: int = LOGIN_HISTORY_LENGTH) -> list[AuditEvent]:
    """The account's sign-in events (sign-ins, failures, lockouts, sign-outs, 2FA changes)."""
    return list(AuditEvent.objects.filter(entity="user", entity_id=str(user.pk),
                                          action__startswith="auth.")
                .order_by("-seq")[:limit])
