"""The change feed of an agreement of kind ``change_feed``: the pupils of the authority whose
records changed since the agency's cursor, page by page.

- Source: the audit log is the outbox, as for the upward sync. A change is an event of
  ``STUDENT_CHANGE_ACTIONS`` (created, changed, transferred, merged, unmerged, official id
  issued); the cursor is its ``seq``. Only events up to the chain head are read: appends are
  serialised by the head and it moves in the same transaction as its event, so every event up
  to the head's seq has committed when the head is read, and a cursor never passes a change
  still being committed.
- Start: the feed begins when the agreement was recorded. Changes made before are not sent: a
  change feed is not a copy of the population.
- Scope: an event counts when it was recorded at one of the authority's schools (a transfer is
  recorded at both schools, so pupils arriving count); the pupil is disclosed only while their
  record is at one of those schools (a pupil who left is not followed to another authority),
  has an official education id (the key the agency matches on), and may be processed for the
  agreement's purpose (``consents_valid``: without a valid consent the pupil is left out). A
  record merged into another is checked under the consent of the record it was merged into.
- Each item is the pupil's *current* state in the agreement's fields, under the newest change
  of the pupil within the page; ``merged_into`` is the education id of the record kept.
- Every page that discloses anyone leaves one ``sharing.disclosed`` event listing the pupils
  (the parents' portal shows it); every refusal leaves ``sharing.refused`` (``disclosure``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.audit import actions
from edureg.audit.models import AuditEvent, ChainHead
from edureg.audit.services import CHAIN, audit_record
from edureg.privacy.purposes import Purpose, purposes_in_force
from edureg.privacy.selectors import consents_valid
from edureg.registry.models import Student
from edureg.registry.services import STUDENT_CHANGE_ACTIONS
from edureg.schools.models import School
from edureg.sharing.disclosure import (
    LEGAL_BASIS_KEPT,
    SharingRefused,
    _count_request,
    _label,
    _refuse,
    _shown,
    agreement_refusal,
)
from edureg.sharing.models import AgreementKind, SharingAgreement

PARAMETERS: tuple[str, ...] = ("after", "limit")
LIMIT_DEFAULT = 100
LIMIT_MAX = 500
# Events of the log looked at per request at most: a page of an authority with few changes
# ends there (with ``more``) instead of scanning the whole log behind the cursor.
SCAN_WINDOW = 100_000
_DIGITS_MAX = 19  # a bigint


@dataclasses.dataclass(frozen=True)
class FeedItem:
    seq: int
    action: str
    education_id: str
    merged_into: str | None
    record: dict[str, str | None]


@dataclasses.dataclass(frozen=True)
class FeedPage:
    agreement: SharingAgreement
    after: int
    next: int
    more: bool
    items: tuple[FeedItem, ...]


def _bad_parameter(agreement: SharingAgreement, parameter: str, message: str
                   ) -> SharingRefused:
    """A 400 naming the parameter (never its value in the audit event)."""
    return _refuse(400, "bad_request", message, agreement=agreement,
                   extra={"parameter": parameter[:40], "feed": True})


def _whole_number(agreement: SharingAgreement, query: Mapping[str, Sequence[str]],
                  parameter: str, message: str) -> int | None:
    values = query.get(parameter)
    if not values:
        return None
    if len(values) > 1:
        raise _bad_parameter(agreement, parameter, _(
            "Tham số “%(parameter)s” chỉ được ghi một lần.") % {"parameter": parameter})
    value = values[0]
    if not (value.isascii() and value.isdigit() and len(value) <= _DIGITS_MAX):
        raise _bad_parameter(agreement, parameter, message)
    return int(value)


def _parameters(agreement: SharingAgreement, query: Mapping[str, Sequence[str]]
                ) -> tuple[int | None, int]:
    unknown = sorted(name for name in query if name not in PARAMETERS)
    if unknown:
        shown = ", ".join(name[:40] for name in unknown[:5])
        raise _bad_parameter(agreement, unknown[0], _(
            "Tham số không được hỗ trợ: %(parameters)s. Dòng thay đổi chỉ nhận “after” và "
            "“limit”.") % {"parameters": shown})
    after = _whole_number(agreement, query, "after", _(
        "Tham số “after” phải là một số nguyên không âm: giá trị “next” của trang trước, "
        "hoặc bỏ trống ở lần đầu."))
    limit = _whole_number(agreement, query, "limit", _(
        "Tham số “limit” phải là một số nguyên từ 1 đến %(max)d.") % {"max": LIMIT_MAX})
    if limit is not None and not 1 <= limit <= LIMIT_MAX:
        raise _bad_parameter(agreement, "limit", _(
            "Tham số “limit” phải là một số nguyên từ 1 đến %(max)d.") % {"max": LIMIT_MAX})
    return after, LIMIT_DEFAULT if limit is None else limit


def feed_refusal(agreement: SharingAgreement) -> tuple[str, str] | None:
    """Why this agreement may not read the change feed (reason code, message), or None."""
    if agreement.kind != AgreementKind.CHANGE_FEED:
        return "not_change_feed", _(
            "Thoả thuận %(reference)s chỉ cho phép tra cứu từng hồ sơ, không cho nhận dòng "
            "thay đổi.") % {"reference": agreement.reference}
    if not agreement.change_feed_legal_basis.strip():
        return "feed_without_legal_basis", _(
            "Thoả thuận %(reference)s chưa ghi căn cứ pháp lý riêng cho dòng thay đổi nên "
            "không được nhận dữ liệu hàng loạt.") % {"reference": agreement.reference}
    return None


def feed_start(agreement: SharingAgreement) -> int:
    """The seq the feed starts after: the last event before the agreement was recorded.
    (Times never go backwards along the chain, so this is fixed once the agreement exists.)"""
    return (AuditEvent.objects.filter(occurred_at__lt=agreement.created_at)
            .order_by("-occurred_at", "-seq").values_list("seq", flat=True).first() or 0)


def _chain_head() -> int:
    return ChainHead.objects.filter(name=CHAIN).values_list("seq", flat=True).first() or 0


def _changes(agreement: SharingAgreement, after: int, top: int, limit: int
             ) -> list[tuple[int, str, str]]:
    """Up to ``limit`` + 1 changes recorded at the authority's schools, oldest first."""
    schools = School.objects.filter(authority_id=agreement.authority_id).values("pk")
    return list(AuditEvent.objects
                .filter(seq__gt=after, seq__lte=top, action__in=STUDENT_CHANGE_ACTIONS,
                        entity="student", school_id__in=schools)
                .order_by("seq").values_list("seq", "action", "entity_id")[:limit + 1])


def _items(agreement: SharingAgreement, purpose: Purpose,
           changes: Sequence[tuple[int, str, str]]) -> list[tuple[FeedItem, Student]]:
    newest: dict[int, tuple[int, str]] = {}
    for seq, action, entity_id in changes:
        if entity_id.isascii() and entity_id.isdigit():
            newest.pop(int(entity_id), None)  # re-inserted: the dict stays in seq order
            newest[int(entity_id)] = (seq, action)
    pupils = Student.objects.filter(pk__in=list(newest),
                                    school__authority_id=agreement.authority_id).exclude(
        education_id__isnull=True).exclude(education_id="").in_bulk()
    person = {pk: pupil.merged_into_id or pk for pk, pupil in pupils.items()}
    allowed = consents_valid(subject_entity="student", subject_ids=set(person.values()),
                             purpose=purpose.code)
    kept = dict(Student.objects.filter(pk__in={p.merged_into_id for p in pupils.values()
                                               if p.merged_into_id is not None})
                .values_list("pk", "education_id"))
    fields = list(agreement.allowed_fields)
    found: list[tuple[FeedItem, Student]] = []
    for pk, (seq, action) in newest.items():
        pupil = pupils.get(pk)
        if pupil is None or person[pk] not in allowed:
            continue
        merged_into = (kept.get(pupil.merged_into_id) or None
                       if pupil.merged_into_id is not None else None)
        found.append((FeedItem(seq=seq, action=action, education_id=str(pupil.education_id),
                               merged_into=merged_into,
                               record={name: _shown(getattr(pupil, name)) for name in fields}),
                      pupil))
    return found


def changes_disclose(*, agreement: SharingAgreement,
                     query: Mapping[str, Sequence[str]]) -> FeedPage:
    """One page of the agreement's change feed after the cursor ``after`` (the ``next`` of
    the previous page; none: from the start), at most ``limit`` changes (default 100, at most
    500). ``query`` is every query parameter with all its values: anything else is refused."""
    refusal = agreement_refusal(agreement, on=timezone.localdate()) or feed_refusal(agreement)
    if refusal is not None:
        raise _refuse(403, refusal[0], refusal[1], agreement=agreement,
                      extra={"feed": True})
    rate = agreement.rate_limit_per_minute
    if _count_request(agreement, timezone.now()) > rate:
        raise _refuse(429, "rate_limited", _(
            "Đã quá %(limit)d lượt yêu cầu trong một phút theo thoả thuận; hãy thử lại sau.")
            % {"limit": rate}, agreement=agreement, extra={"feed": True})
    after, limit = _parameters(agreement, query)
    purpose = purposes_in_force().get(agreement.purpose)
    if purpose is None or "student" not in purpose.entities:
        raise _refuse(403, "purpose_not_in_force", _(
            "Mục đích xử lý của thoả thuận không còn trong danh mục đang có hiệu lực."),
            agreement=agreement, extra={"feed": True})
    head = _chain_head()
    if after is not None and after > head:
        raise _bad_parameter(agreement, "after", _(
            "Tham số “after” vượt quá thay đổi mới nhất (%(head)d): hãy dùng giá trị “next” "
            "mà hệ thống đã trả về.") % {"head": head})
    start = max(after or 0, feed_start(agreement))
    top = min(head, start + SCAN_WINDOW)
    changes = _changes(agreement, start, top, limit)
    if len(changes) > limit:
        changes = changes[:limit]
        cursor, more = changes[-1][0], True
    else:
        cursor, more = top, top < head
    found = _items(agreement, purpose, changes)
    if found:
        schools = {pupil.school_id for _item, pupil in found}
        now = timezone.now()
        with transaction.atomic():
            audit_record(
                actor=None, actor_label=_label(agreement), action=actions.SHARING_DISCLOSED,
                entity="student", school_id=schools.pop() if len(schools) == 1 else None,
                data={"ids": [str(pupil.pk) for _item, pupil in found],
                      "agreement": agreement.pk, "agency": agreement.agency.name,
                      "fields": list(agreement.allowed_fields), "purpose": purpose.code,
                      "legal_basis": agreement.legal_basis[:LEGAL_BASIS_KEPT],
                      "feed_legal_basis":
                          agreement.change_feed_legal_basis[:LEGAL_BASIS_KEPT],
                      "feed": {"after": after or 0, "next": cursor}})
            SharingAgreement.objects.filter(pk=agreement.pk).update(
                feed_cursor=cursor, feed_disclosed_at=now)
    return FeedPage(agreement=agreement, after=after or 0, next=cursor, more=more,
                    items=tuple(item for item, _pupil in found))
