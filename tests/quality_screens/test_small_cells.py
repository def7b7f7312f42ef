"""Small-cell suppression on the dashboards: counts of pupils shown to someone outside the
school (the Department officer) are "<5" below the threshold; the school's own staff see them
exactly. School A has 3 pupils (1A: An and Dung, 1B: Bình), school B one (Cường)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.test import Client, override_settings
from django.urls import reverse

from edureg.access.models import Membership
from edureg.access.roles import Role
from tests import factories as f
from tests.conftest import Cast
from tests.quality_screens.conftest import refresh_all

RECORD_CELL = re.compile(r'<td class="num" data-label="Hồ sơ">([^<]*)</td>')
TOTAL = re.compile(r"([^\s>]+) hồ sơ học sinh")


def _html(client: Client, actor: Any, url: str) -> str:
    client.force_login(actor)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _school_url(cast: Cast) -> str:
    return reverse("web:quality_school", args=[cast.school_a.pk])


def test_authority_officer_sees_small_class_counts_as_under_five(client: Client,
                                                                 quality: Cast) -> None:
    html = _html(client, quality.erin, _school_url(quality))
    # Classes 1A and 1B, then their homeroom teacher rows (Bảo: 1A; none: 1B).
    assert RECORD_CELL.findall(html) == ["&lt;5"] * 4
    assert TOTAL.findall(html) == ["&lt;5"]


def test_the_schools_own_staff_see_exact_counts(client: Client, quality: Cast) -> None:
    html = _html(client, quality.alice, _school_url(quality))
    assert RECORD_CELL.findall(html) == ["2", "1", "2", "1"]
    assert TOTAL.findall(html) == ["3"]
    assert "&lt;5" not in html


def test_authority_ranking_suppresses_small_schools(client: Client, quality: Cast) -> None:
    html = _html(client, quality.erin, reverse("web:quality"))
    assert RECORD_CELL.findall(html) == ["&lt;5", "&lt;5"]
    assert TOTAL.findall(html) == ["&lt;5"]


def test_a_count_at_the_threshold_is_shown(client: Client, quality: Cast) -> None:
    for n in range(3):
        f.make_student(quality.class_1a, f"Học Sinh Thêm {n}")
    refresh_all()
    html = _html(client, quality.erin, _school_url(quality))
    assert RECORD_CELL.findall(html) == ["5", "&lt;5", "5", "&lt;5"]
    assert TOTAL.findall(html) == ["6"]


@override_settings(EDUREG_SMALL_CELL_THRESHOLD=2)
def test_the_threshold_is_a_setting(client: Client, quality: Cast) -> None:
    html = _html(client, quality.erin, _school_url(quality))
    assert RECORD_CELL.findall(html) == ["2", "&lt;2", "2", "&lt;2"]


def test_a_principal_who_is_also_an_officer_sees_only_her_school_exactly(
        client: Client, quality: Cast) -> None:
    Membership.objects.create(user=quality.alice, role=Role.AUTHORITY_OFFICER,
                              authority=quality.school_a.authority,
                              starts_on=dt.date(2020, 1, 1))
    client.force_login(quality.alice)
    response = client.get(reverse("web:quality"))
    assert response.status_code == 200
    cells = dict(zip([row.school_id for row in response.context["overview"].ranking.items],
                     RECORD_CELL.findall(response.content.decode()), strict=True))
    assert cells == {quality.school_a.pk: "3", quality.school_b.pk: "&lt;5"}


def test_another_schools_principal_gets_no_dashboard(client: Client, quality: Cast) -> None:
    client.force_login(quality.dave)
    assert client.get(_school_url(quality)).status_code == 404
