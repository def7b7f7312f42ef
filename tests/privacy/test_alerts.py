"""Overdue alerts by text message, delivered over real HTTP to the message simulator."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.utils import timezone

from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.privacy.alerts import privacy_alerts_send
from edureg.privacy.models import Incident, PrivacyAlert, SubjectRequest
from tests import factories as f
from tests.conftest import Cast

PRINCIPAL_PHONE = "0903111222"
OFFICER_PHONE = "0903333444"


def _outbox(base: str, phone: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/_sim/outbox", params={"to": phone}, timeout=5)
    answer.raise_for_status()
    return list(answer.json())


@pytest.fixture
def phones(cast: Cast) -> None:
    f.make_staff(cast.school_a, "Nguyễn Thị Alice", user=cast.alice, phone=PRINCIPAL_PHONE)
    f.make_staff(cast.school_b, "Trần Văn Dave", user=cast.dave, phone="0903555666")


def _request(cast: Cast, days_ago: int, **fields: Any) -> SubjectRequest:
    received = timezone.now() - dt.timedelta(days=days_ago)
    return SubjectRequest.objects.create(
        authority_id=cast.school_a.authority_id, school=cast.school_a, subject_id=cast.an.pk,
        kind="access", received_at=received, channel="don_giay", requester_relation="guardian",
        recorded_at=received, recorded_by=cast.alice, **fields)


def _incident(cast: Cast, hours_ago: float, *, school: bool = True,
              notified: bool = False) -> Incident:
    detected = timezone.now() - dt.timedelta(hours=hours_ago)
    return Incident.objects.create(
        authority_id=cast.school_a.authority_id, school=cast.school_a if school else None,
        detected_at=detected, title="Lộ danh sách lớp", description="Gửi nhầm nhóm Zalo",
        affected_count=30, notified_at=timezone.now() if notified else None,
        recorded_at=detected, recorded_by=cast.alice, updated_at=detected)


def test_an_overdue_request_is_told_to_the_principal_once(
        cast: Cast, phones: None, message_simulator: str) -> None:
    late = _request(cast, days_ago=30)
    _request(cast, days_ago=0)  # received today: nothing due yet
    assert privacy_alerts_send() == 2  # not acknowledged, not answered
    texts = [m["text"] for m in _outbox(message_simulator, PRINCIPAL_PHONE)]
    assert len(texts) == 2
    assert all(f"yêu cầu số {late.pk}" in text for text in texts)
    assert all(cast.an.full_name not in text for text in texts), "no pupil's name in a message"
    assert _outbox(message_simulator, "0903555666") == [], "another school's principal: no"
    assert privacy_alerts_send() == 0, "each item is told once"
    assert AuditEvent.objects.filter(action=actions.PRIVACY_ALERT_SENT).count() == 2


def test_a_closed_request_is_not_told(cast: Cast, phones: None, message_simulator: str) -> None:
    _request(cast, days_ago=30, status="closed", closed_at=timezone.now())
    assert privacy_alerts_send() == 0


def test_breach_clock_warns_before_and_after_the_deadline(
        cast: Cast, phones: None, message_simulator: str) -> None:
    soon = _incident(cast, hours_ago=60)
    late = _incident(cast, hours_ago=80)
    _incident(cast, hours_ago=80, notified=True)
    _incident(cast, hours_ago=10)
    assert privacy_alerts_send() == 2
    kinds = dict(PrivacyAlert.objects.values_list("object_id", "kind"))
    assert kinds == {soon.pk: "incident_due_soon", late.pk: "incident_overdue"}


def test_a_breach_at_the_authority_is_told_to_its_officers(
        cast: Cast, phones: None, message_simulator: str) -> None:
    f.make_staff(cast.school_a, "Lê Thị Erin", user=cast.erin, phone=OFFICER_PHONE)
    _incident(cast, hours_ago=80, school=False)
    assert privacy_alerts_send() == 1
    assert len(_outbox(message_simulator, OFFICER_PHONE)) == 1
    assert _outbox(message_simulator, PRINCIPAL_PHONE) == []


def test_a_message_service_that_is_down_loses_no_alert(
        cast: Cast, phones: None, message_simulator: str) -> None:
    _request(cast, days_ago=30)
    httpx.post(f"{message_simulator}/_sim/control", json={"down": True}, timeout=5)
    assert privacy_alerts_send() == 0
    assert not PrivacyAlert.objects.exists()
    httpx.post(f"{message_simulator}/_sim/control", json={"down": False}, timeout=5)
    assert privacy_alerts_send() == 2
    assert len(_outbox(message_simulator, PRINCIPAL_PHONE)) == 2


def test_the_schedule_sends_them(cast: Cast, phones: None, message_simulator: str) -> None:
    _incident(cast, hours_ago=80)
    call_command("schedule", "--once")
    assert PrivacyAlert.objects.count() == 1
