"""Posts without a CSRF token are refused with a Vietnamese page and change nothing; over-long
sign-in input gets a Vietnamese form error."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from edureg.access.models import User
from edureg.audit.models import AuditEvent
from tests.accounts.conftest import PASSWORD, set_password, sign_in, signed_in
from tests.conftest import Cast


def test_sign_in_without_csrf_token_is_refused(cast: Cast) -> None:
    set_password(cast.bob)
    client = Client(enforce_csrf_checks=True)
    response = sign_in(client, "bob")
    assert response.status_code == 403
    assert "Yêu cầu bị từ chối" in response.content.decode()
    assert not signed_in(client)
    assert AuditEvent.objects.filter(action="security.csrf_refused").exists()


def test_password_change_without_csrf_token_changes_nothing(cast: Cast) -> None:
    set_password(cast.bob)
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.bob)
    response = client.post(reverse("web:password_change"), {
        "old_password": PASSWORD, "new_password1": "Sen-trắng-giữa-hồ-2027",
        "new_password2": "Sen-trắng-giữa-hồ-2027"})
    assert response.status_code == 403
    assert User.objects.get(pk=cast.bob.pk).check_password(PASSWORD)


def test_account_action_without_csrf_token_changes_nothing(cast: Cast, ivan: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(ivan)
    response = client.post(reverse("web:account_deactivate", args=[cast.bob.pk]))
    assert response.status_code == 403
    assert User.objects.get(pk=cast.bob.pk).is_active


def test_over_long_sign_in_input_is_a_vietnamese_form_error(client: Client, cast: Cast) -> None:
    response = sign_in(client, "b" * 10_000, "p" * 10_000)
    assert response.status_code == 200
    assert "tối đa" in response.content.decode()
    assert not signed_in(client)
