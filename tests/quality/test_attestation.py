"""Attesting field groups, confirming a class, signing off a round, daily snapshots and the
schedule process: each through its service, with the policy, the audit trail and the quality
state it moves."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.http import Http404
from django.utils import timezone

from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.quality.models import (
    AuthoritySnapshot,
    CheckKind,
    DailySnapshot,
    FieldGroupCheck,
    QualityTotal,
    RecordState,
    SignOff,
)
from edureg.quality.services import current_rule_set
from edureg.registry.attestation import (
    class_confirm,
    field_group_attest,
    school_scores,
    school_sign_off,
    snapshots_take,
)
from edureg.registry.models import Student
from edureg.registry.quality import records_refresh
from edureg.registry.services import student_update
from tests import factories as f
from tests.conftest import Cast


def _bits(student: Student) -> int:
    return RecordState.objects.get(entity="student", record_id=student.pk).status_bits


def _bit(code: str) -> int:
    codes = [rule.code for rule in current_rule_set().status_rules("student")]
    return 1 << codes.index(code)


IDENTITY = "dung.student.attested.identity"


def test_attesting_a_group_clears_its_step_until_a_field_of_it_changes(cast: Cast) -> None:
    records_refresh("student", [cast.an.pk])
    assert _bits(cast.an) & _bit(IDENTITY)
    field_group_attest(actor=cast.bob, student=cast.an, group="identity",
                       document_type="giay_khai_sinh", document_number="123/2019",
                       document_date=dt.date(2019, 3, 1))
    assert not _bits(cast.an) & _bit(IDENTITY)
    event = AuditEvent.objects.filter(action=actions.FIELD_GROUP_ATTESTED).last()
    assert event is not None
    assert (event.entity_id, event.data["group"]) == (str(cast.an.pk), "identity")

    student_update(actor=cast.bob, student=Student.objects.get(pk=cast.an.pk),
                   data={"full_name": "Nguyễn Văn Ân"})
    assert _bits(cast.an) & _bit(IDENTITY)
    check = FieldGroupCheck.objects.get(entity="student", record_id=cast.an.pk,
                                        kind=CheckKind.ATTEST)
    assert check.ended_at is not None


def test_a_new_attestation_replaces_the_earlier_one(cast: Cast) -> None:
    for number in ("1", "2"):
        field_group_attest(actor=cast.bob, student=cast.an, group="residence",
                           document_type="xac_nhan_cu_tru", document_number=number,
                           document_date=None)
    current = FieldGroupCheck.objects.filter(entity="student", record_id=cast.an.pk,
                                             group="residence", ended_at__isnull=True)
    assert [c.document_number for c in current] == ["2"]


@pytest.mark.parametrize(("values", "field"), [
    ({"group": "nope"}, "group"),
    ({"document_type": "cccd"}, "document_type"),  # a staff document, not a pupil's
    ({"document_number": "x" * 61}, "document_number"),
    ({"document_number": "12\n34"}, "document_number"),
    ({"document_date": dt.date(2999, 1, 1)}, "document_date"),
])
def test_bad_attestation_input_names_the_field_and_writes_nothing(
        cast: Cast, values: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"group": "identity", "document_type": "giay_khai_sinh",
                                    "document_number": "1", "document_date": None, **values}
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as raised:
        field_group_attest(actor=cast.bob, student=cast.an, **arguments)  # type: ignore[arg-type]
    assert field in raised.value.message_dict
    assert not FieldGroupCheck.objects.filter(kind=CheckKind.ATTEST).exists()
    assert AuditEvent.objects.count() == before


def test_attesting_needs_the_permission_and_the_pupil_in_scope(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):  # a subject teacher may not attest
        field_group_attest(actor=cast.carol, student=cast.an, group="identity",
                           document_type="giay_khai_sinh", document_number="1",
                           document_date=None)
    with pytest.raises(Http404):  # another class's pupil
        field_group_attest(actor=cast.bob, student=cast.binh, group="identity",
                           document_type="giay_khai_sinh", document_number="1",
                           document_date=None)
    assert not FieldGroupCheck.objects.exists()


def test_confirming_the_class_makes_its_pupils_live_again(cast: Cast) -> None:
    later = timezone.localdate() + dt.timedelta(days=400)
    records_refresh("student", [cast.an.pk], on=later)
    assert _bits(cast.an) & _bit("song.student.yearly")
    assert class_confirm(actor=cast.bob, school_class=cast.class_1a) == 1
    records_refresh("student", [cast.an.pk], on=timezone.localdate() + dt.timedelta(days=300))
    assert not _bits(cast.an) & _bit("song.student.yearly")
    event = AuditEvent.objects.filter(action=actions.CLASS_CONFIRMED).last()
    assert event is not None
    assert event.data["student_ids"] == [str(cast.an.pk)]
    with pytest.raises(Http404):
        class_confirm(actor=cast.bob, school_class=cast.class_1b)


def test_sign_off_freezes_the_scores_once_per_round(cast: Cast) -> None:
    records_refresh("student", [cast.an.pk, cast.binh.pk])
    sign_off = school_sign_off(actor=cast.alice, school=cast.school_a,
                               round_label="Đầu năm học 2026–2027")
    assert sign_off.scores == school_scores(cast.school_a.pk)
    assert sign_off.scores["records"] == 2
    with pytest.raises(ValidationError) as raised:
        school_sign_off(actor=cast.alice, school=cast.school_a,
                        round_label="Đầu năm học 2026–2027")
    assert "round_label" in raised.value.message_dict
    with pytest.raises(ValidationError):
        school_sign_off(actor=cast.alice, school=cast.school_a, round_label="  ")
    with pytest.raises(PermissionDenied):
        school_sign_off(actor=cast.bob, school=cast.school_a, round_label="Giữa kỳ")
    with pytest.raises(Http404):
        school_sign_off(actor=cast.alice, school=cast.school_b, round_label="Giữa kỳ")
    assert SignOff.objects.count() == 1


def test_a_snapshot_copies_the_school_totals_and_replaces_the_days_earlier_one(
        cast: Cast) -> None:
    records_refresh("student", [cast.an.pk, cast.binh.pk, cast.other_school_student.pk])
    day = dt.date(2026, 11, 29)
    assert snapshots_take(day=day) == 2
    assert snapshots_take(day=day) == 2
    snapshot = DailySnapshot.objects.get(school_id=cast.school_a.pk, day=day)
    total = QualityTotal.objects.get(school_id=cast.school_a.pk, class_id=None,
                                     entity="student")
    assert (snapshot.records, snapshot.complete_ok) == (total.records, total.complete_ok)
    assert DailySnapshot.objects.filter(day=day).count() == 2


def test_the_authority_row_sums_the_snapshots_of_its_active_schools(cast: Cast) -> None:
    closed = f.make_school(cast.school_a.authority, code="C0001")
    other = f.make_school(f.make_authority("SGD01"), code="D0001")
    for school in (closed, other):
        f.make_student(f.make_class(school, "2A"), "Lê Văn Tư")
    closed.is_active = False
    closed.save()
    records_refresh("student", Student.objects.values_list("pk", flat=True))
    day = dt.date(2026, 11, 29)

    snapshots_take(day=day)
    snapshots_take(day=day)

    counted = DailySnapshot.objects.filter(
        day=day, entity="student", school_id__in=[cast.school_a.pk, cast.school_b.pk])
    row = AuthoritySnapshot.objects.get(authority_id=cast.school_a.authority_id,
                                        entity="student", day=day)
    assert row.schools == counted.count() == 2
    for name in ("records", "required_filled", "errors", "complete_ok", "live_ok"):
        assert getattr(row, name) == sum(getattr(s, name) for s in counted)
    assert AuthoritySnapshot.objects.filter(day=day, entity="student").count() == 2


def test_schedule_once_runs_the_daily_jobs(cast: Cast) -> None:
    records_refresh("student", [cast.an.pk])
    call_command("schedule", "--once", stdout=StringIO())
    assert DailySnapshot.objects.filter(day=timezone.localdate()).exists()
    assert AuditEvent.objects.filter(action=actions.QUALITY_SNAPSHOT).exists()
