"""Evaluating rules: one record at a time (every write) or a whole frame (a full rescan).

Both take the rule definitions of ``rules.catalogue`` and return the same facts: which problem
rules each record violates, which status rules are open (as bits, in the rule set's order), and
how many required fields applied and were filled. The record state and dimension flags are then
derived from those facts by ``summarise`` (one record) or ``summarise_frame`` (many), which share
the definitions below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from edureg.quality.rules.catalogue import Dimension, Kind, Rule, RuleSet, Severity
from edureg.quality.rules.checks import nfc_frame


@dataclasses.dataclass(frozen=True)
class RowResult:
    violated: tuple[Rule, ...]  # problem rules only
    status_bits: int  # open status rules, bit i = ``rule_set.status_rules(owner)[i]``
    required_total: int
    required_filled: int


def evaluate_row(rules: Sequence[Rule], status_rules: Sequence[Rule],
                 record: Mapping[str, Any]) -> RowResult:
    violated: list[Rule] = []
    required_total = required_filled = 0
    for rule in rules:
        if rule.kind is Kind.STATUS:
            continue
        applies = rule.applies is None or rule.applies.row(record)
        if not applies:
            continue
        broken = rule.check.row(record)
        if rule.dimension is Dimension.COMPLETE:
            required_total += 1
            required_filled += not broken
        if broken:
            violated.append(rule)
    bits = 0
    for index, rule in enumerate(status_rules):
        if (rule.applies is None or rule.applies.row(record)) and rule.check.row(record):
            bits |= 1 << index
    return RowResult(tuple(violated), bits, required_total, required_filled)


def evaluate_frame(rules: Sequence[Rule], status_rules: Sequence[Rule],
                   frame: pl.DataFrame) -> pl.DataFrame:
    """The frame's key columns plus, per problem rule, a boolean column named by its code;
    ``status_bits``, ``required_total`` and ``required_filled``."""
    frame = nfc_frame(frame)
    types = frame.schema
    columns: list[pl.Expr] = []
    totals: list[pl.Expr] = []
    filled: list[pl.Expr] = []
    for rule in rules:
        if rule.kind is Kind.STATUS:
            continue
        applies = pl.lit(True) if rule.applies is None else rule.applies.expr(types)
        broken = rule.check.expr(types)
        columns.append((applies & broken).alias(rule.code))
        if rule.dimension is Dimension.COMPLETE:
            totals.append(applies.cast(pl.Int32))
            filled.append((applies & ~broken).cast(pl.Int32))
    bits: pl.Expr = pl.lit(0, dtype=pl.Int64)
    for index, rule in enumerate(status_rules):
        applies = pl.lit(True) if rule.applies is None else rule.applies.expr(types)
        is_open = applies & rule.check.expr(types)
        bits = bits + pl.when(is_open).then(pl.lit(1 << index)).otherwise(0)
    zero = pl.lit(0, dtype=pl.Int32)
    # Lazily, so that Polars evaluates each column's shared sub-expressions (the NFC text of a
    # field read by several rules) once, in parallel.
    return frame.lazy().select(
        *columns,
        bits.cast(pl.Int64).alias("status_bits"),
        (pl.sum_horizontal(totals) if totals else zero).cast(pl.Int32).alias("required_total"),
        (pl.sum_horizontal(filled) if filled else zero).cast(pl.Int32).alias("required_filled"),
    ).collect()


@dataclasses.dataclass(frozen=True)
class Summary:
    """One owner record's (a student with its guardians, or a staff member) stored state."""

    required_total: int
    required_filled: int
    errors: int
    warnings: int
    correct_ok: bool
    complete_ok: bool
    clean_ok: bool
    live_ok: bool
    status_bits: int


def status_dimension_masks(rule_set: RuleSet, owner: str) -> dict[Dimension, int]:
    masks = dict.fromkeys(Dimension, 0)
    for index, rule in enumerate(rule_set.status_rules(owner)):
        masks[rule.dimension] |= 1 << index
    return masks


def summarise(rule_set: RuleSet, owner: str, results: Sequence[RowResult],
              owner_bits: int) -> Summary:
    """Fold the owner's row and its dependants' rows (a student's guardians) into one state."""
    violated = [rule for result in results for rule in result.violated]
    dimensions = {rule.dimension for rule in violated}
    masks = status_dimension_masks(rule_set, owner)
    return Summary(
        required_total=sum(r.required_total for r in results),
        required_filled=sum(r.required_filled for r in results),
        errors=sum(rule.severity is Severity.ERROR for rule in violated),
        warnings=sum(rule.severity is Severity.WARNING for rule in violated),
        correct_ok=Dimension.CORRECT not in dimensions
        and not owner_bits & masks[Dimension.CORRECT],
        complete_ok=Dimension.COMPLETE not in dimensions
        and not owner_bits & masks[Dimension.COMPLETE],
        clean_ok=Dimension.CLEAN not in dimensions and not owner_bits & masks[Dimension.CLEAN],
        live_ok=Dimension.LIVE not in dimensions and not owner_bits & masks[Dimension.LIVE],
        status_bits=owner_bits,
    )
