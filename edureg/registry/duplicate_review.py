"""The review queue's decisions on a duplicate pair found by the batch run: "not the same
person" (with a reason: remembered, audited, never proposed again) or merge (``registry.merge``).
Either closes the pair, and the two pupils' "sạch" state follows in the same transaction.

Who may: ``duplicate.review`` reaching either pupil decides "not the same person" (the
school knows its pupil, as at entry); a merge needs ``duplicate.merge`` reaching both.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, may, require
from edureg.access.roles import Perm
from edureg.dedupe.models import DuplicatePair, PairStatus
from edureg.registry.duplicates import not_same_reason, not_same_record
from edureg.registry.merge import student_merge
from edureg.registry.models import Student, StudentMerge
from edureg.registry.quality import duplicates_changed


def _pupils(pair: DuplicatePair) -> tuple[Student, Student]:
    found = {s.pk: s for s in Student.objects.filter(pk__in=[pair.left_id, pair.right_id])}
    if len(found) != 2:
        raise Http404
    return found[pair.left_id], found[pair.right_id]


def _reviewable(actor: Actor, pair: DuplicatePair) -> tuple[Student, Student]:
    """The pair's pupils; 403 without ``duplicate.review``, 404 when neither is in reach."""
    require(actor, Perm.DUPLICATE_REVIEW)
    left, right = _pupils(pair)
    if not (may(actor, Perm.DUPLICATE_REVIEW, left) or may(actor, Perm.DUPLICATE_REVIEW, right)):
        raise Http404
    if left.merged_into_id is not None or right.merged_into_id is not None:
        raise ValidationError({"pair": [_("Một trong hai hồ sơ đã được gộp vào hồ sơ khác.")]})
    return left, right


def _still_open(pair: DuplicatePair) -> DuplicatePair:
    locked = DuplicatePair.objects.select_for_update().get(pk=pair.pk)
    if locked.status != PairStatus.OPEN:
        raise ValidationError({"pair": [_("Cặp hồ sơ này đã được xử lý.")]})
    return locked


def pair_not_same(*, actor: Actor, pair: DuplicatePair, reason: str) -> DuplicatePair:
    """Record that the pair's two pupils are different people."""
    left, right = _reviewable(actor, pair)
    try:
        cleaned = not_same_reason(reason)
    except ValidationError as error:
        raise ValidationError({"reason": error.messages}) from None
    with transaction.atomic():
        locked = _still_open(pair)
        mine = left if may(actor, Perm.DUPLICATE_REVIEW, left) else right
        other = right if mine is left else left
        not_same_record(actor=actor, entity="student", record_id=mine.pk, others=[other.pk],
                        reason=cleaned, school_id=mine.school_id)
        locked.status, locked.decided_by_id, locked.decided_at = (
            PairStatus.NOT_SAME, actor.pk, timezone.now())
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        duplicates_changed([left.pk, right.pk])
    return locked


def pair_merge(*, actor: Actor, pair: DuplicatePair, kept_id: int, reason: str
               ) -> StudentMerge:
    """Merge the pair's pupils, keeping the one with id ``kept_id``."""
    left, right = _reviewable(actor, pair)
    if kept_id not in (left.pk, right.pk):
        raise ValidationError({"kept": [_("Hãy chọn hồ sơ giữ lại.")]})
    kept, merged = (left, right) if kept_id == left.pk else (right, left)
    with transaction.atomic():
        _still_open(pair)
        return student_merge(actor=actor, kept=kept, merged=merged, reason=reason)
