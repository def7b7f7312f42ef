"""The append-only, hash-chained event log.

Every write leaves an event in the same transaction; every read of personal data leaves a "read"
event. Each event's hash covers the previous event's hash and every stored column of the event
(see ``edureg.audit.chain``), so editing, deleting or reordering stored events breaks the chain
at that point (``edureg audit verify``). The database itself refuses UPDATE and DELETE on the
event table (triggers, migration 0004).

``AuditRecordRef`` is an index of the records an event touched (the ids a read showed, the fields
a write changed), so "who viewed this pupil" and "who changed this field" are indexed look-ups
rather than scans of JSON. It is a projection of the events, not part of the record: appending an
event writes only the event (a class list of 45 pupils would otherwise cost 45 index inserts on
every page view); ``refs_catch_up`` derives the references of the events after ``RefIndexHead``
— run continuously by ``edureg audit index --follow`` and, before answering, by every query that
reads the references, so answers are never behind the log.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Expression
from django.utils.translation import gettext_lazy as _


def canonical_json(value: object) -> str:
    """The one text form of event data: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str)


class CanonicalJSONField(models.TextField):  # type: ignore[type-arg]
    """JSON kept as the exact canonical text that was hashed (a PostgreSQL ``jsonb`` column
    would re-format it, and verifying would then have to re-serialise every event)."""

    def from_db_value(self, value: str | None, expression: Expression,
                      connection: BaseDatabaseWrapper) -> Any:
        return None if value is None else json.loads(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def get_prep_value(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        return canonical_json(value)


class ChainHead(models.Model):
    """The last link of the chain; locked for the duration of a write to serialise appends."""

    name = models.CharField(max_length=50, unique=True)
    seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    # Events' times never go backwards along the chain, so a date range is a seq range.
    last_occurred_at = models.DateTimeField(null=True, blank=True)


class RefIndexHead(models.Model):
    """How far along the chain the record references have been derived (the last seq done)."""

    name = models.CharField(max_length=50, unique=True)
    seq = models.BigIntegerField(default=0)


class AuditEvent(models.Model):
    seq = models.BigIntegerField(unique=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    actor_label = models.CharField(max_length=150)
    action = models.CharField(_("hành động"), max_length=60)
    kind = models.CharField(max_length=12)
    entity = models.CharField(max_length=60)
    entity_id = models.CharField(max_length=40, blank=True)
    school_id = models.BigIntegerField(null=True, blank=True)
    data = CanonicalJSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("nhật ký truy cập")
        verbose_name_plural = _("nhật ký truy cập")
        indexes = [
            models.Index(fields=["entity", "entity_id", "seq"]),
            models.Index(fields=["kind", "seq"], name="audit_event_kind_seq"),
            models.Index(fields=["school_id", "kind", "seq"], name="audit_event_school_kind_seq"),
            models.Index(fields=["actor", "kind", "seq"], name="audit_event_actor_kind_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.entity}:{self.entity_id}"


class AuditRecordRef(models.Model):
    """One record an event touched: an id shown by a read, or a field changed by a write.
    Derived from the event's data (``refs_catch_up``), and append-only like the events."""

    event = models.ForeignKey(AuditEvent, on_delete=models.PROTECT, related_name="refs",
                              db_index=False)
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=12)
    school_id = models.BigIntegerField(null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                              blank=True, related_name="+", db_index=False)
    entity = models.CharField(max_length=60)
    entity_id = models.CharField(max_length=40)
    field = models.CharField(max_length=60, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["entity", "entity_id", "seq"], name="audit_ref_record_seq"),
            models.Index(fields=["school_id", "kind", "field", "seq"],
                         name="audit_ref_school_kind_field"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.entity}:{self.entity_id} {self.field}"
