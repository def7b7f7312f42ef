"""The turn of the school year: open the next year (class structure carried forward, homeroom
teachers as proposals), promote each class in one transaction (and undo it while the year is
open), close the old year, and run all of it over many schools, restartably.

Every write takes ``actor`` (``None``: the system, a command run on the server, which the policy
does not limit) and leaves its audit events in its own transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import queue
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, require
from edureg.access.roles import Perm
from edureg.audit.services import AuditItem, audit_record, audit_record_many
from edureg.core.codelists import get_list
from edureg.registry.enrolments import (
    EnrolmentMove,
    MovedEnrolment,
    enrolments_move,
    enrolments_restore,
    year_writable,
)
from edureg.registry.models import Assignment, Duty, Enrolment, SchoolClass, Student
from edureg.registry.quality import rescan
from edureg.schools.models import School, SchoolLevel, SchoolYear, SchoolYearStatus
from edureg.yearly.models import (
    ClassProposal,
    HomeroomProposal,
    Outcome,
    ProposalStatus,
    PupilException,
    RolloverRun,
)

# Outcomes the principal may mark as exceptions; the default is "promoted" ("completed" for the
# top grade).
EXCEPTIONS = frozenset({Outcome.REPEAT, Outcome.LEFT, Outcome.TRANSFERRED})
COMMITTED_ACTION = "class_promotion.committed"
_GRADE_IN_NAME = re.compile(r"^(\D*?)(\d+)(.*)$")


def _grades_of(level: str) -> tuple[int, ...]:
    """The grades a school of ``level`` teaches, from the ``school_level`` list (none for
    preschool, whose classes are age groups)."""
    entry = get_list("school_level").get(level)
    grades = entry.extra.get("grades") if entry is not None else None
    return tuple(sorted(int(str(g)) for g in grades)) if isinstance(grades, tuple) else ()


def top_grade(level: str) -> int | None:
    """The last grade of ``level``: its classes are not carried into the next year, their
    pupils complete the level. ``None`` for preschool (see ``preschool_next``)."""
    grades = _grades_of(level)
    return grades[-1] if grades else None


@dataclasses.dataclass(frozen=True)
class ClassStep:
    """Where a class goes at the turn of the year: its name, grade and age group there."""

    name: str
    grade: int
    age_group: str


def carried_name(name: str, grade: int) -> str:
    """The name of the class carried from ``name`` (of ``grade``) into the next year: the grade
    number in the name moves up ("3A" → "4A", "Lớp 10A1" → "Lớp 11A1"); other names stay."""
    match = _GRADE_IN_NAME.match(name)
    if match is None or int(match.group(2)) != grade:
        return name
    return f"{match.group(1)}{grade + 1}{match.group(3)}"


def carried_preschool_name(name: str, word: str, next_word: str) -> str:
    """The name of a preschool class carried into the next age group: the group's word at the
    start of the name is replaced ("Mầm 1" → "Chồi 1"); other names stay."""
    if not word or not next_word:
        return name
    if name == word:
        return next_word
    if name.startswith(f"{word} "):
        return next_word + name[len(word):]
    return name


def _preschool_step(school_class: SchoolClass) -> ClassStep | None:
    groups = get_list("preschool_age_group")
    entry = groups.get(school_class.age_group)
    if entry is None:
        # A mixed-age class (or one whose group is unknown): carried as it is; the principal
        # marks the children who leave.
        return ClassStep(name=school_class.name, grade=0, age_group=school_class.age_group)
    following = groups.get(entry.extra_str("next") or "")
    if following is None:
        return None  # the oldest group: the children complete preschool
    return ClassStep(name=carried_preschool_name(school_class.name, entry.extra_str("word") or "",
                                                 following.extra_str("word") or ""),
                     grade=0, age_group=following.code)


def class_step(school_class: SchoolClass, level: str) -> ClassStep | None:
    """Where ``school_class`` (of a school of ``level``) goes in the next year; ``None`` when
    its pupils complete the level (the top grade, the oldest preschool group)."""
    if level == SchoolLevel.PRESCHOOL:
        return _preschool_step(school_class)
    top = top_grade(level)
    if top is None or school_class.grade >= top:
        return None
    return ClassStep(name=carried_name(school_class.name, school_class.grade),
                     grade=school_class.grade + 1, age_group="")


def _status(*, active: bool | None = None, transfer: str | None = None,
            name: str | None = None) -> str:
    """An enrolment status code from the code list (data, not code), by its flags or name."""
    return _status_in(get_list("enrolment_status").version, active, transfer, name)


@functools.lru_cache(maxsize=64)  # asked per class and per exception of a rollover
def _status_in(version: str, active: bool | None, transfer: str | None,
               name: str | None) -> str:
    for entry in get_list("enrolment_status", version).entries:
        if name is not None and (entry.name == name or name in entry.aliases):
            return entry.code
        if transfer is not None and entry.extra.get("transfer") == transfer:
            return entry.code
        if active is not None and name is None and transfer is None \
                and bool(entry.extra.get("active")) is active:
            return entry.code
    raise LookupError(name or transfer or str(active))


def _authorise(actor: Actor | None, school: School) -> None:
    if actor is not None:
        require(actor, Perm.YEAR_MANAGE, school)


def _next_date(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _year_of(school: School, start_year: int) -> SchoolYear:
    year = SchoolYear.objects.filter(school=school, start_year=start_year).first()
    if year is None:
        raise ValidationError(_("Trường %(school)s chưa có năm học %(year)d–%(next)d.")
                              % {"school": school.name, "year": start_year,
                                 "next": start_year + 1})
    return year


@dataclasses.dataclass(frozen=True)
class YearOpened:
    year: SchoolYear
    created: bool
    classes_carried: int
    proposals_created: int
    classes_started: int = 0  # new classes of the entry grade (or youngest group), empty


def _slot(school_class: SchoolClass) -> tuple[int, str]:
    return school_class.grade, school_class.age_group


def year_open(*, actor: Actor | None, school: School, from_start_year: int) -> YearOpened:
    """Open the year after ``from_start_year`` for ``school``: the year itself, each class but
    the top grade's (the oldest preschool group's) carried with the next grade's name, its
    homeroom teacher as a proposal, one promotion proposal per class of the old year, and the
    old year's classes of the entry grade (the youngest group) started again, empty, for the
    new intake and the hand-over. Running it again completes what is missing and changes
    nothing else."""
    _authorise(actor, school)
    if school.level != SchoolLevel.PRESCHOOL and top_grade(school.level) is None:
        raise ValidationError(_("Chưa hỗ trợ chuyển năm học cho cấp học %(level)s.")
                              % {"level": school.get_level_display()})
    with transaction.atomic():
        old = _year_of(school, from_start_year)
        # At most two years open at once, the one being left and the next: an older year still
        # open would leave pupils current in three years (and the screens' counts ambiguous).
        older = (SchoolYear.objects.filter(school=school, start_year__lt=from_start_year,
                                           status=SchoolYearStatus.OPEN)
                 .order_by("start_year").first())
        if older is not None:
            raise ValidationError(_("Năm học %(older)s của trường vẫn đang mở: hãy khoá năm học "
                                    "đó trước khi mở năm học mới.") % {"older": older.label})
        new, created = SchoolYear.objects.get_or_create(
            school=school, start_year=from_start_year + 1,
            defaults={"starts_on": _next_date(old.starts_on), "ends_on": _next_date(old.ends_on)})
        if new.status != SchoolYearStatus.OPEN:
            raise ValidationError(_("Năm học %(year)s của trường đã khoá.") % {"year": new.label})
        proposed = set(ClassProposal.objects.filter(from_class__school_year=old)
                       .values_list("from_class_id", flat=True))
        existing = {c.name: c for c in SchoolClass.objects.filter(school_year=new)}
        old_classes = list(SchoolClass.objects.filter(school_year=old).order_by("grade", "name"))
        carried: list[SchoolClass] = []
        proposals: list[ClassProposal] = []
        homerooms: list[HomeroomProposal] = []
        for old_class in old_classes:
            if old_class.pk in proposed:
                continue
            to_class = None
            step = class_step(old_class, school.level)
            if step is not None:
                to_class = existing.get(step.name)
                if to_class is None:
                    to_class = SchoolClass(school=school, school_year=new, name=step.name,
                                           grade=step.grade, age_group=step.age_group)
                    existing[step.name] = to_class
                    carried.append(to_class)
                    if old_class.homeroom_teacher_id is not None:
                        homerooms.append(HomeroomProposal(
                            school=school, school_class=to_class,
                            staff_id=old_class.homeroom_teacher_id))
                elif _slot(to_class) != (step.grade, step.age_group):
                    raise ValidationError(_(
                        "Năm học %(year)s đã có lớp %(name)s khác khối hoặc nhóm tuổi: không "
                        "chuyển được lớp %(old)s sang. Hãy đổi tên một trong hai lớp.")
                        % {"year": new.label, "name": step.name, "old": old_class.name})
            proposals.append(ClassProposal(school=school, from_class=old_class,
                                           to_class=to_class, to_year=new))
        SchoolClass.objects.bulk_create(carried)  # sets their keys (PostgreSQL, SQLite)
        started = _entry_classes_start(school, new, old_classes, existing)
        HomeroomProposal.objects.bulk_create(homerooms)
        ClassProposal.objects.bulk_create(proposals)
        if created or proposals or started:
            audit_record(actor=actor, action="school_year.opened", entity="school_year",
                         entity_id=new.pk, school_id=school.pk,
                         data={"from_year": old.pk, "classes_carried": len(carried),
                               "classes_started": started, "proposals": len(proposals),
                               "homerooms": len(homerooms)})
    return YearOpened(year=new, created=created, classes_carried=len(carried),
                      proposals_created=len(proposals), classes_started=started)


def _entry_slot(level: str, old_classes: Sequence[SchoolClass]) -> tuple[int, str] | None:
    """The grade (age group) a school takes its new pupils into, which no class moves up into:
    the level's first grade, or the youngest preschool group the school has."""
    if level != SchoolLevel.PRESCHOOL:
        grades = _grades_of(level)
        return (grades[0], "") if grades else None
    order = [entry.code for entry in get_list("preschool_age_group").entries]
    present = sorted({c.age_group for c in old_classes if c.age_group in order}, key=order.index)
    return (0, present[0]) if present else None


def _entry_classes_start(school: School, new: SchoolYear, old_classes: Sequence[SchoolClass],
                         existing: dict[str, SchoolClass]) -> int:
    """Start again, empty and under the same names, the old year's classes of the entry grade
    (youngest group) when the new year has none of that grade yet. A name already taken is
    left out."""
    slot = _entry_slot(school.level, old_classes)
    if slot is None or any(_slot(c) == slot for c in existing.values()):
        return 0
    started = SchoolClass.objects.bulk_create([
        SchoolClass(school=school, school_year=new, name=c.name, grade=c.grade,
                    age_group=c.age_group)
        for c in old_classes if _slot(c) == slot and c.name not in existing])
    existing.update({c.name: c for c in started})
    return len(started)


def year_close(*, actor: Actor | None, year: SchoolYear) -> SchoolYear:
    """Close ``year``: read-only from now on (no enrolment changes, no undo of promotions).
    Refused while pupils are still current in it (their class not yet promoted)."""
    _authorise(actor, year.school)
    with transaction.atomic():
        year = SchoolYear.objects.select_for_update().get(pk=year.pk)
        if year.status != SchoolYearStatus.OPEN:
            raise ValidationError(_("Năm học %(year)s đã khoá từ trước.") % {"year": year.label})
        waiting = (Enrolment.objects.filter(school_year=year, is_current=True)
                   .values_list("school_class__name", flat=True).distinct().order_by(
                       "school_class__name"))
        names = [name or "?" for name in waiting[:5]]
        if names:
            raise ValidationError(_("Chưa khoá được năm học %(year)s: còn học sinh đang học ở "
                                    "lớp %(classes)s. Hãy chốt lên lớp các lớp này trước.")
                                  % {"year": year.label, "classes": ", ".join(names)})
        year.status = SchoolYearStatus.CLOSED
        year.save(update_fields=["status"])
        audit_record(actor=actor, action="school_year.closed", entity="school_year",
                     entity_id=year.pk, school_id=year.school_id, data={})
    return year


def _draft(proposal: ClassProposal) -> ClassProposal:
    locked = (ClassProposal.objects.select_for_update(of=("self",))
              .select_related("from_class__school_year", "to_class__school_year", "to_year",
                              "school").get(pk=proposal.pk))
    if locked.status != ProposalStatus.DRAFT:
        raise ValidationError(_("Lớp %(name)s đã được chốt lên lớp; không chốt lại lần nữa. "
                                "Muốn sửa, hãy hoàn tác trước.")
                              % {"name": locked.from_class.name})
    return locked


def _current_pupils(school_class: SchoolClass) -> dict[int, Enrolment]:
    return {e.student_id: e for e in Enrolment.objects.filter(school_class=school_class,
                                                              is_current=True)}


def proposal_exceptions_set(*, actor: Actor | None, proposal: ClassProposal,
                            outcomes: Mapping[int, str]) -> ClassProposal:
    """Set the principal's exceptions (pupil id → outcome) of a proposal still to commit;
    a pupil given the default outcome (or absent from ``outcomes``) is promoted."""
    _authorise(actor, proposal.school)
    with transaction.atomic():
        locked = _draft(proposal)
        pupils = _current_pupils(locked.from_class)
        wanted: dict[int, Outcome] = {}
        for student_id, outcome in outcomes.items():
            if outcome in (Outcome.PROMOTED, Outcome.COMPLETED, ""):
                continue
            if outcome not in EXCEPTIONS:
                raise ValidationError(_("Kết quả «%(outcome)s» không có trong danh sách.")
                                      % {"outcome": outcome})
            if student_id not in pupils:
                raise ValidationError(_("Học sinh mã %(id)s không đang học lớp %(name)s.")
                                      % {"id": student_id, "name": locked.from_class.name})
            wanted[student_id] = Outcome(outcome)
        before = dict(locked.exceptions.values_list("student_id", "outcome"))
        locked.exceptions.all().delete()
        PupilException.objects.bulk_create([
            PupilException(proposal=locked, student_id=student_id, outcome=outcome)
            for student_id, outcome in wanted.items()])
        if before != wanted:
            audit_record(actor=actor, action="class_proposal.updated", entity="school_class",
                         entity_id=locked.from_class_id, school_id=locked.school_id,
                         data={"exceptions": {str(k): str(v) for k, v in wanted.items()}})
    return locked


def _repeat_class(locked: ClassProposal) -> SchoolClass | None:
    """Where a repeating pupil goes: the next year's class of the same grade (age group) and
    name (the one carried from the class below), or else the first of that grade."""
    same_grade = SchoolClass.objects.filter(school_year=locked.to_year,
                                            grade=locked.from_class.grade,
                                            age_group=locked.from_class.age_group).order_by("name")
    return same_grade.filter(name=locked.from_class.name).first() or same_grade.first()


@dataclasses.dataclass(frozen=True)
class PromotionResult:
    proposal: ClassProposal
    outcomes: Mapping[str, int]


def promotion_commit(*, actor: Actor | None, proposal: ClassProposal,
                     run: RolloverRun | None = None) -> PromotionResult:
    """See ``_promotion_commit``; the pupils' quality state is refreshed in the transaction."""
    return _promotion_commit(actor=actor, proposal=proposal, run=run, refresh_quality=True)


def _class_moves(locked: ClassProposal, pupils: Mapping[int, Enrolment],
                 exceptions: Mapping[int, str]) -> list[EnrolmentMove]:
    """What committing ``locked`` (a draft) does to each of the class's current ``pupils``,
    given the principal's ``exceptions``; refused when anything does not fit (the year closed,
    a class of another school, a pupil no longer in the class, no class to repeat in)."""
    old_year, new_year = locked.from_class.school_year, locked.to_year
    year_writable(old_year)
    year_writable(new_year)
    if new_year.start_year != old_year.start_year + 1 or new_year.school_id != locked.school_id:
        raise ValidationError(_("Năm học %(year)s không phải năm học kế tiếp của trường.")
                              % {"year": new_year.label})
    target = locked.to_class
    if target is not None and (target.school_id != locked.school_id
                               or target.school_year_id != new_year.pk):
        raise ValidationError(_("Lớp %(name)s không phải lớp năm học %(year)s của trường "
                                "này.") % {"name": target.name, "year": new_year.label})
    stale = sorted(set(exceptions) - set(pupils))
    if stale:
        names = ", ".join(Student.objects.filter(pk__in=stale)
                          .values_list("full_name", flat=True))
        raise ValidationError(_("Học sinh không còn học lớp %(name)s: %(names)s. Hãy sửa "
                                "đề xuất rồi chốt lại.")
                              % {"name": locked.from_class.name, "names": names})
    repeat_class = _repeat_class(locked) if Outcome.REPEAT in exceptions.values() else None
    if Outcome.REPEAT in exceptions.values() and repeat_class is None:
        if locked.from_class.age_group:
            raise ValidationError(_("Năm học %(year)s chưa có lớp nhóm %(group)s cho trẻ ở lại "
                                    "nhóm.") % {"year": new_year.label, "group": get_list(
                                        "preschool_age_group").name_of(
                                            locked.from_class.age_group)})
        raise ValidationError(_("Năm học %(year)s chưa có lớp khối %(grade)d cho học sinh ở "
                                "lại lớp.") % {"year": new_year.label,
                                               "grade": locked.from_class.grade})
    active = _status(active=True)
    completed = _status(name="Hoàn thành chương trình"
                        if locked.school.level in (SchoolLevel.PRIMARY, SchoolLevel.PRESCHOOL)
                        else "Tốt nghiệp")
    extra = {"proposal": locked.pk}
    moves: list[EnrolmentMove] = []
    for student_id, enrolment in sorted(pupils.items()):
        outcome = Outcome(exceptions.get(student_id) or
                          (Outcome.PROMOTED if target is not None else Outcome.COMPLETED))
        if outcome is Outcome.PROMOTED:
            move = EnrolmentMove(enrolment=enrolment, end_status=None, target=target,
                                 start_status=active, outcome=outcome, audit_data=extra)
        elif outcome is Outcome.REPEAT:
            move = EnrolmentMove(enrolment=enrolment, end_status=None, target=repeat_class,
                                 start_status=_status(name="Lưu ban"), outcome=outcome,
                                 audit_data=extra)
        elif outcome is Outcome.LEFT:
            move = EnrolmentMove(enrolment=enrolment, end_status=_status(name="Thôi học"),
                                 outcome=outcome, audit_data=extra)
        elif outcome is Outcome.TRANSFERRED:
            move = EnrolmentMove(enrolment=enrolment, end_status=_status(transfer="out"),
                                 outcome=outcome, audit_data=extra)
        else:
            move = EnrolmentMove(enrolment=enrolment, end_status=completed, outcome=outcome,
                                 audit_data=extra)
        moves.append(move)
    return moves


def _applied(moved: Sequence[MovedEnrolment]) -> list[dict[str, object]]:
    """The moves as kept on the proposal, for its undo (``MovedEnrolment``'s fields; a
    field-by-field copy: ``dataclasses.asdict`` cost a tenth of a rollover)."""
    return [{"student_id": m.student_id, "ended_id": m.ended_id, "ended_status": m.ended_status,
             "ended_status_since": m.ended_status_since.isoformat(),
             "ended_change_id": m.ended_change_id, "started_id": m.started_id,
             "started_class_id": m.started_class_id} for m in moved]


def _committed_event(proposal: ClassProposal, moves: Sequence[EnrolmentMove]) -> AuditItem:
    return AuditItem(entity_id=proposal.from_class_id, school_id=proposal.school_id,
                     data={"proposal": proposal.pk, "to_class": proposal.to_class_id,
                           "outcomes": dict(Counter(str(move.outcome) for move in moves))})


def _claim(proposals: Sequence[ClassProposal], actor: Actor | None) -> int:
    """Mark drafts committed in one UPDATE from draft, so that two submissions cannot both
    pass; the number claimed."""
    return ClassProposal.objects.filter(
        pk__in=[p.pk for p in proposals], status=ProposalStatus.DRAFT).update(
        status=ProposalStatus.COMMITTED, committed_at=timezone.now(),
        committed_by_id=(actor.pk if actor is not None and actor.is_authenticated else None))


def _promotion_commit(*, actor: Actor | None, proposal: ClassProposal,
                      run: RolloverRun | None, refresh_quality: bool) -> PromotionResult:
    """Apply a class's proposal in one transaction: each pupil's enrolment ends with their
    outcome's status and, unless they leave, one starts in the next year's class. A second
    submission of the same proposal is refused; so is anything that does not fit (the year
    closed, a class of another school, a pupil no longer in the class): nothing half-applied."""
    _authorise(actor, proposal.school)
    with transaction.atomic():
        locked = _draft(proposal)
        if _claim([locked], actor) != 1:
            raise ValidationError(_("Lớp %(name)s đã được chốt lên lớp; không chốt lại lần "
                                    "nữa.") % {"name": locked.from_class.name})
        moves = _class_moves(locked, _current_pupils(locked.from_class),
                             dict(locked.exceptions.values_list("student_id", "outcome")))
        old_year, new_year = locked.from_class.school_year, locked.to_year
        moved = enrolments_move(actor=actor, moves=moves, ended_on=old_year.ends_on,
                                started_on=new_year.starts_on,
                                refresh_quality=refresh_quality)
        locked.applied = _applied(moved)
        locked.save(update_fields=["applied"])
        event = _committed_event(locked, moves)
        audit_record(actor=actor, action=COMMITTED_ACTION, entity="school_class",
                     entity_id=event.entity_id, school_id=event.school_id, data=event.data)
        if run is not None:
            RolloverRun.objects.filter(pk=run.pk).update(
                classes_committed=F("classes_committed") + 1,
                pupils_moved=F("pupils_moved") + len(moved))
    locked.refresh_from_db()
    return PromotionResult(proposal=locked, outcomes=event.data["outcomes"])


def _promote_school(*, actor: Actor | None, school: School, run: RolloverRun,
                    drafts: Sequence[ClassProposal]) -> list[SchoolSkipped]:
    """Commit the school's draft classes together (the bulk rollover): the same checks and
    writes as ``_promotion_commit`` class by class, but the pupils read, moved and audited in
    one batch (per class, the queries cost more than the pupils). A class that does not fit is
    left in draft and reported; a pupil moved since the read refuses the whole batch
    (``ValidationError``), which the caller then retries class by class."""
    _authorise(actor, school)
    skipped: list[SchoolSkipped] = []
    with transaction.atomic():
        locked = list(ClassProposal.objects.select_for_update(of=("self",))
                      .select_related("from_class__school_year", "to_class__school_year",
                                      "to_year", "school")
                      .filter(pk__in=[p.pk for p in drafts], status=ProposalStatus.DRAFT)
                      .order_by("pk"))
        pupils: dict[int, dict[int, Enrolment]] = {p.from_class_id: {} for p in locked}
        for enrolment in Enrolment.objects.filter(school_class_id__in=list(pupils),
                                                  is_current=True):
            pupils[enrolment.school_class_id or 0][enrolment.student_id] = enrolment
        exceptions: dict[int, dict[int, str]] = {p.pk: {} for p in locked}
        for proposal_id, student_id, outcome in PupilException.objects.filter(
                proposal_id__in=list(exceptions)).values_list("proposal_id", "student_id",
                                                               "outcome"):
            exceptions[proposal_id][student_id] = outcome
        planned: list[tuple[ClassProposal, list[EnrolmentMove]]] = []
        for proposal in locked:
            try:
                planned.append((proposal, _class_moves(proposal, pupils[proposal.from_class_id],
                                                       exceptions[proposal.pk])))
            except ValidationError as error:
                skipped.append(SchoolSkipped(school=school.code,
                                             reason=" ".join(error.messages)))
        if not planned:
            return skipped
        proposals = [proposal for proposal, _moves in planned]
        if _claim(proposals, actor) != len(proposals):
            raise ValidationError(_("Một lớp của trường vừa được chốt ở nơi khác."))
        first = proposals[0]
        moved = enrolments_move(actor=actor, moves=[m for _p, ms in planned for m in ms],
                                ended_on=first.from_class.school_year.ends_on,
                                started_on=first.to_year.starts_on, refresh_quality=False)
        by_enrolment = {m.ended_id: m for m in moved}
        for proposal, moves in planned:
            proposal.applied = _applied([by_enrolment[m.enrolment.pk] for m in moves])
        ClassProposal.objects.bulk_update(proposals, ["applied"], batch_size=100)
        audit_record_many(actor=actor, action=COMMITTED_ACTION, entity="school_class",
                          items=[_committed_event(p, moves) for p, moves in planned])
        RolloverRun.objects.filter(pk=run.pk).update(
            classes_committed=F("classes_committed") + len(planned),
            pupils_moved=F("pupils_moved") + len(moved))
    return skipped


def promotion_undo(*, actor: Actor | None, proposal: ClassProposal) -> ClassProposal:
    """Undo a committed class while its old year is open: the pupils are back in the old
    class with their former status, and the proposal is a draft again."""
    _authorise(actor, proposal.school)
    with transaction.atomic():
        locked = (ClassProposal.objects.select_for_update(of=("self",))
                  .select_related("from_class__school_year").get(pk=proposal.pk))
        claimed = ClassProposal.objects.filter(
            pk=locked.pk, status=ProposalStatus.COMMITTED).update(
            status=ProposalStatus.DRAFT, committed_at=None, committed_by=None, applied=[])
        if claimed != 1:
            raise ValidationError(_("Lớp %(name)s chưa được chốt lên lớp: không có gì để hoàn "
                                    "tác.") % {"name": locked.from_class.name})
        year = locked.from_class.school_year
        if year.status != SchoolYearStatus.OPEN:
            raise ValidationError(_("Năm học %(year)s đã khoá: không hoàn tác được việc lên "
                                    "lớp.") % {"year": year.label})
        moved = [MovedEnrolment(**(item | {"ended_status_since": dt.date.fromisoformat(
            item["ended_status_since"])})) for item in locked.applied]
        enrolments_restore(actor=actor, moved=moved, audit_data={"proposal": locked.pk})
        audit_record(actor=actor, action="class_promotion.undone", entity="school_class",
                     entity_id=locked.from_class_id, school_id=locked.school_id,
                     data={"proposal": locked.pk, "pupils": len(moved)})
    locked.refresh_from_db()
    return locked


def homeroom_confirm(*, actor: Actor | None, proposal: HomeroomProposal) -> Assignment:
    """Put a carried homeroom teacher in force: the class's homeroom teacher and their
    assignment (which gives them access to the class) from the year's first day."""
    _authorise(actor, proposal.school)
    with transaction.atomic():
        locked = (HomeroomProposal.objects.select_for_update(of=("self",))
                  .select_related("school_class__school_year").get(pk=proposal.pk))
        if locked.confirmed_at is not None:
            raise ValidationError(_("Giáo viên chủ nhiệm lớp %(name)s đã được xác nhận.")
                                  % {"name": locked.school_class.name})
        school_class = locked.school_class
        year_writable(school_class.school_year)
        school_class.homeroom_teacher_id = locked.staff_id
        school_class.save(update_fields=["homeroom_teacher"])
        assignment = Assignment.objects.create(
            staff_id=locked.staff_id, school_id=school_class.school_id,
            school_year=school_class.school_year, duty=Duty.HOMEROOM, school_class=school_class,
            starts_on=school_class.school_year.starts_on)
        locked.confirmed_at = timezone.now()
        locked.confirmed_by_id = actor.pk if actor is not None and actor.is_authenticated \
            else None
        locked.save(update_fields=["confirmed_at", "confirmed_by"])
        audit_record(actor=actor, action="school_class.homeroom_confirmed",
                     entity="school_class", entity_id=school_class.pk,
                     school_id=school_class.school_id,
                     data={"staff": locked.staff_id, "assignment": assignment.pk})
    return assignment


@dataclasses.dataclass(frozen=True)
class SchoolSkipped:
    school: str
    reason: str


def rollover_run(*, actor: Actor | None, schools: Sequence[School], run: RolloverRun,
                 progress: Callable[[str], None] | None = None,
                 schools_per_rescan: int = 50, workers: int = 1) -> list[SchoolSkipped]:
    """Open the next year for each school and, with ``run.promote_all``, commit every class
    still in draft, one transaction per class. Interrupted, it is run again: opened years and
    committed classes are left as they are, so no pupil is promoted twice or skipped.

    The pupils' quality state is recomputed by the batch rescan (the same rules as the
    per-record refresh) of each group of ``schools_per_rescan`` schools once their classes are
    committed: record by record it would cost more than the promotion itself. A rerun rescans
    again, so a run stopped between a commit and its rescan leaves nothing stale for long.

    ``workers`` threads, each with its own database connection, take the schools of a group
    in turn (PostgreSQL only: SQLite has one writer at a time; and not inside the caller's
    transaction, which other connections cannot see). A school's transaction alternates
    between Python and the database; two of them at once keep both busy."""
    report = progress or (lambda _message: None)
    if connection.vendor == "sqlite" or connection.in_atomic_block:
        workers = 1
    skipped: list[SchoolSkipped] = []
    for start in range(0, len(schools), schools_per_rescan):
        group = schools[start:start + schools_per_rescan]
        skipped += _rollover_group(actor=actor, schools=group, run=run, report=report,
                                   workers=workers)
        if run.promote_all:
            rescan("student", [school.pk for school in group])
    RolloverRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())
    run.refresh_from_db()
    return skipped


def _rollover_group(*, actor: Actor | None, schools: Sequence[School], run: RolloverRun,
                    report: Callable[[str], None], workers: int) -> list[SchoolSkipped]:
    """Each school of ``schools`` rolled over, by ``workers`` threads; the problems in the
    schools' order. An error in one thread stops the others at their next school and is raised
    here."""
    if workers <= 1 or len(schools) <= 1:
        found: list[SchoolSkipped] = []
        for school in schools:
            found += _rollover_school(actor=actor, school=school, run=run)
            report(school.code)
        return found
    pending: queue.SimpleQueue[tuple[int, School]] = queue.SimpleQueue()
    for item in enumerate(schools):
        pending.put(item)
    results: dict[int, list[SchoolSkipped]] = {}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while not errors:
                try:
                    index, school = pending.get_nowait()
                except queue.Empty:
                    return
                results[index] = _rollover_school(actor=actor, school=school, run=run)
                report(school.code)
        except BaseException as error:  # raised again in the caller's thread
            errors.append(error)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=work, name=f"rollover-{n}")
               for n in range(min(workers, len(schools)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [item for index in sorted(results) for item in results[index]]


def _rollover_school(*, actor: Actor | None, school: School,
                     run: RolloverRun) -> list[SchoolSkipped]:
    try:
        opened = year_open(actor=actor, school=school, from_start_year=run.from_start_year)
    except ValidationError as error:
        return [SchoolSkipped(school=school.code, reason=" ".join(error.messages))]
    if opened.created:
        RolloverRun.objects.filter(pk=run.pk).update(schools_opened=F("schools_opened") + 1)
    if not run.promote_all:
        return []
    drafts = list(ClassProposal.objects.filter(
        school=school, status=ProposalStatus.DRAFT,
        from_class__school_year__start_year=run.from_start_year).order_by("pk"))
    if not drafts:
        return []
    try:
        return _promote_school(actor=actor, school=school, run=run, drafts=drafts)
    except ValidationError:
        pass  # something moved since the read: class by class, each refused class alone
    skipped = []
    # The school's classes in one transaction (each class its own savepoint, so that a class
    # refused is rolled back alone).
    with transaction.atomic():
        for proposal in drafts:
            try:
                _promotion_commit(actor=actor, proposal=proposal, run=run,
                                  refresh_quality=False)
            except ValidationError as error:
                skipped.append(SchoolSkipped(school=school.code,
                                             reason=" ".join(error.messages)))
    return skipped
