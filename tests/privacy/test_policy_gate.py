"""Sensitive fields stay hidden — neither shown nor editable — until the staff member has
acknowledged the data-protection policy in force; then their job position decides."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from edureg.privacy.models import PolicyAcknowledgement
from edureg.privacy.policy import (
    policy_acknowledge,
    policy_in_force,
    sensitive_withheld,
    visibility_for,
)
from edureg.registry.models import Student
from edureg.registry.services import student_update
from tests.conftest import Cast


@pytest.fixture
def sensitive(cast: Cast) -> Student:
    Student.objects.filter(pk=cast.an.pk).update(ethnicity_code="05", religion_code="04")
    PolicyAcknowledgement.objects.filter(user=cast.alice).delete()
    cast.an.refresh_from_db()
    return cast.an


def test_the_principal_sees_sensitive_fields_only_after_acknowledging(
        cast: Cast, sensitive: Student) -> None:
    client = Client()
    client.force_login(cast.alice)
    url = reverse("web:student", args=[sensitive.pk])
    before = client.get(url).content.decode()
    assert "Khmer" not in before
    assert "Cao Đài" not in before
    assert "chưa xác nhận Quy chế bảo vệ dữ liệu cá nhân" in before
    edit = client.get(reverse("web:student_edit", args=[sensitive.pk])).content.decode()
    assert 'name="ethnicity_code"' not in edit
    policy_acknowledge(actor=cast.alice, version=policy_in_force().version)
    after = client.get(url).content.decode()
    assert "Khmer" in after
    assert "chưa xác nhận Quy chế" not in after


def test_a_crafted_post_cannot_change_a_withheld_field(cast: Cast, sensitive: Student) -> None:
    client = Client()
    client.force_login(cast.alice)
    client.post(reverse("web:student_edit", args=[sensitive.pk]),
                {"full_name": sensitive.full_name, "ethnicity_code": "01"})
    sensitive.refresh_from_db()
    assert sensitive.ethnicity_code == "05"
    shown = visibility_for(cast.alice, "student", school_id=sensitive.school_id)
    with pytest.raises(ValidationError) as raised:
        student_update(actor=cast.alice, student=sensitive, data={"ethnicity_code": "01"},
                       shown=shown)
    assert "ethnicity_code" in raised.value.message_dict
    sensitive.refresh_from_db()
    assert sensitive.ethnicity_code == "05"


def test_a_role_without_sensitive_access_is_not_told_to_acknowledge(
        cast: Cast, sensitive: Student) -> None:
    PolicyAcknowledgement.objects.filter(user=cast.carol).delete()
    assert sensitive_withheld(cast.carol, "student", school_id=sensitive.school_id) == frozenset()
    assert sensitive_withheld(cast.alice, "student", school_id=sensitive.school_id) >= {
        "ethnicity_code", "religion_code"}

