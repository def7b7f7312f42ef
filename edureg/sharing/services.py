"""Writing sharing agreements: the authority officer creates one (with its OAuth2 client) and
revokes it. Each write is authorised by the policy, validated with Vietnamese messages naming
the field, and audited in its own transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import (
    AbstractApplication,
    get_access_token_model,
    get_application_model,
)

from edureg.access.policy import Actor, get_scoped_or_404, grants, require
from edureg.access.roles import ROLE_PERMS, Perm, Scope
from edureg.audit import actions
from edureg.audit.services import audit_record
from edureg.core.catalogue import active_catalogue
from edureg.privacy.purposes import purposes_in_force
from edureg.schools.models import Authority
from edureg.sharing.models import LOOKUPS, Agency, AgreementKind, SharingAgreement

MAX_RATE_PER_MINUTE = 600
_TEXT_LIMITS = {"agency_code": 40, "agency_name": 200, "reference": 100}


@dataclasses.dataclass(frozen=True)
class AgreementData:
    """What the officer typed: the agency, the signed agreement and what it allows."""

    agency_code: str
    agency_name: str
    reference: str
    legal_basis: str
    purpose: str
    allowed_fields: Sequence[str]
    allowed_lookups: Sequence[str]
    kind: str
    change_feed_legal_basis: str
    valid_from: dt.date | None
    expires_on: dt.date | None
    rate_limit_per_minute: int | None


@dataclasses.dataclass(frozen=True)
class IssuedClient:
    """The agreement and its client's credentials. The secret is shown once: only its hash is
    stored."""

    agreement: SharingAgreement
    client_id: str
    client_secret: str = dataclasses.field(repr=False)


def sharing_authority(actor: Actor, authority_id: int) -> Authority:
    """The authority whose agreements the actor manages: 403 without ``sharing.manage``, 404
    for another authority (or a missing one)."""
    require(actor, Perm.SHARING_MANAGE)
    if not any(Perm.SHARING_MANAGE in ROLE_PERMS[g.role] and g.scope is Scope.AUTHORITY
               and g.authority_id == authority_id for g in grants(actor)):
        raise Http404
    authority = Authority.objects.filter(pk=authority_id).first()
    if authority is None:
        raise Http404
    return authority


def _validate(data: AgreementData, *, today: dt.date) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    required = {
        "agency_code": _("Hãy nhập mã cơ quan nhận dữ liệu."),
        "agency_name": _("Hãy nhập tên cơ quan nhận dữ liệu."),
        "reference": _("Hãy nhập số hiệu văn bản thoả thuận."),
        "legal_basis": _("Hãy ghi căn cứ pháp lý của việc chia sẻ dữ liệu."),
    }
    for field, message in required.items():
        value = getattr(data, field).strip()
        if not value:
            add(field, message)
        elif field in _TEXT_LIMITS and len(value) > _TEXT_LIMITS[field]:
            add(field, _("Dài quá %(limit)d ký tự.") % {"limit": _TEXT_LIMITS[field]})

    purpose = purposes_in_force().get(data.purpose)
    if purpose is None:
        add("purpose", _("Mục đích “%(code)s” không có trong danh mục mục đích xử lý đang có "
                         "hiệu lực.") % {"code": data.purpose})
    elif "student" not in purpose.entities:
        add("purpose", _("Mục đích “%(name)s” không áp dụng cho dữ liệu học sinh.")
            % {"name": purpose.name})

    catalogue = {f.name: f for f in active_catalogue().for_entity("student")}
    fields = list(dict.fromkeys(data.allowed_fields))
    unknown = [name for name in fields if name not in catalogue]
    if not fields:
        add("allowed_fields", _("Hãy chọn ít nhất một trường dữ liệu được chia sẻ."))
    elif unknown:
        add("allowed_fields", _("Các trường không có trong danh mục trường dữ liệu học sinh: "
                                "%(fields)s.") % {"fields": ", ".join(unknown)})
    elif purpose is not None:
        outside = [catalogue[name].label for name in fields
                   if catalogue[name].category not in purpose.categories]
        if outside:
            add("allowed_fields", _("Mục đích “%(purpose)s” không bao gồm các trường: "
                                    "%(fields)s.") % {"purpose": purpose.name,
                                                      "fields": ", ".join(outside)})

    lookups = list(dict.fromkeys(data.allowed_lookups))
    if not lookups and data.kind != AgreementKind.CHANGE_FEED:
        # A change feed may also allow single look-ups (those listed), but need not.
        add("allowed_lookups", _("Hãy chọn ít nhất một cách tra cứu."))
    elif set(lookups) - set(LOOKUPS):
        add("allowed_lookups", _("Cách tra cứu không hợp lệ: %(lookups)s.")
            % {"lookups": ", ".join(sorted(set(lookups) - set(LOOKUPS)))})

    if data.kind not in AgreementKind.values:
        add("kind", _("Hãy chọn hình thức chia sẻ trong danh sách."))
    elif data.kind == AgreementKind.CHANGE_FEED and not data.change_feed_legal_basis.strip():
        add("change_feed_legal_basis", _(
            "Dòng thay đổi chuyển dữ liệu hàng loạt nên cần căn cứ pháp lý riêng: hãy ghi "
            "căn cứ đó."))

    if data.valid_from is None:
        add("valid_from", _("Hãy nhập ngày bắt đầu hiệu lực."))
    if data.expires_on is None:
        add("expires_on", _("Hãy nhập ngày hết hiệu lực."))
    elif data.valid_from is not None and data.expires_on < data.valid_from:
        add("expires_on", _("Ngày hết hiệu lực không được trước ngày bắt đầu hiệu lực."))
    elif data.expires_on < today:
        add("expires_on", _("Ngày hết hiệu lực đã qua."))

    rate = data.rate_limit_per_minute
    if rate is None or not 1 <= rate <= MAX_RATE_PER_MINUTE:
        add("rate_limit_per_minute", _("Số lượt tra cứu mỗi phút phải từ 1 đến %(max)d.")
            % {"max": MAX_RATE_PER_MINUTE})
    return errors


def agreement_create(*, actor: Actor, authority_id: int, data: AgreementData) -> IssuedClient:
    """Record an agreement and issue its client (confidential, client credentials). Returns the
    client secret once; the database keeps only its hash."""
    authority = sharing_authority(actor, authority_id)
    assert actor.pk is not None  # the policy granted sharing.manage: a signed-in account
    now = timezone.now()
    errors = _validate(data, today=timezone.localdate(now))
    if errors:
        raise ValidationError(errors)
    assert data.valid_from is not None
    assert data.expires_on is not None
    assert data.rate_limit_per_minute is not None
    secret = generate_client_secret()
    with transaction.atomic():
        agency, _created = Agency.objects.get_or_create(
            authority=authority, code=data.agency_code.strip(),
            defaults={"name": data.agency_name.strip()})
        application = get_application_model()(
            name=f"{agency.code}: {data.reference.strip()}"[:255],
            client_type=AbstractApplication.CLIENT_CONFIDENTIAL,
            authorization_grant_type=AbstractApplication.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret, hash_client_secret=True, redirect_uris="",
            skip_authorization=False,
        )
        application.save()
        agreement = SharingAgreement.objects.create(
            authority=authority, agency=agency, application=application,
            reference=data.reference.strip(), legal_basis=data.legal_basis.strip(),
            purpose=data.purpose, allowed_fields=list(dict.fromkeys(data.allowed_fields)),
            allowed_lookups=list(dict.fromkeys(data.allowed_lookups)), kind=data.kind,
            change_feed_legal_basis=data.change_feed_legal_basis.strip(),
            valid_from=data.valid_from, expires_on=data.expires_on,
            rate_limit_per_minute=data.rate_limit_per_minute, created_by_id=actor.pk,
            created_at=now,
        )
        audit_record(actor=actor, action=actions.SHARING_AGREEMENT_CREATED,
                     entity="sharing_agreement", entity_id=agreement.pk, data={
                         "agency": agency.name, "agency_code": agency.code,
                         "reference": agreement.reference, "purpose": agreement.purpose,
                         "fields": agreement.allowed_fields,
                         "lookups": agreement.allowed_lookups, "kind": agreement.kind,
                         "valid_from": agreement.valid_from.isoformat(),
                         "expires_on": agreement.expires_on.isoformat(),
                         "rate_limit_per_minute": agreement.rate_limit_per_minute,
                         "client_id": application.client_id})
    return IssuedClient(agreement=agreement, client_id=application.client_id,
                        client_secret=secret)


def agreement_get(*, actor: Actor, authority_id: int, agreement_id: int) -> SharingAgreement:
    """One agreement of the authority: 403 without ``sharing.manage``, 404 outside it."""
    sharing_authority(actor, authority_id)
    return get_scoped_or_404(
        SharingAgreement.objects.filter(authority_id=authority_id).select_related(
            "agency", "application"), actor, Perm.SHARING_MANAGE, pk=agreement_id)


def agreement_revoke(*, actor: Actor, authority_id: int, agreement_id: int,
                     reason: str) -> SharingAgreement:
    """Revoke an agreement: its client gets no new token, and the tokens it holds stop working
    at once (they are expired now; the look-up also reads the agreement on every request)."""
    agreement = agreement_get(actor=actor, authority_id=authority_id, agreement_id=agreement_id)
    if not reason.strip():
        raise ValidationError({"reason": [_("Hãy ghi lý do thu hồi thoả thuận.")]})
    now = timezone.now()
    with transaction.atomic():
        locked = SharingAgreement.objects.select_for_update().get(pk=agreement.pk)
        if locked.revoked_at is not None:
            raise ValidationError({"reason": [_("Thoả thuận này đã bị thu hồi.")]})
        locked.revoked_at, locked.revoked_by_id = now, actor.pk
        locked.revocation_reason = reason.strip()
        locked.save(update_fields=["revoked_at", "revoked_by", "revocation_reason"])
        ended = get_access_token_model().objects.filter(
            application_id=locked.application_id, expires__gt=now).update(expires=now)
        audit_record(actor=actor, action=actions.SHARING_AGREEMENT_REVOKED,
                     entity="sharing_agreement", entity_id=locked.pk, data={
                         "agency": agreement.agency.name, "reference": locked.reference,
                         "reason": locked.revocation_reason, "tokens_ended": ended})
    return locked

