"""The report screens in a real browser, at phone width: the authority officer opens a round
from the navigation, compares two schools on the charts page (inline SVG, nothing fetched from
elsewhere); the principal opens the round from the navigation and signs it off. Each page fits
the phone's width."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client

from edureg.quality.models import SignOff
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def _fits(page: Any) -> None:
    assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth"), (
        f"{page.url} scrolls sideways on a phone"
    )


def _page(browser: Any, live_server: Any, user: Any, requests: list[str]) -> Any:
    signed_in = Client()
    signed_in.force_login(user)
    cookie = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(viewport=PHONE, locale="vi-VN")
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    return page


@pytest.mark.django_db(transaction=True)
def test_officer_opens_a_round_and_the_principal_signs_it_off_on_a_phone(
    live_server: Any, browser: Any, screenshot_dir: Path, cast: Cast
) -> None:
    for n in range(6):
        f.make_student(cast.class_1a, f"Học Sinh Nam {n}", sex="M")
        f.make_student(cast.class_b, f"Học Sinh Nữ {n}", sex="F")
    requests: list[str] = []
    page = _page(browser, live_server, cast.erin, requests)
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Báo cáo thống kê").first.click()
    page.wait_for_url("**/bao-cao/")
    page.get_by_label("Tên kỳ báo cáo").fill("Đầu năm học 2026–2027")
    page.get_by_label("Loại kỳ").select_option("dau_nam")
    page.get_by_label("Ngày lấy số liệu").fill("01/10/2026")
    _fits(page)
    page.get_by_role("button", name="Mở kỳ báo cáo").click()
    page.wait_for_load_state()
    assert page.get_by_text("Đã mở kỳ báo cáo «Đầu năm học 2026–2027».").is_visible()
    assert page.get_by_text("0/2", exact=True).is_visible()
    _fits(page)
    page.get_by_role("link", name="Biểu đồ").first.click()
    page.wait_for_load_state()
    page.get_by_label(cast.school_a.name, exact=False).check()
    page.get_by_label(cast.school_b.name, exact=False).check()
    page.get_by_role("button", name="Xem").click()
    page.wait_for_load_state()
    assert page.locator("svg.chart__svg").count() == 2
    _fits(page)
    page.screenshot(path=str(screenshot_dir / "reports-charts-390.png"), full_page=True)

    principal = _page(browser, live_server, cast.alice, requests)
    principal.goto(f"{live_server.url}/bao-cao/")
    principal.get_by_role("link", name=f"Số liệu của {cast.school_a.name}").click()
    principal.wait_for_load_state()
    _fits(principal)
    principal.get_by_role("button", name="Ký xác nhận số liệu của trường").click()
    principal.wait_for_load_state()
    assert principal.get_by_text("Đã ký xác nhận số liệu của trường cho kỳ báo cáo.").is_visible()
    principal.screenshot(path=str(screenshot_dir / "reports-school-round-390.png"), full_page=True)
    assert SignOff.objects.get().round_label == "Đầu năm học 2026–2027"
    own = urlsplit(live_server.url).netloc
    assert {urlsplit(url).netloc for url in requests} == {own}
