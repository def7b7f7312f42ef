"""Writes to staff records (cán bộ, giáo viên, nhân viên), many at once: the intake of the
Ministry's staff export. The same steps as the pupils' batch writes
(``registry.services.students_create_many``): the policy checked once for the school (or in
one scoped query for the records), values cleaned through the registry's cleaners and code
lists, unique values and look-alikes checked, one audit event per staff member, the quality
state of the records written recomputed, all in one transaction. A refused item refuses the
whole batch (``ItemRejected`` naming the first).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, require, scope
from edureg.access.roles import Perm
from edureg.audit.services import AuditItem, audit_record_many, changes_for_audit
from edureg.core.codelists import get_list
from edureg.core.text import name_match_key, vietnamese_sort_key
from edureg.quality.models import Finding
from edureg.quality.rules.catalogue import Severity as QualitySeverity
from edureg.quality.services import current_rule_set
from edureg.registry.duplicates import (
    DuplicateSuspected,
    not_same_reason,
    not_same_record,
    staff_candidates,
)
from edureg.registry.models import IDENTITY_FIELDS, Staff
from edureg.registry.quality import field_groups_touched, records_refresh

# Private helpers of the registry's services and cleaners, shared rather than copied: the
# identity-change rule, the batch refusal and the field cleaners are the same for staff.
from edureg.registry.services import (
    ItemRejected,
    _actor_id,
    _chunks,
    _identity_reason,
    _masked_fields,
    _reject_first,
)
from edureg.registry.validation import (
    STAFF_CODED,
    Cleaned,
    FieldValueError,
    FieldWarning,
    _birth_date,
    _education_id,
    _name,
    _personal_id,
    _phone,
    _sex,
    clean_person_values,
)
from edureg.schools.models import School


def _email(value: object) -> str:
    text = str(value or "").strip().lower()
    if not text:
        return ""
    try:
        validate_email(text)
    except ValidationError:
        raise FieldValueError(_("Địa chỉ thư điện tử không hợp lệ; hãy kiểm tra lại, ví dụ "
                                "ten@truong.edu.vn.")) from None
    if len(text) > 254:
        raise FieldValueError(_("Địa chỉ thư điện tử dài quá 254 ký tự."))
    return text


def _subjects(value: object) -> list[str]:
    """Subject codes (the ``subject`` list): a list of codes or of names."""
    items = value if isinstance(value, list | tuple) else [value]
    codes: list[str] = []
    subjects = get_list("subject")
    for item in items:
        text = str(item or "").strip()
        if not text:
            continue
        entry = subjects.get(text) or subjects.match(text)
        if entry is None:
            raise FieldValueError(_("Môn “%(value)s” không có trong danh mục môn học (phiên bản "
                                    "%(version)s).") % {"value": text[:40],
                                                        "version": subjects.version})
        if entry.code not in codes:
            codes.append(entry.code)
    return codes


STAFF_CLEANERS: dict[str, Callable[[object], Any]] = {
    "full_name": _name,
    "education_id": _education_id,
    "date_of_birth": _birth_date,
    "sex": _sex,
    "personal_id_number": _personal_id,
    "phone": _phone,
    "email": _email,
    "subject_codes": _subjects,
}
EDITABLE_STAFF_FIELDS = frozenset(STAFF_CLEANERS) | frozenset(STAFF_CODED)
_MATCHED_FIELDS = frozenset({"full_name", "date_of_birth", "personal_id_number"})
_UNIQUE_MESSAGES = {
    "personal_id_number": "Số định danh cá nhân này đã có ở một cán bộ khác.",
    "education_id": "Mã định danh Bộ GD&ĐT này đã có ở một cán bộ khác.",
}


def clean_staff_values(data: Mapping[str, object], current: Staff | None = None) -> Cleaned:
    return clean_person_values(Staff, data, cleaners=STAFF_CLEANERS, coded=STAFF_CODED,
                               current=current)


@dataclasses.dataclass(frozen=True)
class NewStaff:
    school: School
    data: Mapping[str, object]
    not_duplicate_reason: str = ""


@dataclasses.dataclass(frozen=True)
class StaffChange:
    staff: Staff
    data: Mapping[str, object]
    identity_change_reason: str = ""
    not_duplicate_reason: str = ""


@dataclasses.dataclass(frozen=True)
class StaffWriteResult:
    staff: Staff
    changed: tuple[str, ...]
    warnings: tuple[FieldWarning, ...]


def _set_name_keys(staff: Staff) -> None:
    staff.name_sort_key = vietnamese_sort_key(staff.full_name)
    staff.name_match_key = name_match_key(staff.full_name)


def _authorise_schools(actor: Actor | None, perm: Perm, schools: Iterable[School]) -> None:
    if actor is None:
        return
    checked: set[int] = set()
    for school in schools:
        if school.pk not in checked:
            require(actor, perm, school)
            checked.add(school.pk)


def _authorise_staff(actor: Actor | None, perm: Perm, ids: Iterable[int]) -> None:
    """403 without ``perm``; 404 when any record is out of the actor's scope."""
    if actor is None:
        return
    require(actor, perm)
    for chunk in _chunks(sorted(set(ids))):
        found = set(scope(Staff.objects.filter(pk__in=chunk), actor, perm)
                    .values_list("pk", flat=True))
        if len(found) != len(chunk):
            raise Http404


def _rejected(index: int, cleaned: Cleaned) -> ItemRejected:
    return ItemRejected(index, ValidationError(
        {name: list(messages) for name, messages in cleaned.errors.items()}))


def _unique_errors(values: Sequence[Mapping[str, Any]], own_ids: Sequence[int | None]
                   ) -> dict[int, dict[str, list[str]]]:
    """Education ids and ID numbers another staff record holds, or an earlier item claims."""
    errors: dict[int, dict[str, list[str]]] = defaultdict(dict)
    for name, message in _UNIQUE_MESSAGES.items():
        claims: dict[str, list[int]] = defaultdict(list)
        for index, item in enumerate(values):
            if item.get(name):
                claims[str(item[name])].append(index)
        holders: dict[str, int] = {}
        for chunk in _chunks(sorted(claims)):
            holders.update(Staff.objects.filter(**{f"{name}__in": chunk})
                           .values_list(name, "pk"))
        for value, indexes in claims.items():
            holder = holders.get(value)
            for position, index in enumerate(indexes):
                if position or (holder is not None and holder != own_ids[index]):
                    errors[index][name] = [_(message)]
    return errors


def _settled(actor: Actor | None, index: int, values: Mapping[str, Any],
             exclude_id: int | None, reason: str) -> tuple[list[int], str]:
    """The look-alikes the record is declared "not the same person" as, with the reason."""
    found = staff_candidates(values, exclude_id=exclude_id)
    if not found:
        return [], ""
    if not reason or actor is None:
        raise ItemRejected(index, DuplicateSuspected(found))
    try:
        cleaned = not_same_reason(reason)
    except ValidationError as error:
        raise ItemRejected(index, error) from None
    return [c.record_id for c in found], cleaned


def _refresh_and_block(ids: Sequence[int], changed: Sequence[Iterable[str]]) -> None:
    """Recompute the records' quality state; refuse the first whose written value breaks a
    rule of severity "error" (what a form would refuse)."""
    for chunk in _chunks(sorted(set(ids))):
        records_refresh("staff", chunk)
    fields = {pk: set(names) for pk, names in zip(ids, changed, strict=True)}
    rule_set = current_rule_set()
    errors: dict[int, dict[str, list[str]]] = defaultdict(dict)
    for chunk in _chunks(sorted(fields)):
        found = Finding.objects.filter(owner_entity="staff", owner_id__in=chunk,
                                       entity="staff",
                                       severity=QualitySeverity.ERROR.value
                                       ).order_by("pk").values_list("owner_id", "rule_code")
        for owner_id, code in found:
            rule = rule_set.get(code)
            touched = [name for name in rule.fields if name in fields[owner_id]]
            if touched:
                errors[owner_id].setdefault(touched[0], []).append(rule.message)
    if errors:
        position = {pk: index for index, pk in enumerate(ids)}
        _reject_first({position[pk]: found for pk, found in errors.items()})


def staff_create_many(*, actor: Actor | None, items: Sequence[NewStaff],
                      perm: Perm = Perm.STAFF_EDIT,
                      audit_data: Mapping[str, object] | None = None
                      ) -> list[StaffWriteResult]:
    """Create staff records of their schools in one transaction. ``actor`` None is the system
    (a command run on the server); ``perm`` is what the caller's operation requires;
    ``audit_data`` is added to every event. Raises ``ItemRejected`` naming the first item
    refused; nothing is written then."""
    if not items:
        return []
    _authorise_schools(actor, perm, (item.school for item in items))
    cleaned: list[Cleaned] = []
    for index, item in enumerate(items):
        values = clean_staff_values(item.data)
        if "full_name" not in values.values and "full_name" not in values.errors:
            values.error("full_name", _("Không được để trống họ và tên."))
        if values.errors:
            raise _rejected(index, values)
        cleaned.append(values)
    with transaction.atomic():
        _reject_first(_unique_errors([c.values for c in cleaned], [None] * len(items)))
        settled = [_settled(actor, index, values.values, None, item.not_duplicate_reason)
                   for index, (item, values) in enumerate(zip(items, cleaned, strict=True))]
        people = []
        for item, values in zip(items, cleaned, strict=True):
            person = Staff(school_id=item.school.pk, code_versions=values.code_versions,
                           **values.values)
            _set_name_keys(person)
            people.append(person)
        try:
            Staff.objects.bulk_create(people)
        except IntegrityError as exc:  # a concurrent writer took the same unique value
            raise ItemRejected(0, ValidationError(_(
                "Hồ sơ vừa bị thay đổi đồng thời; hãy tải lại và thử lại."))) from exc
        audit_record_many(actor=actor, action="staff.create", entity="staff", items=[
            AuditItem(entity_id=person.pk, school_id=person.school_id,
                      data={"fields": sorted(values.values),
                            "warnings": [w.code for w in values.warnings],
                            **(audit_data or {})})
            for person, values in zip(people, cleaned, strict=True)])
        for person, (others, reason) in zip(people, settled, strict=True):
            if others and actor is not None:
                not_same_record(actor=actor, entity="staff", record_id=person.pk,
                                others=others, reason=reason, school_id=person.school_id)
        _refresh_and_block([p.pk for p in people], [c.values for c in cleaned])
    return [StaffWriteResult(staff=person, changed=tuple(values.values),
                             warnings=tuple(values.warnings))
            for person, values in zip(people, cleaned, strict=True)]


def staff_update_many(*, actor: Actor | None, items: Sequence[StaffChange],
                      perm: Perm = Perm.STAFF_EDIT,
                      audit_data: Mapping[str, object] | None = None
                      ) -> list[StaffWriteResult]:
    """Change some fields of staff records in one transaction; values equal to the stored
    ones are no change (an item without changes writes nothing, not even an audit event).
    Identity fields verified by the population register change only with a reason. See
    ``staff_create_many`` for the arguments."""
    if not items:
        return []
    _authorise_staff(actor, perm, (item.staff.pk for item in items))
    cleaned: list[Cleaned] = []
    for index, item in enumerate(items):
        values = clean_staff_values(item.data, current=item.staff)
        person = item.staff
        if person.education_id and "education_id" in values.values \
                and values.values["education_id"] != person.education_id:
            values.error("education_id", _("Mã định danh Bộ GD&ĐT đã chính thức thì không được "
                                           "sửa hay xoá; nếu sai, hãy báo cho Sở để xử lý."))
        if values.errors:
            raise _rejected(index, values)
        cleaned.append(values)
    changes = [{name: (getattr(item.staff, name), value)
                for name, value in values.values.items()
                if getattr(item.staff, name) != value}
               for item, values in zip(items, cleaned, strict=True)]
    results = [StaffWriteResult(staff=item.staff, changed=(), warnings=tuple(values.warnings))
               for item, values in zip(items, cleaned, strict=True)]
    moving = [index for index in range(len(items)) if changes[index]]
    if not moving:
        return results
    with transaction.atomic():
        locked: dict[int, Staff] = {}
        for chunk in _chunks([items[i].staff.pk for i in moving]):
            locked.update(Staff.objects.select_for_update().in_bulk(list(chunk)))
        reasons: dict[int, str] = {}
        for index in moving:
            if set(changes[index]) & set(IDENTITY_FIELDS["staff"]):
                try:
                    reasons[index] = _identity_reason(
                        "staff", items[index].staff.pk, changes[index],
                        items[index].identity_change_reason)
                except ValidationError as error:
                    raise ItemRejected(index, error) from None
        unique = _unique_errors([cleaned[i].values for i in moving],
                                [items[i].staff.pk for i in moving])
        _reject_first({moving[position]: found for position, found in unique.items()})
        settled: dict[int, tuple[list[int], str]] = {}
        for index in moving:
            if not set(changes[index]) & _MATCHED_FIELDS:
                continue
            person = locked[items[index].staff.pk]
            merged = {name: getattr(person, name) for name in _MATCHED_FIELDS}
            merged.update({name: new for name, (_old, new) in changes[index].items()
                           if name in merged})
            settled[index] = _settled(actor, index, merged, person.pk,
                                      items[index].not_duplicate_reason)
        updated: list[Staff] = []
        for index in moving:
            person = locked[items[index].staff.pk]
            for name, (_old, new) in changes[index].items():
                setattr(person, name, new)
            update_fields = [*changes[index], "updated_at"]
            if "full_name" in changes[index]:
                _set_name_keys(person)
                update_fields += ["name_sort_key", "name_match_key"]
            if cleaned[index].code_versions:
                person.code_versions = {**person.code_versions, **cleaned[index].code_versions}
                update_fields.append("code_versions")
            try:
                person.save(update_fields=update_fields)
            except IntegrityError as exc:
                raise ItemRejected(index, ValidationError(_(
                    "Hồ sơ vừa bị thay đổi đồng thời; hãy tải lại và thử lại."))) from exc
            updated.append(person)
        masked = _masked_fields("staff")
        audit_record_many(actor=actor, action="staff.update", entity="staff", items=[
            AuditItem(entity_id=person.pk, school_id=person.school_id,
                      data={"changes": changes_for_audit(changes[index], masked=masked),
                            "warnings": [w.code for w in cleaned[index].warnings],
                            **({"identity_change_reason": reasons[index]}
                               if reasons.get(index) else {}),
                            **(audit_data or {})})
            for index, person in zip(moving, updated, strict=True)])
        for index, person in zip(moving, updated, strict=True):
            others, reason = settled.get(index, ([], ""))
            if others and actor is not None:
                not_same_record(actor=actor, entity="staff", record_id=person.pk,
                                others=others, reason=reason, school_id=person.school_id)
            field_groups_touched(entity="staff", record_id=person.pk,
                                 school_id=person.school_id, changed=changes[index],
                                 actor_id=_actor_id(actor))
        try:
            _refresh_and_block([p.pk for p in updated], [changes[i] for i in moving])
        except ItemRejected as rejected:
            raise ItemRejected(moving[rejected.index], rejected.error) from None
    for index, person in zip(moving, updated, strict=True):
        results[index] = StaffWriteResult(staff=person, changed=tuple(changes[index]),
                                          warnings=tuple(cleaned[index].warnings))
    return results
