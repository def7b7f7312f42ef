"""The school-year screens in a real browser, at phone width: the principal goes from the school
page to the year area, opens the next year, confirms the homeroom teacher carried with a class,
marks a pupil as leaving, saves, commits, undoes, commits again, commits the other class and
closes the year, each page fitting the phone's width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from edureg.registry.models import Enrolment
from edureg.schools.models import SchoolYear, SchoolYearStatus
from edureg.yearly.models import ClassProposal, ProposalStatus
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def _fits(page: Any) -> None:
    assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth"), (
        f"{page.url} scrolls sideways on a phone"
    )


def _message(page: Any, text: str) -> None:
    assert page.locator(".message", has_text=text).first.is_visible(), text


@pytest.mark.django_db(transaction=True)
def test_principal_turns_the_year_on_a_phone(
    live_server: Any, browser: Any, screenshot_dir: Path, cast: Cast
) -> None:
    ha = f.make_student(cast.class_1a, "Lê Thị Hà")
    signed_in = Client()
    signed_in.force_login(cast.alice)  # the principal, second factor included
    cookie = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(viewport=PHONE, locale="vi-VN")
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )
    requests: list[str] = []
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))

    page.goto(f"{live_server.url}/truong/{cast.school_a.pk}/")
    page.get_by_role("link", name="Năm học: mở năm mới, lên lớp, khoá năm").click()
    page.wait_for_url(f"**/truong/{cast.school_a.pk}/nam-hoc/")
    assert page.get_by_role("heading", name="Năm học", exact=True).is_visible()
    _fits(page)

    # Open the next year: the carried classes and the homeroom proposal.
    page.get_by_role("button", name="Mở năm học 2027–2028").click()
    page.wait_for_load_state()
    _message(page, "Đã mở năm học 2027–2028")
    assert page.get_by_role("heading", name="Năm học 2027–2028").is_visible()
    assert page.get_by_text("Đề xuất: Phạm Văn Bảo").is_visible()
    assert page.get_by_role("link", name="Lớp 2B", exact=True).is_visible()
    _fits(page)
    page.get_by_role("button", name="Xác nhận giáo viên chủ nhiệm lớp 2A").click()
    page.wait_for_load_state()
    _message(page, "Đã xác nhận Phạm Văn Bảo làm giáo viên chủ nhiệm lớp 2A")
    progress = page.locator("#xac-nhan-dau-nam")
    assert progress.get_by_role("heading", name="Xác nhận dữ liệu đầu năm").is_visible()
    # 2A and 2B carried, 1A and 1B started again for the new intake: none confirmed yet.
    assert "0/4" in progress.locator("dl.stats").inner_text()
    page.screenshot(path=str(screenshot_dir / "yearly-new-year-390.png"), full_page=True)

    # The old year's promotion proposals.
    page.get_by_role("link", name="Năm học 2026–2027").first.click()
    page.wait_for_load_state()
    assert page.get_by_text("Còn 2 lớp chờ chốt.").is_visible()
    page.get_by_role("link", name="Lớp 1A — đề xuất lên lớp").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Lên lớp: lớp 1A").is_visible()
    select = page.get_by_label("Kết quả của Lê Thị Hà")
    assert select.input_value() == "promoted"
    select.select_option(label="Thôi học")
    _fits(page)
    page.screenshot(path=str(screenshot_dir / "yearly-proposal-390.png"), full_page=True)
    page.get_by_role("button", name="Lưu đề xuất").click()
    page.wait_for_load_state()
    _message(page, "Đã lưu đề xuất lên lớp của lớp 1A")
    assert page.get_by_label("Kết quả của Lê Thị Hà").input_value() == "left"

    # Commit, undo, commit again.
    page.get_by_role("button", name="Chốt lên lớp").click()
    page.wait_for_load_state()
    _message(page, "Đã chốt lên lớp lớp 1A: 2 học sinh.")
    stats = page.locator("dl.stats")
    assert "Lên lớp" in stats.inner_text()
    assert "Thôi học" in stats.inner_text()
    assert not Enrolment.objects.filter(student=ha, is_current=True).exists()
    page.screenshot(path=str(screenshot_dir / "yearly-committed-390.png"), full_page=True)
    _fits(page)
    page.get_by_role("button", name="Hoàn tác việc lên lớp").click()
    page.wait_for_load_state()
    _message(page, "Đã hoàn tác việc lên lớp của lớp 1A")
    assert Enrolment.objects.filter(student=ha, is_current=True).exists()
    page.get_by_role("button", name="Chốt lên lớp").click()
    page.wait_for_load_state()
    _message(page, "Đã chốt lên lớp lớp 1A")

    # The other class, then close the year (the box must be ticked).
    page.get_by_role("link", name="Các lớp năm học 2026–2027").click()
    page.wait_for_load_state()
    page.get_by_role("link", name="Lớp 1B — đề xuất lên lớp").click()
    page.wait_for_load_state()
    page.get_by_role("button", name="Chốt lên lớp").click()
    page.wait_for_load_state()
    _message(page, "Đã chốt lên lớp lớp 1B")
    page.get_by_role("link", name="Các lớp năm học 2026–2027").click()
    page.wait_for_load_state()
    page.get_by_role("button", name="Khoá năm học 2026–2027").click()
    page.wait_for_load_state()
    assert page.get_by_text("Hãy đánh dấu ô xác nhận trước khi khoá năm học").first.is_visible()
    page.get_by_label("Tôi đã kiểm tra").check()
    page.get_by_role("button", name="Khoá năm học 2026–2027").click()
    page.wait_for_load_state()
    _message(page, "Đã khoá năm học 2026–2027")
    assert page.get_by_text("Năm học đã khoá: chỉ xem").is_visible()
    _fits(page)
    page.screenshot(path=str(screenshot_dir / "yearly-closed-390.png"), full_page=True)

    year = SchoolYear.objects.get(school=cast.school_a, start_year=2026)
    assert year.status == SchoolYearStatus.CLOSED
    assert set(ClassProposal.objects.values_list("status", flat=True)) == {ProposalStatus.COMMITTED}
    assert requests
    assert all(url.startswith(live_server.url) for url in requests), "a page asked another host"
    context.close()
