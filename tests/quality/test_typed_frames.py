"""The batch path reads a column by its type when the frame says what it is — a Date, a
Datetime (naive or in a time zone), an integer of any width, a Boolean — instead of through its
text (PostgreSQL gives smallints and timestamps, SQLite 64-bit integers and dates). Each such
column must be judged as the per-record path judges the same Python values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from edureg.quality.engine import evaluate_frame, evaluate_row
from edureg.quality.rules.catalogue import Dimension, Rule, Severity
from edureg.quality.rules.checks import (
    TODAY,
    Blank,
    Check,
    DateOutside,
    IsTrue,
    OlderThan,
    PersonalIdDisagrees,
    YearDifferenceOutside,
)

_DAY = dt.date(2026, 11, 20)
_UTC = dt.UTC
_HANOI = dt.timezone(dt.timedelta(hours=7))
_ID = "079206001234"  # a woman born in 2006
_PUPIL_AGE = YearDifferenceOutside("start_year", "date_of_birth", 5, 6, offset_column="grade")
_PARENT_AGE = YearDifferenceOutside("child_birth", "birth_year", 15, 70)


def _at(day: dt.date, hour: int, tz: dt.tzinfo | None = None) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=tz)


# (name, check, column → (dtype, values)); every column has the same number of values.
_CASES: list[tuple[str, Check, dict[str, tuple[pl.DataType, list[Any]]]]] = [
    ("date-outside-naive-timestamps", DateOutside("d", dt.date(1900, 1, 1)), {
        "d": (pl.Datetime("us"), [_at(dt.date(1899, 12, 31), 23), _at(_DAY, 23),
                                  _at(_DAY + dt.timedelta(days=1), 0), None])}),
    ("date-outside-utc-timestamps", DateOutside("d", dt.date(1900, 1, 1)), {
        "d": (pl.Datetime("us", "UTC"), [_at(_DAY, 23, _UTC),
                                         _at(_DAY + dt.timedelta(days=1), 1, _UTC),
                                         _at(dt.date(1899, 12, 31), 12, _UTC), None])}),
    ("older-than-naive-timestamps", OlderThan("c", 365), {
        "c": (pl.Datetime("us"), [_at(dt.date(2025, 11, 20), 8), _at(dt.date(2025, 11, 19), 8),
                                  _at(_DAY, 0), None])}),
    ("older-than-utc-timestamps", OlderThan("c", 365), {
        "c": (pl.Datetime("us", "UTC"), [_at(dt.date(2025, 11, 20), 23, _UTC),
                                         _at(dt.date(2025, 11, 19), 23, _UTC),
                                         _at(_DAY, 0, _UTC), None])}),
    ("older-than-hanoi-timestamps", OlderThan("c", 365), {
        "c": (pl.Datetime("us", "Asia/Ho_Chi_Minh"), [
            _at(dt.date(2025, 11, 20), 6, _HANOI), _at(dt.date(2025, 11, 19), 23, _HANOI),
            None, _at(_DAY, 1, _HANOI)])}),
    ("pupil-age-smallints", _PUPIL_AGE, {
        "start_year": (pl.Int16(), [2026, 2026, 2026, None]),
        "grade": (pl.Int16(), [1, 1, 0, 1]),
        "date_of_birth": (pl.Date(), [dt.date(2020, 5, 1), dt.date(2010, 5, 1),
                                      dt.date(2021, 1, 1), dt.date(2020, 1, 1)])}),
    ("pupil-age-timestamp-birth", _PUPIL_AGE, {
        "start_year": (pl.Int32(), [2026, 2026, 2026, 2026]),
        "grade": (pl.UInt8(), [1, 1, None, 3]),
        "date_of_birth": (pl.Datetime("us"), [_at(dt.date(2020, 5, 1), 0),
                                              _at(dt.date(2010, 5, 1), 0), None,
                                              _at(dt.date(2018, 5, 1), 0)])}),
    ("parent-age-unsigned-years", _PARENT_AGE, {
        "child_birth": (pl.Date(), [dt.date(2015, 1, 1), dt.date(2015, 1, 1), None,
                                    dt.date(2015, 1, 1)]),
        "birth_year": (pl.UInt16(), [1985, 2010, 1985, 999])}),
    ("id-year-timestamp-birth", PersonalIdDisagrees("p", "year", other="d"), {
        "p": (pl.Utf8(), [_ID, _ID, _ID, _ID]),
        "d": (pl.Datetime("us", "UTC"), [_at(dt.date(2006, 3, 1), 5, _UTC),
                                         _at(dt.date(2007, 1, 1), 5, _UTC), None,
                                         _at(dt.date(2005, 12, 31), 23, _UTC)])}),
    ("blank-smallint", Blank("b"), {"b": (pl.Int16(), [0, None, -1, 5])}),
    ("blank-boolean", Blank("b"), {"b": (pl.Boolean(), [False, None, True, False])}),
    ("blank-timestamp", Blank("b"), {"b": (pl.Datetime("us"), [None, _at(_DAY, 1), None,
                                                               _at(_DAY, 2)])}),
    ("is-true-boolean", IsTrue("flag"), {"flag": (pl.Boolean(), [True, False, None, True])}),
    ("is-true-smallint", IsTrue("flag"), {"flag": (pl.Int16(), [1, 0, 2, None])}),
    ("is-true-unsigned", IsTrue("flag"), {"flag": (pl.UInt32(), [1, 0, None, 7])}),
]


@pytest.mark.parametrize(("check", "columns"), [(c, cols) for _, c, cols in _CASES],
                         ids=[name for name, _, _ in _CASES])
def test_a_typed_column_is_judged_as_the_per_record_path_judges_its_values(
        check: Check, columns: dict[str, tuple[pl.DataType, list[Any]]]) -> None:
    rule = Rule(code="typed", dimension=Dimension.CORRECT, severity=Severity.WARNING,
                entity="student", fields=("typed",), template="", params={}, basis="",
                check=check)
    height = len(next(iter(columns.values()))[1])
    frame = pl.DataFrame([pl.Series(name, values, dtype=dtype)
                          for name, (dtype, values) in columns.items()]
                         + [pl.Series(TODAY, [_DAY] * height, dtype=pl.Date())])
    records = frame.to_dicts()  # the values as Python gives them to the per-record path

    by_frame = evaluate_frame([rule], [], frame)["typed"].to_list()
    by_row = [bool(evaluate_row([rule], [], record).violated) for record in records]

    assert by_frame == by_row
