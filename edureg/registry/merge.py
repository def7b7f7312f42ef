"""Merging two records of the same pupil, and undoing it.

``student_merge`` keeps one record and moves onto it what hung on the other: enrolments (with
their status history), guardian links (a guardian linked to both keeps one link), transfers
and the open duplicate pair between them; the merged record stays, marked ``merged_into``, and
disappears from lists, selectors, quality measures and duplicate checks. The ids of exactly
what moved are stored (``StudentMerge.moved``) and written to the audit log as
``student.merged`` — once under each record, so both histories show it and the upstream sync
(which reads the audit log as its outbox) learns of it. ``student_unmerge`` puts back exactly
those rows, or refuses with the reason when something has changed since that makes it
impossible.

What does not move:
- The merged record's field values: the kept record keeps its own (fix it afterwards if the
  merged one held the better value), so an undo has nothing to put back.
- Field-group checks (attestations, register verifications): they attest the merged record's
  values, not the kept one's. They stay with the merged record and hold again after an undo.
- Consents: they stay on the record they were recorded on (they are proofs). The privacy
  checks read a pupil together with the records merged into it (``privacy.selectors``), so the
  kept record holds them at once and an undo needs nothing.
- Identity state: the identity app reads ``student.merged`` / ``student.unmerged`` from the
  audit log (``identity.services.changes_catch_up``).

Who may: a merge within one school by the principal (``duplicate.merge`` at school scope);
across schools only by an authority officer; an undo only by an authority officer
(``duplicate.unmerge``). See docs/decisions.md.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, may, require
from edureg.access.roles import Perm
from edureg.audit.services import audit_record
from edureg.core.text import TextValueError, clean_text
from edureg.dedupe.models import DuplicatePair, PairStatus
from edureg.registry.models import (
    Enrolment,
    EnrolmentStatusChange,
    Guardian,
    SchoolClass,
    Student,
    StudentGuardian,
    StudentMerge,
    Transfer,
    TransferStatus,
)
from edureg.registry.quality import duplicates_changed, records_refresh

MERGED = "student.merged"
UNMERGED = "student.unmerged"
_REASON_MIN = 10
_REASON_MAX = 300


def reason_clean(reason: str, *, field: str = "reason") -> str:
    """The cleaned reason of a merge or undo; raises naming ``field`` when it is too short."""
    try:
        cleaned = clean_text(reason or "", max_length=_REASON_MAX)
    except TextValueError as error:
        raise ValidationError({field: [error.message]}) from None
    if len(cleaned) < _REASON_MIN:
        raise ValidationError({field: [_(
            "Hãy ghi lý do (ít nhất %(count)d ký tự), ví dụ “cùng giấy khai sinh số …, hồ sơ "
            "tạo trùng khi chuyển trường”.") % {"count": _REASON_MIN}]})
    return cleaned


def merge_allowed(actor: Actor, kept: Student, merged: Student) -> bool:
    """Whether ``actor`` may merge these two records: ``duplicate.merge`` reaching both (a
    principal's reaches only their school, so a merge across schools needs the authority)."""
    return may(actor, Perm.DUPLICATE_MERGE, kept) and may(actor, Perm.DUPLICATE_MERGE, merged)


def _require_merge(actor: Actor, kept: Student, merged: Student) -> None:
    require(actor, Perm.DUPLICATE_MERGE)
    if not (may(actor, Perm.DUPLICATE_REVIEW, kept) or may(actor, Perm.DUPLICATE_REVIEW, merged)):
        raise Http404
    if not merge_allowed(actor, kept, merged):
        raise PermissionDenied(_("Gộp hồ sơ của hai trường khác nhau do cán bộ Sở thực hiện."))


def _ordered(left: int, right: int) -> tuple[int, int]:
    return (left, right) if left < right else (right, left)


def _paired_with(student_id: int) -> list[int]:
    """The pupils in open duplicate pairs with this one (their "sạch" may change with it)."""
    rows = DuplicatePair.objects.filter(
        Q(left_id=student_id) | Q(right_id=student_id), entity="student",
        status=PairStatus.OPEN).values_list("left_id", "right_id")
    return sorted({other for pair in rows for other in pair if other != student_id})


def _lock(*ids: int) -> dict[int, Student]:
    return {s.pk: s for s in Student.objects.select_for_update().filter(pk__in=ids).order_by("pk")}


def student_merge(*, actor: Actor, kept: Student, merged: Student, reason: str) -> StudentMerge:
    """Merge ``merged`` into ``kept`` (the same pupil recorded twice) in one transaction."""
    _require_merge(actor, kept, merged)
    if kept.pk == merged.pk:
        raise ValidationError({"kept": [_("Hãy chọn hai hồ sơ khác nhau.")]})
    cleaned = reason_clean(reason)
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(kept.pk, merged.pk)
        keep, gone = locked[kept.pk], locked[merged.pk]
        _merge_check(keep, gone)
        moved = _move(keep, gone, today=timezone.localdate())
        moved["pairs"] = _pairs_close(keep.pk, gone.pk, actor, now)
        moved["current_class_id"] = gone.current_class_id
        third = sorted(set(_paired_with(gone.pk)) - {keep.pk})
        gone.merged_into, gone.merged_at, gone.current_class = keep, now, None
        gone.save(update_fields=["merged_into", "merged_at", "current_class", "updated_at"])
        record = StudentMerge.objects.create(kept=keep, merged=gone, reason=cleaned,
                                             moved=moved, merged_by_id=cast(int, actor.pk),
                                             merged_at=now)
        data = {"merge_id": record.pk, "kept_id": keep.pk, "merged_id": gone.pk,
                "reason": cleaned, "moved": moved}
        for student in (keep, gone):  # both histories show the merge
            audit_record(actor=actor, action=MERGED, entity="student", entity_id=student.pk,
                         school_id=student.school_id, data=data)
        records_refresh("student", [keep.pk, gone.pk])
        duplicates_changed(third)
    return record


def _merge_check(keep: Student, gone: Student) -> None:
    if keep.merged_into_id is not None or gone.merged_into_id is not None:
        raise ValidationError({"kept": [_("Một trong hai hồ sơ đã được gộp vào hồ sơ khác.")]})
    if Transfer.objects.filter(student=gone, status=TransferStatus.REQUESTED).exists():
        raise ValidationError({"kept": [_(
            "Hồ sơ bị gộp đang có đề nghị chuyển trường chờ xử lý; hãy huỷ hoặc xử lý đề nghị "
            "đó trước khi gộp.")]})
    keep_current = Enrolment.objects.filter(student=keep, is_current=True).exists()
    gone_current = Enrolment.objects.filter(student=gone, is_current=True).exists()
    if gone_current and not keep_current:
        raise ValidationError({"kept": [_(
            "Hồ sơ bị gộp đang có quá trình học hiện tại còn hồ sơ được giữ thì không; hãy giữ "
            "hồ sơ đang học.")]})


def _move(keep: Student, gone: Student, *, today: dt.date) -> dict[str, Any]:
    """Move what hangs on ``gone`` onto ``keep``; returns the ids of what moved (JSON)."""
    moved: dict[str, Any] = {}
    enrolments = list(Enrolment.objects.filter(student=gone).order_by("pk"))
    closed = None
    for enrolment in enrolments:
        if enrolment.is_current:  # the kept record's enrolment stays the current one
            closed = {"id": enrolment.pk,
                      "ended_on": enrolment.ended_on.isoformat() if enrolment.ended_on else None}
            enrolment.is_current = False
            enrolment.ended_on = enrolment.ended_on or today
            enrolment.save(update_fields=["is_current", "ended_on"])
    Enrolment.objects.filter(pk__in=[e.pk for e in enrolments]).update(student=keep)
    moved["enrolments"] = [e.pk for e in enrolments]
    moved["status_changes"] = list(EnrolmentStatusChange.objects.filter(
        enrolment_id__in=moved["enrolments"]).order_by("pk").values_list("pk", flat=True))
    moved["closed_enrolment"] = closed

    kept_guardians = set(StudentGuardian.objects.filter(student=keep)
                         .values_list("guardian_id", flat=True))
    has_primary = StudentGuardian.objects.filter(student=keep, is_primary_contact=True).exists()
    links, dropped = [], []
    for link in StudentGuardian.objects.filter(student=gone).order_by("pk"):
        if link.guardian_id in kept_guardians:  # the same guardian: one link is enough
            dropped.append({"id": link.pk, "guardian_id": link.guardian_id,
                            "relation_code": link.relation_code,
                            "is_primary_contact": link.is_primary_contact})
            link.delete()
            continue
        links.append({"id": link.pk, "is_primary_contact": link.is_primary_contact})
        link.student = keep
        link.is_primary_contact = link.is_primary_contact and not has_primary
        link.save(update_fields=["student", "is_primary_contact"])
    moved["guardian_links"] = links
    moved["guardian_links_dropped"] = dropped
    moved["guardian_schools"] = _guardians_follow(keep, gone, [link["id"] for link in links])

    transfers = list(Transfer.objects.filter(student=gone).order_by("pk")
                     .values_list("pk", flat=True))
    Transfer.objects.filter(pk__in=transfers).update(student=keep)
    moved["transfers"] = transfers
    return moved


def _guardians_follow(keep: Student, gone: Student, link_ids: list[int]
                      ) -> list[dict[str, int]]:
    """Guardians are held by their children's school (as on a transfer): a moved guardian of
    the merged record's school follows the kept record's unless another child stays there."""
    if keep.school_id == gone.school_id:
        return []
    followed = []
    for link in StudentGuardian.objects.filter(pk__in=link_ids).select_related("guardian"):
        guardian = link.guardian
        if guardian.school_id != gone.school_id:
            continue
        stays = StudentGuardian.objects.filter(
            guardian=guardian, student__school_id=gone.school_id,
            student__merged_into__isnull=True).exclude(student=gone)
        if not stays.exists():
            followed.append({"id": guardian.pk, "school_id": guardian.school_id})
            guardian.school_id = keep.school_id
            guardian.save(update_fields=["school", "updated_at"])
    return followed


def _pairs_close(keep_id: int, gone_id: int, actor: Actor, now: dt.datetime
                 ) -> list[dict[str, Any]]:
    left, right = _ordered(keep_id, gone_id)
    closed = []
    for pair in DuplicatePair.objects.select_for_update().filter(
            entity="student", left_id=left, right_id=right):
        closed.append({"id": pair.pk, "status": pair.status})
        pair.status, pair.decided_by_id, pair.decided_at = PairStatus.MERGED, actor.pk, now
        pair.save(update_fields=["status", "decided_by", "decided_at"])
    return closed


# --- Undo ------------------------------------------------------------------------------------

def student_unmerge(*, actor: Actor, merge: StudentMerge, reason: str) -> StudentMerge:
    """Undo a merge: put back exactly what moved (by the recorded ids). Refused, saying why,
    when something since makes that impossible."""
    require(actor, Perm.DUPLICATE_UNMERGE, merge)
    cleaned = reason_clean(reason)
    now = timezone.now()
    with transaction.atomic():
        record = StudentMerge.objects.select_for_update().get(pk=merge.pk)
        if record.undone_at is not None:
            raise ValidationError({"merge": [_("Lần gộp này đã được hoàn tác.")]})
        locked = _lock(record.kept_id, record.merged_id)
        keep, gone = locked[record.kept_id], locked[record.merged_id]
        moved: dict[str, Any] = record.moved
        _unmerge_check(keep, gone, moved)
        _restore(keep, gone, moved)
        for item in moved.get("pairs", []):
            DuplicatePair.objects.filter(pk=item["id"]).update(
                status=item["status"], decided_by=None, decided_at=None)
        class_id = moved.get("current_class_id")
        gone.merged_into, gone.merged_at = None, None
        gone.current_class_id = class_id if class_id and SchoolClass.objects.filter(
            pk=class_id).exists() else None
        gone.save(update_fields=["merged_into", "merged_at", "current_class", "updated_at"])
        record.undone_by_id, record.undone_at, record.undo_reason = actor.pk, now, cleaned
        record.save(update_fields=["undone_by", "undone_at", "undo_reason"])
        data = {"merge_id": record.pk, "kept_id": keep.pk, "merged_id": gone.pk,
                "reason": cleaned, "restored": moved}
        for student in (keep, gone):
            audit_record(actor=actor, action=UNMERGED, entity="student", entity_id=student.pk,
                         school_id=student.school_id, data=data)
        records_refresh("student", [keep.pk, gone.pk])
        duplicates_changed(set(_paired_with(gone.pk)) - {keep.pk})
    return record


def _unmerge_check(keep: Student, gone: Student, moved: dict[str, Any]) -> None:
    problems: list[str] = []
    if gone.merged_into_id != keep.pk:
        problems.append(_("Hồ sơ bị gộp không còn gắn với hồ sơ được giữ."))
    if keep.merged_into_id is not None:
        problems.append(_("Hồ sơ được giữ đã được gộp tiếp vào một hồ sơ khác; hãy hoàn tác lần "
                          "gộp đó trước."))
    enrolments = set(moved.get("enrolments", []))
    still = set(Enrolment.objects.filter(pk__in=enrolments, student=keep)
                .values_list("pk", flat=True))
    if still != enrolments:
        problems.append(_("Một số quá trình học đã chuyển sang hồ sơ được giữ không còn ở đó."))
    closed = moved.get("closed_enrolment")
    if closed and Enrolment.objects.filter(pk=closed["id"], is_current=True).exists():
        problems.append(_("Quá trình học đã kết thúc khi gộp nay lại đang là quá trình học hiện "
                          "tại của hồ sơ được giữ."))
    current = set(Enrolment.objects.filter(student=keep, is_current=True)
                  .values_list("pk", flat=True))
    if current & enrolments:
        problems.append(_("Hồ sơ được giữ đang học theo một quá trình học chuyển từ hồ sơ bị "
                          "gộp; hãy xử lý quá trình học đó trước."))
    links = {item["id"] for item in moved.get("guardian_links", [])}
    if len(StudentGuardian.objects.filter(pk__in=links, student=keep)) != len(links):
        problems.append(_("Một số liên kết cha mẹ/người giám hộ đã chuyển đã bị thay đổi hoặc "
                          "xoá."))
    dropped = moved.get("guardian_links_dropped", [])
    guardians = {item["guardian_id"] for item in dropped} | {
        item["id"] for item in moved.get("guardian_schools", [])}
    if Guardian.objects.filter(pk__in=guardians).count() != len(guardians):
        problems.append(_("Một số cha mẹ/người giám hộ liên quan đã bị xoá."))
    if StudentGuardian.objects.filter(pk__in=[item["id"] for item in dropped]).exists():
        problems.append(_("Liên kết cha mẹ/người giám hộ cần khôi phục đã được dùng lại."))
    transfers = set(moved.get("transfers", []))
    if Transfer.objects.filter(pk__in=transfers, student=keep).count() != len(transfers):
        problems.append(_("Một số đề nghị chuyển trường đã chuyển không còn ở hồ sơ được giữ."))
    if Transfer.objects.filter(pk__in=transfers, status=TransferStatus.REQUESTED).exists():
        problems.append(_("Có đề nghị chuyển trường của hồ sơ bị gộp đang chờ xử lý; hãy xử lý "
                          "trước khi hoàn tác."))
    if problems:
        raise ValidationError({"merge": [
            _("Không thể hoàn tác lần gộp này: %(problems)s")
            % {"problems": " ".join(problems)}]})


def _restore(keep: Student, gone: Student, moved: dict[str, Any]) -> None:
    Enrolment.objects.filter(pk__in=moved.get("enrolments", [])).update(student=gone)
    closed = moved.get("closed_enrolment")
    if closed:
        ended = closed["ended_on"]
        Enrolment.objects.filter(pk=closed["id"]).update(
            is_current=True, ended_on=dt.date.fromisoformat(ended) if ended else None)
    for item in moved.get("guardian_links", []):
        StudentGuardian.objects.filter(pk=item["id"]).update(
            student=gone, is_primary_contact=item["is_primary_contact"])
    for item in moved.get("guardian_links_dropped", []):
        StudentGuardian.objects.create(
            pk=item["id"], student=gone, guardian_id=item["guardian_id"],
            relation_code=item["relation_code"], is_primary_contact=item["is_primary_contact"])
    for item in moved.get("guardian_schools", []):
        Guardian.objects.filter(pk=item["id"]).update(school_id=item["school_id"],
                                                      updated_at=timezone.now())
    Transfer.objects.filter(pk__in=moved.get("transfers", [])).update(student=gone)
