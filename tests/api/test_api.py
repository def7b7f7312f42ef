from __future__ import annotations

from django.test import Client

from edureg.audit.models import AuditEvent
from edureg.registry.models import Student
from tests.conftest import Cast


def test_code_lists_are_public_master_data(client: Client, db: None) -> None:
    listing = client.get("/api/v1/code-lists").json()
    by_name = {item["name"]: item for item in listing}
    assert by_name["province"]["entries"] == 34
    assert by_name["ethnicity"]["entries"] >= 54
    communes = client.get("/api/v1/code-lists/commune", {"parent": "79"}).json()
    assert len(communes["entries"]) == 168
    missing = client.get("/api/v1/code-lists/no-such-list")
    assert missing.status_code == 404
    assert "Không có danh mục" in missing.json()["detail"]


def test_student_requires_login(client: Client, cast: Cast) -> None:
    assert client.get(f"/api/v1/students/{cast.an.pk}").status_code == 401


def test_student_out_of_scope_is_404_and_audited_read_in_scope(client: Client,
                                                              cast: Cast) -> None:
    client.force_login(cast.dave)
    assert client.get(f"/api/v1/students/{cast.an.pk}").status_code == 404
    client.force_login(cast.bob)
    assert client.get(f"/api/v1/students/{cast.binh.pk}").status_code == 404
    response = client.get(f"/api/v1/students/{cast.an.pk}")
    assert response.status_code == 200
    assert response.json()["full_name"] == "Nguyễn Văn An"
    event = AuditEvent.objects.filter(action="student.read", actor=cast.bob).get()
    assert event.data["ids"] == [str(cast.an.pk)]
    assert event.data["view"] == "api.student_detail"


def test_student_without_permission_is_403(client: Client, cast: Cast) -> None:
    client.force_login(cast.carol)  # subject teacher: no class assigned, no STUDENT_EDIT
    assert client.get(f"/api/v1/classes/{cast.class_1a.pk}/students").status_code == 404
    from edureg.access.models import Membership

    Membership.objects.filter(user=cast.carol).update(role="it_officer")
    assert client.get(f"/api/v1/students/{cast.an.pk}").status_code == 403


def test_sensitive_fields_hidden_and_identifiers_masked_by_role(client: Client,
                                                               cast: Cast) -> None:
    Student.objects.filter(pk=cast.an.pk).update(ethnicity_code="01", phone="0912345678",
                                                 personal_id_number="079219012345")
    client.force_login(cast.erin)  # authority officer: no sensitive or identifier permission
    body = client.get(f"/api/v1/students/{cast.an.pk}").json()
    assert body["ethnicity_code"] is None
    assert body["phone"] == "•••••••678"
    assert body["personal_id_number"].endswith("345")
    assert "0912345678" not in str(body)
    client.force_login(cast.alice)
    body = client.get(f"/api/v1/students/{cast.an.pk}").json()
    assert body["ethnicity_code"] == "01"
    assert body["phone"] == "0912345678"
