"""What an agency's client may be told: its bearer token resolved to its agreement, and one
pupil looked up under that agreement.

Every answer is decided here and audited here: a disclosure leaves ``sharing.disclosed``
(kind "disclosure", with the pupil's id, so the parents' portal lists it), every refusal
leaves ``sharing.refused`` with its reason and never the value the agency typed. Refusals are
raised as ``SharingRefused`` after their audit event has committed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from oauth2_provider.models import get_access_token_model

from edureg.audit import actions
from edureg.audit.services import audit_record
from edureg.privacy.purposes import purposes_in_force
from edureg.privacy.selectors import consent_valid
from edureg.registry.models import Student
from edureg.sharing.models import LOOKUPS, AgreementStatus, AgreementUsage, SharingAgreement

SCOPE = "sharing"
LEGAL_BASIS_KEPT = 300  # characters of the agreement's legal basis kept in a disclosure event
_USAGE_KEPT = dt.timedelta(hours=1)


class SharingRefused(Exception):
    """A refused request: ``status`` is the HTTP answer, ``reason`` a stable code (kept in the
    audit event), ``message`` the Vietnamese explanation returned to the agency."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


@dataclasses.dataclass(frozen=True)
class Disclosure:
    agreement: SharingAgreement
    fields: tuple[str, ...]
    record: dict[str, str | None]


def _label(agreement: SharingAgreement | None) -> str:
    return f"agency:{agreement.agency.code}" if agreement is not None else "agency"


def _refuse(status: int, reason: str, message: str, *, agreement: SharingAgreement | None,
            school_id: int | None = None, extra: Mapping[str, Any] | None = None
            ) -> SharingRefused:
    """Record the refusal (its own transaction, committed) and return the exception to raise."""
    data: dict[str, Any] = {"reason": reason, "status": status, **(extra or {})}
    if agreement is not None:
        data |= {"agreement": agreement.pk, "agency": agreement.agency.name}
    with transaction.atomic():
        audit_record(actor=None, actor_label=_label(agreement), action=actions.SHARING_REFUSED,
                     entity="student" if "ids" in data else "sharing_agreement",
                     entity_id=agreement.pk if agreement is not None else "",
                     school_id=school_id, data=data)
    return SharingRefused(status, reason, message)


def agreement_refusal(agreement: SharingAgreement, *, on: dt.date) -> tuple[str, str] | None:
    """Why the agreement does not allow anything today (reason code, message), or None."""
    status = agreement.status(on)
    if status is AgreementStatus.REVOKED:
        return "revoked", _("Thoả thuận chia sẻ dữ liệu %(reference)s đã bị thu hồi.") % {
            "reference": agreement.reference}
    if status is AgreementStatus.EXPIRED:
        return "expired", _("Thoả thuận chia sẻ dữ liệu %(reference)s đã hết hiệu lực sau "
                            "ngày %(day)s.") % {"reference": agreement.reference,
                                                "day": agreement.expires_on.strftime("%d/%m/%Y")}
    if status is AgreementStatus.PENDING:
        return "not_yet_valid", _("Thoả thuận chia sẻ dữ liệu %(reference)s có hiệu lực từ "
                                  "ngày %(day)s.") % {
            "reference": agreement.reference, "day": agreement.valid_from.strftime("%d/%m/%Y")}
    return None


def agreement_for_token(token: str) -> SharingAgreement:
    """The agreement whose client holds this bearer token. An unknown (forged) or expired
    token is refused with 401; a token of a revoked, expired or not-yet-valid agreement with
    403, even before the token itself expires. Tokens are looked up by their SHA-256
    checksum, as the toolkit stores them."""
    invalid = _("Mã truy cập không hợp lệ hoặc đã hết hạn; hãy xin mã mới.")
    checksum = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    found = (get_access_token_model().objects.filter(token_checksum=checksum)
             .select_related("application").first())
    agreement = None
    if found is not None and found.application_id is not None:
        agreement = (SharingAgreement.objects.select_related("agency")
                     .filter(application_id=found.application_id).first())
    if found is None or agreement is None:
        raise _refuse(401, "invalid_token", invalid, agreement=None)
    refusal = agreement_refusal(agreement, on=timezone.localdate())
    if refusal is not None:
        raise _refuse(403, refusal[0], refusal[1], agreement=agreement)
    if found.is_expired() or not found.allow_scopes([SCOPE]):
        raise _refuse(401, "token_expired", invalid, agreement=agreement)
    return agreement


def _count_request(agreement: SharingAgreement, now: dt.datetime) -> int:
    """Count one look-up in the agreement's current clock minute; returns the minute's count."""
    minute = now.replace(second=0, microsecond=0)
    usage = AgreementUsage.objects.filter(agreement=agreement, minute=minute)
    with transaction.atomic():
        if not usage.update(count=F("count") + 1):
            try:
                with transaction.atomic():
                    AgreementUsage.objects.create(agreement=agreement, minute=minute, count=1)
            except IntegrityError:
                usage.update(count=F("count") + 1)
            else:
                AgreementUsage.objects.filter(agreement=agreement,
                                              minute__lt=minute - _USAGE_KEPT).delete()
        return int(usage.values_list("count", flat=True).get())


def _shown(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def student_disclose(*, agreement: SharingAgreement, lookups: Mapping[str, str | None],
                     fields: Sequence[str] | None = None) -> Disclosure:
    """One pupil of the agreement's authority, found by exactly one look-up key the agreement
    allows, with only the agreement's fields (or the subset asked for)."""
    refusal = agreement_refusal(agreement, on=timezone.localdate())
    if refusal is not None:
        raise _refuse(403, refusal[0], refusal[1], agreement=agreement)
    limit = agreement.rate_limit_per_minute
    if _count_request(agreement, timezone.now()) > limit:
        raise _refuse(429, "rate_limited", _(
            "Đã quá %(limit)d lượt tra cứu trong một phút theo thoả thuận; hãy thử lại sau.")
            % {"limit": limit}, agreement=agreement)
    given = {key: value.strip() for key, value in lookups.items()
             if value is not None and value.strip()}
    if len(given) != 1 or set(given) - set(LOOKUPS):
        raise _refuse(400, "bad_request", _(
            "Hãy tra cứu bằng đúng một khoá: %(keys)s.") % {"keys": " hoặc ".join(LOOKUPS)},
            agreement=agreement)
    [(key, value)] = given.items()
    if key not in agreement.allowed_lookups:
        raise _refuse(403, "lookup_not_allowed", _(
            "Thoả thuận không cho phép tra cứu theo “%(key)s”.") % {"key": key},
            agreement=agreement, extra={"lookup": key})
    allowed = list(agreement.allowed_fields)
    wanted = list(dict.fromkeys(fields)) if fields else allowed
    outside = [name for name in wanted if name not in allowed]
    if outside:
        raise _refuse(403, "field_not_allowed", _(
            "Thoả thuận không cho phép chia sẻ các trường: %(fields)s.")
            % {"fields": ", ".join(outside)}, agreement=agreement,
            extra={"fields": outside[:20]})
    purpose = purposes_in_force().get(agreement.purpose)
    if purpose is None or "student" not in purpose.entities:
        raise _refuse(403, "purpose_not_in_force", _(
            "Mục đích xử lý của thoả thuận không còn trong danh mục đang có hiệu lực."),
            agreement=agreement)
    pupil = (Student.objects.live().filter(school__authority_id=agreement.authority_id,
                                           **{key: value}).first())
    if pupil is None:
        raise _refuse(404, "not_found", _("Không tìm thấy."), agreement=agreement,
                      extra={"lookup": key})
    if not consent_valid(subject_entity="student", subject_id=pupil.pk, purpose=purpose.code):
        raise _refuse(403, "consent_missing", _(
            "Học sinh chưa có sự đồng ý, hoặc đã rút lại sự đồng ý, cho mục đích “%(purpose)s”.")
            % {"purpose": purpose.name}, agreement=agreement, school_id=pupil.school_id,
            extra={"ids": [str(pupil.pk)], "lookup": key})
    record = {name: _shown(getattr(pupil, name)) for name in wanted}
    with transaction.atomic():
        audit_record(actor=None, actor_label=_label(agreement),
                     action=actions.SHARING_DISCLOSED, entity="student",
                     school_id=pupil.school_id, data={
                         "ids": [str(pupil.pk)], "agreement": agreement.pk,
                         "agency": agreement.agency.name, "fields": wanted,
                         "purpose": purpose.code, "lookup": key,
                         "legal_basis": agreement.legal_basis[:LEGAL_BASIS_KEPT]})
    return Disclosure(agreement=agreement, fields=tuple(wanted), record=record)
