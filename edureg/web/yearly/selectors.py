"""Reads of the school-year screens (năm học): a school's years, one year's promotion proposals,
carried classes with their homeroom proposals and start-of-year confirmation progress, and one
class's promotion proposal with its pupils. Always through the policy with ``year.manage``:
out of scope is not found (404), a missing permission forbidden (403)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence

from django.db.models import Count, Q

from edureg.access.models import User
from edureg.access.policy import Actor, get_scoped_or_404, scope
from edureg.access.roles import Perm
from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.audit.services import audit_read
from edureg.registry.models import SchoolClass, Student
from edureg.schools.models import School, SchoolYear, SchoolYearStatus
from edureg.yearly.models import (
    ClassProposal,
    HomeroomProposal,
    Outcome,
    ProposalStatus,
    PupilException,
)

# The order outcomes are shown in.
OUTCOME_ORDER = (
    Outcome.PROMOTED,
    Outcome.COMPLETED,
    Outcome.REPEAT,
    Outcome.LEFT,
    Outcome.TRANSFERRED,
)


def _ordered_counts(counts: Counter[str]) -> list[tuple[str, int]]:
    """(label, count) of the outcomes that occur, in the screens' order."""
    return [(str(outcome.label), counts[outcome]) for outcome in OUTCOME_ORDER if counts[outcome]]


# --- A school's years ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class YearRow:
    year: SchoolYear
    classes: int
    pupils: int  # pupils currently enrolled in the year


@dataclasses.dataclass(frozen=True)
class SchoolYears:
    school: School
    years: list[YearRow]  # newest first
    open_from: SchoolYear | None  # the year the next one may be opened from (the newest, open)
    to_close_first: SchoolYear | None  # an older year still open: close it before opening more


def school_years(*, actor: Actor, school_id: int) -> SchoolYears:
    school = get_scoped_or_404(School.objects.all(), actor, Perm.YEAR_MANAGE, pk=school_id)
    years = list(
        scope(SchoolYear.objects.filter(school=school), actor, Perm.YEAR_MANAGE)
        .annotate(
            class_count=Count("classes", distinct=True),
            pupil_count=Count("enrolments", distinct=True, filter=Q(enrolments__is_current=True)),
        )
        .order_by("-start_year")
    )
    rows = [YearRow(year=y, classes=y.class_count, pupils=y.pupil_count) for y in years]
    open_years = [y for y in years if y.status == SchoolYearStatus.OPEN]
    newest = years[0] if years else None
    older_open = open_years[-1] if open_years and open_years[-1] is not newest else None
    open_from = (
        newest
        if newest is not None and newest.status == SchoolYearStatus.OPEN and older_open is None
        else None
    )
    return SchoolYears(school=school, years=rows, open_from=open_from, to_close_first=older_open)


def year_get(*, actor: Actor, year_id: int) -> SchoolYear:
    return get_scoped_or_404(
        SchoolYear.objects.select_related("school"), actor, Perm.YEAR_MANAGE, pk=year_id
    )


# --- One year ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProposalSummary:
    proposal: ClassProposal
    pupils: int  # draft: pupils in the class now; committed: pupils the commit moved
    counts: list[tuple[str, int]]  # (outcome label, pupils): planned, or applied once committed

    @property
    def committed(self) -> bool:
        return self.proposal.status == ProposalStatus.COMMITTED


@dataclasses.dataclass(frozen=True)
class Confirmation:
    """Whether the homeroom teacher has confirmed the data of a class (``class_confirm``): every
    pupil now in the class covered by a confirmation of the class."""

    school_class: SchoolClass
    pupils: int
    unconfirmed: int  # pupils in the class not covered by any confirmation
    last_at: dt.datetime | None
    last_by: str  # the name of who confirmed last
    by_homeroom_teacher: bool

    @property
    def confirmed(self) -> bool:
        return self.last_at is not None and self.pupils > 0 and self.unconfirmed == 0


@dataclasses.dataclass(frozen=True)
class CarriedClass:
    school_class: SchoolClass
    carried_from: SchoolClass | None
    homeroom: HomeroomProposal | None
    pupils: int


@dataclasses.dataclass(frozen=True)
class YearPage:
    year: SchoolYear
    school: School
    previous: SchoolYear | None
    following: SchoolYear | None
    proposals: list[ProposalSummary]  # this year's classes into the following year
    classes: list[CarriedClass]  # this year's classes, with where they come from
    confirmations: list[Confirmation]  # start-of-year confirmation, when the year is open
    previous_waiting: int  # classes of the previous year not yet committed into this one

    @property
    def waiting(self) -> int:
        return sum(1 for row in self.proposals if not row.committed)

    @property
    def committed(self) -> int:
        return len(self.proposals) - self.waiting

    @property
    def homerooms_to_confirm(self) -> int:
        return sum(
            1 for c in self.classes if c.homeroom is not None and c.homeroom.confirmed_at is None
        )

    @property
    def confirmed_classes(self) -> int:
        return sum(1 for c in self.confirmations if c.confirmed)

    @property
    def has_carried(self) -> bool:
        return any(c.carried_from is not None for c in self.classes)

    @property
    def is_open(self) -> bool:
        return self.year.status == SchoolYearStatus.OPEN


def _summaries(proposals: Sequence[ClassProposal]) -> list[ProposalSummary]:
    exceptions: dict[int, dict[int, str]] = {}
    for proposal_id, student_id, outcome in PupilException.objects.filter(
        proposal__in=proposals
    ).values_list("proposal_id", "student_id", "outcome"):
        exceptions.setdefault(proposal_id, {})[student_id] = outcome
    rows = []
    for proposal in proposals:
        marked = exceptions.get(proposal.pk, {})
        default = Outcome.PROMOTED if proposal.to_class_id is not None else Outcome.COMPLETED
        if proposal.status == ProposalStatus.COMMITTED:
            moved = [int(item["student_id"]) for item in proposal.applied]
            counts = Counter(marked.get(student_id, default) for student_id in moved)
            pupils = len(moved)
        else:
            pupils = proposal.current_pupils  # type: ignore[attr-defined]
            counts = Counter(marked.values())
            counts[default] += max(0, pupils - len(marked))
        rows.append(
            ProposalSummary(proposal=proposal, pupils=pupils, counts=_ordered_counts(counts))
        )
    return rows


def _confirmations(classes: Sequence[SchoolClass]) -> list[Confirmation]:
    pupils: dict[int, set[int]] = {c.pk: set() for c in classes}
    for class_id, student_id in Student.objects.filter(
        current_class__in=classes, merged_into__isnull=True
    ).values_list("current_class_id", "pk"):
        pupils[class_id].add(student_id)
    covered: dict[int, set[int]] = {}
    last: dict[int, tuple[dt.datetime, int | None, str]] = {}
    events = (
        AuditEvent.objects.filter(
            action=actions.CLASS_CONFIRMED,
            entity="school_class",
            entity_id__in=[str(c.pk) for c in classes],
        )
        .order_by("seq")
        .values_list("entity_id", "data", "occurred_at", "actor_id", "actor_label")
    )
    for entity_id, data, occurred_at, actor_id, actor_label in events:
        class_id = int(entity_id)
        ids: list[str] = data.get("student_ids", []) if isinstance(data, dict) else []
        covered.setdefault(class_id, set()).update(int(i) for i in ids)
        last[class_id] = (occurred_at, actor_id, actor_label)
    names = dict(
        User.objects.filter(
            pk__in={a for _at, a, _label in last.values() if a is not None}
        ).values_list("pk", "full_name")
    )
    rows = []
    for school_class in classes:
        seen = last.get(school_class.pk)
        in_class = pupils[school_class.pk]
        teacher = school_class.homeroom_teacher
        by_teacher = (
            seen is not None
            and seen[1] is not None
            and teacher is not None
            and teacher.user_id == seen[1]
        )
        rows.append(
            Confirmation(
                school_class=school_class,
                pupils=len(in_class),
                unconfirmed=len(in_class - covered.get(school_class.pk, set())),
                last_at=seen[0] if seen else None,
                last_by=(names.get(seen[1]) or seen[2]) if seen and seen[1] else "",
                by_homeroom_teacher=by_teacher,
            )
        )
    return rows


def year_page(*, actor: Actor, year_id: int) -> YearPage:
    """One year of a school: the promotion of its classes into the following year, its classes
    with the class each was carried from and the homeroom teacher proposed, and (while it is
    open) whether each class's data has been confirmed this year. Counts and class names only:
    nothing here names a pupil."""
    year = year_get(actor=actor, year_id=year_id)
    school = year.school
    years = scope(SchoolYear.objects.filter(school=school), actor, Perm.YEAR_MANAGE)
    previous = years.filter(start_year=year.start_year - 1).first()
    following = years.filter(start_year=year.start_year + 1).first()
    proposals = list(
        scope(ClassProposal.objects.filter(from_class__school_year=year), actor, Perm.YEAR_MANAGE)
        .select_related("from_class", "to_class", "to_year")
        .annotate(
            current_pupils=Count(
                "from_class__enrolments",
                distinct=True,
                filter=Q(from_class__enrolments__is_current=True),
            )
        )
        .order_by("from_class__grade", "from_class__name", "pk")
    )
    classes = list(
        scope(SchoolClass.objects.filter(school_year=year), actor, Perm.YEAR_MANAGE)
        .select_related("homeroom_teacher")
        .annotate(
            current_pupils=Count("enrolments", distinct=True, filter=Q(enrolments__is_current=True))
        )
        .order_by("grade", "name", "pk")
    )
    carried_from = {
        p.to_class_id: p.from_class
        for p in ClassProposal.objects.filter(to_class__in=classes).select_related("from_class")
    }
    homerooms = {
        h.school_class_id: h
        for h in scope(
            HomeroomProposal.objects.filter(school_class__in=classes), actor, Perm.YEAR_MANAGE
        ).select_related("staff", "confirmed_by")
    }
    carried = [
        CarriedClass(
            school_class=c,
            carried_from=carried_from.get(c.pk),
            homeroom=homerooms.get(c.pk),
            pupils=c.current_pupils,
        )
        for c in classes
    ]
    confirmations = _confirmations(classes) if year.status == SchoolYearStatus.OPEN else []
    previous_waiting = (
        scope(
            ClassProposal.objects.filter(
                from_class__school_year=previous, to_year=year, status=ProposalStatus.DRAFT
            ),
            actor,
            Perm.YEAR_MANAGE,
        ).count()
        if previous is not None and previous.status == SchoolYearStatus.OPEN
        else 0
    )
    return YearPage(
        year=year,
        school=school,
        previous=previous,
        following=following,
        proposals=_summaries(proposals),
        classes=carried,
        confirmations=confirmations,
        previous_waiting=previous_waiting,
    )


def homeroom_proposal_get(*, actor: Actor, proposal_id: int) -> HomeroomProposal:
    return get_scoped_or_404(
        HomeroomProposal.objects.select_related("school_class__school_year", "staff", "school"),
        actor,
        Perm.YEAR_MANAGE,
        pk=proposal_id,
    )


# --- One class's proposal ---------------------------------------------------------------------


def proposal_get(*, actor: Actor, proposal_id: int) -> ClassProposal:
    return get_scoped_or_404(
        ClassProposal.objects.select_related(
            "school", "from_class__school_year", "to_class", "to_year"
        ),
        actor,
        Perm.YEAR_MANAGE,
        pk=proposal_id,
    )


@dataclasses.dataclass(frozen=True)
class PupilRow:
    student: Student
    outcome: str  # an ``Outcome`` value
    outcome_label: str
    new_class: str  # committed: the class the pupil was moved to ("" when they left)


@dataclasses.dataclass(frozen=True)
class ProposalPage:
    proposal: ClassProposal
    pupils: list[PupilRow]
    counts: list[tuple[str, int]]
    default: str  # the outcome of a pupil without an exception

    @property
    def committed(self) -> bool:
        return self.proposal.status == ProposalStatus.COMMITTED

    @property
    def year_open(self) -> bool:
        return self.proposal.from_class.school_year.status == SchoolYearStatus.OPEN


def _students(actor: Actor, ids: Iterable[int]) -> list[Student]:
    return list(
        scope(Student.objects.filter(pk__in=list(ids)), actor, Perm.STUDENT_VIEW).order_by(
            "name_sort_key", "pk"
        )
    )


def proposal_page(*, actor: Actor, proposal_id: int) -> ProposalPage:
    """A class's promotion proposal: before the commit, the pupils now in the class with the
    outcome each will get; after it, the pupils it moved, their outcome and new class. The
    pupils shown are audited as a read."""
    proposal = proposal_get(actor=actor, proposal_id=proposal_id)
    default = Outcome.PROMOTED if proposal.to_class_id is not None else Outcome.COMPLETED
    marked = dict(proposal.exceptions.values_list("student_id", "outcome"))
    new_class: dict[int, str] = {}
    if proposal.status == ProposalStatus.COMMITTED:
        moved = {int(item["student_id"]): item.get("started_class_id") for item in proposal.applied}
        class_names = dict(
            SchoolClass.objects.filter(
                pk__in={c for c in moved.values() if c is not None}
            ).values_list("pk", "name")
        )
        new_class = {s: class_names.get(c, "") if c else "" for s, c in moved.items()}
        students = _students(actor, moved)
    else:
        current = Student.objects.filter(
            enrolments__school_class=proposal.from_class, enrolments__is_current=True
        ).values_list("pk", flat=True)
        students = _students(actor, current)
    rows = []
    for student in students:
        outcome = Outcome(marked.get(student.pk, default))
        rows.append(
            PupilRow(
                student=student,
                outcome=outcome.value,
                outcome_label=str(outcome.label),
                new_class=new_class.get(student.pk, ""),
            )
        )
    audit_read(
        actor=actor,
        entity="student",
        ids=[row.student.pk for row in rows],
        school_id=proposal.school_id,
        view="year_promotion",
    )
    counts = _ordered_counts(Counter(row.outcome for row in rows))
    return ProposalPage(proposal=proposal, pupils=rows, counts=counts, default=default.value)
