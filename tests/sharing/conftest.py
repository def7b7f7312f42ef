"""Agreements for the sharing tests: erin (authority officer) signs them with agencies."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from edureg.sharing.services import AgreementData, IssuedClient, agreement_create
from tests.conftest import Cast

TOKEN_URL = "/o/token/"
LOOKUP_URL = "/api/v1/sharing/students"
ID_NUMBER = "079219001234"
PHONE = "0903127845"


def agreement_data(**changes: Any) -> AgreementData:
    today = timezone.localdate()
    data = AgreementData(
        agency_code="BHXH-79", agency_name="Bảo hiểm xã hội Thành phố",
        reference="01/2026/TTCS-SGDĐT", legal_basis="Luật Bảo hiểm y tế; Điều 11 Luật Dữ liệu",
        purpose="quan_ly_giao_duc", allowed_fields=("full_name", "date_of_birth"),
        allowed_lookups=("education_id",), kind="lookup", change_feed_legal_basis="",
        valid_from=today - dt.timedelta(days=1), expires_on=today + dt.timedelta(days=365),
        rate_limit_per_minute=60)
    return dataclasses.replace(data, **changes)


def issue(cast: Cast, **changes: Any) -> IssuedClient:
    return agreement_create(actor=cast.erin, authority_id=cast.school_a.authority_id,
                            data=agreement_data(**changes))


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def token_response(issued: IssuedClient, secret: str | None = None) -> Any:
    return Client().post(TOKEN_URL, {"grant_type": "client_credentials"},
                         HTTP_AUTHORIZATION=basic(issued.client_id,
                                                  secret or issued.client_secret))


def token_for(issued: IssuedClient) -> str:
    response = token_response(issued)
    assert response.status_code == 200, response.content
    return str(response.json()["access_token"])


def lookup(token: str, **params: str) -> Any:
    return Client().get(LOOKUP_URL, params, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def pupils(cast: Cast) -> Cast:
    """An carries an ID number and a phone: values no agreement below lets out."""
    type(cast.an).objects.filter(pk=cast.an.pk).update(personal_id_number=ID_NUMBER,
                                                       phone=PHONE)
    cast.an.refresh_from_db()
    return cast
