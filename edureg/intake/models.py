"""One intake of an export workbook: the dry run the user reviewed and what became of it.

Holds no personal data: the file's checksum and size, the counts of what the dry run found,
and the fingerprint of the plan (a checksum). The file itself waits for the commit as a
private temporary file (``edureg.intake.services``), never in the database.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from edureg.access.policy import Grant
from edureg.access.roles import Scope
from edureg.intake.source import Kind
from edureg.schools.models import School


class RunStatus(models.TextChoices):
    REVIEWED = "reviewed", _("Đã soi thử, chờ ghi")
    COMMITTED = "committed", _("Đã ghi vào CSDL")
    CANCELLED = "cancelled", _("Đã huỷ")
    EXPIRED = "expired", _("Quá hạn, tệp đã xoá")
    FAILED = "failed", _("Ghi không thành công, không có gì thay đổi")


class RunKind(models.TextChoices):
    STUDENT = Kind.STUDENT.value, _("Học sinh")
    STAFF = Kind.STAFF.value, _("Cán bộ, giáo viên, nhân viên")


class IntakeRun(models.Model):
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("loại tệp"), max_length=10, choices=RunKind.choices)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    template = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices,
                              default=RunStatus.REVIEWED)
    # Counts only (rows, new, updated, …, errors, warnings): never a name or a value.
    summary = models.JSONField(default=dict)
    # The checksum of what the commit would do (``edureg.intake.plan``): the commit refuses
    # when the database or the file no longer gives the same plan.
    plan_fingerprint = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField()
    reviewed_at = models.DateTimeField()  # the latest dry run (a repeated one moves it)
    committed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)  # committed, cancelled, expired…

    class Meta:
        indexes = [models.Index(fields=["school", "-created_at"], name="intake_run_school"),
                   models.Index(fields=["created_at"], name="intake_run_waiting",
                                condition=Q(status="reviewed"))]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status == RunStatus.REVIEWED

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        if grant.scope is Scope.AUTHORITY:
            return Q(school__authority_id=grant.authority_id)
        if grant.scope is Scope.SCHOOL:
            return Q(school_id=grant.school_id)
        return Q(pk__in=[])
