"""Reads of the audit log for the supervision screens. Every query is limited to the school ids
the caller passes (the caller asks the access policy which those are) and pages by ``seq``
(keyset: "events before seq N"), through the indexes declared on the models, so no page scans
the log. Date ranges become seq ranges first: times never go backwards along the chain."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Sequence

from django.db.models import Count, QuerySet

from edureg.audit.actions import Kind
from edureg.audit.models import AuditEvent, AuditRecordRef
from edureg.audit.services import refs_catch_up

PAGE_SIZE = 50


@dataclasses.dataclass(frozen=True)
class EventFilter:
    school_ids: Collection[int]
    kind: Kind
    actor_id: int | None = None
    entity: str | None = None
    entity_id: str | None = None
    field: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None  # exclusive


@dataclasses.dataclass(frozen=True)
class EventPage:
    events: Sequence[AuditEvent]
    next_before: int | None  # pass as ``before`` for the next (older) page


def seq_range(start: dt.datetime | None, end: dt.datetime | None) -> tuple[int, int] | None:
    """The seqs of events with ``start <= occurred_at < end`` (None: no such event)."""
    lo, hi = 1, None
    if start is not None:
        first = (AuditEvent.objects.filter(occurred_at__gte=start).order_by("occurred_at", "seq")
                 .values_list("seq", flat=True).first())
        if first is None:
            return None
        lo = first
    if end is not None:
        last = (AuditEvent.objects.filter(occurred_at__lt=end).order_by("-occurred_at", "-seq")
                .values_list("seq", flat=True).first())
        if last is None:
            return None
        hi = last
    if hi is None:
        hi = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    return (lo, hi) if lo <= hi else None


def _through_refs(spec: EventFilter) -> bool:
    return spec.field is not None or (spec.kind is Kind.READ and spec.entity_id is not None)


def events_page(spec: EventFilter, *, before: int | None = None,
                size: int = PAGE_SIZE) -> EventPage:
    """One page of events, newest first."""
    if not spec.school_ids:
        return EventPage([], None)
    bounds = seq_range(spec.start, spec.end)
    if bounds is None:
        return EventPage([], None)
    lo, hi = bounds
    if before is not None:
        hi = min(hi, before - 1)
    if _through_refs(spec):
        refs_catch_up()
        refs = AuditRecordRef.objects.filter(
            school_id__in=list(spec.school_ids), kind=spec.kind.value, seq__gte=lo, seq__lte=hi)
        if spec.entity:
            refs = refs.filter(entity=spec.entity)
        if spec.entity_id is not None:
            refs = refs.filter(entity_id=spec.entity_id)
        if spec.field is not None:
            refs = refs.filter(field=spec.field)
        if spec.actor_id is not None:
            refs = refs.filter(actor_id=spec.actor_id)
        seqs = list(refs.order_by("-seq").values_list("seq", flat=True).distinct()[:size + 1])
        events: QuerySet[AuditEvent] = AuditEvent.objects.filter(seq__in=seqs)
    else:
        events = AuditEvent.objects.filter(school_id__in=list(spec.school_ids),
                                           kind=spec.kind.value, seq__gte=lo, seq__lte=hi)
        if spec.actor_id is not None:
            events = events.filter(actor_id=spec.actor_id)
        if spec.entity:
            events = events.filter(entity=spec.entity)
        if spec.entity_id is not None:
            events = events.filter(entity_id=spec.entity_id)
    rows = list(events.select_related("actor").order_by("-seq")[:size + 1])
    if len(rows) > size:
        return EventPage(rows[:size], rows[size - 1].seq)
    return EventPage(rows, None)


def records_read_by_actor(school_ids: Collection[int], bounds: Sequence[tuple[int, int]]
                          ) -> dict[int, int]:
    """Actor id → number of records they were shown within the seq ranges."""
    refs_catch_up()
    totals: dict[int, int] = {}
    for lo, hi in bounds:
        rows = (AuditRecordRef.objects
                .filter(school_id__in=list(school_ids), kind=Kind.READ.value, field="",
                        seq__gte=lo, seq__lte=hi, actor_id__isnull=False)
                .values_list("actor_id").annotate(n=Count("id")).order_by())
        for actor_id, n in rows:
            totals[actor_id] = totals.get(actor_id, 0) + n
    return totals


def students_read_by(school_ids: Collection[int], actor_ids: Collection[int],
                     bounds: tuple[int, int]) -> dict[int, set[str]]:
    """Actor id → ids of the students they were shown within the seq range."""
    refs_catch_up()
    lo, hi = bounds
    result: dict[int, set[str]] = {actor_id: set() for actor_id in actor_ids}
    rows = (AuditRecordRef.objects
            .filter(school_id__in=list(school_ids), kind=Kind.READ.value, field="",
                    seq__gte=lo, seq__lte=hi, actor_id__in=list(actor_ids), entity="student")
            .values_list("actor_id", "entity_id").distinct())
    for actor_id, entity_id in rows:
        result[actor_id].add(entity_id)
    return result
