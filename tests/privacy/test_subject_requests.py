"""Data-subject requests: working days and holidays as data, the deadlines per kind, recording,
acknowledging, assigning, answering, refusing and closing (audited), scope and bad input, the
overdue list and the pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from edureg.access.models import User
from edureg.access.roles import Role
from edureg.audit.models import AuditEvent
from edureg.privacy.datafiles import document
from edureg.privacy.deadlines import deadlines_in_force
from edureg.privacy.models import SubjectRequest, SubjectRequestStatus
from edureg.privacy.subject_requests import (
    SubjectRequestData,
    deletion_explanation,
    request_clock,
    subject_request_acknowledge,
    subject_request_answer,
    subject_request_assign,
    subject_request_close,
    subject_request_record,
    subject_request_refuse,
    subject_request_register,
)
from edureg.privacy.workdays import add_working_days, holidays, is_working_day
from tests import factories as f
from tests.conftest import Cast

D = dt.date
HOLIDAYS_2026 = holidays()


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _data(cast: Cast, **changes: object) -> SubjectRequestData:
    values: dict[str, object] = {
        "kind": "access", "student_code": cast.an.education_id, "received_at": None,
        "channel": "don_giay", "requester_relation": "guardian",
        "details": "Xin bản sao hồ sơ của con."}
    values.update(changes)
    return SubjectRequestData(**values)  # type: ignore[arg-type]


# --- Working days ----------------------------------------------------------------------------

def test_holidays_are_data() -> None:
    for day in (D(2026, 1, 1), D(2026, 2, 17), D(2026, 4, 26), D(2026, 4, 30), D(2026, 5, 1),
                D(2026, 9, 2)):
        assert day in HOLIDAYS_2026
    _file, data = document("holidays", "2026.1")
    assert "check the Government's announcement each year" in str(data["source"])


def test_add_working_days_skips_weekends_and_tet() -> None:
    assert add_working_days(D(2026, 3, 2), 2, frozenset()) == D(2026, 3, 4)  # Mon → Wed
    assert add_working_days(D(2026, 3, 6), 1, frozenset()) == D(2026, 3, 9)  # Fri → Mon
    assert add_working_days(D(2026, 3, 7), 0, frozenset()) == D(2026, 3, 7)
    # Friday before Tết: 16–20 Feb are holidays, then a weekend.
    assert add_working_days(D(2026, 2, 13), 2, HOLIDAYS_2026) == D(2026, 2, 24)
    # 30/4 (Thu) and 1/5 (Fri) are holidays.
    assert add_working_days(D(2026, 4, 29), 1, HOLIDAYS_2026) == D(2026, 5, 4)
    with pytest.raises(ValueError, match="negative"):
        add_working_days(D(2026, 3, 2), -1, frozenset())


@given(start=st.dates(min_value=D(2025, 1, 1), max_value=D(2027, 12, 31)),
       days=st.integers(min_value=1, max_value=60),
       extra=st.frozensets(st.dates(min_value=D(2025, 1, 1), max_value=D(2028, 6, 30)),
                           max_size=20))
def test_add_working_days_property(start: dt.date, days: int, extra: frozenset[dt.date]) -> None:
    days_off = HOLIDAYS_2026 | extra
    result = add_working_days(start, days, days_off)
    assert result > start
    assert is_working_day(result, days_off)
    between = [start + dt.timedelta(days=n) for n in range(1, (result - start).days + 1)]
    assert sum(is_working_day(day, days_off) for day in between) == days


# --- Deadlines -------------------------------------------------------------------------------

def test_the_request_deadlines_are_data_in_a_new_version() -> None:
    _file, released = document("deadlines", "2026.1")
    assert "subject_request_deadlines" not in released, "2026.1 is released: not edited"
    shipped = deadlines_in_force()
    assert shipped.version == "2026.2"
    assert shipped.breach_notification_hours == 72
    rules = shipped.subject_requests
    assert rules is not None
    assert rules.acknowledge_working_days == 2
    assert {k: (p.days, p.working_days) for k, p in rules.respond.items()} == {
        "access": (10, True), "correction": (10, True), "deletion": (20, True),
        "restriction": (15, False), "objection": (15, False),
        "consent_withdrawal": (15, False)}


def test_clock_per_kind() -> None:
    rules = deadlines_in_force().subject_requests
    assert rules is not None
    received = D(2026, 4, 20)  # a Monday; 26–27/4, 30/4 and 1/5 are days off
    access = request_clock(kind="access", received_on=received, rules=rules,
                           days_off=HOLIDAYS_2026)
    assert access.acknowledge_by == D(2026, 4, 22)
    assert access.respond_by == D(2026, 5, 7)
    objection = request_clock(kind="objection", received_on=received, rules=rules,
                              days_off=HOLIDAYS_2026)
    assert objection.respond_by == D(2026, 5, 5)  # calendar days


# --- Services --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_lifecycle_is_audited(cast: Cast) -> None:
    clerk = f.make_user("clerk", Role.RECORDS_CLERK, cast.school_a)
    request = subject_request_record(actor=cast.alice, school=cast.school_a, data=_data(cast))
    assert (request.subject_id, request.status) == (cast.an.pk, SubjectRequestStatus.RECEIVED)
    subject_request_acknowledge(actor=cast.alice, school_id=cast.school_a.pk,
                                request_id=request.pk)
    subject_request_assign(actor=cast.alice, school_id=cast.school_a.pk, request_id=request.pk,
                           assignee_id=clerk.pk)
    request.refresh_from_db()
    assert (request.status, request.assigned_to_id) == (SubjectRequestStatus.IN_PROGRESS,
                                                         clerk.pk)
    subject_request_answer(actor=clerk, school_id=cast.school_a.pk, request_id=request.pk,
                           response="Đã gửi bản sao hồ sơ ngày 05/10.")
    subject_request_close(actor=cast.erin, school_id=cast.school_a.pk, request_id=request.pk)
    request.refresh_from_db()
    assert request.status == SubjectRequestStatus.CLOSED
    assert None not in (request.acknowledged_at, request.answered_at, request.closed_at)
    assert list(AuditEvent.objects.filter(entity="subject_request").order_by("seq")
                .values_list("action", flat=True)) == [
        "subject_request.recorded", "subject_request.acknowledged", "subject_request.assigned",
        "subject_request.answered", "subject_request.closed"]
    with pytest.raises(ValidationError):
        subject_request_answer(actor=cast.alice, school_id=cast.school_a.pk,
                               request_id=request.pk, response="Lần nữa")


@pytest.mark.django_db
def test_refuse_needs_a_reason(cast: Cast) -> None:
    request = subject_request_record(actor=cast.alice, school=cast.school_a,
                                     data=_data(cast, kind="deletion"))
    with pytest.raises(ValidationError) as error:
        subject_request_refuse(actor=cast.alice, school_id=cast.school_a.pk,
                               request_id=request.pk, reason="  ")
    assert "lý do từ chối" in error.value.message_dict["response"][0]
    subject_request_refuse(actor=cast.alice, school_id=cast.school_a.pk, request_id=request.pk,
                           reason="Hồ sơ học sinh phải lưu theo quy định.")
    request.refresh_from_db()
    assert request.status == SubjectRequestStatus.REFUSED


@pytest.mark.django_db
def test_bad_input_names_the_field(cast: Cast) -> None:
    with pytest.raises(ValidationError) as error:
        subject_request_record(actor=cast.alice, school=cast.school_a, data=_data(
            cast, kind="xoa_het", channel="fax", requester_relation="", student_code="",
            received_at=timezone.now() + dt.timedelta(hours=2)))
    errors = error.value.message_dict
    assert set(errors) == {"kind", "channel", "requester_relation", "student_code",
                           "received_at"}
    assert "mã học sinh" in errors["student_code"][0]
    with pytest.raises(ValidationError) as error:
        subject_request_record(actor=cast.alice, school=cast.school_a, data=_data(
            cast, student_code=cast.other_school_student.education_id))
    assert "Mã học sinh" in error.value.message_dict["student_code"][0]
    request = subject_request_record(actor=cast.alice, school=cast.school_a, data=_data(cast))
    with pytest.raises(ValidationError) as error:
        subject_request_assign(actor=cast.alice, school_id=cast.school_a.pk,
                               request_id=request.pk, assignee_id=cast.carol.pk)
    assert "Người xử lý" in error.value.message_dict["assigned_to"][0]
    assert not SubjectRequest.objects.exclude(pk=request.pk).exists()


@pytest.mark.django_db
def test_scope_and_permission(cast: Cast) -> None:
    request = subject_request_record(actor=cast.alice, school=cast.school_a, data=_data(cast))
    with pytest.raises(Http404):
        subject_request_record(actor=cast.dave, school=cast.school_a, data=_data(cast))
    with pytest.raises(Http404):
        subject_request_acknowledge(actor=cast.dave, school_id=cast.school_a.pk,
                                    request_id=request.pk)
    with pytest.raises(Http404):
        subject_request_acknowledge(actor=cast.dave, school_id=cast.school_b.pk,
                                    request_id=request.pk)
    with pytest.raises(PermissionDenied):
        subject_request_acknowledge(actor=cast.bob, school_id=cast.school_a.pk,
                                    request_id=request.pk)
    with pytest.raises(PermissionDenied):
        subject_request_register(actor=cast.carol, school_id=cast.school_a.pk)
    subject_request_acknowledge(actor=cast.erin, school_id=cast.school_a.pk,
                                request_id=request.pk)


@pytest.mark.django_db
def test_overdue_requests_come_first(cast: Cast) -> None:
    old = subject_request_record(actor=cast.alice, school=cast.school_a, data=_data(
        cast, received_at=timezone.now() - dt.timedelta(days=40)))
    fresh = subject_request_record(actor=cast.alice, school=cast.school_a, data=_data(cast))
    register = subject_request_register(actor=cast.alice, school_id=cast.school_a.pk)
    assert [row.request.pk for row in register.rows] == [old.pk, fresh.pk]
    assert [row.request.pk for row in register.overdue] == [old.pk]
    row = register.rows[0]
    assert row.acknowledge_overdue
    assert row.respond_overdue
    subject_request_answer(actor=cast.alice, school_id=cast.school_a.pk, request_id=old.pk,
                           response="Đã gửi.")
    register = subject_request_register(actor=cast.alice, school_id=cast.school_a.pk)
    assert register.overdue == []
    assert next(r for r in register.rows if r.request.pk == old.pk).answered_late
    assert any(e.data.get("view") == "subject_requests"
               for e in AuditEvent.objects.filter(action="student.read"))


def test_deletion_explains_what_is_kept() -> None:
    explanation = deletion_explanation()
    assert [p.code for p in explanation.kept] == ["quan_ly_giao_duc"]
    assert "anh_truyen_thong" in [p.code for p in explanation.deletable]


# --- Pages -----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_pages(cast: Cast) -> None:
    client = _client(cast.alice)
    school_page = client.get(reverse("web:school", args=[cast.school_a.pk])).content.decode()
    url = reverse("web:privacy_subject_requests", args=[cast.school_a.pk])
    assert url in school_page
    assert url not in _client(cast.bob).get(
        reverse("web:school", args=[cast.school_a.pk])).content.decode()
    response = client.post(url, {"kind": "deletion", "student_code": cast.an.education_id,
                                 "requester_relation": "guardian", "channel": "don_giay",
                                 "received_at": "", "details": "Xoá toàn bộ dữ liệu"})
    assert response.status_code == 302
    request = SubjectRequest.objects.get()
    detail = client.get(response["Location"]).content.decode()
    assert "Những gì không thể xoá và vì sao" in detail
    assert "Quản lý giáo dục theo quy định" in detail
    listing = client.get(url).content.decode()
    assert cast.an.full_name in listing
    action = reverse("web:privacy_subject_request_action",
                     args=[cast.school_a.pk, request.pk, "tu-choi"])
    response = client.post(action, {"response": ""})
    assert response.status_code == 200
    assert "Lý do từ chối" in response.content.decode()
    response = client.post(action, {"response": "Hồ sơ lưu theo quy định."})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == SubjectRequestStatus.REFUSED
    bad = client.post(url, {"kind": "", "student_code": "", "requester_relation": "",
                            "channel": "", "received_at": ""})
    assert bad.status_code == 200
    assert "Hãy chọn loại yêu cầu" in bad.content.decode()
    missing = reverse("web:privacy_subject_request_action",
                      args=[cast.school_a.pk, request.pk, "khong-co"])
    assert client.post(missing).status_code == 404
