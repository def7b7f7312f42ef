"""Storing quality state: the rule set in force, and replacing the state of owner records.

Called by the registry's services inside their transactions (per-record path) and by the
rescan (batch path); both hand over ``OwnerResult``s, so state, findings and the per-school and
per-class totals are written the same way whichever path computed them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from edureg.core.catalogue import active_catalogue
from edureg.core.codelists import current_version, get_list
from edureg.quality.engine import Summary, status_dimension_masks
from edureg.quality.models import COUNTER_FIELDS
from edureg.quality.rules.catalogue import (
    Dimension,
    Rule,
    RuleSet,
    build_rule_set,
    load_parameters,
)

_FOREIGN_ID_PREFIXES = range(101, 296)


def id_prefixes() -> list[str]:
    places = [entry.extra_str("id_prefix") for entry in get_list("legacy_province").entries]
    return [p for p in places if p] + [f"{n:03d}" for n in _FOREIGN_ID_PREFIXES]


@functools.lru_cache(maxsize=4)
def _rule_set(catalogue_version: str, lists_key: str) -> RuleSet:
    return build_rule_set(
        active_catalogue(),
        code_lists=lambda name: [entry.code for entry in get_list(name).entries],
        id_prefixes=id_prefixes(), parameters=load_parameters(),
    )


def current_rule_set() -> RuleSet:
    """The rules for the active field catalogue and the current code lists (cached per
    version: loading a new catalogue or code list version gives a new rule set)."""
    catalogue = active_catalogue()
    names = sorted({info.code_list for info in catalogue.fields if info.code_list}
                   | {"legacy_province"})
    lists = ",".join(f"{name}={current_version(name)}" for name in names)
    return _rule_set(catalogue.version, lists)


@dataclasses.dataclass(frozen=True)
class OwnerResult:
    owner_entity: str
    owner_id: int
    school_id: int
    class_id: int | None
    summary: Summary
    findings: tuple[tuple[str, int, Rule], ...]  # (entity, record id, rule)


def _counters(summary: Summary | Mapping[str, Any]) -> dict[str, int]:
    get = (lambda name: getattr(summary, name)) if isinstance(summary, Summary) \
        else summary.__getitem__
    return {"records": 1, **{name: int(get(name)) for name in COUNTER_FIELDS if name != "records"}}


def _total_upsert_sql(by_class: bool) -> str:
    columns = ", ".join(COUNTER_FIELDS)
    placeholders = ", ".join(["%s"] * len(COUNTER_FIELDS))
    updates = ", ".join(f"{name} = quality_qualitytotal.{name} + excluded.{name}"
                        for name in COUNTER_FIELDS)
    target = "(class_id, entity) WHERE class_id IS NOT NULL" if by_class \
        else "(school_id, entity) WHERE class_id IS NULL"
    return (f"INSERT INTO quality_qualitytotal (school_id, class_id, entity, {columns}) "  # noqa: S608 - fixed column names
            f"VALUES (%s, %s, %s, {placeholders}) ON CONFLICT {target} DO UPDATE SET {updates}")


_TOTAL_UPSERT = {False: _total_upsert_sql(False), True: _total_upsert_sql(True)}


def _apply_deltas(entity: str, deltas: Mapping[tuple[int, int | None], dict[str, int]]) -> None:
    with connection.cursor() as cursor:
        for (school_id, class_id), counters in deltas.items():
            if not any(counters.values()):
                continue
            values = [counters[name] for name in COUNTER_FIELDS]
            cursor.execute(_TOTAL_UPSERT[class_id is not None],
                           [school_id, class_id, entity, *values])


def _add(deltas: dict[tuple[int, int | None], dict[str, int]], key: tuple[int, int | None],
         counters: Mapping[str, int], sign: int) -> None:
    target = deltas.setdefault(key, dict.fromkeys(COUNTER_FIELDS, 0))
    for name, value in counters.items():
        target[name] += sign * value


_STATE_COLUMNS = ("entity", "record_id", "school_id", "class_id", "required_total",
                  "required_filled", "errors", "warnings", "correct_ok", "complete_ok",
                  "clean_ok", "live_ok", "status_bits", "rule_set", "computed_at")
_FINDING_COLUMNS = ("owner_entity", "owner_id", "school_id", "class_id", "entity", "record_id",
                    "rule_code", "field", "dimension", "severity", "weight")
_SUMMARY_FIELDS = ("required_total", "required_filled", "errors", "warnings", "correct_ok",
                   "complete_ok", "clean_ok", "live_ok", "status_bits")


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - fixed names
            f"VALUES ({', '.join(['%s'] * len(columns))})")


_STATE_INSERT = _insert_sql("quality_recordstate", _STATE_COLUMNS)
_FINDING_INSERT = _insert_sql("quality_finding", _FINDING_COLUMNS)
# The old states go and come back in one statement: on PostgreSQL the delete waits for a rescan
# holding the table (``SHARE ROW EXCLUSIVE``) and then returns what it stored, so the totals'
# deltas start from the state actually replaced.
_PREVIOUS = ("DELETE FROM quality_recordstate WHERE entity = %s AND record_id IN ({ids}) "  # noqa: S608
             "RETURNING school_id, class_id, " + ", ".join(COUNTER_FIELDS[1:]))


def states_replace(owner_entity: str, results: Sequence[OwnerResult], *, rule_set: RuleSet,
                   owner_ids: Iterable[int] = ()) -> None:
    """Replace the stored state and findings of the given owners (and drop the state of
    ``owner_ids`` that have no result any more), updating school and class totals by the
    difference. Runs in the caller's transaction. Plain SQL: this runs on every write."""
    ids = sorted({r.owner_id for r in results} | set(owner_ids))
    if not ids:
        return
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    in_ids = ", ".join(["%s"] * len(ids))
    deltas: dict[tuple[int, int | None], dict[str, int]] = {}
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(_PREVIOUS.replace("{ids}", in_ids), [owner_entity, *ids])
        for school_id, class_id, *values in cursor.fetchall():
            counters = {"records": 1, **{name: int(value) for name, value
                                         in zip(COUNTER_FIELDS[1:], values, strict=True)}}
            _add(deltas, (school_id, None), counters, -1)
            if class_id is not None:
                _add(deltas, (school_id, class_id), counters, -1)
        cursor.execute(
            f"DELETE FROM quality_finding WHERE owner_entity = %s AND owner_id IN ({in_ids})",  # noqa: S608
            [owner_entity, *ids])
        states: list[tuple[Any, ...]] = []
        findings: list[tuple[Any, ...]] = []
        for result in results:
            summary = result.summary
            states.append((owner_entity, result.owner_id, result.school_id, result.class_id,
                           *(getattr(summary, name) for name in _SUMMARY_FIELDS),
                           rule_set.version, now))
            counters = _counters(summary)
            _add(deltas, (result.school_id, None), counters, 1)
            if result.class_id is not None:
                _add(deltas, (result.school_id, result.class_id), counters, 1)
            findings.extend(
                (owner_entity, result.owner_id, result.school_id, result.class_id, entity,
                 record_id, rule.code, rule.fields[0], rule.dimension.value,
                 rule.severity.value, rule.weight)
                for entity, record_id, rule in result.findings)
        if states:
            cursor.executemany(_STATE_INSERT, states)
        if findings:
            cursor.executemany(_FINDING_INSERT, findings)
    _apply_deltas(owner_entity, deltas)


_DIMENSION_FLAG = {Dimension.CORRECT: "correct_ok", Dimension.COMPLETE: "complete_ok",
                   Dimension.CLEAN: "clean_ok", Dimension.LIVE: "live_ok"}


def status_rules_apply(owner_entity: str, outcomes: Mapping[str, Mapping[int, bool]], *,
                       rule_set: RuleSet) -> list[int]:
    """Some status rules' outcomes changed for some owners (``outcomes``: rule code → owner id
    → violated), e.g. after an identity verification: set their bits and the flags of their
    dimensions in the owners' stored state, and the totals by the difference — without
    re-running the other rules, whose outcome cannot have changed. A dimension stays not OK
    while the owner has findings of it or another open status rule of it. Returns the owners
    without a stored state of these rules (the caller measures them in full). Runs in the
    caller's transaction."""
    rules = rule_set.status_rules(owner_entity)
    bits = {code: 1 << next(i for i, rule in enumerate(rules) if rule.code == code)
            for code in outcomes}
    dimensions = {rule.dimension for rule in rules if rule.code in outcomes}
    masks = status_dimension_masks(rule_set, owner_entity)
    ids = sorted({pk for by_owner in outcomes.values() for pk in by_owner})
    if not ids:
        return []
    flags = [_DIMENSION_FLAG[d] for d in sorted(dimensions)]
    in_ids = ", ".join(["%s"] * len(ids))
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    deltas: dict[tuple[int, int | None], dict[str, int]] = {}
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT record_id, school_id, class_id, status_bits, {', '.join(flags)} "  # noqa: S608 - fixed names
            f"FROM quality_recordstate WHERE entity = %s AND rule_set = %s "
            f"AND record_id IN ({in_ids}){lock}", [owner_entity, rule_set.version, *ids])
        stored = cursor.fetchall()
        cursor.execute(
            f"SELECT DISTINCT owner_id, dimension FROM quality_finding "  # noqa: S608
            f"WHERE owner_entity = %s AND owner_id IN ({in_ids})", [owner_entity, *ids])
        with_findings = set(cursor.fetchall())
        updates = []
        for record_id, school_id, class_id, old_bits, *old_flags in stored:
            new_bits = old_bits
            for code, by_owner in outcomes.items():
                if record_id in by_owner:
                    new_bits = (new_bits | bits[code]) if by_owner[record_id] \
                        else (new_bits & ~bits[code])
            new_flags = [(record_id, d.value) not in with_findings and not new_bits & masks[d]
                         for d in sorted(dimensions)]
            if new_bits == old_bits and new_flags == [bool(f) for f in old_flags]:
                continue
            updates.append((new_bits, *new_flags, now, owner_entity, record_id))
            change = {flag: int(new) - int(bool(old))
                      for flag, new, old in zip(flags, new_flags, old_flags, strict=True)}
            _add(deltas, (school_id, None), change, 1)
            if class_id is not None:
                _add(deltas, (school_id, class_id), change, 1)
        if updates:
            assigned = ", ".join(f"{flag} = %s" for flag in flags)
            cursor.executemany(
                f"UPDATE quality_recordstate SET status_bits = %s, {assigned}, "  # noqa: S608
                "computed_at = %s WHERE entity = %s AND record_id = %s", updates)
    _apply_deltas(owner_entity, deltas)
    found = {row[0] for row in stored}
    return [pk for pk in ids if pk not in found]


def today() -> dt.date:
    return timezone.localdate()
