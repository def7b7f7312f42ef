"""Reading export workbooks (edureg.intake.workbook) and writing samples of them
(edureg.seeding.workbook, ``edureg seed --export-workbook``)."""

from __future__ import annotations

import datetime as dt
import io
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Sequence
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter  # type: ignore[import-untyped]
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edureg.core.codelists import get_list
from edureg.intake.source import (
    FIELDS,
    REQUIRED_COLUMNS,
    Kind,
    Severity,
    Workbook,
    WorkbookRefused,
)
from edureg.intake.workbook import (
    MAX_UPLOAD_BYTES,
    HeaderDataError,
    column_letter,
    header_key,
    header_sets,
    load_header_sets,
    read_workbook,
)
from edureg.registry.models import Enrolment, SchoolClass
from edureg.schools.models import School
from edureg.seeding.options import SeedOptions
from edureg.seeding.services import seed_database
from edureg.seeding.workbook import synthetic_rows, write_export_workbook
from tests import factories as f

TODAY = dt.date(2025, 11, 20)
STUDENT_HEADER = ["STT", "Lớp", "Họ và tên", "Ngày sinh", "Số định danh cá nhân",
                  "Điện thoại liên hệ", "Khối", "Năm sinh cha"]
Cells = Sequence[Sequence[Any]]


def xlsx(rows: Cells, *, start: tuple[int, int] = (0, 0), sheet: str = "HocSinh",
         build: Callable[[Any, Any], None] | None = None) -> bytes:
    """An .xlsx whose first sheet holds ``rows`` from ``start``; ``None`` leaves a cell blank,
    a ``dt.date`` becomes a date cell."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    worksheet = book.add_worksheet(sheet)
    date_format = book.add_format({"num_format": "dd/mm/yyyy"})
    for row_index, row in enumerate(rows):
        for column_index, value in enumerate(row):
            row_at, column_at = start[0] + row_index, start[1] + column_index
            if value is None:
                continue
            if isinstance(value, dt.date):
                worksheet.write_datetime(row_at, column_at,
                                         dt.datetime.combine(value, dt.time()), date_format)
            elif isinstance(value, str):
                worksheet.write_string(row_at, column_at, value)
            else:
                worksheet.write(row_at, column_at, value)
    if build is not None:
        build(book, worksheet)
    book.close()
    return buffer.getvalue()


def students(*data_rows: Sequence[Any], header: Sequence[str] = STUDENT_HEADER) -> bytes:
    title = [["TRƯỜNG TIỂU HỌC LÊ QUÝ ĐÔN"], ["DANH SÁCH HỌC SINH"], []]
    return xlsx([*title, list(header), *[list(row) for row in data_rows]])


def read(data: bytes, kind: Kind = Kind.STUDENT, **options: Any) -> Workbook:
    return read_workbook(data, kind=kind, filename="danh-sach.xlsx", today=TODAY, **options)


def errors(workbook: Workbook) -> list[tuple[int | None, str | None, str]]:
    return [(p.row, p.column, p.message) for p in workbook.problems
            if p.severity == Severity.ERROR]


def warnings(workbook: Workbook) -> list[str]:
    return [p.message for p in workbook.problems if p.severity == Severity.WARNING]


def refusal(data: bytes, kind: Kind = Kind.STUDENT, **options: Any) -> WorkbookRefused:
    with pytest.raises(WorkbookRefused) as caught:
        read(data, kind, **options)
    return caught.value


# --- round trips of generated workbooks ------------------------------------------------------

TEMPLATES = [(kind, template.name) for kind in Kind for template in header_sets()[kind].templates]


@pytest.fixture(scope="module")
def sample_rows() -> dict[Kind, list[dict[str, Any]]]:
    return {kind: synthetic_rows(kind, count=45, seed=5, today=TODAY) for kind in Kind}


@pytest.mark.parametrize(("kind", "template"), TEMPLATES)
def test_every_template_variant_reads_back_to_the_same_canonical_rows(
    sample_rows: dict[Kind, list[dict[str, Any]]], kind: Kind, template: str
) -> None:
    buffer = io.BytesIO()
    written = write_export_workbook(buffer, kind=kind, rows=sample_rows[kind], template=template,
                                    today=TODAY, school_name="Trường Tiểu học Lê Quý Đôn")

    workbook = read(buffer.getvalue(), kind)

    assert workbook.template == template
    assert workbook.sheet == written.sheet
    assert errors(workbook) == []
    assert workbook.skipped_rows == written.skipped_rows
    assert [row.row for row in workbook.rows] == list(written.row_numbers)
    template_fields = {field for field in FIELDS[kind]
                       if any(row.columns.get(field) for row in workbook.rows)}
    assert REQUIRED_COLUMNS[kind] <= template_fields
    for got, meant in zip(workbook.rows, written.rows, strict=True):
        assert dict(got.values) == {field: meant.get(field) for field in got.values}


def test_the_generator_covers_the_quirks_the_reader_undoes(
    sample_rows: dict[Kind, list[dict[str, Any]]]
) -> None:
    rows = sample_rows[Kind.STUDENT]
    buffer = io.BytesIO()
    write_export_workbook(buffer, kind=Kind.STUDENT, rows=rows, template="hcm-hocsinh-2025",
                          today=TODAY)

    workbook = read(buffer.getvalue())

    # Ethnicity spellings are read as written; the code list's aliases map them.
    ethnicity = get_list("ethnicity")
    written = {str(row.values["ethnicity"]) for row in workbook.rows}
    assert {"Khơ-me", "H'Mông"} <= written
    assert {ethnicity.match(name).code for name in written  # type: ignore[union-attr]
            if name in ("Khmer", "Khơ-me", "Khơ me")} == {"05"}
    assert {ethnicity.match(name).code for name in written  # type: ignore[union-attr]
            if name in ("Mông", "H'Mông", "Hmông")} == {"08"}
    # Grade-1 pupils without a Ministry code: their temporary code sits in the code column.
    temporary = [row for row in workbook.rows if row.values.get("temporary_code")]
    assert temporary
    assert all(row.values["grade"] == 1 and row.values["education_id"] is None
               for row in temporary)
    shown = " ".join(warnings(workbook))
    assert "bỏ các số 0 ở đầu" in shown  # ID numbers stored as numbers
    assert "thiếu số 0 ở đầu" in shown  # phones stored as numbers
    assert "mã tạm" in shown


# --- where cells are ---------------------------------------------------------------------------


def test_cells_are_placed_where_excel_shows_them() -> None:
    # Pins python-calamine's iteration: rows from the top of the sheet, columns from the first
    # used one. Header at C4, data from C5.
    data = xlsx([["Lớp", "Họ và tên", "Ngày sinh"], ["1A", "Nguyễn Văn An", "05/09/2018"]],
                start=(3, 2))

    workbook = read(data)

    (row,) = workbook.rows
    assert row.row == 5
    assert dict(row.columns) == {"class_name": "C", "full_name": "D", "date_of_birth": "E"}


@pytest.mark.parametrize(("index", "letters"), [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"),
                                                 (702, "AAA")])
def test_column_letters(index: int, letters: str) -> None:
    assert column_letter(index) == letters


# --- headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "key"), [
    ("Ngày sinh\n(dd/mm/yyyy)", "ngay sinh dd mm yyyy"),
    (unicodedata.normalize("NFD", "Họ và tên"), "ho va ten"),
    ("  HỌ   VÀ TÊN (*) ", "ho va ten"),
    ("Mã định danh Bộ GD&ĐT", "ma dinh danh bo gd dt"),
    ("Thông tin cha > Họ tên", "thong tin cha ho ten"),
])
def test_header_text_is_normalised(text: str, key: str) -> None:
    assert header_key(text) == key


def test_headers_match_whatever_their_spelling_and_order() -> None:
    header = ["Ngày sinh\n(dd/mm/yyyy)", unicodedata.normalize("NFD", "HỌ VÀ TÊN"), "lớp (*)",
              "SỐ ĐỊNH DANH\nCÁ NHÂN"]
    data = students(["05/09/2018", "Nguyễn Văn An", "1A", "079218001234"], header=header)

    (row,) = read(data).rows

    assert dict(row.values) == {"date_of_birth": dt.date(2018, 9, 5),
                                "full_name": "Nguyễn Văn An", "class_name": "1A",
                                "personal_id_number": "079218001234"}


def test_a_two_row_header_without_merged_cells_still_groups_its_columns() -> None:
    # "Centre across selection": the group text sits in its first column only, unmerged.
    data = xlsx([
        ["Lớp", "Họ và tên", "Ngày sinh", "Thông tin cha", None, "Thông tin mẹ", None],
        [None, None, None, "Họ tên", "Năm sinh", "Họ tên", "Năm sinh"],
        ["1A", "Nguyễn Văn An", "05/09/2018", "Nguyễn Văn Bình", 1985, "Lê Thị Cúc", 1988],
    ])

    (row,) = read(data).rows

    assert row.values["father_name"] == "Nguyễn Văn Bình"
    assert row.values["mother_birth_year"] == 1988
    assert row.values["full_name"] == "Nguyễn Văn An"


def test_unknown_columns_are_ignored_with_one_warning() -> None:
    header = [*STUDENT_HEADER, "Sở thích", "Ghi chú riêng"]
    data = students(*[[n, "1A", f"Học sinh {n}", "05/09/2018"] + [None] * 4 + ["x", "y"]
                      for n in range(1, 6)], header=header)

    workbook = read(data)

    shown = [message for message in warnings(workbook) if "bỏ qua" in message]
    assert len(shown) == 1
    assert "«Sở thích» (cột I)" in shown[0]
    assert "«Ghi chú riêng» (cột J)" in shown[0]
    assert all(set(row.values) <= set(FIELDS[Kind.STUDENT]) for row in workbook.rows)


def test_two_columns_meaning_one_field_are_refused_naming_both() -> None:
    data = students(["1A", "Nguyễn Văn An", "05/09/2018", "An"],
                    header=["Lớp", "Họ và tên", "Ngày sinh", "Họ tên"])

    error = refusal(data)

    assert "B («Họ và tên»)" in error.message
    assert "D («Họ tên»)" in error.message
    assert error.field == "full_name"


def test_a_missing_required_column_is_refused_naming_it_and_the_texts_accepted() -> None:
    data = students(["Nguyễn Văn An", "05/09/2018", "079218001234"],
                    header=["Họ và tên", "Ngày sinh", "Số định danh cá nhân"])

    error = refusal(data)

    assert "Thiếu cột «Lớp»" in error.message
    assert "«Tên lớp»" in error.message
    assert error.field == "class_name"


def test_a_workbook_without_a_recognisable_header_is_refused() -> None:
    data = xlsx([["Bảng điểm học kỳ I"], ["Toán", "Văn", "Anh"], [8, 9, 7]])

    assert "Không tìm thấy dòng tiêu đề" in refusal(data).message


def test_an_empty_workbook_is_refused() -> None:
    assert "không có dữ liệu" in refusal(xlsx([])).message


def test_the_data_sheet_is_found_among_code_list_sheets_and_other_lists_are_named() -> None:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.add_worksheet("Tổng hợp").write(0, 0, "Bảng tổng hợp")
    main = book.add_worksheet("Lớp 1A")
    main.write_row(0, 0, ["Lớp", "Họ và tên", "Ngày sinh", "Dân tộc"])
    main.write_row(1, 0, ["1A", "Nguyễn Văn An", "05/09/2018", "Kinh"])
    codes = book.add_worksheet("DM_DanToc")
    codes.write_row(0, 0, ["Mã dân tộc", "Tên dân tộc"])
    codes.write_row(1, 0, ["01", "Kinh"])
    second = book.add_worksheet("Lớp 1B")
    second.write_row(0, 0, ["Lớp", "Họ và tên", "Ngày sinh"])
    second.write_row(1, 0, ["1B", "Trần Thị Bình", "01/01/2018"])
    book.close()

    workbook = read(buffer.getvalue())

    assert workbook.sheet == "Lớp 1A"
    assert [row.values["full_name"] for row in workbook.rows] == ["Nguyễn Văn An"]
    (shown,) = [message for message in warnings(workbook) if "nhiều sheet" in message]
    assert "«Lớp 1B»" in shown
    assert "DM_DanToc" not in shown


def test_header_data_contradictions_are_caught() -> None:
    good = (Path(__file__).resolve().parents[2] / "edureg/intake/data/headers.toml").read_text(
        encoding="utf-8")
    clash = good.replace('aliases = ["Tôn giáo"]', 'aliases = ["Tôn giáo", "Dân tộc"]', 1)
    unknown = good.replace('"STT", "Mã lớp", "Tên lớp"', '"STT", "Cột không ai biết", "Tên lớp"')

    assert load_header_sets(good)
    with pytest.raises(HeaderDataError, match="means both"):
        load_header_sets(clash)
    with pytest.raises(HeaderDataError, match="unknown headers"):
        load_header_sets(unknown)


# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", [
    "05/09/2015", "5/9/2015", "05-09-2015", "2015-09-05", "05/09/2015 00:00:00",
    dt.date(2015, 9, 5), 42252, 42252.0,
])
def test_dates_are_read_from_text_serials_and_date_cells(cell: Any) -> None:
    (row,) = read(students([1, "1A", "Nguyễn Văn An", cell])).rows

    assert row.values["date_of_birth"] == dt.date(2015, 9, 5)


@pytest.mark.parametrize(("cell", "expected"), [
    ("31/02/2015", "không có thật"),
    ("05/09/2026", "ở tương lai"),
    ("5 tháng 9", "không phải ngày hợp lệ"),
    (2015, "chỉ là năm"),
    (-3, "không phải ngày"),
])
def test_a_bad_date_is_a_row_error_naming_sheet_row_and_column(cell: Any, expected: str) -> None:
    workbook = read(students([1, "1A", "Nguyễn Văn An", cell], [2, "1A", "Lê Thị Bình",
                                                                  "01/01/2018"]))

    ((row, column, message),) = errors(workbook)
    assert (row, column) == (5, "D")
    assert message.startswith("Sheet «HocSinh», dòng 5, cột D (Ngày sinh): ")
    assert expected in message
    assert workbook.rows[0].values["date_of_birth"] is None
    assert len(workbook.rows) == 2


@pytest.mark.parametrize(("cell", "expected", "warned"), [
    (79218001234, "079218001234", True),  # HCMC (079): one zero lost
    (1218001234, "001218001234", True),  # Hà Nội (001): two zeros lost
    (99218001234, "99218001234", False),  # "099…" is no province: left for the checks
    ("79218001234", "79218001234", False),  # typed as text: not guessed at
    ("'079218001234", "079218001234", False),
    (" 079218001234 ", "079218001234", False),
])
def test_personal_id_numbers_stored_as_numbers_get_their_zeros_back(
    cell: Any, expected: str, warned: bool
) -> None:
    workbook = read(students([1, "1A", "Nguyễn Văn An", "05/09/2018", cell]))

    assert workbook.rows[0].values["personal_id_number"] == expected
    assert any("Số định danh cá nhân" in m and "số 0" in m
               for m in warnings(workbook)) is warned


def test_zero_padding_is_reported_once_per_column() -> None:
    workbook = read(students(*[[n, "1A", f"Học sinh {n}", "05/09/2018", 79218001000 + n]
                               for n in range(1, 21)]))

    shown = [m for m in warnings(workbook) if "Số định danh cá nhân" in m]
    assert len(shown) == 1
    assert "20 ô" in shown[0]
    assert shown[0].startswith("Cột E (Số định danh cá nhân)")


def test_a_number_in_scientific_notation_is_a_row_error() -> None:
    workbook = read(students([1, "1A", "Nguyễn Văn An", "05/09/2018", "7.92180E+11"]))

    ((_row, column, message),) = errors(workbook)
    assert column == "E"
    assert "dạng khoa học" in message


@pytest.mark.parametrize(("cell", "expected"), [
    (912345678, "0912345678"), ("912345678", "0912345678"), (2838123456, "02838123456"),
    ("0912 345 678", "0912 345 678"), ("0912345678", "0912345678"),
])
def test_phones(cell: Any, expected: str) -> None:
    (row,) = read(students([1, "1A", "Nguyễn Văn An", "05/09/2018", None, cell])).rows

    assert row.values["phone"] == expected


@pytest.mark.parametrize(("grade", "year", "expected"), [
    (3, 1985, (3, 1985)), (3.0, 1985.0, (3, 1985)), ("Khối 3", "1985", (3, 1985)),
    ("3", dt.date(1985, 4, 1), (3, 1985)), ("lớp 3", "12/04/1985", (3, 1985)),
])
def test_grades_and_years_are_integers(grade: Any, year: Any, expected: tuple[int, int]) -> None:
    (row,) = read(students([1, "1A", "An", "05/09/2018", None, None, grade, year])).rows

    assert (row.values["grade"], row.values["father_birth_year"]) == expected


@pytest.mark.parametrize(("grade", "year"), [(13, 1985), ("ba", 1985), (3, 1850), (3, "xưa")])
def test_bad_grades_and_years_are_row_errors(grade: Any, year: Any) -> None:
    workbook = read(students([1, "1A", "An", "05/09/2018", None, None, grade, year]))

    assert len(errors(workbook)) == 1


def test_text_is_stripped_nfc_and_folded_to_one_line() -> None:
    name = unicodedata.normalize("NFD", "  Nguyễn\n Văn   Ánh\u200b ")
    (row,) = read(students([1, " 1A ", name, "05/09/2018"])).rows

    assert row.values["full_name"] == "Nguyễn Văn Ánh"
    assert unicodedata.is_normalized("NFC", str(row.values["full_name"]))
    assert row.values["class_name"] == "1A"


@pytest.mark.parametrize(("cell", "expected"), [
    ("An\x00h", "ký tự điều khiển"), ("x" * 5000, "quá 2000 ký tự"), (True, "TRUE/FALSE"),
])
def test_odd_text_cells_are_row_errors(cell: Any, expected: str) -> None:
    workbook = read(students([1, "1A", cell, "05/09/2018"]))

    ((_row, column, message),) = errors(workbook)
    assert column == "C"
    assert expected in message


def test_a_temporary_code_in_the_code_column_is_read_as_a_temporary_code() -> None:
    header = ["Lớp", "Mã học sinh", "Họ và tên", "Ngày sinh"]
    workbook = read(students(["1A", "TMP20250000012", "Nguyễn Văn An", "05/09/2019"],
                             ["1A", 7912345678, "Lê Thị Bình", "05/09/2019"], header=header))

    first, second = workbook.rows
    assert first.values["education_id"] is None
    assert first.values["temporary_code"] == "TMP20250000012"
    assert first.columns["temporary_code"] == "B"
    assert second.values["education_id"] == "7912345678"
    assert "temporary_code" not in second.values
    assert any("mã tạm" in message for message in warnings(workbook))


# --- rows that are not data ----------------------------------------------------------------


def test_repeated_headers_blank_total_and_signature_rows_are_skipped_and_counted() -> None:
    data = students(
        ["(1)", "(2)", "(3)", "(4)", "(5)", "(6)", "(7)", "(8)"],
        [1, "1A", "Nguyễn Văn An", "05/09/2018"],
        [],
        STUDENT_HEADER,
        [2, "1B", "Trần Thị Bình", "06/09/2018"],
        [None, "Tổng cộng: 2 học sinh"],
        [None, "Tổng số: 2"],
        [],
        [None, None, None, None, "TP. Hồ Chí Minh, ngày 20 tháng 11 năm 2025"],
        [None, None, "Người lập biểu", None, "Hiệu trưởng"],
        [None, None, "(Ký, ghi rõ họ tên)", None, "(Ký tên, đóng dấu)"],
        [],
        [None, None, "Phạm Thị Dung", None, "Lê Văn Em"],
    )

    workbook = read(data)

    assert [row.values["full_name"] for row in workbook.rows] == ["Nguyễn Văn An",
                                                                  "Trần Thị Bình"]
    assert workbook.skipped_rows == 11
    assert errors(workbook) == []


def test_a_pupil_row_without_a_date_of_birth_is_still_data() -> None:
    workbook = read(students([1, "1A", "Nguyễn Văn An", None], [2, "1A", "Hiệu Trưởng Văn Tư",
                                                                 "01/01/2018"]))

    assert [row.values["full_name"] for row in workbook.rows] == ["Nguyễn Văn An",
                                                                  "Hiệu Trưởng Văn Tư"]


def test_class_names_merged_down_their_block_are_filled_in() -> None:
    def merge(_book: Any, sheet: Any) -> None:
        sheet.merge_range(4, 1, 6, 1, "1A")
        sheet.merge_range(7, 1, 8, 1, "1B")

    rows = [[None], [None], [None], STUDENT_HEADER] + [
        [n, None, f"Học sinh {n}", "05/09/2018"] for n in range(1, 6)]
    workbook = read(xlsx(rows, build=merge))

    assert [row.values["class_name"] for row in workbook.rows] == ["1A", "1A", "1A", "1B", "1B"]


# --- formulas ----------------------------------------------------------------------------------


def test_formulas_are_read_by_their_cached_value() -> None:
    def formulas(_book: Any, sheet: Any) -> None:
        sheet.write_formula(4, 2, '="Nguyễn "&"Văn An"', None, "Nguyễn Văn An")
        sheet.write_formula(4, 0, "=ROW()-4", None, 1)

    workbook = read(xlsx([[], [], [], STUDENT_HEADER, [None, "1A", None, "05/09/2018"]],
                         build=formulas))

    assert workbook.rows[0].values["full_name"] == "Nguyễn Văn An"
    assert errors(workbook) == []


def test_a_formula_without_a_cached_value_is_a_row_error() -> None:
    def formulas(_book: Any, sheet: Any) -> None:
        # XlsxWriter caches 0 unless told otherwise; "" writes an empty <v>, as tools that do
        # not calculate do (openpyxl writes no <v> at all).
        sheet.write_formula(4, 2, '=UPPER("an")', None, "")

    workbook = read(xlsx([[], [], [], STUDENT_HEADER, [1, "1A", None, "05/09/2018"]],
                         build=formulas))

    ((row, column, message),) = errors(workbook)
    assert (row, column) == (5, "C")
    assert "công thức chưa có giá trị" in message


def test_an_error_value_is_a_row_error() -> None:
    def formulas(_book: Any, sheet: Any) -> None:
        sheet.write_formula(4, 3, "=1/0", None, "#DIV/0!")

    workbook = read(xlsx([[], [], [], STUDENT_HEADER, [1, "1A", "An", None]], build=formulas))

    ((_row, column, message),) = errors(workbook)
    assert column == "D"
    assert "#DIV/0!" in message


# --- .ods --------------------------------------------------------------------------------------


def ods(rows: Sequence[Sequence[str | None]], *, spans: dict[tuple[int, int], int] | None = None
        ) -> bytes:
    """A minimal OpenDocument spreadsheet; ``spans`` (row, column) → rows merged down."""
    spans = spans or {}
    covered = {(row + offset, column) for (row, column), count in spans.items()
               for offset in range(1, count)}
    body = []
    for row_index, row in enumerate(rows):
        cells = []
        for column_index, value in enumerate(row):
            if (row_index, column_index) in covered:
                cells.append("<table:covered-table-cell/>")
            elif value is None:
                cells.append("<table:table-cell/>")
            else:
                span = spans.get((row_index, column_index))
                extra = f' table:number-rows-spanned="{span}"' if span else ""
                cells.append(f'<table:table-cell office:value-type="string"{extra}>'
                             f"<text:p>{value}</text:p></table:table-cell>")
        body.append("<table:table-row>" + "".join(cells) + "</table:table-row>")
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="HocSinh">'
        + "".join(body)
        + "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def test_an_ods_export_is_read_and_merged_class_cells_are_reported_not_guessed() -> None:
    data = ods([
        ["DANH SÁCH HỌC SINH"],
        ["Lớp", "Họ và tên", "Ngày sinh"],
        ["1A", "Nguyễn Văn An", "05/09/2018"],
        [None, "Trần Thị Bình", "06/09/2018"],
        [None, "Lê Văn Cường", "07/09/2018"],
    ], spans={(2, 0): 3})

    workbook = read(data)

    assert [row.values["full_name"] for row in workbook.rows] == [
        "Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường"]
    assert [row.values["class_name"] for row in workbook.rows] == ["1A", None, None]
    (shown,) = [m for m in warnings(workbook) if "gộp ô" in m]
    assert "dòng 4, 5" in shown


# --- refused files -----------------------------------------------------------------------------


def test_a_text_file_named_xlsx_is_refused() -> None:
    error = refusal("Họ và tên,Ngày sinh,Lớp\nNguyễn Văn An,05/09/2018,1A\n".encode())

    assert "không phải tệp Excel" in error.message
    assert "CSV" in error.message


def test_an_html_page_named_xls_is_refused_with_how_to_convert_it() -> None:
    error = refusal(b"<html><body><table><tr><td>H\xe1\xbb\x8d t\xc3\xaan</td></tr></table>")

    assert "HTML" in error.message
    assert "Save As" in error.message


def test_a_truncated_xlsx_is_refused_as_corrupt() -> None:
    data = students([1, "1A", "Nguyễn Văn An", "05/09/2018"])

    assert "bị hỏng" in refusal(data[: len(data) // 2]).message


def test_an_empty_upload_and_an_oversized_one_are_refused() -> None:
    assert "rỗng" in refusal(b"").message
    oversized = b"PK\x03\x04" + bytes(MAX_UPLOAD_BYTES)
    assert "vượt giới hạn" in refusal(oversized).message


def test_a_word_document_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")

    assert "Word" in refusal(buffer.getvalue()).message


def _zip_of_zeros(path: Path, *, megabytes: int, zip64: bool = True) -> None:
    """A workbook-looking zip whose worksheet is ``megabytes`` MB of zeros, written streaming."""
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=zip64) as member:
            for _ in range(megabytes):
                member.write(chunk)


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    _zip_of_zeros(path, megabytes=300)
    data = path.read_bytes()
    assert len(data) < 1024 * 1024  # 300 MB of zeros deflate to ~300 KB

    error = refusal(data)

    assert "lớn bất thường" in error.message


def test_a_member_compressed_more_than_a_hundredfold_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ratio.xlsx"
    _zip_of_zeros(path, megabytes=20)

    assert "lớn bất thường" in refusal(path.read_bytes()).message


def _central_entry(data: bytes, name: bytes) -> int:
    end_record = data.rfind(b"PK\x05\x06")
    (position,) = struct.unpack_from("<L", data, end_record + 16)
    while data[position:position + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data,
                                                                        position + 28)
        if data[position + 46:position + 46 + name_length] == name:
            return position
        position += 46 + name_length + extra_length + comment_length
    raise AssertionError(name)


def test_a_zip_that_understates_its_sizes_is_refused(tmp_path: Path) -> None:
    # Both headers claim 1,000 bytes (with the CRC of 1,000 zeros) while the deflate stream
    # holds 5 MB: the size and ratio checks of the headers pass, inflating does not.
    path = tmp_path / "forged.xlsx"
    _zip_of_zeros(path, megabytes=5, zip64=False)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    crc = zlib.crc32(bytes(1000))
    struct.pack_into("<L", data, info.header_offset + 14, crc)
    struct.pack_into("<L", data, info.header_offset + 22, 1000)
    central = _central_entry(bytes(data), b"xl/worksheets/sheet1.xml")
    struct.pack_into("<L", data, central + 16, crc)
    struct.pack_into("<L", data, central + 24, 1000)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size == 1000

    assert "bị hỏng" in refusal(bytes(data)).message


def cfb(*stream_names: str) -> bytes:
    """A minimal OLE compound file (version 3, 512-byte sectors): header, one FAT sector, one
    directory sector holding the root and empty streams with the given names."""
    free, end_of_chain, fat_sector, no_stream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    header = bytearray(512)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHH", header, 24, 0x3E, 3, 0xFFFE)
    struct.pack_into("<HH", header, 30, 9, 6)
    struct.pack_into("<LL", header, 44, 1, 1)  # one FAT sector; directory starts at sector 1
    struct.pack_into("<LLLLL", header, 56, 4096, end_of_chain, 0, end_of_chain, 0)
    difat = [0] + [free] * 108
    struct.pack_into("<109L", header, 76, *difat)
    fat = struct.pack("<128L", fat_sector, end_of_chain, *([free] * 126))

    def entry(name: str, kind: int, *, child: int = no_stream, right: int = no_stream) -> bytes:
        record = bytearray(128)
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        record[0:len(encoded)] = encoded
        struct.pack_into("<HBB", record, 64, len(encoded), kind, 1)
        struct.pack_into("<LLL", record, 68, no_stream, right, child)
        struct.pack_into("<LQ", record, 116, end_of_chain, 0)
        return bytes(record)

    entries = [entry("Root Entry", 5, child=1 if stream_names else no_stream)]
    for index, name in enumerate(stream_names, start=1):
        entries.append(entry(name, 2, right=index + 1 if index < len(stream_names)
                             else no_stream))
    directory = b"".join(entries).ljust(512, b"\x00")
    return bytes(header) + fat + directory


def test_a_password_protected_xlsx_is_refused_asking_to_remove_the_password() -> None:
    # Excel keeps an encrypted .xlsx in an OLE compound file with these two streams; the
    # detection looks for their directory entries (name, length and type fields).
    error = refusal(cfb("EncryptionInfo", "EncryptedPackage"))

    assert "có mật khẩu, hãy bỏ mật khẩu rồi tải lại" in error.message


def test_an_ole_file_that_is_no_workbook_is_refused() -> None:
    assert "Word" in refusal(cfb("WordDocument")).message
    assert "không phải" in refusal(cfb("Something")).message


def test_an_ole_workbook_without_sheets_is_refused_as_corrupt() -> None:
    assert "bị hỏng" in refusal(cfb("Workbook")).message


@pytest.fixture(scope="module")
def too_many_rows(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("rows") / "big.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("HocSinh")
    sheet.write_row(0, 0, ["Lớp", "Họ và tên", "Ngày sinh"])
    for row in range(1, 100_002):
        sheet.write_string(row, 0, "1A")
        sheet.write_string(row, 1, "An")
        sheet.write_number(row, 2, 42252)
    book.close()
    return path.read_bytes()


def test_more_than_max_rows_is_refused_asking_to_split(too_many_rows: bytes) -> None:
    error = refusal(too_many_rows)

    assert "hơn 100.000 dòng" in error.message
    assert "tách theo lớp/khối" in error.message


def test_max_rows_is_a_parameter() -> None:
    data = students(*[[n, "1A", f"Học sinh {n}", "05/09/2018"] for n in range(1, 4)])

    assert len(read(data, max_rows=3).rows) == 3
    assert "hơn 2 dòng" in refusal(data, max_rows=2).message


# --- odd cells never crash the reader -------------------------------------------------------


class ErrorValue(str):
    """A cell holding an Excel error (written as a formula with that cached error)."""


odd_cells = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.text(max_size=5).map(lambda text: f"A\x00{text}\x01"),
    st.integers(min_value=0, max_value=6).map(lambda n: "Ư" * (n * 5000)),
    st.text(max_size=20).map(lambda text: unicodedata.normalize("NFD", text)),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.booleans(),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2200, 1, 1)),
    st.sampled_from(["#N/A", "#DIV/0!", "#VALUE!", "#REF!"]).map(ErrorValue),
    st.sampled_from(["Tổng cộng", "Hiệu trưởng", "Họ và tên", "(1)", "31/02/2015", "TMP1",
                     "ngày 1 tháng 2 năm 2020", "'0123", "1.2E+11"]),
)


def _write_odd(book: Any, sheet: Any, rows: list[list[Any]]) -> None:
    date_format = book.add_format({"num_format": "dd/mm/yyyy"})
    for row_index, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, ErrorValue):
                sheet.write_formula(row_index, column, "=NA()", None, str(value))
            elif isinstance(value, dt.date):
                sheet.write_datetime(row_index, column, dt.datetime.combine(value, dt.time()),
                                     date_format)
            elif isinstance(value, bool):
                sheet.write_boolean(row_index, column, value)
            elif isinstance(value, str):
                sheet.write_string(row_index, column, value)
            else:
                sheet.write_number(row_index, column, value)


def read_or_refusal(data: bytes) -> Workbook | WorkbookRefused:
    """The reader's two outcomes; anything else it raises fails the test."""
    try:
        return read(data)
    except WorkbookRefused as error:
        return error


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow,
                                                   HealthCheck.data_too_large])
@given(st.lists(st.lists(odd_cells, min_size=8, max_size=8), min_size=1, max_size=4))
def test_the_reader_never_crashes_on_odd_cell_values(rows: list[list[Any]]) -> None:
    def build(book: Any, sheet: Any) -> None:
        _write_odd(book, sheet, rows)

    workbook = read_or_refusal(xlsx([STUDENT_HEADER], build=build))
    if isinstance(workbook, WorkbookRefused):
        assert workbook.message
        return
    allowed = set(FIELDS[Kind.STUDENT])
    for row in workbook.rows:
        assert set(row.values) <= allowed
        for value in row.values.values():
            assert value is None or isinstance(value, str | int | dt.date)
            if isinstance(value, str):
                assert value == value.strip()
                assert unicodedata.is_normalized("NFC", value)
                assert "\x00" not in value
    assert all(problem.message for problem in workbook.problems)


@settings(max_examples=40)
@given(st.lists(odd_cells, min_size=1, max_size=6))
def test_the_reader_never_crashes_on_odd_headers(header: list[Any]) -> None:
    def build(book: Any, sheet: Any) -> None:
        _write_odd(book, sheet, [header, ["1A", "An", "05/09/2018"]])

    result = read_or_refusal(xlsx([], build=build))
    assert isinstance(result, Workbook) or result.message


# --- the sample generator command ----------------------------------------------------------


def test_seed_export_workbook_writes_a_sample_with_planted_errors(tmp_path: Path) -> None:
    path = tmp_path / "mau.xlsx"
    out = StringIO()

    call_command("seed", "--export-workbook", str(path), "--rows", "30", "--plant-errors",
                 "--template", "moet-c1-hocsinh-2024", "--seed", "4", stdout=out)

    assert "mau.xlsx" in out.getvalue()
    assert path.stat().st_mode & 0o777 == 0o600  # personal data, even synthetic
    workbook = read_workbook(path.read_bytes(), kind=Kind.STUDENT)
    assert workbook.template == "moet-c1-hocsinh-2024"
    assert len(workbook.rows) == 30
    flagged = {(row, column) for row, column, _message in errors(workbook)}
    assert len(flagged) >= 2
    assert "Lỗi cài sẵn" in out.getvalue()


def test_seed_export_workbook_writes_staff_lists(tmp_path: Path) -> None:
    path = tmp_path / "canbo.xlsx"

    call_command("seed", "--export-workbook", str(path), "--kind", "staff", "--rows", "12",
                 stdout=StringIO())

    workbook = read_workbook(path.read_bytes(), kind=Kind.STAFF)
    assert workbook.template == "moet-canbo-2024"
    assert len(workbook.rows) == 12
    assert all(row.values["full_name"] for row in workbook.rows)


def test_seed_export_workbook_refuses_a_template_of_the_other_kind(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="không phải mẫu danh sách"):
        call_command("seed", "--export-workbook", str(tmp_path / "x.xlsx"), "--kind", "staff",
                     "--template", "moet-c1-hocsinh-2024", stdout=StringIO())


@pytest.fixture
def seeded(tmp_path: Path) -> School:
    # The seed service, not the command: the quality rescan the command adds is not needed.
    seed_database(SeedOptions(schools=1, students_per_school=60, seed=3,
                              register_path=tmp_path / "register.sqlite3"))
    school = School.objects.get()
    # 60 pupils make one class per grade; a second grade-1 class lets pupils move.
    first = SchoolClass.objects.get(school=school, grade=1)
    SchoolClass.objects.create(school=school, school_year=first.school_year, name="1Z", grade=1)
    return school


@pytest.mark.django_db
def test_a_seeded_school_export_lists_its_pupils_with_a_few_changes(
    seeded: School, tmp_path: Path
) -> None:
    path = tmp_path / "truong.xlsx"
    out = StringIO()

    call_command("seed", "--export-workbook", str(path), "--school", seeded.code, "--seed", "9",
                 stdout=out)

    workbook = read_workbook(path.read_bytes(), kind=Kind.STUDENT)
    assert errors(workbook) == []
    current = {
        enrolment.student.education_id or enrolment.student.temporary_code: enrolment
        for enrolment in Enrolment.objects.filter(school=seeded, is_current=True)
        .select_related("student", "school_class")
    }
    new = moved = updated = unchanged = 0
    for row in workbook.rows:
        key = row.values.get("education_id") or row.values.get("temporary_code")
        enrolment = current.get(str(key))
        if enrolment is None:
            new += 1
        elif enrolment.school_class and row.values["class_name"] != enrolment.school_class.name:
            moved += 1
        elif (row.values.get("phone") or "") != enrolment.student.phone:
            updated += 1
        else:
            unchanged += 1
    assert new >= 2
    assert moved >= 1
    assert updated >= 1
    assert new + moved + updated + unchanged == len(workbook.rows)
    assert unchanged == len(current) - moved - updated
    assert (f"{new} mới, {updated} cập nhật, {moved} chuyển lớp, {unchanged} không đổi"
            in out.getvalue())


@pytest.mark.django_db
def test_seed_export_refuses_a_school_that_is_not_demo_data(tmp_path: Path) -> None:
    school = f.make_school(code="79000999")

    with pytest.raises(CommandError, match="không thuộc dữ liệu mẫu"):
        call_command("seed", "--export-workbook", str(tmp_path / "x.xlsx"), "--school",
                     school.code, stdout=StringIO())
    with pytest.raises(CommandError, match="Không tìm thấy trường"):
        call_command("seed", "--export-workbook", str(tmp_path / "x.xlsx"), "--school",
                     "KHONGCO", stdout=StringIO())
    assert not (tmp_path / "x.xlsx").exists()
