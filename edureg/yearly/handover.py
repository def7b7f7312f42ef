"""Graduation hand-over (chuyển cấp): the pupils who completed preschool (the 5–6 age group),
grade 5 of a primary school or grade 9 of a lower-secondary school go on to a school of the
next level in the same authority, on the same pupil record.

Once a top-grade class's promotion is committed, its pupils' enrolments have ended with
"Hoàn thành chương trình" (preschool, grade 5) or "Tốt nghiệp" (grade 9): those pupils, still
held by their school and enrolled nowhere, are its *leavers*. The authority officer assigns
each (or a group) a receiving school, or the receiving school claims them; the receiving
school sees only what it needs to decide (name, date of birth, sex, sending school and class)
and accepts them into one of its classes of the next year (grade 1, 6 or 10). Accepting moves
the pupil as a transfer does (``registry.transfers``): the record, its guardians and checks go
to the receiving school, a new enrolment opens there, and the move is recorded as
``student.transferred`` (the outbox the sync, the sharing feed and the identity queue read).
The sending school's enrolment stays ended with the completion status it was given.

Every write takes ``actor`` (``None``: the system, a command run on the server), runs in one
transaction with its audit events and refuses the whole batch when one pupil does not fit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, get_scoped_or_404, may, require, scope
from edureg.access.roles import Perm
from edureg.audit.services import AuditItem, audit_read, audit_record_many
from edureg.core.codelists import get_list
from edureg.core.text import TextValueError, clean_text
from edureg.quality.models import FieldGroupCheck
from edureg.registry.enrolments import year_writable
from edureg.registry.models import (
    Enrolment,
    EnrolmentStatusChange,
    Guardian,
    SchoolClass,
    Student,
    StudentGuardian,
)
from edureg.registry.quality import records_refresh
from edureg.schools.models import School, SchoolLevel, SchoolYear
from edureg.yearly.models import Handover, HandoverStatus

# The grade a leaver completed → the grade the receiving school places them in (grade 0: the
# preschool classes; only the oldest group's children end with a completion status).
NEXT_GRADE: dict[int, int] = {0: 1, 5: 6, 9: 10}
# Which schools teach that grade.
RECEIVING_LEVELS: dict[int, tuple[str, ...]] = {
    1: (SchoolLevel.PRIMARY, SchoolLevel.MULTI_LEVEL),
    6: (SchoolLevel.LOWER_SECONDARY, SchoolLevel.MULTI_LEVEL),
    10: (SchoolLevel.UPPER_SECONDARY, SchoolLevel.MULTI_LEVEL),
}
# The enrolment statuses a completed level ends with (code-list names, not codes).
COMPLETED_STATUS_NAMES = ("Hoàn thành chương trình", "Tốt nghiệp")
MOVED_ACTION = "student.transferred"
ASSIGNED_ACTION = "student.handover_assigned"
DECLINED_ACTION = "student.handover_declined"
_NOTE_MAX = 300
_REASON_MIN = 5


def _status_code(name: str) -> str:
    for entry in get_list("enrolment_status").entries:
        if entry.name == name or name in entry.aliases:
            return entry.code
    raise LookupError(name)


def completed_codes() -> list[str]:
    return [_status_code(name) for name in COMPLETED_STATUS_NAMES]


def active_code() -> str:
    """The status of a pupil starting at a school normally ("Đang học" in the default list)."""
    return next(
        entry.code
        for entry in get_list("enrolment_status").entries
        if entry.extra.get("active") and not entry.extra.get("transfer")
    )


def _user_id(actor: Actor | None) -> int | None:
    return int(actor.pk) if actor is not None and actor.is_authenticated else None


def _note(value: str, field: str) -> str:
    try:
        return clean_text(value or "", max_length=_NOTE_MAX)
    except TextValueError as error:
        raise ValidationError({field: [error.message]}) from None


def _names(students: Iterable[Student]) -> str:
    names = [student.full_name for student in students]
    shown = ", ".join(names[:3])
    return shown + (
        _(" và %(count)d học sinh khác") % {"count": len(names) - 3} if len(names) > 3 else ""
    )


def leavers(*, start_year: int) -> QuerySet[Enrolment]:
    """The ended enrolments of pupils who completed preschool, grade 5 or 9 in ``start_year``
    and are still held by that school, enrolled nowhere (not yet handed over). Unscoped:
    callers filter by school and authorise."""
    current = Enrolment.objects.filter(student_id=OuterRef("student_id"), is_current=True)
    return Enrolment.objects.filter(
        is_current=False,
        grade__in=list(NEXT_GRADE),
        status_code__in=completed_codes(),
        school_year__start_year=start_year,
        student__merged_into__isnull=True,
        student__school_id=F("school_id"),
    ).exclude(Exists(current))


def _year(school: School, start_year: int, field: str = "school_year") -> SchoolYear:
    year = SchoolYear.objects.filter(school=school, start_year=start_year).first()
    if year is None:
        raise ValidationError(
            {
                field: [
                    _("Trường %(school)s không có năm học %(year)d–%(next)d.")
                    % {"school": school.name, "year": start_year, "next": start_year + 1}
                ]
            }
        )
    return year


# --- Reads ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LeaverRow:
    """A leaver as the sending school and the authority see them."""

    enrolment_id: int
    student_id: int
    full_name: str
    date_of_birth: dt.date | None
    class_name: str
    grade: int
    handover_id: int | None
    to_school: str
    status: str  # "" (no receiving school yet) or a HandoverStatus
    status_label: str
    decision_note: str
    sort_key: str = dataclasses.field(default="", repr=False)  # Vietnamese name order

    @property
    def open(self) -> bool:
        return self.status != HandoverStatus.ACCEPTED


@dataclasses.dataclass(frozen=True)
class Leavers:
    school: School
    year: SchoolYear
    rows: Sequence[LeaverRow]
    destinations: Sequence[School]  # where the actor may send them


def receiving_schools(
    *, actor: Actor | None, school: School, grades: Iterable[int]
) -> list[School]:
    """The active schools of ``school``'s authority teaching the next grade of ``grades``
    that ``actor`` may assign pupils to (all of them for the system)."""
    levels = {level for grade in grades for level in RECEIVING_LEVELS.get(NEXT_GRADE[grade], ())}
    found = (
        School.objects.filter(
            authority_id=school.authority_id, is_active=True, level__in=sorted(levels)
        )
        .exclude(pk=school.pk)
        .order_by("name", "pk")
    )
    if actor is not None:
        found = scope(found, actor, Perm.HANDOVER_ASSIGN)
    return list(found)


def handover_leavers(*, actor: Actor, school_id: int, start_year: int) -> Leavers:
    """A school's leavers of ``start_year`` with their hand-over state (those already accepted
    elsewhere included), by class and name. 403 without ``year.handover_assign``, 404 for a
    school out of scope or a year the school does not have. The read is audited."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.HANDOVER_ASSIGN, pk=school_id)
    year = SchoolYear.objects.filter(school=school, start_year=start_year).first()
    if year is None:
        raise Http404
    pending = list(
        leavers(start_year=start_year)
        .filter(school=school)
        .select_related("student", "school_class")
    )
    standing = {
        h.from_enrolment_id: h
        for h in Handover.objects.filter(
            from_enrolment_id__in=[e.pk for e in pending],
            status__in=[HandoverStatus.ASSIGNED, HandoverStatus.DECLINED],
        )
        .select_related("to_school")
        .order_by("assigned_at", "pk")
    }
    accepted = list(
        Handover.objects.filter(
            from_school=school, status=HandoverStatus.ACCEPTED, from_enrolment__school_year=year
        ).select_related("student", "to_school", "from_enrolment__school_class")
    )
    rows = []
    for enrolment in pending:
        handover = standing.get(enrolment.pk)
        rows.append(_leaver_row(enrolment, enrolment.student, handover))
    for handover in accepted:
        rows.append(_leaver_row(handover.from_enrolment, handover.student, handover))
    rows.sort(key=lambda row: (row.class_name, row.sort_key, row.student_id))
    if rows:
        audit_read(
            actor=actor,
            entity="student",
            ids=[row.student_id for row in rows],
            school_id=school.pk,
            view="handover_leavers",
        )
    return Leavers(
        school=school,
        year=year,
        rows=rows,
        destinations=receiving_schools(
            actor=actor, school=school, grades={row.grade for row in rows} or set(NEXT_GRADE)
        ),
    )


def _leaver_row(enrolment: Enrolment, student: Student, handover: Handover | None) -> LeaverRow:
    return LeaverRow(
        enrolment_id=enrolment.pk,
        student_id=student.pk,
        full_name=student.full_name,
        date_of_birth=student.date_of_birth,
        class_name=enrolment.school_class.name if enrolment.school_class else "",
        grade=enrolment.grade,
        handover_id=handover.pk if handover else None,
        to_school=handover.to_school.name if handover else "",
        status=handover.status if handover else "",
        status_label=str(HandoverStatus(handover.status).label)
        if handover
        else _("Chưa có trường nhận"),
        decision_note=handover.decision_note if handover else "",
        sort_key=student.name_sort_key,
    )


@dataclasses.dataclass(frozen=True)
class IncomingRow:
    """What the receiving school is shown of a pupil it does not hold yet."""

    handover_id: int
    full_name: str
    date_of_birth: dt.date | None
    sex_label: str
    from_school: str
    from_class: str
    grade: int  # the grade they go into


@dataclasses.dataclass(frozen=True)
class Incoming:
    school: School
    rows: Sequence[IncomingRow]
    classes: Sequence[SchoolClass]  # where they may be placed


def handover_incoming(*, actor: Actor, school_id: int) -> Incoming:
    """The pupils assigned to ``school_id`` and waiting for its decision, with the classes of
    the grades they go into (in open years). Needs ``student.transfer`` there; the read is
    audited under each sending school, whose pupils they still are."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.STUDENT_TRANSFER, pk=school_id)
    handovers = list(
        Handover.objects.filter(to_school=school, status=HandoverStatus.ASSIGNED)
        .select_related(
            "student", "from_school", "from_enrolment__school_class", "from_enrolment__school_year"
        )
        .order_by("from_school__name", "student__name_sort_key", "pk")
    )
    rows = [
        IncomingRow(
            handover_id=h.pk,
            full_name=h.student.full_name,
            date_of_birth=h.student.date_of_birth,
            sex_label=str(h.student.get_sex_display()),
            from_school=h.from_school.name,
            from_class=h.from_enrolment.school_class.name if h.from_enrolment.school_class else "",
            grade=NEXT_GRADE[h.from_enrolment.grade],
        )
        for h in handovers
    ]
    by_school: dict[int, list[int]] = defaultdict(list)
    for handover in handovers:
        by_school[handover.from_school_id].append(handover.student_id)
    for from_school_id, student_ids in sorted(by_school.items()):
        audit_read(
            actor=actor,
            entity="student",
            ids=student_ids,
            school_id=from_school_id,
            view="handover_incoming",
            extra={"to_school_id": school.pk},
        )
    start_years = {h.from_enrolment.school_year.start_year + 1 for h in handovers}
    classes = list(
        SchoolClass.objects.filter(
            school=school,
            grade__in=sorted({row.grade for row in rows}),
            school_year__start_year__in=sorted(start_years),
            school_year__status="open",
        ).order_by("grade", "name", "pk")
    )
    return Incoming(school=school, rows=rows, classes=classes)


@dataclasses.dataclass(frozen=True)
class PoolRow:
    """A leaver nobody has been assigned yet, as a receiving school that may claim them sees
    them."""

    enrolment_id: int
    full_name: str
    date_of_birth: dt.date | None
    sex_label: str
    from_school: str
    from_class: str


@dataclasses.dataclass(frozen=True)
class Pool:
    school: School
    start_year: int
    rows: Sequence[PoolRow]


def handover_pool(*, actor: Actor, school_id: int, start_year: int) -> Pool:
    """The leavers of ``start_year`` of the authority's other schools who have no receiving
    school yet, whose next grade ``school_id`` teaches and who live in its commune
    (``_in_catchment``): the pupils a receiving school may claim. 404 for a school out of
    scope or without the school year after ``start_year``. Shown: name, date of birth, sex,
    school and class; the read is audited under each sending school, whose pupils they
    still are."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.HANDOVER_ASSIGN, pk=school_id)
    if not SchoolYear.objects.filter(school=school, start_year=start_year + 1).exists():
        raise Http404
    grades = [
        grade
        for grade, following in NEXT_GRADE.items()
        if school.level in RECEIVING_LEVELS[following]
    ]
    taken = Handover.objects.filter(status=HandoverStatus.ASSIGNED).values("from_enrolment_id")
    enrolments = list(
        leavers(start_year=start_year)
        .filter(_in_catchment(school), school__authority_id=school.authority_id,
                grade__in=grades)
        .exclude(school=school)
        .exclude(pk__in=taken)
        .select_related("student", "school", "school_class")
        .order_by("school__name", "school_class__name", "student__name_sort_key", "pk")
    )
    rows = [
        PoolRow(
            enrolment_id=e.pk,
            full_name=e.student.full_name,
            date_of_birth=e.student.date_of_birth,
            sex_label=str(e.student.get_sex_display()),
            from_school=e.school.name,
            from_class=e.school_class.name if e.school_class else "",
        )
        for e in enrolments
    ]
    by_school: dict[int, list[int]] = defaultdict(list)
    for enrolment in enrolments:
        by_school[enrolment.school_id].append(enrolment.student_id)
    for from_school_id, student_ids in sorted(by_school.items()):
        audit_read(
            actor=actor,
            entity="student",
            ids=student_ids,
            school_id=from_school_id,
            view="handover_pool",
            extra={"to_school_id": school.pk},
        )
    return Pool(school=school, start_year=start_year, rows=rows)


# --- Writes -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Assigned:
    handovers: Sequence[Handover]
    changed: int  # newly assigned or moved to this school
    unchanged: int  # already assigned to this school (a second submission)


def handover_assign(
    *,
    actor: Actor | None,
    school: School,
    start_year: int,
    enrolment_ids: Sequence[int],
    to_school: School,
) -> Assigned:
    """Give leavers of ``school`` (by their completed enrolment) ``to_school`` as receiving
    school. The authority officer may assign and re-assign any leaver of the authority; the
    receiving school (``year.handover_assign`` over ``to_school`` only) claims leavers nobody
    has been assigned yet. Assigning a pupil again to the same school changes nothing."""
    if actor is not None:
        require(actor, Perm.HANDOVER_ASSIGN, to_school)
        if school.authority_id != to_school.authority_id:
            raise Http404
    may_reassign = actor is None or may(actor, Perm.HANDOVER_ASSIGN, school)
    errors: dict[str, list[str]] = {}
    if to_school.pk == school.pk:
        errors["to_school"] = [_("Trường nhận phải khác trường học sinh vừa hoàn thành.")]
    elif to_school.authority_id != school.authority_id:
        errors["to_school"] = [_("Trường nhận phải thuộc cùng Sở với trường gửi.")]
    elif not to_school.is_active:
        errors["to_school"] = [_("Trường nhận không còn hoạt động; hãy chọn trường khác.")]
    if not enrolment_ids:
        errors["students"] = [_("Hãy chọn ít nhất một học sinh.")]
    _year(school, start_year)
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    try:
        with transaction.atomic():
            wanted = sorted(set(enrolment_ids))
            found = {
                e.pk: e
                for e in leavers(start_year=start_year)
                .filter(school=school, pk__in=wanted)
                .select_related("student")
                .select_for_update(of=("self",))
            }
            missing = [pk for pk in wanted if pk not in found]
            if missing:
                raise ValidationError(
                    {
                        "students": [
                            _(
                                "Có học sinh không còn trong danh sách hoàn thành cấp học chờ "
                                "chuyển cấp của trường (đã được nhận, đang học ở trường khác hoặc "
                                "chưa chốt lên lớp). Hãy tải lại danh sách."
                            )
                        ]
                    }
                )
            unfit = [
                e.student
                for e in found.values()
                if to_school.level not in RECEIVING_LEVELS[NEXT_GRADE[e.grade]]
            ]
            if unfit:
                raise ValidationError(
                    {
                        "to_school": [
                            _("Trường %(school)s không có lớp %(grade)d cho học sinh: %(names)s.")
                            % {
                                "school": to_school.name,
                                "grade": NEXT_GRADE[next(iter(found.values())).grade],
                                "names": _names(unfit),
                            }
                        ]
                    }
                )
            standing = {
                h.from_enrolment_id: h
                for h in Handover.objects.select_for_update().filter(
                    from_enrolment_id__in=wanted, status=HandoverStatus.ASSIGNED
                )
            }
            taken = [
                found[pk].student
                for pk, h in standing.items()
                if h.to_school_id != to_school.pk and not may_reassign
            ]
            if taken:
                raise ValidationError(
                    {
                        "students": [
                            _(
                                "Học sinh đã được phân về trường khác: %(names)s. Chỉ Sở mới đổi "
                                "được trường nhận."
                            )
                            % {"names": _names(taken)}
                        ]
                    }
                )
            result: list[Handover] = []
            events: list[AuditItem] = []
            unchanged = 0
            for pk in wanted:
                enrolment = found[pk]
                handover = standing.get(pk)
                if handover is not None and handover.to_school_id == to_school.pk:
                    unchanged += 1
                    result.append(handover)
                    continue
                before = handover.to_school_id if handover is not None else None
                if handover is None:
                    handover = Handover.objects.create(
                        student=enrolment.student,
                        from_enrolment=enrolment,
                        from_school=school,
                        to_school=to_school,
                        assigned_by_id=_user_id(actor),
                        assigned_at=now,
                    )
                else:
                    handover.to_school, handover.assigned_at = to_school, now
                    handover.assigned_by_id = _user_id(actor)
                    handover.save(update_fields=["to_school", "assigned_at", "assigned_by"])
                result.append(handover)
                events.append(
                    AuditItem(
                        entity_id=enrolment.student_id,
                        school_id=school.pk,
                        data={
                            "handover_id": handover.pk,
                            "changes": {"to_school": [before, to_school.pk]},
                            "start_year": start_year,
                        },
                    )
                )
            audit_record_many(actor=actor, action=ASSIGNED_ACTION, entity="student", items=events)
    except IntegrityError:
        raise ValidationError(
            {"students": [_("Danh sách vừa được người khác cập nhật; hãy tải lại rồi thử lại.")]}
        ) from None
    return Assigned(handovers=result, changed=len(events), unchanged=unchanged)


def _in_catchment(school: School) -> Q:
    """Leavers living in the receiving school's commune (current or permanent residence): the
    pupils it admits by catchment area, and the only other schools' pupils it is shown. The
    authority officer assigns the others (least privilege: a school is not shown the whole
    authority's leavers)."""
    return Q(student__current_commune=school.commune_code) | Q(
        student__permanent_commune=school.commune_code
    )


def handover_claim(
    *, actor: Actor | None, to_school: School, start_year: int, enrolment_ids: Sequence[int]
) -> Assigned:
    """The receiving school claims leavers of its pool, whatever their sending school: one
    ``handover_assign`` per sending school, all in one transaction (all or none)."""
    if actor is not None:
        require(actor, Perm.HANDOVER_ASSIGN, to_school)
    wanted = sorted(set(enrolment_ids))
    if not wanted:
        raise ValidationError({"students": [_("Hãy chọn ít nhất một học sinh.")]})
    by_school: dict[int, list[int]] = defaultdict(list)
    for pk, school_id in Enrolment.objects.filter(
        _in_catchment(to_school), pk__in=wanted, school__authority_id=to_school.authority_id
    ).values_list("pk", "school_id"):
        by_school[school_id].append(pk)
    if sum(len(group) for group in by_school.values()) != len(wanted):
        raise ValidationError(
            {
                "students": [
                    _(
                        "Có học sinh không còn trong danh sách chờ phân trường; hãy tải lại "
                        "danh sách."
                    )
                ]
            }
        )
    schools = School.objects.in_bulk(list(by_school))
    handovers: list[Handover] = []
    changed = unchanged = 0
    with transaction.atomic():
        for school_id, group in sorted(by_school.items()):
            done = handover_assign(
                actor=actor,
                school=schools[school_id],
                start_year=start_year,
                enrolment_ids=group,
                to_school=to_school,
            )
            handovers += done.handovers
            changed, unchanged = changed + done.changed, unchanged + done.unchanged
    return Assigned(handovers=handovers, changed=changed, unchanged=unchanged)


def _addressed(handover_ids: Sequence[int], to_school: School) -> dict[int, Handover]:
    """The hand-overs addressed to ``to_school``, locked; an id addressed elsewhere (or
    missing) is not found."""
    wanted = sorted(set(handover_ids))
    found = {
        h.pk: h
        for h in Handover.objects.select_for_update(of=("self",))
        .select_related("student", "from_enrolment__school_year", "from_enrolment__school_class")
        .filter(pk__in=wanted, to_school=to_school)
    }
    if len(found) != len(wanted):
        raise Http404
    return found


def _still_open(handovers: Iterable[Handover]) -> None:
    decided = [h for h in handovers if h.status != HandoverStatus.ASSIGNED]
    if decided:
        raise ValidationError(
            {
                "handovers": [
                    _(
                        "Học sinh đã được xử lý trước đó (đã nhận hoặc đã trả lại): %(names)s. "
                        "Không xử lý lại lần nữa; hãy tải lại danh sách."
                    )
                    % {"names": _names(h.student for h in decided)}
                ]
            }
        )


def handover_decline(
    *, actor: Actor | None, to_school: School, handover_ids: Sequence[int], note: str
) -> int:
    """The receiving school gives pupils back (with a reason the authority sees): they are
    leavers without a receiving school again."""
    if actor is not None:
        require(actor, Perm.STUDENT_TRANSFER, to_school)
    cleaned = _note(note, "decision_note")
    if len(cleaned) < _REASON_MIN:
        raise ValidationError(
            {"decision_note": [_("Hãy ghi lý do trả lại để Sở và trường gửi biết.")]}
        )
    with transaction.atomic():
        found = _addressed(handover_ids, to_school)
        _still_open(found.values())
        now = timezone.now()
        Handover.objects.filter(pk__in=list(found)).update(
            status=HandoverStatus.DECLINED,
            decided_by_id=_user_id(actor),
            decided_at=now,
            decision_note=cleaned,
        )
        audit_record_many(
            actor=actor,
            action=DECLINED_ACTION,
            entity="student",
            items=[
                AuditItem(
                    entity_id=h.student_id,
                    school_id=h.from_school_id,
                    data={"handover_id": h.pk, "to_school_id": to_school.pk},
                )
                for h in found.values()
            ],
        )
    return len(found)


def handover_accept(
    *,
    actor: Actor | None,
    to_school: School,
    handover_ids: Sequence[int],
    school_class: SchoolClass,
) -> list[Handover]:
    """The receiving school takes the pupils into ``school_class`` (one of its own, of the
    grade after the one they completed, in the following school year, open): the same pupil
    records move, with their history; the sending school's enrolments stay ended with the
    completion status. All of them or none; a second submission is refused."""
    if actor is not None:
        require(actor, Perm.STUDENT_TRANSFER, to_school)
    if not handover_ids:
        raise ValidationError({"handovers": [_("Hãy chọn ít nhất một học sinh.")]})
    if school_class.school_id != to_school.pk:
        raise ValidationError(
            {
                "school_class": [
                    _("Lớp %(name)s thuộc trường khác: hãy chọn một lớp của trường nhận.")
                    % {"name": school_class.name}
                ]
            }
        )
    with transaction.atomic():
        found = _addressed(handover_ids, to_school)
        _still_open(found.values())
        year = school_class.school_year
        try:
            year_writable(year)
        except ValidationError as error:
            raise ValidationError({"school_class": error.messages}) from None
        for handover in found.values():
            completed = handover.from_enrolment
            if (
                NEXT_GRADE[completed.grade] != school_class.grade
                or completed.school_year.start_year + 1 != year.start_year
            ):
                raise ValidationError(
                    {
                        "school_class": [
                            _(
                                "Lớp %(name)s không phải lớp %(grade)d năm học %(year)d–%(next)d, "
                                "năm học tiếp theo của học sinh %(student)s."
                            )
                            % {
                                "name": school_class.name,
                                "grade": NEXT_GRADE[completed.grade],
                                "year": completed.school_year.start_year + 1,
                                "next": completed.school_year.start_year + 2,
                                "student": handover.student.full_name,
                            }
                        ]
                    }
                )
        students = Student.objects.select_for_update().in_bulk(
            [h.student_id for h in found.values()]
        )
        elsewhere = {
            e.student_id: e
            for e in Enrolment.objects.filter(
                student_id__in=list(students), is_current=True
            ).select_related("school")
        }
        if elsewhere:
            raise ValidationError(
                {
                    "handovers": [
                        _(
                            "Học sinh đang có quá trình học ở trường khác: %(names)s. Hãy tải lại "
                            "danh sách."
                        )
                        % {"names": _names(students[pk] for pk in sorted(elsewhere))}
                    ]
                }
            )
        codes = completed_codes()
        moved_on = [
            students[h.student_id]
            for h in found.values()
            if students[h.student_id].school_id != h.from_school_id
            or students[h.student_id].merged_into_id is not None
            or h.from_enrolment.is_current
            or h.from_enrolment.status_code not in codes
        ]
        if moved_on:
            raise ValidationError(
                {
                    "handovers": [
                        _(
                            "Học sinh không còn là học sinh hoàn thành cấp học của trường gửi (đã "
                            "hoàn tác lên lớp, đã gộp hồ sơ hoặc đã chuyển): %(names)s."
                        )
                        % {"names": _names(moved_on)}
                    ]
                }
            )
        ordered = sorted(found.values(), key=lambda h: h.pk)
        started = enrol_existing(
            actor=actor,
            students=[students[h.student_id] for h in ordered],
            school_class=school_class,
            started_on=year.starts_on,
            note=_("Chuyển cấp từ trường khác"),
            audit_data={h.student_id: {"handover_id": h.pk} for h in ordered},
        )
        now = timezone.now()
        for handover in ordered:
            handover.status, handover.decided_at = HandoverStatus.ACCEPTED, now
            handover.decided_by_id = _user_id(actor)
            handover.to_enrolment = started[handover.student_id]
            handover.save(update_fields=["status", "decided_at", "decided_by", "to_enrolment"])
    return ordered


def enrol_existing(
    *,
    actor: Actor | None,
    students: Sequence[Student],
    school_class: SchoolClass,
    started_on: dt.date,
    note: str,
    audit_data: dict[int, dict[str, object]],
) -> dict[int, Enrolment]:
    """Enrol pupils already known to the authority (locked by the caller, enrolled nowhere)
    in ``school_class``: a new enrolment "Đang học", the record held by the class's school,
    its guardians following unless a sibling stays behind, its field-group checks moved.
    Recorded as ``student.transferred`` under both schools, in the caller's transaction.
    Returns the new enrolments by pupil id."""
    status = active_code()
    recorded_by = _user_id(actor)
    to_school_id = school_class.school_id
    previous = {student.pk: student.school_id for student in students}
    enrolments = {
        student.pk: Enrolment(
            student=student,
            school_id=to_school_id,
            school_year_id=school_class.school_year_id,
            school_class=school_class,
            grade=school_class.grade,
            status_code=status,
            status_since=started_on,
            started_on=started_on,
        )
        for student in students
    }
    Enrolment.objects.bulk_create(list(enrolments.values()))
    EnrolmentStatusChange.objects.bulk_create(
        [
            EnrolmentStatusChange(
                enrolment=enrolment,
                status_code=status,
                effective_on=started_on,
                recorded_by_id=recorded_by,
                note=note,
            )
            for enrolment in enrolments.values()
        ]
    )
    ids = sorted(previous)
    Student.objects.filter(pk__in=ids).update(
        school_id=to_school_id, current_class_id=school_class.pk, updated_at=timezone.now()
    )
    for student in students:
        student.school_id, student.current_class = to_school_id, school_class
    # Guardians are held by their children's school: they follow unless a child stays.
    moving = (
        Guardian.objects.filter(child_links__student_id__in=ids)
        .exclude(school_id=to_school_id)
        .distinct()
    )
    for guardian in moving:
        stays = StudentGuardian.objects.filter(
            guardian=guardian, student__school_id=guardian.school_id
        )
        if not stays.exists():
            guardian.school_id = to_school_id
            guardian.save(update_fields=["school", "updated_at"])
    FieldGroupCheck.objects.filter(entity="student", record_id__in=ids).update(
        school_id=to_school_id
    )
    events = []
    for student_id in ids:
        data = {
            "from_school_id": previous[student_id],
            "to_school_id": to_school_id,
            "class_id": school_class.pk,
            "effective_on": started_on.isoformat(),
            **audit_data.get(student_id, {}),
        }
        events += [
            AuditItem(entity_id=student_id, school_id=previous[student_id], data=data),
            AuditItem(entity_id=student_id, school_id=to_school_id, data=data),
        ]
    audit_record_many(actor=actor, action=MOVED_ACTION, entity="student", items=events)
    records_refresh("student", ids)
    return enrolments
