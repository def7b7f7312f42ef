"""The rescan (batch reads + Polars, a school at a time) stores exactly what the per-record path
stores for the same records: the same states, findings and school and class totals.

The batch reads go through connections of their own, so the data must be committed: these tests
run with ``transaction=True``."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from edureg.quality.models import (
    COUNTER_FIELDS,
    CheckKind,
    FieldGroupCheck,
    Finding,
    QualityTotal,
    RecordState,
    UpstreamPending,
)
from edureg.registry.models import Enrolment, Guardian, SchoolClass, Staff, Student
from edureg.registry.quality import records_refresh, rescan
from edureg.schools.models import School
from edureg.seeding.options import ProblemRates, SeedOptions
from edureg.seeding.services import seed_database

pytestmark = pytest.mark.django_db(transaction=True)

_STATE = ("entity", "record_id", "school_id", "class_id", "required_total", "required_filled",
          "errors", "warnings", "correct_ok", "complete_ok", "clean_ok", "live_ok",
          "status_bits", "rule_set")
_FINDING = ("owner_entity", "owner_id", "school_id", "class_id", "entity", "record_id",
            "rule_code", "field", "dimension", "severity", "weight")
_TOTAL = ("school_id", "class_id", "entity", *COUNTER_FIELDS)


def stored() -> dict[str, Any]:
    return {
        "states": set(RecordState.objects.values_list(*_STATE)),
        "findings": Counter(Finding.objects.values_list(*_FINDING)),
        "totals": set(QualityTotal.objects.values_list(*_TOTAL)),
    }


def _check(entity: str, record_id: int, school_id: int, group: str, kind: str,
           at: dt.datetime, *, ended: bool = False) -> FieldGroupCheck:
    return FieldGroupCheck.objects.create(
        entity=entity, record_id=record_id, school_id=school_id, group=group, kind=kind,
        checked_at=at, ended_at=at if ended else None)


def require_a_database_batch_reads_can_see() -> None:
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.fail("the batch reads use connections of their own and cannot see the in-memory "
                    f"SQLite test database ({connection.settings_dict['NAME']}): the rescan "
                    "needs a test database in a file (DATABASES TEST NAME) or PostgreSQL.")


@pytest.fixture
def small_city(tmp_path: Path) -> dt.date:
    """Three schools of forty pupils with planted problems, their staff, and a few odd cases
    that the seed does not make: attested and verified groups, confirmations, codes outside
    their lists, a pupil without a current enrolment, an ID number shared across tables.
    Returns the evaluation day."""
    result = seed_database(SeedOptions(
        schools=3, students_per_school=40, seed=11, register_path=tmp_path / "register.sqlite3",
        rates=ProblemRates(missing_field=0.15, junk_value=0.15, id_structure=0.15,
                           duplicate=0.05, identity_mismatch=0.1)))
    assert result.created
    day = timezone.localdate() + dt.timedelta(days=200)
    now = timezone.now()
    students = list(Student.objects.order_by("pk"))
    for index, student in enumerate(students):
        if index % 5 == 0:
            _check("student", student.pk, student.school_id, "identity", CheckKind.ATTEST, now)
        if index % 7 == 0:
            _check("student", student.pk, student.school_id, "identity", CheckKind.REGISTER, now)
        if index % 6 == 0:
            _check("student", student.pk, student.school_id, "residence", CheckKind.ATTEST, now,
                   ended=index % 12 == 0)
        if index % 4 == 0:
            _check("student", student.pk, student.school_id, "yearly", CheckKind.CONFIRM,
                   now - dt.timedelta(days=400 * (index % 8 == 0)))
        if index % 9 == 0:  # a change the upstream has not acknowledged yet
            UpstreamPending.objects.create(entity="student", record_id=student.pk, since=now)
    for index, staff in enumerate(Staff.objects.order_by("pk")):
        if index % 3 == 0:
            _check("staff", staff.pk, staff.school_id, "employment", CheckKind.ATTEST, now)
        if index % 4 == 0:
            _check("staff", staff.pk, staff.school_id, "identity", CheckKind.REGISTER, now)
    Student.objects.filter(pk=students[1].pk).update(ethnicity_code="ZZ", phone="12345")
    Student.objects.filter(pk=students[2].pk).update(personal_id_number="07920")
    Student.objects.filter(pk=students[3].pk).update(date_of_birth=day + dt.timedelta(days=3))
    Enrolment.objects.filter(student_id=students[4].pk).update(is_current=False)
    Guardian.objects.filter(pk=Guardian.objects.order_by("pk").values("pk")[:1]).update(
        occupation="asdf", birth_year=1900, phone="0000000000")
    shared = Staff.objects.exclude(personal_id_number=None).order_by("pk").first()
    assert shared is not None
    Student.objects.filter(pk=students[5].pk).update(
        personal_id_number=shared.personal_id_number)
    # A transfer: the pupil's checks were recorded at the school it came from.
    moved, target = students[0], SchoolClass.objects.exclude(school_id=students[0].school_id)[0]
    assert FieldGroupCheck.objects.filter(entity="student", record_id=moved.pk).count() >= 3
    Student.objects.filter(pk=moved.pk).update(school_id=target.school_id, current_class=target)
    Enrolment.objects.filter(student_id=moved.pk, is_current=True).update(
        school_id=target.school_id, school_class=target, school_year_id=target.school_year_id)
    return day


def differences(first: dict[str, Any], second: dict[str, Any]) -> dict[str, list[Any]]:
    """What only one of two stored snapshots has, per table (empty lists: identical)."""
    found: dict[str, list[Any]] = {}
    for name in first:
        if name == "findings":
            only = (first[name] - second[name]) + (second[name] - first[name])
            found[name] = sorted(only.elements())
        else:
            found[name] = sorted(first[name] ^ second[name], key=repr)
    return found


@pytest.mark.parametrize(("schools_per_chunk", "from_empty", "all_ids"), [
    (1, True, False), (100, True, True), (1, True, True), (100, False, False)])
def test_rescan_stores_what_the_per_record_path_stores(small_city: dt.date,
                                                       schools_per_chunk: int,
                                                       from_empty: bool, all_ids: bool) -> None:
    # all_ids: "ID held by someone else" from one read of every table's IDs (as a rescan of
    # many schools does) instead of the per-row probe the per-record path uses.
    require_a_database_batch_reads_can_see()
    day = small_city
    school_ids = list(School.objects.values_list("pk", flat=True))
    records_refresh("student", Student.objects.values_list("pk", flat=True), on=day)
    records_refresh("staff", Staff.objects.values_list("pk", flat=True), on=day)
    per_record = stored()
    assert len({row[6] for row in per_record["findings"]}) >= 15  # a varied set of problems
    assert {row[9] for row in per_record["findings"]} >= {"error", "warning"}
    assert len({row[12] for row in per_record["states"]}) >= 4  # varied status bits
    assert not all(row[11] for row in per_record["states"])  # some not live
    shared = {row[4] for row in per_record["findings"]
              if row[6].endswith(".personal_id_number.shared")}
    assert shared == {"student", "staff"}  # the ID planted on a pupil and a staff member
    if from_empty:
        for model in (RecordState, Finding, QualityTotal):
            model.objects.all().delete()

    rescan("student", school_ids, on=day, schools_per_chunk=schools_per_chunk,
           shared_from_all_ids=all_ids)
    rescan("staff", school_ids, on=day, schools_per_chunk=schools_per_chunk,
           shared_from_all_ids=all_ids)

    assert differences(stored(), per_record) == {"states": [], "findings": [], "totals": []}


def test_rescan_of_some_schools_leaves_the_others_alone(small_city: dt.date) -> None:
    require_a_database_batch_reads_can_see()
    day = small_city
    first, *_others = School.objects.order_by("pk").values_list("pk", flat=True)
    records_refresh("student", Student.objects.values_list("pk", flat=True), on=day)
    before = stored()

    rescan("student", [first], on=day)

    assert stored() == before


def test_a_save_between_a_chunks_read_and_its_write_keeps_its_state(small_city: dt.date) -> None:
    # A teacher saves a pupil while the rescan has read the chunk but not yet written it: the
    # rescan must not put back the state it measured from the older row, and the totals must
    # stay the sum of what is stored.
    from edureg.quality.engine import status_dimension_masks
    from edureg.quality.services import current_rule_set
    from edureg.registry import quality as batch

    require_a_database_batch_reads_can_see()
    day = timezone.localdate()
    school_ids = list(School.objects.values_list("pk", flat=True))
    records_refresh("student", Student.objects.values_list("pk", flat=True), on=day)
    RecordState.objects.all().delete()  # the rescan will rewrite every record ...
    Finding.objects.all().delete()
    rule_set = current_rule_set()
    data = batch._chunk_read(rule_set, "student", sorted(school_ids), day=day, batch=False,
                             own_connection=False)
    saved = Student.objects.order_by("pk").first()
    assert saved is not None
    Student.objects.filter(pk=saved.pk).update(permanent_address="asdf")
    records_refresh("student", [saved.pk], on=day)  # ... but this one was saved meanwhile
    after_save = RecordState.objects.values_list(*_STATE).get(entity="student",
                                                              record_id=saved.pk)

    _, findings, per_owner = batch._evaluate(
        rule_set, "student", data.frames, rule_set.status_rules("student"),
        status_dimension_masks(rule_set, "student"))
    batch._replace_chunk("student", data, per_owner, findings, rule_set)

    assert RecordState.objects.values_list(*_STATE).get(
        entity="student", record_id=saved.pk) == after_save
    assert Finding.objects.filter(owner_id=saved.pk,
                                  rule_code="sach.student.permanent_address.junk").exists()
    assert RecordState.objects.filter(entity="student").count() == Student.objects.count()
    for total in QualityTotal.objects.filter(entity="student", class_id=None):
        states = RecordState.objects.filter(entity="student", school_id=total.school_id)
        assert total.records == states.count()
        assert total.warnings == sum(states.values_list("warnings", flat=True))
        assert total.clean_ok == states.filter(clean_ok=True).count()
