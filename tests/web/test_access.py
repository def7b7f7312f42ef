"""One authorisation test per view: anonymous → login, other school → 404, teacher outside
own class → 404, missing permission → 403."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.conftest import Cast


def _urls(cast: Cast) -> list[str]:
    return [
        reverse("web:home"),
        reverse("web:school", args=[cast.school_a.pk]),
        reverse("web:class", args=[cast.class_1a.pk]),
        reverse("web:student", args=[cast.an.pk]),
        reverse("web:student_edit", args=[cast.an.pk]),
        reverse("web:staff", args=[cast.school_a.pk]),
        reverse("web:communes") + "?tinh=79",
    ]


def test_anonymous_is_sent_to_login_everywhere(client: Client, cast: Cast) -> None:
    login = reverse(settings.LOGIN_URL)
    for url in _urls(cast):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(login + "?next="), url


def test_anonymous_cannot_post_a_field_check(client: Client, cast: Cast) -> None:
    url = reverse("web:student_check_field", args=[cast.an.pk])
    response = client.post(url, {"field": "full_name", "full_name": "A"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


def test_login_page_and_login_logout(client: Client, cast: Cast) -> None:
    cast.alice.set_password("mật-khẩu-dài-123")
    cast.alice.save()
    page = client.get(reverse("web:login"))
    assert page.status_code == 200
    assert "Đăng nhập" in page.content.decode()
    bad = client.post(reverse("web:login"), {"username": "alice", "password": "sai"})
    assert bad.status_code == 200
    assert "_auth_user_id" not in client.session
    response = client.post(reverse("web:login"),
                           {"username": "alice", "password": "mật-khẩu-dài-123"})
    assert response.status_code == 302
    assert response["Location"] == reverse("web:home")
    assert client.session["_auth_user_id"] == str(cast.alice.pk)
    out = client.post(reverse("web:logout"))
    assert out.status_code == 302
    assert "_auth_user_id" not in client.session


def test_home_redirects_to_the_only_school(client: Client, cast: Cast) -> None:
    client.force_login(cast.alice)
    response = client.get(reverse("web:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("web:school", args=[cast.school_a.pk])


def test_home_lists_the_schools_of_an_authority_officer(client: Client, cast: Cast) -> None:
    client.force_login(cast.erin)
    response = client.get(reverse("web:home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert cast.school_a.name in html
    assert cast.school_b.name in html


def test_school_of_another_school_is_not_found(client: Client, cast: Cast) -> None:
    client.force_login(cast.dave)
    assert client.get(reverse("web:school", args=[cast.school_a.pk])).status_code == 404
    assert client.get(reverse("web:school", args=[cast.school_b.pk])).status_code == 200


def test_school_overview_shows_a_teacher_only_own_classes(client: Client, cast: Cast) -> None:
    client.force_login(cast.bob)
    response = client.get(reverse("web:school", args=[cast.school_a.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("web:class", args=[cast.class_1a.pk]) in html
    assert reverse("web:class", args=[cast.class_1b.pk]) not in html
    # bob may not see staff: neither the count nor the link is offered.
    assert reverse("web:staff", args=[cast.school_a.pk]) not in html


def test_class_of_another_school_is_not_found(client: Client, cast: Cast) -> None:
    client.force_login(cast.dave)
    assert client.get(reverse("web:class", args=[cast.class_1a.pk])).status_code == 404


def test_teacher_cannot_see_other_class(client: Client, cast: Cast) -> None:
    client.force_login(cast.bob)
    assert client.get(reverse("web:class", args=[cast.class_1a.pk])).status_code == 200
    assert client.get(reverse("web:class", args=[cast.class_1b.pk])).status_code == 404


def test_missing_class_is_not_found(client: Client, cast: Cast) -> None:
    client.force_login(cast.alice)
    assert client.get(reverse("web:class", args=[999_999])).status_code == 404


def test_student_of_another_school_is_not_found(client: Client, cast: Cast) -> None:
    client.force_login(cast.dave)
    assert client.get(reverse("web:student", args=[cast.an.pk])).status_code == 404


def test_teacher_cannot_see_student_of_other_class(client: Client, cast: Cast) -> None:
    client.force_login(cast.bob)
    assert client.get(reverse("web:student", args=[cast.an.pk])).status_code == 200
    response = client.get(reverse("web:student", args=[cast.binh.pk]))
    assert response.status_code == 404
    assert cast.binh.full_name not in response.content.decode()


def test_edit_requires_the_edit_permission(client: Client, cast: Cast) -> None:
    client.force_login(cast.carol)
    assert client.get(reverse("web:student_edit", args=[cast.an.pk])).status_code == 403
    response = client.post(reverse("web:student_edit", args=[cast.an.pk]),
                           {"full_name": "Nguyễn Văn Ân"})
    assert response.status_code == 403
    cast.an.refresh_from_db()
    assert cast.an.full_name == "Nguyễn Văn An"


def test_edit_of_another_school_or_class_is_not_found(client: Client, cast: Cast) -> None:
    client.force_login(cast.dave)
    assert client.get(reverse("web:student_edit", args=[cast.an.pk])).status_code == 404
    client.force_login(cast.bob)
    assert client.get(reverse("web:student_edit", args=[cast.binh.pk])).status_code == 404
    assert client.get(reverse("web:student_edit", args=[cast.an.pk])).status_code == 200


def test_field_check_follows_the_edit_permission(client: Client, cast: Cast) -> None:
    data = {"field": "full_name", "full_name": "Nguyễn Văn An"}
    client.force_login(cast.carol)
    url_an = reverse("web:student_check_field", args=[cast.an.pk])
    assert client.post(url_an, data).status_code == 403
    client.force_login(cast.dave)
    assert client.post(url_an, data).status_code == 404
    client.force_login(cast.bob)
    url_binh = reverse("web:student_check_field", args=[cast.binh.pk])
    assert client.post(url_binh, data).status_code == 404
    assert client.post(url_an, data).status_code == 200


def test_staff_list_requires_staff_permission(client: Client, cast: Cast) -> None:
    client.force_login(cast.bob)
    assert client.get(reverse("web:staff", args=[cast.school_a.pk])).status_code == 403


def test_staff_list_of_another_school_is_not_found(client: Client, cast: Cast) -> None:
    client.force_login(cast.dave)
    assert client.get(reverse("web:staff", args=[cast.school_a.pk])).status_code == 404
    assert client.get(reverse("web:staff", args=[cast.school_b.pk])).status_code == 200


@pytest.mark.parametrize("view", ["web:class", "web:student"])
def test_error_pages_are_vietnamese(client: Client, cast: Cast, view: str) -> None:
    client.force_login(cast.dave)
    target = cast.class_1a if view == "web:class" else cast.an
    response = client.get(reverse(view, args=[target.pk]))
    assert response.status_code == 404
    assert "Không tìm thấy" in response.content.decode()
