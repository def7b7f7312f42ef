"""Reports generated from live data: who may ask for what, dates that cannot be reported, the
figures as of a date staying the same after later changes, and exports without persons."""

from __future__ import annotations

import datetime as dt
import io
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.http import Http404
from django.utils import timezone

from edureg.registry.models import Enrolment, SchoolClass, Staff, Student
from edureg.registry.services import Placement, students_place_many
from edureg.registry.transfers import transfer_accept, transfer_request
from edureg.reports.exports import table_pdf, table_xlsx
from edureg.reports.services import ReportRefused, definition_load, report_generate
from edureg.reports.tables import COMPLEMENTARY, PRIMARY, TOTAL_KEY, ReportTable
from tests import factories as f
from tests.conftest import Cast

BEFORE = dt.date(2026, 10, 1)
CHANGED = dt.date(2026, 11, 10)


def _pupils(school_class: SchoolClass, count: int, sex: str, **fields: Any) -> list[Student]:
    return [
        f.make_student(school_class, f"Học Sinh {sex} {school_class.name} {n}", sex=sex, **fields)
        for n in range(count)
    ]


@pytest.fixture
def classes(cast: Cast) -> Cast:
    """School A: 1A with 8 boys and 7 girls (with An), 1B with 6 boys and 6 girls (with
    Bình); school B: one class of 12 more pupils."""
    _pupils(cast.class_1a, 7, "M")
    _pupils(cast.class_1a, 7, "F")
    class_2a = f.make_class(cast.school_a, "2A", grade=2)
    _pupils(class_2a, 6, "M")
    _pupils(class_2a, 5, "F", disability_code="01")
    _pupils(cast.class_1b, 6, "M")
    _pupils(cast.class_1b, 5, "F")
    _pupils(cast.class_b, 12, "F")
    return cast


def cells(table: ReportTable) -> dict[tuple[str, str], str]:
    return {(row.key, cell.column): cell.text for row in table.all_rows for cell in row.cells}


def test_pupils_by_grade_and_sex_for_one_school(classes: Cast) -> None:
    table = report_generate(
        actor=classes.alice,
        definition="hoc_sinh_khoi_gioi_tinh",
        as_of=BEFORE,
        schools=[classes.school_a],
    )
    shown = cells(table)
    # Grade 1: An + 7 + 6 boys, Bình + 7 + 5 girls; grade 2: 6 boys, 5 girls.
    assert shown[("1", "M")] == "14"
    assert shown[("1", "F")] == "13"
    assert shown[("2", "M")] == "6"
    assert shown[("2", "F")] == "5"
    assert shown[(TOTAL_KEY, TOTAL_KEY)] == "38"
    assert table.provenance.definition == "hoc_sinh_khoi_gioi_tinh"
    assert table.provenance.as_of == BEFORE
    assert "01/10/2026" in table.provenance.describe()


def test_small_counts_are_hidden_with_a_partner(classes: Cast) -> None:
    table = report_generate(
        actor=classes.erin,
        definition="hoc_sinh_khuyet_tat",
        as_of=BEFORE,
        authority=classes.school_a.authority,
    )
    # Only five pupils with a disability, all in grade 2: one row, nothing small.
    assert cells(table)[("01", "2")] == "5"
    f.make_student(classes.class_1a, "Em Một", sex="M", disability_code="03")
    table = report_generate(
        actor=classes.erin,
        definition="hoc_sinh_khuyet_tat",
        as_of=BEFORE,
        authority=classes.school_a.authority,
    )
    by_status = {
        (row.key, cell.column): cell.suppressed for row in table.all_rows for cell in row.cells
    }
    assert by_status[("03", "1")] == PRIMARY
    assert cells(table)[("03", "1")] == "<5"
    # The grade-1 column total and the "visual" row total are the same single pupil: both
    # small; whatever is hidden, no line has exactly one hidden entry.
    for row in table.all_rows:
        assert sum(1 for cell in row.cells if cell.suppressed) != 1
    for column in table.columns:
        column_cells = [row.cells[table.columns.index(column)] for row in table.all_rows]
        assert sum(1 for cell in column_cells if cell.suppressed) != 1
    assert all(
        cell.value is None
        for row in table.all_rows
        for cell in row.cells
        if cell.suppressed in (PRIMARY, COMPLEMENTARY)
    )


def test_report_as_of_a_date_does_not_move_after_later_changes(classes: Cast) -> None:
    definitions = ("hoc_sinh_khoi_gioi_tinh", "bien_dong_trang_thai", "lop_si_so")
    before = {
        code: report_generate(
            actor=classes.erin, definition=code, as_of=BEFORE, authority=classes.school_a.authority
        ).as_dict()
        for code in definitions
    }
    # After the date: a pupil drops out, one moves to school B, one new pupil arrives.
    students_place_many(
        actor=classes.alice,
        items=[Placement(student=classes.binh, status_code="04", effective_on=CHANGED)],
    )
    transfer = transfer_request(
        actor=classes.alice, student=classes.an, to_school=classes.school_b, effective_on=CHANGED
    )
    transfer_accept(actor=classes.dave, transfer=transfer, school_class=classes.class_b)
    newcomer = f.make_student(classes.class_1a, "Người Mới", sex="F")
    Enrolment.objects.filter(student=newcomer).update(started_on=CHANGED, status_since=CHANGED)
    after = {
        code: report_generate(
            actor=classes.erin, definition=code, as_of=BEFORE, authority=classes.school_a.authority
        ).as_dict()
        for code in definitions
    }
    assert after == before
    today = timezone.localdate()
    school_a = cells(
        report_generate(
            actor=classes.alice,
            definition="hoc_sinh_khoi_gioi_tinh",
            as_of=today,
            schools=[classes.school_a],
        )
    )
    assert school_a[(TOTAL_KEY, TOTAL_KEY)] == "37"  # 38 − Bình − An + the newcomer
    changes = cells(
        report_generate(
            actor=classes.erin,
            definition="bien_dong_trang_thai",
            as_of=today,
            authority=classes.school_a.authority,
        )
    )
    assert {key for key, text in changes.items() if key[1] == TOTAL_KEY} >= {
        ("02", TOTAL_KEY),
        ("03", TOTAL_KEY),
        ("04", TOTAL_KEY),
    }
    assert changes[(TOTAL_KEY, TOTAL_KEY)] == "<5"  # three changes: moved in, out, dropped


def test_a_principal_reports_on_their_school_only(classes: Cast) -> None:
    with pytest.raises(Http404):
        report_generate(
            actor=classes.dave,
            definition="hoc_sinh_khoi_gioi_tinh",
            as_of=BEFORE,
            schools=[classes.school_a],
        )
    with pytest.raises(Http404):
        report_generate(
            actor=classes.alice,
            definition="hoc_sinh_khoi_gioi_tinh",
            as_of=BEFORE,
            schools=[classes.school_a, classes.school_b],
        )
    with pytest.raises(Http404):
        report_generate(
            actor=classes.alice,
            definition="hoc_sinh_khoi_gioi_tinh",
            as_of=BEFORE,
            authority=classes.school_a.authority,
        )


def test_report_requires_the_report_permission(classes: Cast) -> None:
    with pytest.raises(PermissionDenied):
        report_generate(
            actor=classes.bob,
            definition="hoc_sinh_khoi_gioi_tinh",
            as_of=BEFORE,
            schools=[classes.school_a],
        )


def test_authority_officer_reports_on_any_school_of_the_authority(classes: Cast) -> None:
    table = report_generate(
        actor=classes.erin,
        definition="hoc_sinh_khoi_gioi_tinh",
        as_of=BEFORE,
        schools=[classes.school_b],
    )
    assert cells(table)[(TOTAL_KEY, TOTAL_KEY)] == "13"


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        (dt.date(2026, 9, 4), "trước khi có số liệu"),
        (dt.date(2000, 1, 1), "bắt đầu từ ngày 05/09/2026"),
        (None, "ở tương lai"),  # tomorrow
    ],
)
def test_dates_that_cannot_be_reported_are_refused(
    classes: Cast, as_of: dt.date | None, message: str
) -> None:
    as_of = as_of or timezone.localdate() + dt.timedelta(days=1)
    with pytest.raises(ReportRefused) as refused:
        report_generate(
            actor=classes.alice,
            definition="hoc_sinh_khoi_gioi_tinh",
            as_of=as_of,
            schools=[classes.school_a],
        )
    assert message in refused.value.message


def test_unknown_definition_is_refused_with_the_known_ones(classes: Cast) -> None:
    with pytest.raises(ReportRefused, match="hoc_sinh_khoi_gioi_tinh"):
        report_generate(
            actor=classes.alice, definition="khong_co", as_of=BEFORE, schools=[classes.school_a]
        )


def test_exports_carry_the_figures_and_no_person(classes: Cast) -> None:
    table = report_generate(
        actor=classes.erin,
        definition="hoc_sinh_khoi_gioi_tinh",
        as_of=BEFORE,
        authority=classes.school_a.authority,
    )
    workbook = zipfile.ZipFile(io.BytesIO(table_xlsx(table)))
    text = "".join(
        workbook.read(name).decode("utf-8") for name in workbook.namelist() if name.endswith(".xml")
    )
    assert "Số học sinh chia theo khối lớp và giới tính" in text
    for name in Student.objects.values_list("full_name", flat=True):
        assert name not in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph missing from the font would warn
        pdf = table_pdf(table)
    assert pdf.startswith(b"%PDF-")
    assert b"NotoSans" in pdf


def test_cli_runs_a_report_as_json_and_writes_files(classes: Cast, tmp_path: Path) -> None:
    out = io.StringIO()
    call_command(
        "reports",
        "run",
        "hoc_sinh_khoi_gioi_tinh",
        "--as-of",
        "2026-10-01",
        "--school",
        classes.school_a.code,
        "--json",
        "--xlsx",
        str(tmp_path / "r.xlsx"),
        "--pdf",
        str(tmp_path / "r.pdf"),
        stdout=out,
        stderr=io.StringIO(),
    )
    data = json.loads(out.getvalue())
    assert data["as_of"] == "2026-10-01"
    assert data["rows"][-1]["cells"][-1]["text"] == "38"
    assert (tmp_path / "r.xlsx").stat().st_size > 0
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    out = io.StringIO()
    call_command(
        "reports", "run", "all", "--as-of", "2026-10-01", "--authority", "--json", stdout=out
    )
    assert len(json.loads(out.getvalue())) >= 9


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--as-of", "01/10/2026", "--school", "A0001"], "YYYY-MM-DD"),
        (["--as-of", "2025-10-01", "--school", "A0001"], "trước khi có số liệu"),
        (["--as-of", "2026-10-01", "--school", "A0001", "--as", "dave"], "Không tìm thấy"),
        (["--as-of", "2026-10-01", "--school", "A0001", "--as", "bob"], "không có quyền"),
        (["--as-of", "2026-10-01", "--school", "Z9999"], "Không tìm thấy"),
    ],
)
def test_cli_refuses_bad_input_clearly(classes: Cast, arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("reports", "run", "hoc_sinh_khoi_gioi_tinh", *arguments)


def test_a_definition_added_by_the_authority_is_generated_without_code(classes: Cast) -> None:
    definition_load(
        actor=classes.erin,
        text="""
code = "hoc_sinh_theo_truong"
title = "Học sinh theo trường và giới tính"
source = "pupils"
rows = "school"
columns = "sex"
measures = ["pupils"]
filters = [{ field = "grade", op = "in", value = [1, 2] }]
""",
    )
    table = report_generate(
        actor=classes.erin,
        definition="hoc_sinh_theo_truong",
        as_of=BEFORE,
        authority=classes.school_a.authority,
    )
    assert [row.label for row in table.rows] == [
        "A0001 — Trường Tiểu học Hoà Bình",
        "B0001 — Trường Tiểu học Lê Lợi",
    ]
    shown = cells(table)
    assert shown[(str(classes.school_b.pk), "M")] == "<5"  # Cường alone
    # In a two-by-two table one small cell hides all four (any one shown gives it away).
    assert shown[(str(classes.school_a.pk), TOTAL_KEY)] == "38"
    assert shown[(str(classes.school_b.pk), TOTAL_KEY)] == "13"
    assert {
        shown[(str(school.pk), sex)]
        for school in (classes.school_a, classes.school_b)
        for sex in ("M", "F")
    } == {"<5", "x"}
    assert cells(table)[(TOTAL_KEY, TOTAL_KEY)] == "51"


def test_staff_recorded_after_the_date_are_not_counted(classes: Cast) -> None:
    def total(as_of: dt.date) -> str:
        table = report_generate(
            actor=classes.alice,
            definition="can_bo_vi_tri_gioi_tinh",
            as_of=as_of,
            schools=[classes.school_a],
        )
        return cells(table)[(TOTAL_KEY, TOTAL_KEY)]

    for n in range(6):
        f.make_staff(
            classes.school_a,
            f"Giáo Viên {n}",
            sex="F",
            job_position_code="giao_vien",
            employment_status_code="01",
        )
    today = timezone.localdate()
    assert total(today) == "6"
    Staff.objects.filter(school=classes.school_a).update(
        created_at=timezone.now() + dt.timedelta(days=2)
    )
    assert total(today) == "0"


def test_every_figure_names_how_it_was_computed(classes: Cast) -> None:
    table = report_generate(
        actor=classes.alice,
        definition="lop_si_so",
        as_of=BEFORE,
        schools=[classes.school_a],
    )
    provenances = {cell.provenance for row in table.all_rows for cell in row.cells}
    assert provenances == {table.provenance}
    assert table.provenance.definition == "lop_si_so"
    assert table.provenance.version == 1
    assert table.provenance.as_of == BEFORE
    assert classes.school_a.code in table.provenance.scope
