"""The duplicate review screens (hồ sơ nghi trùng): a school's queue shows its pairs side by
side with the probability and the reason, another school's pupil only by its school; the
authority's queue shows both; "not the same person" and merge from the queue; the authority's
merges and their undo; the school page's link. Who may is swept in tests/access."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from edureg.access.models import User
from edureg.audit.models import AuditEvent
from edureg.dedupe.models import DuplicatePair, PairStatus
from edureg.registry.models import Student, StudentMerge
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _pair(left: Student, right: Student) -> DuplicatePair:
    low, high = sorted((left, right), key=lambda s: s.pk)
    return DuplicatePair.objects.create(
        entity="student", left_id=low.pk, right_id=high.pk, left_school_id=low.school_id,
        right_school_id=high.school_id, match_probability=0.93,
        explanation="agreed: given, family, dob (day_month_swapped); missing: id_number",
        found_at=timezone.now())


def _messages(response: object) -> list[str]:
    return [str(m) for m in response.context["messages"]]  # type: ignore[attr-defined]


def test_school_queue_shows_its_pairs_and_only_the_school_of_another_schools_pupil(
        cast: Cast) -> None:
    twin = f.make_student(cast.class_1b, "Nguyen Van An")
    _pair(cast.an, twin)
    _pair(cast.binh, cast.other_school_student)
    response = _client(cast.alice).get(reverse("web:duplicates_school", args=[cast.school_a.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Khả năng trùng 93 %" in body
    assert "ngày sinh (đảo ngày và tháng)" in body
    assert "Nguyễn Văn An" in body
    assert "Nguyen Van An" in body
    assert "Trần Thị Bình" in body
    assert cast.other_school_student.full_name not in body
    assert "Học sinh của Trường Tiểu học Lê Lợi" in body
    read = AuditEvent.objects.filter(action="student.read").latest("seq")
    assert read.data["view"] == "duplicate_queue"
    assert str(cast.other_school_student.pk) not in read.data["ids"]
    # A pair across schools is merged by the authority, not by the school.
    assert body.count('name="kept"') == 2  # the two radio buttons of the pair in school A


def test_authority_queue_shows_both_pupils_of_a_pair_across_schools(cast: Cast) -> None:
    _pair(cast.binh, cast.other_school_student)
    response = _client(cast.erin).get(
        reverse("web:duplicates_authority", args=[cast.school_a.authority_id]))
    body = response.content.decode()
    assert cast.other_school_student.full_name in body
    assert "Trần Thị Bình" in body
    assert 'name="kept"' in body


def test_not_same_from_the_queue_takes_the_pair_off_it(cast: Cast) -> None:
    pair = _pair(cast.binh, cast.other_school_student)
    url = reverse("web:duplicates_school", args=[cast.school_a.pk])
    client = _client(cast.alice)
    response = client.post(reverse("web:duplicate_not_same", args=[pair.pk]),
                           {"reason": "ngắn", "next": url}, follow=True)
    assert any("ít nhất" in m for m in _messages(response))
    assert DuplicatePair.objects.get(pk=pair.pk).status == PairStatus.OPEN
    response = client.post(reverse("web:duplicate_not_same", args=[pair.pk]),
                           {"reason": "Khác cha mẹ, khác nơi sinh", "next": url}, follow=True)
    assert any("không phải cùng một người" in m for m in _messages(response))
    assert DuplicatePair.objects.get(pk=pair.pk).status == PairStatus.NOT_SAME
    assert "Không có cặp hồ sơ nghi trùng nào chờ xem xét." in response.content.decode()


def test_merge_from_the_queue_then_undo_by_the_authority(cast: Cast) -> None:
    twin = f.make_student(cast.class_1b, "Nguyen Van An")
    pair = _pair(cast.an, twin)
    response = _client(cast.alice).post(
        reverse("web:duplicate_merge", args=[pair.pk]),
        {"kept": cast.an.pk, "reason": "Cùng giấy khai sinh số 12/2019"}, follow=True)
    assert any("Đã gộp hai hồ sơ" in m for m in _messages(response))
    assert response.redirect_chain[-1][0] == reverse("web:student", args=[cast.an.pk])
    assert Student.objects.get(pk=twin.pk).merged_into_id == cast.an.pk
    assert _client(cast.alice).get(reverse("web:student", args=[twin.pk])).status_code == 404

    merges = reverse("web:duplicates_merges", args=[cast.school_a.authority_id])
    record = StudentMerge.objects.get()
    erin = _client(cast.erin)
    assert "Cùng giấy khai sinh số 12/2019" in erin.get(merges).content.decode()
    response = erin.post(reverse("web:merge_undo", args=[record.pk]),
                         {"reason": "Gộp nhầm hai anh em", "next": merges}, follow=True)
    assert any("Đã hoàn tác lần gộp" in m for m in _messages(response))
    assert Student.objects.get(pk=twin.pk).merged_into_id is None
    assert "Đã hoàn tác ngày" in response.content.decode()


def test_school_page_links_to_the_queue_for_reviewers_only(cast: Cast) -> None:
    _pair(cast.an, cast.binh)
    url = reverse("web:school", args=[cast.school_a.pk])
    body = _client(cast.alice).get(url).content.decode()
    assert reverse("web:duplicates_school", args=[cast.school_a.pk]) in body
    assert "1 cặp chờ xem xét" in body
    body = _client(cast.bob).get(url).content.decode()
    assert reverse("web:duplicates_school", args=[cast.school_a.pk]) not in body


@pytest.mark.parametrize(("explanation", "expected"), [
    ("agreed: given, dob (day_month_swapped); missing: id_number",
     [("Giống nhau", "tên, ngày sinh (đảo ngày và tháng)"),
      ("Thiếu ở một bên", "số định danh cá nhân")]),
    ("agreed: family (similar_0.92); disagreed: sex",
     [("Giống nhau", "họ (gần giống)"), ("Khác nhau", "giới tính")]),
    ("agreed: something_new (odd_level)", [("Giống nhau", "something_new (odd_level)")]),
    ("", []),
    ("no colon at all; nor: here", []),
])
def test_the_explanation_is_told_in_vietnamese(explanation: str,
                                               expected: list[tuple[str, str]]) -> None:
    from edureg.web.duplicates.display import explanation_lines

    assert explanation_lines(explanation) == expected
