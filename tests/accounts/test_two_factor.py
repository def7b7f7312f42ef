"""Two factors: roles that need them are held on enrolment until enrolled; a code from the
device's secret lets the holder in; a recovery code works once; an IT officer resets a lost
device for an account of their school."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from edureg.access.models import User
from edureg.audit.models import AuditEvent
from tests.accounts.conftest import code_for, set_password, sign_in, signed_in
from tests.conftest import Cast


def _enrolled(user: User) -> tuple[TOTPDevice, str]:
    device = TOTPDevice.objects.create(user=user, name="edureg", confirmed=True)
    static = StaticDevice.objects.create(user=user, name="edureg", confirmed=True)
    StaticToken.objects.create(device=static, token="k7m2q4x9")
    return device, "k7m2q4x9"


def test_principal_without_a_device_can_do_nothing_but_enrol(client: Client,
                                                             cast: Cast) -> None:
    set_password(cast.alice)
    response = sign_in(client, "alice")
    assert response.status_code == 302
    enrol = reverse("web:two_factor_enrol")
    for url in (reverse("web:home"), reverse("web:class", args=[cast.class_1a.pk]),
                reverse("web:student", args=[cast.an.pk]), reverse("web:my_account"),
                reverse("web:password_change")):
        page = client.get(url)
        assert page.status_code == 302, url
        assert page["Location"].startswith(enrol), url
    api = client.get(f"/api/v1/students/{cast.an.pk}")
    assert api.status_code == 403
    assert not AuditEvent.objects.filter(action="student.read").exists()


def test_homeroom_teacher_does_not_need_a_second_factor(client: Client, cast: Cast) -> None:
    set_password(cast.bob)
    sign_in(client, "bob")
    assert client.get(reverse("web:class", args=[cast.class_1a.pk])).status_code == 200


def test_code_from_the_device_secret_completes_enrolment_then_sign_in(client: Client,
                                                                       cast: Cast) -> None:
    set_password(cast.alice)
    sign_in(client, "alice")
    page = client.get(reverse("web:two_factor_enrol"))
    html = page.content.decode()
    assert "<svg" in html
    assert "http" not in html.split("<svg", 1)[1].split("</svg>")[0].replace(
        "http://www.w3.org", "")
    device = TOTPDevice.objects.get(user=cast.alice, confirmed=False)
    shown_secret = page.context["secret"].replace(" ", "")
    assert len(shown_secret) == 32

    wrong = client.post(reverse("web:two_factor_enrol"), {"token": "000000"})
    assert "Mã không đúng" in wrong.content.decode()
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()

    enrol_token = code_for(device)
    done = client.post(reverse("web:two_factor_enrol"), {"token": enrol_token})
    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert client.get(reverse("web:home")).status_code == 302
    assert client.get(reverse("web:school", args=[cast.school_a.pk])).status_code == 200
    assert AuditEvent.objects.filter(action="auth.2fa_enrolled", actor=cast.alice).count() == 1

    client.post(reverse("web:logout"))
    sign_in(client, "alice")
    held = client.get(reverse("web:school", args=[cast.school_a.pk]))
    assert held["Location"].startswith(reverse("web:otp_verify"))
    # The enrolment code cannot be replayed; the next one from the app is accepted.
    # Replay the very token used at enrolment (recomputing it could cross a 30 s time step).
    replay = client.post(reverse("web:otp_verify"), {"token": enrol_token})
    assert replay.status_code == 200
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    accepted = client.post(reverse("web:otp_verify"),
                           {"token": code_for(device, steps_ahead=1), "next": "/"})
    assert accepted.status_code == 302
    assert client.get(reverse("web:school", args=[cast.school_a.pk])).status_code == 200
    assert AuditEvent.objects.filter(action="auth.2fa_verified", actor=cast.alice).exists()


def test_recovery_code_works_once(client: Client, cast: Cast) -> None:
    set_password(cast.alice)
    _, recovery = _enrolled(cast.alice)
    sign_in(client, "alice")
    used = client.post(reverse("web:otp_verify"), {"token": recovery.upper()})
    assert used.status_code == 302
    assert client.get(reverse("web:school", args=[cast.school_a.pk])).status_code == 200
    event = AuditEvent.objects.get(action="auth.recovery_code_used")
    assert event.actor_id == cast.alice.pk
    assert event.data["recovery_codes_left"] == 0

    client.post(reverse("web:logout"))
    sign_in(client, "alice")
    again = client.post(reverse("web:otp_verify"), {"token": recovery})
    assert again.status_code == 200
    assert "Mã không đúng" in again.content.decode()
    assert client.get(reverse("web:home"))["Location"].startswith(reverse("web:otp_verify"))


def test_wrong_codes_count_towards_the_lockout(client: Client, cast: Cast) -> None:
    set_password(cast.alice)
    _enrolled(cast.alice)
    sign_in(client, "alice")
    for n in range(5):
        response = client.post(reverse("web:otp_verify"), {"token": f"wrong{n}"})
    assert response.status_code == 302
    assert not signed_in(client)
    assert AuditEvent.objects.filter(action="auth.2fa_failed").count() == 5
    assert AuditEvent.objects.filter(action="auth.lockout").exists()


def test_it_officer_resets_a_lost_device_and_the_holder_enrols_again(
        client: Client, cast: Cast, ivan: User) -> None:
    set_password(cast.alice)
    _enrolled(cast.alice)
    holder = Client()
    sign_in(holder, "alice")
    client.force_login(ivan)
    response = client.post(reverse("web:account_two_factor_reset", args=[cast.alice.pk]))
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=cast.alice).exists()
    assert not StaticDevice.objects.filter(user=cast.alice).exists()
    assert AuditEvent.objects.filter(action="auth.2fa_reset", actor=ivan,
                                     entity_id=str(cast.alice.pk)).exists()
    assert not signed_in(holder)
    sign_in(holder, "alice")
    assert holder.get(reverse("web:home"))["Location"].startswith(
        reverse("web:two_factor_enrol"))


def test_it_officer_of_another_school_cannot_reset_the_device(client: Client, cast: Cast,
                                                             olga: User) -> None:
    _enrolled(cast.alice)
    client.force_login(olga)
    response = client.post(reverse("web:account_two_factor_reset", args=[cast.alice.pk]))
    assert response.status_code == 404
    assert TOTPDevice.objects.filter(user=cast.alice).count() == 1


def test_enrolment_page_draws_the_qr_code_here(client: Client, cast: Cast) -> None:
    set_password(cast.bob)
    sign_in(client, "bob")
    html = client.get(reverse("web:two_factor_enrol")).content.decode()
    assert re.search(r"<svg[^>]*>", html)
    assert "otpauth" not in html  # the URI is in the picture, not in a link to elsewhere
