"""Account management by a school's IT officer: list, create for a staff member, reset with a
forced change, deactivate, grant a role. Other schools' accounts are not found (404); roles
without the permission are refused (403). Staff who no longer work are deactivated."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from edureg.access.models import Membership, User
from edureg.access.roles import Role
from edureg.audit.models import AuditEvent
from edureg.registry.accounts import (
    deactivate_inactive_staff_accounts,
    staff_accounts_deactivate_inactive,
)
from edureg.registry.models import Staff
from tests import factories as f
from tests.accounts.conftest import PASSWORD, set_password, sign_in
from tests.conftest import Cast

NEW_PASSWORD = "Sen-trắng-giữa-hồ-2027"


def test_it_officer_lists_the_accounts_of_their_school(client: Client, cast: Cast,
                                                       ivan: User) -> None:
    client.force_login(ivan)
    response = client.get(reverse("web:accounts", args=[cast.school_a.pk]))
    assert response.status_code == 200
    listed = {user.username for user, _ in response.context["rows"]}
    assert {"alice", "bob", "carol", "ivan"} <= listed
    assert "dave" not in listed
    assert "erin" not in listed
    read = AuditEvent.objects.filter(action="user.read", actor=ivan).last()
    assert read is not None
    assert str(cast.bob.pk) in read.data["ids"]


def test_it_officer_creates_an_individual_account_for_a_staff_member(
        client: Client, cast: Cast, ivan: User) -> None:
    lan = f.make_staff(cast.school_a, "Nguyễn Thị Lan", email="lan@example.edu.vn")
    client.force_login(ivan)
    form = client.get(reverse("web:account_create", args=[lan.pk]))
    assert form.context["form"].initial["username"] == "lannt"
    shown = client.post(reverse("web:account_create", args=[lan.pk]),
                        {"username": "lannt", "role": Role.SUBJECT_TEACHER.value})
    assert shown.status_code == 200
    password = shown.context["password"]
    assert password in shown.content.decode()
    assert shown["Cache-Control"].startswith("max-age=0")
    lan.refresh_from_db()
    account = User.objects.get(username="lannt")
    assert lan.user == account
    assert account.must_change_password
    assert account.check_password(password)
    assert Membership.objects.get(user=account).role == Role.SUBJECT_TEACHER
    created = AuditEvent.objects.get(action="account.created")
    assert created.actor_id == ivan.pk
    assert created.data["staff_id"] == lan.pk
    assert password not in str(created.data)
    # One account per person: a second attempt goes to the existing account.
    again = client.get(reverse("web:account_create", args=[lan.pk]))
    assert again.status_code == 302
    assert User.objects.filter(full_name="Nguyễn Thị Lan").count() == 1


def test_account_creation_refuses_taken_names_and_authority_roles(client: Client, cast: Cast,
                                                                  ivan: User) -> None:
    lan = f.make_staff(cast.school_a, "Nguyễn Thị Lan")
    client.force_login(ivan)
    taken = client.post(reverse("web:account_create", args=[lan.pk]),
                        {"username": "bob", "role": Role.SUBJECT_TEACHER.value})
    assert "đã được dùng" in taken.content.decode()
    authority = client.post(reverse("web:account_create", args=[lan.pk]),
                            {"username": "lannt", "role": Role.AUTHORITY_OFFICER.value})
    assert authority.status_code == 200
    too_long = client.post(reverse("web:account_create", args=[lan.pk]),
                           {"username": "l" * 500, "role": Role.SUBJECT_TEACHER.value})
    assert "tối đa" in too_long.content.decode()
    assert not User.objects.filter(full_name="Nguyễn Thị Lan").exists()


def test_reset_password_forces_a_change_at_next_sign_in(client: Client, cast: Cast,
                                                        ivan: User) -> None:
    client.force_login(ivan)
    shown = client.post(reverse("web:account_password_reset", args=[cast.bob.pk]))
    temporary = shown.context["password"]
    assert AuditEvent.objects.filter(action="auth.password_reset", actor=ivan).exists()

    bob = Client()
    assert sign_in(bob, "bob", temporary).status_code == 302
    held = bob.get(reverse("web:class", args=[cast.class_1a.pk]))
    assert held["Location"].startswith(reverse("web:password_change"))
    page = bob.get(reverse("web:password_change"))
    assert "do người khác đặt" in page.content.decode()
    changed = bob.post(reverse("web:password_change"), {
        "old_password": temporary, "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD})
    assert changed.status_code == 302
    assert bob.get(reverse("web:class", args=[cast.class_1a.pk])).status_code == 200
    assert not User.objects.get(pk=cast.bob.pk).must_change_password


@pytest.mark.parametrize(("new_password", "message"), [
    ("1234567890123", "hoàn toàn là số"),
    ("ngan-qua", "quá ngắn"),
    ("password123", "quá phổ biến"),
    ("pham.van.bao@truong", "quá giống"),
    ("x" * 300, "tối đa 128"),
])
def test_password_rules_speak_vietnamese_and_change_nothing(client: Client, cast: Cast,
                                                            new_password: str,
                                                            message: str) -> None:
    set_password(cast.bob)
    User.objects.filter(pk=cast.bob.pk).update(email="pham.van.bao@truong.edu.vn")
    sign_in(client, "bob")
    response = client.post(reverse("web:password_change"), {
        "old_password": PASSWORD, "new_password1": new_password,
        "new_password2": new_password})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert User.objects.get(pk=cast.bob.pk).check_password(PASSWORD)


def test_it_officer_of_another_school_finds_nothing(client: Client, cast: Cast,
                                                    olga: User) -> None:
    set_password(cast.bob)
    client.force_login(olga)
    assert client.get(reverse("web:accounts", args=[cast.school_a.pk])).status_code == 404
    assert client.get(reverse("web:account", args=[cast.bob.pk])).status_code == 404
    staff = Staff.objects.get(user=cast.carol)
    assert client.get(reverse("web:account_create", args=[staff.pk])).status_code == 404
    for name in ("account_password_reset", "account_deactivate", "account_reactivate",
                 "account_membership_grant"):
        assert client.post(reverse(f"web:{name}", args=[cast.bob.pk])).status_code == 404, name
    bob = User.objects.get(pk=cast.bob.pk)
    assert bob.is_active
    assert bob.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action__startswith="account.", actor=olga).exists()


def test_teacher_cannot_manage_accounts(client: Client, cast: Cast) -> None:
    client.force_login(cast.bob)
    assert client.get(reverse("web:accounts", args=[cast.school_a.pk])).status_code == 403
    assert client.get(reverse("web:account", args=[cast.carol.pk])).status_code == 403
    response = client.post(reverse("web:account_password_reset", args=[cast.carol.pk]))
    assert response.status_code == 403
    assert "Bạn không có quyền" in response.content.decode()


def test_missing_account_id_is_not_found(client: Client, cast: Cast, ivan: User) -> None:
    client.force_login(ivan)
    assert client.get(reverse("web:account", args=[999_999])).status_code == 404
    assert client.post(reverse("web:account_deactivate", args=[999_999])).status_code == 404


def test_it_officer_grants_a_role_at_their_school_only(client: Client, cast: Cast,
                                                       ivan: User) -> None:
    client.force_login(ivan)
    granted = client.post(reverse("web:account_membership_grant", args=[cast.carol.pk]),
                          {"school": cast.school_a.pk, "role": Role.HOMEROOM_TEACHER.value})
    assert granted.status_code == 302
    assert Membership.objects.filter(user=cast.carol, role=Role.HOMEROOM_TEACHER).exists()
    elsewhere = client.post(reverse("web:account_membership_grant", args=[cast.carol.pk]),
                            {"school": cast.school_b.pk, "role": Role.PRINCIPAL.value})
    assert elsewhere.status_code == 302
    assert not Membership.objects.filter(user=cast.carol, school=cast.school_b).exists()
    assert AuditEvent.objects.filter(action="membership.granted").count() == 1


def test_it_officer_reactivates_an_account(client: Client, cast: Cast, ivan: User) -> None:
    client.force_login(ivan)
    client.post(reverse("web:account_deactivate", args=[cast.bob.pk]), {"reason": ""})
    assert not User.objects.get(pk=cast.bob.pk).is_active
    client.post(reverse("web:account_reactivate", args=[cast.bob.pk]))
    assert User.objects.get(pk=cast.bob.pk).is_active
    assert AuditEvent.objects.filter(action="account.reactivated", actor=ivan).exists()


def test_it_officer_cannot_lock_themselves_out(client: Client, cast: Cast,
                                               ivan: User) -> None:
    client.force_login(ivan)
    client.post(reverse("web:account_deactivate", args=[ivan.pk]), {"reason": ""})
    assert User.objects.get(pk=ivan.pk).is_active


def test_staff_no_longer_employed_are_deactivated(cast: Cast) -> None:
    set_password(cast.bob)
    bob_client = Client()
    sign_in(bob_client, "bob")
    Staff.objects.filter(user=cast.bob).update(employment_status_code="05")  # retired
    Staff.objects.filter(user=cast.carol).update(employment_status_code="02")  # on leave
    out = StringIO()
    call_command("accounts", "deactivate-inactive", stdout=out)
    assert "1 tài khoản" in out.getvalue()
    assert not User.objects.get(pk=cast.bob.pk).is_active
    assert User.objects.get(pk=cast.carol.pk).is_active
    assert bob_client.get(reverse("web:home")).status_code != 200
    event = AuditEvent.objects.get(action="account.deactivated")
    assert event.actor_id is None
    assert event.data["reason"] == "employment_status"
    assert event.data["employment_status_code"] == "05"
    assert staff_accounts_deactivate_inactive() == []  # nothing left to do


def test_deactivation_runs_as_a_background_task(cast: Cast) -> None:
    Staff.objects.filter(user=cast.bob).update(employment_status_code="04")  # moved away
    assert deactivate_inactive_staff_accounts.call() == 1
    assert not User.objects.get(pk=cast.bob.pk).is_active


def test_it_officer_cannot_manage_a_leaver_who_now_works_at_another_school(
        client: Client, cast: Cast, ivan: User) -> None:
    moved = User.objects.create(username="moved")
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    Membership.objects.create(user=moved, role=Role.SUBJECT_TEACHER,
                              authority=cast.school_a.authority, school=cast.school_a,
                              starts_on=dt.date(2020, 1, 1), ends_on=yesterday)
    client.force_login(ivan)
    url = reverse("web:account_password_reset", args=[moved.pk])
    # A leaver with no current post: still found, so that the account can be closed.
    assert client.get(reverse("web:account", args=[moved.pk])).status_code == 200
    Membership.objects.create(user=moved, role=Role.PRINCIPAL,
                              authority=cast.school_b.authority, school=cast.school_b,
                              starts_on=timezone.localdate())
    # Now principal of school B: school A's IT officer no longer reaches the account.
    assert client.post(url).status_code == 404
    assert not AuditEvent.objects.filter(action="auth.password_reset", actor=ivan).exists()
