"""The figures of every shipped definition on seeded data equal counts made independently, in
Python, from the seeded rows (before suppression: the grouped query; after it: every shown
cell)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from django.utils import timezone

from edureg.core.codelists import get_list
from edureg.quality.models import DailySnapshot, QualityTotal
from edureg.registry.models import Enrolment, SchoolClass, Staff
from edureg.reports.queries import Scope, run_query
from edureg.reports.services import definition_get, report_generate
from edureg.reports.spec import parse_spec
from edureg.reports.tables import TOTAL_KEY
from edureg.schools.models import Authority, School
from edureg.seeding.options import SeedOptions
from edureg.seeding.services import seed_database

AS_OF = dt.date(2026, 10, 15)


@pytest.fixture
def seeded(db: None, tmp_path: Path) -> Authority:
    result = seed_database(
        SeedOptions(
            schools=3, students_per_school=120, seed=5, register_path=tmp_path / "register.sqlite3"
        )
    )
    assert result.created
    return Authority.objects.get()


def _grouped(code: str, authority: Authority) -> Counter[tuple[object, ...]]:
    spec = parse_spec(definition_get(code).spec)
    grouped = run_query(spec, as_of=AS_OF, scope=Scope(authority_id=authority.pk))
    width = len(grouped.dimensions)
    return Counter({tuple(row[:width]): int(row[width]) for row in grouped.rows})


def _pupils() -> list[Enrolment]:
    active = {e.code for e in get_list("enrolment_status").entries if e.flag("active")}
    return [
        e
        for e in Enrolment.objects.select_related("student")
        if e.started_on <= AS_OF
        and (e.ended_on is None or e.ended_on >= AS_OF)
        and e.student.merged_into_id is None
        and e.status_code in active
    ]


def _age(born: dt.date) -> int:
    return AS_OF.year - born.year - ((AS_OF.month, AS_OF.day) < (born.month, born.day))


def _band(born: dt.date | None) -> str:
    if born is None:
        return ""
    age = _age(born)
    for code, limit in (("duoi_30", 30), ("30_39", 40), ("40_49", 50), ("50_59", 60)):
        if age < limit:
            return code
    return "tu_60"


def test_pupil_tables_count_the_seeded_enrolments(seeded: Authority) -> None:
    pupils = _pupils()
    assert pupils
    assert _grouped("hoc_sinh_khoi_gioi_tinh", seeded) == Counter(
        (e.grade, e.student.sex) for e in pupils
    )
    assert _grouped("hoc_sinh_dan_toc", seeded) == Counter(
        (e.student.ethnicity_code, e.student.sex) for e in pupils
    )
    assert _grouped("hoc_sinh_khuyet_tat", seeded) == Counter(
        (e.student.disability_code, e.grade)
        for e in pupils
        if e.student.disability_code not in ("", "00")
    )


def test_shown_cells_equal_the_independent_counts(seeded: Authority) -> None:
    expected = Counter((e.grade, e.student.sex) for e in _pupils())
    table = report_generate(
        actor=None, definition="hoc_sinh_khoi_gioi_tinh", as_of=AS_OF, authority=seeded
    )
    shown = 0
    for row in table.rows:
        for cell in row.cells:
            if cell.column == TOTAL_KEY:
                by_grade = sum(n for (grade, _), n in expected.items() if str(grade) == row.key)
                assert cell.value in (None, by_grade)
            elif cell.value is not None:
                assert cell.value == expected[(int(row.key), cell.column)]
                shown += 1
    assert shown
    assert table.total is not None
    assert table.total.cells[-1].value == sum(expected.values())


def test_staff_tables_count_the_seeded_staff(seeded: Authority) -> None:
    active = {e.code for e in get_list("employment_status").entries if e.flag("active")}
    end = timezone.make_aware(dt.datetime.combine(AS_OF + dt.timedelta(days=1), dt.time()))
    staff = [
        s for s in Staff.objects.all() if s.created_at < end and s.employment_status_code in active
    ]
    assert staff
    assert _grouped("can_bo_vi_tri_gioi_tinh", seeded) == Counter(
        (s.job_position_code, s.sex) for s in staff
    )
    assert _grouped("can_bo_trinh_do", seeded) == Counter(
        (s.qualification_code, s.position_group_code) for s in staff
    )
    assert _grouped("can_bo_tuoi_gioi_tinh", seeded) == Counter(
        (_band(s.date_of_birth), s.sex) for s in staff
    )


def test_class_tables_count_classes_and_their_pupils(seeded: Authority) -> None:
    size = Counter(e.school_class_id for e in _pupils())
    classes = list(SchoolClass.objects.all())
    table = report_generate(actor=None, definition="lop_si_so", as_of=AS_OF, authority=seeded)
    for row in table.rows:
        grade_classes = [k for k in classes if str(k.grade) == row.key]
        counted = sum(size[k.pk] for k in grade_classes)
        assert row.cells[0].value == len(grade_classes)
        assert row.cells[1].value == counted
        assert row.cells[2].value == round(counted / len(grade_classes), 1)
    assert table.total is not None
    assert table.total.cells[1].value == sum(size.values())


def test_quality_table_today_reads_the_live_totals(seeded: Authority) -> None:
    for n, school in enumerate(School.objects.order_by("pk")):
        QualityTotal.objects.create(
            school_id=school.pk,
            entity="student",
            records=100 + n,
            correct_ok=40 + n,
            complete_ok=90,
            clean_ok=30,
            live_ok=80,
        )
        QualityTotal.objects.create(
            school_id=school.pk,
            entity="staff",
            records=1,
            correct_ok=1,
            complete_ok=1,
            clean_ok=0,
            live_ok=1,
        )
    table = report_generate(
        actor=None,
        definition="chat_luong_du_lieu",
        as_of=timezone.localdate(),
        schools=School.objects.all(),
    )
    rows = {row.key: row for row in table.rows}
    # Three staff records: "<5", and the pupils' 303 hidden with them (the total is shown).
    assert rows["staff"].cells[0].text == "<5"
    assert rows["student"].cells[0].text == "x"
    assert {cell.text for cell in rows["staff"].cells[1:]} == {"x"}  # percentages hide too
    assert table.total is not None
    assert table.total.cells[1].value == round((123 + 3) / 306 * 100, 1)
    assert table.total is not None
    assert table.total.cells[0].value == 306


def test_quality_table_of_a_past_date_reads_the_newest_snapshot_by_then(seeded: Authority) -> None:
    school = School.objects.order_by("pk").first()
    assert school is not None
    for day, records in (
        (dt.date(2026, 10, 1), 50),
        (dt.date(2026, 10, 10), 60),
        (dt.date(2026, 10, 20), 70),
    ):
        DailySnapshot.objects.create(
            school_id=school.pk, entity="student", day=day, records=records, correct_ok=records // 2
        )
    table = report_generate(
        actor=None, definition="chat_luong_du_lieu", as_of=AS_OF, schools=[school]
    )
    assert [row.cells[0].value for row in table.rows] == [60]
    assert table.rows[0].cells[1].value == 50.0
