"""Reads of the stored quality state for dashboards: the counters of ``QualityTotal`` (per school,
per class), their daily history in ``DailySnapshot``, record states and findings.

Pure database reads over ids the caller passes in: which schools, classes and records an actor
may see is the policy's business, decided a layer up (``registry.quality_selectors``). A
collection of school ids may also be a queryset of ids, which the database then reads as a
subquery (an authority's few thousand schools never travel as parameters).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from operator import attrgetter
from typing import Any

from django.db.models import Case, IntegerField, Max, QuerySet, Sum, Value, When

from edureg.quality.models import (
    COUNTER_FIELDS,
    DUPLICATE_FIELDS,
    AuthoritySnapshot,
    DailySnapshot,
    Finding,
    QualityTotal,
    RecordState,
)
from edureg.quality.rules.catalogue import Dimension, Rule, RuleSet, Severity

SchoolIds = Collection[int] | QuerySet[Any, Any]

# The counter that says how many records are OK in each dimension.
OK_FIELD: Mapping[Dimension, str] = {
    Dimension.CORRECT: "correct_ok",
    Dimension.COMPLETE: "complete_ok",
    Dimension.CLEAN: "clean_ok",
    Dimension.LIVE: "live_ok",
}
TREND_DAYS = 30


def _share(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


@dataclasses.dataclass(frozen=True)
class Scores:
    """Counters of some records and the four scores: the percentage of records OK in each
    dimension (None without records), and the percentage of required fields filled."""

    records: int = 0
    required_total: int = 0
    required_filled: int = 0
    errors: int = 0
    warnings: int = 0
    correct_ok: int = 0
    complete_ok: int = 0
    clean_ok: int = 0
    live_ok: int = 0

    @classmethod
    def of(cls, row: Mapping[str, Any] | Any) -> Scores:
        """From a mapping (a ``values()`` row) or an object with the counter attributes."""
        if isinstance(row, Mapping):
            return cls(**{name: int(row.get(name) or 0) for name in COUNTER_FIELDS})
        return cls(**{name: int(getattr(row, name) or 0) for name in COUNTER_FIELDS})

    def __add__(self, other: Scores) -> Scores:
        return Scores(**{name: getattr(self, name) + getattr(other, name)
                         for name in COUNTER_FIELDS})

    def share(self, dimension: Dimension) -> float | None:
        return _share(getattr(self, OK_FIELD[dimension]), self.records)

    @property
    def correct(self) -> float | None:
        return self.share(Dimension.CORRECT)

    @property
    def complete(self) -> float | None:
        return self.share(Dimension.COMPLETE)

    @property
    def clean(self) -> float | None:
        return self.share(Dimension.CLEAN)

    @property
    def live(self) -> float | None:
        return self.share(Dimension.LIVE)

    @property
    def mean(self) -> float | None:
        """The mean of the four scores."""
        oks = self.correct_ok + self.complete_ok + self.clean_ok + self.live_ok
        return _share(oks, 4 * self.records)

    @property
    def fields_filled(self) -> float | None:
        return _share(self.required_filled, self.required_total)

    def score(self, dimension: Dimension | None) -> float | None:
        """One dimension's score, or the mean of the four for None."""
        return self.mean if dimension is None else self.share(dimension)


_SUMS = {name: Sum(name) for name in COUNTER_FIELDS}
# Summed over schools a pair between two of them counts twice: the authority's own trend
# reads ``AuthoritySnapshot``, which counts it once.
_DUPLICATE_SUMS = {name: Sum(name) for name in DUPLICATE_FIELDS}


def school_scores(school_ids: SchoolIds, *, entity: str = "student") -> dict[int, Scores]:
    """The counters of each school (its row with no class). Schools without records are
    absent."""
    rows = QualityTotal.objects.filter(school_id__in=school_ids, class_id__isnull=True,
                                       entity=entity).values_list("school_id", *COUNTER_FIELDS)
    # Positional: an authority has thousands of schools, and ``Scores`` declares its fields in
    # the order of COUNTER_FIELDS.
    return {int(school_id): Scores(*counters) for school_id, *counters in rows}


def class_scores(school_id: int, *, class_ids: Collection[int] | None = None,
                 entity: str = "student") -> dict[int, Scores]:
    """The counters of each class of the school that has records (of the given classes only,
    when ``class_ids`` is given)."""
    rows = QualityTotal.objects.filter(school_id=school_id, class_id__isnull=False,
                                       entity=entity)
    if class_ids is not None:
        rows = rows.filter(class_id__in=class_ids)
    return {int(row["class_id"]): Scores.of(row)
            for row in rows.values("class_id", *COUNTER_FIELDS)}


def total(scores: Iterable[Scores]) -> Scores:
    items = list(scores)
    return Scores(**{name: sum(map(attrgetter(name), items)) for name in COUNTER_FIELDS})


@dataclasses.dataclass(frozen=True)
class DuplicatePairs:
    """Duplicate candidates that day: still open, decided "not the same person", merged."""

    open: int = 0
    not_same: int = 0
    merged: int = 0

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> DuplicatePairs:
        return cls(*(int(row.get(name) or 0) for name in DUPLICATE_FIELDS))


@dataclasses.dataclass(frozen=True)
class TrendPoint:
    day: dt.date
    scores: Scores
    duplicates: DuplicatePairs = DuplicatePairs()


def trend(school_ids: SchoolIds, *, until: dt.date, days: int = TREND_DAYS,
          entity: str = "student") -> list[TrendPoint]:
    """The schools' daily snapshots summed per day, for the ``days`` days ending ``until``
    (days without a snapshot are left out)."""
    since = until - dt.timedelta(days=days - 1)
    rows = (DailySnapshot.objects
            .filter(school_id__in=school_ids, entity=entity, day__gte=since, day__lte=until)
            .values("day").annotate(**_SUMS, **_DUPLICATE_SUMS).order_by("day"))
    return [TrendPoint(day=row["day"], scores=Scores.of(row),
                       duplicates=DuplicatePairs.of(row)) for row in rows]


def authority_trend(authority_id: int, *, until: dt.date, days: int = TREND_DAYS,
                    entity: str = "student") -> list[TrendPoint]:
    """An authority's daily totals (its active schools that day), for the ``days`` days
    ending ``until``."""
    since = until - dt.timedelta(days=days - 1)
    rows = (AuthoritySnapshot.objects
            .filter(authority_id=authority_id, entity=entity, day__gte=since, day__lte=until)
            .values("day", *COUNTER_FIELDS, *DUPLICATE_FIELDS).order_by("day"))
    return [TrendPoint(day=row["day"], scores=Scores.of(row),
                       duplicates=DuplicatePairs.of(row)) for row in rows]


def snapshots_version() -> int:
    """Changes whenever daily snapshots are taken (they are replaced by new rows, never
    updated in place): the newest snapshot row's id, 0 without any."""
    latest = DailySnapshot.objects.aggregate(latest=Max("id"))["latest"]
    return int(latest or 0)


def record_states(record_ids: Iterable[int] | QuerySet[Any, Any], *,
                  entity: str = "student") -> dict[int, RecordState]:
    return {state.record_id: state
            for state in RecordState.objects.filter(entity=entity, record_id__in=record_ids)}


def severity_rank() -> Case:
    """Errors first, then warnings, then the rest: the order of a to-do list."""
    return Case(When(severity=Severity.ERROR.value, then=Value(0)),
                When(severity=Severity.WARNING.value, then=Value(1)),
                default=Value(2), output_field=IntegerField())


def own_record_first(owner_entity: str) -> Case:
    """The owner's own fields before those of its dependants (a pupil's before a guardian's)."""
    return Case(When(entity=owner_entity, then=Value(0)), default=Value(1),
                output_field=IntegerField())


def findings_by_impact(owner_ids: Iterable[int] | QuerySet[Any, Any], *,
                       owner_entity: str = "student") -> QuerySet[Finding]:
    """The owners' findings, most important first (severity, then weight)."""
    return (Finding.objects.filter(owner_entity=owner_entity, owner_id__in=owner_ids)
            .annotate(severity_rank=severity_rank(), own_first=own_record_first(owner_entity))
            .order_by("severity_rank", "-weight", "owner_id", "own_first", "record_id",
                      "field", "rule_code"))


def open_steps(rule_set: RuleSet, owner: str, status_bits: int) -> tuple[Rule, ...]:
    """The status rules still open for a record: bit i of its state stands for
    ``rule_set.status_rules(owner)[i]``."""
    return tuple(rule for index, rule in enumerate(rule_set.status_rules(owner))
                 if status_bits >> index & 1)


def rules_by_code(rule_set: RuleSet) -> dict[str, Rule]:
    """Rules by code, to read stored findings: a code missing from it belongs to rules no
    longer in force (the finding is stale until the next recompute)."""
    return {rule.code: rule for rule in rule_set.rules}


def steps_count(status_bits: int) -> int:
    return int(status_bits).bit_count()

