"""The pupil page's "Đồng ý xử lý dữ liệu" card, its consent and withdrawal forms, and the
data-protection policy pages (read and acknowledge; the principal's list of who has not)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from edureg.access.models import User
from edureg.access.roles import Role
from edureg.audit.models import AuditEvent
from edureg.privacy.models import Consent, ConsentState, ConsentStatus, PolicyAcknowledgement
from edureg.privacy.policy import policy_acknowledge, policy_in_force
from edureg.privacy.selectors import consent_valid
from edureg.registry.models import Guardian
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.django_db

PHOTOS = "anh_truyen_thong"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _messages(response: object) -> list[str]:
    return [str(m) for m in response.context["messages"]]  # type: ignore[attr-defined]


@pytest.fixture
def mother(cast: Cast) -> Guardian:
    today = timezone.localdate()
    cast.an.date_of_birth = dt.date(today.year - 9, 1, 1)
    cast.an.save(update_fields=["date_of_birth"])
    for user in (cast.alice, cast.bob):
        policy_acknowledge(actor=user, version=policy_in_force().version)
    return f.make_guardian(cast.an, "Trần Thị Mai", relation="02")


def _post(mother: Guardian, **changes: str) -> dict[str, str]:
    return {"purpose": PHOTOS, "notice_version": "TB-ANH-2026.1", "guardian": str(mother.pk),
            "subject_agreed": "on", "channel": "phieu_giay",
            "evidence_reference": "Phiếu đồng ý số 12", "given_on": "", **changes}


def test_the_card_lists_purposes_and_nothing_is_pre_ticked(cast: Cast, mother: Guardian) -> None:
    page = _client(cast.bob).get(reverse("web:student", args=[cast.an.pk]))
    body = page.content.decode()
    assert 'id="dong-y"' in body
    assert "Đồng ý xử lý dữ liệu" in body
    assert "Quản lý giáo dục theo quy định" in body
    assert "Theo quy định pháp luật" in body
    assert "cần sự đồng ý của cả học sinh và cha mẹ/người giám hộ" in body
    form = next(item["give"] for item in page.context["consent"]["rows"]
                if item["row"].purpose.code == PHOTOS)
    assert not form["subject_agreed"].value()
    assert form["guardian"].value() is None
    assert not form["channel"].value()
    assert 'checked' not in str(form["subject_agreed"])


def test_recording_without_the_child_is_refused_naming_the_child(cast: Cast,
                                                                 mother: Guardian) -> None:
    client = _client(cast.bob)
    response = client.post(reverse("web:consent_give", args=[cast.an.pk]),
                           _post(mother, subject_agreed=""))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Thiếu sự đồng ý của chính học sinh" in body
    assert "9 tuổi" in body
    assert "Chưa ghi nhận được" in body
    assert not Consent.objects.exists()


def test_recording_and_withdrawing_from_the_pupil_page(cast: Cast, mother: Guardian) -> None:
    client = _client(cast.bob)
    response = client.post(reverse("web:consent_give", args=[cast.an.pk]), _post(mother),
                           follow=True)
    assert response.redirect_chain[-1][0].endswith("#dong-y")
    assert any("Đã ghi nhận sự đồng ý" in m for m in _messages(response))
    assert consent_valid(subject_entity="student", subject_id=cast.an.pk, purpose=PHOTOS)
    body = response.content.decode()
    assert "Trần Thị Mai" in body
    assert "chính học sinh" in body
    assert "Đã đồng ý" in body
    assert AuditEvent.objects.filter(action="consent.read",
                                     data__contains=str(Consent.objects.get().pk)).exists()

    url = reverse("web:consent_withdraw", args=[cast.an.pk, PHOTOS])
    refused = client.post(url, {"withdrawn_by": "", "withdrawal_channel": "phieu_giay",
                                "withdrawal_evidence": "Đơn ngày 10/10"})
    assert "Hãy chọn người rút lại" in refused.content.decode()
    assert ConsentState.objects.get().status == ConsentStatus.GIVEN

    done = client.post(url, {"withdrawn_by": str(mother.pk), "withdrawal_channel": "phieu_giay",
                             "withdrawal_evidence": "Đơn ngày 10/10"}, follow=True)
    assert any("rút lại sự đồng ý" in m for m in _messages(done))
    assert ConsentState.objects.get().status == ConsentStatus.WITHDRAWN
    assert not consent_valid(subject_entity="student", subject_id=cast.an.pk, purpose=PHOTOS)
    assert "Đã rút lại" in done.content.decode()


def test_nurse_sees_consents_but_has_no_forms(cast: Cast, mother: Guardian) -> None:
    nurse = f.make_user("nga", Role.SCHOOL_NURSE, cast.school_a)
    page = _client(nurse).get(reverse("web:student", args=[cast.an.pk]))
    assert page.context["consent"] is not None
    assert not page.context["consent"]["may_record"]
    assert all(item["give"] is None for item in page.context["consent"]["rows"])
    assert reverse("web:consent_give", args=[cast.an.pk]) not in page.content.decode()


def test_without_acknowledgement_the_forms_point_to_the_policy(cast: Cast) -> None:
    clerk = f.make_user("cuc", Role.RECORDS_CLERK, cast.school_a)
    guardian = f.make_guardian(cast.an, "Trần Thị Mai")
    client = _client(clerk)
    page = client.get(reverse("web:student", args=[cast.an.pk]))
    assert all(item["give"] is None for item in page.context["consent"]["rows"])
    assert reverse("web:privacy_policy") in page.content.decode()
    posted = client.post(reverse("web:consent_give", args=[cast.an.pk]), _post(guardian))
    assert posted.status_code == 302
    assert posted["Location"].startswith(reverse("web:privacy_policy"))
    assert not Consent.objects.exists()

    policy_url = reverse("web:privacy_policy")
    unticked = client.post(policy_url, {"version": policy_in_force().version})
    assert "Hãy đánh dấu ô xác nhận đã đọc quy chế" in unticked.content.decode()
    back = reverse("web:student", args=[cast.an.pk])
    done = client.post(policy_url, {"version": policy_in_force().version, "read": "on",
                                    "next": back})
    assert done["Location"] == back
    assert PolicyAcknowledgement.objects.filter(user=clerk).exists()
    assert AuditEvent.objects.filter(action="policy.acknowledged", actor_id=clerk.pk).exists()


def test_principal_sees_who_has_not_acknowledged(cast: Cast) -> None:
    PolicyAcknowledgement.objects.all().delete()
    policy_acknowledge(actor=cast.bob, version=policy_in_force().version)
    page = _client(cast.alice).get(reverse("web:privacy_acknowledgements",
                                           args=[cast.school_a.pk]))
    overview = page.context["overview"]
    assert {row.name for row in overview.pending} == {"Alice", "Carol"}
    assert [row.name for row in overview.done] == ["Bob"]
    assert "Dave" not in page.content.decode(), "another school's staff are not listed"
