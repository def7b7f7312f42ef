"""Reads of the quality screens that need the registry: a teacher's to-do, a class's pupils
with their flags, one pupil's findings (personal data: audited), and the school and authority
dashboards (counters with the names of classes, homeroom teachers and schools).

Always through the policy. Screens that list pupils need both ``quality.view`` and
``quality.attest`` and show the records both reach: the people who work on the records. The
Department officer views quality but attests nothing, so reaches the dashboards' counters and
never a pupil here, although the officer may open pupil records elsewhere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.core.cache import cache
from django.db.models import F, Model, OuterRef, QuerySet, Subquery
from django.http import Http404

from edureg.access.policy import Actor, get_scoped_or_404, has_perm_at, may, require, scope
from edureg.access.roles import Perm
from edureg.audit.services import audit_read
from edureg.quality import selectors as quality
from edureg.quality.models import CheckKind, FieldGroupCheck, Finding, RecordState, SignOff
from edureg.quality.rules.catalogue import Dimension
from edureg.registry.models import SchoolClass, Staff, Student, StudentGuardian
from edureg.schools.models import School, SchoolYearStatus

M = TypeVar("M", bound=Model)
T = TypeVar("T")

TODO_PAGE_SIZE = 100
STEPS_PAGE_SIZE = 50
RANKING_PAGE_SIZE = 50
SIGN_OFFS_SHOWN = 12


def _workable(queryset: QuerySet[M], actor: Actor) -> QuerySet[M]:
    """The rows the actor may both view the quality of and attest."""
    return scope(scope(queryset, actor, Perm.QUALITY_VIEW), actor, Perm.QUALITY_ATTEST)


def _get_workable_or_404(queryset: QuerySet[M], actor: Actor, **lookup: Any) -> M:
    require(actor, Perm.QUALITY_VIEW)
    require(actor, Perm.QUALITY_ATTEST)
    found = _workable(queryset, actor).filter(**lookup).first()
    if found is None:
        raise Http404
    return found


@dataclasses.dataclass(frozen=True)
class Paged(Generic[T]):
    items: list[T]
    number: int
    pages: int
    count: int
    size: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def previous(self) -> int:
        return self.number - 1

    @property
    def next(self) -> int:
        return self.number + 1

    @property
    def start(self) -> int:
        """The position of the page's first item (1-based)."""
        return (self.number - 1) * self.size + 1 if self.items else 0


def paged(rows: QuerySet[Any, Any] | Sequence[Any], number: int, size: int,
           make: Callable[[Any], T]) -> Paged[T]:
    """One page of ``rows`` (a page number past the end gives the last page)."""
    count = rows.count() if isinstance(rows, QuerySet) else len(rows)
    pages = max(1, -(-count // size))
    number = min(max(1, number), pages)
    start = (number - 1) * size
    return Paged(items=[make(row) for row in rows[start:start + size]], number=number,
                 pages=pages, count=count, size=size)


def _pupil(reference: str, column: str) -> Subquery:
    """A column of the pupil a row refers to by id (findings and states have no foreign key:
    they sit below the registry)."""
    return Subquery(Student.objects.filter(pk=OuterRef(reference)).values(column)[:1])


_BY_CLASS_AND_NAME = (F("pupil_grade").asc(nulls_last=True), F("pupil_class").asc(
    nulls_last=True), "pupil_sort")


def _audit(actor: Actor, ids: Sequence[int], school_ids: set[int], view: str,
           extra: dict[str, object] | None = None) -> None:
    audit_read(actor=actor, entity="student", ids=ids,
               school_id=next(iter(school_ids)) if len(school_ids) == 1 else None, view=view,
               extra=extra)


# --- The to-do -------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TodoFinding:
    student_id: int
    student_name: str
    class_name: str | None
    school_id: int
    entity: str  # "student", or "guardian" for a problem in a guardian's record
    record_id: int
    field: str
    rule_code: str
    severity: str
    weight: int


@dataclasses.dataclass(frozen=True)
class TodoSteps:
    student_id: int
    student_name: str
    class_name: str | None
    school_id: int
    status_bits: int


@dataclasses.dataclass(frozen=True)
class Todo:
    findings: Paged[TodoFinding]
    steps: Paged[TodoSteps]
    classes: list[SchoolClass]  # the classes the list can be narrowed to
    school_class: SchoolClass | None  # the class it is narrowed to


def todo(*, actor: Actor, class_id: int | None = None, findings_page: int = 1,
         steps_page: int = 1) -> Todo:
    """What the actor has to do on the records of their pupils: every problem found (a field
    to fix), most important first — errors, then by weight, then class and pupil in Vietnamese
    order — and, per pupil, the steps still open (attest, verify, confirm). The pupils shown
    are audited as read."""
    require(actor, Perm.QUALITY_VIEW)
    require(actor, Perm.QUALITY_ATTEST)
    open_classes = SchoolClass.objects.filter(school_year__status=SchoolYearStatus.OPEN)
    classes = list(_workable(open_classes, actor).select_related("school")
                   .order_by("school__name", "grade", "name", "pk"))
    students = _workable(Student.objects.all(), actor)
    school_class = None
    if class_id is not None:
        school_class = next((c for c in classes if c.pk == class_id), None)
        if school_class is None:
            raise Http404
        students = students.filter(current_class_id=class_id)
    ids = students.values("pk")
    findings = (
        Finding.objects.filter(owner_entity="student", owner_id__in=ids)
        .annotate(severity_rank=quality.severity_rank(),
                  own_first=quality.own_record_first("student"),
                  pupil_name=_pupil("owner_id", "full_name"),
                  pupil_sort=_pupil("owner_id", "name_sort_key"),
                  pupil_grade=_pupil("owner_id", "current_class__grade"),
                  pupil_class=_pupil("owner_id", "current_class__name"))
        .order_by("severity_rank", "-weight", *_BY_CLASS_AND_NAME, "owner_id", "own_first",
                  "record_id", "field", "rule_code")
        .values("owner_id", "school_id", "entity", "record_id", "field", "rule_code",
                "severity", "weight", "pupil_name", "pupil_class"))
    steps = (
        RecordState.objects.filter(entity="student", record_id__in=ids).exclude(status_bits=0)
        .annotate(pupil_name=_pupil("record_id", "full_name"),
                  pupil_sort=_pupil("record_id", "name_sort_key"),
                  pupil_grade=_pupil("record_id", "current_class__grade"),
                  pupil_class=_pupil("record_id", "current_class__name"))
        .order_by(*_BY_CLASS_AND_NAME, "record_id")
        .values("record_id", "school_id", "status_bits", "pupil_name", "pupil_class"))
    result = Todo(
        findings=paged(findings, findings_page, TODO_PAGE_SIZE, lambda row: TodoFinding(
            student_id=row["owner_id"], student_name=row["pupil_name"],
            class_name=row["pupil_class"], school_id=row["school_id"], entity=row["entity"],
            record_id=row["record_id"], field=row["field"], rule_code=row["rule_code"],
            severity=row["severity"], weight=row["weight"])),
        steps=paged(steps, steps_page, STEPS_PAGE_SIZE, lambda row: TodoSteps(
            student_id=row["record_id"], student_name=row["pupil_name"],
            class_name=row["pupil_class"], school_id=row["school_id"],
            status_bits=row["status_bits"])),
        classes=classes, school_class=school_class)
    shown = sorted({item.student_id for item in result.findings.items}
                   | {item.student_id for item in result.steps.items})
    schools = {item.school_id for item in result.findings.items} | {
        item.school_id for item in result.steps.items}
    _audit(actor, shown, schools, "quality_todo")
    return result


# --- A class and a pupil ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PupilFlags:
    student: Student
    state: RecordState | None

    @property
    def steps(self) -> int:
        return quality.steps_count(self.state.status_bits) if self.state else 0


@dataclasses.dataclass(frozen=True)
class ClassQuality:
    school_class: SchoolClass
    scores: quality.Scores
    pupils: list[PupilFlags]


def class_quality(*, actor: Actor, class_id: int) -> ClassQuality:
    """A class's pupils with their four flags, problem counts and open steps (audited)."""
    school_class = _get_workable_or_404(
        SchoolClass.objects.select_related("school", "school_year", "homeroom_teacher"), actor,
        pk=class_id)
    pupils = list(_workable(Student.objects.filter(current_class=school_class), actor)
                  .order_by("name_sort_key", "id"))
    states = quality.record_states([pupil.pk for pupil in pupils])
    scores = quality.class_scores(school_class.school_id, class_ids=[school_class.pk])
    _audit(actor, [pupil.pk for pupil in pupils], {school_class.school_id}, "quality_class")
    return ClassQuality(school_class=school_class,
                        scores=scores.get(school_class.pk, quality.Scores()),
                        pupils=[PupilFlags(pupil, states.get(pupil.pk)) for pupil in pupils])


@dataclasses.dataclass(frozen=True)
class StudentQuality:
    student: Student
    state: RecordState | None
    findings: list[Finding]
    guardian_names: dict[int, str]  # guardian id → name, for the guardians' findings
    attestations: dict[str, FieldGroupCheck]  # field group → the check that holds now


def student_quality(*, actor: Actor, student_id: int) -> StudentQuality:
    """One pupil's stored state, findings and current attestations (audited)."""
    student = _get_workable_or_404(Student.objects.select_related("school", "current_class"),
                                   actor, pk=student_id)
    state = RecordState.objects.filter(entity="student", record_id=student.pk).first()
    findings = list(quality.findings_by_impact([student.pk]))
    guardian_ids = sorted({f.record_id for f in findings if f.entity == "guardian"})
    names: dict[int, str] = {}
    if guardian_ids and may(actor, Perm.GUARDIAN_VIEW, student):
        names = dict(StudentGuardian.objects.filter(student=student, guardian_id__in=guardian_ids)
                     .values_list("guardian_id", "guardian__full_name"))
    attestations = current_attestations(student)
    extra: dict[str, object] = {"guardian_ids": [str(i) for i in sorted(names)]} if names else {}
    _audit(actor, [student.pk], {student.school_id}, "quality_student", extra)
    return StudentQuality(student=student, state=state, findings=findings,
                          guardian_names=names, attestations=attestations)


def current_attestations(student: Student) -> dict[str, FieldGroupCheck]:
    """The field groups of the pupil that hold an attestation (or a register verification)
    now, with the latest such check. The caller has fetched the pupil through the policy."""
    checks = (FieldGroupCheck.objects
              .filter(entity="student", record_id=student.pk, ended_at__isnull=True,
                      kind__in=[CheckKind.ATTEST, CheckKind.REGISTER])
              .select_related("checked_by").order_by("checked_at", "pk"))
    return {check.group: check for check in checks}


# --- Dashboards ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ClassRow:
    school_class: SchoolClass
    scores: quality.Scores
    drillable: bool  # the actor may open its pupils


@dataclasses.dataclass(frozen=True)
class TeacherRow:
    teacher: Staff | None  # None: classes without a homeroom teacher
    classes: list[SchoolClass]
    scores: quality.Scores


@dataclasses.dataclass(frozen=True)
class SchoolDashboard:
    school: School
    scores: quality.Scores
    trend: list[quality.TrendPoint]
    classes: list[ClassRow]
    teachers: list[TeacherRow]
    sign_offs: list[SignOff]
    may_sign_off: bool


def school_dashboard(*, actor: Actor, school_id: int, today: dt.date) -> SchoolDashboard:
    """A school's four scores, their trend, and the same per class and per homeroom teacher
    (the classes the actor may view). Counters only: nothing here names a pupil."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.QUALITY_VIEW, pk=school_id)
    open_classes = SchoolClass.objects.filter(school=school,
                                              school_year__status=SchoolYearStatus.OPEN)
    classes = list(scope(open_classes, actor, Perm.QUALITY_VIEW)
                   .select_related("homeroom_teacher").order_by("grade", "name", "pk"))
    drillable: set[int] = set()
    if has_perm_at(actor, Perm.QUALITY_ATTEST, school.pk):
        drillable = set(_workable(open_classes, actor).values_list("pk", flat=True))
    per_class = quality.class_scores(school.pk)
    rows = [ClassRow(c, per_class.get(c.pk, quality.Scores()), c.pk in drillable)
            for c in classes]
    by_teacher: dict[int | None, list[ClassRow]] = {}
    for row in rows:
        by_teacher.setdefault(row.school_class.homeroom_teacher_id, []).append(row)
    teachers = [
        TeacherRow(teacher=group[0].school_class.homeroom_teacher,
                   classes=[row.school_class for row in group],
                   scores=quality.total(row.scores for row in group))
        for group in by_teacher.values()
    ]
    teachers.sort(key=lambda row: (row.teacher is None,
                                   row.teacher.name_sort_key if row.teacher else ""))
    # The sign-off is a school-level act, so a grant at this school (or the authority) is the
    # whole check: that is what ``may`` on a school answers, without asking the database.
    may_sign_off = has_perm_at(actor, Perm.QUALITY_SIGN_OFF, school.pk)
    sign_offs = list(SignOff.objects.filter(school_id=school.pk).select_related("signed_by")
                     .order_by("-signed_at", "-pk")[:SIGN_OFFS_SHOWN])
    scores = quality.school_scores([school.pk]).get(school.pk, quality.Scores())
    return SchoolDashboard(
        school=school, scores=scores, trend=quality.trend([school.pk], until=today),
        classes=rows, teachers=teachers, sign_offs=sign_offs, may_sign_off=may_sign_off)


TREND_CACHE_SECONDS = 24 * 3600


def _schools_trend(school_ids: list[int], ids: quality.SchoolIds, authority_ids: set[int],
                   today: dt.date) -> list[quality.TrendPoint]:
    """The trend of many schools. When they are exactly the active schools of one authority
    (a Department officer's view), its daily sums are read: 30 rows. Any other set is summed
    from the school snapshots — some 100,000 rows for thousands of schools — and kept in the
    cache: the key holds the day, the schools and the snapshots' version, so a new snapshot (or
    another set of schools) is a new key and nothing stale is ever shown."""
    if len(authority_ids) == 1:
        (authority_id,) = authority_ids
        active = School.objects.filter(authority_id=authority_id, is_active=True).count()
        if active == len(school_ids):
            return quality.authority_trend(authority_id, until=today)
    digest = hashlib.sha256(",".join(map(str, sorted(school_ids))).encode()).hexdigest()
    key = f"edureg:quality-trend:{today.isoformat()}:{quality.snapshots_version()}:{digest}"
    found: list[quality.TrendPoint] | None = cache.get(key)
    if found is None:
        found = quality.trend(ids, until=today)
        cache.set(key, found, TREND_CACHE_SECONDS)
    return found


@dataclasses.dataclass(frozen=True)
class SchoolRank:
    rank: int
    school_id: int
    name: str
    code: str
    scores: quality.Scores
    score: float | None  # by the chosen dimension


@dataclasses.dataclass(frozen=True)
class AuthorityOverview:
    school_count: int
    scores: quality.Scores  # all schools' pupils together
    trend: list[quality.TrendPoint]
    ranking: Paged[SchoolRank]
    dimension: Dimension | None  # None: the mean of the four
    lowest_first: bool
    only_school_id: int | None  # the actor reaches one school: its dashboard says it all


def authority_overview(*, actor: Actor, today: dt.date, dimension: Dimension | None = None,
                       lowest_first: bool = False, page: int = 1) -> AuthorityOverview:
    """Every school the actor may view the quality of, ranked by the mean of the four scores
    (or one of them), with the schools' total and its trend. Counters only."""
    require(actor, Perm.QUALITY_VIEW)
    schools = scope(School.objects.filter(is_active=True), actor, Perm.QUALITY_VIEW)
    listed_with_authority = list(schools.values_list("pk", "name", "code", "authority_id"))
    authority_ids = {row[3] for row in listed_with_authority}
    listed = [(pk, name, code) for pk, name, code, _ in listed_with_authority]
    if len(listed) == 1:
        return AuthorityOverview(school_count=1, scores=quality.Scores(), trend=[],
                                 ranking=Paged([], 1, 1, 0, RANKING_PAGE_SIZE), dimension=dimension,
                                 lowest_first=lowest_first, only_school_id=listed[0][0])
    ids = schools.values("pk")
    per_school = quality.school_scores(ids)
    score = {pk: scores.score(dimension) for pk, scores in per_school.items()}

    def order(entry: tuple[int, str, str]) -> tuple[bool, float, str]:
        value = score.get(entry[0])
        if value is None:
            return True, 0.0, entry[2]  # no pupils: last, whichever the order
        return False, value if lowest_first else -value, entry[2]

    listed.sort(key=order)
    ranked = paged(listed, page, RANKING_PAGE_SIZE, lambda entry: entry)
    start = (ranked.number - 1) * ranked.size
    rows = [
        SchoolRank(rank=start + index, school_id=pk, name=name, code=code,
                   scores=per_school.get(pk, quality.Scores()), score=score.get(pk))
        for index, (pk, name, code) in enumerate(ranked.items, start=1)
    ]
    return AuthorityOverview(
        school_count=len(listed), scores=quality.total(per_school.values()),
        trend=_schools_trend([pk for pk, _name, _code in listed], ids, authority_ids, today),
        ranking=Paged(items=rows, number=ranked.number, pages=ranked.pages,
                      count=ranked.count, size=ranked.size),
        dimension=dimension, lowest_first=lowest_first, only_school_id=None)
