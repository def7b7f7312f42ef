"""What the read pages show: Vietnamese order, masking by role, code-list names, no third-party
assets."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse

from edureg.registry.models import Duty, Staff
from edureg.registry.services import EDITABLE_STUDENT_FIELDS
from edureg.web.forms import layout_names
from tests import factories as f
from tests.conftest import Cast

_OFF_SITE = re.compile(r"""(?:src|href|action|srcset)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def _html(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_class_list_is_in_vietnamese_order(client: Client, cast: Cast) -> None:
    school_class = f.make_class(cast.school_a, "2A", grade=2)
    # Plain Unicode order of the full names would be the reverse of the Vietnamese order
    # (given name first; D before Đ, U before Ư, A before Â).
    names = ["Trần Văn An", "Lê Thị Âu", "Phạm Văn Dũng", "Nguyễn Văn Đức", "Vũ Văn Uy",
             "Hoàng Thị Ưng"]
    for name in reversed(names):
        f.make_student(school_class, name)
    assert sorted(names) != names
    client.force_login(cast.alice)
    html = _html(client, reverse("web:class", args=[school_class.pk]))
    positions = [html.index(name) for name in names]
    assert positions == sorted(positions)


def test_class_list_shows_number_code_date_and_sex(client: Client, cast: Cast) -> None:
    cast.an.date_of_birth = dt.date(2019, 9, 5)
    cast.an.save()
    f.make_student(cast.class_1a, "Đỗ Thị Bé", education_id=None, temporary_code="T00001000001",
                   sex="F")
    client.force_login(cast.alice)
    html = _html(client, reverse("web:class", args=[cast.class_1a.pk]))
    assert "05/09/2019" in html
    assert str(cast.an.education_id) in html
    assert "T00001000001" in html
    assert ">Nữ<" in html
    assert ">Nam<" in html
    assert re.search(r">\s*2\s*</td>", html)


def _sensitive_student(cast: Cast) -> None:
    cast.an.ethnicity_code = "05"  # Khmer
    cast.an.religion_code = "04"  # Cao Đài
    cast.an.disability_code = "03"  # Khuyết tật nhìn
    cast.an.phone = "0912345678"
    cast.an.personal_id_number = "079219000123"
    cast.an.save()
    f.make_guardian(cast.an, "Nguyễn Văn Ba", relation="01", phone="0987654321",
                    birth_year=1985)


def _subject_teacher_of_1a(cast: Cast) -> None:
    carol_staff = Staff.objects.get(user=cast.carol)
    f.assign(carol_staff, cast.class_1a, Duty.SUBJECT)


def test_subject_teacher_sees_no_sensitive_fields_and_masked_identifiers(
    client: Client, cast: Cast
) -> None:
    _sensitive_student(cast)
    _subject_teacher_of_1a(cast)
    client.force_login(cast.carol)
    html = _html(client, reverse("web:student", args=[cast.an.pk]))
    for hidden in ("Dân tộc", "Khmer", "Tôn giáo", "Cao Đài", "Loại khuyết tật",
                   "Khuyết tật nhìn"):
        assert hidden not in html, hidden
    assert "0912345678" not in html
    assert "•••••••678" in html
    assert "079219000123" not in html
    assert "•••••••••123" in html
    # No guardian data for a role without guardian.view; no edit button without student.edit.
    assert "Nguyễn Văn Ba" not in html
    assert "0987654321" not in html
    assert reverse("web:student_edit", args=[cast.an.pk]) not in html


def test_subject_teacher_sees_masked_identifiers_in_class_list(client: Client, cast: Cast) -> None:
    _sensitive_student(cast)
    _subject_teacher_of_1a(cast)
    client.force_login(cast.carol)
    html = _html(client, reverse("web:class", args=[cast.class_1a.pk]))
    assert "0912345678" not in html
    assert "•••••••678" in html
    assert "079219000123" not in html
    assert str(cast.an.education_id) not in html


def test_principal_sees_sensitive_fields_and_identifiers(client: Client, cast: Cast) -> None:
    _sensitive_student(cast)
    client.force_login(cast.alice)
    html = _html(client, reverse("web:student", args=[cast.an.pk]))
    for shown in ("Dân tộc", "Khmer", "Tôn giáo", "Cao Đài", "Khuyết tật nhìn", "0912345678",
                  "079219000123", "Nguyễn Văn Ba", "0987654321", "Cha", "1985"):
        assert shown in html, shown
    assert reverse("web:student_edit", args=[cast.an.pk]) in html


def test_detail_shows_places_and_enrolment_history_by_name(client: Client, cast: Cast) -> None:
    cast.an.birthplace_province = "79"
    cast.an.birthplace_commune = "25747"
    cast.an.birthplace_legacy_province = "79"
    cast.an.birthplace_legacy_district = "760"
    cast.an.date_of_birth = dt.date(2019, 1, 2)
    cast.an.save()
    enrolment = cast.an.enrolments.get()
    enrolment.status_code = "01"
    enrolment.save()
    client.force_login(cast.alice)
    html = _html(client, reverse("web:student", args=[cast.an.pk]))
    assert "Thành phố Hồ Chí Minh" in html
    assert "Phường Thủ Dầu Một" in html
    assert "Quận 1" in html
    assert "02/01/2019" in html
    assert "Đang học" in html
    assert "05/09/2026" in html  # the enrolment's start
    assert "2026–2027" in html


def test_staff_list_shows_positions_subjects_and_masks_contacts(client: Client,
                                                               cast: Cast) -> None:
    f.make_staff(cast.school_a, "Võ Thị Én", job_position_code="giao_vien",
                 position_group_code="giao_vien", subject_codes=["toan", "tieng_viet"],
                 phone="0901234567", email="en.vo@truong.edu.vn")
    client.force_login(cast.alice)
    html = _html(client, reverse("web:staff", args=[cast.school_a.pk]))
    assert "Võ Thị Én" in html
    assert "Giáo viên" in html
    assert "Toán, Tiếng Việt" in html
    assert "0901234567" in html  # the principal may see staff identifiers
    # Vietnamese order by given name: Bảo, Cúc, Én.
    assert html.index("Phạm Văn Bảo") < html.index("Lê Thị Cúc") < html.index("Võ Thị Én")
    client.force_login(cast.erin)  # authority officer: staff.view without identifiers
    html = _html(client, reverse("web:staff", args=[cast.school_a.pk]))
    assert "0901234567" not in html
    assert "•••••••567" in html
    assert "en.vo@truong.edu.vn" not in html


def test_communes_json_lists_the_communes_of_a_province(client: Client, cast: Cast) -> None:
    client.force_login(cast.bob)
    response = client.get(reverse("web:communes"), {"tinh": "79"})
    assert response.status_code == 200
    body = response.json()
    codes = {item["code"] for item in body["items"]}
    assert "25747" in codes
    assert "00004" not in codes  # Phường Ba Đình is in Hà Nội
    assert client.get(reverse("web:communes")).status_code == 400
    wards = client.get(reverse("web:legacy_wards"), {"huyen": "760"}).json()
    assert wards["items"]
    districts = client.get(reverse("web:legacy_districts"), {"tinh": "79"}).json()
    assert {"code": "760", "name": "Quận 1"} in districts["items"]


def test_edit_form_places_every_editable_field() -> None:
    assert set(layout_names()) == set(EDITABLE_STUDENT_FIELDS)


@pytest.mark.parametrize("who", ["alice", "bob", "erin"])
def test_pages_load_nothing_from_other_hosts(client: Client, cast: Cast, who: str) -> None:
    _sensitive_student(cast)
    urls = [reverse("web:login")]
    user = getattr(cast, who)
    client.force_login(user)
    urls += [
        reverse("web:school", args=[cast.school_a.pk]),
        reverse("web:class", args=[cast.class_1a.pk]),
        reverse("web:student", args=[cast.an.pk]),
    ]
    if who == "erin":
        urls += [reverse("web:home"), reverse("web:staff", args=[cast.school_a.pk])]
    else:
        urls.append(reverse("web:student_edit", args=[cast.an.pk]))
    for url in urls:
        if url == reverse("web:login"):
            client.logout()
            html = _html(client, url)
            client.force_login(user)
        else:
            html = _html(client, url)
        assert not _OFF_SITE.search(html), url
        assert '<html lang="vi">' in html
        assert "/static/web/edureg.css" in html
