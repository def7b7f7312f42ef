"""The relay's state: where it is in the audit log, and one row per change to push.

``SyncCursor`` is the last audit seq taken in. ``SyncChange`` is one synced-type audit event
(its seq is the idempotency key upward): pending until the upstream acknowledges it, or parked
with the reason when the upstream refuses it for good. Both are written in the same transaction,
so a change is taken in exactly once however often the relay is killed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SyncCursor(models.Model):
    name = models.CharField(max_length=50, unique=True)
    seq = models.BigIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)  # the last relay run asked for

    def __str__(self) -> str:
        return f"{self.name}@{self.seq}"


class SyncStatus(models.TextChoices):
    PENDING = "pending", _("Chờ gửi")
    ACKED = "acked", _("Đã được CSDL ngành xác nhận")
    SUPERSEDED = "superseded", _("Đã thay bằng thay đổi mới hơn")
    PARKED = "parked", _("Bị từ chối, chờ xử lý")


class SyncChange(models.Model):
    seq = models.BigIntegerField(unique=True)  # the audit event's seq: "ev-<seq>" upward
    action = models.CharField(max_length=60)
    entity = models.CharField(max_length=30)
    record_id = models.BigIntegerField()
    school_id = models.BigIntegerField(null=True, blank=True)
    committed_at = models.DateTimeField()  # the audit event's time: the lag starts here
    status = models.CharField(max_length=12, choices=SyncStatus.choices,
                              default=SyncStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=300, blank=True)  # never personal data
    field_errors = models.JSONField(default=dict, blank=True)  # the upstream's, when parked
    acked_at = models.DateTimeField(null=True, blank=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                    blank=True, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at", "seq"], name="sync_due"),
            models.Index(fields=["entity", "record_id", "seq"], name="sync_record"),
            models.Index(fields=["school_id", "status", "committed_at"], name="sync_school"),
        ]

    def __str__(self) -> str:
        return f"ev-{self.seq} {self.entity}:{self.record_id} {self.status}"

    @property
    def change_id(self) -> str:
        return f"ev-{self.seq}"
