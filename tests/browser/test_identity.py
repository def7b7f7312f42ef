"""Identity verification in a real browser, against the register simulator in its own process:
a homeroom teacher verifies a pupil, reads why the register disagrees, corrects the record
from the birth certificate (giving a reason, since the field was checked) and sees the pupil
verified. The task worker's part runs in the test (``job_run``, ``changes_catch_up``)."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edureg.access.models import User
from edureg.identity.models import IdentityState, IdentityStatus, VerificationJob
from edureg.identity.services import changes_catch_up, job_run
from edureg.registry.models import Student
from tests.conftest import Cast
from tests.identity.support import TOKEN, Sim, start_simulator, stop

pytestmark = pytest.mark.browser
PASSWORD = "Lớp-1A-năm-2026"
NUMBER = "079219001234"
REGISTERED_NAME = "Nguyễn Văn Ân"  # as on the birth certificate; the school typed "An"


@pytest.fixture
def sim(tmp_path: Path, settings: Any) -> Iterator[Sim]:
    path = tmp_path / "register.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE person (personal_id_number TEXT NOT NULL, full_name TEXT NOT "
                   "NULL, date_of_birth TEXT NOT NULL, sex TEXT NOT NULL, "
                   "birth_registration_place TEXT NOT NULL)")
        db.execute("CREATE UNIQUE INDEX person_personal_id_number ON person "
                   "(personal_id_number)")
        db.execute("INSERT INTO person VALUES (?, ?, '2019-05-01', 'M', '79')",
                   (NUMBER, REGISTERED_NAME))
    process = start_simulator(path, tmp_path)
    settings.EDUREG_REGISTER_URL = process.url
    settings.EDUREG_REGISTER_TOKEN = TOKEN
    yield process
    stop(process)


def _work() -> None:
    """What the task worker and the scheduler do between two page loads."""
    changes_catch_up()
    for job in VerificationJob.objects.filter(status="running"):
        job_run(job.pk, threads=1)


@pytest.mark.django_db(transaction=True)
def test_teacher_verifies_a_pupil_reads_the_difference_and_corrects_it(
        live_server: Any, browser: Any, screenshot_dir: Path, cast: Cast, sim: Sim) -> None:
    Student.objects.filter(pk=cast.an.pk).update(personal_id_number=NUMBER,
                                                 date_of_birth=dt.date(2019, 5, 1))
    bob = User.objects.get(pk=cast.bob.pk)
    bob.set_password(PASSWORD)
    bob.save(update_fields=["password"])
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{live_server.url}/")
    page.get_by_label("Tên đăng nhập").fill("bob")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    pupil = f"{live_server.url}/hoc-sinh/{cast.an.pk}/"
    page.goto(pupil)
    page.get_by_role("button", name="Xác thực ngay").click()
    page.wait_for_url(re.compile(rf"/hoc-sinh/{cast.an.pk}/"))
    assert "Đã gửi yêu cầu xác thực" in page.content()

    _work()
    page.goto(pupil)
    panel = page.locator("#xac-thuc")
    assert "Sai lệch" in panel.inner_text()
    assert f"CSDL dân cư ghi «{REGISTERED_NAME}»" in panel.inner_text()
    page.screenshot(path=str(screenshot_dir / "identity-mismatch.png"), full_page=True)

    page.goto(f"{live_server.url}/truong/{cast.school_a.pk}/xac-thuc/")
    row = page.locator("tr", has_text="Nguyễn Văn An")
    assert f"CSDL dân cư ghi «{REGISTERED_NAME}»" in row.inner_text()
    row.get_by_role("link", name="Sửa hồ sơ").click()
    page.wait_for_url(re.compile(rf"/hoc-sinh/{cast.an.pk}/sua/"))
    page.locator("#id_full_name").fill(REGISTERED_NAME)
    page.get_by_role("button", name="Lưu thay đổi").click()
    page.wait_for_url(re.compile(rf"/hoc-sinh/{cast.an.pk}/(#.*)?$"))

    _work()
    page.goto(pupil)
    assert "Đã xác thực" in page.locator("#xac-thuc").inner_text()
    state = IdentityState.objects.get(entity="student", record_id=cast.an.pk)
    assert (state.status, state.answers) == (IdentityStatus.VERIFIED, 2)

    # Verified now: changing the name again needs a reason, and nothing is saved without one.
    page.goto(f"{pupil}sua/")
    page.locator("#id_full_name").fill("Nguyễn Văn Ấn")
    page.get_by_role("button", name="Lưu thay đổi").click()
    assert "hãy ghi lý do" in page.content()
    assert Student.objects.get(pk=cast.an.pk).full_name == REGISTERED_NAME
    assert all(url.startswith(live_server.url) for url in requests), "a page asked another host"
    page.close()
