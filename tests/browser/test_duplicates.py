"""The duplicate review queue in a real browser: the principal opens it from the school page,
reads the pair side by side and merges it, and is back on the (now empty) queue."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from edureg.dedupe.models import DuplicatePair
from edureg.registry.models import Student
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_principal_merges_a_pair_from_the_queue(live_server: Any, browser: Any,
                                                screenshot_dir: Path, cast: Cast) -> None:
    twin = f.make_student(cast.class_1b, "Nguyen Van An", sex="M")
    DuplicatePair.objects.create(
        entity="student", left_id=cast.an.pk, right_id=twin.pk,
        left_school_id=cast.school_a.pk, right_school_id=cast.school_a.pk,
        match_probability=0.96, explanation="agreed: given, middle, family, dob, sex",
        found_at=timezone.now())
    signed_in = Client()
    signed_in.force_login(cast.alice)  # the principal, second factor included
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                          "value": signed_in.cookies[settings.SESSION_COOKIE_NAME].value,
                          "url": live_server.url}])
    page = context.new_page()
    page.goto(f"{live_server.url}/truong/{cast.school_a.pk}/")
    page.get_by_role("link", name=re.compile("Hồ sơ nghi trùng")).click()
    page.wait_for_url(re.compile(r"/trung-lap/"))
    card = page.locator(".duplicate-pair")
    assert "Khả năng trùng 96 %" in card.inner_text()
    assert card.get_by_role("cell", name="Nguyễn Văn An").count() + card.get_by_role(
        "link", name="Nguyễn Văn An").count() >= 1
    card.locator("summary", has_text="Gộp hai hồ sơ").click()
    card.get_by_label("Lý do gộp (bắt buộc)").fill("Cùng giấy khai sinh số 12/2019")
    page.screenshot(path=str(screenshot_dir / "duplicates-queue.png"), full_page=True)
    with page.expect_navigation():
        card.get_by_role("button", name="Gộp", exact=True).click()
    assert "Đã gộp hai hồ sơ" in page.content()  # back on the queue, now empty
    assert page.get_by_text("Không có cặp hồ sơ nghi trùng nào chờ xem xét.").is_visible()
    assert Student.objects.get(pk=twin.pk).merged_into_id == cast.an.pk
    context.close()
