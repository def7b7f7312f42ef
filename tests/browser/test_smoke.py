"""A teacher's first minutes: log in, open the class, open a pupil — in a real browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edureg.access.models import User
from tests.conftest import Cast

pytestmark = pytest.mark.browser
PASSWORD = "Lớp-1A-năm-2026"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [375, 1280])
def test_teacher_logs_in_and_reads_the_class_list(live_server: Any, browser: Any,
                                                   screenshot_dir: Path, cast: Cast,
                                                   width: int) -> None:
    bob = User.objects.get(pk=cast.bob.pk)
    bob.set_password(PASSWORD)
    bob.save(update_fields=["password"])
    requests: list[str] = []
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{live_server.url}/")
    page.get_by_label("Tên đăng nhập").fill("bob")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.goto(f"{live_server.url}/lop/{cast.class_1a.pk}/")
    assert page.get_by_text("Nguyễn Văn An").is_visible()
    page.screenshot(path=str(screenshot_dir / f"class-list-{width}.png"), full_page=True)
    page.get_by_text("Nguyễn Văn An").click()
    page.wait_for_url(f"**/hoc-sinh/{cast.an.pk}/")
    assert "Nguyễn Văn An" in page.content()
    page.screenshot(path=str(screenshot_dir / f"student-{width}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert not overflow, "the page scrolls sideways at this width"
    assert all(url.startswith(live_server.url) for url in requests), "a page asked another host"
    page.close()
