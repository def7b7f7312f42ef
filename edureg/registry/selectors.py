"""Reads of people records, always through the policy's scope; reads of personal data are
audited (one event per request listing the records shown)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from django.db.models import Count, Prefetch, QuerySet

from edureg.access.policy import Actor, get_scoped_or_404, may, require, scope
from edureg.access.roles import Perm
from edureg.audit.services import audit_read
from edureg.registry.models import (
    Enrolment,
    SchoolClass,
    Staff,
    Student,
    StudentGuardian,
)
from edureg.schools.models import School, SchoolYear, SchoolYearStatus


def schools_visible(actor: Actor) -> QuerySet[School]:
    return scope(School.objects.all(), actor, Perm.SCHOOL_VIEW).order_by("name")


@dataclasses.dataclass(frozen=True)
class SchoolOverview:
    school: School
    school_year: SchoolYear | None
    classes: Sequence[SchoolClass]
    student_count: int
    staff_count: int


def school_overview(*, actor: Actor, school_id: int) -> SchoolOverview:
    school = get_scoped_or_404(School.objects.select_related("authority"), actor,
                               Perm.SCHOOL_VIEW, pk=school_id)
    classes = list(
        scope(SchoolClass.objects.filter(school=school), actor, Perm.CLASS_VIEW)
        .filter(school_year__status=SchoolYearStatus.OPEN)
        .select_related("homeroom_teacher", "school_year")
        .annotate(student_count=Count("students", distinct=True))
        .order_by("grade", "name")
    )
    student_count = scope(Student.objects.filter(school=school), actor,
                          Perm.STUDENT_VIEW).count()
    staff_count = scope(Staff.objects.filter(school=school), actor, Perm.STAFF_VIEW).count()
    school_year = (
        SchoolYear.objects.filter(school=school, status=SchoolYearStatus.OPEN)
        .order_by("-start_year").first()
    )
    return SchoolOverview(school=school, school_year=school_year, classes=classes,
                          student_count=student_count, staff_count=staff_count)


@dataclasses.dataclass(frozen=True)
class ClassList:
    school_class: SchoolClass
    students: list[Student]


def class_list(*, actor: Actor, class_id: int) -> ClassList:
    """A class's current pupils in Vietnamese order (given, middle, family name)."""
    school_class = get_scoped_or_404(
        SchoolClass.objects.select_related("school", "school_year", "homeroom_teacher"),
        actor, Perm.CLASS_VIEW, pk=class_id,
    )
    students = list(
        scope(Student.objects.filter(current_class=school_class), actor, Perm.STUDENT_VIEW)
        .order_by("name_sort_key", "id")
    )
    audit_read(actor=actor, entity="student", ids=[s.pk for s in students],
               school_id=school_class.school_id, view="class_list")
    return ClassList(school_class=school_class, students=students)


def student_get(*, actor: Actor, student_id: int, perm: Perm = Perm.STUDENT_VIEW,
                audit_view: str = "student_detail") -> Student:
    """One student with guardians and enrolment history; the read is audited."""
    student = get_scoped_or_404(
        Student.objects.select_related("school", "current_class").prefetch_related(
            Prefetch("guardian_links",
                     queryset=StudentGuardian.objects.select_related("guardian").order_by("id")),
            Prefetch("enrolments",
                     queryset=Enrolment.objects.select_related("school", "school_year",
                                                               "school_class")
                     .prefetch_related("status_changes").order_by("-started_on", "-id")),
        ),
        actor, perm, pk=student_id,
    )
    shown: dict[str, object] = {}
    if may(actor, Perm.GUARDIAN_VIEW, student):
        shown["guardian_ids"] = [str(link.guardian_id) for link in student.guardian_links.all()]
    audit_read(actor=actor, entity="student", ids=[student.pk], school_id=student.school_id,
               view=audit_view, extra=shown)
    return student


def staff_list(*, actor: Actor, school_id: int) -> tuple[School, list[Staff]]:
    require(actor, Perm.STAFF_VIEW)
    school = get_scoped_or_404(School.objects.all(), actor, Perm.STAFF_VIEW, pk=school_id)
    staff = list(
        scope(Staff.objects.filter(school=school), actor, Perm.STAFF_VIEW)
        .order_by("name_sort_key", "id")
    )
    audit_read(actor=actor, entity="staff", ids=[s.pk for s in staff], school_id=school.pk,
               view="staff_list")
    return school, staff
