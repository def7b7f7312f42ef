"""Confirming records: a field group checked against a legal dossier (đúng), a class confirmed
still current by its homeroom teacher (sống), the principal's sign-off of a reporting round,
and the daily snapshot of the school totals for trends. Each write takes the actor, checks the
policy, writes and audits in one transaction and recomputes the records' quality state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, require, scope
from edureg.access.roles import Perm
from edureg.audit import actions
from edureg.audit.services import audit_record
from edureg.core.text import TextValueError, clean_text
from edureg.dedupe.models import DuplicatePair, PairStatus
from edureg.quality.models import (
    COUNTER_FIELDS,
    DUPLICATE_FIELDS,
    AuthoritySnapshot,
    CheckKind,
    DailySnapshot,
    FieldGroupCheck,
    QualityTotal,
    SignOff,
)
from edureg.quality.services import current_rule_set
from edureg.registry.models import SchoolClass, Student
from edureg.registry.quality import records_refresh
from edureg.schools.models import School

_NUMBER_MAX = 60
_ROUND_MAX = 60
_NOTE_MAX = 500


def _actor_user_id(actor: Actor) -> int | None:
    return int(actor.pk) if actor.is_authenticated else None


def field_group_attest(*, actor: Actor, student: Student, group: str, document_type: str,
                       document_number: str, document_date: dt.date | None) -> FieldGroupCheck:
    """Record that ``group`` of the pupil's fields agrees with a legal document. Replaces an
    earlier attestation of the group; holds until a field of the group changes."""
    require(actor, Perm.QUALITY_ATTEST, student)
    rule_set = current_rule_set()
    groups = {g.code: g for g in rule_set.parameters.groups_for("student")}
    errors: dict[str, list[str]] = {}
    chosen = groups.get(group)
    if chosen is None:
        errors["group"] = [_("Nhóm thông tin không có trong danh mục đối chiếu; hãy chọn lại.")]
    elif document_type not in chosen.documents:
        errors["document_type"] = [_("Hãy chọn loại giấy tờ dùng để đối chiếu nhóm này.")]
    try:
        number = clean_text(document_number or "", max_length=_NUMBER_MAX)
    except TextValueError as error:
        errors["document_number"] = [error.message]
        number = ""
    if document_date is not None and document_date > timezone.localdate():
        errors["document_date"] = [_("Ngày cấp giấy tờ không được sau hôm nay.")]
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        FieldGroupCheck.objects.filter(
            entity="student", record_id=student.pk, group=group, kind=CheckKind.ATTEST,
            ended_at__isnull=True).update(ended_at=now)
        check = FieldGroupCheck.objects.create(
            entity="student", record_id=student.pk, school_id=student.school_id, group=group,
            kind=CheckKind.ATTEST, document_type=document_type, document_number=number,
            document_date=document_date, checked_by_id=_actor_user_id(actor), checked_at=now)
        audit_record(actor=actor, action=actions.FIELD_GROUP_ATTESTED, entity="student",
                     entity_id=student.pk, school_id=student.school_id,
                     data={"group": group, "document_type": document_type,
                           "document_date": document_date.isoformat() if document_date else ""})
        records_refresh("student", [student.pk])
    return check


def class_confirm(*, actor: Actor, school_class: SchoolClass) -> int:
    """The homeroom teacher (or the school's managers) confirm that the information of every
    current pupil of the class is still right: each expiring update group counts as confirmed
    today. Returns how many pupils were confirmed."""
    require(actor, Perm.QUALITY_ATTEST, school_class)
    groups = sorted(current_rule_set().update_groups)
    pupils = list(scope(Student.objects.filter(current_class=school_class), actor,
                        Perm.QUALITY_ATTEST).values_list("pk", flat=True))
    now = timezone.now()
    with transaction.atomic():
        FieldGroupCheck.objects.bulk_create([
            FieldGroupCheck(entity="student", record_id=pk, school_id=school_class.school_id,
                            group=group, kind=CheckKind.CONFIRM,
                            checked_by_id=_actor_user_id(actor), checked_at=now)
            for pk in pupils for group in groups])
        audit_record(actor=actor, action=actions.CLASS_CONFIRMED, entity="school_class",
                     entity_id=school_class.pk, school_id=school_class.school_id,
                     data={"groups": groups, "student_ids": [str(pk) for pk in pupils]})
        records_refresh("student", pupils)
    return len(pupils)


def school_scores(school_id: int) -> dict[str, float | int]:
    """The school's pupil counters and the four scores (percent of records OK; field
    completeness as percent of required fields filled)."""
    total = QualityTotal.objects.filter(school_id=school_id, class_id__isnull=True,
                                        entity="student").first()
    counters = {name: getattr(total, name) if total else 0 for name in COUNTER_FIELDS}
    records = counters["records"] or 0

    def share(part: int, whole: int) -> float:
        return round(100 * part / whole, 1) if whole else 0.0

    return {**counters,
            "correct": share(counters["correct_ok"], records),
            "complete": share(counters["complete_ok"], records),
            "clean": share(counters["clean_ok"], records),
            "live": share(counters["live_ok"], records),
            "fields_filled": share(counters["required_filled"], counters["required_total"])}


def school_sign_off(*, actor: Actor, school: School, round_label: str,
                    note: str = "") -> SignOff:
    """The principal signs off the school's data for a reporting round, freezing the scores."""
    require(actor, Perm.QUALITY_SIGN_OFF, school)
    errors: dict[str, list[str]] = {}
    try:
        label = clean_text(round_label or "", max_length=_ROUND_MAX)
    except TextValueError as error:
        errors["round_label"] = [error.message]
        label = ""
    if not label and "round_label" not in errors:
        errors["round_label"] = [_("Hãy ghi kỳ báo cáo (ví dụ: Đầu năm học 2026–2027).")]
    try:
        text = clean_text(note or "", max_length=_NOTE_MAX)
    except TextValueError as error:
        errors["note"] = [error.message]
        text = ""
    if errors:
        raise ValidationError(errors)
    signer = _actor_user_id(actor)
    assert signer is not None  # require() lets only a signed-in principal through
    scores = school_scores(school.pk)
    try:
        with transaction.atomic():
            sign_off = SignOff.objects.create(
                school_id=school.pk, round_label=label, note=text,
                signed_by_id=signer,
                signed_at=timezone.now(), scores=scores)
            audit_record(actor=actor, action=actions.QUALITY_SIGNED_OFF, entity="school",
                         entity_id=school.pk, school_id=school.pk,
                         data={"round": label, "scores": scores})
    except IntegrityError as exc:
        raise ValidationError({"round_label": [_(
            "Kỳ báo cáo này đã được ký xác nhận; hãy ghi tên kỳ khác.")]}) from exc
    return sign_off


_PAIR_FIELD = {PairStatus.OPEN: "duplicates_open", PairStatus.NOT_SAME: "duplicates_not_same",
               PairStatus.MERGED: "duplicates_merged"}


def _duplicate_counts(key: Callable[[int], int | None]) -> dict[int, dict[str, int]]:
    """Duplicate pairs by where they stand, per ``key(school id)`` (the school itself, or its
    authority): a pair between two schools counts at both, once at an authority holding both.
    Open pairs with a pupil merged away since are left out (they are moot)."""
    merged = Student.objects.filter(merged_into__isnull=False).values("pk")
    pairs = DuplicatePair.objects.filter(entity="student")
    moot = Q(status=PairStatus.OPEN) & (Q(left_id__in=merged) | Q(right_id__in=merged))
    counts: dict[int, dict[str, int]] = {}
    for row in (pairs.exclude(moot).values("left_school_id", "right_school_id", "status")
                .annotate(n=Count("pk"))):
        field = _PAIR_FIELD.get(row["status"])
        if field is None:
            continue
        for target in {key(row["left_school_id"]), key(row["right_school_id"])} - {None}:
            assert target is not None
            counts.setdefault(target, dict.fromkeys(DUPLICATE_FIELDS, 0))[field] += row["n"]
    return counts


def snapshots_take(*, day: dt.date | None = None) -> int:
    """Copy every school's totals into the day's snapshot, and their sums per authority
    (replacing those taken earlier that day), with the pupils' duplicate pairs by where they
    stand that day (the trend of review decisions). Returns the number of school rows
    written."""
    when = day or timezone.localdate()
    rows = list(QualityTotal.objects.filter(class_id__isnull=True).values(
        "school_id", "entity", *COUNTER_FIELDS))
    duplicates = _duplicate_counts(lambda school_id: school_id)
    for row in rows:
        if row["entity"] == "student":
            row.update(duplicates.get(row["school_id"], {}))
    with transaction.atomic():
        DailySnapshot.objects.filter(day=when).delete()
        DailySnapshot.objects.bulk_create([DailySnapshot(day=when, **row) for row in rows],
                                          batch_size=2000)
        authority_snapshots_take(when)
        audit_record(actor=None, action=actions.QUALITY_SNAPSHOT, entity="quality",
                     data={"day": when.isoformat(), "rows": len(rows)})
    return len(rows)


def authority_snapshots_take(day: dt.date) -> int:
    """Sum the day's school snapshots per authority over its active schools (replacing sums
    taken earlier that day). Returns the number of authority rows written."""
    authority_of = dict(School.objects.filter(is_active=True).values_list("pk", "authority_id"))
    sums: dict[tuple[int, str], dict[str, int]] = {}
    for row in DailySnapshot.objects.filter(day=day).values("school_id", "entity",
                                                             *COUNTER_FIELDS):
        authority_id = authority_of.get(row["school_id"])
        if authority_id is None:
            continue
        counters = sums.setdefault((authority_id, row["entity"]),
                                   dict.fromkeys(("schools", *COUNTER_FIELDS), 0))
        counters["schools"] += 1
        for name in COUNTER_FIELDS:
            counters[name] += row[name]
    # Not the schools' sum: a pair between two of its schools is one pair to the authority.
    duplicates = _duplicate_counts(authority_of.get)
    for (authority_id, entity), counters in sums.items():
        if entity == "student":
            counters.update(duplicates.get(authority_id, {}))
    with transaction.atomic():
        AuthoritySnapshot.objects.filter(day=day).delete()
        AuthoritySnapshot.objects.bulk_create([
            AuthoritySnapshot(authority_id=authority_id, entity=entity, day=day, **counters)
            for (authority_id, entity), counters in sums.items()])
    return len(sums)
