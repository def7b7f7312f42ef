"""Duplicate persons at entry: before a pupil is created or their identity changed, the
records that look like the same person, each with the reason, so that the user opens the
existing person instead — or records, with a reason, that it is not the same person (kept and
audited, and never proposed again).

The checks are exact lookups on indexed keys, cheap enough for every save: the same personal
ID number; the same name without diacritics (``name_match_key``) and date of birth; the same
name and the date with day and month swapped; for a pupil being edited, the same name, birth
year and a parent's name. Staff are checked like pupils (without parents); parents and
guardians on the ID number, the name with the phone number, or the name with the birth year
at the same school. The import of workbooks (intake) will call the same functions. A missing
value never counts as agreement: a pupil without date of birth is matched on the ID number only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor
from edureg.audit.services import audit_record
from edureg.core.text import TextValueError, clean_text, name_match_key
from edureg.dedupe.features import phone_key
from edureg.dedupe.models import Decision, DuplicateDecision
from edureg.registry.models import Guardian, Staff, Student, StudentGuardian

_REASON_MIN = 10
_REASON_MAX = 300
_LIMIT = 10


@dataclasses.dataclass(frozen=True)
class Candidate:
    """An existing record that may be the same person, and why."""

    record_id: int
    full_name: str
    date_of_birth: dt.date | None
    school_id: int
    class_id: int | None
    reasons: tuple[str, ...]


class DuplicateSuspected(ValidationError):
    """The write would create or make a record that looks like an existing person."""

    def __init__(self, candidates: list[Candidate]) -> None:
        self.candidates = candidates
        super().__init__(
            {"not_duplicate_reason": [_(
                "Có hồ sơ giống người này (xem danh sách). Nếu đúng là cùng một người, hãy mở hồ "
                "sơ đã có thay vì lưu; nếu không phải, hãy ghi lý do rồi lưu lại.")]},
            code="duplicate")


def swapped(day: dt.date | None) -> dt.date | None:
    """The date with day and month swapped, when that is another valid date."""
    if day is None or day.day > 12 or day.day == day.month:
        return None
    return dt.date(day.year, day.day, day.month)


def _ordered(left: int, right: int) -> tuple[int, int]:
    return (left, right) if left < right else (right, left)


def student_candidates(values: Mapping[str, Any], *, exclude_id: int | None = None
                       ) -> list[Candidate]:
    """Existing pupils that look like a pupil with ``values`` (full_name, date_of_birth,
    personal_id_number), without the pairs already decided "not the same person"."""
    key = name_match_key(str(values.get("full_name") or ""))
    born = values.get("date_of_birth")
    number = values.get("personal_id_number") or None
    lookups: list[tuple[Q, str]] = []
    if number:
        lookups.append((Q(personal_id_number=number), _("Trùng số định danh cá nhân")))
    lookups += _name_and_birth(key, born)
    if key and isinstance(born, dt.date) and exclude_id is not None:
        # A wrong day or month slips past the lookups above; the parents do not change.
        parents = list(StudentGuardian.objects.filter(student_id=exclude_id)
                       .exclude(guardian__name_match_key="")
                       .values_list("guardian__name_match_key", flat=True))
        if parents:
            lookups.append((
                Q(name_match_key=key, date_of_birth__year=born.year,
                  guardian_links__guardian__name_match_key__in=parents),
                _("Trùng họ tên, năm sinh và họ tên cha/mẹ")))
    return _look_up(Student.objects.live(), "student", lookups, exclude_id=exclude_id)


def _name_and_birth(key: str, born: object) -> list[tuple[Q, str]]:
    if not key or not isinstance(born, dt.date):
        return []
    lookups = [(Q(name_match_key=key, date_of_birth=born),
                _("Trùng họ tên (không kể dấu) và ngày sinh"))]
    other = swapped(born)
    if other is not None:
        lookups.append((Q(name_match_key=key, date_of_birth=other),
                        _("Trùng họ tên, ngày sinh đảo ngày và tháng")))
    return lookups


def staff_candidates(values: Mapping[str, Any], *, exclude_id: int | None = None
                     ) -> list[Candidate]:
    """Existing staff records that look like ``values``: same ID number, or the same name
    (without diacritics) and birth date, or that date with day and month swapped."""
    key = name_match_key(str(values.get("full_name") or ""))
    number = values.get("personal_id_number") or None
    lookups: list[tuple[Q, str]] = []
    if number:
        lookups.append((Q(personal_id_number=number), _("Trùng số định danh cá nhân")))
    lookups += _name_and_birth(key, values.get("date_of_birth"))
    return _look_up(Staff.objects.all(), "staff", lookups, exclude_id=exclude_id)


def guardian_candidates(values: Mapping[str, Any], *, school_id: int,
                        exclude_id: int | None = None) -> list[Candidate]:
    """Existing parents or guardians that look like ``values``: same ID number; the same name
    (without diacritics) and phone number; or, at the same school, the same name and birth
    year. A name with a birth year alone is too common to claim across a city."""
    key = name_match_key(str(values.get("full_name") or ""))
    number = values.get("personal_id_number") or None
    phone = phone_key(str(values.get("phone") or ""))
    year = values.get("birth_year")
    lookups: list[tuple[Q, str]] = []
    if number:
        lookups.append((Q(personal_id_number=number), _("Trùng số định danh cá nhân")))
    if key and phone:
        lookups.append((Q(name_match_key=key, phone=phone),
                        _("Trùng họ tên và số điện thoại")))
    if key and isinstance(year, int):
        lookups.append((Q(name_match_key=key, birth_year=year, school_id=school_id),
                        _("Trùng họ tên và năm sinh, cùng trường")))
    return _look_up(Guardian.objects.all(), "guardian", lookups, exclude_id=exclude_id)


def _look_up(records: QuerySet[Any], entity: str, lookups: list[tuple[Q, str]], *,
             exclude_id: int | None) -> list[Candidate]:
    """Run each lookup (at most ``_LIMIT`` rows each) and merge the reasons per record, without
    the pairs already decided "not the same person"."""
    class_field = "current_class_id" if entity == "student" else None
    date_field = "date_of_birth" if entity != "guardian" else None
    reasons: dict[int, list[str]] = {}
    rows: dict[int, dict[str, Any]] = {}
    for condition, reason in lookups:
        found = records.filter(condition)
        if exclude_id is not None:
            found = found.exclude(pk=exclude_id)
        fields = ["pk", "full_name", "school_id", *filter(None, (class_field, date_field))]
        for row in found.distinct().values(*fields)[:_LIMIT]:
            rows[row["pk"]] = dict(row)
            reasons.setdefault(row["pk"], []).append(reason)
    if exclude_id is not None and rows:
        decided = DuplicateDecision.objects.filter(entity=entity, decision=Decision.NOT_SAME)
        pairs = [_ordered(exclude_id, pk) for pk in rows]
        settled = decided.filter(
            Q(*[Q(left_id=left, right_id=right) for left, right in pairs], _connector=Q.OR))
        for left, right in settled.values_list("left_id", "right_id"):
            rows.pop(right if left == exclude_id else left, None)
    return [Candidate(record_id=pk, full_name=row["full_name"],
                      date_of_birth=row.get("date_of_birth"), school_id=row["school_id"],
                      class_id=row.get("current_class_id"), reasons=tuple(reasons[pk]))
            for pk, row in sorted(rows.items())]


def not_same_reason(reason: str) -> str:
    """The cleaned reason for "not the same person"; raises naming the field when too short."""
    try:
        cleaned = clean_text(reason or "", max_length=_REASON_MAX)
    except TextValueError as error:
        raise ValidationError({"not_duplicate_reason": [error.message]}) from None
    if len(cleaned) < _REASON_MIN:
        raise ValidationError({"not_duplicate_reason": [
            _("Hãy ghi lý do vì sao không phải cùng một người (ít nhất %(count)d ký tự), ví dụ "
              "“khác cha mẹ, khác nơi sinh”.") % {"count": _REASON_MIN}]})
    return cleaned


def not_same_record(*, actor: Actor, entity: str, record_id: int, others: list[int],
                    reason: str, school_id: int | None) -> None:
    """Remember, in the caller's transaction, that ``record_id`` is not the same person as
    ``others`` (audited)."""
    now = timezone.now()
    for other in others:
        left, right = _ordered(record_id, other)
        DuplicateDecision.objects.update_or_create(
            entity=entity, left_id=left, right_id=right,
            defaults={"decision": Decision.NOT_SAME, "reason": reason,
                      "decided_by_id": actor.pk, "decided_at": now})
    audit_record(actor=actor, action="dedupe.not_same", entity=entity, entity_id=record_id,
                 school_id=school_id,
                 data={"others": [str(pk) for pk in others], "reason": reason})
