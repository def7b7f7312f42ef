"""The new intake of a school year: the list of pupils a school takes in at its entry grade
(grade 1, or grade 6 from outside the authority's primary schools; a preschool takes children
into any of its groups).

Each row is checked against every pupil the authority knows (the entry-time duplicate check
of ``registry.services``): a child already known — the same personal ID number, or a
look-alike the school confirms is the same child — is *linked*: the existing record is
enrolled here (as a hand-over is), never created again. A child known and still enrolled at
another school is refused: that school moves them (chuyển trường). Every other row is a new
pupil with a temporary code (``students_create_many`` issues it; the upper level later swaps it
for the official id on the same record), and every new identity is queued for verification
against the population register (``identity.services.changes_catch_up`` reads the pupils'
``student.create`` events, on commit).

All rows or none; the same list submitted twice is refused (``IntakeBatch.digest``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from edureg.access.policy import Actor, require
from edureg.access.roles import Perm
from edureg.audit.services import audit_read, audit_record
from edureg.core.text import name_match_key
from edureg.identity.services import changes_catch_up
from edureg.registry.duplicates import Candidate
from edureg.registry.enrolments import year_writable
from edureg.registry.models import Enrolment, SchoolClass, Student
from edureg.registry.services import (
    ItemRejected,
    NewStudent,
    student_candidates_many,
    students_create_many,
)
from edureg.registry.validation import STUDENT_CLEANERS, clean_person_values
from edureg.schools.models import School, SchoolYear
from edureg.yearly.handover import enrol_existing
from edureg.yearly.models import Handover, HandoverStatus, IntakeBatch

# The grades a school takes new pupils into with an intake list (0: the preschool classes).
ENTRY_GRADES = (0, 1, 6)
# The values a row may carry (the rest of the record is completed on the pupil's page).
ROW_FIELDS = frozenset({"full_name", "date_of_birth", "sex", "personal_id_number"})
COMMITTED_ACTION = "intake_list.committed"


@dataclasses.dataclass(frozen=True)
class IntakeRow:
    """One pupil of the list: ``line`` as the user numbers it, the class (by id) of the
    school's year, the values, and the decision on look-alikes: ``link_to`` (one of the
    look-alike records: the same child) or ``not_duplicate_reason`` (a different child)."""

    line: int
    class_id: int
    data: Mapping[str, object]
    link_to: int | None = None
    not_duplicate_reason: str = ""


class RowState:
    NEW = "new"  # a new pupil, with a temporary code
    LINK = "link"  # an existing pupil enrolled here
    DECIDE = "decide"  # look-alikes found: the school must say whether it is the same child


@dataclasses.dataclass(frozen=True)
class LookAlike:
    """An existing pupil that may be the row's child, as the intake school is shown them."""

    record_id: int
    full_name: str
    date_of_birth: dt.date | None
    school: str
    enrolled: bool  # enrolled somewhere now (then only that school can move them)
    reasons: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class RowPlan:
    line: int
    full_name: str
    class_name: str
    state: str
    link_to: int | None
    look_alikes: Sequence[LookAlike]
    errors: Mapping[str, Sequence[str]]


@dataclasses.dataclass(frozen=True)
class IntakeCheck:
    school: School
    year: SchoolYear
    rows: Sequence[RowPlan]

    @property
    def ok(self) -> bool:
        return all(not row.errors and row.state != RowState.DECIDE for row in self.rows)


@dataclasses.dataclass(frozen=True)
class IntakeResult:
    batch: IntakeBatch
    created: Sequence[Student]
    linked: Sequence[Student]


def _year(school: School, start_year: int) -> SchoolYear:
    year = SchoolYear.objects.filter(school=school, start_year=start_year).first()
    if year is None:
        raise ValidationError(
            {
                "school_year": [
                    _("Trường %(school)s không có năm học %(year)d–%(next)d.")
                    % {"school": school.name, "year": start_year, "next": start_year + 1}
                ]
            }
        )
    try:
        year_writable(year)
    except ValidationError as error:
        raise ValidationError({"school_year": error.messages}) from None
    return year


# How a row's error names its field (the service's field names are the keys).
FIELD_LABELS = {
    "full_name": _lazy("họ và tên"),
    "date_of_birth": _lazy("ngày sinh"),
    "sex": _lazy("giới tính"),
    "personal_id_number": _lazy("số định danh cá nhân"),
    "school_class": _lazy("lớp"),
    "link_to": _lazy("hồ sơ liên kết"),
    "not_duplicate_reason": _lazy("lý do không phải cùng một người"),
}


def _line(line: int, message: str, field: str) -> str:
    return _("Dòng %(line)d, %(field)s: %(message)s") % {
        "line": line,
        "field": FIELD_LABELS.get(field, field),
        "message": message,
    }


@dataclasses.dataclass
class _Row:
    source: IntakeRow
    school_class: SchoolClass | None
    values: dict[str, Any]
    errors: dict[str, list[str]]
    candidates: list[Candidate] = dataclasses.field(default_factory=list)
    state: str = RowState.NEW
    link_to: int | None = None

    def error(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(_line(self.source.line, message, field))


def _plan(
    *, actor: Actor | None, school: School, year: SchoolYear, rows: Sequence[IntakeRow]
) -> list[_Row]:
    """Each row cleaned, its class resolved and its look-alikes found, with what will be done
    (new, link, decide) and the row's errors (messages prefixed with the row's line)."""
    classes = SchoolClass.objects.in_bulk(sorted({row.class_id for row in rows}))
    planned: list[_Row] = []
    for row in rows:
        school_class = classes.get(row.class_id)
        item = _Row(source=row, school_class=school_class, values={}, errors={})
        if school_class is None or school_class.school_id != school.pk:
            item.error(
                "school_class",
                _("không phải lớp của trường %(school)s.") % {"school": school.name},
            )
        elif school_class.school_year_id != year.pk:
            item.error(
                "school_class",
                _("%(name)s không thuộc năm học %(year)s.")
                % {"name": school_class.name, "year": year.label},
            )
        elif school_class.grade not in ENTRY_GRADES:
            item.error(
                "school_class",
                _(
                    "%(name)s là lớp khối %(grade)d; danh sách tuyển mới chỉ xếp vào lớp mầm "
                    "non, lớp 1 hoặc lớp 6."
                )
                % {"name": school_class.name, "grade": school_class.grade},
            )
        unknown = sorted(set(row.data) - ROW_FIELDS)
        for name in unknown:
            item.error(name, _("cột này không có trong danh sách tuyển mới."))
        cleaned = clean_person_values(
            Student,
            {k: v for k, v in row.data.items() if k in ROW_FIELDS},
            cleaners=STUDENT_CLEANERS,
            coded={},
        )
        for name, messages in cleaned.errors.items():
            for message in messages:
                item.error(name, message)
        if not cleaned.values.get("full_name") and "full_name" not in cleaned.errors:
            item.error("full_name", _("không được để trống họ và tên."))
        item.values = cleaned.values
        planned.append(item)
    _within_list(planned)
    clean = [item for item in planned if not item.errors]
    found = student_candidates_many([item.values for item in clean])
    for item, candidates in zip(clean, found, strict=True):
        item.candidates = candidates
    numbers = {
        str(item.values["personal_id_number"]): item
        for item in clean
        if item.values.get("personal_id_number")
    }
    same_number = dict(
        Student.objects.live()
        .filter(personal_id_number__in=list(numbers))
        .values_list("personal_id_number", "pk")
    )
    for item in clean:
        wanted = item.source.link_to
        ids = {candidate.record_id for candidate in item.candidates}
        number = str(item.values.get("personal_id_number") or "")
        if wanted is not None:
            if wanted not in ids:
                item.error(
                    "link_to",
                    _("hồ sơ chọn để liên kết không nằm trong các hồ sơ giống học sinh này."),
                )
            else:
                item.state, item.link_to = RowState.LINK, wanted
        elif number and number in same_number:
            # The same personal ID number is the same child: linked without asking.
            item.state, item.link_to = RowState.LINK, same_number[number]
        elif item.candidates and not item.source.not_duplicate_reason:
            item.state = RowState.DECIDE
            item.error(
                "not_duplicate_reason",
                _(
                    "có hồ sơ giống học sinh %(name)s. Nếu là cùng một người, hãy chọn liên kết "
                    "với hồ sơ đó; nếu không phải, hãy ghi lý do."
                )
                % {"name": item.values["full_name"]},
            )
        elif item.candidates and actor is None:
            item.state = RowState.DECIDE
            item.error(
                "not_duplicate_reason",
                _(
                    'có hồ sơ giống học sinh %(name)s; lý do "không phải cùng một người" chỉ ghi '
                    "được trên màn hình, bởi người có tài khoản."
                )
                % {"name": item.values["full_name"]},
            )
    _linked_twice(planned)
    return planned


def _within_list(planned: Sequence[_Row]) -> None:
    """The same child twice in one list (same name and date of birth, or same ID number)."""
    seen: dict[tuple[str, str], int] = {}
    for item in planned:
        if item.errors:
            continue
        keys: list[tuple[str, str]] = []
        born = item.values.get("date_of_birth")
        if born is not None:
            keys.append(
                ("name", f"{name_match_key(str(item.values.get('full_name') or ''))}|{born}")
            )
        if item.values.get("personal_id_number"):
            keys.append(("number", str(item.values["personal_id_number"])))
        for key in keys:
            if key in seen:
                item.error(
                    "full_name", _("trùng với dòng %(other)d của danh sách.") % {"other": seen[key]}
                )
                break
            seen[key] = item.source.line


def _linked_twice(planned: Sequence[_Row]) -> None:
    first: dict[int, int] = {}
    for item in planned:
        if item.link_to is None:
            continue
        if item.link_to in first:
            item.error(
                "link_to", _("cùng một hồ sơ với dòng %(other)d.") % {"other": first[item.link_to]}
            )
        else:
            first[item.link_to] = item.source.line


def _look_alikes(actor: Actor | None, items: Sequence[_Row]) -> dict[int, list[LookAlike]]:
    """The look-alikes of each row as shown to the school; the read is audited under the
    schools that hold them."""
    ids = sorted({c.record_id for item in items for c in item.candidates})
    students = Student.objects.select_related("school").in_bulk(ids)
    enrolled = set(
        Enrolment.objects.filter(student_id__in=ids, is_current=True).values_list(
            "student_id", flat=True
        )
    )
    by_school: dict[int, list[int]] = defaultdict(list)
    for pk in ids:
        by_school[students[pk].school_id].append(pk)
    if actor is not None:
        for school_id, pks in sorted(by_school.items()):
            audit_read(
                actor=actor, entity="student", ids=pks, school_id=school_id, view="intake_check"
            )
    return {
        item.source.line: [
            LookAlike(
                record_id=c.record_id,
                full_name=c.full_name,
                date_of_birth=c.date_of_birth,
                school=students[c.record_id].school.name,
                enrolled=c.record_id in enrolled,
                reasons=c.reasons,
            )
            for c in item.candidates
        ]
        for item in items
    }


def _authorise(actor: Actor | None, school: School) -> None:
    if actor is not None:
        require(actor, Perm.YEAR_INTAKE, school)


def intake_check(
    *, actor: Actor | None, school: School, start_year: int, rows: Sequence[IntakeRow]
) -> IntakeCheck:
    """What ``intake_commit`` would do with ``rows``, row by row, writing nothing: new pupil,
    linked existing pupil, or look-alikes to decide on; and each row's errors."""
    _authorise(actor, school)
    year = _year(school, start_year)
    planned = _plan(actor=actor, school=school, year=year, rows=rows)
    with transaction.atomic():
        shown = _look_alikes(actor, planned)
    return IntakeCheck(
        school=school,
        year=year,
        rows=[
            RowPlan(
                line=item.source.line,
                full_name=str(item.values.get("full_name") or ""),
                class_name=item.school_class.name if item.school_class else "",
                state=item.state,
                link_to=item.link_to,
                look_alikes=shown.get(item.source.line, []),
                errors=item.errors,
            )
            for item in planned
        ],
    )


def _digest(school: School, year: SchoolYear, rows: Sequence[IntakeRow]) -> str:
    canonical = json.dumps(
        [
            school.pk,
            year.pk,
            [
                [
                    row.class_id,
                    {k: str(v) for k, v in sorted(row.data.items())},
                    row.link_to,
                    row.not_duplicate_reason,
                ]
                for row in rows
            ],
        ],
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _raise_first(planned: Sequence[_Row]) -> None:
    errors: dict[str, list[str]] = defaultdict(list)
    for item in planned:
        for name, messages in item.errors.items():
            errors[name] += messages
    if errors:
        raise ValidationError(dict(errors))


def intake_commit(
    *, actor: Actor | None, school: School, start_year: int, rows: Sequence[IntakeRow]
) -> IntakeResult:
    """Write the intake list: new pupils created (with temporary codes) and enrolled in their
    class, known ones linked and enrolled; all or nothing. Verification of the new identities
    is queued when the transaction commits."""
    _authorise(actor, school)
    year = _year(school, start_year)
    if not rows:
        raise ValidationError({"rows": [_("Danh sách tuyển mới chưa có học sinh nào.")]})
    digest = _digest(school, year, rows)
    earlier = IntakeBatch.objects.filter(school=school, digest=digest).first()
    if earlier is not None:
        raise _already(earlier)
    try:
        with transaction.atomic():
            batch = IntakeBatch.objects.create(
                school=school,
                school_year=year,
                digest=digest,
                created_by_id=_user_id(actor),
                created_at=timezone.now(),
            )
            planned = _plan(actor=actor, school=school, year=year, rows=rows)
            _raise_first(planned)
            linked = _link(actor, school, batch, [i for i in planned if i.state == RowState.LINK])
            creating = [item for item in planned if item.state == RowState.NEW]
            try:
                written = students_create_many(
                    actor=actor,
                    perm=Perm.YEAR_INTAKE,
                    audit_data={"intake_batch": batch.pk},
                    items=[
                        NewStudent(
                            school_class=_class(item),
                            data=_raw(item),
                            started_on=year.starts_on,
                            not_duplicate_reason=item.source.not_duplicate_reason,
                        )
                        for item in creating
                    ],
                )
            except ItemRejected as rejected:
                line = creating[rejected.index].source.line
                raise ValidationError(
                    {
                        name: [_line(line, str(message), name) for message in messages]
                        for name, messages in rejected.error.message_dict.items()
                    }
                ) from None
            created = [result.student for result in written]
            batch.created, batch.linked = len(created), len(linked)
            batch.save(update_fields=["created", "linked"])
            audit_record(
                actor=actor,
                action=COMMITTED_ACTION,
                entity="intake_batch",
                entity_id=batch.pk,
                school_id=school.pk,
                data={
                    "school_year": year.pk,
                    "created": len(created),
                    "linked": len(linked),
                    "rows": len(rows),
                },
            )
            transaction.on_commit(changes_catch_up, robust=True)
    except IntegrityError:
        earlier = IntakeBatch.objects.filter(school=school, digest=digest).first()
        if earlier is None:
            raise
        raise _already(earlier) from None
    return IntakeResult(batch=batch, created=created, linked=linked)


def _already(batch: IntakeBatch) -> ValidationError:
    when = timezone.localtime(batch.created_at)
    return ValidationError(
        {
            "rows": [
                _(
                    "Danh sách này đã được ghi lúc %(time)s (lần ghi số %(batch)d): không ghi lại "
                    "lần nữa."
                )
                % {"time": when.strftime("%H:%M %d/%m/%Y"), "batch": batch.pk}
            ]
        }
    )


def _user_id(actor: Actor | None) -> int | None:
    return int(actor.pk) if actor is not None and actor.is_authenticated else None


def _raw(item: _Row) -> dict[str, object]:
    """The row's values as typed: the create service cleans them itself."""
    return {k: v for k, v in item.source.data.items() if k in ROW_FIELDS}


def _class(item: _Row) -> SchoolClass:
    assert item.school_class is not None  # rows with errors never get here
    return item.school_class


def _link(
    actor: Actor | None, school: School, batch: IntakeBatch, items: Sequence[_Row]
) -> list[Student]:
    """Enrol the existing pupils of ``items`` in their rows' classes. Refused when one is
    enrolled somewhere now, or handed over to another school."""
    if not items:
        return []
    ids = [item.link_to for item in items if item.link_to is not None]
    students = Student.objects.select_for_update(of=("self",)).select_related("school").in_bulk(ids)
    current = {
        e.student_id: e
        for e in Enrolment.objects.filter(student_id__in=ids, is_current=True).select_related(
            "school", "school_class"
        )
    }
    handovers = {
        h.student_id: h
        for h in Handover.objects.select_for_update(of=("self",))
        .filter(student_id__in=ids, status=HandoverStatus.ASSIGNED)
        .select_related("to_school")
    }
    errors: dict[str, list[str]] = defaultdict(list)
    for item in items:
        student = students.get(item.link_to or 0)
        line = item.source.line
        if student is None or student.merged_into_id is not None:
            errors["link_to"].append(
                _line(line, _("không tìm thấy hồ sơ chọn để liên kết."), "link_to")
            )
            continue
        enrolment = current.get(student.pk)
        if enrolment is not None:
            errors["link_to"].append(
                _line(
                    line,
                    _(
                        "học sinh %(name)s đã có hồ sơ và đang học tại %(school)s (lớp %(class)s): "
                        "không tạo hồ sơ mới. Hãy đề nghị trường đó làm thủ tục chuyển trường."
                    )
                    % {
                        "name": student.full_name,
                        "school": enrolment.school.name,
                        "class": enrolment.school_class.name if enrolment.school_class else "—",
                    },
                    "link_to",
                )
            )
            continue
        handover = handovers.get(student.pk)
        if handover is not None and handover.to_school_id != school.pk:
            errors["link_to"].append(
                _line(
                    line,
                    _("học sinh %(name)s đang được bàn giao cho %(school)s.")
                    % {"name": student.full_name, "school": handover.to_school.name},
                    "link_to",
                )
            )
    if errors:
        raise ValidationError(dict(errors))
    linked: list[Student] = []
    by_class: dict[int, list[_Row]] = defaultdict(list)
    for item in items:
        by_class[_class(item).pk].append(item)
    for group in by_class.values():
        school_class = _class(group[0])
        pupils = [students[item.link_to] for item in group if item.link_to is not None]
        started = enrol_existing(
            actor=actor,
            students=pupils,
            school_class=school_class,
            started_on=school_class.school_year.starts_on,
            note=_("Tuyển mới"),
            audit_data={pupil.pk: {"intake_batch": batch.pk} for pupil in pupils},
        )
        now = timezone.now()
        for pupil in pupils:
            handover = handovers.get(pupil.pk)
            if handover is not None:  # handed over to this school: accepted by the intake
                handover.status, handover.decided_at = HandoverStatus.ACCEPTED, now
                handover.decided_by_id = _user_id(actor)
                handover.to_enrolment = started[pupil.pk]
                handover.save(update_fields=["status", "decided_at", "decided_by", "to_enrolment"])
        linked += pupils
    return linked
