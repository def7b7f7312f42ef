"""The agencies' side: tokens by client credentials, one-pupil look-ups under the agreement,
and every refusal audited without leaking anything."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from edureg.audit import actions
from edureg.audit.actions import Kind
from edureg.audit.models import AuditEvent, AuditRecordRef
from edureg.audit.services import refs_catch_up
from edureg.privacy.services import ConsentGiven, consent_give
from edureg.sharing.models import SharingAgreement
from edureg.sharing.services import agreement_revoke
from tests import factories as f
from tests.conftest import Cast
from tests.sharing.conftest import (
    ID_NUMBER,
    LOOKUP_URL,
    PHONE,
    issue,
    lookup,
    token_for,
    token_response,
)

pytestmark = pytest.mark.django_db


def _refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=actions.SHARING_REFUSED).order_by("seq"))


def _denied() -> int:
    return AuditEvent.objects.filter(action=actions.ACCESS_DENIED).count()


# --- Tokens ------------------------------------------------------------------------------------

def test_client_credentials_give_a_short_lived_token_stored_only_as_a_checksum(
        cast: Cast) -> None:
    issued = issue(cast)
    response = token_response(issued)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "sharing"
    assert "refresh_token" not in body
    stored = AccessToken.objects.get(application__client_id=issued.client_id)
    assert stored.token == ""  # only the SHA-256 checksum is kept
    assert body["access_token"] not in json.dumps(list(AccessToken.objects.values()),
                                                  default=str)
    issued_event = AuditEvent.objects.get(action=actions.SHARING_TOKEN_ISSUED)
    assert issued_event.actor_label == "agency:BHXH-79"
    assert body["access_token"] not in json.dumps(issued_event.data)


def test_client_secret_is_stored_hashed(cast: Cast) -> None:
    issued = issue(cast)
    application = Application.objects.get(client_id=issued.client_id)
    assert application.client_secret != issued.client_secret
    assert check_password(issued.client_secret, application.client_secret)
    assert application.client_type == "confidential"
    assert application.authorization_grant_type == "client-credentials"


def test_wrong_secret_is_refused_and_audited_once(cast: Cast) -> None:
    issued = issue(cast)
    denied = _denied()
    response = token_response(issued, secret="doan-mo")
    assert response.status_code == 401
    assert "access_token" not in response.json()
    [refusal] = _refusals()
    assert refusal.data["reason"] == "bad_client_credentials"
    assert refusal.data["agreement"] == issued.agreement.pk
    assert _denied() == denied  # not recorded a second time as access.denied


def test_other_grants_are_refused(cast: Cast) -> None:
    issued = issue(cast)
    response = Client().post("/o/token/", {"grant_type": "password", "username": "erin",
                                           "password": "x", "client_id": issued.client_id,
                                           "client_secret": issued.client_secret})
    assert response.status_code in (400, 401)
    assert not AccessToken.objects.exists()


def test_only_the_token_endpoint_is_mounted(client: Client) -> None:
    for path in ("/o/authorize/", "/o/applications/", "/o/revoke_token/",
                 "/o/introspect/"):
        assert client.get(path).status_code == 404


# --- Look-ups ----------------------------------------------------------------------------------

def test_lookup_returns_only_the_agreement_fields(pupils: Cast) -> None:
    issued = issue(pupils)
    response = lookup(token_for(issued), education_id=str(pupils.an.education_id))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body == {"agreement": "01/2026/TTCS-SGDĐT", "purpose": "quan_ly_giao_duc",
                    "record": {"full_name": "Nguyễn Văn An", "date_of_birth": None}}
    text = response.content.decode()
    for hidden in (ID_NUMBER, PHONE, str(pupils.an.education_id)):
        assert hidden not in text


def test_a_subset_of_fields_may_be_asked_for(pupils: Cast) -> None:
    issued = issue(pupils)
    response = lookup(token_for(issued), education_id=str(pupils.an.education_id),
                      fields="full_name")
    assert response.json()["record"] == {"full_name": "Nguyễn Văn An"}


def test_fields_outside_the_agreement_are_refused_and_never_sent(pupils: Cast) -> None:
    issued = issue(pupils)
    response = lookup(token_for(issued), education_id=str(pupils.an.education_id),
                      fields="full_name,personal_id_number,phone")
    assert response.status_code == 403
    assert "personal_id_number, phone" in response.json()["detail"]
    assert ID_NUMBER not in response.content.decode()
    assert PHONE not in response.content.decode()
    [refusal] = _refusals()
    assert refusal.data["reason"] == "field_not_allowed"
    assert ID_NUMBER not in json.dumps(refusal.data)
    assert not AuditEvent.objects.filter(action=actions.SHARING_DISCLOSED).exists()


def test_lookup_kind_outside_the_agreement_is_refused(pupils: Cast) -> None:
    issued = issue(pupils)
    response = lookup(token_for(issued), personal_id_number=ID_NUMBER)
    assert response.status_code == 403
    assert response.json()["reason"] == "lookup_not_allowed"
    assert "Nguyễn Văn An" not in response.content.decode()
    [refusal] = _refusals()
    assert ID_NUMBER not in json.dumps(refusal.data)


def test_lookup_by_personal_id_number_when_allowed(pupils: Cast) -> None:
    issued = issue(pupils, allowed_lookups=("personal_id_number",))
    response = lookup(token_for(issued), personal_id_number=ID_NUMBER)
    assert response.status_code == 200
    assert response.json()["record"]["full_name"] == "Nguyễn Văn An"


@pytest.mark.parametrize("params", [{}, {"education_id": ""},
                                    {"education_id": "1", "personal_id_number": "2"}])
def test_no_listing_exactly_one_key_is_required(pupils: Cast, params: dict[str, str]) -> None:
    issued = issue(pupils, allowed_lookups=("education_id", "personal_id_number"))
    response = lookup(token_for(issued), **params)
    assert response.status_code == 400
    assert "Nguyễn" not in response.content.decode()


def test_missing_pupil_and_other_authority_pupil_are_not_found_without_a_hint(
        pupils: Cast) -> None:
    other_authority = f.make_authority(code="SGD01")
    stranger = f.make_student(f.make_class(f.make_school(other_authority)), "Đỗ Thị Xa")
    token = token_for(issue(pupils))
    for code in ("0000000000", str(stranger.education_id)):
        response = lookup(token, education_id=code)
        assert response.status_code == 404
        assert response.json() == {"detail": "Không tìm thấy.", "reason": "not_found"}
    assert [e.data["reason"] for e in _refusals()] == ["not_found", "not_found"]


def test_disclosure_is_audited_with_the_pupil_id_for_the_parents_history(pupils: Cast) -> None:
    issued = issue(pupils)
    lookup(token_for(issued), education_id=str(pupils.an.education_id))
    event = AuditEvent.objects.get(action=actions.SHARING_DISCLOSED)
    assert event.kind == Kind.DISCLOSURE
    assert event.actor_id is None
    assert event.actor_label == "agency:BHXH-79"
    assert event.entity == "student"
    assert event.school_id == pupils.school_a.pk
    assert event.data == {"ids": [str(pupils.an.pk)], "agreement": issued.agreement.pk,
                          "agency": "Bảo hiểm xã hội Thành phố",
                          "fields": ["full_name", "date_of_birth"],
                          "purpose": "quan_ly_giao_duc", "lookup": "education_id",
                          "legal_basis": "Luật Bảo hiểm y tế; Điều 11 Luật Dữ liệu"}
    refs_catch_up()
    assert AuditRecordRef.objects.filter(event=event, entity="student",
                                         entity_id=str(pupils.an.pk)).exists()


# --- Consent -----------------------------------------------------------------------------------

def test_purpose_needing_consent_is_refused_without_it_and_allowed_with_it(
        pupils: Cast) -> None:
    issued = issue(pupils, purpose="chia_se_tram_y_te", agency_code="TYT-26734",
                   agency_name="Trạm Y tế phường Bến Thành")
    token = token_for(issued)
    refused = lookup(token, education_id=str(pupils.an.education_id))
    assert refused.status_code == 403
    assert refused.json()["reason"] == "consent_missing"
    assert "Chia sẻ với Trạm Y tế" in refused.json()["detail"]
    assert "Nguyễn Văn An" not in refused.content.decode()
    [refusal] = _refusals()
    assert refusal.data["ids"] == [str(pupils.an.pk)]

    mother = f.make_guardian(pupils.an, "Trần Thị Mẹ", relation="02")
    consent_give(actor=pupils.alice, student=pupils.an, data=ConsentGiven(
        purpose="chia_se_tram_y_te", notice_version="TB-TYT-2026.1", guardian=mother,
        subject_agreed=True, channel="phieu_giay", evidence_reference="Phiếu số 7"))
    allowed = lookup(token, education_id=str(pupils.an.education_id))
    assert allowed.status_code == 200
    assert allowed.json()["record"]["full_name"] == "Nguyễn Văn An"


# --- Revoked, expired, forged, replayed ------------------------------------------------------

def test_revoked_agreement_refuses_its_live_token_and_new_tokens(pupils: Cast) -> None:
    issued = issue(pupils)
    token = token_for(issued)
    agreement_revoke(actor=pupils.erin, authority_id=pupils.school_a.authority_id,
                     agreement_id=issued.agreement.pk, reason="Hết nhu cầu")
    response = lookup(token, education_id=str(pupils.an.education_id))
    assert response.status_code == 403
    assert response.json()["reason"] == "revoked"
    assert "đã bị thu hồi" in response.json()["detail"]
    assert token_response(issued).status_code == 401
    assert [(e.data["reason"], e.data["agreement"]) for e in _refusals()] == [
        ("revoked", issued.agreement.pk), ("revoked", issued.agreement.pk)]
    assert not AuditEvent.objects.filter(action=actions.SHARING_DISCLOSED).exists()


def test_expired_agreement_is_refused(pupils: Cast) -> None:
    issued = issue(pupils)
    token = token_for(issued)
    SharingAgreement.objects.filter(pk=issued.agreement.pk).update(
        expires_on=timezone.localdate() - dt.timedelta(days=1))
    response = lookup(token, education_id=str(pupils.an.education_id))
    assert response.status_code == 403
    assert response.json()["reason"] == "expired"
    assert token_response(issued).status_code == 401
    assert [e.data["reason"] for e in _refusals()] == ["expired", "expired"]


def test_agreement_not_yet_in_force_gives_no_token(pupils: Cast) -> None:
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    issued = issue(pupils, valid_from=tomorrow)
    assert token_response(issued).status_code == 401
    assert _refusals()[-1].data["reason"] == "not_yet_valid"


def test_forged_token_is_refused_and_audited(pupils: Cast) -> None:
    issue(pupils)
    denied = _denied()
    response = lookup("gia-mao-0123456789", education_id=str(pupils.an.education_id))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert [e.data["reason"] for e in _refusals()] == ["invalid_token"]
    assert _denied() == denied


def test_replayed_expired_token_is_refused(pupils: Cast) -> None:
    issued = issue(pupils)
    token = token_for(issued)
    AccessToken.objects.update(expires=timezone.now() - dt.timedelta(seconds=1))
    response = lookup(token, education_id=str(pupils.an.education_id))
    assert response.status_code == 401
    assert _refusals()[-1].data["reason"] == "token_expired"


def test_token_in_the_query_string_is_not_accepted(pupils: Cast) -> None:
    token = token_for(issue(pupils))
    response = Client().get(LOOKUP_URL, {"education_id": str(pupils.an.education_id),
                                         "access_token": token})
    assert response.status_code == 401


def test_staff_session_does_not_open_the_sharing_api(pupils: Cast) -> None:
    issue(pupils)
    client = Client()
    client.force_login(pupils.erin)
    response = client.get(LOOKUP_URL, {"education_id": str(pupils.an.education_id)})
    assert response.status_code == 401
    assert "Nguyễn" not in response.content.decode()


# --- Rate limit --------------------------------------------------------------------------------

def test_over_the_rate_limit_answers_429(pupils: Cast) -> None:
    issued = issue(pupils, rate_limit_per_minute=2)
    token = token_for(issued)
    code = str(pupils.an.education_id)
    assert [lookup(token, education_id=code).status_code for _ in range(3)] == [200, 200, 429]
    assert _refusals()[-1].data["reason"] == "rate_limited"
    assert AuditEvent.objects.filter(action=actions.SHARING_DISCLOSED).count() == 2
