"""Merging two records of the same pupil and undoing it (``registry.merge``), and the review
queue's decisions (``registry.duplicate_review``): what moves, what the audit log says, what
an undo puts back, who may, and how "sạch" follows the open pairs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from edureg.access.models import User
from edureg.access.policy import scope
from edureg.access.roles import Perm, Role
from edureg.audit.models import AuditEvent
from edureg.dedupe.models import Decision, DuplicateDecision, DuplicatePair, PairStatus
from edureg.identity.models import IdentityState, IdentityStatus
from edureg.identity.services import changes_catch_up
from edureg.quality.models import (
    AuthoritySnapshot,
    CheckKind,
    DailySnapshot,
    FieldGroupCheck,
    Finding,
    RecordState,
)
from edureg.quality.rules.catalogue import DUPLICATE_RULE_CODE
from edureg.quality.selectors import open_steps, trend
from edureg.quality.services import current_rule_set
from edureg.registry.attestation import snapshots_take
from edureg.registry.duplicate_review import pair_merge, pair_not_same
from edureg.registry.merge import student_merge, student_unmerge
from edureg.registry.models import (
    Enrolment,
    EnrolmentStatusChange,
    Guardian,
    Student,
    StudentGuardian,
    StudentMerge,
    Transfer,
    TransferStatus,
)
from edureg.registry.quality import duplicates_changed, records_refresh
from tests import factories as f
from tests.conftest import Cast

REASON = "Cùng giấy khai sinh số 123/2019, nhập trùng khi đầu năm"


def _pair(left: Student, right: Student, probability: float = 0.97) -> DuplicatePair:
    low, high = sorted((left, right), key=lambda s: s.pk)
    pair = DuplicatePair.objects.create(
        entity="student", left_id=low.pk, right_id=high.pk, left_school_id=low.school_id,
        right_school_id=high.school_id, match_probability=probability,
        explanation="agreed: given, family, dob (day_month_swapped); missing: id_number",
        found_at=timezone.now())
    duplicates_changed([low.pk, high.pk])
    return pair


@pytest.fixture
def twin(cast: Cast) -> Student:
    """An's duplicate at the same school (class 1B), with a guardian of their own, An's mother
    linked too, an old enrolment with its history and a decided transfer."""
    twin = f.make_student(cast.class_1b, "Nguyen Van An", sex="M")
    mother = f.make_guardian(cast.an, "Trần Thị Mẹ", relation="02")
    StudentGuardian.objects.create(student=twin, guardian=mother, relation_code="02",
                                   is_primary_contact=True)
    f.make_guardian(twin, "Nguyễn Văn Cha", relation="01")
    old = Enrolment.objects.create(
        student=twin, school=cast.school_a, school_year=f.current_year(cast.school_a),
        school_class=cast.class_1b, grade=1, status_code="01", status_since=f.START,
        started_on=f.START - dt.timedelta(days=200), ended_on=f.START - dt.timedelta(days=1),
        is_current=False)
    EnrolmentStatusChange.objects.create(enrolment=old, status_code="01",
                                         effective_on=old.started_on)
    Transfer.objects.create(student=twin, from_school=cast.school_a, to_school=cast.school_b,
                            effective_on=f.START, status=TransferStatus.CANCELLED,
                            requested_by=cast.alice, requested_at=timezone.now())
    records_refresh("student", [cast.an.pk, twin.pk])
    return twin


def _world(*students: Student) -> dict[str, Any]:
    """Everything a merge may touch, by id, to compare before and after an undo."""
    ids = [s.pk for s in students]
    return {
        "students": list(Student.objects.filter(pk__in=ids).order_by("pk").values(
            *[f.attname for f in Student._meta.concrete_fields if f.name != "updated_at"])),
        "enrolments": list(Enrolment.objects.order_by("pk").values()),
        "status_changes": list(EnrolmentStatusChange.objects.order_by("pk").values()),
        "links": list(StudentGuardian.objects.order_by("pk").values()),
        "guardians": list(Guardian.objects.order_by("pk").values("pk", "school_id")),
        "transfers": list(Transfer.objects.order_by("pk").values()),
        "pairs": list(DuplicatePair.objects.order_by("pk").values(
            "pk", "status", "decided_by_id", "decided_at")),
        "states": list(RecordState.objects.order_by("record_id").values(
            "record_id", "school_id", "class_id", "clean_ok", "status_bits")),
        "findings": sorted(Finding.objects.values_list("owner_id", "record_id", "rule_code")),
    }


def test_merge_moves_everything_onto_the_kept_record_and_audits_what_moved(
        cast: Cast, twin: Student) -> None:
    pair = _pair(cast.an, twin)
    enrolments = set(Enrolment.objects.filter(student=twin).values_list("pk", flat=True))
    changes = set(EnrolmentStatusChange.objects.filter(enrolment_id__in=enrolments)
                  .values_list("pk", flat=True))
    transfer = Transfer.objects.get(student=twin)
    father = Guardian.objects.get(full_name="Nguyễn Văn Cha")
    mother_link = StudentGuardian.objects.get(student=twin, guardian__full_name="Trần Thị Mẹ")
    assert RecordState.objects.filter(entity="student", record_id=twin.pk).exists()

    record = pair_merge(actor=cast.alice, pair=pair, kept_id=cast.an.pk, reason=REASON)

    twin.refresh_from_db()
    assert twin.merged_into_id == cast.an.pk
    assert twin.merged_at is not None
    assert twin.current_class_id is None
    assert set(Enrolment.objects.filter(student=cast.an).values_list("pk", flat=True)) \
        >= enrolments
    assert Enrolment.objects.filter(student=cast.an, is_current=True).count() == 1
    assert Enrolment.objects.get(student=cast.an, is_current=True).school_class == cast.class_1a
    assert not Enrolment.objects.filter(student=twin).exists()
    assert set(StudentGuardian.objects.filter(student=cast.an)
               .values_list("guardian__full_name", flat=True)) == {"Trần Thị Mẹ",
                                                                  "Nguyễn Văn Cha"}
    assert StudentGuardian.objects.filter(student=cast.an, guardian__full_name="Trần Thị Mẹ"
                                          ).count() == 1  # one link to the same guardian
    assert not StudentGuardian.objects.filter(student=twin).exists()
    transfer.refresh_from_db()
    assert transfer.student_id == cast.an.pk
    pair.refresh_from_db()
    assert pair.status == PairStatus.MERGED
    assert pair.decided_by_id == cast.alice.pk
    # Quality: the merged record is measured no more; the kept one with its new guardian.
    assert not RecordState.objects.filter(entity="student", record_id=twin.pk).exists()
    assert not Finding.objects.filter(owner_entity="student", owner_id=twin.pk).exists()
    assert RecordState.objects.filter(entity="student", record_id=cast.an.pk).exists()
    # What moved, by id, in the record and in both records' audit histories.
    moved = record.moved
    assert set(moved["enrolments"]) == enrolments
    assert set(moved["status_changes"]) == changes
    assert moved["transfers"] == [transfer.pk]
    assert [item["id"] for item in moved["guardian_links_dropped"]] == [mother_link.pk]
    assert [item["id"] for item in moved["guardian_links"]] == [
        StudentGuardian.objects.get(guardian=father).pk]
    assert moved["closed_enrolment"]["ended_on"] is None
    events = AuditEvent.objects.filter(action="student.merged").order_by("seq")
    assert [e.entity_id for e in events] == [str(cast.an.pk), str(twin.pk)]
    for event in events:
        assert event.data["merge_id"] == record.pk
        assert event.data["kept_id"] == cast.an.pk
        assert event.data["merged_id"] == twin.pk
        assert event.data["moved"] == moved
        assert event.data["reason"] == REASON


def test_a_merged_pupil_is_gone_from_lists_and_selectors(cast: Cast, twin: Student) -> None:
    student_merge(actor=cast.alice, kept=cast.an, merged=twin, reason=REASON)
    assert not scope(Student.objects.filter(pk=twin.pk), cast.alice, Perm.STUDENT_VIEW).exists()
    assert not scope(Student.objects.filter(pk=twin.pk), cast.erin, Perm.STUDENT_VIEW).exists()
    assert twin.pk not in Student.objects.live().values_list("pk", flat=True)


def test_undo_restores_exactly_what_moved(cast: Cast, twin: Student) -> None:
    pair = _pair(cast.an, twin)
    before = _world(cast.an, twin)
    record = pair_merge(actor=cast.alice, pair=pair, kept_id=cast.an.pk, reason=REASON)
    assert _world(cast.an, twin) != before

    student_unmerge(actor=cast.erin, merge=record, reason="Gộp nhầm: hai anh em sinh đôi")

    assert _world(cast.an, twin) == before
    record.refresh_from_db()
    assert record.undone_by_id == cast.erin.pk
    assert record.undone_at is not None
    events = AuditEvent.objects.filter(action="student.unmerged").order_by("seq")
    assert [e.entity_id for e in events] == [str(cast.an.pk), str(twin.pk)]
    assert events[0].data["restored"] == record.moved
    with pytest.raises(ValidationError, match="đã được hoàn tác"):
        student_unmerge(actor=cast.erin, merge=record, reason="Hoàn tác thêm lần nữa")


def test_undo_across_schools_puts_the_guardians_back_at_their_school(cast: Cast) -> None:
    cuong = cast.other_school_student
    twin = f.make_student(cast.class_1a, "Le Van Cuong", sex="M")  # left school A
    Enrolment.objects.filter(student=twin).update(is_current=False, ended_on=f.START)
    father = f.make_guardian(twin, "Lê Văn Bố")
    records_refresh("student", [twin.pk, cuong.pk])
    before = _world(twin, cuong)
    record = student_merge(actor=cast.erin, kept=cuong, merged=twin, reason=REASON)
    father.refresh_from_db()
    assert father.school_id == cast.school_b.pk  # held by the kept record's school now
    student_unmerge(actor=cast.erin, merge=record, reason="Gộp nhầm hai học sinh khác nhau")
    assert _world(twin, cuong) == before


def test_undo_is_refused_when_a_moved_enrolment_changed_since(cast: Cast, twin: Student) -> None:
    record = student_merge(actor=cast.alice, kept=cast.an, merged=twin, reason=REASON)
    moved = record.moved["enrolments"][0]
    Enrolment.objects.filter(pk=moved).update(student=cast.binh)
    with pytest.raises(ValidationError) as refused:
        student_unmerge(actor=cast.erin, merge=record, reason="Gộp nhầm hai học sinh khác")
    assert "Không thể hoàn tác" in refused.value.messages[0]
    assert "quá trình học" in refused.value.messages[0]
    twin.refresh_from_db()
    assert twin.merged_into_id == cast.an.pk  # nothing was undone


def test_merge_is_refused_while_the_merged_record_has_an_open_transfer(
        cast: Cast, twin: Student) -> None:
    Transfer.objects.create(student=twin, from_school=cast.school_a, to_school=cast.school_b,
                            effective_on=f.START, requested_by=cast.alice,
                            requested_at=timezone.now())
    with pytest.raises(ValidationError, match="chuyển trường"):
        student_merge(actor=cast.alice, kept=cast.an, merged=twin, reason=REASON)
    assert not StudentMerge.objects.exists()


def test_the_record_kept_must_be_the_one_still_enrolled(cast: Cast, twin: Student) -> None:
    Enrolment.objects.filter(student=cast.an).update(is_current=False, ended_on=f.START)
    with pytest.raises(ValidationError, match="hãy giữ hồ sơ đang học"):
        student_merge(actor=cast.alice, kept=cast.an, merged=twin, reason=REASON)


def test_a_reason_is_required(cast: Cast, twin: Student) -> None:
    with pytest.raises(ValidationError) as refused:
        student_merge(actor=cast.alice, kept=cast.an, merged=twin, reason="trùng")
    assert "reason" in refused.value.message_dict


# --- Who may ---------------------------------------------------------------------------------

def test_merging_across_schools_needs_the_authority_officer(cast: Cast) -> None:
    cuong = cast.other_school_student
    with pytest.raises(PermissionDenied):
        student_merge(actor=cast.alice, kept=cast.an, merged=cuong, reason=REASON)
    with pytest.raises(PermissionDenied):
        student_merge(actor=cast.dave, kept=cuong, merged=cast.an, reason=REASON)
    assert student_merge(actor=cast.erin, kept=cast.an, merged=cuong, reason=REASON)


def test_another_school_principal_finds_nothing(cast: Cast, twin: Student) -> None:
    with pytest.raises(Http404):
        student_merge(actor=cast.dave, kept=cast.an, merged=twin, reason=REASON)


def test_roles_without_the_merge_permission_are_refused(cast: Cast, twin: Student) -> None:
    clerk = f.make_user("clerk", Role.RECORDS_CLERK, cast.school_a)
    vice = f.make_user("vice", Role.VICE_PRINCIPAL, cast.school_a)
    for actor in (clerk, vice, cast.bob, cast.carol):
        with pytest.raises(PermissionDenied):
            student_merge(actor=actor, kept=cast.an, merged=twin, reason=REASON)


def test_only_an_authority_officer_of_the_authority_undoes_a_merge(
        cast: Cast, twin: Student) -> None:
    record = student_merge(actor=cast.alice, kept=cast.an, merged=twin, reason=REASON)
    with pytest.raises(PermissionDenied):
        student_unmerge(actor=cast.alice, merge=record, reason="Gộp nhầm hai học sinh khác")
    elsewhere = f.make_user("officer2", Role.AUTHORITY_OFFICER,
                            authority=f.make_authority("SGD01"))
    with pytest.raises(Http404):
        student_unmerge(actor=elsewhere, merge=record, reason="Gộp nhầm hai học sinh khác")


# --- "Not the same person" -------------------------------------------------------------------

def test_not_same_closes_the_pair_and_is_remembered(cast: Cast, twin: Student) -> None:
    pair = _pair(cast.an, twin)
    with pytest.raises(ValidationError) as short:
        pair_not_same(actor=cast.alice, pair=pair, reason="khác")
    assert "reason" in short.value.message_dict
    pair_not_same(actor=cast.alice, pair=pair, reason="Khác cha mẹ, khác nơi sinh")
    pair.refresh_from_db()
    assert pair.status == PairStatus.NOT_SAME
    assert pair.decided_by_id == cast.alice.pk
    decision = DuplicateDecision.objects.get(entity="student", left_id=pair.left_id,
                                             right_id=pair.right_id)
    assert decision.decision == Decision.NOT_SAME
    assert AuditEvent.objects.filter(action="dedupe.not_same").count() == 1
    with pytest.raises(ValidationError, match="đã được xử lý"):
        pair_not_same(actor=cast.alice, pair=pair, reason="Khác cha mẹ, khác nơi sinh")


def test_a_school_decides_not_same_on_a_pair_with_another_school(cast: Cast) -> None:
    pair = _pair(cast.an, cast.other_school_student)
    pair_not_same(actor=cast.alice, pair=pair, reason="Khác cha mẹ, khác nơi sinh")
    assert DuplicatePair.objects.get(pk=pair.pk).status == PairStatus.NOT_SAME
    other = _pair(cast.binh, f.make_student(cast.class_b, "Trần Thị Bình"))
    teacher = User.objects.get(pk=cast.bob.pk)  # homeroom teacher: no review permission
    with pytest.raises(PermissionDenied):
        pair_not_same(actor=teacher, pair=other, reason="Khác cha mẹ, khác nơi sinh")
    outsider = f.make_user("dave2", Role.PRINCIPAL, f.make_school(cast.school_a.authority))
    with pytest.raises(Http404):
        pair_not_same(actor=outsider, pair=other, reason="Khác cha mẹ, khác nơi sinh")


# --- Sạch ------------------------------------------------------------------------------------

def _verified(*students: Student) -> None:
    for student in students:
        FieldGroupCheck.objects.create(entity="student", record_id=student.pk,
                                       school_id=student.school_id, group="identity",
                                       kind=CheckKind.REGISTER, checked_at=timezone.now())
    records_refresh("student", [s.pk for s in students])


def _clean(student: Student) -> bool:
    return RecordState.objects.get(entity="student", record_id=student.pk).clean_ok


def test_an_open_pair_makes_both_records_not_clean_until_decided(cast: Cast) -> None:
    _verified(cast.an, cast.binh)
    assert _clean(cast.an)
    assert _clean(cast.binh)
    pair = _pair(cast.an, cast.binh)
    assert not _clean(cast.an)
    assert not _clean(cast.binh)
    bits = RecordState.objects.get(entity="student", record_id=cast.an.pk).status_bits
    assert DUPLICATE_RULE_CODE in [r.code for r in open_steps(current_rule_set(), "student",
                                                              bits)]
    records_refresh("student", [cast.an.pk])  # the per-record path measures the same
    assert not _clean(cast.an)
    pair_not_same(actor=cast.alice, pair=pair, reason="Khác cha mẹ, khác nơi sinh")
    assert _clean(cast.an)
    assert _clean(cast.binh)


def test_merging_clears_the_open_pair_of_the_kept_record(cast: Cast, twin: Student) -> None:
    _verified(cast.an)
    pair = _pair(cast.an, twin)
    assert not _clean(cast.an)
    pair_merge(actor=cast.alice, pair=pair, kept_id=cast.an.pk, reason=REASON)
    assert _clean(cast.an)


def test_a_pair_with_a_pupil_merged_away_no_longer_counts(cast: Cast, twin: Student) -> None:
    _verified(cast.binh)
    _pair(cast.binh, twin)  # twin looks like Bình too
    assert not _clean(cast.binh)
    student_merge(actor=cast.alice, kept=cast.an, merged=twin, reason=REASON)
    assert _clean(cast.binh)


# --- Identity and the trend ------------------------------------------------------------------

def test_identity_retires_the_merged_record_and_sends_it_again_after_an_undo(
        cast: Cast, twin: Student) -> None:
    now = timezone.now()
    for student in (cast.an, twin):
        IdentityState.objects.create(entity="student", record_id=student.pk,
                                     school_id=student.school_id,
                                     status=IdentityStatus.VERIFIED, updated_at=now)
    changes_catch_up()
    record = student_merge(actor=cast.alice, kept=cast.an, merged=twin, reason=REASON)
    changes_catch_up()
    assert not IdentityState.objects.filter(entity="student", record_id=twin.pk).exists()
    kept = IdentityState.objects.get(entity="student", record_id=cast.an.pk)
    assert kept.status == IdentityStatus.VERIFIED
    student_unmerge(actor=cast.erin, merge=record, reason="Gộp nhầm: hai anh em sinh đôi")
    assert changes_catch_up() == 1
    restored = IdentityState.objects.get(entity="student", record_id=twin.pk)
    assert restored.status == IdentityStatus.SENT


def test_decisions_appear_in_the_daily_snapshots(cast: Cast, twin: Student) -> None:
    records_refresh("student", [cast.an.pk, cast.binh.pk, cast.other_school_student.pk])
    merged_pair = _pair(cast.an, twin)
    across = _pair(cast.binh, cast.other_school_student)
    _pair(cast.an, cast.other_school_student, probability=0.6)
    day = timezone.localdate()
    snapshots_take(day=day - dt.timedelta(days=1))
    pair_merge(actor=cast.alice, pair=merged_pair, kept_id=cast.an.pk, reason=REASON)
    pair_not_same(actor=cast.alice, pair=across, reason="Khác cha mẹ, khác nơi sinh")
    snapshots_take(day=day)
    school_a = DailySnapshot.objects.get(school_id=cast.school_a.pk, entity="student", day=day)
    assert (school_a.duplicates_open, school_a.duplicates_not_same,
            school_a.duplicates_merged) == (1, 1, 1)
    school_b = DailySnapshot.objects.get(school_id=cast.school_b.pk, entity="student", day=day)
    assert (school_b.duplicates_open, school_b.duplicates_not_same,
            school_b.duplicates_merged) == (1, 1, 0)
    authority = AuthoritySnapshot.objects.get(authority_id=cast.school_a.authority_id,
                                              entity="student", day=day)
    assert (authority.duplicates_open, authority.duplicates_not_same,
            authority.duplicates_merged) == (1, 1, 1)  # a pair across schools counts once
    points = trend([cast.school_a.pk], until=day)
    assert [p.duplicates.open for p in points] == [3, 1]
    assert points[-1].duplicates.merged == 1


def test_a_rescan_of_many_schools_measures_open_pairs_as_the_per_record_path(
        cast: Cast, twin: Student) -> None:
    from edureg.registry.quality import rescan

    _pair(cast.an, cast.other_school_student)
    _pair(cast.binh, twin)
    student_merge(actor=cast.alice, kept=cast.an, merged=twin, reason=REASON)
    ids = [cast.an.pk, cast.binh.pk, cast.other_school_student.pk]
    records_refresh("student", ids)
    per_record = set(RecordState.objects.values_list("record_id", "status_bits", "clean_ok"))
    RecordState.objects.all().delete()
    rescan("student", [cast.school_a.pk, cast.school_b.pk], shared_from_all_ids=True)
    assert set(RecordState.objects.values_list("record_id", "status_bits", "clean_ok")) \
        == per_record
    flagged = {pk for pk, bits, _ok in per_record
               if DUPLICATE_RULE_CODE in [r.code for r in open_steps(current_rule_set(),
                                                                     "student", bits)]}
    assert flagged == {cast.an.pk, cast.other_school_student.pk}
