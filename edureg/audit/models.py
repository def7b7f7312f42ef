"""The append-only, hash-chained event log.

Every write leaves an event in the same transaction; every read of personal data leaves a "read"
event. Each event's hash covers the previous event's hash, so editing or deleting a stored event
breaks the chain at that point (``edureg audit verify``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ChainHead(models.Model):
    """The last link of the chain; locked for the duration of a write to serialise appends."""

    name = models.CharField(max_length=50, unique=True)
    seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)


class AuditEvent(models.Model):
    seq = models.BigIntegerField(unique=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150)
    action = models.CharField(_("hành động"), max_length=60, db_index=True)
    entity = models.CharField(max_length=60)
    entity_id = models.CharField(max_length=40, blank=True)
    school_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("nhật ký truy cập")
        verbose_name_plural = _("nhật ký truy cập")
        indexes = [models.Index(fields=["entity", "entity_id", "seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.entity}:{self.entity_id}"
