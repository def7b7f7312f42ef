"""Unusual-access rules: pure functions over counts, no database. The supervision screen feeds
them what the log says a user read on a day; thresholds are data (``EDUREG_UNUSUAL_ACCESS``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import statistics
from collections.abc import Collection, Mapping, Sequence
from typing import Any


class Rule(enum.StrEnum):
    NIGHT = "night"
    VOLUME = "volume"
    OUTSIDE_CLASSES = "outside_classes"


@dataclasses.dataclass(frozen=True)
class Thresholds:
    night_starts: dt.time = dt.time(22, 0)
    night_ends: dt.time = dt.time(5, 0)
    night_min_records: int = 1
    volume_factor: float = 5.0
    volume_min_records: int = 100
    history_days: int = 30
    outside_min_records: int = 10

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Thresholds:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown unusual-access thresholds: {sorted(unknown)}")
        return dataclasses.replace(cls(), **values)


@dataclasses.dataclass(frozen=True)
class Flag:
    actor_id: int
    rule: Rule
    records: int
    baseline: float | None = None


def is_night(moment: dt.time, thresholds: Thresholds) -> bool:
    """Whether a local time of day falls in the night window (which may span midnight)."""
    start, end = thresholds.night_starts, thresholds.night_ends
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end


def night_windows(day: dt.date, thresholds: Thresholds, tz: dt.tzinfo
                  ) -> list[tuple[dt.datetime, dt.datetime]]:
    """The parts of ``day`` (local) that are night, as aware [start, end) intervals."""
    midnight = dt.datetime.combine(day, dt.time(0), tz)
    next_midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tz)
    start = dt.datetime.combine(day, thresholds.night_starts, tz)
    end = dt.datetime.combine(day, thresholds.night_ends, tz)
    if thresholds.night_starts <= thresholds.night_ends:
        return [(start, end)] if start < end else []
    return [(midnight, end), (start, next_midnight)]


def night_flag(records_at_night: int, thresholds: Thresholds) -> bool:
    return records_at_night >= thresholds.night_min_records


def volume_flag(today: int, history: Sequence[int], thresholds: Thresholds) -> bool:
    """Far above the usual: more than ``factor`` × the median daily records over the history
    (days without reads count as 0) and more than the floor, so quiet users are not flagged for
    opening one class list."""
    usual = statistics.median(history) if history else 0
    return today > thresholds.volume_min_records and today > thresholds.volume_factor * usual


def outside_classes(read_ids: Collection[str], class_ids: Collection[str]) -> int:
    """How many of the records read lie outside the reader's current classes."""
    allowed = set(class_ids)
    return sum(1 for record in set(read_ids) if record not in allowed)


def outside_classes_flag(count_outside: int, thresholds: Thresholds) -> bool:
    return count_outside >= thresholds.outside_min_records
