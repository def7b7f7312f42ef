"""People, classes and enrolments. A person is one row for life: moving school is an enrolment
change, never a new person. Every row carries the school that currently holds it, so rows can be
scoped and later partitioned by school.

Most personal fields may be empty in storage: imported data arrives incomplete, and completeness
("đủ") is measured against the field catalogue rather than enforced by the schema.
"""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from edureg.access.policy import Grant
from edureg.access.roles import Scope
from edureg.core.codelists import get_list
from edureg.schools.models import School, SchoolYear

# The fields verified against the national population register, per entity. Once verified they
# are locked: a change needs a reason and sends the person to be verified again.
IDENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "student": ("personal_id_number", "full_name", "date_of_birth", "sex",
                "birthplace_legacy_province"),
    "staff": ("personal_id_number", "full_name", "date_of_birth", "sex"),
}


class Sex(models.TextChoices):
    MALE = "M", _("Nam")
    FEMALE = "F", _("Nữ")


def _tenant_q(grant: Grant, *, school: str, authority: str) -> Q | None:
    if grant.scope is Scope.AUTHORITY:
        return Q(**{authority: grant.authority_id})
    if grant.scope is Scope.SCHOOL:
        return Q(**{school: grant.school_id})
    return None


class SchoolClass(models.Model):
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="classes")
    school_year = models.ForeignKey(SchoolYear, on_delete=models.PROTECT, related_name="classes")
    name = models.CharField(_("tên lớp"), max_length=30)
    grade = models.PositiveSmallIntegerField(_("khối"))
    # Preschool classes (grade 0): the age group, a code of the ``preschool_age_group`` list;
    # empty for the grades of school and for mixed-age preschool classes.
    age_group = models.CharField(_("nhóm tuổi"), max_length=12, blank=True, default="")
    homeroom_teacher = models.ForeignKey(
        "Staff",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="homeroom_classes",
        verbose_name=_("giáo viên chủ nhiệm"),
    )

    class Meta:
        verbose_name = _("lớp")
        verbose_name_plural = _("lớp")
        constraints = [
            models.UniqueConstraint(fields=["school_year", "name"], name="uniq_class_name_in_year"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def grade_label(self) -> str:
        """"Khối 3"; for a preschool class its age group ("Mẫu giáo 5–6 tuổi")."""
        if self.grade:
            return str(_("Khối %(grade)d") % {"grade": self.grade})
        if self.age_group:
            return get_list("preschool_age_group").name_of(self.age_group)
        return str(_("Mầm non, ghép độ tuổi"))

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        q = _tenant_q(grant, school="school_id", authority="school__authority_id")
        if q is not None:
            return q
        if grant.scope is Scope.OWN_CLASSES:
            return Q(
                school_id=grant.school_id,
                id__in=Assignment.objects.current()
                .filter(staff__user_id=actor_id, school_class__isnull=False)
                .values("school_class_id"),
            )
        return Q(pk__in=[])


class PersonNameFields(models.Model):
    full_name = models.CharField(_("họ và tên"), max_length=100)
    # Derived keys kept on write by the services: Vietnamese class-list order and matching.
    name_sort_key = models.CharField(max_length=255, db_index=True, editable=False)
    name_match_key = models.CharField(max_length=100, db_index=True, editable=False)

    class Meta:
        abstract = True


class StudentQuerySet(models.QuerySet["Student"]):
    def live(self) -> StudentQuerySet:
        """Without the records merged into another (they stay only for history and undo)."""
        return self.filter(merged_into__isnull=True)


class Student(PersonNameFields):
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="students")
    current_class = models.ForeignKey(
        SchoolClass, on_delete=models.SET_NULL, null=True, blank=True, related_name="students"
    )
    education_id = models.CharField(
        _("mã định danh Bộ GD&ĐT"), max_length=20, null=True, blank=True, unique=True
    )
    temporary_code = models.CharField(
        _("mã tạm"), max_length=20, null=True, blank=True, unique=True
    )
    date_of_birth = models.DateField(_("ngày sinh"), null=True, blank=True)
    sex = models.CharField(_("giới tính"), max_length=1, choices=Sex.choices, blank=True)
    ethnicity_code = models.CharField(_("dân tộc"), max_length=10, blank=True)
    religion_code = models.CharField(_("tôn giáo"), max_length=10, blank=True)
    nationality_code = models.CharField(_("quốc tịch"), max_length=3, blank=True)
    personal_id_number = models.CharField(
        _("số định danh cá nhân"), max_length=12, null=True, blank=True, unique=True
    )
    birthplace_text = models.CharField(_("nơi sinh (nguyên văn)"), max_length=300, blank=True)
    birthplace_province = models.CharField(_("nơi sinh: tỉnh/thành phố"), max_length=10, blank=True)
    birthplace_commune = models.CharField(_("nơi sinh: xã/phường"), max_length=10, blank=True)
    birthplace_legacy_province = models.CharField(max_length=10, blank=True)
    birthplace_legacy_district = models.CharField(max_length=10, blank=True)
    birthplace_legacy_ward = models.CharField(max_length=10, blank=True)
    hometown_text = models.CharField(_("quê quán (nguyên văn)"), max_length=300, blank=True)
    hometown_province = models.CharField(_("quê quán: tỉnh/thành phố"), max_length=10, blank=True)
    hometown_commune = models.CharField(_("quê quán: xã/phường"), max_length=10, blank=True)
    hometown_legacy_province = models.CharField(max_length=10, blank=True)
    hometown_legacy_district = models.CharField(max_length=10, blank=True)
    hometown_legacy_ward = models.CharField(max_length=10, blank=True)
    permanent_address = models.CharField(_("thường trú: số nhà, đường, thôn/tổ"), max_length=300,
                                         blank=True)
    permanent_province = models.CharField(_("thường trú: tỉnh/thành phố"), max_length=10,
                                          blank=True)
    permanent_commune = models.CharField(_("thường trú: xã/phường"), max_length=10, blank=True)
    current_address = models.CharField(_("nơi ở hiện nay: số nhà, đường, thôn/tổ"),
                                       max_length=300, blank=True)
    current_province = models.CharField(_("nơi ở hiện nay: tỉnh/thành phố"), max_length=10,
                                        blank=True)
    current_commune = models.CharField(_("nơi ở hiện nay: xã/phường"), max_length=10, blank=True)
    phone = models.CharField(_("số điện thoại"), max_length=15, blank=True)
    disability_code = models.CharField(_("loại khuyết tật"), max_length=10, blank=True)
    policy_group_code = models.CharField(_("đối tượng chính sách"), max_length=10, blank=True)
    # Code-list name → version the stored codes refer to, e.g. {"ethnicity": "2025.1"}.
    code_versions = models.JSONField(default=dict, blank=True)
    # A duplicate merged into another pupil (``registry.merge``): kept for history and undo,
    # gone from lists, selectors, quality measures and duplicate checks.
    # Indexed only where set (``student_merged_into``): nearly every row is NULL, and a plain
    # index let SQLite (no statistics) answer "merged_into IS NULL AND school_id IN …" by
    # walking all 2.5 M rows through it — the rescan went from 64 s to 112 s.
    merged_into = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="merged_records", db_index=False)
    merged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StudentQuerySet.as_manager()

    class Meta:
        verbose_name = _("học sinh")
        verbose_name_plural = _("học sinh")
        constraints = [
            models.CheckConstraint(
                condition=Q(education_id__isnull=False) | Q(temporary_code__isnull=False),
                name="student_has_education_id_or_temporary_code",
            ),
        ]
        indexes = [models.Index(fields=["school", "name_sort_key"]),
                   # The entry-time duplicate check: same name (without diacritics) and birth.
                   models.Index(fields=["name_match_key", "date_of_birth"],
                                name="student_name_birth"),
                   models.Index(fields=["merged_into"], name="student_merged_into",
                                condition=Q(merged_into__isnull=False))]

    def __str__(self) -> str:
        return self.full_name

    @property
    def code(self) -> str:
        return self.education_id or self.temporary_code or ""

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        # A merged record is nobody's to see or change: it lives on only in the merge's
        # history (and comes back if the merge is undone).
        live = Q(merged_into__isnull=True)
        q = _tenant_q(grant, school="school_id", authority="school__authority_id")
        if q is not None:
            return q & live
        if grant.scope is Scope.OWN_CLASSES:
            return Q(
                school_id=grant.school_id,
                current_class_id__in=Assignment.objects.current()
                .filter(staff__user_id=actor_id, school_class__isnull=False)
                .values("school_class_id"),
            ) & live
        return Q(pk__in=[])


class Guardian(PersonNameFields):
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="guardians")
    birth_year = models.PositiveSmallIntegerField(_("năm sinh"), null=True, blank=True)
    occupation = models.CharField(_("nghề nghiệp"), max_length=100, blank=True)
    phone = models.CharField(_("số điện thoại"), max_length=15, blank=True)
    personal_id_number = models.CharField(
        _("số định danh cá nhân"), max_length=12, null=True, blank=True, unique=True
    )
    children: models.ManyToManyField[Student, StudentGuardian] = models.ManyToManyField(
        Student, through="StudentGuardian", related_name="guardians"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("cha mẹ/người giám hộ")
        verbose_name_plural = _("cha mẹ/người giám hộ")

    def __str__(self) -> str:
        return self.full_name

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        q = _tenant_q(grant, school="school_id", authority="school__authority_id")
        if q is not None:
            return q
        if grant.scope is Scope.OWN_CLASSES:
            return Q(
                id__in=StudentGuardian.objects.filter(
                    student__school_id=cast(int, grant.school_id),
                    student__current_class_id__in=Assignment.objects.current()
                    .filter(staff__user_id=actor_id, school_class__isnull=False)
                    .values("school_class_id"),
                ).values("guardian_id")
            )
        return Q(pk__in=[])


class StudentGuardian(models.Model):
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="guardian_links")
    guardian = models.ForeignKey(Guardian, on_delete=models.CASCADE, related_name="child_links")
    relation_code = models.CharField(_("quan hệ"), max_length=10)
    is_primary_contact = models.BooleanField(_("liên hệ chính"), default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["student", "guardian"], name="uniq_student_guardian"),
        ]


class Enrolment(models.Model):
    """A student at a school in a year, with the MOET status; one is current per student."""

    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="enrolments")
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="enrolments")
    school_year = models.ForeignKey(SchoolYear, on_delete=models.PROTECT,
                                    related_name="enrolments")
    school_class = models.ForeignKey(
        SchoolClass, on_delete=models.PROTECT, null=True, blank=True, related_name="enrolments"
    )
    grade = models.PositiveSmallIntegerField(_("khối"))
    status_code = models.CharField(_("trạng thái"), max_length=10)
    status_since = models.DateField(_("ngày trạng thái"))
    is_current = models.BooleanField(default=True)
    started_on = models.DateField(_("ngày vào"))
    ended_on = models.DateField(_("ngày kết thúc"), null=True, blank=True)

    class Meta:
        verbose_name = _("quá trình học")
        verbose_name_plural = _("quá trình học")
        constraints = [
            models.UniqueConstraint(
                fields=["student"], condition=Q(is_current=True),
                name="one_current_enrolment_per_student",
            ),
        ]
        indexes = [models.Index(fields=["school_class", "is_current"])]


class EnrolmentStatusChange(models.Model):
    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE,
                                  related_name="status_changes")
    status_code = models.CharField(_("trạng thái"), max_length=10)
    effective_on = models.DateField(_("ngày hiệu lực"))
    note = models.CharField(_("ghi chú"), max_length=300, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["effective_on", "id"]


class TransferStatus(models.TextChoices):
    REQUESTED = "requested", _("Chờ trường nhận")
    ACCEPTED = "accepted", _("Đã chuyển")
    REFUSED = "refused", _("Trường nhận từ chối")
    CANCELLED = "cancelled", _("Đã huỷ")


class Transfer(models.Model):
    """A pupil moving school (chuyển trường): asked by the sending school, confirmed by the
    receiving one, which then places the pupil in a class. The same person throughout: the
    enrolment at the sending school ends and one at the receiving school begins."""

    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="transfers")
    from_school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="+")
    to_school = models.ForeignKey(School, on_delete=models.PROTECT,
                                  related_name="incoming_transfers")
    effective_on = models.DateField(_("ngày chuyển"))
    note = models.CharField(_("ghi chú"), max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=TransferStatus.choices,
                              default=TransferStatus.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="+")
    requested_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(_("ghi chú của trường nhận"), max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["student"], condition=Q(status="requested"),
                                    name="one_open_transfer_per_student"),
        ]
        indexes = [models.Index(fields=["to_school", "status"], name="transfer_incoming")]


class StudentMerge(models.Model):
    """One pupil record merged into another (``registry.merge``), with the ids of exactly what
    moved, so that an authority officer can undo it. The audit events carry the same."""

    kept = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="merges_kept")
    merged = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="merges_merged")
    reason = models.CharField(_("lý do"), max_length=300)
    moved = models.JSONField(default=dict)
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="+")
    merged_at = models.DateTimeField()
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  null=True, blank=True, related_name="+")
    undone_at = models.DateTimeField(null=True, blank=True)
    undo_reason = models.CharField(_("lý do hoàn tác"), max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merged"], condition=Q(undone_at__isnull=True),
                                    name="one_standing_merge_per_student"),
        ]

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        if grant.scope is Scope.AUTHORITY:
            return Q(kept__school__authority_id=grant.authority_id,
                     merged__school__authority_id=grant.authority_id)
        if grant.scope is Scope.SCHOOL:
            return Q(kept__school_id=grant.school_id) | Q(merged__school_id=grant.school_id)
        return Q(pk__in=[])


class Staff(PersonNameFields):
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="staff")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="staff",
    )
    education_id = models.CharField(
        _("mã định danh Bộ GD&ĐT"), max_length=20, null=True, blank=True, unique=True
    )
    date_of_birth = models.DateField(_("ngày sinh"), null=True, blank=True)
    sex = models.CharField(_("giới tính"), max_length=1, choices=Sex.choices, blank=True)
    ethnicity_code = models.CharField(_("dân tộc"), max_length=10, blank=True)
    religion_code = models.CharField(_("tôn giáo"), max_length=10, blank=True)
    nationality_code = models.CharField(_("quốc tịch"), max_length=3, blank=True)
    personal_id_number = models.CharField(
        _("số định danh cá nhân"), max_length=12, null=True, blank=True, unique=True
    )
    phone = models.CharField(_("số điện thoại"), max_length=15, blank=True)
    email = models.EmailField(_("thư điện tử"), blank=True)
    job_position_code = models.CharField(_("vị trí việc làm"), max_length=40, blank=True)
    position_group_code = models.CharField(_("nhóm chức vụ"), max_length=20, blank=True)
    employment_status_code = models.CharField(_("trạng thái làm việc"), max_length=20,
                                              blank=True)
    subject_codes = models.JSONField(_("môn dạy"), default=list, blank=True)
    qualification_code = models.CharField(_("trình độ đào tạo"), max_length=20, blank=True)
    code_versions = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("cán bộ, giáo viên, nhân viên")
        verbose_name_plural = _("cán bộ, giáo viên, nhân viên")
        indexes = [models.Index(fields=["school", "name_sort_key"]),
                   models.Index(fields=["name_match_key", "date_of_birth"],
                                name="staff_name_birth")]

    def __str__(self) -> str:
        return self.full_name

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        q = _tenant_q(grant, school="school_id", authority="school__authority_id")
        if q is not None:
            return q
        return Q(user_id=actor_id)


class Duty(models.TextChoices):
    HOMEROOM = "homeroom", _("Chủ nhiệm")
    SUBJECT = "subject", _("Dạy bộ môn")


class AssignmentQuerySet(models.QuerySet["Assignment"]):
    def current(self) -> AssignmentQuerySet:
        today = timezone.localdate()
        return self.filter(Q(starts_on__lte=today), Q(ends_on__isnull=True) | Q(ends_on__gte=today))


class Assignment(models.Model):
    """Who teaches which class (and subject) in a year; drives teachers' access scopes."""

    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="assignments")
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="assignments")
    school_year = models.ForeignKey(SchoolYear, on_delete=models.PROTECT,
                                    related_name="assignments")
    duty = models.CharField(_("nhiệm vụ"), max_length=20, choices=Duty.choices)
    school_class = models.ForeignKey(
        SchoolClass, on_delete=models.PROTECT, null=True, blank=True, related_name="assignments"
    )
    subject_code = models.CharField(_("môn"), max_length=40, blank=True)
    starts_on = models.DateField(_("từ ngày"))
    ends_on = models.DateField(_("đến ngày"), null=True, blank=True)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("phân công")
        verbose_name_plural = _("phân công")
        indexes = [models.Index(fields=["staff", "ends_on"])]

    def __str__(self) -> str:
        return f"{self.staff} · {self.get_duty_display()}"
