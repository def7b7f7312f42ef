"""Accounts and role memberships. Accounts are individual; a membership grants one role at one
school (or across one authority) for a period."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from edureg.access.roles import Role
from edureg.schools.models import Authority, School


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
