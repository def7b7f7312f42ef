"""The change feed of change-feed agreements: real tokens from /o/token/, real requests, pages
read from the audit log up to the chain head, and every page disclosed audited for the
parents' portal."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken

from edureg.access.roles import Role
from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.privacy.portal import access_history
from edureg.privacy.services import (
    ConsentGiven,
    ConsentWithdrawal,
    consent_give,
    consent_withdraw,
)
from edureg.registry.merge import student_merge
from edureg.registry.models import Student
from edureg.registry.services import student_update
from edureg.sharing import feed
from edureg.sharing.models import SharingAgreement
from edureg.sharing.services import IssuedClient, agreement_revoke
from tests import factories as f
from tests.conftest import Cast
from tests.sharing.conftest import ID_NUMBER, PHONE, issue, lookup, token_for

pytestmark = pytest.mark.django_db

CHANGES_URL = "/api/v1/sharing/changes"
FEED_BASIS = "Quyết định 12/QĐ-UBND về liên thông dữ liệu học sinh với Bảo hiểm xã hội"
BORN = dt.date(2019, 3, 14)
VACCINATION = "chia_se_tram_y_te"


def _feed(cast: Cast, **changes: Any) -> IssuedClient:
    values: dict[str, Any] = {"kind": "change_feed", "change_feed_legal_basis": FEED_BASIS,
                              "allowed_lookups": ()}
    return issue(cast, **(values | changes))


def _changes(token: str, **params: str) -> Any:
    return Client().get(CHANGES_URL, params, HTTP_AUTHORIZATION=f"Bearer {token}")


def _page(token: str, **params: str) -> dict[str, Any]:
    response = _changes(token, **params)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _edit(student: Student, actor: Any, **values: object) -> int:
    """Change the record as staff do; returns the seq of the change's audit event."""
    with transaction.atomic():
        student_update(actor=actor, student=Student.objects.get(pk=student.pk), data=values)
    return AuditEvent.objects.filter(action="student.update", entity_id=str(student.pk)
                                     ).order_by("-seq").values_list("seq", flat=True)[0]


def _disclosures() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=actions.SHARING_DISCLOSED).order_by("seq"))


def _refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=actions.SHARING_REFUSED).order_by("seq"))


def _names(body: dict[str, Any]) -> list[str]:
    return [item["record"]["full_name"] for item in body["changes"]]


@pytest.fixture
def pupils(cast: Cast) -> Cast:
    Student.objects.filter(pk__in=[cast.an.pk, cast.binh.pk, cast.other_school_student.pk]
                           ).update(date_of_birth=BORN)
    Student.objects.filter(pk=cast.an.pk).update(personal_id_number=ID_NUMBER, phone=PHONE)
    for name in ("an", "binh", "other_school_student"):
        getattr(cast, name).refresh_from_db()
    return cast


def _consent(cast: Cast, student: Student) -> None:
    mother = f.make_guardian(student, "Trần Thị Mẹ", relation="02")
    consent_give(actor=cast.alice, student=student, data=ConsentGiven(
        purpose=VACCINATION, notice_version="TB-TYT-2026.1", guardian=mother,
        subject_agreed=True, channel="phieu_giay", evidence_reference="Phiếu số 7"))


# --- What a page carries -----------------------------------------------------------------------

def test_changes_come_in_seq_order_with_only_the_agreement_fields(pupils: Cast) -> None:
    issued = _feed(pupils)
    token = token_for(issued)
    first = _edit(pupils.binh, pupils.alice, full_name="Trần Thị Bính")
    second = _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    body = _page(token)
    assert body["agreement"] == "01/2026/TTCS-SGDĐT"
    assert body["purpose"] == "quan_ly_giao_duc"
    assert body["changes"] == [
        {"seq": first, "action": "student.update", "education_id": pupils.binh.education_id,
         "merged_into": None,
         "record": {"full_name": "Trần Thị Bính", "date_of_birth": "2019-03-14"}},
        {"seq": second, "action": "student.update", "education_id": pupils.an.education_id,
         "merged_into": None,
         "record": {"full_name": "Nguyễn Văn Ân", "date_of_birth": "2019-03-14"}}]
    assert body["after"] == 0
    assert body["more"] is False
    assert body["next"] >= second
    text = json.dumps(body, ensure_ascii=False)
    assert ID_NUMBER not in text
    assert PHONE not in text


def test_changes_of_one_pupil_collapse_to_the_newest_within_a_page(pupils: Cast) -> None:
    token = token_for(_feed(pupils))
    for name in ("Nguyễn Văn Ân", "Nguyễn Văn Ấn", "Nguyễn Văn Án"):
        last = _edit(pupils.an, pupils.alice, full_name=name)
    _edit(pupils.binh, pupils.alice, full_name="Trần Thị Bính")
    body = _page(token)
    assert _names(body) == ["Nguyễn Văn Án", "Trần Thị Bính"]
    assert body["changes"][0]["seq"] == last


def test_changes_before_the_agreement_was_recorded_are_not_sent(pupils: Cast) -> None:
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    issued = _feed(pupils)
    token = token_for(issued)
    assert _page(token)["changes"] == []
    assert _page(token, after="0")["changes"] == []
    _edit(pupils.binh, pupils.alice, full_name="Trần Thị Bính")
    assert _names(_page(token, after="0")) == ["Trần Thị Bính"]


def test_merged_record_names_the_record_kept(pupils: Cast) -> None:
    token = token_for(_feed(pupils))
    student_merge(actor=pupils.alice, kept=pupils.an, merged=pupils.binh,
                  reason="Cùng một học sinh, nhập hai lần")
    items = {item["education_id"]: item for item in _page(token)["changes"]}
    assert items[pupils.binh.education_id]["action"] == "student.merged"
    assert items[pupils.binh.education_id]["merged_into"] == pupils.an.education_id
    assert items[pupils.an.education_id]["merged_into"] is None


def test_pupils_of_other_authorities_and_pupils_who_left_are_not_sent(pupils: Cast) -> None:
    token = token_for(_feed(pupils))
    elsewhere = f.make_authority(code="SGD01")
    far_school = f.make_school(elsewhere, code="C0001")
    stranger = f.make_student(f.make_class(far_school), "Đỗ Thị Xa")
    far_principal = f.make_user("phuong", Role.PRINCIPAL, far_school)
    _edit(stranger, far_principal, full_name="Đỗ Thị Xá")
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    _edit(pupils.other_school_student, pupils.dave, full_name="Lê Văn Cưởng")
    # Binh's change is recorded here, then the record is at a school of another authority.
    _edit(pupils.binh, pupils.alice, full_name="Trần Thị Bính")
    Student.objects.filter(pk=pupils.binh.pk).update(school=far_school)
    body = _page(token)
    assert _names(body) == ["Nguyễn Văn Ân", "Lê Văn Cưởng"]  # both schools of the authority
    assert "Xá" not in json.dumps(body, ensure_ascii=False)
    [event] = _disclosures()
    assert set(event.data["ids"]) == {str(pupils.an.pk), str(pupils.other_school_student.pk)}
    assert event.school_id is None  # two schools in one page


def test_pupils_without_an_official_education_id_wait_for_it(pupils: Cast) -> None:
    token = token_for(_feed(pupils))
    Student.objects.filter(pk=pupils.an.pk).update(education_id=None, temporary_code="T1")
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    assert _page(token)["changes"] == []


# --- Consent -----------------------------------------------------------------------------------

def test_pupils_without_consent_or_who_withdrew_it_are_left_out(pupils: Cast) -> None:
    issued = _feed(pupils, purpose=VACCINATION, agency_code="TYT-26734",
                   agency_name="Trạm Y tế phường Bến Thành")
    token = token_for(issued)
    _consent(pupils, pupils.an)
    _consent(pupils, pupils.binh)
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    _edit(pupils.binh, pupils.alice, full_name="Trần Thị Bính")
    _edit(pupils.other_school_student, pupils.dave, full_name="Lê Văn Cưởng")  # no consent
    consent_withdraw(actor=pupils.alice, student=pupils.binh, data=ConsentWithdrawal(
        purpose=VACCINATION, withdrawn_by_guardian=None, withdrawn_by_subject=True,
        channel="phieu_giay", evidence_reference="Đơn rút lại ngày 10/10"))
    body = _page(token)
    assert _names(body) == ["Nguyễn Văn Ân"]
    [event] = _disclosures()
    assert event.data["ids"] == [str(pupils.an.pk)]


# --- Paging ------------------------------------------------------------------------------------

def test_paging_never_skips_nor_repeats_a_change_even_one_committed_between_pages(
        pupils: Cast) -> None:
    token = token_for(_feed(pupils))
    made = [_edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân"),
            _edit(pupils.binh, pupils.alice, full_name="Trần Thị Bính"),
            _edit(pupils.other_school_student, pupils.dave, full_name="Lê Văn Cưởng")]
    first = _page(token, limit="2")
    assert [i["seq"] for i in first["changes"]] == made[:2]
    assert first["more"] is True
    assert first["next"] == made[1]
    made.append(_edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ấn"))  # between pages
    second = _page(token, after=str(first["next"]), limit="2")
    assert [i["seq"] for i in second["changes"]] == made[2:]
    assert _names(second) == ["Lê Văn Cưởng", "Nguyễn Văn Ấn"]
    third = _page(token, after=str(second["next"]), limit="2")
    assert third["changes"] == []
    assert third["more"] is False
    assert third["next"] >= second["next"]
    seen = [i["seq"] for page in (first, second) for i in page["changes"]]
    assert seen == sorted(set(seen)) == made
    # Asking again from an older cursor gives the same changes again (the agency's choice).
    assert [i["seq"] for i in _page(token, after=str(first["next"]))["changes"]] == made[2:]


def test_changes_beyond_the_chain_head_wait_for_it(
        pupils: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    """The head as a reader sees it while a change's transaction is still open (its event
    written, the head not yet committed): the page stops before that change."""
    token = token_for(_feed(pupils))
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    pending = _edit(pupils.binh, pupils.alice, full_name="Trần Thị Bính")
    monkeypatch.setattr(feed, "_chain_head", lambda: pending - 1)
    early = _page(token)
    assert _names(early) == ["Nguyễn Văn Ân"]
    assert early["next"] == pending - 1
    assert early["more"] is False
    monkeypatch.undo()
    assert _names(_page(token, after=str(early["next"]))) == ["Trần Thị Bính"]


def test_default_limit_and_the_largest_page(pupils: Cast) -> None:
    token = token_for(_feed(pupils))
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    assert len(_page(token, limit="500")["changes"]) == 1
    assert len(_page(token)["changes"]) == 1


def test_a_page_stops_at_the_scan_window_and_says_more_is_waiting(
        pupils: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    token = token_for(_feed(pupils))
    start = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True)[0]
    elsewhere = f.make_school(f.make_authority(code="SGD01"), code="C0001")
    stranger = f.make_student(f.make_class(elsewhere), "Đỗ Thị Xa")
    far_principal = f.make_user("phuong", Role.PRINCIPAL, elsewhere)
    for name in ("Đỗ Thị Xá", "Đỗ Thị Xả", "Đỗ Thị Xã"):
        _edit(stranger, far_principal, full_name=name)
    last = _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    monkeypatch.setattr(feed, "SCAN_WINDOW", 2)
    cursor, names = str(start), []
    for _ in range(50):
        body = _page(token, after=cursor)
        names += _names(body)
        assert int(body["next"]) <= int(cursor) + 2
        cursor = str(body["next"])
        if not body["more"]:
            break
    assert names == ["Nguyễn Văn Ân"]
    assert int(cursor) >= last


# --- Audit and the parents' portal -------------------------------------------------------------

def test_each_page_is_one_disclosure_event_shown_in_the_parents_history(pupils: Cast) -> None:
    issued = _feed(pupils)
    token = token_for(issued)
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    _edit(pupils.binh, pupils.alice, full_name="Trần Thị Bính")
    body = _page(token)
    [event] = _disclosures()
    assert event.actor_id is None
    assert event.actor_label == "agency:BHXH-79"
    assert event.school_id == pupils.school_a.pk
    assert event.data == {
        "ids": [str(pupils.an.pk), str(pupils.binh.pk)], "agreement": issued.agreement.pk,
        "agency": "Bảo hiểm xã hội Thành phố", "fields": ["full_name", "date_of_birth"],
        "purpose": "quan_ly_giao_duc", "legal_basis": "Luật Bảo hiểm y tế; Điều 11 Luật Dữ liệu",
        "feed_legal_basis": FEED_BASIS, "feed": {"after": 0, "next": body["next"]}}
    for student in (pupils.an, pupils.binh):
        [row] = [r for r in access_history(student) if "Bảo hiểm xã hội" in r.who]
        assert row.what == (
            "Được cung cấp: Họ và tên (theo giấy khai sinh), Ngày sinh; "
            "mục đích: Quản lý giáo dục theo quy định; "
            f"căn cứ: Luật Bảo hiểm y tế; Điều 11 Luật Dữ liệu; {FEED_BASIS}")
    agreement = SharingAgreement.objects.get(pk=issued.agreement.pk)
    assert agreement.feed_cursor == body["next"]
    assert agreement.feed_disclosed_at is not None


def test_an_empty_page_discloses_nothing_and_leaves_no_disclosure(pupils: Cast) -> None:
    token = token_for(_feed(pupils))
    assert _page(token)["changes"] == []
    assert _disclosures() == []


# --- Refusals ----------------------------------------------------------------------------------

def test_lookup_agreement_may_not_read_the_feed(pupils: Cast) -> None:
    issued = issue(pupils)
    token = token_for(issued)
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    response = _changes(token)
    assert response.status_code == 403
    assert response.json()["reason"] == "not_change_feed"
    assert "chỉ cho phép tra cứu từng hồ sơ" in response.json()["detail"]
    assert "Nguyễn" not in response.content.decode()
    [refusal] = _refusals()
    assert (refusal.data["reason"], refusal.data["agreement"]) == (
        "not_change_feed", issued.agreement.pk)
    assert _disclosures() == []


def test_change_feed_without_its_own_legal_basis_is_refused(pupils: Cast) -> None:
    issued = _feed(pupils)
    SharingAgreement.objects.filter(pk=issued.agreement.pk).update(change_feed_legal_basis=" ")
    token = token_for(issued)
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    response = _changes(token)
    assert response.status_code == 403
    assert response.json()["reason"] == "feed_without_legal_basis"
    assert "căn cứ pháp lý riêng" in response.json()["detail"]
    assert _refusals()[-1].data["reason"] == "feed_without_legal_basis"
    assert _disclosures() == []


def test_change_feed_does_single_lookups_only_as_listed(pupils: Cast) -> None:
    code = str(pupils.an.education_id)
    without = token_for(_feed(pupils))
    assert lookup(without, education_id=code).json()["reason"] == "lookup_not_allowed"
    with_lookups = token_for(_feed(pupils, reference="02/2026/TTCS",
                                   allowed_lookups=("education_id",)))
    response = lookup(with_lookups, education_id=code)
    assert response.status_code == 200
    assert response.json()["record"]["full_name"] == "Nguyễn Văn An"


def test_revoked_or_expired_agreement_and_stale_or_forged_tokens_are_refused(
        pupils: Cast) -> None:
    revoked, expired, stale = (_feed(pupils, reference=f"0{n}/2026/TTCS") for n in (1, 2, 3))
    tokens = {name: token_for(issued) for name, issued in
              (("revoked", revoked), ("expired", expired), ("stale", stale))}
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    agreement_revoke(actor=pupils.erin, authority_id=pupils.school_a.authority_id,
                     agreement_id=revoked.agreement.pk, reason="Hết nhu cầu")
    SharingAgreement.objects.filter(pk=expired.agreement.pk).update(
        expires_on=timezone.localdate() - dt.timedelta(days=1))
    AccessToken.objects.filter(application__client_id=stale.client_id).update(
        expires=timezone.now() - dt.timedelta(seconds=1))
    answers = {name: _changes(token) for name, token in tokens.items()}
    answers["forged"] = _changes("gia-mao-0123456789")
    assert {name: (r.status_code, r.json()["reason"]) for name, r in answers.items()} == {
        "revoked": (403, "revoked"), "expired": (403, "expired"),
        "stale": (401, "token_expired"), "forged": (401, "invalid_token")}
    for response in answers.values():
        assert "Nguyễn" not in response.content.decode()
    assert sorted(e.data["reason"] for e in _refusals()) == [
        "expired", "invalid_token", "revoked", "token_expired"]
    assert _disclosures() == []


def test_staff_session_does_not_open_the_feed(pupils: Cast) -> None:
    _feed(pupils)
    client = Client()
    client.force_login(pupils.erin)
    assert client.get(CHANGES_URL).status_code == 401


def test_over_the_rate_limit_answers_429(pupils: Cast) -> None:
    token = token_for(_feed(pupils, rate_limit_per_minute=2))
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    assert [_changes(token).status_code for _ in range(3)] == [200, 200, 429]
    assert _refusals()[-1].data["reason"] == "rate_limited"
    assert len(_disclosures()) == 2


@pytest.mark.parametrize(("query", "parameter"), [
    ("after=abc", "after"), ("after=-1", "after"), ("after=1.5", "after"),
    ("after=%EF%BC%91", "after"),  # a full-width digit
    ("after=" + "9" * 30, "after"), ("after=999999999999", "after"),
    ("after=1&after=2", "after"), ("after=", "after"),
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=ten", "limit"),
    ("fields=personal_id_number", "fields"), ("education_id=7900000001", "education_id"),
])
def test_bad_parameters_answer_400_naming_the_parameter(
        pupils: Cast, query: str, parameter: str) -> None:
    token = token_for(_feed(pupils))
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    response = Client().get(f"{CHANGES_URL}?{query}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 400
    body = response.json()
    assert body["reason"] == "bad_request"
    assert parameter in body["detail"]
    assert "Tham số" in body["detail"]
    assert "Nguyễn" not in response.content.decode()
    [refusal] = _refusals()
    assert refusal.data["parameter"] == parameter
    value = query.split("=", 1)[1]
    if value and len(value) > 2:
        assert value not in json.dumps(refusal.data)
    assert _disclosures() == []


# --- The officer's screens ---------------------------------------------------------------------

def _form(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "agency_code": "BHXH-79", "agency_name": "Bảo hiểm xã hội Thành phố",
        "reference": "07/2026/TTCS", "legal_basis": "Luật Bảo hiểm y tế",
        "purpose": "quan_ly_giao_duc", "allowed_fields": ["full_name"],
        "kind": "change_feed", "change_feed_legal_basis": FEED_BASIS,
        "valid_from": "01/01/2026", "expires_on": "31/12/2099", "rate_limit_per_minute": "10"}
    data.update(changes)
    return data


def test_officer_creates_a_change_feed_only_with_its_own_legal_basis(pupils: Cast) -> None:
    client = Client()
    client.force_login(pupils.erin)
    authority_id = pupils.school_a.authority_id
    url = reverse("web:sharing_agreement_create", args=[authority_id])
    refused = client.post(url, _form(change_feed_legal_basis=""))
    assert refused.context["form"].errors["change_feed_legal_basis"] == [
        "Dòng thay đổi chuyển dữ liệu hàng loạt nên cần căn cứ pháp lý riêng: hãy ghi căn cứ "
        "đó."]
    assert not SharingAgreement.objects.exists()
    created = client.post(url, _form())  # no look-ups: a feed need not allow any
    assert created.status_code == 200
    issued = created.context["issued"]
    listing = reverse("web:sharing_agreements", args=[authority_id])
    body = client.get(listing).content.decode()
    assert "Nhận dòng thay đổi" in body
    assert FEED_BASIS in body
    assert "Chưa cung cấp trang nào." in body
    _edit(pupils.an, pupils.alice, full_name="Nguyễn Văn Ân")
    served = _page(token_for(issued))
    body = client.get(listing).content.decode()
    assert f"đến thay đổi số {served['next']}" in body
