"""The per-record path (``evaluate_row``, Python) and the batch path (``evaluate_frame``,
Polars) are two evaluations of one rule definition: on any rows they must say the same."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edureg.quality.engine import evaluate_frame, evaluate_row
from edureg.quality.rules.catalogue import ENTITIES, Dimension, Rule, Severity
from edureg.quality.rules.checks import (
    TODAY,
    Blank,
    Check,
    DateOutside,
    IsTrue,
    LowerIn,
    Matches,
    NotInList,
    OlderThan,
    OneOf,
    PersonalIdDisagrees,
    RepeatedCharacter,
    YearDifferenceOutside,
)
from edureg.quality.services import current_rule_set
from tests.quality import strategies as gen
from tests.quality.support import (
    column_role,
    columns_of,
    describe,
    frame_outcomes,
    known_id_prefixes,
    meaningful_texts,
    row_outcome,
    shipped_rule_set,
)


def test_the_shipped_rules_are_the_rules_in_force(db: None) -> None:
    current = current_rule_set()
    assert [rule.code for rule in current.rules] == [rule.code for rule in shipped_rule_set().rules]
    assert current.version == shipped_rule_set().version


def _kind(column: str) -> st.SearchStrategy[str]:
    role = column_role(column)
    if column == TODAY:
        return st.just("today")
    if role == "date":
        return st.sampled_from(["date", "iso"])  # every value of the example one way or the other
    if role == "int":
        return st.just("int")
    return st.sampled_from(["text", "text", "text", "int"])


def _values(kind: str, column: str, meaningful: dict[str, tuple[str, ...]],
            prefixes: tuple[str, ...]) -> st.SearchStrategy[Any]:
    if kind == "today":
        return gen.days
    strategies = {"date": gen.dates, "iso": gen.iso_texts, "int": gen.integers}
    if kind in strategies:
        return st.none() | strategies[kind]
    return st.none() | gen.texts(meaningful.get(column, ()), prefixes)


_DTYPES: dict[str, pl.DataType] = {**gen.DTYPES, "today": pl.Date()}


@pytest.mark.parametrize("entity", ENTITIES)
# No shrinking: rows of dozens of columns shrink for minutes; the failure message names the
# disagreeing rows and rules instead.
@settings(max_examples=30, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_row_and_frame_paths_give_the_same_findings_bits_and_required_counts(
        db: None, entity: str, data: st.DataObject) -> None:
    rule_set = current_rule_set()
    rules = rule_set.for_entity(entity)
    statuses = rule_set.status_rules(entity)
    columns = columns_of(rules)
    meaningful = meaningful_texts(rules)
    prefixes = known_id_prefixes(rules)
    kinds = {column: data.draw(_kind(column), label=f"kind of {column}") for column in columns}
    row = st.fixed_dictionaries({
        column: _values(kinds[column], column, meaningful, prefixes) for column in columns})
    records = data.draw(st.lists(row, min_size=1, max_size=8), label="rows")
    frame = pl.DataFrame([pl.Series(column, [record[column] for record in records],
                                    dtype=_DTYPES[kinds[column]]) for column in columns])

    batch = frame_outcomes(rules, statuses, frame)

    disagreements = []
    for index, record in enumerate(records):
        single = row_outcome(rules, statuses, record)
        if single != batch[index]:
            disagreements.append(
                f"row {index}: only per-record {sorted(single.violated - batch[index].violated)}"
                f", only batch {sorted(batch[index].violated - single.violated)}, bits "
                f"{single.status_bits}/{batch[index].status_bits}, required "
                f"{single.required_total}:{single.required_filled}/"
                f"{batch[index].required_total}:{batch[index].required_filled} — "
                f"{describe(record, columns)}")
    assert not disagreements, "\n".join(disagreements)


# Edge values, one check at a time: each case names the input the two paths must agree on.
_ID = "079206001234"
_DAY = dt.date(2026, 11, 20)
_PUPIL_AGE = YearDifferenceOutside("start_year", "date_of_birth", 5, 6, offset_column="grade")
_EDGES: list[tuple[str, Check, dict[str, Any]]] = [
    ("blank-none", Blank("full_name"), {"full_name": None}),
    ("blank-spaces", Blank("full_name"), {"full_name": " \t\n "}),
    ("blank-no-break-space", Blank("full_name"), {"full_name": "\u00a0\u3000"}),
    ("blank-nfd-name", Blank("full_name"),
     {"full_name": unicodedata.normalize("NFD", "Nguyễn")}),
    ("blank-brackets-text", Blank("full_name"), {"full_name": "[]"}),
    ("blank-unit-separator", Blank("full_name"), {"full_name": "\x1f"}),
    ("one-of-padded", OneOf("status_code", frozenset({"01"})), {"status_code": " 01 "}),
    ("one-of-int", OneOf("grade", frozenset({"1"})), {"grade": 1}),
    ("one-of-unit-separator", OneOf("status_code", frozenset({"01"})),
     {"status_code": "01\x1f"}),
    ("not-in-list-padded", NotInList("sex", frozenset({"M", "F"})), {"sex": "\tF "}),
    ("not-in-list-fullwidth", NotInList("sex", frozenset({"M", "F"})), {"sex": "Ｆ"}),
    ("not-in-list-unit-separator", NotInList("sex", frozenset({"M", "F"})), {"sex": "\x1f"}),
    ("matches-trailing-newline", Matches("p", r"^[0-9]{12}$"), {"p": _ID + "\n"}),
    ("matches-fullwidth-digit", Matches("p", r"^[0-9]{12}$"), {"p": "０" + _ID[1:]}),
    ("matches-unit-separator", Matches("p", r"^[0-9]{12}$"), {"p": _ID + "\x1f"}),
    ("lower-in-case-and-spaces", LowerIn("n", frozenset({"không có"})), {"n": " KHÔNG   Có "}),
    ("lower-in-nfd", LowerIn("n", frozenset({"không có"})),
     {"n": unicodedata.normalize("NFD", "Không Có")}),
    ("lower-in-no-break-space", LowerIn("n", frozenset({"không có"})), {"n": "không\u00a0có"}),
    ("lower-in-unit-separator", LowerIn("n", frozenset({"không có"})), {"n": "không\x1fcó"}),
    ("repeated-mixed-case", RepeatedCharacter("n", 3), {"n": "NguyễNnN"}),
    ("repeated-long", RepeatedCharacter("n", 3), {"n": "ab" * 2500}),
    ("date-outside-before-earliest", DateOutside("d", dt.date(1900, 1, 1)),
     {"d": dt.date(1899, 12, 31), TODAY: _DAY}),
    ("date-outside-tomorrow", DateOutside("d", dt.date(1900, 1, 1)),
     {"d": _DAY + dt.timedelta(days=1), TODAY: _DAY}),
    ("date-outside-today", DateOutside("d", dt.date(1900, 1, 1)), {"d": _DAY, TODAY: _DAY}),
    ("date-outside-iso-text", DateOutside("d", dt.date(1900, 1, 1)),
     {"d": "1800-01-01", TODAY: _DAY}),
    ("pupil-age-ints", _PUPIL_AGE,
     {"start_year": 2026, "date_of_birth": dt.date(2021, 5, 1), "grade": 1}),
    ("pupil-age-year-text", _PUPIL_AGE,
     {"start_year": 2026, "date_of_birth": "2010", "grade": 1}),
    ("pupil-age-iso-week-date", _PUPIL_AGE,
     {"start_year": 2026, "date_of_birth": "2010-W01-1", "grade": 1}),
    ("pupil-age-unpadded-date", _PUPIL_AGE,
     {"start_year": 2026, "date_of_birth": "2010-1-1", "grade": 1}),
    ("pupil-age-grade-text-with-spaces", _PUPIL_AGE,
     {"start_year": 2026, "date_of_birth": dt.date(2010, 1, 1), "grade": " 1 "}),
    ("older-than-timestamp-text", OlderThan("c", 365),
     {"c": "2025-11-20 08:00:00", TODAY: _DAY}),
    ("older-than-none", OlderThan("c", 365), {"c": None, TODAY: _DAY}),
    ("older-than-iso-week-date", OlderThan("c", 365), {"c": "2026-W46-1", TODAY: _DAY}),
    ("older-than-without-today", OlderThan("c", 365), {"c": None, TODAY: None}),
    ("older-than-unpadded-date", OlderThan("c", 365), {"c": "2026-1-5", TODAY: _DAY}),
    ("id-year-agrees", PersonalIdDisagrees("p", "year", other="d"),
     {"p": _ID, "d": dt.date(2006, 3, 1)}),
    ("id-year-iso-week-date", PersonalIdDisagrees("p", "year", other="d"),
     {"p": _ID, "d": "2010-W01-1"}),
    ("id-sex-padded", PersonalIdDisagrees("p", "sex", other="s"), {"p": f" {_ID} ", "s": "F"}),
    ("id-sex-unit-separator", PersonalIdDisagrees("p", "sex", other="s"),
     {"p": _ID + "\x1f", "s": "F"}),
    ("id-sex-century-digit-8", PersonalIdDisagrees("p", "sex", other="s"),
     {"p": "079806001234", "s": "F"}),
    ("is-true-int", IsTrue("flag"), {"flag": 1}),
    ("is-true-text", IsTrue("flag"), {"flag": "1"}),
]


def _one_row_frame(record: dict[str, Any]) -> pl.DataFrame:
    def dtype(value: object) -> pl.DataType:
        if isinstance(value, bool):
            return pl.Boolean()
        if isinstance(value, int):
            return pl.Int64()
        if isinstance(value, dt.date):
            return pl.Date()
        return pl.Utf8()

    return pl.DataFrame([pl.Series(name, [value], dtype=dtype(value))
                         for name, value in record.items()])


@pytest.mark.parametrize(("check", "record"), [(c, r) for _, c, r in _EDGES],
                         ids=[name for name, _, _ in _EDGES])
def test_both_paths_judge_an_edge_value_alike(check: Check, record: dict[str, Any]) -> None:
    # Through the engine, as the two paths use a check (the batch path prepares the frame).
    rule = Rule(code="edge", dimension=Dimension.CORRECT, severity=Severity.WARNING,
                entity="student", fields=("edge",), template="", params={}, basis="",
                check=check)
    by_row = bool(evaluate_row([rule], [], record).violated)
    by_frame = evaluate_frame([rule], [], _one_row_frame(record))["edge"].to_list()

    assert by_frame == [by_row]
