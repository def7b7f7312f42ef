"""Supervision screens: scoped to the supervisor's schools, refused to teachers, filters,
keyset pages, unusual access, accounts needing attention; every screen is itself audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.apps import apps
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from edureg.access.roles import Role
from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.audit.services import audit_read, audit_record, audit_verify_chain
from edureg.registry.services import student_update
from tests import factories as f
from tests.conftest import Cast

SCREENS = ["web:supervision", "web:supervision_changes", "web:supervision_reads",
           "web:supervision_denied", "web:supervision_unusual", "web:supervision_accounts"]


@contextmanager
def clock(moment: dt.datetime) -> Iterator[None]:
    """Events appended inside are stamped ``moment`` (the audit service reads timezone.now)."""
    import edureg.audit.services as services

    original = services.timezone.now
    services.timezone.now = lambda: moment  # type: ignore[attr-defined]
    try:
        yield
    finally:
        services.timezone.now = original  # type: ignore[attr-defined]


def _html(client: Client, name: str, **query: object) -> str:
    response = client.get(reverse(name), query)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.parametrize("name", SCREENS)
def test_it_requires_audit_view(client: Client, cast: Cast, name: str) -> None:
    client.force_login(cast.bob)  # homeroom teacher
    assert client.get(reverse(name)).status_code == 403
    client.logout()
    assert client.get(reverse(name)).status_code == 302


@pytest.mark.parametrize("name", SCREENS[1:])
def test_another_schools_filter_is_not_found(client: Client, cast: Cast, name: str) -> None:
    client.force_login(cast.alice)
    assert client.get(reverse(name), {"truong": cast.school_b.pk}).status_code == 404
    assert client.get(reverse(name), {"truong": cast.school_a.pk}).status_code == 200


def test_principal_sees_only_her_schools_changes(client: Client, cast: Cast) -> None:
    student_update(actor=cast.alice, student=cast.an, data={"full_name": "Nguyễn Văn Ân"})
    student_update(actor=cast.dave, student=cast.other_school_student,
                   data={"full_name": "Lê Văn Cường Mới"})
    client.force_login(cast.alice)
    html = _html(client, "web:supervision_changes")
    assert "Nguyễn Văn Ân" in html
    assert "Lê Văn Cường Mới" not in html
    client.force_login(cast.dave)
    html = _html(client, "web:supervision_changes")
    assert "Lê Văn Cường Mới" in html
    assert "Nguyễn Văn Ân" not in html


def test_authority_officer_sees_every_school_of_the_authority(client: Client,
                                                              cast: Cast) -> None:
    student_update(actor=cast.alice, student=cast.an, data={"full_name": "Nguyễn Văn Ân"})
    student_update(actor=cast.dave, student=cast.other_school_student,
                   data={"full_name": "Lê Văn Cường Mới"})
    client.force_login(cast.erin)
    html = _html(client, "web:supervision_changes")
    assert "Nguyễn Văn Ân" in html
    assert "Lê Văn Cường Mới" in html
    html = _html(client, "web:supervision_changes", truong=cast.school_b.pk)
    assert "Nguyễn Văn Ân" not in html


def test_changes_filter_by_person_record_field_and_date(client: Client, cast: Cast) -> None:
    vice = f.make_user("vinh", Role.VICE_PRINCIPAL, cast.school_a)
    student_update(actor=cast.alice, student=cast.an, data={"full_name": "Nguyễn Văn Ân"})
    student_update(actor=vice, student=cast.binh, data={"full_name": "Trần Thị Bình Mới"})
    student_update(actor=vice, student=cast.an, data={"occupation_note": ""} if False else
                   {"phone": "0912345678"})
    client.force_login(cast.alice)

    def changes(**query: object) -> list[int]:
        response = client.get(reverse("web:supervision_changes"), query)
        assert response.status_code == 200
        return [row.seq for row in response.context["rows"]]

    everything = changes()
    assert len(everything) == 3
    by_vice = changes(nguoi="vinh")
    assert len(by_vice) == 2
    assert changes(nguoi="nobody") == []
    an_only = changes(doi_tuong="student", ma=cast.an.pk)
    assert len(an_only) == 2
    assert len(changes(truong_du_lieu="phone")) == 1
    assert len(changes(truong_du_lieu="full_name", nguoi="vinh")) == 1
    today = timezone.localdate()
    assert len(changes(tu_ngay=today.isoformat(), den_ngay=today.isoformat())) == 3
    assert changes(den_ngay=(today - dt.timedelta(days=1)).isoformat()) == []
    assert changes(tu_ngay=(today + dt.timedelta(days=1)).isoformat()) == []


def test_masked_values_stay_masked(client: Client, cast: Cast) -> None:
    student_update(actor=cast.alice, student=cast.an, data={"phone": "0912345678"})
    client.force_login(cast.alice)
    html = _html(client, "web:supervision_changes")
    assert "***" in html
    assert "0912345678" not in html


def test_who_viewed_a_student(client: Client, cast: Cast) -> None:
    client.force_login(cast.bob)
    assert client.get(reverse("web:student", args=[cast.an.pk])).status_code == 200
    assert client.get(reverse("web:class", args=[cast.class_1a.pk])).status_code == 200
    client.force_login(cast.alice)
    detail = client.get(reverse("web:student", args=[cast.an.pk])).content.decode()
    link = f"{reverse('web:supervision_reads')}?doi_tuong=student&amp;ma={cast.an.pk}"
    assert link in detail
    response = client.get(reverse("web:supervision_reads"),
                          {"doi_tuong": "student", "ma": cast.an.pk, "nguoi": "bob"})
    rows = response.context["rows"]
    assert [row.view for row in rows] == ["class_list", "student_detail"]
    assert all(row.actor_username == "bob" for row in rows)
    assert "Nguyễn Văn An" in response.content.decode()
    nobody = client.get(reverse("web:supervision_reads"),
                        {"doi_tuong": "student", "ma": cast.binh.pk, "nguoi": "bob"})
    assert list(nobody.context["rows"]) == []


def test_teacher_has_no_supervision_link_on_the_student_page(client: Client,
                                                             cast: Cast) -> None:
    client.force_login(cast.bob)
    html = client.get(reverse("web:student", args=[cast.an.pk])).content.decode()
    assert reverse("web:supervision_reads") not in html


def test_supervision_screens_are_themselves_audited(client: Client, cast: Cast) -> None:
    client.force_login(cast.alice)
    _html(client, "web:supervision_changes", nguoi="bob", truong_du_lieu="phone")
    event = AuditEvent.objects.filter(action=actions.AUDIT_READ).latest("seq")
    assert event.actor_id == cast.alice.pk
    assert event.school_id == cast.school_a.pk
    assert event.data["view"] == "changes"
    assert event.data["filters"] == {"nguoi": "bob", "truong_du_lieu": "phone"}
    for name in SCREENS[2:]:
        _html(client, name)
    views = list(AuditEvent.objects.filter(action=actions.AUDIT_READ).order_by("seq")
                 .values_list("data", flat=True))
    assert [v["view"] for v in views] == ["changes", "reads", "denied", "unusual", "accounts"]
    # ...and another supervisor can see that the principal looked.
    client.force_login(cast.erin)
    response = client.get(reverse("web:supervision_reads"), {"nguoi": "alice"})
    assert any(row.action == actions.AUDIT_READ for row in response.context["rows"])
    assert audit_verify_chain() is None


def test_pages_are_keyset_pages_by_seq(client: Client, cast: Cast) -> None:
    for n in range(60):
        with transaction.atomic():
            audit_record(actor=cast.alice, action="student.update", entity="student",
                         entity_id=cast.an.pk, school_id=cast.school_a.pk,
                         data={"changes": {"full_name": [f"A{n}", f"B{n}"]}})
    client.force_login(cast.alice)
    first = client.get(reverse("web:supervision_changes"))
    seqs = [row.seq for row in first.context["rows"]]
    assert len(seqs) == 50
    assert seqs == sorted(seqs, reverse=True)
    second = client.get(first.context["next_url"])
    more = [row.seq for row in second.context["rows"]]
    assert len(more) == 10
    assert max(more) < min(seqs)
    assert second.context["next_url"] is None


# Denied access ------------------------------------------------------------------------------

def _denied() -> list[tuple[str | None, str, int]]:
    return [(e.actor_label, e.data["path"], e.data["status"])
            for e in AuditEvent.objects.filter(action=actions.ACCESS_DENIED).order_by("seq")]


def test_web_403_and_out_of_scope_404_are_recorded(client: Client, cast: Cast) -> None:
    client.force_login(cast.bob)
    binh = reverse("web:student", args=[cast.binh.pk])
    assert client.get(binh + "?ten=Tran").status_code == 404  # another class: out of scope
    assert client.get(reverse("web:supervision")).status_code == 403
    assert client.get("/khong-co-trang-nay/").status_code == 404  # no view: not an attempt
    assert _denied() == [("bob", binh, 404), ("bob", reverse("web:supervision"), 403)]
    event = AuditEvent.objects.filter(action=actions.ACCESS_DENIED).first()
    assert event is not None
    assert event.school_id == cast.school_a.pk
    assert "Tran" not in str(event.data)


def test_api_403_and_out_of_scope_404_are_recorded(client: Client, cast: Cast) -> None:
    from edureg.access.models import Membership

    client.force_login(cast.dave)
    url = f"/api/v1/students/{cast.an.pk}"
    assert client.get(url).status_code == 404
    Membership.objects.filter(user=cast.carol).update(role="it_officer")
    client.force_login(cast.carol)
    assert client.get(url).status_code == 403
    assert _denied() == [("dave", url, 404), ("carol", url, 403)]


def test_principal_sees_denied_attempts_of_her_school_only(client: Client, cast: Cast) -> None:
    client.force_login(cast.bob)
    client.get(reverse("web:student", args=[cast.other_school_student.pk]))
    client.force_login(cast.dave)
    client.get(reverse("web:student", args=[cast.an.pk]))
    client.force_login(cast.alice)
    rows = client.get(reverse("web:supervision_denied")).context["rows"]
    assert [(r.actor_username, r.status) for r in rows] == [("bob", 404)]


# Unusual access -----------------------------------------------------------------------------

def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), timezone.get_current_timezone())


def test_unusual_access_is_flagged(client: Client, cast: Cast) -> None:
    day = timezone.localdate() - dt.timedelta(days=1)
    clerk = f.make_user("cuc", Role.RECORDS_CLERK, cast.school_a)
    # Thirty ordinary days for the clerk: ten records a day.
    for back in range(30, 0, -1):
        with clock(_at(day - dt.timedelta(days=back), 10)):
            audit_read(actor=clerk, entity="student", ids=range(10), school_id=cast.school_a.pk)
    with clock(_at(day, 1, 30)):  # bob at night, one record
        audit_read(actor=cast.bob, entity="student", ids=[cast.an.pk],
                   school_id=cast.school_a.pk)
    with clock(_at(day, 9)):  # bob: twelve pupils who are not in his class
        audit_read(actor=cast.bob, entity="student",
                   ids=[cast.binh.pk, *range(10_000, 10_011)], school_id=cast.school_a.pk)
    with clock(_at(day, 10)):  # the clerk: 300 records, thirty times her usual
        audit_read(actor=clerk, entity="student", ids=range(300), school_id=cast.school_a.pk)
    with clock(_at(day, 11)):  # school B's principal: not school A's business
        audit_read(actor=cast.dave, entity="student", ids=range(500),
                   school_id=cast.school_b.pk)
    client.force_login(cast.alice)
    response = client.get(reverse("web:supervision_unusual"), {"ngay": day.isoformat()})
    flagged = sorted((row.actor_username, row.rule.value, row.records)
                     for row in response.context["rows"])
    assert flagged == [("bob", "night", 1), ("bob", "outside_classes", 12),
                       ("cuc", "volume", 300)]
    quiet = client.get(reverse("web:supervision_unusual"),
                       {"ngay": (day - dt.timedelta(days=3)).isoformat()})
    assert list(quiet.context["rows"]) == []


def test_unusual_thresholds_are_settings(client: Client, cast: Cast, settings: object) -> None:
    day = timezone.localdate() - dt.timedelta(days=1)
    with clock(_at(day, 23)):
        audit_read(actor=cast.bob, entity="student", ids=[cast.an.pk],
                   school_id=cast.school_a.pk)
    settings.EDUREG_UNUSUAL_ACCESS = {"night_min_records": 2}  # type: ignore[attr-defined]
    client.force_login(cast.alice)
    response = client.get(reverse("web:supervision_unusual"), {"ngay": day.isoformat()})
    assert list(response.context["rows"]) == []


# Accounts -----------------------------------------------------------------------------------

def test_accounts_needing_attention(client: Client, cast: Cast) -> None:
    old = timezone.now() - dt.timedelta(days=120)
    sleeper = f.make_user("ngu", Role.SUBJECT_TEACHER, cast.school_a)
    type(sleeper).objects.filter(pk=sleeper.pk).update(last_login=old, date_joined=old)
    retired_user = f.make_user("huu", Role.SUBJECT_TEACHER, cast.school_a)
    f.make_staff(cast.school_a, "Trần Văn Hưu", user=retired_user, employment_status_code="05")
    closed = f.make_user("dong", Role.SUBJECT_TEACHER, cast.school_a)
    type(closed).objects.filter(pk=closed.pk).update(is_active=False, last_login=old,
                                                     date_joined=old)
    vice = f.make_user("vinh", Role.VICE_PRINCIPAL, cast.school_a)
    f.make_user("xa", Role.SUBJECT_TEACHER, cast.school_b).__class__.objects.filter(
        username="xa").update(last_login=old, date_joined=old)
    client.force_login(cast.alice)
    attention = client.get(reverse("web:supervision_accounts")).context["attention"]
    assert [row.user.username for row in attention.inactive_enabled] == ["ngu"]
    assert [(row.user.username, row.detail) for row in attention.departed_staff] == [
        ("huu", "Nghỉ hưu")]
    if apps.is_installed("django_otp.plugins.otp_totp"):
        assert attention.two_factor_known
        assert vice.username in [row.user.username for row in attention.without_two_factor]
        assert "bob" not in [row.user.username for row in attention.without_two_factor]
    else:
        assert not attention.two_factor_known
