"""Sharing agreements with other agencies and the OAuth2 clients bound to them.

An agency's client (a django-oauth-toolkit ``Application``: confidential, client-credentials
grant, hashed secret) exists only as the other half of one agreement; everything the client may
do — which look-ups, which fields, for which purpose, until when, how often — is read from the
agreement on every request, so revoking it stops the client at once.
"""

from __future__ import annotations

import datetime as dt
import enum

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from oauth2_provider.settings import oauth2_settings

from edureg.access.policy import Grant
from edureg.access.roles import Scope
from edureg.schools.models import Authority

# The keys an agency may look a pupil up by (the agreement names which).
LOOKUPS: tuple[str, ...] = ("education_id", "personal_id_number")


class Agency(models.Model):
    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, related_name="agencies")
    code = models.CharField(_("mã cơ quan"), max_length=40)
    name = models.CharField(_("tên cơ quan"), max_length=200)

    class Meta:
        verbose_name = _("cơ quan nhận dữ liệu")
        verbose_name_plural = _("cơ quan nhận dữ liệu")
        constraints = [models.UniqueConstraint(fields=["authority", "code"],
                                               name="sharing_agency_code_per_authority")]

    def __str__(self) -> str:
        return self.name


class AgreementKind(models.TextChoices):
    LOOKUP = "lookup", _("Tra cứu từng hồ sơ")
    CHANGE_FEED = "change_feed", _("Nhận dòng thay đổi")


class AgreementStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class SharingAgreement(models.Model):
    authority = models.ForeignKey(Authority, on_delete=models.PROTECT,
                                  related_name="sharing_agreements")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="agreements")
    application = models.OneToOneField(oauth2_settings.APPLICATION_MODEL,
                                       on_delete=models.PROTECT,
                                       related_name="sharing_agreement")
    reference = models.CharField(_("số hiệu thoả thuận"), max_length=100)
    legal_basis = models.TextField(_("căn cứ pháp lý"))
    purpose = models.CharField(_("mục đích xử lý"), max_length=60)
    allowed_fields = models.JSONField(_("trường được chia sẻ"), default=list)
    allowed_lookups = models.JSONField(_("cách tra cứu được phép"), default=list)
    kind = models.CharField(_("hình thức"), max_length=20, choices=AgreementKind.choices,
                            default=AgreementKind.LOOKUP)
    change_feed_legal_basis = models.TextField(_("căn cứ pháp lý của dòng thay đổi"),
                                               blank=True)
    valid_from = models.DateField(_("hiệu lực từ ngày"))
    expires_on = models.DateField(_("hết hiệu lực sau ngày"))
    rate_limit_per_minute = models.PositiveIntegerField(_("số lượt tra cứu tối đa mỗi phút"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    revocation_reason = models.TextField(_("lý do thu hồi"), blank=True)
    # The last page of the change feed that disclosed anything: its ``next`` cursor and when.
    # Shown to the officer; the agency keeps its own cursor and may ask again from an older one.
    feed_cursor = models.BigIntegerField(null=True, blank=True)
    feed_disclosed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("thoả thuận chia sẻ dữ liệu")
        verbose_name_plural = _("thoả thuận chia sẻ dữ liệu")
        indexes = [models.Index(fields=["authority", "created_at"],
                                name="sharing_agreement_authority")]

    def __str__(self) -> str:
        return f"{self.reference} ({self.agency_id})"

    def status(self, on: dt.date) -> AgreementStatus:
        """``expires_on`` is the last day the agreement is in force."""
        if self.revoked_at is not None:
            return AgreementStatus.REVOKED
        if on > self.expires_on:
            return AgreementStatus.EXPIRED
        if on < self.valid_from:
            return AgreementStatus.PENDING
        return AgreementStatus.ACTIVE

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        if grant.scope is Scope.AUTHORITY:
            return Q(authority_id=grant.authority_id)
        return Q(pk__in=[])


class AgreementUsage(models.Model):
    """How many look-ups an agreement's client made in one clock minute (the rate limit)."""

    agreement = models.ForeignKey(SharingAgreement, on_delete=models.CASCADE,
                                  related_name="+")
    minute = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agreement", "minute"],
                                               name="sharing_usage_per_minute")]
