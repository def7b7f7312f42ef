"""``edureg seed``: realistic, reproducible demo data with known planted problems."""

from __future__ import annotations

import hashlib
import math
import sqlite3
from collections import Counter
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from edureg.access.models import Membership, User
from edureg.audit.models import AuditEvent
from edureg.audit.services import audit_record, audit_verify_chain
from edureg.core.personal_id import check_personal_id
from edureg.core.text import name_match_key, vietnamese_sort_key
from edureg.registry.models import (
    Assignment,
    Enrolment,
    EnrolmentStatusChange,
    Guardian,
    SchoolClass,
    Staff,
    Student,
    StudentGuardian,
)
from edureg.schools.models import Authority, School, SchoolYear
from edureg.seeding.demo import demo_logins
from edureg.seeding.options import DEFAULT_DEMO_PASSWORD, DEFAULT_RATES
from edureg.seeding.services import current_start_year

pytestmark = pytest.mark.django_db

Seed = Callable[..., str]


@pytest.fixture
def register_path(tmp_path: Path, settings: Any) -> Path:
    path = tmp_path / "register.sqlite3"
    settings.EDUREG_REGISTER_SIM_DB = path
    return path


@pytest.fixture
def seed(register_path: Path) -> Seed:
    def run(*args: str, schools: int = 2, students: int = 40, seed: int = 7) -> str:
        out = StringIO()
        call_command("seed", "--schools", str(schools), "--students-per-school", str(students),
                     "--seed", str(seed), *args, stdout=out)
        return out.getvalue()
    return run


def planted(register_path: Path) -> list[tuple[str, str, int, int | None, str, str]]:
    with sqlite3.connect(register_path) as connection:
        return connection.execute(
            "SELECT kind, entity, record_id, other_record_id, field, detail FROM planted_problem"
        ).fetchall()


def register_person(register_path: Path, number: str) -> tuple[str, str, str] | None:
    with sqlite3.connect(register_path) as connection:
        row = connection.execute(
            "SELECT full_name, date_of_birth, sex FROM person WHERE personal_id_number = ?",
            (number,),
        ).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def digest() -> str:
    parts: list[str] = []
    for model, fields in (
        (School, ("id", "code", "name", "level", "ownership", "commune_code")),
        (SchoolClass, ("id", "name", "grade", "homeroom_teacher_id")),
        (Staff, ("id", "full_name", "personal_id_number", "user_id", "job_position_code")),
        (User, ("id", "username", "password")),
        (Student, ("id", "full_name", "name_sort_key", "date_of_birth", "sex",
                   "personal_id_number", "education_id", "temporary_code", "ethnicity_code",
                   "permanent_address", "current_class_id", "created_at")),
        (Guardian, ("id", "full_name", "phone", "personal_id_number", "birth_year")),
        (StudentGuardian, ("student_id", "guardian_id", "relation_code")),
        (Enrolment, ("id", "student_id", "school_class_id", "status_code")),
    ):
        for row in model.objects.order_by("pk").values_list(*fields):  # type: ignore[attr-defined]
            parts.append(repr(row))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def test_seed_builds_an_authority_with_schools_classes_staff_and_pupils(seed: Seed) -> None:
    output = seed()

    assert "Đã tạo dữ liệu mẫu" in output
    authority = Authority.objects.get()
    assert authority.province_code == "79"
    assert School.objects.filter(authority=authority).count() == 2
    start_year = current_start_year(timezone.localdate())
    for year in SchoolYear.objects.all():
        assert (year.start_year, year.starts_on.month, year.starts_on.day) == (start_year, 9, 5)
        assert (year.ends_on.year, year.ends_on.month, year.ends_on.day) == (start_year + 1, 5, 31)
    assert Student.objects.count() == 80
    assert Student.objects.filter(current_class__isnull=True).count() == 0
    enrolments = Enrolment.objects.filter(is_current=True)
    assert enrolments.count() == 80
    assert set(enrolments.values_list("status_code", flat=True)) == {"01"}
    assert EnrolmentStatusChange.objects.count() == 80
    for student in Student.objects.select_related("current_class"):
        assert student.current_class is not None
        assert student.current_class.school_id == student.school_id
        assert student.code_versions["ethnicity"]
    assert Guardian.objects.count() >= 80
    assert not Student.objects.annotate(n=Count("guardian_links")).filter(n=0).exists()


def test_classes_have_30_to_45_pupils_and_a_homeroom_teacher(seed: Seed) -> None:
    seed(schools=2, students=400)

    sizes = Student.objects.values("current_class").annotate(n=Count("id"))
    assert sizes
    assert all(30 <= row["n"] <= 45 for row in sizes)
    for school_class in SchoolClass.objects.all():
        teacher = school_class.homeroom_teacher
        assert teacher is not None
        assert Assignment.objects.filter(staff=teacher, school_class=school_class,
                                         duty="homeroom").exists()
        assert Membership.objects.filter(user_id=teacher.user_id, role="homeroom_teacher",
                                         school_id=school_class.school_id).exists()


def test_every_staff_member_has_an_account_and_a_matching_role(seed: Seed) -> None:
    seed()

    roles = Counter(Membership.objects.filter(school__isnull=False)
                    .values_list("role", flat=True))
    assert roles["principal"] == 2
    assert roles["records_clerk"] == roles["school_nurse"] == roles["it_officer"] == 2
    assert Staff.objects.filter(user__isnull=True).count() == 0
    assert Membership.objects.filter(school__isnull=True).count() == 2
    assert all(staff.position_group_code and staff.job_position_code
               for staff in Staff.objects.all())


def test_every_name_carries_its_sort_and_match_keys(seed: Seed) -> None:
    seed()

    for model in (Student, Guardian, Staff):
        for full_name, sort_key, match_key in model.objects.values_list(  # type: ignore[attr-defined]
            "full_name", "name_sort_key", "name_match_key"
        ):
            assert sort_key == vietnamese_sort_key(full_name)
            assert match_key == name_match_key(full_name)


def test_ages_fit_the_grade_except_a_few_older_pupils(seed: Seed) -> None:
    seed(schools=3, students=200)

    start_year = current_start_year(timezone.localdate())
    misfits = 0
    students = Student.objects.exclude(date_of_birth=None).select_related("current_class")
    for student in students:
        assert student.current_class is not None
        assert student.date_of_birth is not None
        grade = student.current_class.grade
        if grade == 0:
            continue
        expected = start_year - 5 - grade  # grade 1 in the calendar year the child turns 6
        if student.date_of_birth.year not in (expected, expected - 1, expected - 2):
            misfits += 1
    # Only duplicates placed in a class of another grade may miss.
    assert misfits <= 0.02 * students.count()


def test_personal_ids_are_12_digits_and_warnings_come_only_from_planted_problems(
    seed: Seed, register_path: Path
) -> None:
    seed(schools=3, students=300)

    truth = planted(register_path)
    allowed = {record for kind, entity, record, *_ in truth
               if entity == "student" and kind in ("id_structure", "identity_mismatch")}
    with_id = Student.objects.exclude(personal_id_number=None)
    warned = set()
    for student in with_id:
        number = student.personal_id_number
        assert number is not None
        assert len(number) == 12
        assert number.isdigit()
        if check_personal_id(number, date_of_birth=student.date_of_birth, sex=student.sex):
            warned.add(student.pk)
    assert warned
    assert warned <= allowed
    assert len(warned) < 0.05 * with_id.count()
    assert with_id.count() > 0.85 * Student.objects.count()


def test_planted_problems_follow_the_configured_rates(seed: Seed, register_path: Path) -> None:
    seed(schools=4, students=500, seed=11)

    students = Student.objects.count()
    kinds = Counter(kind for kind, entity, *_ in planted(register_path) if entity == "student")
    kinds["identity_mismatch"] += kinds.pop("not_in_register", 0)
    for kind, rate in DEFAULT_RATES.as_dict().items():
        expected = rate * students
        assert abs(kinds[kind] - expected) <= 4 * math.sqrt(expected) + 3, (kind, kinds[kind])


def test_problem_rates_can_be_turned_off(seed: Seed, register_path: Path) -> None:
    seed("--problem-rate", "0")

    assert {kind for kind, *_ in planted(register_path)} <= {"no_personal_id", "no_education_id",
                                                             "age_grade"}


def test_ground_truth_points_at_real_rows_and_register_holds_true_values(
    seed: Seed, register_path: Path
) -> None:
    seed("--identity-mismatch-rate", "0.2", "--duplicate-rate", "0.1", schools=2,
         students=200)

    truth = planted(register_path)
    seen = Counter(kind for kind, *_ in truth)
    assert seen["identity_mismatch"]
    assert seen["duplicate"]
    assert seen["not_in_register"]
    for kind, entity, record_id, other_id, field, _detail in truth:
        model = Student if entity == "student" else Guardian
        assert model.objects.filter(pk=record_id).exists()
        if kind == "duplicate":
            assert other_id is not None
            assert model.objects.filter(pk=other_id).exists()
            if entity == "student":
                duplicate = Student.objects.get(pk=record_id)
                original = Student.objects.get(pk=other_id)
                assert duplicate.personal_id_number is None
                assert duplicate.current_class_id != original.current_class_id
                assert duplicate.name_match_key.split()[0] == original.name_match_key.split()[0]
        if kind == "identity_mismatch":
            student = Student.objects.get(pk=record_id)
            assert student.personal_id_number is not None
            person = register_person(register_path, student.personal_id_number)
            assert person is not None
            record = (student.full_name, str(student.date_of_birth), student.sex)
            index = {"full_name": 0, "date_of_birth": 1, "sex": 2}[field]
            assert person[index] != record[index]
        if kind == "not_in_register":
            student = Student.objects.get(pk=record_id)
            assert student.personal_id_number is not None
            assert register_person(register_path, student.personal_id_number) is None
    flagged = {record_id for _kind, entity, record_id, *_ in truth if entity == "student"}
    for student in Student.objects.exclude(personal_id_number=None).exclude(pk__in=flagged):
        assert student.personal_id_number is not None
        assert register_person(register_path, student.personal_id_number) == (
            student.full_name, str(student.date_of_birth), student.sex
        )


def test_same_seed_gives_identical_rows(seed: Seed, register_path: Path) -> None:
    seed(schools=2, students=60, seed=5)
    first = digest()
    with sqlite3.connect(register_path) as connection:
        first_register = connection.execute(
            "SELECT * FROM person ORDER BY personal_id_number"
        ).fetchall()

    # --reset empties the seeded tables, so the second run starts from the same state.
    seed("--reset", schools=2, students=60, seed=5)

    assert digest() == first
    with sqlite3.connect(register_path) as connection:
        assert connection.execute(
            "SELECT * FROM person ORDER BY personal_id_number"
        ).fetchall() == first_register


def test_another_seed_gives_other_rows(seed: Seed) -> None:
    seed(seed=5)
    first = digest()

    seed("--reset", seed=6)

    assert digest() != first


def test_second_run_changes_nothing(seed: Seed) -> None:
    seed()
    before = (Student.objects.count(), User.objects.count(), AuditEvent.objects.count())

    output = seed(schools=5)

    assert "không thay đổi gì" in output
    assert (Student.objects.count(), User.objects.count(),
            AuditEvent.objects.count()) == before


def test_reset_is_refused_after_real_use(seed: Seed) -> None:
    seed()
    with transaction.atomic():
        audit_record(actor=User.objects.first(), action="student.update", entity="student")

    with pytest.raises(CommandError, match="--reset"):
        seed("--reset")
    assert Student.objects.count() == 80


def test_one_audit_event_records_the_bulk_load(seed: Seed) -> None:
    seed()

    event = AuditEvent.objects.get(action="seed.bulk_load")
    assert event.data["counts"]["registry.Student"] == 80
    assert audit_verify_chain() is None


def test_demo_users_log_in_with_the_printed_password(seed: Seed) -> None:
    output = seed()

    assert DEFAULT_DEMO_PASSWORD in output
    for username in ("hieutruong.79000001", "gvcn.1a.79000001", "canbo.sgd79",
                     "quantri.sgd79"):
        assert username in output
        assert authenticate(username=username, password=DEFAULT_DEMO_PASSWORD) is not None
    other_principal = User.objects.get(username="hieutruong.79000002")
    assert not other_principal.has_usable_password()
    assert authenticate(username="hieutruong.79000002", password=DEFAULT_DEMO_PASSWORD) is None


def test_demo_password_can_be_chosen(seed: Seed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDUREG_DEMO_PASSWORD", "Truong-Demo-2026!")

    seed(schools=1)

    assert authenticate(username="hieutruong.79000001", password="Truong-Demo-2026!")


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--schools", "0"], "--schools"),
        (["--students-per-school", "-5"], "--students-per-school"),
        (["--missing-rate", "1.5"], "--missing-rate"),
        (["--junk-rate", "-0.1"], "--junk-rate"),
        (["--problem-rate", "2"], "--problem-rate"),
        (["--demo-password", "1234567890"], "--demo-password"),
        (["--schools", "ba"], "--schools"),
    ],
)
def test_bad_options_are_rejected_in_vietnamese(register_path: Path, args: list[str],
                                                option: str) -> None:
    with pytest.raises(CommandError) as error:
        # argparse keeps the last value of a repeated option: the bad one.
        call_command("seed", "--schools", "1", "--students-per-school", "40", *args,
                     stdout=StringIO())

    assert option in str(error.value)
    assert not Authority.objects.exists()


def test_demo_logins_lists_one_account_per_role_with_a_working_password(seed: Seed) -> None:
    seed()

    logins = demo_logins()

    assert [login.username for login in logins][:3] == [
        "canbo.sgd79", "quantri.sgd79", "hieutruong.79000001"
    ]
    assert len({login.role for login in logins}) == len(logins) == 9
    assert authenticate(username=logins[-1].username, password=logins[-1].password)


def test_demo_logins_is_empty_before_seeding() -> None:
    assert demo_logins() == []
