"""The school year's life: a rollover run, the promotion proposal of each class of the old
year (with the principal's exceptions) and the homeroom teachers carried as proposals.

A proposal records its own state (draft → committed → draft again after an undo), so that a
bulk run interrupted half-way resumes without promoting a pupil twice or skipping one.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from edureg.access.policy import Grant
from edureg.access.roles import Scope
from edureg.registry.models import Enrolment, SchoolClass, Staff, Student
from edureg.schools.models import Authority, School, SchoolYear


def _school_q(grant: Grant, prefix: str = "") -> Q:
    if grant.scope is Scope.AUTHORITY:
        return Q(**{f"{prefix}school__authority_id": grant.authority_id})
    if grant.scope is Scope.SCHOOL:
        return Q(**{f"{prefix}school_id": grant.school_id})
    return Q(pk__in=[])


class ProposalStatus(models.TextChoices):
    DRAFT = "draft", _("Chờ chốt")
    COMMITTED = "committed", _("Đã chốt")


class Outcome(models.TextChoices):
    PROMOTED = "promoted", _("Lên lớp")
    REPEAT = "repeat", _("Ở lại lớp")
    LEFT = "left", _("Thôi học")
    TRANSFERRED = "transferred", _("Chuyển trường")
    COMPLETED = "completed", _("Hoàn thành cấp học")


class RolloverRun(models.Model):
    """One ``edureg year rollover`` over an authority's schools or one school."""

    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, related_name="+")
    school = models.ForeignKey(School, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+")
    from_start_year = models.PositiveSmallIntegerField()
    promote_all = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    schools_opened = models.PositiveIntegerField(default=0)
    classes_committed = models.PositiveIntegerField(default=0)
    pupils_moved = models.PositiveIntegerField(default=0)


class ClassProposal(models.Model):
    """What becomes of the pupils of ``from_class`` in the next year: every pupil goes to
    ``to_class`` (the class carried from theirs; none for the top grade, whose pupils complete
    the level) except those with an ``PupilException``."""

    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="+")
    from_class = models.OneToOneField(SchoolClass, on_delete=models.PROTECT,
                                      related_name="promotion_proposal")
    to_class = models.ForeignKey(SchoolClass, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+")
    to_year = models.ForeignKey(SchoolYear, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=ProposalStatus.choices,
                              default=ProposalStatus.DRAFT)
    committed_at = models.DateTimeField(null=True, blank=True)
    committed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     null=True, blank=True, related_name="+")
    # What the commit did, for the undo: [{student, ended, ended_status, started, outcome}].
    applied = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("đề xuất lên lớp")
        verbose_name_plural = _("đề xuất lên lớp")
        indexes = [models.Index(fields=["school", "status"], name="class_proposal_state")]

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        return _school_q(grant)


class PupilException(models.Model):
    """The principal's exception to "promoted" for one pupil of a proposal's class."""

    proposal = models.ForeignKey(ClassProposal, on_delete=models.CASCADE,
                                 related_name="exceptions")
    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(_("kết quả"), max_length=12, choices=Outcome.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["proposal", "student"],
                                    name="one_exception_per_pupil"),
        ]


class HomeroomProposal(models.Model):
    """The homeroom teacher carried with a class into the next year: not in force (no
    assignment, no access) until the principal confirms it."""

    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="+")
    school_class = models.OneToOneField(SchoolClass, on_delete=models.CASCADE,
                                        related_name="homeroom_proposal")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     null=True, blank=True, related_name="+")

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        return _school_q(grant)


class HandoverStatus(models.TextChoices):
    ASSIGNED = "assigned", _("Chờ trường nhận")
    ACCEPTED = "accepted", _("Đã nhận")
    DECLINED = "declined", _("Trường nhận trả lại")


class Handover(models.Model):
    """A pupil who completed the top grade of a primary (5) or lower-secondary (9) school,
    handed over to a receiving school of the same authority (chuyển cấp): assigned by the
    authority officer or claimed by the receiving school, then accepted into one of its
    classes of the next year. The same pupil record throughout; ``from_enrolment`` is the
    ended enrolment of the completed year, ``to_enrolment`` the one the acceptance opened."""

    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="+")
    from_enrolment = models.ForeignKey(Enrolment, on_delete=models.PROTECT, related_name="+")
    from_school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="+")
    to_school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=HandoverStatus.choices,
                              default=HandoverStatus.ASSIGNED)
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+")
    assigned_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(_("ghi chú của trường nhận"), max_length=300, blank=True)
    to_enrolment = models.ForeignKey(Enrolment, on_delete=models.PROTECT, null=True,
                                     blank=True, related_name="+")

    class Meta:
        verbose_name = _("bàn giao học sinh chuyển cấp")
        verbose_name_plural = _("bàn giao học sinh chuyển cấp")
        constraints = [
            # At most one standing hand-over per completed year: a second assignment of the
            # same pupil (a double submission included) cannot slip past the service's check.
            models.UniqueConstraint(fields=["from_enrolment"],
                                    condition=Q(status__in=["assigned", "accepted"]),
                                    name="one_standing_handover"),
        ]
        indexes = [models.Index(fields=["to_school", "status"], name="handover_incoming"),
                   models.Index(fields=["from_school", "status"], name="handover_outgoing")]

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        if grant.scope is Scope.AUTHORITY:
            return Q(from_school__authority_id=grant.authority_id)
        if grant.scope is Scope.SCHOOL:
            return Q(from_school_id=grant.school_id) | Q(to_school_id=grant.school_id)
        return Q(pk__in=[])


class IntakeBatch(models.Model):
    """One new-intake list written for a school and year (grade 1, grade 6 from outside).
    ``digest`` is the list's fingerprint: the same list submitted twice is refused, not
    written twice."""

    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="+")
    school_year = models.ForeignKey(SchoolYear, on_delete=models.PROTECT, related_name="+")
    digest = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField()
    created = models.PositiveIntegerField(default=0)
    linked = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["school", "digest"],
                                               name="one_intake_per_list")]

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        return _school_q(grant)
