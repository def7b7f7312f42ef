"""Accounts and role memberships. Accounts are individual; a membership grants one role at one
school (or across one authority) for a period."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractUser
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from edureg.access.roles import Role, Scope
from edureg.schools.models import Authority, School

if TYPE_CHECKING:
    from edureg.access.policy import Grant


class User(AbstractUser):
    full_name = models.CharField(_("họ và tên"), max_length=100, blank=True)
    # Set when someone else chose the password (account creation, reset): the holder must
    # replace it before doing anything else.
    must_change_password = models.BooleanField(_("phải đổi mật khẩu"), default=False)

    class Meta:
        verbose_name = _("tài khoản")
        verbose_name_plural = _("tài khoản")

    def __str__(self) -> str:
        return self.full_name or self.username

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        """Accounts reach a school's managers through a membership there that has not ended
        (including one starting later: accounts are made before the first day). A leaver —
        every membership ended — is reached through any past membership there, so that they
        can still be found and deactivated; someone who now works elsewhere is not."""
        if grant.scope is Scope.AUTHORITY:
            members = Membership.objects.filter(authority_id=grant.authority_id)
        elif grant.scope is Scope.SCHOOL and grant.school_id is not None:
            members = Membership.objects.filter(school_id=grant.school_id)
        else:
            return Q(pk=actor_id)
        today = timezone.localdate()
        not_ended = Q(ends_on__isnull=True) | Q(ends_on__gte=today)
        working_anywhere = Membership.objects.filter(not_ended).values("user_id")
        return (Q(pk__in=members.filter(not_ended).values("user_id"))
                | (Q(pk__in=members.values("user_id")) & ~Q(pk__in=working_anywhere)))


class MembershipQuerySet(models.QuerySet["Membership"]):
    def current(self, on: dt.date | None = None) -> MembershipQuerySet:
        day = on or timezone.localdate()
        return self.filter(models.Q(starts_on__lte=day), models.Q(ends_on__isnull=True) | models.Q(
            ends_on__gte=day
        ))


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("vai trò"), max_length=30, choices=Role.choices)
    authority = models.ForeignKey(
        Authority, on_delete=models.PROTECT, related_name="memberships"
    )
    school = models.ForeignKey(
        School, on_delete=models.PROTECT, null=True, blank=True, related_name="memberships"
    )
    starts_on = models.DateField(_("từ ngày"))
    ends_on = models.DateField(_("đến ngày"), null=True, blank=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("phân quyền")
        verbose_name_plural = _("phân quyền")
        indexes = [models.Index(fields=["user", "ends_on"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"


class UserSession(AbstractBaseSession):
    """Django's database session row, with who it belongs to and where it came from, so that
    holders can see and end their sessions and a deactivated account's sessions can be deleted.
    Filled by ``edureg.access.sessions.SessionStore`` from the session's own data."""

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, null=True, blank=True, related_name="login_sessions"
    )
    # Pages refer to a session by this hash, never by its key (the key is the bearer secret).
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("bắt đầu"))
    last_seen = models.DateTimeField(_("hoạt động gần nhất"))
    ip_address = models.GenericIPAddressField(_("địa chỉ IP"), null=True, blank=True)
    user_agent = models.CharField(_("trình duyệt"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("phiên đăng nhập")
        verbose_name_plural = _("phiên đăng nhập")
        indexes = [models.Index(fields=["user", "expire_date"])]

    @classmethod
    def get_session_store_class(cls) -> type:
        from edureg.access.sessions import SessionStore

        return SessionStore


class LoginFailure(models.Model):
    """One failed sign-in, counted against the account name and the client address for the
    lockout. Both keys are keyed hashes: typed names and addresses are not kept here."""

    class Kind(models.TextChoices):
        ACCOUNT = "account", _("tài khoản")
        ADDRESS = "address", _("địa chỉ")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    key_hash = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["kind", "key_hash", "occurred_at"])]
