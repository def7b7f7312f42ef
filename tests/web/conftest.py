"""Helpers for the web tests: the edit form's current values, ready to change and post."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from edureg.registry.models import Student


def edit_form_data(client: Client, student: Student) -> dict[str, Any]:
    """What the browser would post back unchanged: every enabled field with its shown value."""
    response = client.get(reverse("web:student_edit", args=[student.pk]))
    assert response.status_code == 200
    form = response.context["form"]
    return {
        name: form.initial.get(name, "")
        for name, field in form.fields.items()
        if not field.disabled
    }
