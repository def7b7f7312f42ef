"""The generated table: rows, columns and cells as shown (suppressed where they must be), each
cell carrying how it was computed (definition, version, reporting date, scope) — never who is
behind it. Built from the grouped counts of ``queries.run_query``; pure apart from the code
lists (``core``) it names values with."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from edureg.reports.spec import Measure, ReportSpec
from edureg.reports.suppression import suppress_grid

PRIMARY = "primary"
COMPLEMENTARY = "complementary"
HIDDEN_MARK = "x"
TOTAL_KEY = "__total__"


@dataclasses.dataclass(frozen=True)
class Provenance:
    """How a figure was computed: re-running the definition's version for the same scope and
    date gives it again (from the history, whatever changed since)."""

    definition: str
    version: int
    as_of: dt.date
    scope: str

    def describe(self) -> str:
        return (
            f"Báo cáo «{self.definition}» phiên bản {self.version}, số liệu tại ngày "
            f"{self.as_of.strftime('%d/%m/%Y')}, phạm vi: {self.scope}"
        )


@dataclasses.dataclass(frozen=True)
class Column:
    key: str
    label: str


@dataclasses.dataclass(frozen=True)
class Cell:
    # The figure when shown; None when suppressed (the true value never leaves this module).
    value: int | float | None
    text: str
    suppressed: str  # "", PRIMARY or COMPLEMENTARY
    row: str
    column: str
    # How the figure was computed (the definition, its version, the date and the scope).
    provenance: Provenance | None = None


@dataclasses.dataclass(frozen=True)
class Row:
    key: str
    label: str
    cells: tuple[Cell, ...]


@dataclasses.dataclass(frozen=True)
class ReportTable:
    code: str
    title: str
    source_label: str
    row_label: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    total: Row | None
    provenance: Provenance
    threshold: int
    notes: tuple[str, ...]

    def __post_init__(self) -> None:
        # Every cell names how it was computed; the table's rows are stamped once here.
        def stamped(row: Row) -> Row:
            cells = tuple(
                dataclasses.replace(cell, provenance=self.provenance) for cell in row.cells
            )
            return dataclasses.replace(row, cells=cells)

        object.__setattr__(self, "rows", tuple(stamped(row) for row in self.rows))
        if self.total is not None:
            object.__setattr__(self, "total", stamped(self.total))

    @property
    def all_rows(self) -> tuple[Row, ...]:
        return (*self.rows, self.total) if self.total is not None else self.rows

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: shown texts and values only."""
        return {
            "code": self.code,
            "title": self.title,
            "source": self.source_label,
            "as_of": self.provenance.as_of.isoformat(),
            "version": self.provenance.version,
            "scope": self.provenance.scope,
            "provenance": self.provenance.describe(),
            "row_label": self.row_label,
            "columns": [dataclasses.asdict(column) for column in self.columns],
            "rows": [
                {
                    "key": row.key,
                    "label": row.label,
                    "cells": [
                        {
                            "text": c.text,
                            "value": c.value,
                            **({"suppressed": c.suppressed} if c.suppressed else {}),
                        }
                        for c in row.cells
                    ],
                }
                for row in self.all_rows
            ],
            "notes": list(self.notes),
        }


Labeller = Callable[[str, object], str]
Sorter = Callable[[str, object], tuple[Any, ...]]


def _format(value: float | int, decimals: int) -> str:
    if decimals == 0:
        return f"{int(value):,}".replace(",", ".")
    text = f"{value:,.{decimals}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def build_table(
    spec: ReportSpec,
    *,
    dimensions: Sequence[str],
    counts: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    provenance: Provenance,
    threshold: int,
    label: Labeller,
    order: Sorter,
    column_values: Sequence[object] = (),
) -> ReportTable:
    """``rows``: the grouped result (dimension values, then ``counts``). ``column_values``:
    values of the column dimension to show even when nothing falls in them."""
    source = spec.source_info
    row_dim, column_dim = spec.rows, spec.columns
    index = {name: n for n, name in enumerate(counts)}
    width = len(dimensions)
    notes = [
        f"<{threshold}: từ 1 đến {threshold - 1} (ẩn để không nhận ra được người cụ thể).",
        f"{HIDDEN_MARK}: ẩn thêm để không suy ra được ô <{threshold} từ các tổng.",
        provenance.describe() + ".",
    ]
    if column_dim is None:
        return _by_measures(
            spec,
            row_dim,
            rows,
            width,
            index,
            provenance,
            threshold,
            label,
            order,
            notes,
            source.measures,
        )
    measure = source.measures[spec.measures[0]]
    row_keys: list[object] = []
    column_keys: list[object] = list(column_values)
    values: dict[tuple[object, object], int] = {}
    for record in rows:
        row_value = record[0] if row_dim else None
        column_value = record[1 if row_dim else 0]
        count = int(record[width + index[measure.name]] or 0)
        if row_value not in row_keys:
            row_keys.append(row_value)
        if column_value not in column_keys:
            column_keys.append(column_value)
        values[(row_value, column_value)] = values.get((row_value, column_value), 0) + count
    if row_dim:
        row_keys.sort(key=lambda v: order(row_dim, v))
    elif not row_keys:
        row_keys = [None]
    column_keys.sort(key=lambda v: order(column_dim, v))
    grid = [[values.get((r, c), 0) for c in column_keys] for r in row_keys]
    for line in grid:
        line.append(sum(line))
    grid.append([sum(line[j] for line in grid) for j in range(len(column_keys) + 1)])
    hidden = (
        suppress_grid(grid, row_lines=True, column_lines=True, threshold=threshold)
        if measure.persons
        else None
    )
    columns = tuple(
        [Column(_key(c), label(column_dim, c)) for c in column_keys]
        + [Column(TOTAL_KEY, "Tổng số")]
    )
    out_rows: list[Row] = []
    for i, row_value in enumerate([*row_keys, TOTAL_KEY]):
        key = TOTAL_KEY if i == len(row_keys) else _key(row_value)
        text = (
            "Tổng cộng"
            if key == TOTAL_KEY
            else (label(row_dim, row_value) if row_dim else "Toàn bộ")
        )
        cells = []
        for j, column in enumerate(columns):
            status = ""
            if hidden is not None and (i, j) in hidden.primary:
                status = PRIMARY
            elif hidden is not None and (i, j) in hidden.complementary:
                status = COMPLEMENTARY
            cells.append(_cell(grid[i][j], status, threshold, key, column.key, 0))
        out_rows.append(Row(key, text, tuple(cells)))
    return ReportTable(
        spec.code,
        spec.title,
        source.label,
        source.fields[row_dim].label if row_dim else "",
        columns,
        tuple(out_rows[:-1]),
        out_rows[-1],
        provenance,
        threshold,
        tuple(notes),
    )


def _key(value: object) -> str:
    return "" if value is None else str(value)


def _cell(
    value: int | float, status: str, threshold: int, row: str, column: str, decimals: int
) -> Cell:
    if status == PRIMARY:
        return Cell(None, f"<{threshold}", PRIMARY, row, column)
    if status == COMPLEMENTARY:
        return Cell(None, HIDDEN_MARK, COMPLEMENTARY, row, column)
    return Cell(value, _format(value, decimals), "", row, column)


def _by_measures(
    spec: ReportSpec,
    row_dim: str | None,
    rows: Sequence[tuple[Any, ...]],
    width: int,
    index: Mapping[str, int],
    provenance: Provenance,
    threshold: int,
    label: Labeller,
    order: Sorter,
    notes: list[str],
    measures: Mapping[str, Measure],
) -> ReportTable:
    """Rows by one dimension (or one row), a column per measure, and a total row."""
    counts = list(index)
    by_row: dict[object, list[int]] = {}
    for record in rows:
        key = record[0] if row_dim else None
        line = by_row.setdefault(key, [0] * len(counts))
        for n in index.values():
            line[n] += int(record[width + n] or 0)
    keys = sorted(by_row, key=lambda v: order(row_dim, v)) if row_dim else [None]
    grid = [by_row.get(k, [0] * len(counts)) for k in keys]
    with_total = row_dim is not None
    if with_total:
        grid.append([sum(line[n] for line in grid) for n in range(len(counts))])
    persons = [n for n, name in enumerate(counts) if measures[name].persons]
    hidden: set[tuple[int, int]] = set()
    primary: set[tuple[int, int]] = set()
    if persons:
        sub = [[line[n] for n in persons] for line in grid]
        result = suppress_grid(sub, row_lines=False, column_lines=with_total, threshold=threshold)
        primary = {(i, persons[j]) for i, j in result.primary}
        hidden = primary | {(i, persons[j]) for i, j in result.complementary}
    columns = tuple(Column(name, measures[name].label) for name in spec.measures)
    out_rows: list[Row] = []
    labels = [*(label(row_dim, k) if row_dim else "Toàn bộ" for k in keys)]
    row_keys = [_key(k) for k in keys]
    if with_total:
        labels.append("Tổng cộng")
        row_keys.append(TOTAL_KEY)
    for i, line in enumerate(grid):
        cells = []
        for name in spec.measures:
            measure = measures[name]
            if measure.kind == "ratio":
                top, bottom = index[measure.numerator], index[measure.denominator]
                if (i, top) in hidden or (i, bottom) in hidden:
                    cells.append(Cell(None, HIDDEN_MARK, COMPLEMENTARY, row_keys[i], name))
                elif line[bottom] == 0:
                    cells.append(Cell(None, "–", "", row_keys[i], name))
                else:
                    value = round(line[top] / line[bottom] * measure.scale, measure.decimals)
                    cells.append(_cell(value, "", threshold, row_keys[i], name, measure.decimals))
                continue
            n = index[name]
            status = PRIMARY if (i, n) in primary else COMPLEMENTARY if (i, n) in hidden else ""
            cells.append(_cell(line[n], status, threshold, row_keys[i], name, 0))
        out_rows.append(Row(row_keys[i], labels[i], tuple(cells)))
    total = out_rows.pop() if with_total else None
    return ReportTable(
        spec.code,
        spec.title,
        spec.source_info.label,
        spec.source_info.fields[row_dim].label if row_dim else "",
        columns,
        tuple(out_rows),
        total,
        provenance,
        threshold,
        tuple(notes),
    )
