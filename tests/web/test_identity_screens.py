"""The identity screens: the pupil's "Xác thực danh tính" panel, the class, school and authority
requests, the school's mismatch queue with its actions, the "no ID number" declaration and the
edit form's reason for changing verified identity fields.

Queue content is set up with ``IdentityState`` rows directly: the register is never called.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from edureg.access.models import User
from edureg.access.roles import Role
from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.identity.models import (
    CannotSend,
    IdentityState,
    IdentityStatus,
    JobKind,
    QueueStatus,
    VerificationJob,
)
from edureg.quality.models import CheckKind, FieldGroupCheck
from edureg.registry.models import Staff, Student
from edureg.registry.quality import IDENTITY_GROUP
from tests import factories as f
from tests.conftest import Cast
from tests.web.conftest import edit_form_data

PID_AN = "079219001234"
PID_STAFF = "079185004321"


def _state(person: Student | Staff, status: str, *, mismatched: dict[str, str] | None = None,
           **fields: Any) -> IdentityState:
    """A person's state as a verification answer (or a failed send) would have left it;
    ``mismatched``: field → the register's value."""
    entity = "student" if isinstance(person, Student) else "staff"
    answers = {name: {"outcome": "match", "register_value": None}
               for name in ("full_name", "date_of_birth", "sex")}
    for name, theirs in (mismatched or {}).items():
        answers[name] = {"outcome": "mismatch", "register_value": theirs}
    answered = status in (IdentityStatus.VERIFIED, IdentityStatus.MISMATCH)
    fields.setdefault("queue_status", QueueStatus.OPEN if status in (
        IdentityStatus.MISMATCH, IdentityStatus.NOT_FOUND) or fields.get("cannot_send")
        else "")
    return IdentityState.objects.create(
        entity=entity, record_id=person.pk, school_id=person.school_id, status=status,
        fields=answers if answered else {}, mismatched=sorted(mismatched or {}),
        answered_at=timezone.now() if status != IdentityStatus.UNVERIFIED else None,
        register="HttpRegister http://dancu.example", request_id="YC-2026-000123",
        updated_at=timezone.now(), **fields)


def _lock(student: Student) -> None:
    """The identity fields stand verified by the register."""
    FieldGroupCheck.objects.create(entity="student", record_id=student.pk,
                                   school_id=student.school_id, group=IDENTITY_GROUP,
                                   kind=CheckKind.REGISTER, document_type="population_register",
                                   document_number="YC-2026-000123", checked_at=timezone.now())


def _login(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def _html(response: Any) -> str:
    return str(response.content.decode())


@pytest.fixture
def hoa(cast: Cast) -> Student:
    """A pupil of 1A whose name uses the new tone-mark placement."""
    return f.make_student(cast.class_1a, "Nguyễn Thị Hoà", sex="F",
                          date_of_birth=dt.date(2019, 3, 20), personal_id_number="079319005555")


@pytest.fixture
def nurse(cast: Cast) -> User:
    return f.make_user("yen", Role.SCHOOL_NURSE, cast.school_a)


# --- The pupil's panel ---------------------------------------------------------------------------

def test_panel_shows_the_status_and_its_provenance(client: Client, cast: Cast) -> None:
    _state(cast.an, IdentityStatus.VERIFIED, requested_by=cast.bob,
           requested_at=timezone.now())
    html = _html(_login(client, cast.alice).get(reverse("web:student", args=[cast.an.pk])))
    assert "Xác thực danh tính" in html
    assert 'class="badge badge--ok">Đã xác thực</span>' in html
    assert "YC-2026-000123" in html
    assert "HttpRegister http://dancu.example" in html
    assert "Bob" in html  # who asked
    assert "Khớp" in html
    assert "Xác thực ngay" in html


def test_panel_explains_a_difference(client: Client, cast: Cast, hoa: Student) -> None:
    _state(hoa, IdentityStatus.MISMATCH, mismatched={"full_name": "Nguyễn Thị Hòa"})
    html = _html(_login(client, cast.alice).get(reverse("web:student", args=[hoa.pk])))
    assert 'class="badge badge--error">Sai lệch</span>' in html
    assert ("Họ tên khác cách đặt dấu: hồ sơ ghi «Nguyễn Thị Hoà», CSDL dân cư ghi "
            "«Nguyễn Thị Hòa».") in html


def test_pupil_never_sent_is_shown_unverified(client: Client, cast: Cast) -> None:
    html = _html(_login(client, cast.bob).get(reverse("web:student", args=[cast.an.pk])))
    assert 'class="badge badge--warning">Chưa xác thực</span>' in html
    assert "Hồ sơ này chưa được gửi đi xác thực." in html
    # No ID number and bob resolves his class's pupils: the declaration is offered.
    assert "Khai báo không có số định danh" in html


def test_roles_without_identity_permissions_see_no_panel(client: Client, cast: Cast,
                                                         nurse: User) -> None:
    html = _html(_login(client, nurse).get(reverse("web:student", args=[cast.an.pk])))
    assert "Xác thực ngay" not in html
    assert 'id="xac-thuc"' not in html


def test_verify_now_creates_a_job_and_marks_the_pupil_sent(client: Client, cast: Cast) -> None:
    response = _login(client, cast.alice).post(
        reverse("web:identity_verify_student", args=[cast.an.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("web:student", args=[cast.an.pk]) + "#xac-thuc"
    job = VerificationJob.objects.get()
    assert (job.kind, job.persons, job.created_by_id) == (JobKind.PERSON, 1, cast.alice.pk)
    state = IdentityState.objects.get(entity="student", record_id=cast.an.pk)
    assert (state.status, state.job_id, state.requested_by_id) == (
        IdentityStatus.SENT, job.pk, cast.alice.pk)
    html = _html(client.get(response["Location"]))
    assert "Đã gửi yêu cầu xác thực" in html
    assert "Đã gửi, chờ kết quả" in html


@pytest.mark.parametrize("name", ["nurse", "carol"])
def test_verify_now_is_forbidden_without_the_permission(client: Client, cast: Cast,
                                                        nurse: User, name: str) -> None:
    actor = nurse if name == "nurse" else cast.carol
    response = _login(client, actor).post(
        reverse("web:identity_verify_student", args=[cast.an.pk]))
    assert response.status_code == 403
    assert not VerificationJob.objects.exists()
    assert not IdentityState.objects.exists()


def test_verify_now_for_another_schools_pupil_is_not_found(client: Client, cast: Cast) -> None:
    response = _login(client, cast.alice).post(
        reverse("web:identity_verify_student", args=[cast.other_school_student.pk]))
    assert response.status_code == 404
    assert not VerificationJob.objects.exists()


def test_verify_now_is_post_only(client: Client, cast: Cast) -> None:
    response = _login(client, cast.alice).get(
        reverse("web:identity_verify_student", args=[cast.an.pk]))
    assert response.status_code == 405


# --- Class, school, authority --------------------------------------------------------------------

def test_class_page_counts_statuses_and_verifies_the_class(client: Client, cast: Cast,
                                                           hoa: Student) -> None:
    _state(hoa, IdentityStatus.VERIFIED)
    _login(client, cast.bob)
    page = client.get(reverse("web:class", args=[cast.class_1a.pk]))
    html = _html(page)
    assert "Xác thực cả lớp" in html
    assert "1/2 học sinh đã xác thực (50 %)." in html
    assert html.count('class="badge badge--ok">Đã xác thực</span>') >= 2  # the count and Hoà
    response = client.post(reverse("web:identity_verify_class", args=[cast.class_1a.pk]))
    assert response.status_code == 302
    job = VerificationJob.objects.get()
    assert (job.kind, job.scope_id, job.persons) == (JobKind.CLASS, cast.class_1a.pk, 1)
    assert IdentityState.objects.get(record_id=cast.an.pk).status == IdentityStatus.SENT
    assert IdentityState.objects.get(record_id=hoa.pk).status == IdentityStatus.VERIFIED
    assert "Đã gửi 1 người đi xác thực" in _html(client.get(response["Location"]))


def test_class_verification_of_another_teachers_class_is_not_found(client: Client,
                                                                   cast: Cast) -> None:
    response = _login(client, cast.bob).post(
        reverse("web:identity_verify_class", args=[cast.class_1b.pk]))
    assert response.status_code == 404
    assert not VerificationJob.objects.exists()


def test_subject_teacher_may_not_verify_a_class(client: Client, cast: Cast) -> None:
    response = _login(client, cast.carol).post(
        reverse("web:identity_verify_class", args=[cast.class_1a.pk]))
    assert response.status_code == 403
    html = _html(client.get(reverse("web:class", args=[cast.class_1a.pk])))
    assert "Xác thực cả lớp" not in html


def test_school_page_counts_and_verifies_the_school(client: Client, cast: Cast,
                                                    hoa: Student) -> None:
    _state(hoa, IdentityStatus.MISMATCH, mismatched={"full_name": "Nguyễn Thị Hòa"})
    _login(client, cast.alice)
    html = _html(client.get(reverse("web:school", args=[cast.school_a.pk])))
    assert "Xác thực toàn trường" in html
    assert reverse("web:identity_queue", args=[cast.school_a.pk]) in html
    assert "0/3 học sinh đã xác thực (0 %)" in html
    response = client.post(reverse("web:identity_verify_school", args=[cast.school_a.pk]))
    assert response.status_code == 302
    job = VerificationJob.objects.get()
    # Three pupils and two staff members (bob's and carol's records).
    assert (job.kind, job.school_id, job.persons) == (JobKind.SCHOOL, cast.school_a.pk, 5)
    html = _html(client.get(response["Location"]))
    assert "Các lượt xác thực gần đây" in html
    assert "0/5 đã có kết quả" in html
    assert "Đang chạy" in html


def test_school_verification_elsewhere_is_not_found_and_needs_the_permission(
        client: Client, cast: Cast, nurse: User) -> None:
    assert _login(client, cast.alice).post(
        reverse("web:identity_verify_school", args=[cast.school_b.pk])).status_code == 404
    assert _login(Client(), nurse).post(
        reverse("web:identity_verify_school", args=[cast.school_a.pk])).status_code == 403
    assert not VerificationJob.objects.exists()


def test_homeroom_teacher_verifies_the_own_class_but_not_the_school(client: Client,
                                                                    cast: Cast) -> None:
    _login(client, cast.bob)
    html = _html(client.get(reverse("web:school", args=[cast.school_a.pk])))
    assert "Xác thực toàn trường" not in html
    response = client.post(reverse("web:identity_verify_school", args=[cast.school_a.pk]))
    assert response.status_code == 403
    assert not VerificationJob.objects.exists()


def test_authority_officer_verifies_the_whole_authority(client: Client, cast: Cast) -> None:
    _login(client, cast.erin)
    html = _html(client.get(reverse("web:quality")))
    assert "Xác thực toàn Sở" in html
    authority_id = cast.school_a.authority_id
    response = client.post(reverse("web:identity_verify_authority", args=[authority_id]))
    assert response.status_code == 302
    job = VerificationJob.objects.get()
    # Two pupils of A, one of B; two staff members of A.
    assert (job.kind, job.scope_id, job.persons) == (JobKind.AUTHORITY, authority_id, 5)


def test_authority_verification_needs_an_authority_wide_grant(client: Client,
                                                              cast: Cast) -> None:
    url = reverse("web:identity_verify_authority", args=[cast.school_a.authority_id])
    assert _login(client, cast.alice).post(url).status_code == 404  # one school only
    assert _login(Client(), cast.carol).post(url).status_code == 403
    assert not VerificationJob.objects.exists()


# --- The mismatch queue --------------------------------------------------------------------------

@pytest.fixture
def queue_world(cast: Cast, hoa: Student) -> dict[str, Any]:
    Student.objects.filter(pk=cast.binh.pk).update(personal_id_number=PID_AN)
    staff = f.make_staff(cast.school_a, "Đỗ Văn Tâm", personal_id_number=PID_STAFF)
    return {
        "hoa": _state(hoa, IdentityStatus.MISMATCH, mismatched={"full_name": "Nguyễn Thị Hòa"}),
        "binh": _state(cast.binh, IdentityStatus.NOT_FOUND,
                       queue_status=QueueStatus.CORRECTION_REQUESTED,
                       queue_note="Gia đình đã lên công an phường"),
        "an": _state(cast.an, IdentityStatus.UNVERIFIED, cannot_send=CannotSend.NO_ID_NUMBER),
        "staff": _state(staff, IdentityStatus.NOT_FOUND),
        "other_school": _state(cast.other_school_student, IdentityStatus.MISMATCH,
                               mismatched={"sex": "F"}),
        "staff_member": staff,
    }


def _queue(client: Client, cast: Cast, **query: Any) -> Any:
    return client.get(reverse("web:identity_queue", args=[cast.school_a.pk]), query)


def test_queue_explains_each_difference_and_who_acts(client: Client, cast: Cast,
                                                     queue_world: dict[str, Any]) -> None:
    response = _queue(_login(client, cast.alice), cast)
    assert response.status_code == 200
    html = _html(response)
    assert "Hàng đợi sai lệch danh tính" in html
    assert ("Họ tên khác cách đặt dấu: hồ sơ ghi «Nguyễn Thị Hoà», CSDL dân cư ghi "
            "«Nguyễn Thị Hòa».") in html
    assert f"CSDL dân cư không có người nào mang số định danh cá nhân {PID_AN}." in html
    assert "Chưa có số định danh cá nhân" in html  # an: could not be sent
    assert "Sửa hồ sơ theo giấy khai sinh" in html  # the suggested action for a typing matter
    assert "Phạm Văn Bảo" in html  # homeroom teacher of 1A acts for Hoà and An
    assert "Giáo vụ" in html  # 1B has no homeroom teacher
    assert "Đỗ Văn Tâm" in html
    assert "Lê Văn Cường" not in html  # another school's pupil
    assert reverse("web:student", args=[queue_world["hoa"].record_id]) in html
    assert reverse("web:student_edit", args=[queue_world["hoa"].record_id]) in html
    assert "Gia đình đã lên công an phường" in html
    rows = response.context["queue"].rows
    # Pupils by class, then staff.
    assert [(r.entity, r.name) for r in rows] == [
        ("student", "Nguyễn Văn An"), ("student", "Nguyễn Thị Hoà"),
        ("student", "Trần Thị Bình"), ("staff", "Đỗ Văn Tâm")]


def test_queue_filters_by_queue_status(client: Client, cast: Cast,
                                       queue_world: dict[str, Any]) -> None:
    _login(client, cast.alice)
    requested = _queue(client, cast, trang_thai=QueueStatus.CORRECTION_REQUESTED)
    assert [r.name for r in requested.context["queue"].rows] == ["Trần Thị Bình"]
    still_open = _queue(client, cast, trang_thai=QueueStatus.OPEN)
    assert "Trần Thị Bình" not in [r.name for r in still_open.context["queue"].rows]
    assert len(still_open.context["queue"].rows) == 3
    odd = _queue(client, cast, trang_thai="khong-co")
    assert odd.status_code == 200
    assert len(odd.context["queue"].rows) == 4  # an odd filter falls back to all


def test_queue_pages_by_fifty(client: Client, cast: Cast) -> None:
    school_class = f.make_class(cast.school_a, "2A", grade=2)
    for n in range(51):
        pupil = f.make_student(school_class, f"Trần Văn Số {n:02d}")
        _state(pupil, IdentityStatus.NOT_FOUND)
    _login(client, cast.alice)
    first = _queue(client, cast)
    assert len(first.context["queue"].rows) == 50
    assert (first.context["queue"].count, first.context["queue"].pages) == (51, 2)
    assert "Trang 1/2" in _html(first)
    second = _queue(client, cast, trang=2)
    assert [r.name for r in second.context["queue"].rows] == ["Trần Văn Số 50"]


def test_queue_queries_do_not_grow_with_its_rows(client: Client, cast: Cast,
                                                queue_world: dict[str, Any]) -> None:
    _login(client, cast.alice)
    _queue(client, cast)  # warm the catalogue and code-list caches
    with CaptureQueriesContext(connection) as few:
        _queue(client, cast)
    school_class = f.make_class(cast.school_a, "3A", grade=3)
    teacher = f.make_staff(cast.school_a, "Vũ Thị Hạnh")
    f.assign(teacher, school_class)
    for n in range(12):
        pupil = f.make_student(school_class, f"Lý Văn Thêm {n:02d}", sex="M")
        _state(pupil, IdentityStatus.MISMATCH, mismatched={"sex": "F"})
        _state(f.make_staff(cast.school_a, f"Đinh Thị Mới {n:02d}"), IdentityStatus.NOT_FOUND)
    with CaptureQueriesContext(connection) as many:
        response = _queue(client, cast)
    assert len(response.context["queue"].rows) == 28
    assert len(many.captured_queries) == len(few.captured_queries)


def test_homeroom_teacher_sees_only_the_own_class(client: Client, cast: Cast,
                                                  queue_world: dict[str, Any]) -> None:
    rows = _queue(_login(client, cast.bob), cast).context["queue"].rows
    assert {r.name for r in rows} == {"Nguyễn Văn An", "Nguyễn Thị Hoà"}


def test_queue_masks_id_numbers_for_roles_without_identifiers(client: Client, cast: Cast,
                                                              queue_world: dict[str, Any]
                                                              ) -> None:
    # The vice principal works on the queue but may not see staff identifiers.
    vice = f.make_user("vu", Role.VICE_PRINCIPAL, cast.school_a)
    html = _html(_queue(_login(client, vice), cast))
    assert "Đỗ Văn Tâm" in html
    assert PID_STAFF not in html
    assert "•" * (len(PID_STAFF) - 3) + PID_STAFF[-3:] in html
    assert PID_AN in html  # pupils' identifiers are the vice principal's to see
    principal = _html(_queue(_login(Client(), cast.alice), cast))
    assert PID_STAFF in principal


def test_queue_read_is_audited_with_the_records_shown(client: Client, cast: Cast,
                                                      queue_world: dict[str, Any]) -> None:
    _queue(_login(client, cast.alice), cast)
    reads = {e.entity: e for e in AuditEvent.objects.filter(action__endswith=".read")
             if e.data.get("view") == "identity_queue"}
    assert set(reads) == {"student", "staff"}
    assert reads["student"].actor_id == cast.alice.pk
    assert reads["student"].school_id == cast.school_a.pk
    assert sorted(reads["student"].data["ids"]) == sorted(
        str(queue_world[name].record_id) for name in ("hoa", "binh", "an"))
    assert reads["staff"].data["ids"] == [str(queue_world["staff_member"].pk)]


def test_queue_of_another_school_is_not_found(client: Client, cast: Cast,
                                              queue_world: dict[str, Any]) -> None:
    response = _login(client, cast.alice).get(
        reverse("web:identity_queue", args=[cast.school_b.pk]))
    assert response.status_code == 404
    assert "Lê Văn Cường" not in _html(response)


@pytest.mark.parametrize("name", ["nurse", "carol", "erin"])
def test_queue_needs_the_resolve_permission(client: Client, cast: Cast, nurse: User,
                                            name: str) -> None:
    actor = {"nurse": nurse, "carol": cast.carol, "erin": cast.erin}[name]
    response = _login(client, actor).get(reverse("web:identity_queue", args=[cast.school_a.pk]))
    assert response.status_code == 403


def test_correction_requested_is_recorded_with_its_note(client: Client, cast: Cast,
                                                        queue_world: dict[str, Any]) -> None:
    hoa = queue_world["hoa"]
    back = reverse("web:identity_queue", args=[cast.school_a.pk]) + "?trang_thai=open"
    response = _login(client, cast.alice).post(
        reverse("web:identity_correction_requested", args=["hoc-sinh", hoa.record_id]),
        {"queue_note": "Giấy khai sinh ghi «Hoà», đã hướng dẫn gia đình", "next": back})
    assert response.status_code == 302
    assert response["Location"] == back
    hoa.refresh_from_db()
    assert hoa.queue_status == QueueStatus.CORRECTION_REQUESTED
    assert hoa.queue_note == "Giấy khai sinh ghi «Hoà», đã hướng dẫn gia đình"
    assert AuditEvent.objects.filter(action=actions.IDENTITY_QUEUE_UPDATED,
                                     entity_id=str(hoa.record_id)).count() == 1
    assert "Đã ghi nhận: đã đề nghị" in _html(client.get(back))


def test_correction_requested_is_refused_for_a_person_not_answered(
        client: Client, cast: Cast, queue_world: dict[str, Any]) -> None:
    an = queue_world["an"]  # not sent: the register never answered
    response = _login(client, cast.alice).post(
        reverse("web:identity_correction_requested", args=["hoc-sinh", an.record_id]),
        {"queue_note": "x"}, follow=True)
    assert "Chỉ đánh dấu đề nghị đính chính" in _html(response)
    an.refresh_from_db()
    assert an.queue_status == QueueStatus.OPEN
    assert an.queue_note == ""


def test_queue_actions_refuse_other_schools_unknown_entities_and_missing_permissions(
        client: Client, cast: Cast, nurse: User, queue_world: dict[str, Any]) -> None:
    other = queue_world["other_school"]
    _login(client, cast.alice)
    for name in ("identity_correction_requested", "identity_reverify"):
        assert client.post(reverse(f"web:{name}", args=["hoc-sinh", other.record_id]),
                           {"queue_note": "x"}).status_code == 404
        assert client.post(reverse(f"web:{name}", args=["nguoi-la", cast.an.pk]),
                           {"queue_note": "x"}).status_code == 404
        assert _login(Client(), nurse).post(
            reverse(f"web:{name}", args=["hoc-sinh", cast.an.pk])).status_code == 403
    other.refresh_from_db()
    assert (other.status, other.queue_status) == (IdentityStatus.MISMATCH, QueueStatus.OPEN)
    assert not VerificationJob.objects.exists()


def test_reverify_sends_the_person_again(client: Client, cast: Cast,
                                         queue_world: dict[str, Any]) -> None:
    staff = queue_world["staff"]
    back = reverse("web:identity_queue", args=[cast.school_a.pk])
    response = _login(client, cast.alice).post(
        reverse("web:identity_reverify", args=["can-bo", staff.record_id]), {"next": back})
    assert response.status_code == 302
    assert response["Location"] == back
    staff.refresh_from_db()
    job = VerificationJob.objects.get()
    assert (staff.status, staff.job_id, job.kind) == (IdentityStatus.SENT, job.pk,
                                                      JobKind.PERSON)
    rows = client.get(back).context["queue"].rows
    assert "Đỗ Văn Tâm" not in [r.name for r in rows]  # sent: out of the queue until answered


def test_reverify_ignores_a_next_page_on_another_site(client: Client, cast: Cast,
                                                      queue_world: dict[str, Any]) -> None:
    hoa = queue_world["hoa"]
    response = _login(client, cast.alice).post(
        reverse("web:identity_reverify", args=["hoc-sinh", hoa.record_id]),
        {"next": "//evil.example/"})
    assert response["Location"] == reverse("web:identity_queue", args=[cast.school_a.pk])


# --- No ID number --------------------------------------------------------------------------------

def test_no_id_declaration_with_a_bad_reason_names_the_field_and_stores_nothing(
        client: Client, cast: Cast) -> None:
    response = _login(client, cast.alice).post(
        reverse("web:identity_no_id", args=[cast.an.pk]),
        {"no_id_reason": "khong-ro", "no_id_note": ""})
    assert response.status_code == 200
    html = _html(response)
    assert "Lý do không có số định danh</a>: Hãy chọn lý do không có số định danh." in html
    assert "<details class=\"identity__no-id\" open>" in html
    assert not IdentityState.objects.filter(status=IdentityStatus.NO_ID).exists()
    assert not IdentityState.objects.exclude(no_id_reason="").exists()
    assert not AuditEvent.objects.filter(action=actions.IDENTITY_NO_ID).exists()
    assert not IdentityState.objects.exists(), "nothing half-written"


def test_no_id_declaration_other_reason_needs_a_note(client: Client, cast: Cast) -> None:
    response = _login(client, cast.alice).post(
        reverse("web:identity_no_id", args=[cast.an.pk]),
        {"no_id_reason": "other", "no_id_note": "x"})
    assert response.status_code == 200
    assert "Với lý do khác, hãy ghi rõ lý do" in _html(response)
    assert not IdentityState.objects.filter(status=IdentityStatus.NO_ID).exists()


def test_no_id_declaration_is_recorded(client: Client, cast: Cast) -> None:
    response = _login(client, cast.bob).post(
        reverse("web:identity_no_id", args=[cast.an.pk]),
        {"no_id_reason": "no_birth_certificate", "no_id_note": "Gia đình đang làm thủ tục"})
    assert response.status_code == 302
    state = IdentityState.objects.get(entity="student", record_id=cast.an.pk)
    assert (state.status, state.no_id_reason, state.no_id_note) == (
        IdentityStatus.NO_ID, "no_birth_certificate", "Gia đình đang làm thủ tục")
    html = _html(client.get(response["Location"]))
    assert "Không có số định danh" in html
    assert "Chưa có giấy khai sinh — Gia đình đang làm thủ tục" in html


def test_no_id_declaration_is_refused_elsewhere_and_without_the_permission(
        client: Client, cast: Cast, nurse: User) -> None:
    data = {"no_id_reason": "no_birth_certificate"}
    assert _login(client, cast.bob).post(
        reverse("web:identity_no_id", args=[cast.binh.pk]), data).status_code == 404
    assert _login(Client(), nurse).post(
        reverse("web:identity_no_id", args=[cast.an.pk]), data).status_code == 403
    assert not IdentityState.objects.exists()


# --- Editing verified identity fields ------------------------------------------------------------

def test_edit_form_asks_for_a_reason_when_identity_is_verified(client: Client,
                                                               cast: Cast) -> None:
    _login(client, cast.alice)
    plain = _html(client.get(reverse("web:student_edit", args=[cast.an.pk])))
    assert "identity_change_reason" not in plain
    _lock(cast.an)
    html = _html(client.get(reverse("web:student_edit", args=[cast.an.pk])))
    assert ("Các trường định danh đã được xác thực với CSDL quốc gia về dân cư; muốn sửa phải "
            "ghi lý do") in html
    assert 'name="identity_change_reason"' in html


def test_changing_a_verified_name_without_a_reason_saves_nothing(client: Client,
                                                                 cast: Cast) -> None:
    _lock(cast.an)
    _login(client, cast.alice)
    data = edit_form_data(client, cast.an)
    data["full_name"] = "Nguyễn Văn Ân"
    response = client.post(reverse("web:student_edit", args=[cast.an.pk]), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["identity_change_reason"]
    assert "Hãy ghi lý do sửa thông tin đã xác thực" in _html(response)
    cast.an.refresh_from_db()
    assert cast.an.full_name == "Nguyễn Văn An"


def test_changing_a_verified_name_with_a_reason_is_saved(client: Client, cast: Cast) -> None:
    _lock(cast.an)
    _login(client, cast.alice)
    data = edit_form_data(client, cast.an)
    data.update(full_name="Nguyễn Văn Ân",
                identity_change_reason="Theo giấy khai sinh số 12/2019")
    response = client.post(reverse("web:student_edit", args=[cast.an.pk]), data)
    assert response.status_code == 302
    cast.an.refresh_from_db()
    assert cast.an.full_name == "Nguyễn Văn Ân"
    event = AuditEvent.objects.get(action="student.update", entity_id=str(cast.an.pk))
    assert event.data["identity_change_reason"] == "Theo giấy khai sinh số 12/2019"
    assert "identity_change_reason" not in event.data["changes"]


def test_a_reason_alone_changes_nothing(client: Client, cast: Cast) -> None:
    _lock(cast.an)
    _login(client, cast.alice)
    data = edit_form_data(client, cast.an)
    data["identity_change_reason"] = "Theo giấy khai sinh số 12/2019"
    response = client.post(reverse("web:student_edit", args=[cast.an.pk]), data)
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="student.update").exists()
