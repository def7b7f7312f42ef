"""The parents' look-up portal, through its pages, with the codes delivered over real HTTP by
the message simulator (a process of its own) and read back from its outbox."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
from django.db import transaction
from django.db.models import Q
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.audit.services import audit_record
from edureg.privacy.models import (
    ConsentState,
    ConsentStatus,
    PortalCode,
    PortalLookup,
    SubjectRequest,
)
from edureg.privacy.policy import policy_acknowledge, policy_in_force
from edureg.privacy.portal import ACTOR_LABEL, CHANNEL, portal_codes_send
from edureg.privacy.purposes import purposes_in_force
from edureg.privacy.selectors import consent_valid
from edureg.privacy.services import ConsentGiven, consent_give
from edureg.registry.models import Guardian, Student
from tests import factories as f
from tests.conftest import Cast

BORN = dt.date(2019, 9, 5)
MOTHER_PHONE = "0912345678"
FATHER_PHONE = "0987654321"
PHOTOS = "anh_truyen_thong"


@pytest.fixture
def family(cast: Cast) -> tuple[Student, Guardian, Guardian]:
    Student.objects.filter(pk=cast.an.pk).update(date_of_birth=BORN)
    cast.an.refresh_from_db()
    mother = f.make_guardian(cast.an, "Trần Thị Mai", relation="02", phone=MOTHER_PHONE)
    father = f.make_guardian(cast.an, "Nguyễn Văn Nam", relation="01", phone="+84 987 654 321")
    return cast.an, mother, father


def _outbox(base: str, phone: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/_sim/outbox", params={"to": phone}, timeout=5)
    answer.raise_for_status()
    return list(answer.json())


def _code_in(message: dict[str, Any]) -> str:
    found = re.search(r"\b(\d{6})\b", message["text"])
    assert found is not None, "the message carries a six-digit code"
    return found.group(1)


def _without_token(response: Any) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())


def _look_up(client: Client, education_id: str, born: dt.date = BORN) -> Any:
    return client.post("/tra-cuu/", {"education_id": education_id,
                                     "date_of_birth": born.strftime("%d/%m/%Y")})


def _send_codes() -> int:
    """What the task worker does with the look-ups it was given."""
    sent = 0
    for task in DBTaskResult.objects.filter(task_path__endswith="portal_codes_send"):
        sent += portal_codes_send.call(*task.args_kwargs["args"])
    return sent


def _verified(client: Client, student: Student, base: str, phone: str = MOTHER_PHONE) -> None:
    assert _look_up(client, str(student.education_id)).status_code == 302
    _send_codes()
    code = _code_in(_outbox(base, phone)[0])
    answer = client.post("/tra-cuu/ma-xac-thuc/", {"code": code})
    assert answer.status_code == 302
    assert answer["Location"] == "/tra-cuu/ho-so/"


def test_a_parent_proves_who_they_are_and_sees_the_record(
        family: tuple[Student, Guardian, Guardian], message_simulator: str, cast: Cast) -> None:
    student, mother, _father = family
    staff = Client()
    staff.force_login(cast.bob)
    assert staff.get(f"/hoc-sinh/{student.pk}/").status_code == 200
    client = Client()
    _verified(client, student, message_simulator)
    assert len(_outbox(message_simulator, FATHER_PHONE)) == 1, "each guardian gets a code"
    page = client.get("/tra-cuu/ho-so/")
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0")
    html = page.content.decode()
    assert student.full_name in html
    assert "Trần Thị Mai" in html
    assert "Giáo viên chủ nhiệm" in html, "the homeroom teacher's read, by job position"
    assert "Bob" not in html, "names are not shown unless the policy says so"
    lookup = PortalLookup.objects.get()
    assert lookup.guardian_id == mother.pk
    read = AuditEvent.objects.filter(action="student.read", actor_label=ACTOR_LABEL).get()
    assert read.data["ids"] == [str(student.pk)]
    assert read.data["guardian_id"] == mother.pk


def test_the_history_names_staff_where_the_policy_says_so(
        family: tuple[Student, Guardian, Guardian], message_simulator: str, cast: Cast,
        settings: Any) -> None:
    settings.EDUREG_PORTAL_SHOW_NAMES = True
    student = family[0]
    staff = Client()
    staff.force_login(cast.bob)
    staff.get(f"/hoc-sinh/{student.pk}/")
    client = Client()
    _verified(client, student, message_simulator)
    assert "Giáo viên chủ nhiệm — bob" in client.get("/tra-cuu/ho-so/").content.decode()


def test_an_unknown_pupil_gets_the_same_answer_and_no_message(
        family: tuple[Student, Guardian, Guardian], message_simulator: str) -> None:
    student = family[0]
    known, unknown = Client(), Client()
    first = _look_up(known, str(student.education_id))
    second = _look_up(unknown, "7999999999")
    wrong_birth = _look_up(Client(), str(student.education_id), dt.date(2019, 9, 6))
    assert first.status_code == second.status_code == wrong_birth.status_code == 302
    assert first["Location"] == second["Location"] == wrong_birth["Location"]
    assert _without_token(known.get(first["Location"])) == \
        _without_token(unknown.get(second["Location"]))
    assert _send_codes() == 2, "only the real pupil's guardians get codes"
    assert PortalLookup.objects.filter(student__isnull=True).count() == 2
    refused = unknown.post("/tra-cuu/ma-xac-thuc/", {"code": "123456"})
    assert refused.status_code == 200
    assert "không đúng" in refused.content.decode()


def test_wrong_codes_are_counted_and_lock_the_identity(
        family: tuple[Student, Guardian, Guardian], message_simulator: str,
        settings: Any) -> None:
    settings.EDUREG_PORTAL_LOOKUPS_PER_IDENTITY = 10
    student = family[0]
    client = Client()
    _look_up(client, str(student.education_id))
    _send_codes()
    real = _code_in(_outbox(message_simulator, MOTHER_PHONE)[0])
    wrong = "000000" if real != "000000" else "111111"
    first = client.post("/tra-cuu/ma-xac-thuc/", {"code": wrong}).content.decode()
    assert "còn 2 lần thử" in first
    client.post("/tra-cuu/ma-xac-thuc/", {"code": wrong})
    client.post("/tra-cuu/ma-xac-thuc/", {"code": wrong})
    spent = client.post("/tra-cuu/ma-xac-thuc/", {"code": real}).content.decode()
    assert "hết hạn hoặc đã nhập sai quá số lần" in spent, "three tries per look-up"
    assert PortalLookup.objects.get().verified_at is None
    other = Client(REMOTE_ADDR="10.0.0.9")  # another address: the identity still counts
    _look_up(other, str(student.education_id))
    other.post("/tra-cuu/ma-xac-thuc/", {"code": wrong})
    locked = other.post("/tra-cuu/ma-xac-thuc/", {"code": wrong}).content.decode()
    assert "tạm khoá" in locked
    assert AuditEvent.objects.filter(action=actions.PORTAL_LOCKOUT).count() == 1
    again = _look_up(Client(), str(student.education_id)).content.decode()
    assert "tạm khoá" in again, "a locked identity cannot start a new look-up either"
    assert AuditEvent.objects.filter(action=actions.PORTAL_CODE_FAILED).count() == 5


def test_look_ups_of_one_identity_are_rate_limited(
        family: tuple[Student, Guardian, Guardian], message_simulator: str) -> None:
    student = family[0]
    for _n in range(3):
        assert _look_up(Client(), str(student.education_id)).status_code == 302
    refused = _look_up(Client(), str(student.education_id))
    assert refused.status_code == 200
    assert "quá nhiều lần" in refused.content.decode()
    assert PortalLookup.objects.count() == 3


def test_an_expired_code_is_refused(family: tuple[Student, Guardian, Guardian],
                                    message_simulator: str) -> None:
    student = family[0]
    client = Client()
    _look_up(client, str(student.education_id))
    _send_codes()
    code = _code_in(_outbox(message_simulator, MOTHER_PHONE)[0])
    PortalLookup.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    refused = client.post("/tra-cuu/ma-xac-thuc/", {"code": code}).content.decode()
    assert "hết hạn" in refused
    assert client.get("/tra-cuu/ho-so/").status_code == 302


def test_the_session_ends_on_time_and_on_request(
        family: tuple[Student, Guardian, Guardian], message_simulator: str) -> None:
    student = family[0]
    client = Client()
    _verified(client, student, message_simulator)
    PortalLookup.objects.update(session_ends_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get("/tra-cuu/ho-so/")["Location"] == "/tra-cuu/"
    second = Client()
    _verified(second, student, message_simulator)
    assert second.get("/tra-cuu/ho-so/").status_code == 200
    second.post("/tra-cuu/thoat/")
    assert second.get("/tra-cuu/ho-so/").status_code == 302
    assert AuditEvent.objects.filter(action=actions.PORTAL_ENDED).count() == 1


def test_a_guardian_withdraws_a_consent_and_it_stops_at_once(
        family: tuple[Student, Guardian, Guardian], message_simulator: str, cast: Cast) -> None:
    student, mother, _father = family
    policy_acknowledge(actor=cast.alice, version=policy_in_force().version)
    Student.objects.filter(pk=student.pk).update(date_of_birth=dt.date(2021, 1, 1))
    student.refresh_from_db()
    notice = purposes_in_force().get(PHOTOS)
    assert notice is not None
    consent_give(actor=cast.alice, student=student, data=ConsentGiven(
        purpose=PHOTOS, notice_version=notice.notice_version, guardian=mother,
        subject_agreed=False, channel="phieu_giay", evidence_reference="Phiếu số 3"))
    assert consent_valid(subject_entity="student", subject_id=student.pk, purpose=PHOTOS)
    client = Client()
    assert _look_up(client, str(student.education_id), dt.date(2021, 1, 1)).status_code == 302
    _send_codes()
    code = _code_in(_outbox(message_simulator, MOTHER_PHONE)[0])
    client.post("/tra-cuu/ma-xac-thuc/", {"code": code})
    page = client.get("/tra-cuu/ho-so/").content.decode()
    assert f"/tra-cuu/ho-so/rut-dong-y/{PHOTOS}/" in page
    assert "/tra-cuu/ho-so/rut-dong-y/quan_ly_giao_duc/" not in page, "statutory: no consent"
    done = client.post(f"/tra-cuu/ho-so/rut-dong-y/{PHOTOS}/")
    assert done.status_code == 302
    assert not consent_valid(subject_entity="student", subject_id=student.pk, purpose=PHOTOS)
    event = AuditEvent.objects.get(action=actions.CONSENT_WITHDRAWN)
    assert event.actor_label == ACTOR_LABEL
    assert event.data["channel"] == CHANNEL
    assert event.data["guardian_id"] == mother.pk
    refused = client.post("/tra-cuu/ho-so/rut-dong-y/quan_ly_giao_duc/")
    assert refused.status_code == 302
    assert ConsentState.objects.get(purpose=PHOTOS).status == ConsentStatus.WITHDRAWN


def test_a_correction_request_reaches_the_school(
        family: tuple[Student, Guardian, Guardian], message_simulator: str, cast: Cast) -> None:
    student, mother, _father = family
    client = Client()
    _verified(client, student, message_simulator)
    empty = client.post("/tra-cuu/ho-so/yeu-cau-sua/", {"details": "   "})
    assert empty.status_code == 400
    assert "nội dung cần sửa" in empty.content.decode()
    assert not SubjectRequest.objects.exists()
    sent = client.post("/tra-cuu/ho-so/yeu-cau-sua/",
                       {"details": "Ngày sinh đúng là 06/09/2019 theo giấy khai sinh."})
    assert sent.status_code == 302
    request = SubjectRequest.objects.get()
    assert (request.kind, request.channel, request.requester_guardian_id, request.recorded_by_id
            ) == ("correction", CHANNEL, mother.pk, None)
    principal = Client()
    principal.force_login(cast.alice)
    register = principal.get(f"/truong/{cast.school_a.pk}/bao-ve-du-lieu/yeu-cau/")
    assert register.status_code == 200
    detail = principal.get(
        f"/truong/{cast.school_a.pk}/bao-ve-du-lieu/yeu-cau/{request.pk}/").content.decode()
    assert "Cổng tra cứu" in detail


def test_a_message_service_that_is_down_changes_nothing_the_parent_sees(
        family: tuple[Student, Guardian, Guardian], message_simulator: str) -> None:
    student = family[0]
    httpx.post(f"{message_simulator}/_sim/control", json={"down": True}, timeout=5)
    client = Client()
    answer = _look_up(client, str(student.education_id))
    assert answer["Location"] == "/tra-cuu/ma-xac-thuc/"
    assert _send_codes() == 0
    assert not PortalCode.objects.exists()
    assert AuditEvent.objects.filter(action=actions.PORTAL_CODE_UNDELIVERED).count() == 2
    httpx.post(f"{message_simulator}/_sim/control", json={"down": False}, timeout=5)
    assert _send_codes() == 2, "the worker's next run delivers them"
    assert _send_codes() == 0, "and never twice"


@pytest.mark.parametrize(("education_id", "born", "field", "message"), [
    ("", "05/09/2019", "education_id", "Hãy nhập mã định danh"),
    ("79-000/1", "05/09/2019", "education_id", "chỉ gồm chữ số"),
    ("7" * 21, "05/09/2019", "education_id", "dài quá 20"),
    ("7900000001", "", "date_of_birth", "Hãy nhập ngày sinh"),
    ("7900000001", "31/02/2019", "date_of_birth", "ngày/tháng/năm"),
    ("7900000001", "05/09/2099", "date_of_birth", "sau hôm nay"),
])
def test_bad_input_names_the_field_and_writes_nothing(
        cast: Cast, education_id: str, born: str, field: str, message: str) -> None:
    answer = Client().post("/tra-cuu/", {"education_id": education_id, "date_of_birth": born})
    assert answer.status_code == 200
    assert message in answer.content.decode()
    assert not PortalLookup.objects.exists()
    assert not AuditEvent.objects.filter(Q(action=actions.PORTAL_LOOKUP)).exists()


def test_pages_without_a_verified_look_up_send_back_to_the_start(cast: Cast) -> None:
    client = Client()
    for url in ("/tra-cuu/ma-xac-thuc/", "/tra-cuu/ho-so/"):
        assert client.get(url)["Location"] == "/tra-cuu/"
    assert client.post("/tra-cuu/ho-so/yeu-cau-sua/", {"details": "x"})["Location"] == \
        "/tra-cuu/"
    assert client.post(f"/tra-cuu/ho-so/rut-dong-y/{PHOTOS}/")["Location"] == "/tra-cuu/"


def test_disclosures_to_agencies_show_in_the_history(
        family: tuple[Student, Guardian, Guardian], message_simulator: str) -> None:
    student = family[0]
    with transaction.atomic():
        audit_record(actor=None, actor_label="agency:TYT", action=actions.SHARING_DISCLOSED,
                     entity="student", school_id=student.school_id,
                     data={"ids": [str(student.pk)], "agreement": 1,
                           "agency": "Trạm Y tế phường Bến Thành",
                           "fields": ["full_name", "date_of_birth"],
                           "purpose": "chia_se_tram_y_te"})
    client = Client()
    _verified(client, student, message_simulator)
    html = client.get("/tra-cuu/ho-so/").content.decode()
    assert "Cơ quan Trạm Y tế phường Bến Thành" in html
    assert "Được cung cấp: " in html
    assert re.search(r"Được cung cấp: [^<]*Ngày sinh", html)
