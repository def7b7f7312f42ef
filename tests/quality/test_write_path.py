"""Every student write keeps the quality state current in its own transaction: the record's
state and findings, the school and class totals, and the attestations the write invalidates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from edureg.audit.models import AuditEvent
from edureg.core.catalogue import DEFAULT_FILE, active_catalogue, catalogue_activate, catalogue_load
from edureg.core.codelists import CODE_LIST_DIRS_ENV, get_list
from edureg.quality.models import (
    COUNTER_FIELDS,
    CheckKind,
    FieldGroupCheck,
    Finding,
    QualityTotal,
    RecordState,
)
from edureg.quality.services import current_rule_set
from edureg.registry.models import Student
from edureg.registry.quality import blocking_errors, records_refresh
from edureg.registry.services import student_create, student_update
from tests import factories as f
from tests.conftest import Cast


def state_of(student: Student) -> RecordState:
    return RecordState.objects.get(entity="student", record_id=student.pk)


def finding_codes(student: Student) -> set[tuple[str, int, str]]:
    return set(Finding.objects.filter(owner_entity="student", owner_id=student.pk)
               .values_list("entity", "record_id", "rule_code"))


def status_bit(code: str) -> int:
    rules = current_rule_set().status_rules("student")
    return 1 << [rule.code for rule in rules].index(code)


def fresh_totals() -> dict[tuple[int, int | None, str], dict[str, int]]:
    """School and class counters summed afresh from the record states."""
    totals: dict[tuple[int, int | None, str], dict[str, int]] = {}
    for state in RecordState.objects.all():
        keys = [(state.school_id, None, state.entity)]
        if state.class_id is not None:
            keys.append((state.school_id, state.class_id, state.entity))
        for key in keys:
            counters = totals.setdefault(key, dict.fromkeys(COUNTER_FIELDS, 0))
            counters["records"] += 1
            for name in COUNTER_FIELDS[1:]:
                counters[name] += int(getattr(state, name))
    return totals


def stored_totals() -> dict[tuple[int, int | None, str], dict[str, int]]:
    """The stored totals; a row whose every counter is zero (a class emptied) counts as none."""
    stored = {}
    for total in QualityTotal.objects.all():
        counters = {name: getattr(total, name) for name in COUNTER_FIELDS}
        if any(counters.values()):
            stored[(total.school_id, total.class_id, total.entity)] = counters
    return stored


def attest(student: Student, group: str, kind: str = CheckKind.ATTEST) -> FieldGroupCheck:
    return FieldGroupCheck.objects.create(
        entity="student", record_id=student.pk, school_id=student.school_id, group=group,
        kind=kind, document_type="giay_khai_sinh", checked_at=timezone.now())


# --- state and findings of the record written ---------------------------------------------------

def test_update_stores_the_state_of_the_student_with_its_findings(cast: Cast) -> None:
    student_update(actor=cast.bob, student=cast.an, data={"permanent_address": "asdf"})

    state = state_of(cast.an)
    assert (state.school_id, state.class_id) == (cast.school_a.pk, cast.class_1a.pk)
    assert state.rule_set == current_rule_set().version
    finding = Finding.objects.get(owner_entity="student", owner_id=cast.an.pk,
                                  rule_code="sach.student.permanent_address.junk")
    assert (finding.entity, finding.record_id, finding.field, finding.dimension,
            finding.severity) == ("student", cast.an.pk, "permanent_address", "sach", "warning")
    assert (finding.school_id, finding.class_id) == (cast.school_a.pk, cast.class_1a.pk)
    findings = Finding.objects.filter(owner_entity="student", owner_id=cast.an.pk)
    assert state.warnings == findings.filter(severity="warning").count()
    assert state.errors == findings.filter(severity="error").count() == 0
    assert not state.clean_ok


def test_required_counts_follow_the_catalogue_for_the_school_level_and_status(
        cast: Cast) -> None:
    student_update(actor=cast.bob, student=cast.an, data={
        "date_of_birth": "05/09/2020", "current_address": "12 Lê Lợi"})

    cast.an.refresh_from_db()
    required = active_catalogue().required("student", level=cast.school_a.level, status="01")
    filled = [info.name for info in required if str(getattr(cast.an, info.name) or "").strip()]
    state = state_of(cast.an)
    assert (state.required_total, state.required_filled) == (len(required), len(filled))
    missing = {code for _, _, code in finding_codes(cast.an) if code.startswith("du.")}
    assert missing == {f"du.student.{info.name}" for info in required
                       if info.name not in filled}


def test_fixing_the_field_removes_its_finding(cast: Cast) -> None:
    student_update(actor=cast.bob, student=cast.an, data={"permanent_address": "không có"})
    before = state_of(cast.an)

    student_update(actor=cast.bob, student=cast.an, data={"permanent_address": "12 Lê Lợi"})

    after = state_of(cast.an)
    assert ("student", cast.an.pk, "sach.student.permanent_address.junk") \
        not in finding_codes(cast.an)
    assert after.warnings == before.warnings - 1
    assert after.computed_at >= before.computed_at


def test_the_clean_flag_turns_with_the_last_clean_problem(cast: Cast) -> None:
    attest(cast.an, "identity", CheckKind.REGISTER)  # verified: the only clean status is done
    student_update(actor=cast.bob, student=cast.an, data={"current_address": "xxx"})
    assert not state_of(cast.an).clean_ok

    student_update(actor=cast.bob, student=cast.an, data={"current_address": "12 Lê Lợi"})

    assert state_of(cast.an).clean_ok
    assert state_of(cast.an).status_bits & status_bit("sach.student.identity.unverified") == 0


def test_guardian_problems_count_towards_the_student(cast: Cast) -> None:
    guardian = f.make_guardian(cast.an, phone="0000000000", birth_year=1985)

    student_update(actor=cast.bob, student=cast.an, data={"current_address": "12 Lê Lợi"})

    assert ("guardian", guardian.pk, "sach.guardian.phone.dummy") in finding_codes(cast.an)
    assert not state_of(cast.an).clean_ok


def test_create_stores_the_new_students_state(cast: Cast) -> None:
    result = student_create(actor=cast.alice, school_class=cast.class_1b,
                            data={"full_name": "Võ Thị Mai", "phone": "0912345678"})

    state = state_of(result.student)
    assert (state.school_id, state.class_id) == (cast.school_a.pk, cast.class_1b.pk)
    assert ("student", result.student.pk, "sach.student.phone.dummy") \
        in finding_codes(result.student)
    assert stored_totals() == fresh_totals()


@pytest.mark.parametrize(("actor", "error"), [("dave", Http404), ("carol", PermissionDenied)])
def test_refused_write_leaves_no_quality_state(cast: Cast, actor: str,
                                               error: type[Exception]) -> None:
    with pytest.raises(error):
        student_update(actor=getattr(cast, actor), student=cast.an,
                       data={"permanent_address": "asdf"})

    assert not RecordState.objects.exists()
    assert not Finding.objects.exists()
    assert not QualityTotal.objects.exists()


# --- totals -------------------------------------------------------------------------------------

def test_school_and_class_totals_equal_a_fresh_sum_after_every_write(cast: Cast) -> None:
    def write_pupil_in_1a() -> None:
        student_create(actor=cast.alice, school_class=cast.class_1a,
                       data={"full_name": "Asdf", "date_of_birth": "01/01/2015"})

    def move_binh_to_1a() -> None:
        Student.objects.filter(pk=cast.binh.pk).update(current_class=cast.class_1a)
        records_refresh("student", [cast.binh.pk])

    def verify_an() -> None:
        attest(cast.an, "identity", CheckKind.REGISTER)
        records_refresh("student", [cast.an.pk])

    writes = [
        lambda: student_update(actor=cast.bob, student=cast.an, data={"permanent_address": "asdf"}),
        lambda: student_update(actor=cast.alice, student=cast.binh,
                               data={"date_of_birth": "01/01/2019", "ethnicity_code": "01"}),
        lambda: student_update(actor=cast.dave, student=cast.other_school_student,
                               data={"phone": "0903123456"}),
        write_pupil_in_1a,
        lambda: student_update(actor=cast.bob, student=cast.an,
                               data={"permanent_address": "12 Lê Lợi"}),
        verify_an,
        move_binh_to_1a,
        lambda: student_update(actor=cast.alice, student=cast.binh,
                               data={"date_of_birth": "01/01/2010"}),
        lambda: student_update(actor=cast.bob, student=cast.an,
                               data={"full_name": "Nguyễn Văn Ân"},
                               identity_change_reason="Sửa theo giấy khai sinh"),
    ]
    for number, write in enumerate(writes, start=1):
        write()
        assert stored_totals() == fresh_totals(), f"after write {number}"
    assert {state.class_id for state in RecordState.objects.filter(school_id=cast.school_a.pk)} \
        == {cast.class_1a.pk}


# --- attestations -------------------------------------------------------------------------------

def test_changing_a_field_of_an_attested_group_ends_the_attestation(cast: Cast) -> None:
    identity = attest(cast.an, "identity")
    residence = attest(cast.an, "residence")
    records_refresh("student", [cast.an.pk])
    bit = status_bit("dung.student.attested.identity")
    assert state_of(cast.an).status_bits & bit == 0

    student_update(actor=cast.bob, student=cast.an, data={"full_name": "Nguyễn Văn Ân"})

    identity.refresh_from_db()
    residence.refresh_from_db()
    assert identity.ended_at is not None
    assert residence.ended_at is None
    assert state_of(cast.an).status_bits & bit == bit
    assert state_of(cast.an).status_bits & status_bit("dung.student.attested.residence") == 0


def test_changing_a_field_outside_the_group_keeps_the_attestation(cast: Cast) -> None:
    identity = attest(cast.an, "identity")

    student_update(actor=cast.bob, student=cast.an, data={"current_address": "12 Lê Lợi"})

    identity.refresh_from_db()
    assert identity.ended_at is None
    assert state_of(cast.an).status_bits & status_bit("dung.student.attested.identity") == 0


def test_a_write_confirms_the_update_groups_of_the_fields_it_changed(cast: Cast) -> None:
    student_update(actor=cast.bob, student=cast.an, data={"current_address": "12 Lê Lợi"})

    change = FieldGroupCheck.objects.get(entity="student", record_id=cast.an.pk,
                                         kind=CheckKind.CHANGE)
    assert (change.group, change.checked_by_id) == ("yearly", cast.bob.pk)


# --- errors block the write ---------------------------------------------------------------------

def test_blocking_errors_name_only_the_changed_fields_with_error_findings(cast: Cast) -> None:
    pupil = f.make_student(cast.class_1a, "Trần Văn Hải", ethnicity_code="ZZ",
                           phone="0000000000")
    records_refresh("student", [pupil.pk])
    message = current_rule_set().get("dung.student.ethnicity_code.code").message

    assert blocking_errors("student", pupil.pk, ["ethnicity_code", "full_name"]) == {
        "ethnicity_code": [message]}
    assert blocking_errors("student", pupil.pk, ["phone"]) == {}  # a warning does not block
    assert blocking_errors("student", pupil.pk, ["full_name"]) == {}
    assert blocking_errors("student", cast.an.pk, ["ethnicity_code"]) == {}


def test_an_error_on_a_field_the_write_did_not_touch_does_not_block_it(cast: Cast) -> None:
    pupil = f.make_student(cast.class_1a, "Trần Văn Hải", ethnicity_code="ZZ")

    student_update(actor=cast.bob, student=pupil, data={"current_address": "12 Lê Lợi"})

    pupil.refresh_from_db()
    assert pupil.current_address == "12 Lê Lợi"
    assert ("student", pupil.pk, "dung.student.ethnicity_code.code") in finding_codes(pupil)
    assert state_of(pupil).errors == 1


def test_correcting_the_field_with_an_error_clears_it(cast: Cast) -> None:
    pupil = f.make_student(cast.class_1a, "Trần Văn Hải", ethnicity_code="ZZ")

    student_update(actor=cast.bob, student=pupil, data={"ethnicity_code": "Kinh"})

    assert state_of(pupil).errors == 0
    assert ("student", pupil.pk, "dung.student.ethnicity_code.code") not in finding_codes(pupil)


@pytest.fixture
def birthplace_coded_by_province(db: None) -> Iterator[None]:
    """A field catalogue that codes "nơi sinh (nguyên văn)" by the province list: the form
    still takes free text there, so the rule (an error) is reachable through the service."""
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    block = 'name = "birthplace_text"\n'
    assert text.count(block) == 1
    text = text.replace('version = "2025.1"', 'version = "2025.1-quality-test"', 1)
    text = text.replace(block, block + 'code_list = "province"\n')
    shipped = active_catalogue().version
    catalogue_load(text)
    yield
    catalogue_activate(shipped)  # also empties the catalogue cache before the rollback


def test_a_write_whose_changed_field_has_an_error_is_refused_and_nothing_is_kept(
        cast: Cast, birthplace_coded_by_province: None) -> None:
    identity = attest(cast.an, "identity")
    student_update(actor=cast.bob, student=cast.an, data={"current_address": "12 Lê Lợi"})
    snapshot: dict[str, Any] = {
        "student": Student.objects.filter(pk=cast.an.pk).values().get(),
        "state": RecordState.objects.values().get(record_id=cast.an.pk),
        "findings": sorted(Finding.objects.values_list()),
        "totals": sorted(QualityTotal.objects.values_list()),
        "checks": sorted(FieldGroupCheck.objects.values_list()),
        "audit": AuditEvent.objects.count(),
    }

    with pytest.raises(ValidationError) as refused:
        student_update(actor=cast.bob, student=cast.an,
                       data={"birthplace_text": "Bệnh viện Từ Dũ"})

    assert list(refused.value.message_dict) == ["birthplace_text"]
    identity.refresh_from_db()
    assert identity.ended_at is None
    assert snapshot == {
        "student": Student.objects.filter(pk=cast.an.pk).values().get(),
        "state": RecordState.objects.values().get(record_id=cast.an.pk),
        "findings": sorted(Finding.objects.values_list()),
        "totals": sorted(QualityTotal.objects.values_list()),
        "checks": sorted(FieldGroupCheck.objects.values_list()),
        "audit": AuditEvent.objects.count(),
    }


def test_rules_follow_a_new_version_of_a_code_list(cast: Cast, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A running server has its rules built; the authority then publishes a new version of
    the disability list with a new code. The form accepts the code; the rules must too."""
    current_rule_set()
    shipped = get_list("disability")
    newer = {
        "name": "disability", "version": "2026.1", "valid_from": "2025-06-01",
        "source": "test: a new code",
        "entries": [{"code": e.code, "name": e.name} for e in shipped.entries]
        + [{"code": "77", "name": "Khuyết tật mới"}],
    }
    (tmp_path / "disability").mkdir()
    (tmp_path / "disability" / "2026.1.json").write_text(json.dumps(newer), encoding="utf-8")
    monkeypatch.setenv(CODE_LIST_DIRS_ENV, str(tmp_path))
    assert get_list("disability").version == "2026.1"

    student_update(actor=cast.bob, student=cast.an, data={"disability_code": "77"})

    cast.an.refresh_from_db()
    assert cast.an.disability_code == "77"
    assert ("student", cast.an.pk, "dung.student.disability_code.code") \
        not in finding_codes(cast.an)


# --- a rescan inside the caller's transaction ---------------------------------------------------

def test_rescan_in_an_uncommitted_transaction_measures_its_own_rows(cast: Cast) -> None:
    # The test's transaction is never committed (a seed run inside one is the same case): the
    # rescan must read what this connection wrote, not wait on or miss it through another one.
    from edureg.registry.quality import rescan

    Student.objects.filter(pk=cast.an.pk).update(permanent_address="asdf")
    RecordState.objects.all().delete()
    Finding.objects.all().delete()

    report = rescan("student", [cast.school_a.pk])

    assert report.records == Student.objects.filter(school_id=cast.school_a.pk).count()
    assert ("student", cast.an.pk, "sach.student.permanent_address.junk") in finding_codes(cast.an)
    rescanned = (state_of(cast.an).errors, state_of(cast.an).warnings, finding_codes(cast.an))
    records_refresh("student", [cast.an.pk])
    assert (state_of(cast.an).errors, state_of(cast.an).warnings,
            finding_codes(cast.an)) == rescanned
