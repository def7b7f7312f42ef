"""Writes to people records. Each takes the acting user, checks the policy, validates, writes,
and records its audit event in one transaction (ARCHITECTURE.md §2)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, require, scope
from edureg.access.roles import Perm
from edureg.access.visibility import Visibility, visibility
from edureg.audit.services import AuditItem, audit_record, audit_record_many, changes_for_audit
from edureg.core.catalogue import active_catalogue
from edureg.core.codelists import get_list
from edureg.core.text import TextValueError, clean_text, name_match_key, vietnamese_sort_key
from edureg.quality.models import CheckKind, FieldGroupCheck, Finding
from edureg.quality.rules.catalogue import Severity as QualitySeverity
from edureg.quality.services import current_rule_set
from edureg.registry.bulk import insert_rows as _insert_rows
from edureg.registry.duplicates import (
    Candidate,
    DuplicateSuspected,
    not_same_reason,
    not_same_record,
    student_candidates,
    swapped,
)
from edureg.registry.models import (
    IDENTITY_FIELDS,
    Enrolment,
    EnrolmentStatusChange,
    Guardian,
    PersonNameFields,
    SchoolClass,
    Student,
    StudentGuardian,
)
from edureg.registry.quality import (
    IDENTITY_GROUP,
    field_groups_touched,
    records_refresh,
    rescan,
)
from edureg.registry.validation import (
    GUARDIAN_CLEANERS,
    STUDENT_CLEANERS,
    STUDENT_CODED,
    STUDENT_PARENTS,
    Cleaned,
    FieldWarning,
    clean_person_values,
)
from edureg.schools.models import SchoolYearStatus

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


def _set_name_keys(person: PersonNameFields) -> None:
    person.name_sort_key = vietnamese_sort_key(person.full_name)
    person.name_match_key = name_match_key(person.full_name)


def _actor_id(actor: Actor | None) -> int | None:
    return int(actor.pk) if actor is not None and actor.is_authenticated else None


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


def student_update(*, actor: Actor, student: Student, data: Mapping[str, object],
                   identity_change_reason: str = "",
                   not_duplicate_reason: str = "",
                   shown: Visibility | None = None) -> WriteResult:
    """Change some fields of a student; returns what changed and the non-blocking warnings.
    Identity fields verified by the population register change only with a reason; the change
    ends the verification (the identity app sends the person again, reading the audit log).
    Fields hidden or masked from the actor cannot be changed: ``shown`` is what the caller
    showed them (default: their job position's visibility)."""
    try:
        (result,) = students_update_many(actor=actor, items=[StudentChange(
            student=student, data=data, identity_change_reason=identity_change_reason,
            not_duplicate_reason=not_duplicate_reason, shown=shown)])
    except ItemRejected as rejected:
        raise rejected.error from None
    return result


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
    try:
        (result,) = students_create_many(actor=actor, items=[NewStudent(
            school_class=school_class, data=data, started_on=started_on,
            not_duplicate_reason=not_duplicate_reason)])
    except ItemRejected as rejected:
        raise rejected.error from None
    return result


OFFICIAL_ID_ACTION = "student.official_id"
# The audit actions that change what a pupil's record says or where it is: the outbox that the
# upward sync and the agencies' change feeds read.
STUDENT_CHANGE_ACTIONS: frozenset[str] = frozenset({
    "student.create", "student.update", "student.transferred", "student.merged",
    "student.unmerged", OFFICIAL_ID_ACTION,
    "student.promoted", "student.promotion_undone",  # edureg.registry.enrolments
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


# --- Many records at once ----------------------------------------------------------------------
#
# The same steps as the single-record writes above, for many pupils in one transaction (the
# intake of export workbooks): one policy check per class (or one scoped query for the
# pupils), values cleaned per record through the same cleaners, unique values and duplicate
# candidates looked up in batch, one audit event per pupil, the quality state recomputed once
# for the whole batch. ``student_create`` and ``student_update`` are these with one item.

_CHUNK = 500
# From this many pupils written in one batch, and a quarter of their schools' pupils, the
# quality state is recomputed by the schools' batch rescan (Polars) instead of record by record.
RESCAN_FROM = 500


class ItemRejected(Exception):
    """One item (``index``) of a batch write was refused with ``error``, what the single-record
    service raises for it; nothing of the batch is written (the transaction rolls back)."""

    def __init__(self, index: int, error: ValidationError) -> None:
        super().__init__(f"item {index}")
        self.index = index
        self.error = error


@dataclasses.dataclass(frozen=True)
class GuardianWrite:
    """A parent or guardian of a pupil, by relation (``guardian_relation`` code), with the
    values to store: an existing guardian (``guardian_id``: linked if need be, changed fields
    updated) or a new one. New guardians with the same ``new_key`` in one batch are one person
    (siblings' parent)."""

    relation_code: str
    data: Mapping[str, object]
    guardian_id: int | None = None
    new_key: str | None = None


@dataclasses.dataclass(frozen=True)
class NewStudent:
    school_class: SchoolClass
    data: Mapping[str, object]
    started_on: dt.date | None = None
    status_code: str | None = None  # the enrolment status; default: the first active one
    not_duplicate_reason: str = ""
    guardians: tuple[GuardianWrite, ...] = ()


@dataclasses.dataclass(frozen=True)
class StudentChange:
    student: Student
    data: Mapping[str, object]
    identity_change_reason: str = ""
    not_duplicate_reason: str = ""
    shown: Visibility | None = None
    guardians: tuple[GuardianWrite, ...] = ()


@dataclasses.dataclass(frozen=True)
class Placement:
    """A pupil of the school placed in another class (of the school, in an open year) and/or
    given another enrolment status, from ``effective_on``."""

    student: Student
    school_class: SchoolClass | None = None
    status_code: str | None = None
    effective_on: dt.date | None = None


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class _Cleaner:
    """``clean_person_values`` of pupils' values for many records: each coded value (a code
    list look-up) and each commune–province pair cleaned once per distinct value, by the same
    function; everything else per record. The result is the single call's."""

    def __init__(self) -> None:
        self._coded: dict[tuple[str, object], Cleaned] = {}
        self._pairs: dict[tuple[object, ...], list[str]] = {}

    def clean(self, data: Mapping[str, object], current: Student | None = None) -> Cleaned:
        result = clean_person_values(
            Student, {k: v for k, v in data.items() if k not in STUDENT_CODED},
            cleaners=STUDENT_CLEANERS, coded={}, current=current)
        for name, value in data.items():
            if name in STUDENT_CODED:
                part = self._coded_part(name, value)
                result.values.update(part.values)
                result.code_versions.update(part.code_versions)
                for messages in part.errors.values():
                    for message in messages:
                        result.error(name, message)
        for child, parent in STUDENT_PARENTS:
            if child in result.errors or parent in result.errors \
                    or (child not in data and parent not in data):
                continue
            for message in self._pair(child, parent, result.values, current):
                result.error(child, message)
        # Fields in the order given, as the single call leaves them.
        result.values = {name: result.values[name] for name in data if name in result.values}
        result.errors = {name: result.errors[name] for name in data if name in result.errors}
        return result

    def _coded_part(self, name: str, value: object) -> Cleaned:
        key = (name, value)
        if key not in self._coded:
            self._coded[key] = clean_person_values(
                Student, {name: value}, cleaners={}, coded={name: STUDENT_CODED[name]})
        return self._coded[key]

    def _pair(self, child: str, parent: str, values: Mapping[str, object],
              current: Student | None) -> list[str]:
        """The commune-in-province check of the single call, for one pair of final values."""
        given = {name: values[name] for name in (child, parent) if name in values}
        held = {name: getattr(current, name, None) for name in (child, parent)
                if name not in given}
        key = (child, parent, tuple(sorted(given.items())), tuple(sorted(held.items())))
        if key not in self._pairs:
            checked = clean_person_values(
                Student, given, cleaners={},
                coded={child: STUDENT_CODED[child], parent: STUDENT_CODED[parent]},
                parents=((child, parent),), current=_Held(held))  # type: ignore[arg-type]
            self._pairs[key] = list(checked.errors.get(child, []))
        return self._pairs[key]


class _Held:
    """Stored values standing in for a record (``clean_person_values``'s ``current``)."""

    def __init__(self, values: Mapping[str, object]) -> None:
        self.__dict__.update(values)


def _insert(objects: Sequence[models.Model]) -> None:
    """``bulk_create`` of new model instances (``_insert_rows``): their ids are set."""
    if not objects:
        return
    ids = _insert_rows(type(objects[0]), [obj.__dict__ for obj in objects])
    for obj, pk in zip(objects, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


def _authorise_classes(actor: Actor | None, perm: Perm, classes: Iterable[SchoolClass]) -> None:
    """One policy check per class (``None``: the system, which the policy does not limit)."""
    if actor is None:
        return
    checked: set[int] = set()
    for school_class in classes:
        if school_class.pk not in checked:
            require(actor, perm, school_class)
            checked.add(school_class.pk)


def _authorise_students(actor: Actor | None, perm: Perm, ids: Iterable[int]) -> None:
    """``require`` for many pupils in one scoped query per chunk: 403 without the permission,
    404 when any is out of the actor's scope."""
    if actor is None:
        return
    require(actor, perm)
    wanted = sorted(set(ids))
    for chunk in _chunks(wanted):
        found = set(scope(Student.objects.filter(pk__in=chunk), actor, perm)
                    .values_list("pk", flat=True))
        if len(found) != len(chunk):
            raise Http404


def student_candidates_many(rows: Sequence[Mapping[str, Any]], *,
                            exclude_ids: Sequence[int | None] | None = None
                            ) -> list[list[Candidate]]:
    """``student_candidates`` for many pupils: the same lookups, in a few queries. Rows of a
    record being edited (an ``exclude_ids`` entry) take the single lookup, which also reads the
    parents and the decisions already taken."""
    excluded = list(exclude_ids) if exclude_ids is not None else [None] * len(rows)
    found: list[list[Candidate]] = [[] for _ in rows]
    batch: list[int] = []
    for index, (values, exclude_id) in enumerate(zip(rows, excluded, strict=True)):
        if exclude_id is not None:
            found[index] = student_candidates(values, exclude_id=exclude_id)
        else:
            batch.append(index)
    numbers = {index: str(rows[index].get("personal_id_number") or "") for index in batch}
    by_number: dict[str, list[dict[str, Any]]] = defaultdict(list)
    fields = ("pk", "full_name", "school_id", "current_class_id", "date_of_birth",
              "name_match_key", "personal_id_number")
    wanted_numbers = sorted({number for number in numbers.values() if number})
    for chunk in _chunks(wanted_numbers):
        for row in Student.objects.live().filter(personal_id_number__in=chunk).values(*fields):
            by_number[row["personal_id_number"]].append(row)
    births: dict[int, list[tuple[str, dt.date, str]]] = {}
    pairs: set[tuple[str, dt.date]] = set()
    for index in batch:
        key = name_match_key(str(rows[index].get("full_name") or ""))
        born = rows[index].get("date_of_birth")
        if not key or not isinstance(born, dt.date):
            continue
        wanted = [(key, born, _("Trùng họ tên (không kể dấu) và ngày sinh"))]
        other = swapped(born)
        if other is not None:
            wanted.append((key, other, _("Trùng họ tên, ngày sinh đảo ngày và tháng")))
        births[index] = wanted
        pairs.update((k, d) for k, d, _reason in wanted)
    by_birth: dict[tuple[str, dt.date], list[dict[str, Any]]] = defaultdict(list)
    for row in _by_name_and_birth(sorted(pairs)):
        by_birth[(row["name_match_key"], row["date_of_birth"])].append(row)
    for index in batch:
        lookups: list[tuple[list[dict[str, Any]], str]] = []
        if numbers[index]:
            lookups.append((by_number.get(numbers[index], []), _("Trùng số định danh cá nhân")))
        lookups += [(by_birth.get((key, born), []), reason)
                    for key, born, reason in births.get(index, [])]
        reasons: dict[int, list[str]] = {}
        seen: dict[int, dict[str, Any]] = {}
        for matches, reason in lookups:
            for row in sorted(matches, key=operator.itemgetter("pk"))[:_CANDIDATE_LIMIT]:
                seen[row["pk"]] = row
                reasons.setdefault(row["pk"], []).append(reason)
        found[index] = [Candidate(record_id=pk, full_name=row["full_name"],
                                  date_of_birth=row["date_of_birth"], school_id=row["school_id"],
                                  class_id=row["current_class_id"], reasons=tuple(reasons[pk]))
                        for pk, row in sorted(seen.items())]
    return found


_CANDIDATE_LIMIT = 10  # per lookup, as ``registry.duplicates`` reads them
_BY_NAME_AND_BIRTH = (
    "WITH wanted (name_key, born) AS ({values}) "
    "SELECT s.id, s.full_name, s.school_id, s.current_class_id, s.date_of_birth, "
    "s.name_match_key, s.personal_id_number FROM registry_student s "
    "JOIN wanted w ON s.name_match_key = w.name_key AND s.date_of_birth = w.born "
    "WHERE s.merged_into_id IS NULL"
)


def _by_name_and_birth(pairs: Sequence[tuple[str, dt.date]]) -> Iterator[dict[str, Any]]:
    """The live pupils with one of these (name key, date of birth): one indexed join per chunk
    (an OR of thousands of conditions costs the ORM more than the database)."""
    names = ("pk", "full_name", "school_id", "current_class_id", "date_of_birth",
             "name_match_key", "personal_id_number")
    date_field = Student._meta.get_field("date_of_birth")
    postgres = connection.vendor == "postgresql"
    for chunk in _chunks(pairs, 5000 if postgres else _CHUNK):
        params: list[Any]
        if postgres:  # two arrays: no placeholder per value for the driver to parse
            sql = _BY_NAME_AND_BIRTH.format(values="SELECT * FROM unnest(%s::text[], "
                                                   "%s::date[])")
            params = [[key for key, _born in chunk], [born for _key, born in chunk]]
        else:
            sql = _BY_NAME_AND_BIRTH.format(values="VALUES " + ", ".join(["(%s, %s)"]
                                                                        * len(chunk)))
            params = [value for key, born in chunk
                      for value in (key, date_field.get_db_prep_value(born, connection))]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for row in cursor.fetchall():
                record = dict(zip(names, row, strict=True))
                record["date_of_birth"] = date_field.to_python(record["date_of_birth"])
                yield record


def _unique_errors(values: Sequence[Mapping[str, Any]], own_ids: Sequence[int | None]
                   ) -> dict[int, dict[str, list[str]]]:
    """Unique values (education id, temporary code, ID number) another record holds, or that
    an earlier item of the batch claims: item index → field → messages."""
    errors: dict[int, dict[str, list[str]]] = defaultdict(dict)
    for name, message in _UNIQUE_MESSAGES.items():
        claims: dict[str, list[int]] = defaultdict(list)
        for index, item in enumerate(values):
            if item.get(name):
                claims[str(item[name])].append(index)
        holders: dict[str, int] = {}
        for chunk in _chunks(sorted(claims)):
            holders.update(Student.objects.filter(**{f"{name}__in": chunk})
                           .values_list(name, "pk"))
        for value, indexes in claims.items():
            holder = holders.get(value)
            for position, index in enumerate(indexes):
                if position or (holder is not None and holder != own_ids[index]):
                    errors[index][name] = [_(message)]
    return errors


def _reject_first(errors: Mapping[int, Mapping[str, list[str]]]) -> None:
    if errors:
        index = min(errors)
        raise ItemRejected(index, ValidationError(
            {name: list(messages) for name, messages in errors[index].items()}))


def _settled_many(actor: Actor | None, values: Sequence[Mapping[str, Any]],
                  exclude_ids: Sequence[int | None], reasons: Sequence[str],
                  check: Sequence[bool]) -> list[tuple[list[int], str]]:
    """The look-alike pupils each record (where ``check``) was declared "not the same person"
    as, with the cleaned reason; rejects the first item with look-alikes and no reason
    (``DuplicateSuspected``; the system, which cannot declare, never has one)."""
    wanted = [index for index, flag in enumerate(check) if flag]
    candidates = student_candidates_many([values[i] for i in wanted],
                                         exclude_ids=[exclude_ids[i] for i in wanted])
    settled: list[tuple[list[int], str]] = [([], "")] * len(values)
    for index, found in zip(wanted, candidates, strict=True):
        if not found:
            continue
        if not reasons[index] or actor is None:
            raise ItemRejected(index, DuplicateSuspected(found))
        try:
            reason = not_same_reason(reasons[index])
        except ValidationError as error:
            raise ItemRejected(index, error) from None
        settled[index] = ([c.record_id for c in found], reason)
    return settled


def _temporary_codes(school_id: int, count: int) -> Iterator[str]:
    """Temporary codes for ``count`` new pupils of one school: ``T`` + school id + running
    number, unique by construction within the transaction."""
    prefix = f"T{school_id:05d}"
    last = (Student.objects.filter(temporary_code__startswith=prefix)
            .order_by("-temporary_code").values_list("temporary_code", flat=True).first())
    number = int(last[len(prefix):]) if last else 0
    for offset in range(1, count + 1):
        yield f"{prefix}{number + offset:06d}"


def _quality_refresh(ids: Sequence[int], school_ids: Iterable[int]) -> None:
    """Recompute the stored quality state of the pupils written: record by record, or, for a
    large share of their schools' pupils, by the schools' batch rescan (the same rules)."""
    wanted = sorted(set(ids))
    schools = sorted(set(school_ids))
    if len(wanted) >= RESCAN_FROM and \
            len(wanted) * 4 >= Student.objects.filter(school_id__in=schools).count():
        rescan("student", schools)
        return
    for chunk in _chunks(wanted):
        records_refresh("student", chunk)


def _blocking_many(changed: Mapping[int, Iterable[str]]) -> dict[int, dict[str, list[str]]]:
    """``blocking_errors`` for many pupils, by pupil id."""
    rule_set = current_rule_set()
    fields = {pk: set(names) for pk, names in changed.items()}
    errors: dict[int, dict[str, list[str]]] = defaultdict(dict)
    for chunk in _chunks(sorted(fields)):
        # By range, the pupils of another writer in it skipped here: an IN of thousands of
        # ids costs the ORM more than the query (the ids of a batch are mostly contiguous).
        found = (Finding.objects.filter(owner_entity="student", owner_id__gte=chunk[0],
                                        owner_id__lte=chunk[-1], entity="student",
                                        severity=QualitySeverity.ERROR.value)
                 .order_by("pk").values_list("owner_id", "rule_code"))
        for owner_id, code in found:
            if owner_id not in fields:
                continue
            rule = rule_set.get(code)
            touched = [name for name in rule.fields if name in fields[owner_id]]
            if touched:
                errors[owner_id].setdefault(touched[0], []).append(rule.message)
    return errors


def _reject_blocking(ids: Sequence[int], changed: Sequence[Iterable[str]]) -> None:
    errors = _blocking_many(dict(zip(ids, changed, strict=True)))
    if errors:
        position = {pk: index for index, pk in enumerate(ids)}
        _reject_first({position[pk]: found for pk, found in errors.items()})


def _clean_guardians(index: int, guardians: Sequence[GuardianWrite]) -> list[Cleaned]:
    relations = get_list("guardian_relation")
    result = []
    for guardian in guardians:
        cleaned = clean_person_values(Guardian, guardian.data, cleaners=GUARDIAN_CLEANERS,
                                      coded={})
        if guardian.relation_code not in relations:
            cleaned.error("relation_code", _("Quan hệ với học sinh không có trong danh mục."))
        if guardian.guardian_id is None and "full_name" not in cleaned.values \
                and "full_name" not in cleaned.errors:
            cleaned.error("full_name", _("Không được để trống họ và tên."))
        if cleaned.errors:
            raise ItemRejected(index, ValidationError(
                {f"guardian_{name}": list(messages) for name, messages in cleaned.errors.items()}))
        result.append(cleaned)
    return result


def _guardians_write(actor: Actor | None, students: Sequence[Student],
                     writes: Sequence[Sequence[GuardianWrite]],
                     cleaned: Sequence[Sequence[Cleaned]], *, new_students: bool = False
                     ) -> dict[int, list[dict[str, Any]]]:
    """Create, update and link the pupils' guardians (in the caller's transaction); returns,
    per pupil id, what was done to each guardian, for the pupil's audit event.
    ``new_students``: the pupils were created in this transaction, so none has a link yet."""
    done: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not any(writes):
        return done
    masked = _masked_fields("guardian")
    existing_ids = {g.guardian_id for items in writes for g in items if g.guardian_id}
    existing = Guardian.objects.select_for_update().in_bulk(sorted(existing_ids))
    for index, (student, items) in enumerate(zip(students, writes, strict=True)):
        for item in items:
            held = existing.get(item.guardian_id) if item.guardian_id else None
            if item.guardian_id and (held is None or held.school_id != student.school_id):
                raise ItemRejected(index, ValidationError({"guardian": [_(
                    "Không tìm thấy cha mẹ/người giám hộ này ở trường của học sinh.")]}))
    # ID numbers are unique among guardians too.
    claims = [(index, position, values.values.get("personal_id_number"))
              for index, items in enumerate(cleaned) for position, values in enumerate(items)]
    numbers = sorted({str(number) for _i, _p, number in claims if number})
    holders: dict[str, int | str] = {}
    for chunk in _chunks(numbers):
        holders.update((str(number), pk) for number, pk in Guardian.objects.filter(
            personal_id_number__in=chunk).values_list("personal_id_number", "pk"))
    new_objects: dict[str, Guardian] = {}
    targets: list[list[tuple[Guardian, bool, dict[str, tuple[object, object]]]]] = []
    for index, (student, items, values) in enumerate(zip(students, writes, cleaned,
                                                         strict=True)):
        row: list[tuple[Guardian, bool, dict[str, tuple[object, object]]]] = []
        for position, (item, clean) in enumerate(zip(items, values, strict=True)):
            number = clean.values.get("personal_id_number")
            key = item.new_key or f"{index}:{position}"
            own: int | str = item.guardian_id or f"new:{key}"
            if number and holders.get(number, own) != own:
                raise ItemRejected(index, ValidationError({"guardian_personal_id_number": [_(
                    "Số định danh cá nhân này đã có ở một cha mẹ/người giám hộ khác.")]}))
            if item.guardian_id:
                guardian = existing[item.guardian_id]
                changes = {name: (getattr(guardian, name), value)
                           for name, value in clean.values.items()
                           if getattr(guardian, name) != value}
                row.append((guardian, False, changes))
            elif key in new_objects:
                row.append((new_objects[key], False, {}))
            else:
                guardian = Guardian(school_id=student.school_id, **clean.values)
                _set_name_keys(guardian)
                new_objects[key] = guardian
                if number:
                    holders[number] = own
                row.append((guardian, True, dict.fromkeys(clean.values, (None, None))))
        targets.append(row)
    created = list(new_objects.values())
    _insert(created)
    linked: set[tuple[int, int]] = set()
    for chunk in ([] if new_students else _chunks([s.pk for s in students])):
        linked.update(StudentGuardian.objects.filter(student_id__in=chunk)
                      .values_list("student_id", "guardian_id"))
    has_links = {student_id for student_id, _guardian in linked}
    links: list[dict[str, Any]] = []
    for student, items, row in zip(students, writes, targets, strict=True):
        for item, (guardian, is_new, changes) in zip(items, row, strict=True):
            if changes and not is_new:
                for name, (_old, new) in changes.items():
                    setattr(guardian, name, new)
                update_fields = [*changes, "updated_at"]
                if "full_name" in changes:
                    _set_name_keys(guardian)
                    update_fields += ["name_sort_key", "name_match_key"]
                guardian.save(update_fields=update_fields)
                field_groups_touched(entity="guardian", record_id=guardian.pk,
                                     school_id=guardian.school_id, changed=changes,
                                     actor_id=_actor_id(actor))
            is_linked = (student.pk, guardian.pk) in linked
            if not is_linked:
                links.append({"student_id": student.pk, "guardian_id": guardian.pk,
                              "relation_code": item.relation_code,
                              "is_primary_contact": student.pk not in has_links})
                has_links.add(student.pk)
                linked.add((student.pk, guardian.pk))
            if is_new or changes or not is_linked:
                done[student.pk].append({
                    "guardian_id": guardian.pk, "relation": item.relation_code,
                    "created": is_new, "linked": not is_linked,
                    "changes": {} if is_new else changes_for_audit(changes, masked=masked),
                    **({"fields": sorted(changes)} if is_new else {})})
    _insert_rows(StudentGuardian, links)
    return done


def students_create_many(*, actor: Actor | None, items: Sequence[NewStudent],
                         perm: Perm = Perm.STUDENT_EDIT,
                         audit_data: Mapping[str, object] | None = None) -> list[WriteResult]:
    """``student_create`` for many pupils in one transaction (each with its guardians).
    ``actor`` None is the system (a command run on the server); ``perm`` is what the caller's
    operation requires (the intake of workbooks has its own); ``audit_data`` is added to every
    event (e.g. the intake run). Raises ``ItemRejected`` naming the first item refused."""
    if not items:
        return []
    _authorise_classes(actor, perm, (item.school_class for item in items))
    cleaned: list[Cleaned] = []
    guardians: list[list[Cleaned]] = []
    cleaner = _Cleaner()
    for index, item in enumerate(items):
        values = cleaner.clean(item.data)
        if "full_name" not in values.values and "full_name" not in values.errors:
            values.error("full_name", _("Không được để trống họ và tên."))
        if values.errors:
            raise ItemRejected(index, ValidationError(
                {name: list(messages) for name, messages in values.errors.items()}))
        cleaned.append(values)
        guardians.append(_clean_guardians(index, item.guardians))
    today = timezone.localdate()
    active = _active_status_code()
    statuses = get_list("enrolment_status")
    for index, item in enumerate(items):
        if item.status_code is not None and item.status_code not in statuses:
            raise ItemRejected(index, ValidationError({"status_code": [
                _("Trạng thái không có trong danh mục.")]}))
    with transaction.atomic():
        _reject_first(_unique_errors([c.values for c in cleaned], [None] * len(items)))
        settled = _settled_many(actor, [c.values for c in cleaned], [None] * len(items),
                                [item.not_duplicate_reason for item in items],
                                [True] * len(items))
        students = []
        codes: dict[int, Iterator[str]] = {}
        for item, values in zip(items, cleaned, strict=True):
            school_class = item.school_class
            student = Student(school_id=school_class.school_id, current_class=school_class,
                              code_versions=values.code_versions, **values.values)
            _set_name_keys(student)
            if not student.education_id and not student.temporary_code:
                if school_class.school_id not in codes:
                    count = sum(1 for i, c in zip(items, cleaned, strict=True)
                                if i.school_class.school_id == school_class.school_id
                                and not c.values.get("education_id")
                                and not c.values.get("temporary_code"))
                    codes[school_class.school_id] = _temporary_codes(school_class.school_id,
                                                                     count)
                student.temporary_code = next(codes[school_class.school_id])
            students.append(student)
        _insert(students)
        enrolments = []
        for item, student in zip(items, students, strict=True):
            day = item.started_on or today
            school_class = item.school_class
            enrolments.append({
                "student_id": student.pk, "school_id": school_class.school_id,
                "school_year_id": school_class.school_year_id,
                "school_class_id": school_class.pk, "grade": school_class.grade,
                "status_code": item.status_code or active, "status_since": day,
                "is_current": True, "started_on": day})
        enrolment_ids = _insert_rows(Enrolment, enrolments)
        recorded_by = _actor_id(actor)
        _insert_rows(EnrolmentStatusChange, [
            {"enrolment_id": pk, "status_code": enrolment["status_code"],
             "effective_on": enrolment["started_on"], "note": "", "recorded_by_id": recorded_by}
            for pk, enrolment in zip(enrolment_ids, enrolments, strict=True)])
        written = _guardians_write(actor, students, [item.guardians for item in items],
                                   guardians, new_students=True)
        audit_record_many(actor=actor, action="student.create", entity="student", items=[
            AuditItem(entity_id=student.pk, school_id=student.school_id,
                      data={"class_id": item.school_class.pk,
                            "fields": sorted(values.values),
                            "warnings": [w.code for w in values.warnings],
                            **({"guardians": written[student.pk]} if student.pk in written
                               else {}),
                            **(audit_data or {})})
            for item, student, values in zip(items, students, cleaned, strict=True)])
        for student, (others, not_same) in zip(students, settled, strict=True):
            if others and actor is not None:
                not_same_record(actor=actor, entity="student", record_id=student.pk,
                                others=others, reason=not_same, school_id=student.school_id)
        ids = [student.pk for student in students]
        _quality_refresh(ids, (student.school_id for student in students))
        _reject_blocking(ids, [values.values for values in cleaned])
    return [WriteResult(student=student, changed=tuple(values.values),
                        warnings=tuple(values.warnings))
            for student, values in zip(students, cleaned, strict=True)]


def students_update_many(*, actor: Actor | None, items: Sequence[StudentChange],
                         perm: Perm = Perm.STUDENT_EDIT,
                         audit_data: Mapping[str, object] | None = None) -> list[WriteResult]:
    """``student_update`` for many pupils in one transaction (each with its guardians); see
    ``students_create_many`` for ``actor``, ``perm`` and ``audit_data``."""
    if not items:
        return []
    _authorise_students(actor, perm, (item.student.pk for item in items))
    seen_by_school: dict[int, Visibility] = {}
    cleaned: list[Cleaned] = []
    guardians: list[list[Cleaned]] = []
    cleaner = _Cleaner()
    for index, item in enumerate(items):
        student = item.student
        seen = item.shown
        if seen is None and actor is not None:
            if student.school_id not in seen_by_school:
                seen_by_school[student.school_id] = visibility(actor, "student",
                                                               school_id=student.school_id)
            seen = seen_by_school[student.school_id]
        withheld = sorted(set(item.data) & (seen.hidden | seen.masked)) if seen else []
        if withheld:
            raise ItemRejected(index, ValidationError({name: [_(
                "Bạn không được sửa trường này (ẩn với vị trí việc làm của bạn, hoặc cần xác "
                "nhận quy chế bảo vệ dữ liệu trước).")] for name in withheld}))
        values = cleaner.clean(item.data, current=student)
        if student.education_id and "education_id" in values.values \
                and values.values["education_id"] != student.education_id:
            values.error("education_id", _("Mã định danh Bộ GD&ĐT đã chính thức thì không được "
                                           "sửa hay xoá; nếu sai, hãy báo cho Sở để xử lý."))
        if values.errors:
            raise ItemRejected(index, ValidationError(
                {name: list(messages) for name, messages in values.errors.items()}))
        cleaned.append(values)
        guardians.append(_clean_guardians(index, item.guardians))
    changes = [{name: (getattr(item.student, name), value)
                for name, value in values.values.items()
                if getattr(item.student, name) != value}
               for item, values in zip(items, cleaned, strict=True)]
    moving = [index for index, item in enumerate(items) if changes[index] or item.guardians]
    results = [WriteResult(student=item.student, changed=(), warnings=tuple(values.warnings))
               for item, values in zip(items, cleaned, strict=True)]
    if not moving:
        return results
    with transaction.atomic():
        locked: dict[int, Student] = {}
        for chunk in _chunks([items[i].student.pk for i in moving]):
            locked.update(Student.objects.select_for_update().in_bulk(list(chunk)))
        reasons: dict[int, str] = {}
        locked_identity = _identity_locked_many(
            [items[i].student.pk for i in moving
             if set(changes[i]) & set(IDENTITY_FIELDS["student"])])
        for index in moving:
            student = locked[items[index].student.pk]
            if student.pk in locked_identity:
                try:
                    reasons[index] = _identity_reason("student", student.pk, changes[index],
                                                      items[index].identity_change_reason)
                except ValidationError as error:
                    raise ItemRejected(index, error) from None
        unique = _unique_errors([cleaned[i].values for i in moving],
                                [items[i].student.pk for i in moving])
        _reject_first({moving[position]: found for position, found in unique.items()})
        checked = [bool(set(changes[i]) & _MATCHED_FIELDS) for i in moving]
        merged_values = []
        for index in moving:
            student = locked[items[index].student.pk]
            merged = {name: getattr(student, name) for name in _MATCHED_FIELDS}
            merged.update({name: new for name, (_old, new) in changes[index].items()})
            merged_values.append(merged)
        try:
            settled_list = _settled_many(actor, merged_values,
                                         [items[i].student.pk for i in moving],
                                         [items[i].not_duplicate_reason for i in moving],
                                         checked)
        except ItemRejected as rejected:
            raise ItemRejected(moving[rejected.index], rejected.error) from None
        settled = dict(zip(moving, settled_list, strict=True))
        updated: list[Student] = []
        for index in moving:
            student = locked[items[index].student.pk]
            if not changes[index]:
                updated.append(student)
                continue
            for name, (_old, new) in changes[index].items():
                setattr(student, name, new)
            update_fields = [*changes[index], "updated_at"]
            if "full_name" in changes[index]:
                _set_name_keys(student)
                update_fields += ["name_sort_key", "name_match_key"]
            if cleaned[index].code_versions:
                student.code_versions = {**student.code_versions,
                                         **cleaned[index].code_versions}
                update_fields.append("code_versions")
            try:
                student.save(update_fields=update_fields)
            except IntegrityError as exc:  # a concurrent writer took the same unique value
                raise ItemRejected(index, ValidationError(_(
                    "Hồ sơ vừa bị thay đổi đồng thời; hãy tải lại và thử lại."))) from exc
            updated.append(student)
        written = _guardians_write(actor, updated, [items[i].guardians for i in moving],
                                   [guardians[i] for i in moving])
        masked = _masked_fields("student")
        audit_record_many(actor=actor, action="student.update", entity="student", items=[
            AuditItem(entity_id=student.pk, school_id=student.school_id,
                      data={"changes": changes_for_audit(changes[index], masked=masked),
                            "warnings": [w.code for w in cleaned[index].warnings],
                            **({"identity_change_reason": reasons[index]}
                               if reasons.get(index) else {}),
                            **({"guardians": written[student.pk]} if student.pk in written
                               else {}),
                            **(audit_data or {})})
            for index, student in zip(moving, updated, strict=True)])
        for index, student in zip(moving, updated, strict=True):
            others, not_same = settled[index]
            if others and actor is not None:
                not_same_record(actor=actor, entity="student", record_id=student.pk,
                                others=others, reason=not_same, school_id=student.school_id)
            if changes[index]:
                field_groups_touched(entity="student", record_id=student.pk,
                                     school_id=student.school_id, changed=changes[index],
                                     actor_id=_actor_id(actor))
        _quality_refresh([s.pk for s in updated], (s.school_id for s in updated))
        blocking = _blocking_many({student.pk: changes[index]
                                   for index, student in zip(moving, updated, strict=True)})
        if blocking:
            position = {student.pk: index for index, student in zip(moving, updated,
                                                                    strict=True)}
            _reject_first({position[pk]: found for pk, found in blocking.items()})
    for index, student in zip(moving, updated, strict=True):
        results[index] = WriteResult(student=student, changed=tuple(changes[index]),
                                     warnings=tuple(cleaned[index].warnings))
    return results


def _identity_locked_many(ids: Sequence[int]) -> set[int]:
    """``identity_locked`` for many pupils."""
    found: set[int] = set()
    for chunk in _chunks(sorted(set(ids))):
        found.update(FieldGroupCheck.objects.filter(
            entity="student", record_id__in=chunk, group=IDENTITY_GROUP,
            kind=CheckKind.REGISTER, ended_at__isnull=True).values_list("record_id", flat=True))
    return found


def students_place_many(*, actor: Actor | None, items: Sequence[Placement],
                        perm: Perm = Perm.STUDENT_EDIT,
                        audit_data: Mapping[str, object] | None = None) -> list[int]:
    """Place pupils in another class of their school and/or record another enrolment status,
    in one transaction; returns the ids of the pupils changed. A class of the same school year
    changes the current enrolment; one of another year (the next year's class) ends it and
    opens a new one. Moving school is a transfer (``registry.transfers``), never this."""
    if not items:
        return []
    _authorise_students(actor, perm, (item.student.pk for item in items))
    _authorise_classes(actor, perm, (item.school_class for item in items if item.school_class))
    statuses = get_list("enrolment_status")
    out_code = next((e.code for e in statuses.entries if e.extra.get("transfer") == "out"), None)
    today = timezone.localdate()
    for index, item in enumerate(items):
        errors: dict[str, list[str]] = {}
        if item.school_class is not None:
            year = item.school_class.school_year
            if item.school_class.school_id != item.student.school_id:
                errors["school_class"] = [_("Hãy chọn một lớp của trường đang học.")]
            elif year.status != SchoolYearStatus.OPEN:
                errors["school_class"] = [_("Năm học của lớp này đã khoá; hãy chọn lớp năm học "
                                            "hiện tại.")]
        if item.status_code is not None:
            if item.status_code not in statuses:
                errors["status_code"] = [_("Trạng thái không có trong danh mục.")]
            elif item.status_code == out_code:
                errors["status_code"] = [_("Học sinh chuyển đi được ghi bằng chức năng chuyển "
                                           "trường, không ghi trạng thái trực tiếp.")]
        if (item.effective_on or today) > today:
            errors["effective_on"] = [_("Ngày hiệu lực không được ở tương lai.")]
        if errors:
            raise ItemRejected(index, ValidationError(errors))
    changed: list[int] = []
    recorded_by = _actor_id(actor)
    with transaction.atomic():
        ids = [item.student.pk for item in items]
        students: dict[int, Student] = {}
        current: dict[int, Enrolment] = {}
        for chunk in _chunks(ids):
            students.update(Student.objects.select_for_update().in_bulk(list(chunk)))
            current.update({e.student_id: e for e in Enrolment.objects.select_for_update()
                            .filter(student_id__in=chunk, is_current=True)})
        classes = {item.school_class.pk: item.school_class for item in items
                   if item.school_class is not None}
        events: list[AuditItem] = []
        for item in items:
            student = students[item.student.pk]
            enrolment = current.get(student.pk)
            day = item.effective_on or today
            target = item.school_class
            if target is None and enrolment is None:
                continue  # a status needs an enrolment: a pupil without one is placed in a class
            audit: dict[str, tuple[object, object]] = {}
            status = item.status_code or (enrolment.status_code if enrolment else
                                          _active_status_code())
            if target is not None and (enrolment is None
                                       or enrolment.school_year_id != target.school_year_id):
                if enrolment is not None:
                    enrolment.is_current, enrolment.ended_on = False, day
                    enrolment.save(update_fields=["is_current", "ended_on"])
                enrolment = Enrolment.objects.create(
                    student=student, school_id=student.school_id,
                    school_year_id=target.school_year_id, school_class=target,
                    grade=target.grade, status_code=status, status_since=day, started_on=day)
                EnrolmentStatusChange.objects.create(enrolment=enrolment, status_code=status,
                                                     effective_on=day,
                                                     recorded_by_id=recorded_by)
                audit["current_class"] = (student.current_class_id, target.pk)
            elif enrolment is not None:
                fields: list[str] = []
                if target is not None and enrolment.school_class_id != target.pk:
                    audit["current_class"] = (enrolment.school_class_id, target.pk)
                    enrolment.school_class, enrolment.grade = target, target.grade
                    fields += ["school_class", "grade"]
                if status != enrolment.status_code:
                    audit["status_code"] = (enrolment.status_code, status)
                    enrolment.status_code, enrolment.status_since = status, day
                    fields += ["status_code", "status_since"]
                    EnrolmentStatusChange.objects.create(enrolment=enrolment,
                                                         status_code=status, effective_on=day,
                                                         recorded_by_id=recorded_by)
                if fields:
                    enrolment.save(update_fields=fields)
            if target is not None and student.current_class_id != target.pk:
                student.current_class = classes[target.pk]
                student.save(update_fields=["current_class", "updated_at"])
            if not audit:
                continue
            events.append(AuditItem(entity_id=student.pk, school_id=student.school_id,
                                    data={"changes": changes_for_audit(audit, masked=()),
                                          **(audit_data or {})}))
            changed.append(student.pk)
        audit_record_many(actor=actor, action="student.update", entity="student", items=events)
        _quality_refresh(changed, (students[pk].school_id for pk in changed))
    return changed
