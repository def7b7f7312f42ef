"""Sessions: the idle timeout, revocation on password change and deactivation, and the holder's
own list of sessions and sign-in history."""

from __future__ import annotations

import time

from django.test import Client
from django.urls import reverse

from edureg.access.models import User, UserSession
from edureg.access.sessions import LAST_SEEN_KEY, session_key_hash
from edureg.audit.models import AuditEvent
from tests.accounts.conftest import PASSWORD, set_password, sign_in, signed_in
from tests.conftest import Cast

NEW_PASSWORD = "Sen-trắng-giữa-hồ-2027"


def test_idle_session_is_signed_out_with_a_message_on_the_login_page(client: Client,
                                                                      cast: Cast) -> None:
    set_password(cast.bob)
    sign_in(client, "bob")
    class_url = reverse("web:class", args=[cast.class_1a.pk])
    assert client.get(class_url).status_code == 200
    session = client.session
    session[LAST_SEEN_KEY] = time.time() - 31 * 60
    session.save()
    response = client.get(class_url, follow=True)
    assert response.redirect_chain[0][0].startswith(reverse("web:login"))
    assert "không hoạt động quá 30 phút" in response.content.decode()
    assert not signed_in(client)
    logouts = AuditEvent.objects.filter(action="auth.logout", actor=cast.bob)
    assert [event.data["reason"] for event in logouts] == ["idle"]


def test_activity_within_the_limit_keeps_the_session(client: Client, cast: Cast) -> None:
    set_password(cast.bob)
    sign_in(client, "bob")
    session = client.session
    session[LAST_SEEN_KEY] = time.time() - 29 * 60
    session.save()
    assert client.get(reverse("web:class", args=[cast.class_1a.pk])).status_code == 200
    assert client.session[LAST_SEEN_KEY] > time.time() - 60


def test_password_change_ends_the_other_sessions(cast: Cast) -> None:
    set_password(cast.bob)
    here, elsewhere = Client(), Client()
    sign_in(here, "bob")
    sign_in(elsewhere, "bob")
    response = here.post(reverse("web:password_change"), {
        "old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD,
    })
    assert response.status_code == 302
    assert here.get(reverse("web:class", args=[cast.class_1a.pk])).status_code == 200
    assert elsewhere.get(reverse("web:home"))["Location"].startswith(reverse("web:login"))
    assert UserSession.objects.filter(user=cast.bob).count() == 1
    assert AuditEvent.objects.filter(action="auth.password_changed", actor=cast.bob).exists()


def test_changed_password_alone_invalidates_an_old_session(cast: Cast) -> None:
    """Django's session auth hash: even a session row that survives stops working."""
    set_password(cast.bob)
    other = Client()
    sign_in(other, "bob")
    bob = User.objects.get(pk=cast.bob.pk)
    bob.set_password(NEW_PASSWORD)
    bob.save(update_fields=["password"])
    assert other.get(reverse("web:home"))["Location"].startswith(reverse("web:login"))


def test_deactivation_ends_the_accounts_sessions_at_once(client: Client, cast: Cast,
                                                         ivan: User) -> None:
    set_password(cast.bob)
    bob_client = Client()
    sign_in(bob_client, "bob")
    assert bob_client.get(reverse("web:class", args=[cast.class_1a.pk])).status_code == 200
    client.force_login(ivan)
    response = client.post(reverse("web:account_deactivate", args=[cast.bob.pk]),
                           {"reason": "Nghỉ việc"})
    assert response.status_code == 302
    assert bob_client.get(reverse("web:class", args=[cast.class_1a.pk])).status_code == 302
    assert not signed_in(bob_client)
    assert sign_in(bob_client, "bob").status_code == 200
    event = AuditEvent.objects.get(action="account.deactivated")
    assert event.actor_id == ivan.pk
    assert event.data["reason"] == "Nghỉ việc"


def test_inactive_flag_alone_stops_an_existing_session(cast: Cast) -> None:
    set_password(cast.bob)
    other = Client()
    sign_in(other, "bob")
    User.objects.filter(pk=cast.bob.pk).update(is_active=False)
    assert other.get(reverse("web:home"))["Location"].startswith(reverse("web:login"))


def test_own_sessions_list_shows_only_own_and_ending_one_signs_it_out(cast: Cast) -> None:
    set_password(cast.bob)
    set_password(cast.carol)
    laptop, phone, carols = Client(), Client(), Client()
    sign_in(laptop, "bob", HTTP_USER_AGENT="Laptop-Firefox")
    sign_in(phone, "bob", HTTP_USER_AGENT="Phone-Safari")
    sign_in(carols, "carol", HTTP_USER_AGENT="Carol-Chrome")
    page = laptop.get(reverse("web:my_account"))
    html = page.content.decode()
    assert "Laptop-Firefox" in html
    assert "Phone-Safari" in html
    assert "Carol-Chrome" not in html
    assert "Đăng nhập bằng mật khẩu" in html  # the sign-in history
    phone_hash = session_key_hash(phone.session.session_key or "")
    response = laptop.post(reverse("web:session_end", args=[phone_hash]))
    assert response.status_code == 302
    assert not signed_in(phone)
    assert phone.get(reverse("web:home"))["Location"].startswith(reverse("web:login"))
    assert laptop.get(reverse("web:class", args=[cast.class_1a.pk])).status_code == 200

    carol_hash = session_key_hash(carols.session.session_key or "")
    assert laptop.post(reverse("web:session_end", args=[carol_hash])).status_code == 404
    assert carols.get(reverse("web:school", args=[cast.school_a.pk])).status_code == 200


def test_session_row_records_client_and_keeps_no_raw_key_in_pages(cast: Cast) -> None:
    set_password(cast.bob)
    browser = Client()
    sign_in(browser, "bob", HTTP_USER_AGENT="x" * 500, REMOTE_ADDR="198.51.100.4")
    row = UserSession.objects.get(user=cast.bob)
    assert row.ip_address == "198.51.100.4"
    assert len(row.user_agent) == 200
    key = browser.session.session_key or ""
    assert key not in browser.get(reverse("web:my_account")).content.decode()


def test_forged_session_cookie_is_anonymous(client: Client, cast: Cast) -> None:
    client.cookies["sessionid"] = "k" * 32
    response = client.get(reverse("web:class", args=[cast.class_1a.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


def test_replayed_cookie_after_sign_out_is_anonymous(cast: Cast) -> None:
    set_password(cast.bob)
    browser = Client()
    sign_in(browser, "bob")
    stolen = browser.cookies["sessionid"].value
    browser.post(reverse("web:logout"))
    thief = Client()
    thief.cookies["sessionid"] = stolen
    assert thief.get(reverse("web:class", args=[cast.class_1a.pk])).status_code == 302
