"""The school-year screens (năm học): the principal opens the next year (classes carried,
homeroom proposals to confirm), marks exceptions in a class's promotion proposal, commits,
undoes, commits again and closes the year; the start-of-year confirmation progress; refusals
shown as messages; other schools' objects not found and other roles forbidden."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from edureg.access.models import User
from edureg.audit.models import AuditEvent
from edureg.registry.attestation import class_confirm
from edureg.registry.models import Assignment, Enrolment, SchoolClass, Student
from edureg.schools.models import SchoolYear, SchoolYearStatus
from edureg.yearly.models import (
    ClassProposal,
    HomeroomProposal,
    Outcome,
    ProposalStatus,
    PupilException,
)
from edureg.yearly.services import year_open
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _year(cast: Cast, start_year: int) -> SchoolYear:
    return SchoolYear.objects.get(school=cast.school_a, start_year=start_year)


def _proposal(school_class: SchoolClass) -> ClassProposal:
    return ClassProposal.objects.get(from_class=school_class)


def _current_class(student: Student) -> str:
    enrolment = Enrolment.objects.select_related("school_class").get(
        student=student, is_current=True
    )
    return enrolment.school_class.name if enrolment.school_class else ""


def _open(cast: Cast) -> SchoolYear:
    return year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026).year


# --- The way in ------------------------------------------------------------------------------


def test_school_page_links_the_year_area_for_the_principal_only(cast: Cast) -> None:
    url = reverse("web:yearly_years", args=[cast.school_a.pk])
    page = _client(cast.alice).get(reverse("web:school", args=[cast.school_a.pk]))
    assert url in page.content.decode()
    page = _client(cast.bob).get(reverse("web:school", args=[cast.school_a.pk]))
    assert url not in page.content.decode()


def test_years_page_lists_the_years_and_offers_the_next(cast: Cast) -> None:
    response = _client(cast.alice).get(reverse("web:yearly_years", args=[cast.school_a.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Năm học 2026–2027" in body
    assert "Đang diễn ra" in body
    assert "Mở năm học 2027–2028" in body
    assert reverse("web:yearly_open", args=[_year(cast, 2026).pk]) in body


def test_no_further_year_is_offered_while_an_older_one_is_open(cast: Cast) -> None:
    _open(cast)
    response = _client(cast.alice).get(reverse("web:yearly_years", args=[cast.school_a.pk]))
    body = response.content.decode()
    assert "Năm học 2027–2028" in body
    assert "Mở năm học 2028–2029" not in body
    assert "Năm học 2026–2027 chưa khoá" in body


# --- The whole flow ---------------------------------------------------------------------------


def test_principal_runs_the_turn_of_the_year(cast: Cast) -> None:
    ha = f.make_student(cast.class_1a, "Lê Thị Hà")
    khanh = f.make_student(cast.class_1a, "Đỗ Minh Khánh")
    client = _client(cast.alice)
    old = _year(cast, 2026)

    # Open the next year: the classes carried, the homeroom proposal shown to confirm.
    response = client.post(reverse("web:yearly_open", args=[old.pk]), follow=True)
    new = _year(cast, 2027)
    assert response.redirect_chain[-1][0] == reverse("web:yearly_year", args=[new.pk])
    assert any("Đã mở năm học 2027–2028: 2 lớp được chuyển sang, 2 lớp đầu cấp mới" in m
               for m in _messages(response))
    body = response.content.decode()
    assert "Lớp 2A" in body
    assert "Lớp 2B" in body
    assert "Đề xuất: Phạm Văn Bảo" in body
    assert "Năm học 2026–2027 còn 2 lớp chờ chốt lên lớp" in body
    homeroom = HomeroomProposal.objects.get(school_class__name="2A")
    confirm_url = reverse("web:yearly_homeroom_confirm", args=[homeroom.pk])
    assert confirm_url in body

    # Opening again changes nothing and says so.
    again = client.post(reverse("web:yearly_open", args=[old.pk]), follow=True)
    assert any("đã được mở từ trước" in m for m in _messages(again))
    assert SchoolClass.objects.filter(school_year=new).count() == 4  # 2A, 2B; 1A, 1B empty

    # Confirm the homeroom teacher; a second confirmation is refused with a message.
    response = client.post(confirm_url, follow=True)
    assert any(
        "Đã xác nhận Phạm Văn Bảo làm giáo viên chủ nhiệm lớp 2A" in m for m in _messages(response)
    )
    assert SchoolClass.objects.get(school_year=new, name="2A").homeroom_teacher is not None
    response = client.post(confirm_url, follow=True)
    assert any("đã được xác nhận" in m for m in _messages(response))
    assert Assignment.objects.filter(school_year=new).count() == 1

    # The old year lists a draft proposal per class.
    page = client.get(reverse("web:yearly_year", args=[old.pk]))
    body = page.content.decode()
    proposal_1a, proposal_1b = _proposal(cast.class_1a), _proposal(cast.class_1b)
    assert reverse("web:yearly_proposal", args=[proposal_1a.pk]) in body
    assert "Còn 2 lớp chờ chốt." in body
    assert "Lên lớp: 3" in body  # 1A: An, Hà, Khánh all promoted by default

    # The class's proposal: every pupil promoted by default.
    proposal_url = reverse("web:yearly_proposal", args=[proposal_1a.pk])
    page = client.get(proposal_url)
    form = page.context["form"]
    assert {row.student.full_name: field.value() for row, field in form.rows()} == {
        "Nguyễn Văn An": "promoted",
        "Lê Thị Hà": "promoted",
        "Đỗ Minh Khánh": "promoted",
    }
    assert AuditEvent.objects.filter(
        action="student.read", data__contains="year_promotion"
    ).exists()

    # Mark exceptions and save.
    response = client.post(
        proposal_url,
        {f"hs_{ha.pk}": "left", f"hs_{khanh.pk}": "transferred", f"hs_{cast.an.pk}": "promoted"},
        follow=True,
    )
    assert any("Đã lưu đề xuất lên lớp của lớp 1A" in m for m in _messages(response))
    assert dict(PupilException.objects.values_list("student_id", "outcome")) == {
        ha.pk: Outcome.LEFT,
        khanh.pk: Outcome.TRANSFERRED,
    }

    # Commit: the counts, the pupils moved.
    commit_url = reverse("web:yearly_commit", args=[proposal_1a.pk])
    response = client.post(commit_url, follow=True)
    assert any("Đã chốt lên lớp lớp 1A: 3 học sinh." in m for m in _messages(response))
    counts = dict(response.context["page"].counts)
    assert counts == {"Lên lớp": 1, "Thôi học": 1, "Chuyển trường": 1}
    assert _current_class(cast.an) == "2A"
    assert not Enrolment.objects.filter(student=ha, is_current=True).exists()
    body = response.content.decode()
    assert "Hoàn tác việc lên lớp" in body
    assert "Chốt lên lớp" not in body

    # Double submission: refused, nothing applied twice.
    enrolments = Enrolment.objects.count()
    response = client.post(commit_url, follow=True)
    assert any("đã được chốt lên lớp; không chốt lại lần nữa" in m for m in _messages(response))
    assert Enrolment.objects.count() == enrolments

    # Undo: back in the old class, a draft again with the exceptions kept.
    undo_url = reverse("web:yearly_undo", args=[proposal_1a.pk])
    response = client.post(undo_url, follow=True)
    assert any("Đã hoàn tác việc lên lớp của lớp 1A" in m for m in _messages(response))
    assert _proposal(cast.class_1a).status == ProposalStatus.DRAFT
    assert _current_class(cast.an) == "1A"
    assert _current_class(ha) == "1A"
    response = client.post(undo_url, follow=True)
    assert any("chưa được chốt lên lớp: không có gì để hoàn tác" in m for m in _messages(response))

    # Change one exception while committing: Khánh is promoted after all.
    response = client.post(commit_url, {f"hs_{khanh.pk}": "promoted"}, follow=True)
    assert dict(response.context["page"].counts) == {"Lên lớp": 2, "Thôi học": 1}
    assert _current_class(khanh) == "2A"

    # Closing is refused while 1B is not committed; then without the confirmation box.
    close_url = reverse("web:yearly_close", args=[old.pk])
    response = client.post(close_url, {"confirm": "on"}, follow=True)
    assert any("Chưa khoá được năm học 2026–2027" in m and "1B" in m for m in _messages(response))
    client.post(reverse("web:yearly_commit", args=[proposal_1b.pk]))
    response = client.post(close_url, {})
    assert response.status_code == 200
    assert "Hãy đánh dấu ô xác nhận trước khi khoá năm học" in response.content.decode()
    assert _year(cast, 2026).status == SchoolYearStatus.OPEN

    response = client.post(close_url, {"confirm": "on"}, follow=True)
    assert any("Đã khoá năm học 2026–2027" in m for m in _messages(response))
    assert _year(cast, 2026).status == SchoolYearStatus.CLOSED
    body = response.content.decode()
    assert "Năm học đã khoá: chỉ xem" in body
    assert close_url not in body

    # The old year is read-only: no forms, and undo is refused with a message.
    page = client.get(proposal_url)
    body = page.content.decode()
    assert undo_url not in body
    assert commit_url not in body
    assert "Năm học đã khoá: kết quả lên lớp chỉ còn để xem." in body
    response = client.post(undo_url, follow=True)
    assert any(
        "Năm học 2026–2027 đã khoá: không hoàn tác được việc lên lớp." in m
        for m in _messages(response)
    )
    assert _current_class(cast.an) == "2A"


# --- Bad input --------------------------------------------------------------------------------


def test_an_unknown_outcome_is_named_and_nothing_is_stored(cast: Cast) -> None:
    _open(cast)
    proposal = _proposal(cast.class_1a)
    client = _client(cast.alice)
    response = client.post(
        reverse("web:yearly_proposal", args=[proposal.pk]), {f"hs_{cast.an.pk}": "expelled"}
    )
    assert response.status_code == 200
    assert "Hãy chọn một kết quả trong danh sách cho học sinh này." in response.content.decode()
    assert not PupilException.objects.exists()
    response = client.post(
        reverse("web:yearly_commit", args=[proposal.pk]), {f"hs_{cast.an.pk}": "graduated"}
    )
    assert response.status_code == 200
    assert _proposal(cast.class_1a).status == ProposalStatus.DRAFT


def test_a_refused_commit_is_explained_and_nothing_is_half_applied(cast: Cast) -> None:
    f.make_student(cast.class_1a, "Lê Thị Hà")
    new_year = _open(cast)
    # No grade-1 class in the new year for a pupil who repeats (the ones opening started are
    # taken away again).
    SchoolClass.objects.filter(school_year=new_year, grade=1).delete()
    proposal = _proposal(cast.class_1a)
    client = _client(cast.alice)
    enrolments = list(Enrolment.objects.order_by("pk").values())
    response = client.post(
        reverse("web:yearly_commit", args=[proposal.pk]),
        {f"hs_{cast.an.pk}": "repeat"},
        follow=True,
    )
    assert any("chưa có lớp khối 1 cho học sinh ở lại lớp" in m for m in _messages(response))
    assert _proposal(cast.class_1a).status == ProposalStatus.DRAFT
    assert list(Enrolment.objects.order_by("pk").values()) == enrolments
    assert not PupilException.objects.exists(), "the exceptions stand or fall with the commit"
    assert response.context["form"][f"hs_{cast.an.pk}"].value() == "repeat", "choice kept"


def test_a_pupil_of_another_class_posted_is_ignored(cast: Cast) -> None:
    _open(cast)
    proposal = _proposal(cast.class_1a)
    response = _client(cast.alice).post(
        reverse("web:yearly_proposal", args=[proposal.pk]),
        {f"hs_{cast.binh.pk}": "left", f"hs_{cast.other_school_student.pk}": "left"},
    )
    assert response.status_code == 302
    assert not PupilException.objects.exists()


# --- Start-of-year confirmation ----------------------------------------------------------------


def test_principal_sees_which_classes_are_confirmed(cast: Cast) -> None:
    class_confirm(actor=cast.bob, school_class=cast.class_1a)
    page = _client(cast.alice).get(reverse("web:yearly_year", args=[_year(cast, 2026).pk]))
    body = page.content.decode()
    rows = {row.school_class.name: row for row in page.context["page"].confirmations}
    assert rows["1A"].confirmed
    assert rows["1A"].by_homeroom_teacher
    assert not rows["1B"].confirmed
    assert page.context["page"].confirmed_classes == 1
    assert "1/2" in body
    assert "Chưa xác nhận" in body
    confirm_link = reverse("web:class", args=[cast.class_1a.pk]) + "#class-confirm-title"
    assert confirm_link in body

    # A pupil joining after the confirmation is not covered.
    f.make_student(cast.class_1a, "Lê Thị Hà")
    page = _client(cast.alice).get(reverse("web:yearly_year", args=[_year(cast, 2026).pk]))
    assert "Còn 1 học sinh chưa xác nhận" in page.content.decode()
    assert page.context["page"].confirmed_classes == 0


def test_the_new_year_counts_its_classes_confirmations(cast: Cast) -> None:
    new = _open(cast)
    client = _client(cast.alice)
    client.post(reverse("web:yearly_commit", args=[_proposal(cast.class_1a).pk]))
    two_a = SchoolClass.objects.get(school_year=new, name="2A")
    class_confirm(actor=cast.alice, school_class=two_a)
    page = client.get(reverse("web:yearly_year", args=[new.pk]))
    rows = {row.school_class.name: row for row in page.context["page"].confirmations}
    assert rows["2A"].confirmed
    assert not rows["2A"].by_homeroom_teacher
    assert not rows["2B"].confirmed
    assert "(không phải giáo viên chủ nhiệm)" in page.content.decode()


# --- Who may -----------------------------------------------------------------------------------


def _urls(cast: Cast) -> dict[str, str]:
    new = _open(cast)
    old = _year(cast, 2026)
    proposal = _proposal(cast.class_1a)
    homeroom = HomeroomProposal.objects.get(school_class__school_year=new)
    return {
        "years": reverse("web:yearly_years", args=[cast.school_a.pk]),
        "year": reverse("web:yearly_year", args=[old.pk]),
        "proposal": reverse("web:yearly_proposal", args=[proposal.pk]),
        "open": reverse("web:yearly_open", args=[old.pk]),
        "close": reverse("web:yearly_close", args=[old.pk]),
        "commit": reverse("web:yearly_commit", args=[proposal.pk]),
        "undo": reverse("web:yearly_undo", args=[proposal.pk]),
        "homeroom": reverse("web:yearly_homeroom_confirm", args=[homeroom.pk]),
    }


POSTS = ("open", "close", "commit", "undo", "homeroom")


def test_other_school_principal_finds_nothing(cast: Cast) -> None:
    urls = _urls(cast)
    client = _client(cast.dave)
    for name, url in urls.items():
        response = client.post(url, {"confirm": "on"}) if name in POSTS else client.get(url)
        assert response.status_code == 404, name
    assert _proposal(cast.class_1a).status == ProposalStatus.DRAFT
    assert HomeroomProposal.objects.get().confirmed_at is None
    assert _year(cast, 2026).status == SchoolYearStatus.OPEN


@pytest.mark.parametrize("who", ["bob", "carol", "erin"])
def test_roles_without_year_management_are_forbidden(cast: Cast, who: str) -> None:
    urls = _urls(cast)
    client = _client(getattr(cast, who))
    for name, url in urls.items():
        response = client.post(url, {"confirm": "on"}) if name in POSTS else client.get(url)
        assert response.status_code == 403, name
    assert _proposal(cast.class_1a).status == ProposalStatus.DRAFT


def test_missing_objects_are_not_found(cast: Cast) -> None:
    client = _client(cast.alice)
    for name in ("web:yearly_year", "web:yearly_proposal"):
        assert client.get(reverse(name, args=[999_999])).status_code == 404
    for name in (
        "web:yearly_open",
        "web:yearly_close",
        "web:yearly_commit",
        "web:yearly_undo",
        "web:yearly_homeroom_confirm",
    ):
        assert client.post(reverse(name, args=[999_999])).status_code == 404
    assert client.get(reverse("web:yearly_years", args=[999_999])).status_code == 404


def test_anonymous_is_sent_to_sign_in(cast: Cast) -> None:
    response = Client().get(reverse("web:yearly_years", args=[cast.school_a.pk]))
    assert response.status_code == 302
    assert reverse("web:login") in response["Location"]


def test_opening_again_completes_what_is_missing(cast: Cast) -> None:
    old = _year(cast, 2026)
    _open(cast)
    f.make_class(cast.school_a, "3A", grade=3)
    response = _client(cast.alice).post(reverse("web:yearly_open", args=[old.pk]), follow=True)
    assert any(
        "đã bổ sung phần còn thiếu: 1 lớp, 1 đề xuất lên lớp" in m for m in _messages(response)
    )
    assert "Lớp 4A" in response.content.decode()


def test_top_grade_pupils_complete_the_level_by_default(cast: Cast) -> None:
    top = f.make_class(cast.school_a, "5A", grade=5)
    pupil = f.make_student(top, "Vũ Thị Lan")
    _open(cast)
    client = _client(cast.alice)
    proposal = _proposal(top)
    page = client.get(reverse("web:yearly_proposal", args=[proposal.pk]))
    field = page.context["form"][f"hs_{pupil.pk}"]
    assert field.value() == "completed"
    assert "Hoàn thành cấp học" in page.content.decode()
    response = client.post(reverse("web:yearly_commit", args=[proposal.pk]), follow=True)
    assert dict(response.context["page"].counts) == {"Hoàn thành cấp học": 1}
    assert not Enrolment.objects.filter(student=pupil, is_current=True).exists()
