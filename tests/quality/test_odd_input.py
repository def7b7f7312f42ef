"""Rules never raise on odd data, in either path: whatever a column holds, a rule answers
"violated" or "not violated" (checks.py: a check that cannot judge a value says "no")."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edureg.quality.engine import RowResult, evaluate_frame, evaluate_row
from edureg.quality.rules.catalogue import ENTITIES, Kind
from edureg.quality.rules.checks import TODAY
from tests.quality import strategies as gen
from tests.quality.support import columns_of, shipped_rule_set

_RULES = shipped_rule_set()
_NFD = gen.vietnamese.map(lambda name: unicodedata.normalize("NFD", name))
_HUGE_TEXT = st.builds(lambda unit, times: unit * times,
                       st.text(gen.CHARACTERS, min_size=1, max_size=4), st.integers(1_000, 5_000))
# Past 4,300 digits Python refuses to turn an int into text unless told otherwise.
_HUGE_INT = st.integers(4_300, 6_000).map(lambda digits: 10**digits + 7)

ROW_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "text": st.text(gen.CHARACTERS),
    "nfd": _NFD,
    "huge-text": _HUGE_TEXT,
    "none": st.none(),
    "int": st.integers(),
    "huge-int": _HUGE_INT,
    "float": st.floats(allow_nan=True, allow_infinity=True),
    "list": st.lists(st.text(gen.CHARACTERS, max_size=5) | st.integers(), max_size=3),
    "bool": st.booleans(),
    "date": gen.dates,
}
# Mixed leaves huge integers to their own case, so that it can find something else.
ROW_VALUES["mixed"] = st.one_of(
    *(strategy for name, strategy in ROW_VALUES.items() if name != "huge-int"),
    st.datetimes(), st.binary(max_size=8),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
_SETTINGS = settings(max_examples=25, deadline=None,
                     phases=(Phase.explicit, Phase.reuse, Phase.generate),
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.large_base_example])


@pytest.mark.parametrize("kind", list(ROW_VALUES))
@_SETTINGS
@given(data=st.data())
def test_per_record_path_never_raises_on_odd_values(kind: str, data: st.DataObject) -> None:
    for entity in ENTITIES:
        rules = _RULES.for_entity(entity)
        columns = columns_of(rules)
        record = {column: data.draw(ROW_VALUES[kind], label=column) for column in columns}
        record[TODAY] = data.draw(st.one_of(gen.days, ROW_VALUES[kind]), label=TODAY)
        for rule in rules:
            assert rule.check.row(record) in (True, False)
            assert rule.applies is None or rule.applies.row(record) in (True, False)
        result = evaluate_row(rules, _RULES.status_rules(entity), record)
        assert isinstance(result, RowResult)
        assert 0 <= result.required_filled <= result.required_total


def _series(name: str, kind: str, size: int, data: st.DataObject) -> pl.Series:
    def values(strategy: st.SearchStrategy[Any]) -> list[Any]:
        return data.draw(st.lists(st.none() | strategy, min_size=size, max_size=size), label=name)

    if kind == "text":
        return pl.Series(name, values(st.text(gen.CHARACTERS)), dtype=pl.Utf8)
    if kind == "nfd":
        return pl.Series(name, values(_NFD), dtype=pl.Utf8)
    if kind == "huge-text":
        return pl.Series(name, values(_HUGE_TEXT), dtype=pl.Utf8)
    if kind == "none":
        return pl.Series(name, [None] * size, dtype=pl.Null)
    if kind == "int":
        return pl.Series(name, values(st.integers(-(2**63), 2**63 - 1)), dtype=pl.Int64)
    if kind == "float":
        return pl.Series(name, values(st.floats(allow_nan=True, allow_infinity=True)),
                         dtype=pl.Float64)
    if kind == "list":
        return pl.Series(name, values(st.lists(st.text(gen.CHARACTERS, max_size=5), max_size=3)),
                         dtype=pl.List(pl.Utf8))
    if kind == "bool":
        return pl.Series(name, values(st.booleans()), dtype=pl.Boolean)
    if kind == "date":
        return pl.Series(name, values(gen.dates), dtype=pl.Date)
    assert kind == "datetime"
    return pl.Series(name, values(st.datetimes(min_value=dt.datetime(1800, 1, 1),
                                               max_value=dt.datetime(2200, 1, 1))),
                     dtype=pl.Datetime("us"))


FRAME_KINDS = ("text", "nfd", "huge-text", "none", "int", "float", "list", "bool", "date",
               "datetime", "mixed")


@pytest.mark.parametrize("kind", FRAME_KINDS)
@_SETTINGS
@given(data=st.data())
def test_batch_path_never_raises_on_odd_columns(kind: str, data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 4), label="rows")
    for entity in ENTITIES:
        rules = _RULES.for_entity(entity)
        statuses = _RULES.status_rules(entity)
        columns = [column for column in columns_of(rules) if column != TODAY]
        kinds = {column: kind if kind != "mixed" else data.draw(
            st.sampled_from(FRAME_KINDS[:-1]), label=f"kind of {column}") for column in columns}
        frame = pl.DataFrame([
            *(_series(column, kinds[column], size, data) for column in columns),
            pl.Series(TODAY, data.draw(st.lists(gen.days, min_size=size, max_size=size)),
                      dtype=pl.Date),
        ])

        result = evaluate_frame(rules, statuses, frame)

        assert result.height == size
        for rule in rules:
            if rule.kind is Kind.PROBLEM:
                assert result[rule.code].dtype == pl.Boolean
                assert result[rule.code].null_count() == 0
        for name in ("status_bits", "required_total", "required_filled"):
            assert result[name].null_count() == 0
