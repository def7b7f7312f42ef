"""Editing a student through the form: saved and audited when valid; nothing saved and a
Vietnamese message beside the field when not; ID-structure disagreements only warn."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from edureg.audit.models import AuditEvent
from edureg.registry.models import Student
from tests.conftest import Cast
from tests.web.conftest import edit_form_data


def _post(client: Client, student: Student, data: dict[str, Any]) -> Any:
    return client.post(reverse("web:student_edit", args=[student.pk]), data)


def _prepare(cast: Cast) -> None:
    cast.an.date_of_birth = dt.date(2019, 9, 5)
    cast.an.save()


def test_edit_page_shows_the_stored_values(client: Client, cast: Cast) -> None:
    _prepare(cast)
    client.force_login(cast.alice)
    response = client.get(reverse("web:student_edit", args=[cast.an.pk]))
    html = response.content.decode()
    assert 'value="05/09/2019"' in html
    assert 'value="Nguyễn Văn An"' in html
    assert "<select" in html
    # The official education id cannot be changed here.
    assert response.context["form"].fields["education_id"].disabled


def test_valid_change_is_saved_and_audited(client: Client, cast: Cast) -> None:
    _prepare(cast)
    client.force_login(cast.bob)
    data = edit_form_data(client, cast.an)
    data.update(full_name="Nguyễn  Văn Ân", phone="+84 912 345 678", ethnicity_code="01",
                permanent_province="79", permanent_commune="25747")
    response = _post(client, cast.an, data)
    assert response.status_code == 302
    assert response["Location"] == reverse("web:student", args=[cast.an.pk])
    cast.an.refresh_from_db()
    assert cast.an.full_name == "Nguyễn Văn Ân"
    assert cast.an.phone == "0912345678"
    assert cast.an.ethnicity_code == "01"
    assert cast.an.permanent_commune == "25747"
    assert cast.an.date_of_birth == dt.date(2019, 9, 5)
    event = AuditEvent.objects.get(action="student.update", entity_id=str(cast.an.pk))
    assert event.actor_id == cast.bob.pk
    assert set(event.data["changes"]) == {"full_name", "phone", "ethnicity_code",
                                          "permanent_province", "permanent_commune"}
    page = client.get(response["Location"])
    assert "Đã lưu thay đổi" in page.content.decode()


def test_fields_missing_from_the_submission_are_left_alone(client: Client, cast: Cast) -> None:
    _prepare(cast)
    cast.an.phone = "0912345678"
    cast.an.save()
    client.force_login(cast.alice)
    response = _post(client, cast.an, {"full_name": "Nguyễn Văn Ân"})
    assert response.status_code == 302
    cast.an.refresh_from_db()
    assert cast.an.full_name == "Nguyễn Văn Ân"
    assert cast.an.phone == "0912345678"
    assert cast.an.date_of_birth == dt.date(2019, 9, 5)


def test_unchanged_form_writes_nothing(client: Client, cast: Cast) -> None:
    _prepare(cast)
    client.force_login(cast.alice)
    response = _post(client, cast.an, edit_form_data(client, cast.an))
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="student.update").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("date_of_birth", "31/02/2019", "Ngày không hợp lệ"),
        ("date_of_birth", "01/01/2100", "Ngày sinh nằm trong tương lai"),
        ("ethnicity_code", "99", "“99” không có trong danh mục"),
        ("personal_id_number", "07921900012", "Số định danh cá nhân phải gồm đúng 12 chữ số."),
        ("full_name", "Nguyễn Văn\x07 An", "Có ký tự điều khiển không hợp lệ"),
        ("permanent_address", "Số 1 đường " + "x" * 300, "Dài quá 300 ký tự"),
        ("phone", "12345", "Số điện thoại"),
        ("permanent_commune", "00004", "không thuộc"),
    ],
)
def test_invalid_value_is_shown_and_nothing_is_saved(
    client: Client, cast: Cast, field: str, value: str, message: str
) -> None:
    _prepare(cast)
    client.force_login(cast.alice)
    data = edit_form_data(client, cast.an)
    # A valid change in the same submission must not be saved either.
    data.update(religion_code="01", current_address="12 Lê Lợi", permanent_province="79")
    data[field] = value
    response = _post(client, cast.an, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert "Không có thay đổi nào được lưu" in html
    form = response.context["form"]
    assert form.errors[field]
    # The user's input is shown again, in the field that has the message.
    assert form[field].value() == value
    cast.an.refresh_from_db()
    assert cast.an.religion_code == ""
    assert cast.an.current_address == ""
    assert cast.an.date_of_birth == dt.date(2019, 9, 5)
    assert cast.an.full_name == "Nguyễn Văn An"
    assert not AuditEvent.objects.filter(action="student.update").exists()


def test_message_sits_beside_its_field(client: Client, cast: Cast) -> None:
    _prepare(cast)
    client.force_login(cast.alice)
    data = edit_form_data(client, cast.an)
    data["personal_id_number"] = "123"
    html = _post(client, cast.an, data).content.decode()
    box = html.index('id="id_personal_id_number_msg"')
    assert html.index("phải gồm đúng 12 chữ số", box) < html.index("</div>", box)
    assert 'aria-describedby="id_personal_id_number_msg' in html


def test_id_structure_disagreement_saves_with_a_warning(client: Client, cast: Cast) -> None:
    _prepare(cast)  # born 2019, male
    client.force_login(cast.alice)
    data = edit_form_data(client, cast.an)
    data["personal_id_number"] = "079218000123"  # says born 2018
    response = _post(client, cast.an, data)
    assert response.status_code == 302
    cast.an.refresh_from_db()
    assert cast.an.personal_id_number == "079218000123"
    page = client.get(response["Location"]).content.decode()
    assert "Số định danh cho năm sinh 2018 nhưng ngày sinh là năm 2019" in page
    assert "message--warning" in page


def test_duplicate_id_number_is_refused(client: Client, cast: Cast) -> None:
    cast.binh.personal_id_number = "079319000777"
    cast.binh.save()
    client.force_login(cast.alice)
    data = edit_form_data(client, cast.an)
    data["personal_id_number"] = "079319000777"
    response = _post(client, cast.an, data)
    assert response.status_code == 200
    assert "đã có ở một hồ sơ khác" in response.content.decode()
    cast.an.refresh_from_db()
    assert cast.an.personal_id_number is None


def test_commune_select_holds_the_chosen_provinces_communes(client: Client, cast: Cast) -> None:
    cast.an.permanent_province = "79"
    cast.an.save()
    client.force_login(cast.alice)
    form = client.get(reverse("web:student_edit", args=[cast.an.pk])).context["form"]
    choices = dict(form.fields["permanent_commune"].widget.choices)
    assert "25747" in choices
    assert "00004" not in choices
    assert form.fields["permanent_province"].widget.attrs["data-children-url"] == \
        reverse("web:communes")


def test_stored_code_outside_the_list_is_kept_visible(client: Client, cast: Cast) -> None:
    cast.an.ethnicity_code = "ZZ"
    cast.an.save()
    client.force_login(cast.alice)
    html = client.get(reverse("web:student_edit", args=[cast.an.pk])).content.decode()
    assert '<option value="ZZ" selected>ZZ — không có trong danh mục</option>' in html


class TestFieldCheck:
    def _check(self, client: Client, cast: Cast, **data: str) -> Any:
        url = reverse("web:student_check_field", args=[cast.an.pk])
        response = client.post(url, data)
        assert response.status_code == 200
        return response.json()

    def test_reports_the_fields_error_and_writes_nothing(self, client: Client,
                                                         cast: Cast) -> None:
        client.force_login(cast.alice)
        result = self._check(client, cast, field="date_of_birth", date_of_birth="31/02/2019",
                             full_name="Tên\x07 sai")
        assert result["field"] == "date_of_birth"
        assert any("Ngày không hợp lệ" in m for m in result["errors"])
        assert not any("ký tự điều khiển" in m for m in result["errors"])  # other field
        assert not AuditEvent.objects.filter(action="student.update").exists()

    def test_valid_value_has_no_errors(self, client: Client, cast: Cast) -> None:
        client.force_login(cast.alice)
        result = self._check(client, cast, field="full_name", full_name="Nguyễn Văn Ân")
        assert result == {"field": "full_name", "errors": [], "warnings": []}
        cast.an.refresh_from_db()
        assert cast.an.full_name == "Nguyễn Văn An"

    def test_identity_fields_give_structure_warnings(self, client: Client, cast: Cast) -> None:
        client.force_login(cast.alice)
        result = self._check(client, cast, field="date_of_birth", date_of_birth="05/09/2019",
                             personal_id_number="079218000123", sex="M")
        assert result["errors"] == []
        assert [w["field"] for w in result["warnings"]] == ["personal_id_number"]
        assert "năm sinh 2018" in result["warnings"][0]["message"]

    def test_commune_is_checked_against_the_forms_province(self, client: Client,
                                                          cast: Cast) -> None:
        client.force_login(cast.alice)
        result = self._check(client, cast, field="current_commune", current_commune="00004",
                             current_province="79")
        assert result["errors"]
        result = self._check(client, cast, field="current_commune", current_commune="25747",
                             current_province="79")
        assert result["errors"] == []

    def test_unknown_or_locked_field_is_refused(self, client: Client, cast: Cast) -> None:
        client.force_login(cast.alice)
        url = reverse("web:student_check_field", args=[cast.an.pk])
        assert client.post(url, {"field": "school_id"}).status_code == 400
        assert client.post(url, {"field": "education_id"}).status_code == 400
