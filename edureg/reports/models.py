"""Stored report definitions: the shipped EMIS tables (loaded by a data migration from
``data/*.toml``) and any an authority adds with ``edureg reports load FILE``. A definition is
never edited in place: loading a changed one makes a new version, so a report generated earlier
still names the definition it was computed with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from edureg.access.policy import Grant


class ReportDefinition(models.Model):
    code = models.CharField(_("mã báo cáo"), max_length=60)
    version = models.PositiveIntegerField(_("phiên bản"))
    title = models.CharField(_("tên báo cáo"), max_length=200)
    # The validated definition (``spec.ReportSpec.as_dict``) and the text it was loaded from.
    spec = models.JSONField()
    source_text = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    loaded_at = models.DateTimeField()
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("định nghĩa báo cáo")
        verbose_name_plural = _("định nghĩa báo cáo")
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="report_definition_version"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(is_active=True), name="report_definition_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"


class RoundKind(models.TextChoices):
    START = "dau_nam", _("Đầu năm học")
    MIDDLE = "giua_nam", _("Giữa năm học")
    END = "cuoi_nam", _("Cuối năm học")


class ReportingRound(models.Model):
    """A reporting round an authority opens (đầu năm, giữa năm, cuối năm): its schools' figures
    as of one date, each principal's sign-off (``quality.SignOff`` whose ``round_label`` is the
    round's ``name``, unique within the authority) and the consolidated tables."""

    authority = models.ForeignKey(
        "schools.Authority", on_delete=models.PROTECT, related_name="+",
        verbose_name=_("Sở Giáo dục và Đào tạo"),
    )
    name = models.CharField(_("tên kỳ báo cáo"), max_length=60)
    kind = models.CharField(_("loại kỳ"), max_length=10, choices=RoundKind.choices)
    as_of = models.DateField(_("ngày số liệu"))
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("kỳ báo cáo")
        verbose_name_plural = _("kỳ báo cáo")
        ordering = ["-as_of", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["authority", "name"], name="reporting_round_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        # Every account working in the authority (its officers and its schools' staff) sees
        # the authority's rounds; what each may do with one is checked by the services.
        return Q(authority_id=grant.authority_id)
