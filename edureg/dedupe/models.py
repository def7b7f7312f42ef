"""Duplicate persons: what people decided about a pair, and the pairs a batch run found.

Persons are referred to by (entity, id), as the quality and identity states do; a pair is kept
with the smaller id on the left, so each pair has one row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Decision(models.TextChoices):
    NOT_SAME = "not_same", _("Không phải cùng một người")
    SAME = "same", _("Cùng một người")


class DuplicateDecision(models.Model):
    """Someone looked at two records and decided. "Not the same person" keeps the pair from
    being proposed again, at entry and in batch runs."""

    entity = models.CharField(max_length=10)
    left_id = models.BigIntegerField()
    right_id = models.BigIntegerField()
    decision = models.CharField(max_length=10, choices=Decision.choices)
    reason = models.CharField(_("lý do"), max_length=300)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "left_id", "right_id"], name="dedupe_decision_one_per_pair"
            ),
            models.CheckConstraint(
                condition=models.Q(left_id__lt=models.F("right_id")),
                name="dedupe_decision_ordered_pair",
            ),
        ]
        indexes = [models.Index(fields=["entity", "right_id"], name="dedupe_decision_right")]


class PairStatus(models.TextChoices):
    OPEN = "open", _("Chờ xem xét")
    NOT_SAME = "not_same", _("Không phải cùng một người")
    MERGED = "merged", _("Đã gộp")


class DuplicatePair(models.Model):
    """Two records a batch run found likely to be the same person, with the match probability
    and which fields agreed. A run replaces the open pairs of its scope; decided pairs stay."""

    entity = models.CharField(max_length=10)
    left_id = models.BigIntegerField()
    right_id = models.BigIntegerField()
    left_school_id = models.BigIntegerField()
    right_school_id = models.BigIntegerField()
    match_probability = models.FloatField()
    explanation = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=PairStatus.choices,
                              default=PairStatus.OPEN)
    found_at = models.DateTimeField()
    # Who closed the pair in the review queue ("not the same person", or merged), and when.
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entity", "left_id", "right_id"],
                                    name="dedupe_pair_one_per_pair"),
            models.CheckConstraint(condition=models.Q(left_id__lt=models.F("right_id")),
                                   name="dedupe_pair_ordered"),
        ]
        indexes = [models.Index(fields=["left_school_id", "status"], name="dedupe_pair_left"),
                   models.Index(fields=["right_school_id", "status"],
                                name="dedupe_pair_right"),
                   # A record's pairs (the quality feed asks per record, from either side).
                   models.Index(fields=["entity", "right_id"], name="dedupe_pair_right_id")]
