"""Moving school (chuyển trường) on the same person: the sending school asks, the receiving
school confirms and places the pupil in a class. Accepting ends the enrolment at the sending
school ("Chuyển đi") and opens one at the receiving school ("Chuyển đến") in one transaction;
the pupil record, guardians, checks and history move with it. Never a new person — the
delete-and-recreate habit is what leaves duplicate identities behind.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, require
from edureg.access.roles import Perm
from edureg.audit.services import audit_record
from edureg.core.codelists import get_list
from edureg.core.text import TextValueError, clean_text
from edureg.quality.models import FieldGroupCheck
from edureg.registry.models import (
    Enrolment,
    EnrolmentStatusChange,
    SchoolClass,
    Student,
    StudentGuardian,
    Transfer,
    TransferStatus,
)
from edureg.registry.quality import records_refresh
from edureg.schools.models import School, SchoolYearStatus

_NOTE_MAX = 300
_LATEST_DAYS = 90  # a transfer is planned at most this far ahead


def _status_code(direction: str) -> str:
    """The enrolment status marking a transfer ``in`` or ``out`` (code-list data)."""
    entries = get_list("enrolment_status").entries
    return next(entry.code for entry in entries if entry.extra.get("transfer") == direction)


def _note(value: str, field: str) -> str:
    try:
        return clean_text(value or "", max_length=_NOTE_MAX)
    except TextValueError as error:
        raise ValidationError({field: [error.message]}) from None


def transfer_request(*, actor: Actor, student: Student, to_school: School,
                     effective_on: dt.date | None = None, note: str = "") -> Transfer:
    """The sending school asks ``to_school`` to take the pupil from ``effective_on``."""
    require(actor, Perm.STUDENT_TRANSFER, student)
    day = effective_on or timezone.localdate()
    errors: dict[str, list[str]] = {}
    if to_school.pk == student.school_id:
        errors["to_school"] = [_("Trường nhận phải khác trường đang học.")]
    elif not to_school.is_active:
        errors["to_school"] = [_("Trường nhận không còn hoạt động; hãy chọn trường khác.")]
    current = Enrolment.objects.filter(student=student, is_current=True).first()
    if current is None or current.school_id != student.school_id:
        errors["student"] = [_("Học sinh không có quá trình học hiện tại ở trường này.")]
    elif day < current.started_on:
        errors["effective_on"] = [_("Ngày chuyển không được trước ngày vào trường (%(day)s).")
                                  % {"day": current.started_on.strftime("%d/%m/%Y")}]
    if day > timezone.localdate() + dt.timedelta(days=_LATEST_DAYS):
        errors["effective_on"] = [_("Ngày chuyển quá xa; chỉ ghi trước tối đa %(days)d ngày.")
                                  % {"days": _LATEST_DAYS}]
    cleaned = _note(note, "note")
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            transfer = Transfer.objects.create(
                student=student, from_school_id=student.school_id, to_school=to_school,
                effective_on=day, note=cleaned, requested_by_id=cast(int, actor.pk),
                requested_at=timezone.now())
            audit_record(actor=actor, action="student.transfer_requested", entity="student",
                         entity_id=student.pk, school_id=student.school_id,
                         data={"transfer_id": transfer.pk, "to_school_id": to_school.pk,
                               "effective_on": day.isoformat()})
    except IntegrityError:
        raise ValidationError({"student": [_(
            "Học sinh này đang có một đề nghị chuyển trường chờ xử lý; hãy huỷ đề nghị đó "
            "trước.")]}) from None
    return transfer


def _open(transfer: Transfer) -> Transfer:
    locked = Transfer.objects.select_for_update().get(pk=transfer.pk)
    if locked.status != TransferStatus.REQUESTED:
        raise ValidationError({"transfer": [_("Đề nghị chuyển trường này đã được xử lý.")]})
    return locked


def transfer_accept(*, actor: Actor, transfer: Transfer, school_class: SchoolClass,
                    note: str = "") -> Transfer:
    """The receiving school confirms and places the pupil in ``school_class`` (one of its own,
    in an open year): the same pupil record moves, with its history."""
    require(actor, Perm.STUDENT_TRANSFER, transfer.to_school)
    errors: dict[str, list[str]] = {}
    year = school_class.school_year
    if school_class.school_id != transfer.to_school_id:
        errors["school_class"] = [_("Hãy chọn một lớp của trường nhận.")]
    elif year.status != SchoolYearStatus.OPEN:
        errors["school_class"] = [_("Năm học của lớp này đã khoá; hãy chọn lớp năm học hiện "
                                    "tại.")]
    cleaned = _note(note, "decision_note")
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        locked = _open(transfer)
        student = Student.objects.select_for_update().get(pk=locked.student_id)
        day = locked.effective_on
        if student.school_id != locked.from_school_id:
            raise ValidationError({"transfer": [_("Học sinh không còn ở trường gửi; đề nghị "
                                                  "này không dùng được nữa.")]})
        out_code, in_code = _status_code("out"), _status_code("in")
        leaving = Enrolment.objects.select_for_update().get(student=student, is_current=True)
        leaving.is_current, leaving.ended_on = False, day
        leaving.status_code, leaving.status_since = out_code, day
        leaving.save(update_fields=["is_current", "ended_on", "status_code", "status_since"])
        EnrolmentStatusChange.objects.create(enrolment=leaving, status_code=out_code,
                                             effective_on=day, recorded_by_id=actor.pk,
                                             note=_("Chuyển đến trường khác"))
        arriving = Enrolment.objects.create(
            student=student, school_id=locked.to_school_id, school_year=year,
            school_class=school_class, grade=school_class.grade, status_code=in_code,
            status_since=day, started_on=day)
        EnrolmentStatusChange.objects.create(enrolment=arriving, status_code=in_code,
                                             effective_on=day, recorded_by_id=actor.pk,
                                             note=_("Chuyển từ trường khác"))
        student.school_id, student.current_class = locked.to_school_id, school_class
        student.save(update_fields=["school", "current_class", "updated_at"])
        _guardians_follow(student, from_school_id=locked.from_school_id,
                          to_school_id=locked.to_school_id)
        FieldGroupCheck.objects.filter(entity="student", record_id=student.pk).update(
            school_id=locked.to_school_id)
        locked.status, locked.decided_by_id, locked.decided_at = (
            TransferStatus.ACCEPTED, actor.pk, now)
        locked.decision_note = cleaned
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        for school_id in (locked.from_school_id, locked.to_school_id):
            audit_record(actor=actor, action="student.transferred", entity="student",
                         entity_id=student.pk, school_id=school_id,
                         data={"transfer_id": locked.pk, "from_school_id": locked.from_school_id,
                               "to_school_id": locked.to_school_id, "class_id": school_class.pk,
                               "effective_on": day.isoformat()})
        records_refresh("student", [student.pk])
    return locked


def _guardians_follow(student: Student, *, from_school_id: int, to_school_id: int) -> None:
    """Guardians are held by their children's school: they move with the pupil unless another
    of their children stays behind."""
    links = StudentGuardian.objects.filter(student=student).select_related("guardian")
    for link in links:
        guardian = link.guardian
        if guardian.school_id != from_school_id:
            continue
        stays = StudentGuardian.objects.filter(
            guardian=guardian, student__school_id=from_school_id).exclude(student=student)
        if not stays.exists():
            guardian.school_id = to_school_id
            guardian.save(update_fields=["school", "updated_at"])


def transfer_refuse(*, actor: Actor, transfer: Transfer, note: str) -> Transfer:
    """The receiving school declines (with a reason the sending school sees)."""
    require(actor, Perm.STUDENT_TRANSFER, transfer.to_school)
    cleaned = _note(note, "decision_note")
    if len(cleaned) < 5:
        raise ValidationError({"decision_note": [_("Hãy ghi lý do từ chối để trường gửi biết.")]})
    return _close(actor, transfer, TransferStatus.REFUSED, cleaned, transfer.to_school_id)


def transfer_cancel(*, actor: Actor, transfer: Transfer, note: str = "") -> Transfer:
    """The sending school withdraws its request."""
    require(actor, Perm.STUDENT_TRANSFER, transfer.student)
    return _close(actor, transfer, TransferStatus.CANCELLED, _note(note, "decision_note"),
                  transfer.from_school_id)


def _close(actor: Actor, transfer: Transfer, status: TransferStatus, note: str,
           school_id: int) -> Transfer:
    with transaction.atomic():
        locked = _open(transfer)
        locked.status, locked.decided_by_id, locked.decided_at = status, actor.pk, timezone.now()
        locked.decision_note = note
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit_record(actor=actor, action=f"student.transfer_{status}", entity="student",
                     entity_id=locked.student_id, school_id=school_id,
                     data={"transfer_id": locked.pk})
    return locked
