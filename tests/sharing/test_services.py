"""Creating and revoking agreements: who may, what is checked (Vietnamese messages naming the
field), what is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from edureg.access.roles import Role
from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.sharing.models import AgreementStatus, SharingAgreement
from edureg.sharing.services import agreement_create, agreement_revoke
from tests import factories as f
from tests.conftest import Cast
from tests.sharing.conftest import agreement_data, issue

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 10, 1)


def _errors(cast: Cast, **changes: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        issue(cast, **changes)
    assert not SharingAgreement.objects.exists()
    return raised.value.message_dict


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"purpose": "ban_du_lieu"}, "purpose",
     "Mục đích “ban_du_lieu” không có trong danh mục mục đích xử lý đang có hiệu lực."),
    ({"allowed_fields": ("full_name", "mat_khau")}, "allowed_fields",
     "Các trường không có trong danh mục trường dữ liệu học sinh: mat_khau."),
    ({"allowed_fields": ()}, "allowed_fields",
     "Hãy chọn ít nhất một trường dữ liệu được chia sẻ."),
    ({"purpose": "chia_se_tram_y_te", "allowed_fields": ("full_name", "religion_code")},
     "allowed_fields", "Mục đích “Chia sẻ với Trạm Y tế xã/phường để tiêm chủng” không bao "
                       "gồm các trường: Tôn giáo."),
    ({"allowed_lookups": ("full_name",)}, "allowed_lookups",
     "Cách tra cứu không hợp lệ: full_name."),
    ({"valid_from": TODAY + dt.timedelta(days=400), "expires_on": TODAY + dt.timedelta(days=399)},
     "expires_on", "Ngày hết hiệu lực không được trước ngày bắt đầu hiệu lực."),
    ({"kind": "change_feed"}, "change_feed_legal_basis",
     "Dòng thay đổi chuyển dữ liệu hàng loạt nên cần căn cứ pháp lý riêng: hãy ghi căn cứ "
     "đó."),
    ({"kind": "ban_sao"}, "kind", "Hãy chọn hình thức chia sẻ trong danh sách."),
    ({"rate_limit_per_minute": 0}, "rate_limit_per_minute",
     "Số lượt tra cứu mỗi phút phải từ 1 đến 600."),
    ({"legal_basis": "  "}, "legal_basis", "Hãy ghi căn cứ pháp lý của việc chia sẻ dữ liệu."),
    ({"reference": ""}, "reference", "Hãy nhập số hiệu văn bản thoả thuận."),
])
def test_invalid_agreement_is_refused_with_a_message_on_the_field(
        cast: Cast, changes: dict[str, Any], field: str, message: str) -> None:
    assert _errors(cast, **changes)[field] == [message]


def test_change_feed_with_its_own_legal_basis_is_accepted(cast: Cast) -> None:
    issued = issue(cast, kind="change_feed",
                   change_feed_legal_basis="Quyết định 12/QĐ-UBND về liên thông dữ liệu")
    assert issued.agreement.kind == "change_feed"


def test_create_is_audited_without_the_secret(cast: Cast) -> None:
    issued = issue(cast)
    event = AuditEvent.objects.get(action=actions.SHARING_AGREEMENT_CREATED)
    assert event.actor_id == cast.erin.pk
    assert event.entity_id == str(issued.agreement.pk)
    assert event.data["fields"] == ["full_name", "date_of_birth"]
    assert event.data["client_id"] == issued.client_id
    assert issued.client_secret not in str(event.data)
    assert issued.client_secret not in repr(issued)


def test_principal_may_not_create_an_agreement(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        agreement_create(actor=cast.alice, authority_id=cast.school_a.authority_id,
                         data=agreement_data())


def test_officer_of_another_authority_finds_nothing(cast: Cast) -> None:
    other = f.make_authority(code="SGD01")
    olga = f.make_user("olga", Role.AUTHORITY_OFFICER, authority=other)
    issued = issue(cast)
    with pytest.raises(Http404):
        agreement_create(actor=olga, authority_id=cast.school_a.authority_id,
                         data=agreement_data())
    with pytest.raises(Http404):
        agreement_revoke(actor=olga, authority_id=other.pk, agreement_id=issued.agreement.pk,
                         reason="Thử")


def test_revoke_needs_a_reason_and_happens_once(cast: Cast) -> None:
    issued = issue(cast)
    authority_id = cast.school_a.authority_id
    with pytest.raises(ValidationError) as raised:
        agreement_revoke(actor=cast.erin, authority_id=authority_id,
                         agreement_id=issued.agreement.pk, reason=" ")
    assert raised.value.message_dict == {"reason": ["Hãy ghi lý do thu hồi thoả thuận."]}
    revoked = agreement_revoke(actor=cast.erin, authority_id=authority_id,
                               agreement_id=issued.agreement.pk, reason="Cơ quan giải thể")
    assert revoked.status(timezone.localdate()) is AgreementStatus.REVOKED
    assert revoked.revoked_by_id == cast.erin.pk
    with pytest.raises(ValidationError):
        agreement_revoke(actor=cast.erin, authority_id=authority_id,
                         agreement_id=issued.agreement.pk, reason="Lần hai")
    event = AuditEvent.objects.get(action=actions.SHARING_AGREEMENT_REVOKED)
    assert event.data["reason"] == "Cơ quan giải thể"


def test_agreements_with_the_same_agency_share_it(cast: Cast) -> None:
    first = issue(cast)
    second = issue(cast, reference="02/2026/TTCS-SGDĐT")
    assert first.agreement.agency_id == second.agreement.agency_id
    assert first.client_id != second.client_id
