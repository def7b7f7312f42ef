"""Shared helpers for the quality tests: the rule set built from the shipped files (pure, no
database), the values that rules care about, and running rules through both paths."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl

from edureg.core.catalogue import DEFAULT_FILE, parse_catalogue
from edureg.core.codelists import get_list
from edureg.quality.engine import RowResult, evaluate_frame, evaluate_row
from edureg.quality.rules.catalogue import (
    Kind,
    Rule,
    RuleSet,
    build_rule_set,
    load_parameters,
)
from edureg.quality.rules.checks import (
    TODAY,
    All,
    AnyOf,
    Check,
    LowerIn,
    Not,
    NotInList,
    OneOf,
    PersonalIdDisagrees,
)
from edureg.quality.services import id_prefixes


@functools.cache
def shipped_rule_set() -> RuleSet:
    """The rules built from the shipped field catalogue, code lists and rule parameters: what
    ``current_rule_set()`` gives on a freshly migrated database, without touching it."""
    return build_rule_set(
        parse_catalogue(DEFAULT_FILE.read_text(encoding="utf-8")),
        code_lists=lambda name: [entry.code for entry in get_list(name).entries],
        id_prefixes=id_prefixes(), parameters=load_parameters(),
    )


def leaves(check: Check) -> Iterator[Check]:
    if isinstance(check, All | AnyOf):
        for part in check.parts:
            yield from leaves(part)
    elif isinstance(check, Not):
        yield from leaves(check.part)
    else:
        yield check


def rule_leaves(rule: Rule) -> Iterator[Check]:
    yield from leaves(rule.check)
    if rule.applies is not None:
        yield from leaves(rule.applies)


def meaningful_texts(rules: Sequence[Rule]) -> dict[str, tuple[str, ...]]:
    """Per column, the texts the rules single out (codes, guard values, placeholders), so that
    generated rows hit both sides of every rule, not only the "filled with noise" side."""
    found: dict[str, set[str]] = {}
    for rule in rules:
        for leaf in rule_leaves(rule):
            if isinstance(leaf, NotInList):
                found.setdefault(leaf.column, set()).update(leaf.codes)
            elif isinstance(leaf, OneOf | LowerIn):
                found.setdefault(leaf.column, set()).update(leaf.values)
    return {column: tuple(sorted(values)) for column, values in found.items()}


def known_id_prefixes(rules: Sequence[Rule]) -> tuple[str, ...]:
    prefixes: set[str] = set()
    for rule in rules:
        for leaf in rule_leaves(rule):
            if isinstance(leaf, PersonalIdDisagrees):
                prefixes |= leaf.prefixes
    return tuple(sorted(prefixes))


def columns_of(rules: Sequence[Rule]) -> tuple[str, ...]:
    return tuple(sorted(frozenset().union(*(rule.columns for rule in rules))))


# How the feeds type their columns (registry/quality.py): dates, integers, the rest text.
DATE_COLUMNS = frozenset({"date_of_birth", "child_birth"})
INT_COLUMNS = frozenset({"grade", "start_year", "birth_year", "personal_id_shared",
                         "identity_verified"})


def column_role(column: str) -> str:
    if column == TODAY or column in DATE_COLUMNS or column.startswith("confirmed_"):
        return "date"
    if column in INT_COLUMNS or column.startswith("attested_"):
        return "int"
    return "text"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one path says about one record, in comparable form."""

    violated: frozenset[str]
    status_bits: int
    required_total: int
    required_filled: int


def row_outcome(rules: Sequence[Rule], statuses: Sequence[Rule],
                record: Mapping[str, Any]) -> Outcome:
    result: RowResult = evaluate_row(rules, statuses, record)
    return Outcome(frozenset(rule.code for rule in result.violated), result.status_bits,
                   result.required_total, result.required_filled)


def frame_outcomes(rules: Sequence[Rule], statuses: Sequence[Rule],
                   frame: pl.DataFrame) -> list[Outcome]:
    result = evaluate_frame(rules, statuses, frame)
    codes = [rule.code for rule in rules if rule.kind is Kind.PROBLEM]
    return [
        Outcome(frozenset(code for code in codes if row[code]), row["status_bits"],
                row["required_total"], row["required_filled"])
        for row in result.iter_rows(named=True)
    ]


def short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…({len(text)} chars)"


def describe(record: Mapping[str, Any], columns: Sequence[str]) -> str:
    return "{" + ", ".join(f"{name}: {short(record.get(name))}" for name in columns) + "}"


DAY = dt.date(2026, 11, 20)
