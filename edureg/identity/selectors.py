"""Reads for the identity screens: one person's state with its differences explained, a school's
mismatch queue, the counts per status and the recent verification jobs.

Always through the policy (out of scope: 404, missing permission: 403). Differences compare our
*current* values with the register's answer (``IdentityState.fields``) and are explained by
``identity.explain``; personal ID numbers are masked for roles that may not see identifiers.
The queue shows personal data, so its read is audited (one event per entity shown); the
person panel is part of the record page, whose read the page's own selector audits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils.translation import gettext_lazy

from edureg.access.policy import (
    Actor,
    get_scoped_or_404,
    grants,
    has_perm,
    require,
    scope,
)
from edureg.access.roles import ROLE_PERMS, Perm, Scope
from edureg.access.visibility import Visibility
from edureg.audit.services import audit_read
from edureg.core.codelists import UnknownCodeListError, get_list
from edureg.identity.explain import (
    Difference,
    describe_action,
    explain_field,
    explain_not_found,
    suggested_action,
)
from edureg.identity.models import (
    CannotSend,
    IdentityState,
    IdentityStatus,
    JobKind,
    JobStatus,
    NoIdReason,
    QueueStatus,
    VerificationJob,
)
from edureg.identity.register.port import COMPARED_FIELDS
from edureg.privacy.policy import visibility_for
from edureg.registry.models import IDENTITY_FIELDS, SchoolClass, Staff, Student
from edureg.registry.quality_selectors import Paged, paged
from edureg.schools.models import School

ENTITIES: Mapping[str, type[Student] | type[Staff]] = {"student": Student, "staff": Staff}
_VIEW_PERM = {"student": Perm.STUDENT_VIEW, "staff": Perm.STAFF_VIEW}
QUEUE_PAGE_SIZE = 50
JOBS_SHOWN = 10

# The order statuses are listed in, on every screen.
STATUS_ORDER: tuple[IdentityStatus, ...] = (
    IdentityStatus.VERIFIED, IdentityStatus.MISMATCH, IdentityStatus.NOT_FOUND,
    IdentityStatus.NO_ID, IdentityStatus.SENT, IdentityStatus.UNVERIFIED,
)
# The badge colour of each status (CSS modifier of ``.badge``).
STATUS_TONE: Mapping[str, str] = {
    IdentityStatus.VERIFIED: "ok",
    IdentityStatus.MISMATCH: "error",
    IdentityStatus.NOT_FOUND: "error",
    IdentityStatus.NO_ID: "info",
    IdentityStatus.SENT: "info",
    IdentityStatus.UNVERIFIED: "warning",
}
# The persons the mismatch queue holds: answered with a difference, not found, or not sendable.
_IN_QUEUE = (Q(status__in=[IdentityStatus.MISMATCH, IdentityStatus.NOT_FOUND])
             | (Q(status=IdentityStatus.UNVERIFIED) & ~Q(cannot_send="")))

FIELD_LABELS: Mapping[str, Any] = {
    "full_name": gettext_lazy("Họ tên"),
    "date_of_birth": gettext_lazy("Ngày sinh"),
    "sex": gettext_lazy("Giới tính"),
    "birth_registration_place": gettext_lazy("Nơi đăng ký khai sinh"),
}
OUTCOME_LABELS: Mapping[str, Any] = {
    "match": gettext_lazy("Khớp"),
    "mismatch": gettext_lazy("Sai lệch"),
    "not_comparable": gettext_lazy("Không so được"),
}
# What to do about a person who could not be sent.
_CANNOT_SEND_ACTIONS: Mapping[str, Any] = {
    CannotSend.NO_ID_NUMBER: gettext_lazy(
        "Bổ sung số định danh cá nhân theo giấy khai sinh/căn cước (hệ thống tự xác thực lại); "
        "nếu người này chưa có số, khai báo «Không có số định danh» trên trang hồ sơ."),
    CannotSend.MALFORMED_ID: gettext_lazy(
        "Số định danh cá nhân không đúng cấu trúc 12 chữ số: đối chiếu với giấy khai sinh/căn "
        "cước rồi sửa hồ sơ; hệ thống sẽ tự xác thực lại."),
    CannotSend.MISSING_FIELDS: gettext_lazy(
        "Bổ sung họ tên, ngày sinh và giới tính theo giấy khai sinh/căn cước rồi lưu; hệ thống "
        "sẽ tự xác thực lại."),
    CannotSend.REFUSED: gettext_lazy(
        "Kiểm tra lại số định danh cá nhân, họ tên, ngày sinh, giới tính theo giấy khai "
        "sinh/căn cước, sửa hồ sơ nếu cần rồi bấm «Xác thực lại»."),
}
HOMEROOM_FALLBACK = gettext_lazy("Giáo vụ")


# --- Shared pieces ---------------------------------------------------------------------------

def _model(entity: str) -> type[Student] | type[Staff]:
    model = ENTITIES.get(entity)
    if model is None:
        raise Http404
    return model


def _place_names() -> dict[str, str]:
    """Pre-2025 province names by code: the register's birth registration place."""
    try:
        return {entry.code: entry.name for entry in get_list("legacy_province").entries}
    except UnknownCodeListError:
        return {}


def _ours(person: Mapping[str, Any]) -> dict[str, str | None]:
    """Our current values in the register's terms (see ``identity.services.Person``)."""
    born = person.get("date_of_birth")
    return {
        "full_name": person.get("full_name") or None,
        "date_of_birth": born.isoformat() if isinstance(born, dt.date) else None,
        "sex": person.get("sex") or None,
        "birth_registration_place": person.get("birthplace_legacy_province") or None,
    }


def _id_shown(person: Mapping[str, Any], seen: Visibility) -> str:
    shown = seen.show("personal_id_number", person.get("personal_id_number") or "")
    return "" if shown is None else str(shown)


def _differences(state: IdentityState, person: Mapping[str, Any], seen: Visibility,
                 place_names: Mapping[str, str]) -> list[Difference]:
    if state.status == IdentityStatus.NOT_FOUND:
        return [explain_not_found(_id_shown(person, seen))]
    if state.status != IdentityStatus.MISMATCH:
        return []
    ours = _ours(person)
    answers = state.fields if isinstance(state.fields, dict) else {}
    found = []
    for field in state.mismatched or ():
        if field not in COMPARED_FIELDS:
            continue
        answer = answers.get(field) or {}
        theirs = answer.get("register_value") if isinstance(answer, dict) else None
        found.append(explain_field(field, ours[field], None if theirs is None else str(theirs),
                                   place_names=place_names))
    return found


def _action_text(state: IdentityState, differences: Sequence[Difference]) -> str:
    if state.status == IdentityStatus.UNVERIFIED and state.cannot_send:
        return str(_CANNOT_SEND_ACTIONS.get(state.cannot_send, ""))
    if len(differences) == 1:
        return differences[0].action_text  # the field's own advice is the most precise
    if state.status in (IdentityStatus.MISMATCH, IdentityStatus.NOT_FOUND):
        return describe_action(suggested_action(differences))
    return ""


def _label(choices: type[Any], value: str) -> str:
    try:
        return str(choices(value).label) if value else ""
    except ValueError:
        return value


def _may(model: type[Model], actor: Actor, perm: Perm) -> Exists | Value:
    """Whether the row is within the actor's reach with ``perm``, as an annotation."""
    if not has_perm(actor, perm):
        return Value(False, output_field=BooleanField())
    return Exists(scope(model._default_manager.filter(pk=OuterRef("pk")), actor, perm))


# --- One person ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FieldAnswer:
    field: str
    label: str
    outcome: str
    outcome_label: str
    message: str  # the explained difference, for a mismatch


@dataclasses.dataclass(frozen=True)
class PersonIdentity:
    entity: str
    record_id: int
    school_id: int
    status: str
    status_label: str
    tone: str  # badge colour
    state: IdentityState | None  # None: never sent
    answers: list[FieldAnswer]
    differences: list[Difference]
    action_text: str
    cannot_send_label: str
    no_id_reason_label: str
    queue_status_label: str
    has_id_number: bool
    may_verify: bool
    may_resolve: bool


def identity_state_for(*, actor: Actor, entity: str, record_id: int) -> PersonIdentity:
    """A person's verification state, explained, and what the actor may do about it. Reached
    through the view permission of the person's records (403 without it, 404 outside it).
    Two queries: the person (with the actor's rights on them) and the state."""
    model = _model(entity)
    perm = _VIEW_PERM[entity]
    require(actor, perm)
    columns = ["id", "school_id", *IDENTITY_FIELDS[entity]]
    person = (scope(model._default_manager.filter(pk=record_id), actor, perm)
              .annotate(may_verify=_may(model, actor, Perm.IDENTITY_VERIFY),
                        may_resolve=_may(model, actor, Perm.IDENTITY_RESOLVE))
              .values(*columns, "may_verify", "may_resolve").first())
    if person is None:
        raise Http404
    state = (IdentityState.objects.select_related("requested_by")
             .filter(entity=entity, record_id=record_id).first())
    seen = visibility_for(actor, entity, school_id=person["school_id"])
    status = state.status if state is not None else IdentityStatus.UNVERIFIED
    differences = (_differences(state, person, seen, _place_names())
                   if state is not None else [])
    explained = {difference.field: difference.message for difference in differences}
    answers = []
    if state is not None and isinstance(state.fields, dict):
        for field in COMPARED_FIELDS:
            answer = state.fields.get(field)
            if not isinstance(answer, dict):
                continue
            outcome = str(answer.get("outcome") or "")
            answers.append(FieldAnswer(
                field=field, label=str(FIELD_LABELS[field]), outcome=outcome,
                outcome_label=str(OUTCOME_LABELS.get(outcome, outcome)),
                message=explained.get(field, "") if outcome == "mismatch" else ""))
    return PersonIdentity(
        entity=entity, record_id=record_id, school_id=person["school_id"], status=status,
        status_label=_label(IdentityStatus, status), tone=STATUS_TONE.get(status, "info"),
        state=state, answers=answers, differences=differences,
        action_text=_action_text(state, differences) if state is not None else "",
        cannot_send_label=_label(CannotSend, state.cannot_send) if state is not None else "",
        no_id_reason_label=_label(NoIdReason, state.no_id_reason) if state is not None else "",
        queue_status_label=(_label(QueueStatus, state.queue_status)
                            if state is not None and state.queue_status else ""),
        has_id_number=bool(person.get("personal_id_number")),
        may_verify=bool(person["may_verify"]), may_resolve=bool(person["may_resolve"]),
    )


# --- Counts per status -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    tone: str
    count: int


@dataclasses.dataclass(frozen=True)
class StatusCounts:
    total: int
    by_status: Mapping[str, int]

    @classmethod
    def of(cls, statuses: Iterable[str], total: int) -> StatusCounts:
        """Counts from the statuses of the persons who have a state; the other persons of
        ``total`` have never been sent: "chưa xác thực"."""
        counts: dict[str, int] = {}
        for status in statuses:
            counts[status] = counts.get(status, 0) + 1
        return cls.from_counts(counts, total)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], total: int) -> StatusCounts:
        known = sum(n for status, n in counts.items() if status != IdentityStatus.UNVERIFIED)
        by_status = dict(counts)
        by_status[IdentityStatus.UNVERIFIED] = max(total - known, 0)
        return cls(total=total, by_status=by_status)

    @property
    def rows(self) -> list[StatusCount]:
        return [StatusCount(status=str(status), label=str(status.label),
                            tone=STATUS_TONE[status], count=self.by_status.get(status, 0))
                for status in STATUS_ORDER]

    @property
    def verified(self) -> int:
        return self.by_status.get(IdentityStatus.VERIFIED, 0)

    @property
    def verified_share(self) -> float | None:
        """The share of persons verified against the register (the "sạch" identity part)."""
        return self.verified / self.total if self.total else None

    @property
    def verified_percent(self) -> str:
        share = self.verified_share
        return "—" if share is None else f"{share * 100:.0f} %"


def class_statuses(*, actor: Actor, class_id: int) -> dict[int, str]:
    """The status of each pupil of the class the actor may see who has a state (the others
    were never sent). One query."""
    pupils = scope(Student.objects.filter(current_class_id=class_id), actor, Perm.STUDENT_VIEW)
    return dict(IdentityState.objects.filter(entity="student", record_id__in=pupils.values("pk"))
                .values_list("record_id", "status"))


@dataclasses.dataclass(frozen=True)
class SchoolCounts:
    school: School
    students: StatusCounts | None  # None: the actor may not view the school's pupils
    staff: StatusCounts | None

    @property
    def rows(self) -> list[tuple[StatusCount, StatusCount | None, StatusCount | None]]:
        """(status, pupils, staff) per status, in the screens' order."""
        none: list[StatusCount | None] = [None] * len(STATUS_ORDER)
        students = list(self.students.rows) if self.students else none
        staff = list(self.staff.rows) if self.staff else none
        first = self.students or self.staff or StatusCounts.from_counts({}, 0)
        return list(zip(first.rows, students, staff, strict=True))


def _status_counts(entity: str, persons: QuerySet[Any]) -> StatusCounts:
    state = IdentityState.objects.filter(entity=entity, record_id=OuterRef("pk"))
    rows = (persons.order_by()
            .annotate(identity=Coalesce(Subquery(state.values("status")[:1]),
                                        Value(IdentityStatus.UNVERIFIED.value)))
            .values("identity").annotate(n=Count("pk")))
    counts = {row["identity"]: row["n"] for row in rows}
    return StatusCounts.from_counts(counts, sum(counts.values()))


def school_counts(*, actor: Actor, school_id: int) -> SchoolCounts:
    """Persons of the school per status, among those the actor may view (pupils and staff
    apart). Counters only: no read of personal data."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.SCHOOL_VIEW, pk=school_id)
    found: dict[str, StatusCounts | None] = {}
    for entity, model in ENTITIES.items():
        perm = _VIEW_PERM[entity]
        found[entity] = (_status_counts(entity, scope(
            model._default_manager.filter(school_id=school.pk), actor, perm))
            if has_perm(actor, perm) else None)
    return SchoolCounts(school=school, students=found["student"], staff=found["staff"])


# --- Jobs ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class JobRow:
    job: VerificationJob
    kind_label: str
    class_name: str  # the class of a class request
    requested_by: str
    done: int  # answered or found not sendable
    running: bool

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.job.persons) if self.job.persons else 100


def jobs_for_school(*, actor: Actor, school_id: int, limit: int = JOBS_SHOWN) -> list[JobRow]:
    """The school's latest verification jobs (one person, a class, the school) with their
    progress; counters and the requester's name, no pupil's."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.IDENTITY_VERIFY, pk=school_id)
    class_name = SchoolClass.objects.filter(pk=OuterRef("scope_id")).values("name")[:1]
    jobs = (VerificationJob.objects.filter(school_id=school.pk).select_related("created_by")
            .annotate(class_name=Case(When(kind=JobKind.CLASS, then=Subquery(class_name)),
                                      default=Value("")))
            .order_by("-created_at", "-pk")[:limit])
    return [JobRow(job=job, kind_label=_label(JobKind, job.kind),
                   class_name=getattr(job, "class_name", "") or "",
                   requested_by=(job.created_by.full_name or job.created_by.get_username())
                   if job.created_by else "",
                   done=min(job.answered + job.not_sendable, job.persons),
                   running=job.status == JobStatus.RUNNING)
            for job in jobs]


def verifiable_authorities(actor: Actor) -> list[int]:
    """The authorities whose every school the actor may send to be verified (an authority-wide
    grant with ``identity.verify``). From the grants already read: no query."""
    return sorted({grant.authority_id for grant in grants(actor)
                   if grant.scope is Scope.AUTHORITY
                   and Perm.IDENTITY_VERIFY in ROLE_PERMS[grant.role]})


# --- The mismatch queue ----------------------------------------------------------------------

class QueueFilter:
    ALL = ""
    OPEN = QueueStatus.OPEN.value
    CORRECTION_REQUESTED = QueueStatus.CORRECTION_REQUESTED.value


@dataclasses.dataclass(frozen=True)
class QueueRow:
    entity: str
    record_id: int
    name: str
    class_id: int | None
    class_name: str
    status: str
    status_label: str
    tone: str
    differences: list[Difference]
    problem: str  # why it is here when there is no difference to explain (not sendable)
    action_text: str
    who_acts: str
    queue_status: str
    queue_status_label: str
    queue_note: str

    @property
    def correctable(self) -> bool:
        """Whether "đã đề nghị đính chính" applies (the register answered)."""
        return self.status in (IdentityStatus.MISMATCH, IdentityStatus.NOT_FOUND)


@dataclasses.dataclass(frozen=True)
class Queue(Paged[QueueRow]):
    """One page of a school's queue."""

    school: School

    @property
    def rows(self) -> list[QueueRow]:
        return self.items


def _workable(model: type[Student] | type[Staff], entity: str, actor: Actor,
              school: School) -> QuerySet[Any]:
    """The school's persons the actor may both view and act on."""
    persons = model._default_manager.filter(school_id=school.pk)
    return scope(scope(persons, actor, _VIEW_PERM[entity]), actor, Perm.IDENTITY_RESOLVE)


def _ordered(states: QuerySet[IdentityState]) -> QuerySet[IdentityState]:
    """Pupils first, by grade, class and Vietnamese name order; then staff by name."""
    pupil = Student.objects.filter(pk=OuterRef("record_id"))
    member = Staff.objects.filter(pk=OuterRef("record_id"))
    is_pupil = Q(entity="student")
    return states.annotate(
        sort_grade=Case(When(is_pupil, then=Subquery(pupil.values("current_class__grade")[:1]))),
        sort_class=Case(When(is_pupil, then=Subquery(pupil.values("current_class__name")[:1]))),
        sort_name=Case(When(is_pupil, then=Subquery(pupil.values("name_sort_key")[:1])),
                       default=Subquery(member.values("name_sort_key")[:1])),
    ).order_by("-entity", F("sort_grade").asc(nulls_last=True),
               F("sort_class").asc(nulls_last=True), "sort_name", "pk")


def queue_for_school(*, actor: Actor, school_id: int, queue_status: str = QueueFilter.ALL,
                     page: int = 1, size: int = QUEUE_PAGE_SIZE) -> Queue:
    """The school's persons whose verification needs a person to act — a difference from the
    register, not found there, or not sendable — that the actor may act on (``identity.resolve``
    and the view permission), each with its differences explained, what to do and who should
    do it (the pupil's homeroom teacher, else the records office). Filtered by the queue's own
    status; ``page`` past the end gives the last page. The read is audited."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.IDENTITY_RESOLVE, pk=school_id)
    reach = Q()
    for entity, model in ENTITIES.items():
        if has_perm(actor, _VIEW_PERM[entity]):
            reach |= Q(entity=entity,
                       record_id__in=_workable(model, entity, actor, school).values("pk"))
    states = IdentityState.objects.filter(_IN_QUEUE, school_id=school.pk)
    states = states.filter(reach) if reach else states.none()
    if queue_status:
        states = states.filter(queue_status=queue_status)
    shown = paged(_ordered(states), page, size, lambda state: state)
    rows = _queue_rows(actor, school, shown.items)
    student_ids = [row.record_id for row in rows if row.entity == "student"]
    staff_ids = [row.record_id for row in rows if row.entity == "staff"]
    audit_read(actor=actor, entity="student", ids=student_ids, school_id=school.pk,
               view="identity_queue")
    if staff_ids:  # the audit index links a read to the records of its own entity
        audit_read(actor=actor, entity="staff", ids=staff_ids, school_id=school.pk,
                   view="identity_queue")
    return Queue(items=rows, number=shown.number, pages=shown.pages, count=shown.count,
                 size=size, school=school)


def _queue_rows(actor: Actor, school: School, states: list[IdentityState]) -> list[QueueRow]:
    """One query per entity on the page, for the persons' current values and classes."""
    wanted: dict[str, list[int]] = {}
    for state in states:
        wanted.setdefault(state.entity, []).append(state.record_id)
    persons: dict[tuple[str, int], dict[str, Any]] = {}
    for entity, ids in wanted.items():
        columns = ["id", "full_name", *IDENTITY_FIELDS[entity]]
        if entity == "student":
            columns += ["current_class_id", "current_class__name",
                        "current_class__homeroom_teacher__full_name"]
        for row in _model(entity)._default_manager.filter(pk__in=ids).values(*columns):
            persons[(entity, row["id"])] = row
    seen = {entity: visibility_for(actor, entity, school_id=school.pk) for entity in wanted}
    place_names = _place_names() if any(s.status == IdentityStatus.MISMATCH
                                        for s in states) else {}
    rows = []
    for state in states:
        person = persons.get((state.entity, state.record_id))
        if person is None:  # removed since the page was counted
            continue
        differences = _differences(state, person, seen[state.entity], place_names)
        teacher = person.get("current_class__homeroom_teacher__full_name")
        rows.append(QueueRow(
            entity=state.entity, record_id=state.record_id, name=person["full_name"],
            class_id=person.get("current_class_id"),
            class_name=person.get("current_class__name") or "",
            status=state.status, status_label=_label(IdentityStatus, state.status),
            tone=STATUS_TONE.get(state.status, "info"), differences=differences,
            problem=_label(CannotSend, state.cannot_send)
            if state.status == IdentityStatus.UNVERIFIED else "",
            action_text=_action_text(state, differences),
            who_acts=teacher or str(HOMEROOM_FALLBACK),
            queue_status=state.queue_status,
            queue_status_label=_label(QueueStatus, state.queue_status),
            queue_note=state.queue_note))
    return rows
