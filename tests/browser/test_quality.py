"""The quality screens in a real browser: a homeroom teacher works through the to-do (link →
field → fix → gone), and the principal's dashboard draws its charts on a phone."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from edureg.access.models import User
from edureg.registry.attestation import snapshots_take
from edureg.registry.models import Student
from tests.conftest import Cast
from tests.quality_screens.conftest import WELL_FILLED, plant_problems, refresh_all

pytestmark = pytest.mark.browser
PASSWORD = "Lớp-1A-năm-2026"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def quality(cast: Cast) -> Cast:
    return plant_problems(cast)


def _no_other_host(requests: list[str], live_server: Any) -> None:
    assert requests
    assert all(url.startswith(live_server.url) for url in requests), "a page asked another host"


@pytest.mark.django_db(transaction=True)
def test_teacher_follows_a_todo_item_to_the_field_and_fixes_it(
        live_server: Any, browser: Any, screenshot_dir: Path, quality: Cast) -> None:
    bob = User.objects.get(pk=quality.bob.pk)
    bob.set_password(PASSWORD)
    bob.save(update_fields=["password"])
    requests: list[str] = []
    page = browser.new_page(viewport=PHONE)
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{live_server.url}/")
    page.get_by_label("Tên đăng nhập").fill("bob")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.get_by_role("link", name="Việc cần làm").first.click()
    page.wait_for_url("**/viec-can-lam/")
    fix = f"/hoc-sinh/{quality.an.pk}/sua/#id_phone"
    link = page.locator(f'a[href="{fix}"]').filter(has_text="Số điện thoại là số giả")
    assert link.count() == 1
    page.screenshot(path=str(screenshot_dir / "quality-todo-390.png"), full_page=True)
    link.click()
    page.wait_for_url(f"**{fix}")
    field = page.locator("#id_phone")
    assert field.is_visible()
    assert field.input_value() == "0000000000"
    field.fill("0903127845")
    page.get_by_role("button", name="Lưu thay đổi").click()
    # The redirect to the pupil's page keeps the fragment, as browsers do.
    page.wait_for_url(re.compile(rf"/hoc-sinh/{quality.an.pk}/(#.*)?$"))
    assert "Đã lưu thay đổi" in page.content()
    page.goto(f"{live_server.url}/viec-can-lam/")
    assert page.locator(f'a[href="{fix}"]').count() == 0
    assert page.locator(f'a[href="/hoc-sinh/{quality.an.pk}/sua/#id_ethnicity_code"]').count() == 1
    assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    _no_other_host(requests, live_server)
    page.close()


@pytest.mark.django_db(transaction=True)
def test_principal_dashboard_draws_its_charts_on_a_phone(
        live_server: Any, browser: Any, screenshot_dir: Path, quality: Cast) -> None:
    today = timezone.localdate()
    snapshots_take(day=today - dt.timedelta(days=12))
    Student.objects.filter(pk=quality.binh.pk).update(**WELL_FILLED | {
        "personal_id_number": "079319009876"})
    refresh_all()
    snapshots_take(day=today - dt.timedelta(days=5))
    snapshots_take(day=today)
    signed_in = Client()
    signed_in.force_login(quality.alice)  # the principal, second factor included
    cookie = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(viewport=PHONE, locale="vi-VN")
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie,
                          "url": live_server.url}])
    requests: list[str] = []
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{live_server.url}/truong/{quality.school_a.pk}/chat-luong/")
    assert page.get_by_role("heading", name="Chất lượng dữ liệu học sinh").is_visible()
    bars = page.locator("svg.chart__svg--bars")
    trend = page.locator("figure.chart--trend svg.chart__svg")
    assert bars.is_visible()
    assert trend.is_visible()
    assert trend.locator("polyline").count() == 4
    for chart in (bars, trend):
        box = chart.bounding_box()
        assert 280 < box["width"] <= PHONE["width"]
        assert chart.get_attribute("role") == "img"
        assert "%" in (chart.get_attribute("aria-label") or "")
    label = page.locator(".chart__label").first.bounding_box()
    tick = page.locator(".chart__tick").first.bounding_box()
    assert label["height"] >= 12, "chart text too small on a phone"
    assert tick["height"] >= 11, "chart text too small on a phone"
    assert page.get_by_text("66,7%").first.is_visible()  # Vietnamese decimal comma
    page.get_by_text("Xem số liệu dạng bảng").click()
    # Two tables: the four scores, and the duplicate pairs by where they stand.
    assert page.get_by_role("rowheader", name=today.strftime("%d/%m/%Y")).first.is_visible()
    assert page.get_by_text("Hồ sơ nghi trùng (cặp)").is_visible()
    page.screenshot(path=str(screenshot_dir / "quality-dashboard-390.png"), full_page=True)
    assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth"), \
        "the dashboard scrolls sideways on a phone"
    _no_other_host(requests, live_server)
    context.close()
