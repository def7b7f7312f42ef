"""The edit form stops on a look-alike pupil: it lists them with the reason (only the school
for a pupil outside the teacher's scope), and saves once the teacher says why it is another
child."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from edureg.dedupe.models import DuplicateDecision
from edureg.registry.models import Student
from tests.conftest import Cast

pytestmark = pytest.mark.django_db

BORN = dt.date(2019, 3, 7)


def test_a_look_alike_in_another_school_is_shown_without_its_name_and_then_settled(
        client: Client, cast: Cast) -> None:
    Student.objects.filter(pk=cast.other_school_student.pk).update(
        full_name="NGUYEN VAN AN", name_match_key="nguyen van an", date_of_birth=BORN)
    Student.objects.filter(pk=cast.an.pk).update(full_name="Nguyễn Văn Ân",
                                                 name_match_key="nguyen van an")
    client.force_login(cast.bob)
    url = reverse("web:student_edit", args=[cast.an.pk])
    response = client.post(url, {"full_name": "Nguyễn Văn Ân", "date_of_birth": "07/03/2019"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Có hồ sơ giống người này" in html
    assert "Trường Tiểu học Lê Lợi" in html
    assert "Trùng họ tên (không kể dấu) và ngày sinh" in html
    assert "NGUYEN VAN AN" not in html, "another school's pupil stays anonymous"
    assert "Một học sinh" in html
    assert f'href="/hoc-sinh/{cast.other_school_student.pk}/"' not in html
    assert Student.objects.get(pk=cast.an.pk).date_of_birth is None, "nothing saved"

    response = client.post(url, {"full_name": "Nguyễn Văn Ân", "date_of_birth": "07/03/2019",
                                 "not_duplicate_reason": "Khác trường, khác cha mẹ"})
    assert response.status_code == 302
    assert Student.objects.get(pk=cast.an.pk).date_of_birth == BORN
    decision = DuplicateDecision.objects.get()
    assert {decision.left_id, decision.right_id} == {cast.an.pk, cast.other_school_student.pk}
