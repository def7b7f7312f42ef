"""Data-subject requests (yêu cầu của chủ thể dữ liệu) about a pupil: record, acknowledge,
assign, answer, refuse, close, and the school's list with its clocks in working days. Every
write authorises (``subject_request.manage``), checks its input, and leaves its audit event in
the same transaction.

The deadlines are data (``deadlines`` from version 2026.2, ``holidays``): acknowledge within 2
working days; respond per kind of request in working or calendar days, counted from the day the
request was received (Vietnam time)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Final, cast

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.models import Membership, User
from edureg.access.policy import Actor, get_scoped_or_404, has_perm_at, require
from edureg.access.roles import ROLE_PERMS, Perm, Role
from edureg.audit.services import audit_read, audit_record
from edureg.core.text import TextValueError, clean_text
from edureg.privacy.deadlines import Deadlines, SubjectRequestDeadlines, deadlines_in_force
from edureg.privacy.incidents import multiline_text
from edureg.privacy.models import (
    RequesterRelation,
    SubjectEntity,
    SubjectRequest,
    SubjectRequestKind,
    SubjectRequestStatus,
)
from edureg.privacy.purposes import Purpose, purposes_in_force
from edureg.privacy.workdays import add_working_days, holidays
from edureg.registry.models import Student
from edureg.schools.models import School

# Audit actions (``<entity>.<verb>``: writes).
REQUEST_RECORDED: Final = "subject_request.recorded"
REQUEST_ACKNOWLEDGED: Final = "subject_request.acknowledged"
REQUEST_ASSIGNED: Final = "subject_request.assigned"
REQUEST_ANSWERED: Final = "subject_request.answered"
REQUEST_REFUSED: Final = "subject_request.refused"
REQUEST_CLOSED: Final = "subject_request.closed"

S = SubjectRequestStatus
OPEN: Final = frozenset({S.RECEIVED, S.ACKNOWLEDGED, S.IN_PROGRESS})
_CODE_MAX = 20


@dataclasses.dataclass(frozen=True)
class SubjectRequestData:
    kind: str
    student_code: str  # the pupil's education id or temporary code
    received_at: dt.datetime | None  # None: now
    channel: str
    requester_relation: str
    details: str


def _rules(deadlines: Deadlines) -> SubjectRequestDeadlines:
    rules = deadlines.subject_requests
    if rules is None:
        raise ValidationError(_("Tệp thời hạn đang áp dụng (%(version)s) chưa có thời hạn xử lý "
                                "yêu cầu của chủ thể dữ liệu.") % {"version": deadlines.version})
    return rules


def subject_request_record(*, actor: Actor, school: School,
                           data: SubjectRequestData) -> SubjectRequest:
    """Record a request received at ``school`` about one of its pupils."""
    require(actor, Perm.SUBJECT_REQUEST_MANAGE, school)
    rules = _rules(deadlines_in_force())
    errors: dict[str, list[str]] = {}
    if data.kind not in SubjectRequestKind.values:
        errors["kind"] = [_("Hãy chọn loại yêu cầu trong danh sách.")]
    if rules.channel(data.channel) is None:
        errors["channel"] = [_("Hãy chọn hình thức tiếp nhận trong danh sách.")]
    if data.requester_relation not in RequesterRelation.values:
        errors["requester_relation"] = [_("Hãy chọn người yêu cầu: cha mẹ/người giám hộ hay "
                                          "chính học sinh.")]
    now = timezone.now()
    received_at = data.received_at or now
    if received_at > now:
        errors["received_at"] = [_("Thời điểm tiếp nhận không được sau hiện tại.")]
    student: Student | None = None
    try:
        code = clean_text(data.student_code or "", max_length=_CODE_MAX)
    except TextValueError as error:
        errors["student_code"] = [_("Mã học sinh: %(error)s") % {"error": error.message}]
    else:
        if not code:
            errors["student_code"] = [_("Hãy nhập mã học sinh (mã định danh hoặc mã tạm).")]
        else:
            student = (Student.objects.live().filter(school=school)
                       .filter(Q(education_id=code) | Q(temporary_code=code)).first())
            if student is None:
                errors["student_code"] = [_("Mã học sinh: không có học sinh mã %(code)s ở "
                                            "trường này.") % {"code": code}]
    details = multiline_text(data.details, "details", _("nội dung yêu cầu"), errors, required=False)
    if errors:
        raise ValidationError(errors)
    assert student is not None
    with transaction.atomic():
        request = SubjectRequest.objects.create(
            authority_id=school.authority_id, school=school,
            subject_entity=SubjectEntity.STUDENT, subject_id=student.pk, kind=data.kind,
            received_at=received_at, channel=data.channel,
            requester_relation=data.requester_relation, details=details,
            status=S.RECEIVED, recorded_at=now, recorded_by_id=cast(int, actor.pk))
        audit_record(actor=actor, action=REQUEST_RECORDED, entity="subject_request",
                     entity_id=request.pk, school_id=school.pk, data={
                         "kind": request.kind, "student": student.pk,
                         "received_at": received_at.isoformat(), "channel": request.channel,
                         "requester": request.requester_relation})
    return request


def subject_request_get(*, actor: Actor, school_id: int, request_id: int) -> SubjectRequest:
    """One request of the school, through the actor's scope (elsewhere or missing: 404)."""
    return get_scoped_or_404(SubjectRequest.objects.all(), actor, Perm.SUBJECT_REQUEST_MANAGE,
                             pk=request_id, school_id=school_id)


def _locked(actor: Actor, school_id: int, request_id: int) -> SubjectRequest:
    found = subject_request_get(actor=actor, school_id=school_id, request_id=request_id)
    return SubjectRequest.objects.select_for_update().get(pk=found.pk)


def _must_be_open(request: SubjectRequest) -> None:
    if request.status not in OPEN:
        raise ValidationError({"status": [_("Yêu cầu này đã được trả lời, từ chối hoặc đóng; "
                                            "không thể thay đổi.")]})


def subject_request_acknowledge(*, actor: Actor, school_id: int,
                                request_id: int) -> SubjectRequest:
    """Record that the requester was told the request was received."""
    with transaction.atomic():
        request = _locked(actor, school_id, request_id)
        if request.status != S.RECEIVED:
            raise ValidationError({"status": [_("Yêu cầu này đã được xác nhận đã nhận.")]})
        request.status, request.acknowledged_at = S.ACKNOWLEDGED, timezone.now()
        request.save(update_fields=["status", "acknowledged_at"])
        audit_record(actor=actor, action=REQUEST_ACKNOWLEDGED, entity="subject_request",
                     entity_id=request.pk, school_id=request.school_id,
                     data={"acknowledged_at": request.acknowledged_at.isoformat()})
    return request


def assignable_users(school: School) -> list[User]:
    """The school's current staff accounts whose role may handle requests, by name."""
    roles = [role for role in Role if Perm.SUBJECT_REQUEST_MANAGE in ROLE_PERMS[role]]
    user_ids = (Membership.objects.current().filter(school=school, role__in=roles)
                .values("user_id"))
    return list(User.objects.filter(pk__in=user_ids, is_active=True).order_by("full_name", "pk"))


def subject_request_assign(*, actor: Actor, school_id: int, request_id: int,
                           assignee_id: int | None) -> SubjectRequest:
    """Hand the request to a staff member of the school who may handle requests."""
    with transaction.atomic():
        request = _locked(actor, school_id, request_id)
        _must_be_open(request)
        assignee = User.objects.filter(pk=assignee_id, is_active=True).first() \
            if assignee_id is not None else None
        if assignee is None or not has_perm_at(assignee, Perm.SUBJECT_REQUEST_MANAGE,
                                               request.school_id):
            raise ValidationError({"assigned_to": [_(
                "Người xử lý: hãy chọn một người của trường có quyền xử lý yêu cầu.")]})
        before = request.assigned_to_id
        request.assigned_to = assignee
        if request.status == S.ACKNOWLEDGED:
            request.status = S.IN_PROGRESS
        request.save(update_fields=["assigned_to", "status"])
        audit_record(actor=actor, action=REQUEST_ASSIGNED, entity="subject_request",
                     entity_id=request.pk, school_id=request.school_id,
                     data={"before": before, "after": assignee.pk})
    return request


def _finish(actor: Actor, school_id: int, request_id: int, text: str, *, status: str,
            action: str, label: str) -> SubjectRequest:
    errors: dict[str, list[str]] = {}
    cleaned = multiline_text(text, "response", label, errors, required=True)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        request = _locked(actor, school_id, request_id)
        _must_be_open(request)
        now = timezone.now()
        request.status, request.response, request.answered_at = status, cleaned, now
        request.acknowledged_at = request.acknowledged_at or now
        request.save(update_fields=["status", "response", "answered_at", "acknowledged_at"])
        audit_record(actor=actor, action=action, entity="subject_request",
                     entity_id=request.pk, school_id=request.school_id,
                     data={"answered_at": now.isoformat()})
    return request


def subject_request_answer(*, actor: Actor, school_id: int, request_id: int,
                           response: str) -> SubjectRequest:
    """Record the answer given to the requester (what was done)."""
    return _finish(actor, school_id, request_id, response, status=S.ANSWERED,
                   action=REQUEST_ANSWERED, label=_("nội dung trả lời"))


def subject_request_refuse(*, actor: Actor, school_id: int, request_id: int,
                           reason: str) -> SubjectRequest:
    """Refuse the request, with the reason told to the requester (e.g. statutory retention)."""
    return _finish(actor, school_id, request_id, reason, status=S.REFUSED,
                   action=REQUEST_REFUSED, label=_("lý do từ chối"))


def subject_request_close(*, actor: Actor, school_id: int, request_id: int) -> SubjectRequest:
    """Close an answered or refused request."""
    with transaction.atomic():
        request = _locked(actor, school_id, request_id)
        if request.status not in {S.ANSWERED, S.REFUSED}:
            raise ValidationError({"status": [_("Chỉ đóng được yêu cầu đã trả lời hoặc đã từ "
                                                "chối.")]})
        request.status, request.closed_at = S.CLOSED, timezone.now()
        request.save(update_fields=["status", "closed_at"])
        audit_record(actor=actor, action=REQUEST_CLOSED, entity="subject_request",
                     entity_id=request.pk, school_id=request.school_id,
                     data={"closed_at": request.closed_at.isoformat()})
    return request


# --- The clocks --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Clock:
    acknowledge_by: dt.date
    respond_by: dt.date


def request_clock(*, kind: str, received_on: dt.date, rules: SubjectRequestDeadlines,
                  days_off: frozenset[dt.date]) -> Clock:
    """The last day to acknowledge and to respond, for a request received on ``received_on``."""
    period = rules.respond[kind]
    respond_by = (add_working_days(received_on, period.days, days_off) if period.working_days
                  else received_on + dt.timedelta(days=period.days))
    return Clock(acknowledge_by=add_working_days(received_on, rules.acknowledge_working_days,
                                                 days_off),
                 respond_by=respond_by)


@dataclasses.dataclass(frozen=True)
class SubjectRequestRow:
    request: SubjectRequest
    student: Student | None
    clock: Clock
    acknowledge_overdue: bool  # still not acknowledged after its day
    respond_overdue: bool  # still open after its day
    answered_late: bool  # answered or refused after its day

    @property
    def overdue(self) -> bool:
        return self.acknowledge_overdue or self.respond_overdue


def request_row(request: SubjectRequest, *, student: Student | None, today: dt.date,
                rules: SubjectRequestDeadlines, days_off: frozenset[dt.date]
                ) -> SubjectRequestRow:
    clock = request_clock(kind=request.kind,
                          received_on=timezone.localdate(request.received_at),
                          rules=rules, days_off=days_off)
    is_open = request.status in OPEN
    answered_on = (timezone.localdate(request.answered_at) if request.answered_at is not None
                   else None)
    return SubjectRequestRow(
        request=request, student=student, clock=clock,
        acknowledge_overdue=(is_open and request.acknowledged_at is None
                             and today > clock.acknowledge_by),
        respond_overdue=is_open and today > clock.respond_by,
        answered_late=answered_on is not None and answered_on > clock.respond_by)


@dataclasses.dataclass(frozen=True)
class SubjectRequestRegister:
    school: School
    deadlines: Deadlines
    rules: SubjectRequestDeadlines
    rows: list[SubjectRequestRow]

    @property
    def overdue(self) -> list[SubjectRequestRow]:
        return [row for row in self.rows if row.overdue]


def _students(requests: list[SubjectRequest]) -> dict[int, Student]:
    ids = {r.subject_id for r in requests if r.subject_entity == SubjectEntity.STUDENT}
    return Student.objects.in_bulk(ids)


def subject_request_register(*, actor: Actor, school_id: int) -> SubjectRequestRegister:
    """The school's requests, open ones first (oldest first), each with its deadlines. The
    pupils' names are shown: the read is audited."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.SUBJECT_REQUEST_MANAGE,
                               pk=school_id)
    deadlines = deadlines_in_force()
    rules = _rules(deadlines)
    days_off = holidays()
    today = timezone.localdate()
    requests = list(SubjectRequest.objects.filter(school=school)
                    .select_related("assigned_to").order_by("received_at", "pk"))
    students = _students(requests)
    rows = [request_row(r, student=students.get(r.subject_id), today=today, rules=rules,
                        days_off=days_off) for r in requests]
    rows.sort(key=lambda row: (row.request.status not in OPEN, not row.overdue,
                               row.clock.respond_by))
    if students:
        audit_read(actor=actor, entity="student", ids=sorted(students), school_id=school.pk,
                   view="subject_requests")
    return SubjectRequestRegister(school=school, deadlines=deadlines, rules=rules, rows=rows)


def subject_request_detail(*, actor: Actor, school_id: int,
                           request_id: int) -> SubjectRequestRow:
    request = subject_request_get(actor=actor, school_id=school_id, request_id=request_id)
    rules = _rules(deadlines_in_force())
    student = _students([request]).get(request.subject_id)
    if student is not None:
        audit_read(actor=actor, entity="student", ids=[student.pk], school_id=school_id,
                   view="subject_request")
    return request_row(request, student=student, today=timezone.localdate(), rules=rules,
                       days_off=holidays())


# --- What a deletion request cannot delete ---------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DeletionExplanation:
    version: str
    kept: tuple[Purpose, ...]  # processed by law: kept for the statutory retention
    deletable: tuple[Purpose, ...]  # by consent: deleted (consent withdrawn) on request


def deletion_explanation(*, entity: str = SubjectEntity.STUDENT) -> DeletionExplanation:
    """From the purposes in force: what a deletion request cannot remove, with its legal basis
    and retention, and what it can."""
    purposes = purposes_in_force()
    concerned = purposes.for_entity(entity)
    return DeletionExplanation(
        version=purposes.version,
        kept=tuple(p for p in concerned if not p.requires_consent),
        deletable=tuple(p for p in concerned if p.requires_consent))
