"""The transfer screens (chuyển trường): the pupil page's "Chuyển trường" card (ask, cancel,
history), the receiving school's "Học sinh chuyển đến" page (accept into a class, refuse with a
reason), the sending school's "Chuyển đi" list and the school page's links."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from edureg.access.models import User
from edureg.access.roles import Role
from edureg.audit.models import AuditEvent
from edureg.registry.models import Enrolment, Student, Transfer, TransferStatus
from edureg.registry.transfers import transfer_request
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.django_db

ADDRESS = "Số 12 ngõ 34 đường Hoa Sữa"
PHONE = "0912345678"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _today() -> str:
    return timezone.localdate().strftime("%d/%m/%Y")


def _ask(cast: Cast, **values: object) -> Transfer:
    """An open request, An from school A to school B, asked by Alice."""
    return transfer_request(actor=cast.alice, student=cast.an, to_school=cast.school_b,
                            effective_on=timezone.localdate(), **values)  # type: ignore[arg-type]


def _messages(response: object) -> list[str]:
    return [str(m) for m in response.context["messages"]]  # type: ignore[attr-defined]


# --- The pupil's page: asking and cancelling --------------------------------------------------

def test_principal_asks_for_a_transfer_from_the_pupil_page(cast: Cast) -> None:
    f.make_school(cast.school_a.authority, code="C0001", name="Trường Tiểu học Kim Đồng")
    client = _client(cast.alice)
    page = client.get(reverse("web:student", args=[cast.an.pk]))
    body = page.content.decode()
    assert 'id="chuyen-truong"' in body
    form = page.context["transfer"]["form"]
    assert [s.name for s in form.fields["to_school"].queryset] == [
        "Trường Tiểu học Kim Đồng", "Trường Tiểu học Lê Lợi"], "others of the authority, by name"
    assert form["effective_on"].value() == timezone.localdate()

    response = client.post(reverse("web:transfer_request", args=[cast.an.pk]), {
        "to_school": cast.school_b.pk, "effective_on": _today(), "note": "Gia đình chuyển nhà"},
        follow=True)

    assert response.redirect_chain[-1][0] == (
        reverse("web:student", args=[cast.an.pk]) + "#chuyen-truong")
    transfer = Transfer.objects.get(student=cast.an)
    assert (transfer.to_school_id, transfer.status, transfer.note) == (
        cast.school_b.pk, TransferStatus.REQUESTED, "Gia đình chuyển nhà")
    assert any("Đã gửi đề nghị chuyển học sinh Nguyễn Văn An sang Trường Tiểu học Lê Lợi"
               in m for m in _messages(response))
    body = response.content.decode()
    assert "Chờ trường nhận" in body
    assert "Huỷ đề nghị" in body
    assert reverse("web:transfer_cancel", args=[transfer.pk]) in body
    assert response.context["transfer"]["form"] is None, "no second request while one is open"
    assert Student.objects.get(pk=cast.an.pk).school_id == cast.school_a.pk


def test_a_malformed_date_is_named_and_nothing_is_stored(cast: Cast) -> None:
    response = _client(cast.alice).post(
        reverse("web:transfer_request", args=[cast.an.pk]),
        {"to_school": cast.school_b.pk, "effective_on": "31/02/2026", "note": ""})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Chưa gửi được đề nghị" in body
    assert "Ngày chuyển</a>: Ngày chuyển phải theo dạng ngày/tháng/năm" in body
    assert response.context["transfer"]["form"].errors["effective_on"]
    assert not Transfer.objects.exists()


def test_a_date_the_service_refuses_is_shown_on_the_date_field(cast: Cast) -> None:
    too_far = (timezone.localdate() + dt.timedelta(days=200)).strftime("%d/%m/%Y")
    response = _client(cast.alice).post(
        reverse("web:transfer_request", args=[cast.an.pk]),
        {"to_school": cast.school_b.pk, "effective_on": too_far})
    assert response.status_code == 200
    errors = response.context["transfer"]["form"].errors
    assert errors["effective_on"] == ["Ngày chuyển quá xa; chỉ ghi trước tối đa 90 ngày."]
    assert "Ngày chuyển</a>: Ngày chuyển quá xa" in response.content.decode()
    assert not Transfer.objects.exists()


@pytest.mark.parametrize("kind", ["other_authority", "inactive"])
def test_a_school_outside_the_list_cannot_be_chosen(cast: Cast, kind: str) -> None:
    if kind == "inactive":
        elsewhere = f.make_school(cast.school_a.authority, code="D0001",
                                  name="Trường Tiểu học Đã Giải Thể")
        elsewhere.is_active = False
        elsewhere.save(update_fields=["is_active"])
    else:
        elsewhere = f.make_school(f.make_authority("SGD01"), code="X0001",
                                  name="Trường Tiểu học Xa")
    response = _client(cast.alice).post(reverse("web:transfer_request", args=[cast.an.pk]),
                                        {"to_school": elsewhere.pk, "effective_on": _today()})
    assert response.status_code == 200
    assert response.context["transfer"]["form"].errors["to_school"] == [
        "Hãy chọn một trường trong danh sách."]
    assert not Transfer.objects.exists()


def test_principal_cancels_the_open_request(cast: Cast) -> None:
    transfer = _ask(cast)
    client = _client(cast.alice)
    response = client.post(reverse("web:transfer_cancel", args=[transfer.pk]), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("web:student", args=[cast.an.pk]))
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.CANCELLED
    assert "Đã huỷ đề nghị chuyển trường của học sinh Nguyễn Văn An." in _messages(response)
    panel = response.context["transfer"]
    assert panel["pending"] is None
    assert panel["form"] is not None, "may ask again"
    assert [t.pk for t in panel["past"]] == [transfer.pk]
    assert "Đã huỷ" in response.content.decode()


def test_cancelling_twice_says_it_was_already_handled(cast: Cast) -> None:
    transfer = _ask(cast)
    client = _client(cast.alice)
    client.post(reverse("web:transfer_cancel", args=[transfer.pk]))
    response = client.post(reverse("web:transfer_cancel", args=[transfer.pk]), follow=True)
    assert "Đề nghị chuyển trường này đã được xử lý." in _messages(response)


def test_homeroom_teacher_sees_no_transfer_card_and_cannot_ask(cast: Cast) -> None:
    client = _client(cast.bob)
    page = client.get(reverse("web:student", args=[cast.an.pk]))
    assert page.context["transfer"] is None
    assert 'id="chuyen-truong"' not in page.content.decode()
    response = client.post(reverse("web:transfer_request", args=[cast.an.pk]),
                           {"to_school": cast.school_b.pk, "effective_on": _today()})
    assert response.status_code == 403
    assert not Transfer.objects.exists()


def test_another_schools_pupil_is_not_found(cast: Cast) -> None:
    response = _client(cast.alice).post(
        reverse("web:transfer_request", args=[cast.other_school_student.pk]),
        {"to_school": cast.school_a.pk, "effective_on": _today()})
    assert response.status_code == 404
    assert not Transfer.objects.exists()


def test_the_receiving_school_cannot_cancel_and_the_sending_cannot_accept(cast: Cast) -> None:
    transfer = _ask(cast)
    assert _client(cast.dave).post(
        reverse("web:transfer_cancel", args=[transfer.pk])).status_code == 404
    assert _client(cast.alice).post(reverse("web:transfer_accept", args=[transfer.pk]), {
        "school_class": cast.class_1a.pk}).status_code == 404
    assert _client(cast.alice).post(reverse("web:transfer_refuse", args=[transfer.pk]), {
        "decision_note": "Không nhận"}).status_code == 404
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.REQUESTED


# --- The receiving school ---------------------------------------------------------------------

def test_incoming_list_shows_what_the_decision_needs_and_nothing_more(cast: Cast) -> None:
    Student.objects.filter(pk=cast.an.pk).update(
        date_of_birth=dt.date(2019, 3, 20), current_address=ADDRESS, phone=PHONE,
        personal_id_number="079219001234")
    _ask(cast, note="Gia đình chuyển nhà")
    f.make_class(cast.school_b, "2A", grade=2)
    response = _client(cast.dave).get(reverse("web:transfers_incoming",
                                              args=[cast.school_b.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    for shown in ("Nguyễn Văn An", "20/03/2019", "Nam", "Trường Tiểu học Hoà Bình",
                  timezone.localdate().strftime("%d/%m/%Y"), "Gia đình chuyển nhà"):
        assert shown in body
    for hidden in (ADDRESS, PHONE, "079219001234", cast.an.education_id,
                   reverse("web:student", args=[cast.an.pk])):
        assert hidden not in body
    assert '<optgroup label="Khối 1">' in body
    assert '<optgroup label="Khối 2">' in body
    assert body.index("Khối 1") < body.index("Khối 2")


def test_incoming_list_read_is_audited_under_the_sending_school(cast: Cast) -> None:
    _ask(cast)
    before = AuditEvent.objects.filter(action="student.read").count()
    _client(cast.dave).get(reverse("web:transfers_incoming", args=[cast.school_b.pk]))
    events = list(AuditEvent.objects.filter(action="student.read").order_by("seq"))
    assert len(events) == before + 1
    event = events[-1]
    assert (event.actor_id, event.kind, event.school_id) == (cast.dave.pk, "read",
                                                            cast.school_a.pk)
    assert event.data["ids"] == [str(cast.an.pk)]
    assert event.data["view"] == "transfer_incoming"
    assert event.data["to_school_id"] == cast.school_b.pk


def test_principal_accepts_and_lands_on_the_pupils_page(cast: Cast) -> None:
    transfer = _ask(cast)
    client = _client(cast.dave)
    assert client.get(reverse("web:student", args=[cast.an.pk])).status_code == 404
    response = client.post(reverse("web:transfer_accept", args=[transfer.pk]),
                           {"school_class": cast.class_b.pk, "decision_note": "Lớp còn chỗ"})
    assert response.status_code == 302
    assert response["Location"] == reverse("web:student", args=[cast.an.pk])
    moved = Student.objects.get(pk=cast.an.pk)
    assert (moved.school_id, moved.current_class_id) == (cast.school_b.pk, cast.class_b.pk)
    assert Enrolment.objects.get(student=moved, is_current=True).school_id == cast.school_b.pk
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.ACCEPTED

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Đã nhận học sinh Nguyễn Văn An vào lớp 1A." in _messages(page)
    assert "Lớp còn chỗ" in page.content.decode(), "the history lists the decision note"
    assert _client(cast.alice).get(reverse("web:student", args=[cast.an.pk])).status_code == 404


def test_accepting_without_a_class_names_the_field(cast: Cast) -> None:
    transfer = _ask(cast)
    response = _client(cast.dave).post(reverse("web:transfer_accept", args=[transfer.pk]),
                                       {"school_class": ""})
    assert response.status_code == 200
    assert "Xếp vào lớp</a>: Hãy chọn lớp cho học sinh." in response.content.decode()
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.REQUESTED


def test_a_class_of_another_school_cannot_be_chosen(cast: Cast) -> None:
    transfer = _ask(cast)
    response = _client(cast.dave).post(reverse("web:transfer_accept", args=[transfer.pk]),
                                       {"school_class": cast.class_1a.pk})
    assert response.status_code == 200
    assert "Hãy chọn một lớp trong danh sách." in response.content.decode()
    assert Student.objects.get(pk=cast.an.pk).school_id == cast.school_a.pk


def test_refusing_without_a_reason_is_an_error(cast: Cast) -> None:
    transfer = _ask(cast)
    response = _client(cast.dave).post(reverse("web:transfer_refuse", args=[transfer.pk]),
                                       {"decision_note": ""})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Lý do từ chối</a>: Hãy ghi lý do từ chối để trường gửi biết." in body
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.REQUESTED


def test_refusing_with_a_reason_is_shown_to_the_sending_school(cast: Cast) -> None:
    transfer = _ask(cast)
    response = _client(cast.dave).post(reverse("web:transfer_refuse", args=[transfer.pk]),
                                       {"decision_note": "Lớp 1 đã đủ sĩ số"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("web:transfers_incoming",
                                                     args=[cast.school_b.pk])
    assert "Không có đề nghị chuyển đến nào chờ xử lý." in response.content.decode()
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.REFUSED
    outgoing = _client(cast.alice).get(reverse("web:transfers_outgoing",
                                               args=[cast.school_a.pk]))
    body = outgoing.content.decode()
    assert "Trường nhận từ chối" in body
    assert "Lớp 1 đã đủ sĩ số" in body
    page = _client(cast.alice).get(reverse("web:student", args=[cast.an.pk]))
    assert "Lớp 1 đã đủ sĩ số" in page.content.decode()


def test_another_schools_incoming_list_is_not_found(cast: Cast) -> None:
    _ask(cast)
    response = _client(cast.alice).get(reverse("web:transfers_incoming",
                                               args=[cast.school_b.pk]))
    assert response.status_code == 404
    assert "Nguyễn Văn An" not in response.content.decode()


@pytest.mark.parametrize("name", ["bob", "erin"])
def test_incoming_list_needs_the_transfer_permission(cast: Cast, name: str) -> None:
    _ask(cast)
    school = cast.school_a if name == "bob" else cast.school_b
    response = _client(getattr(cast, name)).get(reverse("web:transfers_incoming",
                                                        args=[school.pk]))
    assert response.status_code == 403


def test_a_teacher_of_the_receiving_school_cannot_accept(cast: Cast) -> None:
    teacher = f.make_user("giang", Role.HOMEROOM_TEACHER, cast.school_b)
    transfer = _ask(cast)
    response = _client(teacher).post(reverse("web:transfer_accept", args=[transfer.pk]),
                                     {"school_class": cast.class_b.pk})
    assert response.status_code == 403
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.REQUESTED


# --- The school page and the outgoing list ----------------------------------------------------

def test_school_page_links_to_incoming_and_outgoing_with_the_count(cast: Cast) -> None:
    _ask(cast)
    body = _client(cast.dave).get(reverse("web:school", args=[cast.school_b.pk])
                                  ).content.decode()
    assert "Học sinh chuyển đến (1 chờ xử lý)" in body
    assert reverse("web:transfers_incoming", args=[cast.school_b.pk]) in body
    assert reverse("web:transfers_outgoing", args=[cast.school_b.pk]) in body
    teacher_view = _client(cast.bob).get(reverse("web:school", args=[cast.school_a.pk]))
    assert teacher_view.context["transfers"] is None
    assert "Học sinh chuyển đến" not in teacher_view.content.decode()


def test_outgoing_list_shows_open_requests_with_a_cancel_button(cast: Cast) -> None:
    transfer = _ask(cast)
    client = _client(cast.alice)
    url = reverse("web:transfers_outgoing", args=[cast.school_a.pk])
    body = client.get(url).content.decode()
    assert "Nguyễn Văn An" in body
    assert "Trường Tiểu học Lê Lợi" in body
    assert "Chờ trường nhận" in body
    assert reverse("web:transfer_cancel", args=[transfer.pk]) in body
    response = client.post(reverse("web:transfer_cancel", args=[transfer.pk]), {"next": url})
    assert response["Location"] == url
    read = AuditEvent.objects.filter(action="student.read").order_by("-seq").first()
    assert read is not None
    assert read.data["view"] == "transfer_outgoing"
    assert _client(cast.dave).get(reverse("web:transfers_outgoing",
                                          args=[cast.school_a.pk])).status_code == 404
