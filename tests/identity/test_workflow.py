"""The verification workflow over seeded data, against the simulator in its own process through
the real HTTP adapter: states, provenance, the "sạch" score, locking, the queue, and
requests' scopes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.http import Http404

from edureg.access.roles import Role
from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.identity.models import (
    CannotSend,
    IdentityState,
    IdentityStatus,
    JobKind,
    JobStatus,
    NoIdReason,
    QueueStatus,
    VerificationJob,
)
from edureg.identity.register.http_adapter import HttpPopulationRegister
from edureg.identity.services import (
    QueueAction,
    Target,
    changes_catch_up,
    job_run,
    no_id_declare,
    queue_update,
    verification_request,
)
from edureg.quality.models import CheckKind, FieldGroupCheck, QualityTotal, RecordState
from edureg.quality.rules.catalogue import identity_rule_code
from edureg.quality.services import current_rule_set
from edureg.registry.models import Staff, Student
from edureg.registry.quality import records_refresh
from edureg.registry.services import student_update
from edureg.schools.models import School
from tests.factories import make_user
from tests.identity.support import AUTH, TOKEN, Sim, start_simulator, stop

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def register_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("register") / "register.sqlite3"


@pytest.fixture
def seeded(register_file: Path, settings: Any) -> Path:
    """Two schools of 40 pupils, a fifth of them with a planted identity problem."""
    settings.EDUREG_REGISTER_SIM_DB = register_file
    call_command("seed", "--schools", "2", "--students-per-school", "40", "--seed", "11",
                 "--identity-mismatch-rate", "0.2", "--register-db", str(register_file),
                 stdout=StringIO())
    return register_file


@pytest.fixture
def sim(seeded: Path, tmp_path: Path) -> Iterator[Sim]:
    process = start_simulator(seeded, tmp_path)
    yield process
    stop(process)


@pytest.fixture
def register(sim: Sim) -> Iterator[HttpPopulationRegister]:
    with HttpPopulationRegister(sim.url, TOKEN, rate_per_second=500, max_attempts=3,
                                backoff_base=0.01, backoff_cap=0.05, breaker_cooldown=0.2,
                                max_wait=5) as adapter:
        yield adapter


def planted(path: Path, kind: str) -> dict[int, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT record_id, field FROM planted_problem WHERE kind = ? "
                               "AND entity = 'student'", (kind,)).fetchall())


def sim_stats(sim: Sim) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{sim.url}/_sim/stats", headers=AUTH).json()
    return stats


def principal_of(school: School) -> Any:
    return make_user(f"principal{school.pk}", Role.PRINCIPAL, school)


def test_a_school_batch_ends_every_pupil_in_the_state_the_register_gives(
        seeded: Path, sim: Sim, register: HttpPopulationRegister) -> None:
    school = School.objects.order_by("pk").first()
    assert school is not None
    principal = principal_of(school)
    job = verification_request(actor=principal, target=Target(JobKind.SCHOOL,
                                                              school_id=school.pk))
    pupils = set(Student.objects.filter(school=school).values_list("pk", flat=True))
    staff = set(Staff.objects.filter(school=school).values_list("pk", flat=True))
    assert job.persons == len(pupils) + len(staff)

    report = job_run(job.pk, register=register, threads=1)

    assert report.finished
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    states = {s.record_id: s for s in IdentityState.objects.filter(entity="student")}
    assert set(states) == pupils
    mismatched = planted(seeded, "identity_mismatch")
    missing = planted(seeded, "not_in_register")
    without_number = set(Student.objects.filter(school=school, personal_id_number__isnull=True)
                         .values_list("pk", flat=True))
    assert mismatched.keys() & pupils, "the seed planted mismatches in this school"
    for pk, state in states.items():
        if pk in without_number:
            assert (state.status, state.cannot_send) == (IdentityStatus.UNVERIFIED,
                                                         CannotSend.NO_ID_NUMBER)
        elif pk in mismatched:
            assert state.status == IdentityStatus.MISMATCH
            assert state.mismatched == [mismatched[pk]]
            register_value = state.fields[mismatched[pk]]["register_value"]
            assert register_value
            assert register_value != str(
                getattr(Student.objects.get(pk=pk), mismatched[pk]))
            assert state.queue_status == QueueStatus.OPEN
        elif pk in missing:
            assert state.status == IdentityStatus.NOT_FOUND
        else:
            assert state.status == IdentityStatus.VERIFIED, pk
            assert state.queue_status == ""
        if state.status in (IdentityStatus.VERIFIED, IdentityStatus.MISMATCH,
                            IdentityStatus.NOT_FOUND):
            assert state.request_id
            assert state.answered_at
            assert state.register
            assert state.requested_by_id == principal.pk
            assert state.answers == 1
    sent = len(pupils) + len(staff) - job.not_sendable
    assert sim_stats(sim)["persons"] == sent, "each sendable person was sent exactly once"


def test_verified_pupils_count_as_clean_and_others_do_not(
        seeded: Path, sim: Sim, register: HttpPopulationRegister) -> None:
    school = School.objects.order_by("pk").first()
    assert school is not None
    assert not RecordState.objects.filter(entity="student", clean_ok=True).exists()
    job = verification_request(actor=principal_of(school),
                               target=Target(JobKind.SCHOOL, school_id=school.pk))
    job_run(job.pk, register=register, threads=1)
    verified = set(IdentityState.objects.filter(entity="student",
                                                status=IdentityStatus.VERIFIED)
                   .values_list("record_id", flat=True))
    assert verified
    checks = set(FieldGroupCheck.objects.filter(
        entity="student", kind=CheckKind.REGISTER, ended_at__isnull=True)
        .values_list("record_id", flat=True))
    assert checks == verified
    rules = current_rule_set().status_rules("student")
    bit = 1 << next(i for i, rule in enumerate(rules)
                    if rule.code == identity_rule_code("student"))
    pupils = set(Student.objects.filter(school=school).values_list("pk", flat=True))
    bits = dict(RecordState.objects.filter(entity="student", record_id__in=pupils)
                .values_list("record_id", "status_bits"))
    assert {pk for pk, value in bits.items() if not value & bit} == verified
    totals = QualityTotal.objects.get(school_id=school.pk, class_id=None, entity="student")
    fresh = RecordState.objects.filter(entity="student", school_id=school.pk, clean_ok=True)
    assert totals.clean_ok == fresh.count(), "the school total moved with the states"
    # The answers moved one status rule's bit; a full re-measure agrees with them.
    fields = ("record_id", "status_bits", "clean_ok", "correct_ok", "complete_ok", "live_ok")
    stored = sorted(RecordState.objects.filter(entity="student").values_list(*fields))
    total_fields = ("school_id", "class_id", "records", "clean_ok", "correct_ok")
    stored_totals = sorted(QualityTotal.objects.values_list(*total_fields), key=str)
    records_refresh("student", list(Student.objects.values_list("pk", flat=True)))
    assert sorted(RecordState.objects.filter(entity="student").values_list(*fields)) == stored
    assert sorted(QualityTotal.objects.values_list(*total_fields), key=str) == stored_totals
    clean = set(RecordState.objects.filter(entity="student", clean_ok=True)
                .values_list("record_id", flat=True))
    assert clean <= verified


def test_a_batch_does_not_send_the_verified_again_but_one_person_is_always_sent(
        seeded: Path, sim: Sim, register: HttpPopulationRegister) -> None:
    school = School.objects.order_by("pk").first()
    assert school is not None
    principal = principal_of(school)
    first = verification_request(actor=principal, target=Target(JobKind.SCHOOL,
                                                                school_id=school.pk))
    job_run(first.pk, register=register, threads=1)
    again = verification_request(actor=principal, target=Target(JobKind.SCHOOL,
                                                                school_id=school.pk))
    not_verified = IdentityState.objects.exclude(status=IdentityStatus.VERIFIED).count()
    assert again.persons == not_verified
    one = IdentityState.objects.filter(status=IdentityStatus.VERIFIED).first()
    assert one is not None
    single = verification_request(actor=principal, target=Target(
        JobKind.PERSON, entity=one.entity, record_id=one.record_id))
    assert single.persons == 1


def test_changing_a_verified_identity_field_needs_a_reason_and_sends_it_again(
        seeded: Path, sim: Sim, register: HttpPopulationRegister) -> None:
    school = School.objects.order_by("pk").first()
    assert school is not None
    principal = principal_of(school)
    job_run(verification_request(actor=principal, target=Target(
        JobKind.SCHOOL, school_id=school.pk)).pk, register=register, threads=1)
    state = IdentityState.objects.filter(entity="student",
                                         status=IdentityStatus.VERIFIED).first()
    assert state is not None
    student = Student.objects.get(pk=state.record_id)
    with pytest.raises(ValidationError) as refused:
        student_update(actor=principal, student=student, data={"full_name": "Nguyễn Văn Bé"})
    assert set(refused.value.message_dict) == {"full_name", "identity_change_reason"}
    assert Student.objects.get(pk=student.pk).full_name == student.full_name
    changes_catch_up()  # whatever the seed and the batch left behind
    student_update(actor=principal, student=student, data={"full_name": "Nguyễn Văn Bé"},
                   identity_change_reason="Sửa theo giấy khai sinh số 12/2019")
    event = AuditEvent.objects.filter(action="student.update").latest("seq")
    assert event.data["identity_change_reason"] == "Sửa theo giấy khai sinh số 12/2019"
    assert not FieldGroupCheck.objects.filter(entity="student", record_id=student.pk,
                                              kind=CheckKind.REGISTER,
                                              ended_at__isnull=True).exists()
    # A field outside the identity needs no reason.
    student_update(actor=principal, student=Student.objects.get(pk=student.pk),
                   data={"phone": "0912345678"})

    assert changes_catch_up() == 1
    state.refresh_from_db()
    assert state.status == IdentityStatus.SENT
    change_job = state.job
    assert change_job is not None
    assert change_job.kind == JobKind.CHANGE
    job_run(change_job.pk, register=register, threads=1)
    state.refresh_from_db()
    assert state.status == IdentityStatus.MISMATCH
    assert state.mismatched == ["full_name"]
    assert state.answers == 2


def test_an_answer_about_values_changed_meanwhile_is_not_stored(
        seeded: Path, sim: Sim, register: HttpPopulationRegister) -> None:
    school = School.objects.order_by("pk").first()
    assert school is not None
    principal = principal_of(school)
    student = Student.objects.filter(school=school, personal_id_number__isnull=False).first()
    assert student is not None
    job = verification_request(actor=principal, target=Target(
        JobKind.PERSON, entity="student", record_id=student.pk))
    changed = student.pk

    class ChangingRegister:
        """The record changes while the call is in flight."""

        url = "between"

        def verify(self, persons: Any) -> Any:
            Student.objects.filter(pk=changed).update(full_name="Tên Đã Đổi")
            return register.verify(persons)

    report = job_run(job.pk, register=ChangingRegister(), threads=1)
    assert report.discarded == 1, "the answer about the old name was dropped"
    assert report.answered == 1, "the new name was sent and answered"
    state = IdentityState.objects.get(entity="student", record_id=student.pk)
    assert state.status == IdentityStatus.MISMATCH
    assert state.mismatched == ["full_name"]
    assert state.answers == 1


def test_the_queue_marks_a_correction_request_and_reverification_sends_again(
        seeded: Path, sim: Sim, register: HttpPopulationRegister) -> None:
    school = School.objects.order_by("pk").first()
    assert school is not None
    principal = principal_of(school)
    job_run(verification_request(actor=principal, target=Target(
        JobKind.SCHOOL, school_id=school.pk)).pk, register=register, threads=1)
    state = IdentityState.objects.filter(status=IdentityStatus.MISMATCH).first()
    assert state is not None
    queue_update(actor=principal, entity=state.entity, record_id=state.record_id,
                 action=QueueAction.CORRECTION_REQUESTED, note="Gia đình đã nộp đơn")
    state.refresh_from_db()
    assert state.queue_status == QueueStatus.CORRECTION_REQUESTED
    assert AuditEvent.objects.filter(action=actions.IDENTITY_QUEUE_UPDATED).exists()
    job = queue_update(actor=principal, entity=state.entity, record_id=state.record_id,
                       action=QueueAction.REVERIFY)
    assert isinstance(job, VerificationJob)
    assert job.persons == 1
    # The register corrected meanwhile: our record's value is now what it holds.
    field = state.mismatched[0]
    with sqlite3.connect(seeded) as db:
        db.execute(f"UPDATE person SET {field} = ? WHERE personal_id_number = ?",  # noqa: S608
                   (_wire(Student.objects.get(pk=state.record_id), field),
                    Student.objects.get(pk=state.record_id).personal_id_number))
    job_run(job.pk, register=register, threads=1)
    state.refresh_from_db()
    assert state.status == IdentityStatus.VERIFIED
    assert state.queue_status == ""


def _wire(student: Student, field: str) -> str:
    value = getattr(student, field)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def test_no_id_number_needs_a_reason_and_is_kept_by_batches(
        seeded: Path, sim: Sim, register: HttpPopulationRegister) -> None:
    school = School.objects.order_by("pk").first()
    assert school is not None
    principal = principal_of(school)
    student = Student.objects.filter(school=school, personal_id_number__isnull=True).first()
    assert student is not None
    with pytest.raises(ValidationError) as refused:
        no_id_declare(actor=principal, entity="student", record_id=student.pk,
                      reason=NoIdReason.OTHER, note="")
    assert "no_id_note" in refused.value.message_dict
    no_id_declare(actor=principal, entity="student", record_id=student.pk,
                  reason=NoIdReason.NO_BIRTH_CERTIFICATE)
    job = verification_request(actor=principal, target=Target(JobKind.SCHOOL,
                                                              school_id=school.pk))
    job_run(job.pk, register=register, threads=1)
    state = IdentityState.objects.get(entity="student", record_id=student.pk)
    assert state.status == IdentityStatus.NO_ID
    assert state.no_id_reason == NoIdReason.NO_BIRTH_CERTIFICATE
    numbered = Student.objects.filter(school=school, personal_id_number__isnull=False).first()
    assert numbered is not None
    with pytest.raises(ValidationError):
        no_id_declare(actor=principal, entity="student", record_id=numbered.pk,
                      reason=NoIdReason.FOREIGN_NATIONAL)


def test_requests_outside_scope_are_404_and_without_permission_403(seeded: Path) -> None:
    first, second = School.objects.order_by("pk")[:2]
    principal = principal_of(first)
    other_pupil = Student.objects.filter(school=second).first()
    assert other_pupil is not None
    with pytest.raises(Http404):
        verification_request(actor=principal, target=Target(JobKind.SCHOOL,
                                                            school_id=second.pk))
    with pytest.raises(Http404):
        verification_request(actor=principal, target=Target(
            JobKind.PERSON, entity="student", record_id=other_pupil.pk))
    with pytest.raises(Http404):
        verification_request(actor=principal, target=Target(
            JobKind.AUTHORITY, authority_id=first.authority_id))
    nurse = make_user("nurse", Role.SCHOOL_NURSE, first)
    with pytest.raises(PermissionDenied):
        verification_request(actor=nurse, target=Target(JobKind.SCHOOL, school_id=first.pk))
    with pytest.raises(PermissionDenied):
        no_id_declare(actor=nurse, entity="student", record_id=other_pupil.pk,
                      reason=NoIdReason.FOREIGN_NATIONAL)
    officer = make_user("officer", Role.AUTHORITY_OFFICER, authority=first.authority)
    job = verification_request(actor=officer, target=Target(JobKind.AUTHORITY,
                                                            authority_id=first.authority_id))
    assert job.persons == Student.objects.count() + Staff.objects.count()
    assert not VerificationJob.objects.filter(kind=JobKind.SCHOOL).exists()
