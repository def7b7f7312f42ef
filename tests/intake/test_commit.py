"""Committing the dry run the user reviewed: all or nothing, through the registry's services; a
plan that changed since is refused; the file is kept privately only until the commit, cancel
or expiry; re-importing the same file changes nothing."""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection
from django.http import Http404
from django.utils import timezone

from edureg.access.models import User
from edureg.access.roles import Role
from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.dedupe.models import DuplicateDecision
from edureg.intake.models import IntakeRun, RunStatus
from edureg.intake.plan import Action
from edureg.intake.services import (
    DryRun,
    intake_cancel,
    intake_commit,
    intake_dry_run,
    intake_expire,
    intake_review_again,
    report_read,
)
from edureg.intake.source import Kind, WorkbookRefused
from edureg.privacy.policy import PolicyNotAcknowledged
from edureg.quality.models import RecordState
from edureg.registry.models import (
    Enrolment,
    EnrolmentStatusChange,
    Guardian,
    Student,
    StudentGuardian,
    Transfer,
    TransferStatus,
)
from edureg.registry.services import student_update
from tests import factories as f
from tests.conftest import Cast
from tests.intake.conftest import pupil, xlsx

pytestmark = pytest.mark.django_db

BORN = dt.date(2020, 3, 1)


def _state() -> dict[str, list[Any]]:
    """Everything a commit writes, apart from the audit log and the intake run."""
    return {
        "students": list(Student.objects.order_by("pk").values()),
        "enrolments": list(Enrolment.objects.order_by("pk").values()),
        "status_changes": list(EnrolmentStatusChange.objects.order_by("pk").values()),
        "guardians": list(Guardian.objects.order_by("pk").values()),
        "links": list(StudentGuardian.objects.order_by("pk").values()),
        "transfers": list(Transfer.objects.order_by("pk").values()),
        "quality": list(RecordState.objects.order_by("pk").values()),
        "decisions": list(DuplicateDecision.objects.order_by("pk").values()),
    }


def _record_writes(after_seq: int) -> list[str]:
    return list(AuditEvent.objects.filter(seq__gt=after_seq, kind="write")
                .exclude(entity="intake_run").values_list("action", flat=True))


def _last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


@pytest.fixture
def school_rows(cast: Cast) -> list[dict[str, Any]]:
    """School A's export: An as on record, Bình with a new phone and moved to 1A, and two new
    pupils (one with both parents), as a real .xlsx file."""
    Student.objects.filter(pk=cast.an.pk).update(date_of_birth=BORN, sex="M")
    Student.objects.filter(pk=cast.binh.pk).update(date_of_birth=dt.date(2020, 5, 2), sex="F")
    return [
        pupil("Nguyễn Văn An", education_id=cast.an.education_id, sex="Nam", ethnicity=None,
              nationality=None),
        pupil("Trần Thị Bình", education_id=cast.binh.education_id,
              date_of_birth=dt.date(2020, 5, 2), phone="0987654321", ethnicity=None,
              nationality=None),
        pupil("Võ Thị Mai", date_of_birth=dt.date(2020, 7, 9), father_name="Võ Văn Ba",
              father_birth_year=1986, father_phone="0903123456", mother_name="Lý Thị Tư",
              mother_birth_year=1990),
        pupil("Đặng Văn Nam", date_of_birth=dt.date(2020, 1, 15), sex="Nam",
              class_name="1B", education_id="7912340001"),
    ]


def _dry_run(actor: User | None, cast: Cast, data: bytes) -> DryRun:
    return intake_dry_run(actor=actor, school=cast.school_a, kind=Kind.STUDENT, data=data,
                          filename="hoc-sinh.xlsx")


def test_a_dry_run_then_commit_writes_the_plan_through_the_registry(
        cast: Cast, clerk: User, school_rows: list[dict[str, Any]], intake_dir: Path) -> None:
    data = xlsx(school_rows)
    dry = _dry_run(clerk, cast, data)
    assert dry.plan.summary()["new"] == 2
    assert dry.plan.summary()["moved"] == 1
    assert dry.plan.summary()["unchanged"] == 1
    assert dry.plan.errors == 0
    assert dry.run.status == RunStatus.REVIEWED
    assert report_read(dry.run) is not None
    seq = _last_seq()
    done = intake_commit(actor=clerk, run=dry.run)
    assert done.run.status == RunStatus.COMMITTED
    assert done.run.committed_at is not None
    mai = Student.objects.get(full_name="Võ Thị Mai")
    assert mai.current_class == cast.class_1a
    assert mai.temporary_code
    assert mai.temporary_code.startswith("T")
    assert mai.ethnicity_code == "01"
    assert Enrolment.objects.get(student=mai, is_current=True).status_code == "01"
    parents = {link.relation_code: link.guardian for link in mai.guardian_links.all()}
    assert parents["01"].full_name == "Võ Văn Ba"
    assert parents["01"].phone == "0903123456"
    assert parents["02"].birth_year == 1990
    assert Student.objects.get(full_name="Đặng Văn Nam").education_id == "7912340001"
    cast.binh.refresh_from_db()
    assert cast.binh.phone == "0987654321"
    assert cast.binh.current_class == cast.class_1a
    assert Enrolment.objects.get(student=cast.binh, is_current=True).school_class == cast.class_1a
    # Through the registry's services: one audit event per pupil, naming the run; quality
    # measured for every pupil written.
    events = AuditEvent.objects.filter(seq__gt=seq, entity="student")
    assert sorted(events.values_list("action", flat=True)) == [
        "student.create", "student.create", "student.update", "student.update"]
    assert {e.data["intake_run"] for e in events} == {dry.run.pk}
    assert RecordState.objects.filter(entity="student", record_id=mai.pk).exists()
    # The file is gone.
    assert list(intake_dir.iterdir()) == []
    assert report_read(dry.run) is None


def test_reimporting_the_same_file_changes_nothing(
        cast: Cast, clerk: User, school_rows: list[dict[str, Any]]) -> None:
    data = xlsx(school_rows)
    intake_commit(actor=clerk, run=_dry_run(clerk, cast, data).run)
    before, seq = _state(), _last_seq()
    again = _dry_run(clerk, cast, data)
    assert again.plan.summary()["unchanged"] == 4
    assert again.plan.writes == 0
    intake_commit(actor=clerk, run=again.run)
    assert _state() == before
    assert _record_writes(seq) == []
    assert list(AuditEvent.objects.filter(seq__gt=seq).values_list("action", flat=True)) == [
        actions.INTAKE_DRY_RUN, actions.INTAKE_COMMITTED]


def _plant_failure(full_name: str) -> Iterator[None]:
    """A database that refuses to store one pupil (a trigger): a failure the dry run cannot
    foresee, met half-way through the commit."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "CREATE TRIGGER planted_failure BEFORE INSERT ON registry_student "
                f"WHEN NEW.full_name = '{full_name}' BEGIN SELECT RAISE(ABORT, 'planted'); END")
        else:
            cursor.execute(
                "CREATE FUNCTION planted_failure() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.full_name = '{full_name}' THEN RAISE EXCEPTION 'planted'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql")
            cursor.execute("CREATE TRIGGER planted_failure BEFORE INSERT ON registry_student "
                           "FOR EACH ROW EXECUTE FUNCTION planted_failure()")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER planted_failure" if connection.vendor == "sqlite"
                       else "DROP TRIGGER planted_failure ON registry_student")


def test_a_failure_in_row_n_of_m_leaves_the_database_unchanged(
        cast: Cast, clerk: User, school_rows: list[dict[str, Any]], intake_dir: Path) -> None:
    rows = [*school_rows, *(pupil(f"Học Sinh Số {name}", date_of_birth=dt.date(2020, 2, n))
                            for n, name in enumerate(("Một", "Hai", "Ba", "Bốn"), start=1))]
    dry = _dry_run(clerk, cast, xlsx(rows))
    assert dry.plan.writes == 7
    before, seq = _state(), _last_seq()
    planted = _plant_failure("Học Sinh Số Ba")  # the 7th row of 8
    next(planted)
    try:
        with pytest.raises(DatabaseError):
            intake_commit(actor=clerk, run=dry.run)
    finally:
        next(planted, None)
    assert _state() == before
    assert _record_writes(seq) == []
    dry.run.refresh_from_db()
    assert dry.run.status == RunStatus.FAILED
    assert list(AuditEvent.objects.filter(seq__gt=seq).values_list("action", flat=True)) == [
        actions.INTAKE_FAILED]
    assert list(intake_dir.iterdir()) == []


def test_a_commit_after_the_database_changed_is_refused_until_the_dry_run_is_repeated(
        cast: Cast, clerk: User, school_rows: list[dict[str, Any]]) -> None:
    dry = _dry_run(clerk, cast, xlsx(school_rows))
    student_update(actor=cast.alice, student=cast.binh, data={"current_address": "1 Lê Lợi"})
    before, seq = _state(), _last_seq()
    with pytest.raises(ValidationError) as refused:
        intake_commit(actor=clerk, run=dry.run)
    assert refused.value.code == "plan_changed"
    assert "soi thử lại" in refused.value.messages[0]
    assert _state() == before
    assert _last_seq() == seq
    dry.run.refresh_from_db()
    assert dry.run.status == RunStatus.REVIEWED
    again = intake_review_again(actor=clerk, run=dry.run)
    assert again.run.plan_fingerprint != dry.run.plan_fingerprint
    assert intake_commit(actor=clerk, run=again.run).run.status == RunStatus.COMMITTED


def test_a_different_file_is_refused(cast: Cast, clerk: User,
                                     school_rows: list[dict[str, Any]]) -> None:
    dry = _dry_run(clerk, cast, xlsx(school_rows))
    with pytest.raises(ValidationError) as refused:
        intake_commit(actor=clerk, run=dry.run, data=xlsx(school_rows[:2]))
    assert refused.value.code == "changed"


def test_a_file_with_errors_is_refused_naming_the_rows_to_fix(cast: Cast, clerk: User) -> None:
    rows = [pupil(), pupil("Lê Văn Tư", ethnicity="Người sao Hoả"), pupil("Đỗ Văn Ba")]
    dry = _dry_run(clerk, cast, xlsx(rows))
    assert dry.plan.errors == 1
    before = _state()
    with pytest.raises(ValidationError) as refused:
        intake_commit(actor=clerk, run=dry.run)
    assert refused.value.code == "errors"
    assert str(dry.plan.error_rows[0]) in refused.value.messages[0]
    assert _state() == before


def test_look_alikes_are_committed_only_with_a_reason(cast: Cast, clerk: User) -> None:
    Student.objects.filter(pk=cast.other_school_student.pk).update(date_of_birth=BORN)
    dry = _dry_run(clerk, cast, xlsx([pupil("Lê Văn Cường", sex="Nam")]))
    assert len(dry.plan.candidate_rows) == 1
    with pytest.raises(ValidationError) as refused:
        intake_commit(actor=clerk, run=dry.run)
    assert refused.value.code == "duplicates"
    intake_commit(actor=clerk, run=dry.run,
                  not_duplicate_reason="Khác cha mẹ, khác nơi sinh")
    new = Student.objects.get(school=cast.school_a, full_name="Lê Văn Cường")
    decision = DuplicateDecision.objects.get()
    assert {decision.left_id, decision.right_id} == {new.pk, cast.other_school_student.pk}
    assert decision.decided_by == clerk


def test_a_transfer_asked_by_the_other_school_is_accepted_into_the_file_s_class(
        cast: Cast, clerk: User) -> None:
    cuong = cast.other_school_student
    Student.objects.filter(pk=cuong.pk).update(date_of_birth=BORN, phone="0911111111")
    transfer = Transfer.objects.create(
        student=cuong, from_school=cast.school_b, to_school=cast.school_a,
        effective_on=timezone.localdate(), requested_by=cast.dave, requested_at=timezone.now())
    row = pupil("Lê Văn Cường", education_id=cuong.education_id, sex="Nam", class_name="1B",
                phone="0922222222")
    dry = _dry_run(clerk, cast, xlsx([row]))
    assert dry.plan.rows[0].action is Action.TRANSFERRED_IN
    intake_commit(actor=clerk, run=dry.run)
    cuong.refresh_from_db()
    assert (cuong.school, cuong.current_class, cuong.phone) == (
        cast.school_a, cast.class_1b, "0922222222")
    transfer.refresh_from_db()
    assert (transfer.status, transfer.decided_by) == (TransferStatus.ACCEPTED, clerk)
    assert Student.objects.filter(full_name="Lê Văn Cường").count() == 1


def test_the_official_id_replaces_the_temporary_code_on_the_same_record(
        cast: Cast, ivan: User) -> None:
    hoa = f.make_student(cast.class_1a, "Phạm Thị Hoa", education_id=None,
                         temporary_code="T00001000001", date_of_birth=BORN, sex="F")
    dry = _dry_run(ivan, cast, xlsx([pupil("Phạm Thị Hoa", education_id="7912345678",
                                           ethnicity=None, nationality=None)]))
    assert dry.plan.summary()["official_ids"] == 1
    intake_commit(actor=ivan, run=dry.run)
    hoa.refresh_from_db()
    assert (hoa.education_id, hoa.temporary_code) == ("7912345678", "T00001000001")
    assert Student.objects.filter(full_name="Phạm Thị Hoa").count() == 1


def test_the_file_is_kept_private_until_cancel(cast: Cast, clerk: User, intake_dir: Path
                                               ) -> None:
    dry = _dry_run(clerk, cast, xlsx([pupil()]))
    kept = sorted(intake_dir.iterdir())
    assert [p.name for p in kept] == [f"run-{dry.run.pk}.bin", f"run-{dry.run.pk}.report.json"]
    assert stat.S_IMODE(os.stat(intake_dir).st_mode) == 0o700
    assert {stat.S_IMODE(os.stat(p).st_mode) for p in kept} == {0o600}
    intake_cancel(actor=clerk, run=dry.run)
    assert list(intake_dir.iterdir()) == []
    dry.run.refresh_from_db()
    assert dry.run.status == RunStatus.CANCELLED
    with pytest.raises(ValidationError) as closed:
        intake_commit(actor=clerk, run=dry.run)
    assert closed.value.code == "closed"


def test_an_uncommitted_file_expires(cast: Cast, clerk: User, intake_dir: Path,
                                     settings: Any) -> None:
    dry = _dry_run(clerk, cast, xlsx([pupil()]))
    fresh = _dry_run(clerk, cast, xlsx([pupil("Lê Văn Tư")]))
    stray = intake_dir / "run-999999.bin"
    stray.write_bytes(b"left by a stopped process")
    os.utime(stray, (0, 0))
    later = dry.run.created_at + dt.timedelta(seconds=settings.EDUREG_INTAKE_TTL_SECONDS + 1)
    IntakeRun.objects.filter(pk=fresh.run.pk).update(created_at=later)
    assert intake_expire(now=later) == 1
    dry.run.refresh_from_db()
    assert dry.run.status == RunStatus.EXPIRED
    assert sorted(p.name for p in intake_dir.iterdir()) == [
        f"run-{fresh.run.pk}.bin", f"run-{fresh.run.pk}.report.json"]
    event = AuditEvent.objects.get(action=actions.INTAKE_EXPIRED)
    assert (event.actor_id, event.kind) == (None, "system")


def test_the_audit_trail_keeps_the_checksum_and_counts_only(
        cast: Cast, clerk: User, school_rows: list[dict[str, Any]]) -> None:
    dry = _dry_run(clerk, cast, xlsx(school_rows))
    intake_commit(actor=clerk, run=dry.run)
    for event in AuditEvent.objects.filter(entity="intake_run"):
        assert set(event.data) == {"sha256", "size", "kind", "template", "counts"}
        assert event.data["sha256"] == dry.run.sha256
        text = str(event.data)
        for name in ("Võ Thị Mai", "Võ Văn Ba", "0987654321", "7912340001"):
            assert name not in text
    dry.run.refresh_from_db()
    assert set(dry.run.summary) >= {"new", "updated", "unchanged", "moved", "transferred_in"}
    assert all(isinstance(value, int) for value in dry.run.summary.values())


def test_the_it_officer_may_and_others_may_not(cast: Cast, ivan: User, clerk: User) -> None:
    data = xlsx([pupil()])
    assert _dry_run(ivan, cast, data).run.created_by == ivan
    with pytest.raises(PermissionDenied):
        _dry_run(cast.bob, cast, data)  # a homeroom teacher
    with pytest.raises(PermissionDenied):
        _dry_run(cast.alice, cast, data)  # the principal: not her job position's task
    clerk_b = f.make_user("giao_b", Role.RECORDS_CLERK, cast.school_b)
    with pytest.raises(Http404):
        _dry_run(clerk_b, cast, data)
    unread = f.make_user("moi", Role.RECORDS_CLERK, cast.school_a)
    with pytest.raises(PolicyNotAcknowledged):
        _dry_run(unread, cast, data)
    run = _dry_run(clerk, cast, data).run
    with pytest.raises(Http404):
        intake_commit(actor=clerk_b, run=run)


def test_the_system_may_commit_from_the_command_line(cast: Cast) -> None:
    data = xlsx([pupil()])
    dry = intake_dry_run(actor=None, school=cast.school_a, kind=Kind.STUDENT, data=data,
                         keep=False)
    intake_commit(actor=None, run=dry.run, data=data)
    event = AuditEvent.objects.get(action="student.create")
    assert event.actor_label == "system"


def test_a_file_that_is_not_a_workbook_is_refused(cast: Cast, clerk: User) -> None:
    with pytest.raises(WorkbookRefused):
        _dry_run(clerk, cast, b"not a workbook at all")
    assert not IntakeRun.objects.exists()
