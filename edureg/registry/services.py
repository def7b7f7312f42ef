"""Writes to people records. Each takes the acting user, checks the policy, validates, writes,
and records its audit event in one transaction (ARCHITECTURE.md §2)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, require
from edureg.access.roles import Perm
from edureg.access.visibility import Visibility, visibility
from edureg.audit.services import audit_record, changes_for_audit
from edureg.core.catalogue import active_catalogue
from edureg.core.codelists import get_list
from edureg.core.text import TextValueError, clean_text, name_match_key, vietnamese_sort_key
from edureg.quality.models import CheckKind, FieldGroupCheck
from edureg.registry.duplicates import (
    DuplicateSuspected,
    not_same_reason,
    not_same_record,
    student_candidates,
)
from edureg.registry.models import (
    IDENTITY_FIELDS,
    Enrolment,
    EnrolmentStatusChange,
    SchoolClass,
    Student,
)
from edureg.registry.quality import (
    IDENTITY_GROUP,
    blocking_errors,
    field_groups_touched,
    records_refresh,
)
from edureg.registry.validation import (
    STUDENT_CLEANERS,
    STUDENT_CODED,
    STUDENT_PARENTS,
    FieldWarning,
    clean_person_values,
)

_REASON_MIN = 10
_REASON_MAX = 300
# The fields the entry-time duplicate check compares.
_MATCHED_FIELDS = frozenset({"full_name", "date_of_birth", "personal_id_number"})
EDITABLE_STUDENT_FIELDS = frozenset(STUDENT_CLEANERS) | frozenset(STUDENT_CODED)
_UNIQUE_MESSAGES = {
    "personal_id_number": "Số định danh cá nhân này đã có ở một hồ sơ khác; hãy mở hồ sơ đó "
                          "thay vì tạo hồ sơ mới.",
    "education_id": "Mã định danh Bộ GD&ĐT này đã có ở một hồ sơ khác.",
    "temporary_code": "Mã tạm này đã có ở một hồ sơ khác.",
}


@dataclasses.dataclass(frozen=True)
class WriteResult:
    student: Student
    changed: tuple[str, ...]
    warnings: tuple[FieldWarning, ...]


def _masked_fields(entity: str) -> frozenset[str]:
    catalogue = active_catalogue()
    return catalogue.sensitive_names(entity) | catalogue.identifying_names(entity)


def _set_name_keys(student: Student) -> None:
    student.name_sort_key = vietnamese_sort_key(student.full_name)
    student.name_match_key = name_match_key(student.full_name)


def _actor_id(actor: Actor) -> int | None:
    return int(actor.pk) if actor.is_authenticated else None


def _raise_on_errors(errors: Mapping[str, list[str]]) -> None:
    if errors:
        raise ValidationError({name: list(messages) for name, messages in errors.items()})


def _check_unique(student: Student, values: Mapping[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    for name, message in _UNIQUE_MESSAGES.items():
        value = values.get(name)
        if value and Student.objects.filter(**{name: value}).exclude(pk=student.pk).exists():
            errors[name] = [_(message)]
    _raise_on_errors(errors)


def identity_locked(entity: str, record_id: int) -> bool:
    """Whether the person's identity fields stand verified by the population register."""
    return FieldGroupCheck.objects.filter(
        entity=entity, record_id=record_id, group=IDENTITY_GROUP, kind=CheckKind.REGISTER,
        ended_at__isnull=True).exists()


def _identity_reason(entity: str, record_id: int, changes: Mapping[str, object],
                     reason: str) -> str:
    """The reason for changing verified identity fields (cleaned); raises when one is needed
    and missing. Returns "" when no verified field changes."""
    touched = sorted(set(changes) & set(IDENTITY_FIELDS[entity]))
    if not touched or not identity_locked(entity, record_id):
        return ""
    try:
        cleaned = clean_text(reason or "", max_length=_REASON_MAX)
    except TextValueError as error:
        raise ValidationError({"identity_change_reason": [error.message]}) from None
    if len(cleaned) < _REASON_MIN:
        message = _("Thông tin này đã được xác thực với CSDL quốc gia về dân cư. Muốn sửa, hãy "
                    "ghi lý do (ví dụ: theo giấy khai sinh số …); sau khi lưu, hệ thống sẽ xác "
                    "thực lại.")
        errors = {name: [message] for name in touched}
        errors["identity_change_reason"] = [_("Hãy ghi lý do sửa thông tin đã xác thực (ít nhất "
                                              "%(count)d ký tự).") % {"count": _REASON_MIN}]
        raise ValidationError(errors)
    return cleaned


def _duplicates_settled(values: Mapping[str, Any], *, exclude_id: int | None,
                        not_duplicate_reason: str) -> tuple[list[int], str]:
    """The look-alike pupils the user has declared "not the same person" (with the cleaned
    reason); raises ``DuplicateSuspected`` when there are some and no reason was given."""
    candidates = student_candidates(values, exclude_id=exclude_id)
    if not candidates:
        return [], ""
    if not not_duplicate_reason:
        raise DuplicateSuspected(candidates)
    return [c.record_id for c in candidates], not_same_reason(not_duplicate_reason)


def student_update(*, actor: Actor, student: Student, data: Mapping[str, object],
                   identity_change_reason: str = "",
                   not_duplicate_reason: str = "",
                   shown: Visibility | None = None) -> WriteResult:
    """Change some fields of a student; returns what changed and the non-blocking warnings.
    Identity fields verified by the population register change only with a reason; the change
    ends the verification (the identity app sends the person again, reading the audit log).
    Fields hidden or masked from the actor cannot be changed: ``shown`` is what the caller
    showed them (default: their job position's visibility)."""
    require(actor, Perm.STUDENT_EDIT, student)
    seen = shown or visibility(actor, "student", school_id=student.school_id)
    withheld = sorted(set(data) & (seen.hidden | seen.masked))
    if withheld:
        raise ValidationError({name: [_("Bạn không được sửa trường này (ẩn với vị trí việc làm "
                                        "của bạn, hoặc cần xác nhận quy chế bảo vệ dữ liệu "
                                        "trước).")] for name in withheld})
    cleaned = clean_person_values(
        Student, data, cleaners=STUDENT_CLEANERS, coded=STUDENT_CODED,
        parents=STUDENT_PARENTS, current=student,
    )
    if student.education_id and "education_id" in cleaned.values \
            and cleaned.values["education_id"] != student.education_id:
        cleaned.error("education_id", _("Mã định danh Bộ GD&ĐT đã chính thức thì không được sửa "
                                        "hay xoá; nếu sai, hãy báo cho Sở để xử lý."))
    _raise_on_errors(cleaned.errors)
    changes = {
        name: (getattr(student, name), value)
        for name, value in cleaned.values.items()
        if getattr(student, name) != value
    }
    if not changes:
        return WriteResult(student=student, changed=(), warnings=tuple(cleaned.warnings))
    with transaction.atomic():
        locked = Student.objects.select_for_update().get(pk=student.pk)
        reason = _identity_reason("student", locked.pk, changes, identity_change_reason)
        _check_unique(locked, cleaned.values)
        others: list[int] = []
        if set(changes) & _MATCHED_FIELDS:
            merged = {name: getattr(locked, name) for name in _MATCHED_FIELDS}
            merged.update({name: new for name, (_old, new) in changes.items()})
            others, not_same = _duplicates_settled(merged, exclude_id=locked.pk,
                                                   not_duplicate_reason=not_duplicate_reason)
        for name, (_old, new) in changes.items():
            setattr(locked, name, new)
        update_fields = [*changes, "updated_at"]
        if "full_name" in changes:
            _set_name_keys(locked)
            update_fields += ["name_sort_key", "name_match_key"]
        if cleaned.code_versions:
            locked.code_versions = {**locked.code_versions, **cleaned.code_versions}
            update_fields.append("code_versions")
        try:
            locked.save(update_fields=update_fields)
        except IntegrityError as exc:  # a concurrent writer took the same unique value
            raise ValidationError(_("Hồ sơ vừa bị thay đổi đồng thời; hãy tải lại và thử lại.")
                                  ) from exc
        audit_record(
            actor=actor, action="student.update", entity="student", entity_id=locked.pk,
            school_id=locked.school_id,
            data={"changes": changes_for_audit(changes, masked=_masked_fields("student")),
                  "warnings": [w.code for w in cleaned.warnings],
                  **({"identity_change_reason": reason} if reason else {})},
        )
        if others:
            not_same_record(actor=actor, entity="student", record_id=locked.pk, others=others,
                            reason=not_same, school_id=locked.school_id)
        field_groups_touched(entity="student", record_id=locked.pk, school_id=locked.school_id,
                             changed=changes, actor_id=_actor_id(actor))
        records_refresh("student", [locked.pk])
        _raise_on_errors(blocking_errors("student", locked.pk, changes))
    return WriteResult(student=locked, changed=tuple(changes), warnings=tuple(cleaned.warnings))


def _active_status_code() -> str:
    """The first active status of the list ("Đang học" in the default list)."""
    statuses = get_list("enrolment_status")
    return next(e.code for e in statuses.entries if e.extra.get("active"))


def student_create(
    *,
    actor: Actor,
    school_class: SchoolClass,
    data: Mapping[str, object],
    started_on: dt.date | None = None,
    not_duplicate_reason: str = "",
) -> WriteResult:
    """Create a student enrolled in ``school_class``. Without an education id a temporary code
    is issued (the upper level later swaps it for the official id on this same record)."""
    require(actor, Perm.STUDENT_EDIT, school_class)
    cleaned = clean_person_values(
        Student, data, cleaners=STUDENT_CLEANERS, coded=STUDENT_CODED, parents=STUDENT_PARENTS,
    )
    if "full_name" not in cleaned.values and "full_name" not in cleaned.errors:
        cleaned.error("full_name", _("Không được để trống họ và tên."))
    _raise_on_errors(cleaned.errors)
    day = started_on or timezone.localdate()
    with transaction.atomic():
        student = Student(school_id=school_class.school_id, current_class=school_class,
                          code_versions=cleaned.code_versions, **cleaned.values)
        _check_unique(student, cleaned.values)
        others, not_same = _duplicates_settled(cleaned.values, exclude_id=None,
                                               not_duplicate_reason=not_duplicate_reason)
        _set_name_keys(student)
        if not student.education_id and not student.temporary_code:
            student.temporary_code = _next_temporary_code(school_class)
        student.save(force_insert=True)
        status = _active_status_code()
        enrolment = Enrolment.objects.create(
            student=student, school_id=school_class.school_id,
            school_year_id=school_class.school_year_id, school_class=school_class,
            grade=school_class.grade, status_code=status, status_since=day, started_on=day,
        )
        EnrolmentStatusChange.objects.create(
            enrolment=enrolment, status_code=status, effective_on=day,
            recorded_by=actor if actor.is_authenticated else None,  # type: ignore[misc]
        )
        audit_record(
            actor=actor, action="student.create", entity="student", entity_id=student.pk,
            school_id=student.school_id,
            data={"class_id": school_class.pk,
                  "fields": sorted(cleaned.values),
                  "warnings": [w.code for w in cleaned.warnings]},
        )
        if others:
            not_same_record(actor=actor, entity="student", record_id=student.pk, others=others,
                            reason=not_same, school_id=student.school_id)
        records_refresh("student", [student.pk])
        _raise_on_errors(blocking_errors("student", student.pk, cleaned.values))
    return WriteResult(student=student, changed=tuple(cleaned.values),
                       warnings=tuple(cleaned.warnings))


def _next_temporary_code(school_class: SchoolClass) -> str:
    """``T`` + school id + running number; unique by construction within the transaction."""
    prefix = f"T{school_class.school_id:05d}"
    last = (
        Student.objects.filter(temporary_code__startswith=prefix)
        .order_by("-temporary_code").values_list("temporary_code", flat=True).first()
    )
    number = int(last[len(prefix):]) + 1 if last else 1
    return f"{prefix}{number:06d}"


OFFICIAL_ID_ACTION = "student.official_id"
# The audit actions that change what a pupil's record says or where it is: the outbox that the
# upward sync and the agencies' change feeds read.
STUDENT_CHANGE_ACTIONS: frozenset[str] = frozenset({
    "student.create", "student.update", "student.transferred", "student.merged",
    "student.unmerged", OFFICIAL_ID_ACTION,
})


def student_official_ids_set(pairs: list[tuple[int, str]], *, source: str) -> list[int]:
    """Record the official education ids the national sector database issued for pupils known
    by a temporary code: on the same records, never new ones. One system write (no actor) per
    pupil, audited, all in one transaction; returns the ids of the pupils changed. A pupil that
    already has an official id, or whose new id another record holds, is left as it is (the
    caller reports it)."""
    wanted: dict[int, str] = {}
    for student_id, education_id in pairs:
        code = education_id.strip()
        if code.isascii() and code.isalnum() and 1 <= len(code) <= 20:
            wanted[student_id] = code
    if not wanted:
        return []
    changed: list[int] = []
    with transaction.atomic():
        students = Student.objects.select_for_update().in_bulk(list(wanted))
        taken = set(Student.objects.filter(education_id__in=list(wanted.values()))
                    .values_list("education_id", flat=True))
        for student_id, code in wanted.items():
            student = students.get(student_id)
            if student is None or student.education_id or code in taken:
                continue
            taken.add(code)
            student.education_id = code
            student.save(update_fields=["education_id", "updated_at"])
            audit_record(actor=None, action=OFFICIAL_ID_ACTION, entity="student",
                         entity_id=student.pk, school_id=student.school_id,
                         data={"changes": {"education_id": [None, code]}, "source": source,
                               "temporary_code": student.temporary_code})
            changed.append(student.pk)
        if changed:
            records_refresh("student", changed)
    return changed
