"""The authority officer's screens: list with status, create (secret shown once), revoke."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from edureg.access.roles import Role
from edureg.sharing.models import SharingAgreement
from tests import factories as f
from tests.conftest import Cast
from tests.sharing.conftest import issue

pytestmark = pytest.mark.django_db


def _signed_in(user: object) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "agency_code": "TYT-26734", "agency_name": "Trạm Y tế phường Bến Thành",
        "reference": "05/2026/TTCS", "legal_basis": "Thoả thuận ngày 01/10/2026",
        "purpose": "chia_se_tram_y_te", "allowed_fields": ["full_name", "date_of_birth"],
        "allowed_lookups": ["education_id"], "kind": "lookup",
        "change_feed_legal_basis": "", "valid_from": "01/10/2026",
        "expires_on": "31/12/2030", "rate_limit_per_minute": "30"}
    data.update(changes)
    return data


def test_officer_creates_an_agreement_and_sees_the_secret_once(cast: Cast) -> None:
    client = _signed_in(cast.erin)
    authority_id = cast.school_a.authority_id
    url = reverse("web:sharing_agreement_create", args=[authority_id])
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Họ và tên (theo giấy khai sinh)" in text  # the catalogue's fields as boxes
    assert "Chia sẻ với Trạm Y tế xã/phường để tiêm chủng" in text  # purposes in force
    assert "checked" not in text  # nothing ticked in advance
    response = client.post(url, _form())
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    issued = response.context["issued"]
    assert issued.client_secret in response.content.decode()
    agreement = SharingAgreement.objects.get()
    assert agreement.allowed_fields == ["full_name", "date_of_birth"]
    listing = client.get(reverse("web:sharing_agreements", args=[authority_id]))
    assert listing.status_code == 200
    body = listing.content.decode()
    assert "05/2026/TTCS" in body
    assert "Đang hiệu lực" in body
    assert issued.client_id in body
    assert issued.client_secret not in body


def test_invalid_form_shows_the_service_messages_on_the_fields(cast: Cast) -> None:
    client = _signed_in(cast.erin)
    url = reverse("web:sharing_agreement_create", args=[cast.school_a.authority_id])
    response = client.post(url, _form(kind="change_feed", expires_on="01/01/2020",
                                      allowed_fields=["full_name", "religion_code"]))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["change_feed_legal_basis"]
    assert form.errors["expires_on"] == [
        "Ngày hết hiệu lực không được trước ngày bắt đầu hiệu lực."]
    assert "Tôn giáo" in form.errors["allowed_fields"][0]
    assert not SharingAgreement.objects.exists()


def test_officer_revokes_with_a_reason(cast: Cast) -> None:
    issued = issue(cast)
    client = _signed_in(cast.erin)
    authority_id = cast.school_a.authority_id
    url = reverse("web:sharing_agreement_revoke", args=[authority_id, issued.agreement.pk])
    response = client.post(url, {"reason": "Hết thời hạn hợp tác"})
    assert response.status_code == 302
    issued.agreement.refresh_from_db()
    assert issued.agreement.revocation_reason == "Hết thời hạn hợp tác"
    listing = client.get(reverse("web:sharing_agreements", args=[authority_id]))
    assert "Đã thu hồi" in listing.content.decode()


def test_revoke_without_reason_changes_nothing(cast: Cast) -> None:
    issued = issue(cast)
    client = _signed_in(cast.erin)
    url = reverse("web:sharing_agreement_revoke",
                  args=[cast.school_a.authority_id, issued.agreement.pk])
    response = client.post(url, {"reason": ""}, follow=True)
    assert "Hãy ghi lý do thu hồi thoả thuận." in response.content.decode()
    issued.agreement.refresh_from_db()
    assert issued.agreement.revoked_at is None


@pytest.mark.parametrize("name", ["sharing_agreements", "sharing_agreement_create"])
def test_principal_is_forbidden(cast: Cast, name: str) -> None:
    client = _signed_in(cast.alice)
    assert client.get(reverse(f"web:{name}",
                              args=[cast.school_a.authority_id])).status_code == 403


def test_another_authority_and_its_agreements_are_not_found(cast: Cast) -> None:
    issued = issue(cast)
    other = f.make_authority(code="SGD01")
    olga = f.make_user("olga", Role.AUTHORITY_OFFICER, authority=other)
    client = _signed_in(olga)
    assert client.get(reverse("web:sharing_agreements",
                              args=[cast.school_a.authority_id])).status_code == 404
    assert client.post(reverse("web:sharing_agreement_revoke",
                               args=[other.pk, issued.agreement.pk]),
                       {"reason": "Thử"}).status_code == 404
    own = client.get(reverse("web:sharing_agreements", args=[other.pk]))
    assert own.status_code == 200
    assert "01/2026/TTCS-SGDĐT" not in own.content.decode()
    issued.agreement.refresh_from_db()
    assert issued.agreement.revoked_at is None
