"""A generated table as a file: XLSX (XlsxWriter) or PDF (fpdf2, with Noto Sans embedded for
Vietnamese diacritics). Only what the table shows goes in — suppressed cells as "<5" / "x",
never their values — so a report file carries no personal data."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import xlsxwriter  # type: ignore[import-untyped]
from fpdf import FPDF

from edureg.reports.tables import ReportTable

# fontTools reports every font subset it makes at INFO: noise in the logs of every download.
logging.getLogger("fontTools").setLevel(logging.WARNING)

FONT_DIR = Path(__file__).resolve().parent / "fonts"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_CONTENT_TYPE = "application/pdf"


def export_filename(table: ReportTable, extension: str) -> str:
    return f"{table.code}_{table.provenance.as_of.isoformat()}.{extension}"


def table_xlsx(table: ReportTable) -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet(table.code[:31])
    title = workbook.add_format({"bold": True, "font_size": 13})
    header = workbook.add_format(
        {
            "bold": True,
            "border": 1,
            "text_wrap": True,
            "align": "center",
            "valign": "vcenter",
            "bg_color": "#E8EEF4",
        }
    )
    label = workbook.add_format({"border": 1})
    bold_label = workbook.add_format({"border": 1, "bold": True})
    number = workbook.add_format({"border": 1, "num_format": "#,##0"})
    decimal = workbook.add_format({"border": 1, "num_format": "#,##0.0"})
    marked = workbook.add_format({"border": 1, "align": "right"})
    sheet.write(0, 0, table.title, title)
    sheet.write(1, 0, f"Nguồn: {table.source_label}")
    sheet.write(2, 0, table.provenance.describe())
    top = 4
    sheet.write(top, 0, table.row_label or "", header)
    for j, column in enumerate(table.columns, start=1):
        sheet.write(top, j, column.label, header)
    for i, row in enumerate(table.all_rows, start=top + 1):
        is_total = table.total is not None and row is table.total
        sheet.write(i, 0, row.label, bold_label if is_total else label)
        for j, cell in enumerate(row.cells, start=1):
            if cell.value is None:
                sheet.write_string(i, j, cell.text, marked)
            elif isinstance(cell.value, float):
                sheet.write_number(i, j, cell.value, decimal)
            else:
                sheet.write_number(i, j, cell.value, number)
    below = top + len(table.all_rows) + 2
    for n, note in enumerate(table.notes):
        sheet.write(below + n, 0, note)
    sheet.set_column(0, 0, 42)
    sheet.set_column(1, len(table.columns), 14)
    workbook.close()
    return buffer.getvalue()


class _Document(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Noto", size=8)
        self.cell(0, 6, f"Trang {self.page_no()}/{{nb}}", align="C")


def table_pdf(table: ReportTable) -> bytes:
    landscape = len(table.columns) > 5
    pdf = _Document(orientation="L" if landscape else "P", unit="mm", format="A4")
    pdf.set_creator("edureg")
    pdf.set_title(table.title)
    pdf.add_font("Noto", "", str(FONT_DIR / "NotoSans-Regular.ttf"))
    pdf.add_font("Noto", "B", str(FONT_DIR / "NotoSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Noto", "B", 13)
    pdf.multi_cell(0, 7, table.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Noto", size=9)
    pdf.multi_cell(0, 5, f"Nguồn: {table.source_label}", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, table.provenance.describe(), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    width = pdf.epw
    first = min(70.0, width * 0.4)
    other = (width - first) / max(1, len(table.columns))
    headings = [table.row_label or "", *(column.label for column in table.columns)]
    rows = [[row.label, *(cell.text for cell in row.cells)] for row in table.all_rows]
    with pdf.table(
        col_widths=(first, *([other] * len(table.columns))),
        text_align=("LEFT", *(["RIGHT"] * len(table.columns))),
        line_height=5.5,
        first_row_as_headings=True,
    ) as grid:
        pdf.set_font("Noto", "B", 8.5)
        heading = grid.row()
        for text in headings:
            heading.cell(text)
        pdf.set_font("Noto", size=8.5)
        for values in rows:
            line = grid.row()
            for text in values:
                line.cell(text)
    pdf.ln(3)
    pdf.set_font("Noto", size=8)
    for note in table.notes:
        pdf.multi_cell(0, 4.5, note, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
