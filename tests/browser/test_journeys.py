"""Seven journeys through the real UI, one per job, in headless chromium (issue 12, part 1).

Each journey clicks and types its way through the screens a person in that job uses, asserts
what it changed in the database, saves its key screen to the artefacts directory
(``artefacts_dir``), checks the Vietnamese text of that screen renders with its diacritics from
real glyphs (no "tofu"), and checks the key screen fits a phone (375 × 740) without scrolling
sideways.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import unicodedata
import zipfile
from html import escape
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tasks_db.models import DBTaskResult

from edureg.access.models import Membership, User
from edureg.access.roles import Role
from edureg.audit.models import AuditEvent
from edureg.dedupe.models import DuplicatePair, PairStatus
from edureg.identity.models import IdentityState, IdentityStatus, QueueStatus
from edureg.intake.models import IntakeRun, RunStatus
from edureg.privacy.models import ConsentState, ConsentStatus, PolicyAcknowledgement
from edureg.privacy.policy import policy_in_force
from edureg.privacy.portal import portal_codes_send
from edureg.privacy.purposes import purposes_in_force
from edureg.privacy.services import ConsentGiven, consent_give
from edureg.quality.models import SignOff
from edureg.registry.models import Enrolment, SchoolClass, Student
from edureg.schools.models import SchoolYear
from tests import factories as f
from tests.conftest import Cast
from tests.intake.conftest import pupil, xlsx
from tests.quality_screens.conftest import WELL_FILLED, refresh_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 740}
DESK = {"width": 1280, "height": 900}
PASSWORD = "Lớp-1A-năm-2026"

# Draws each non-ASCII letter of ``text`` in the element's own font and compares it with what
# the font draws for a code point no font has (U+10FFFD): a letter drawn the same, or not drawn
# at all, is tofu.
_TOFU_SCRIPT = """([element, text]) => {
  const style = getComputedStyle(element);
  const canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 64;
  const context = canvas.getContext("2d", {willReadFrequently: true});
  const draw = (letter) => {
    context.clearRect(0, 0, 64, 64);
    context.font = `${style.fontStyle} ${style.fontWeight} 40px ${style.fontFamily}`;
    context.textBaseline = "top";
    context.fillStyle = "#000";
    context.fillText(letter, 8, 8);
    return context.getImageData(0, 0, 64, 64).data;
  };
  const missing = draw(String.fromCodePoint(0x10FFFD));
  const same = (a, b) => a.every((value, index) => value === b[index]);
  const blank = (a) => a.every((value) => value === 0);
  const letters = [...new Set([...text].filter((letter) => letter.codePointAt(0) > 127
                                                         && letter.trim()))];
  return {family: style.fontFamily,
          tofu: letters.filter((letter) => { const d = draw(letter);
                                             return blank(d) || same(d, missing); })};
}"""


# The innermost elements that reach past the right edge, to say what makes a page too wide.
_WIDE_SCRIPT = """() => {
  const edge = document.documentElement.clientWidth + 1;
  const wide = [...document.querySelectorAll("body *")].filter(
    (e) => e.getBoundingClientRect().right > edge
           && ![...e.children].some((c) => c.getBoundingClientRect().right > edge));
  return wide.slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className} `
    + `«${e.textContent.trim().slice(0, 40)}»: ${Math.round(e.getBoundingClientRect().right)}px`);
}"""


def _fits(page: Any) -> None:
    """No sideways scrolling at the page's current width."""
    sizes = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    if sizes[0] > sizes[1] + 1:
        wide = page.evaluate(_WIDE_SCRIPT)
        pytest.fail(f"{page.url} scrolls sideways ({sizes[0]} > {sizes[1]}): {wide}")


def _vietnamese(locator: Any, text: str) -> None:
    """``locator`` shows ``text`` exactly (precomposed diacritics, as typed here) and every
    letter of it is drawn from a glyph of the page's font."""
    shown = locator.inner_text()
    assert text in shown, f"{text!r} not in {shown!r}"
    assert unicodedata.is_normalized("NFC", shown)
    drawn = locator.page.evaluate(_TOFU_SCRIPT, [locator.element_handle(), text])
    assert drawn["tofu"] == [], f"no glyph in {drawn['family']} for {drawn['tofu']}"


def _on_phone(page: Any, artefacts: Path, name: str) -> None:
    """The key screen: saved at desk width, then checked and saved at phone width."""
    page.screenshot(path=str(artefacts / f"{name}.png"), full_page=True)
    page.set_viewport_size(PHONE)
    _fits(page)
    page.screenshot(path=str(artefacts / f"{name}-375.png"), full_page=True)


def _message(page: Any, text: str) -> None:
    assert page.locator(".message", has_text=text).first.is_visible(), text


def _sign_in(page: Any, live_server: Any, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_load_state()


def _with_password(user: User) -> User:
    user = User.objects.get(pk=user.pk)
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


def _acknowledged(user: User) -> User:
    PolicyAcknowledgement.objects.create(
        user=user, policy_version=policy_in_force().version, acknowledged_at=timezone.now()
    )
    return user


def _scores(page: Any) -> dict[str, float]:
    """The percentages of a quality page's score block, by label ("87,5%" → 87.5)."""
    shown = {
        stat.locator("dt").inner_text(): stat.locator("dd").inner_text()
        for stat in page.locator("dl.scores .stat").all()
    }
    return {
        label: float(value.rstrip("%").replace(",", "."))
        for label, value in shown.items()
        if value.endswith("%")
    }


# --- 1. Homeroom teacher ------------------------------------------------------------------------


def test_homeroom_teacher_completes_missing_fields_from_the_todo_and_the_score_rises(
    live_server: Any, browser: Any, artefacts_dir: Path, cast: Cast
) -> None:
    missing = ("ethnicity_code", "birthplace_text")
    Student.objects.filter(pk=cast.an.pk).update(
        **{k: v for k, v in WELL_FILLED.items() if k not in missing}
    )
    refresh_all()
    _with_password(cast.bob)
    context = browser.new_context(viewport=PHONE, locale="vi-VN")
    page = context.new_page()
    _sign_in(page, live_server, "bob", PASSWORD)

    # The class's scores before.
    page.goto(f"{live_server.url}/lop/{cast.class_1a.pk}/")
    page.get_by_role("link", name="Chất lượng dữ liệu của lớp").click()
    page.wait_for_url(f"**/lop/{cast.class_1a.pk}/chat-luong/")
    before = _scores(page)
    assert before["Đủ"] == 0
    assert before["Trường bắt buộc đã điền"] < 100
    pupil_row = page.get_by_role("row").filter(has_text="Nguyễn Văn An")
    assert "14/16" in pupil_row.inner_text()

    page.get_by_role("link", name="Việc cần làm").first.click()
    page.wait_for_url("**/viec-can-lam/")
    _vietnamese(page.get_by_role("heading", level=1), "Việc cần làm")
    _vietnamese(page.locator(".todo-list"), "Chưa có «Dân tộc»: hãy bổ sung theo hồ sơ.")
    _fits(page)
    page.screenshot(path=str(artefacts_dir / "journey1-todo-375.png"), full_page=True)
    page.locator(".todo__link", has_text="Chưa có «Dân tộc»").click()
    page.wait_for_url(re.compile(rf"/hoc-sinh/{cast.an.pk}/sua/#id_ethnicity_code$"))
    page.locator("#id_ethnicity_code").select_option("01")  # Kinh
    page.locator("#id_birthplace_text").fill("Bệnh viện Hùng Vương, Thành phố Hồ Chí Minh")
    page.get_by_role("button", name="Lưu thay đổi").click()
    page.wait_for_url(re.compile(rf"/hoc-sinh/{cast.an.pk}/(#.*)?$"))
    _message(page, "Đã lưu thay đổi")

    page.get_by_role("link", name="Việc cần làm").first.click()
    page.wait_for_url("**/viec-can-lam/")
    mine = page.locator(".todo__link", has_text="Nguyễn Văn An")
    assert mine.filter(has_text="Chưa có").count() == 0, mine.all_inner_texts()
    page.goto(f"{live_server.url}/lop/{cast.class_1a.pk}/chat-luong/")
    after = _scores(page)
    assert after["Đủ"] == 100
    assert after["Trường bắt buộc đã điền"] == 100
    assert "16/16" in page.get_by_role("row").filter(has_text="Nguyễn Văn An").inner_text()
    _vietnamese(page.get_by_role("heading", level=1), "Chất lượng dữ liệu lớp 1A")
    _fits(page)
    page.screenshot(path=str(artefacts_dir / "journey1-class-score-375.png"), full_page=True)
    an = Student.objects.get(pk=cast.an.pk)
    assert (an.ethnicity_code, an.birthplace_text) == (
        "01",
        "Bệnh viện Hùng Vương, Thành phố Hồ Chí Minh",
    )
    context.close()


# --- 2. Principal -------------------------------------------------------------------------------


def test_principal_enrols_in_two_factor_reviews_dashboard_and_reads_then_signs_off(
    live_server: Any, browser: Any, artefacts_dir: Path, cast: Cast
) -> None:
    teacher = Client()
    teacher.force_login(cast.bob)
    assert teacher.get(f"/hoc-sinh/{cast.an.pk}/").status_code == 200  # Bob reads An's record
    refresh_all()
    _with_password(cast.alice)
    assert not TOTPDevice.objects.filter(user=cast.alice).exists()
    context = browser.new_context(viewport=DESK, locale="vi-VN")
    page = context.new_page()
    _sign_in(page, live_server, "alice", PASSWORD)

    # The role requires a second factor: the enrolment page comes first.
    page.wait_for_url("**/tai-khoan/xac-thuc-hai-buoc/**")
    _vietnamese(page.get_by_role("heading", level=1), "Cài đặt xác thực hai bước")
    assert page.locator(".qr svg").is_visible()
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    device = TOTPDevice.objects.get(user=cast.alice, confirmed=False)
    assert base64.b32decode(secret) == device.bin_key
    code = TOTP(
        base64.b32decode(secret), step=device.step, t0=device.t0, digits=device.digits
    ).token()
    page.get_by_label("Mã xác thực").fill(f"{code:0{device.digits}d}")
    page.get_by_role("button", name="Xác nhận và bật").click()
    page.wait_for_load_state()
    _message(page, "Đã bật xác thực hai bước cho tài khoản của bạn.")
    assert page.locator(".recovery-codes li").count() == 10
    assert TOTPDevice.objects.get(user=cast.alice).confirmed
    page.get_by_role("link", name="Tôi đã lưu các mã, tiếp tục").click()
    page.wait_for_load_state()

    # The dashboard, from the school page (home, for a principal of one school).
    page.wait_for_url(f"**/truong/{cast.school_a.pk}/")
    page.get_by_role("link", name="Chất lượng dữ liệu của trường").click()
    page.wait_for_url(f"**/truong/{cast.school_a.pk}/chat-luong/")
    heading = page.get_by_role("heading", name="Chất lượng dữ liệu học sinh")
    _vietnamese(heading, "Chất lượng dữ liệu học sinh")
    assert page.locator("svg.chart__svg--bars").is_visible()
    _on_phone(page, artefacts_dir, "journey2-dashboard")
    page.set_viewport_size(DESK)

    # Who viewed An: from the pupil's own page.
    page.goto(f"{live_server.url}/lop/{cast.class_1a.pk}/")
    page.get_by_role("link", name="Nguyễn Văn An").click()
    page.wait_for_url(f"**/hoc-sinh/{cast.an.pk}/")
    page.get_by_role("link", name="Ai đã xem hồ sơ này").click()
    page.wait_for_url("**/giam-sat/luot-xem/**")
    _vietnamese(page.get_by_role("heading", level=1), "Ai đã xem hồ sơ nào")
    row = page.locator("table.audit-table tbody tr").filter(has_text="bob")
    assert row.count() >= 1
    row.first.locator("summary").click()
    assert row.first.get_by_role("link", name="Nguyễn Văn An").is_visible()
    page.set_viewport_size(PHONE)
    _fits(page)
    page.screenshot(path=str(artefacts_dir / "journey2-who-viewed-375.png"), full_page=True)
    page.set_viewport_size(DESK)

    # Sign off the round on the dashboard.
    page.goto(f"{live_server.url}/truong/{cast.school_a.pk}/chat-luong/")
    page.get_by_role("textbox", name="Kỳ báo cáo", exact=True).fill("Đầu năm học 2026–2027")
    page.get_by_role("textbox", name="Ghi chú", exact=True).fill(
        "Đã rà soát cùng giáo viên chủ nhiệm"
    )
    page.get_by_role("button", name="Ký xác nhận").click()
    page.wait_for_load_state()
    _message(page, "Đã ký xác nhận số liệu kỳ «Đầu năm học 2026–2027».")
    signed = SignOff.objects.get(school_id=cast.school_a.pk)
    assert (signed.round_label, signed.signed_by_id) == ("Đầu năm học 2026–2027", cast.alice.pk)
    assert AuditEvent.objects.filter(action="auth.2fa_enrolled", actor_id=cast.alice.pk).exists()
    context.close()


# --- 3. IT officer ------------------------------------------------------------------------------


def test_it_officer_creates_an_account_resets_its_password_and_imports_a_workbook(
    live_server: Any,
    signed_in_page: Any,
    artefacts_dir: Path,
    cast: Cast,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.EDUREG_INTAKE_DIR = tmp_path / "intake"
    ivan = _acknowledged(f.make_user("ivan", Role.IT_OFFICER, cast.school_a))
    f.make_staff(cast.school_a, "Trần Thị Hoa")
    page = signed_in_page(ivan, DESK)

    # Create an account for a member of staff.
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Tài khoản của tôi").click()
    page.get_by_role("link", name=cast.school_a.name).click()
    page.wait_for_url(f"**/truong/{cast.school_a.pk}/tai-khoan/")
    page.locator("li", has_text="Trần Thị Hoa").get_by_role("link", name="Tạo tài khoản").click()
    _vietnamese(page.get_by_role("heading", level=1), "Tạo tài khoản")
    username = page.get_by_label("Tên đăng nhập").input_value()
    assert username
    page.get_by_label("Vai trò tại trường").select_option(Role.RECORDS_CLERK.value)
    page.get_by_role("button", name="Tạo tài khoản").click()
    page.wait_for_load_state()
    _vietnamese(page.get_by_role("heading", level=1), "Đã tạo tài khoản")
    first = page.locator("code.secret").inner_text()
    hoa = User.objects.get(username=username)
    assert hoa.check_password(first)
    assert Membership.objects.filter(
        user=hoa, school=cast.school_a, role=Role.RECORDS_CLERK
    ).exists()

    # Reset its password.
    page.get_by_role("link", name="Xong").click()
    page.wait_for_url(f"**/quan-ly-tai-khoan/{hoa.pk}/")
    page.get_by_role("button", name="Đặt lại mật khẩu").click()
    page.wait_for_load_state()
    _vietnamese(page.get_by_role("heading", level=1), "Đã đặt lại mật khẩu")
    second = page.locator("code.secret").inner_text()
    hoa.refresh_from_db()
    assert second != first
    assert hoa.check_password(second)
    assert not hoa.check_password(first)
    _on_phone(page, artefacts_dir, "journey3-password-reset")
    page.set_viewport_size(DESK)

    # Import a workbook: dry run, then commit.
    rows = [pupil("Võ Thị Mai"), pupil("Lê Văn Tư", sex="Nam", class_name="1B")]
    page.goto(f"{live_server.url}/truong/{cast.school_a.pk}/")
    page.get_by_role("link", name="Nhập tệp xuất từ CSDL").click()
    page.wait_for_url(f"**/truong/{cast.school_a.pk}/nhap-tep/")
    page.get_by_label("Loại danh sách").select_option("student")
    page.locator("input[type=file]").set_input_files(
        {
            "name": "danh-sach-hoc-sinh.xlsx",
            "buffer": xlsx(rows),
            "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    )
    page.get_by_role("button", name="Soi thử").click()
    page.wait_for_url(re.compile(r"/nhap-tep/\d+/$"))
    run = IntakeRun.objects.get()
    _vietnamese(page.get_by_role("heading", level=1), f"Soi thử tệp nhập (lần {run.pk})")
    assert run.summary["new"] == 2
    assert not Student.objects.filter(full_name__in=["Võ Thị Mai", "Lê Văn Tư"]).exists()
    _on_phone(page, artefacts_dir, "journey3-dry-run")
    page.set_viewport_size(DESK)
    page.get_by_role("button", name="Ghi vào CSDL").click()
    page.wait_for_load_state()
    _message(page, "Đã ghi vào CSDL: 2 học sinh mới")
    run.refresh_from_db()
    assert run.status == RunStatus.COMMITTED
    mai = Student.objects.get(full_name="Võ Thị Mai")
    assert (mai.school_id, mai.current_class_id) == (cast.school_a.pk, cast.class_1a.pk)
    assert Student.objects.get(full_name="Lê Văn Tư").current_class_id == cast.class_1b.pk


# --- 4. Records clerk ---------------------------------------------------------------------------


def test_records_clerk_resolves_an_identity_mismatch_and_a_duplicate_candidate(
    live_server: Any, signed_in_page: Any, artefacts_dir: Path, cast: Cast
) -> None:
    clerk = _acknowledged(f.make_user("giao", Role.RECORDS_CLERK, cast.school_a))
    registered = "Nguyễn Văn Ân"
    answers = {
        "full_name": {"outcome": "mismatch", "register_value": registered},
        "date_of_birth": {"outcome": "match", "register_value": None},
        "sex": {"outcome": "match", "register_value": None},
    }
    IdentityState.objects.create(
        entity="student",
        record_id=cast.an.pk,
        school_id=cast.school_a.pk,
        status=IdentityStatus.MISMATCH,
        fields=answers,
        mismatched=["full_name"],
        queue_status=QueueStatus.OPEN,
        answered_at=timezone.now(),
        register="HttpRegister http://dancu.example",
        request_id="YC-2026-000123",
        updated_at=timezone.now(),
    )
    twin = f.make_student(cast.class_1b, "Nguyễn Văn An", sex="M")
    left, right = sorted([cast.an.pk, twin.pk])
    pair = DuplicatePair.objects.create(
        entity="student",
        left_id=left,
        right_id=right,
        left_school_id=cast.school_a.pk,
        right_school_id=cast.school_a.pk,
        match_probability=0.91,
        explanation="agreed: given, middle, family, sex",
        found_at=timezone.now(),
    )
    page = signed_in_page(clerk, DESK)

    # The identity mismatch: the birth certificate agrees with the school, so the family is
    # asked to have the population register corrected.
    page.goto(f"{live_server.url}/truong/{cast.school_a.pk}/")
    page.get_by_role("link", name="Hàng đợi sai lệch danh tính").click()
    page.wait_for_url(f"**/truong/{cast.school_a.pk}/xac-thuc/**")
    _vietnamese(page.get_by_role("heading", level=1), "Hàng đợi sai lệch danh tính")
    row = page.locator("table.identity-queue tbody tr").filter(has_text="Nguyễn Văn An")
    assert registered in row.inner_text()
    _on_phone(page, artefacts_dir, "journey4-identity-queue")
    page.set_viewport_size(DESK)
    row.locator("summary", has_text="Đã đề nghị đính chính").click()
    note = "Giấy khai sinh ghi «Nguyễn Văn An»; đã hướng dẫn gia đình đến công an xã"
    row.get_by_label("Ghi chú xử lý").fill(note)
    row.get_by_role("button", name="Ghi nhận đã đề nghị đính chính").click()
    page.wait_for_load_state()
    _message(page, "Đã ghi nhận: đã đề nghị gia đình đính chính CSDL dân cư.")
    state = IdentityState.objects.get(entity="student", record_id=cast.an.pk)
    assert (state.queue_status, state.queue_note) == (QueueStatus.CORRECTION_REQUESTED, note)

    # The duplicate candidate: not the same child.
    page.goto(f"{live_server.url}/truong/{cast.school_a.pk}/")
    page.get_by_role("link", name=re.compile("Hồ sơ nghi trùng")).click()
    page.wait_for_url(re.compile(r"/trung-lap/"))
    card = page.locator(".duplicate-pair")
    _vietnamese(card, "Khả năng trùng 91 %")
    assert card.locator("summary", has_text="Gộp hai hồ sơ").count() == 0  # a clerk may not
    _on_phone(page, artefacts_dir, "journey4-duplicates")
    page.set_viewport_size(DESK)
    card.locator("summary", has_text="Không phải cùng một người").click()
    card.get_by_label("Lý do (bắt buộc)").fill("Khác cha mẹ, khác ngày sinh trên giấy khai sinh")
    card.get_by_role("button", name="Ghi nhận không phải cùng một người").click()
    page.wait_for_load_state()
    _message(page, "Đã ghi nhận: hai hồ sơ không phải cùng một người.")
    pair.refresh_from_db()
    assert (pair.status, pair.decided_by_id) == (PairStatus.NOT_SAME, clerk.pk)
    assert (
        Student.objects.filter(pk__in=[cast.an.pk, twin.pk], merged_into__isnull=True).count() == 2
    )


# --- 5. Parent ----------------------------------------------------------------------------------

PHOTOS = "anh_truyen_thong"
MOTHER_PHONE = "0912345678"


def test_parent_looks_up_with_a_one_time_code_and_withdraws_an_optional_consent(
    live_server: Any, browser: Any, artefacts_dir: Path, cast: Cast, message_simulator: str
) -> None:
    born = dt.date(2021, 1, 1)  # under seven: the parent's consent alone is enough
    Student.objects.filter(pk=cast.an.pk).update(date_of_birth=born)
    student = Student.objects.get(pk=cast.an.pk)
    mother = f.make_guardian(student, "Trần Thị Mai", relation="02", phone=MOTHER_PHONE)
    notice = purposes_in_force().get(PHOTOS)
    assert notice is not None
    consent_give(
        actor=cast.alice,
        student=student,
        data=ConsentGiven(
            purpose=PHOTOS,
            notice_version=notice.notice_version,
            guardian=mother,
            subject_agreed=False,
            channel="phieu_giay",
            evidence_reference="Phiếu số 3",
        ),
    )
    assert ConsentState.objects.get(purpose=PHOTOS).status == ConsentStatus.GIVEN

    context = browser.new_context(viewport=PHONE, locale="vi-VN")
    page = context.new_page()
    page.goto(f"{live_server.url}/tra-cuu/")
    _vietnamese(page.get_by_role("heading", level=1), "Tra cứu hồ sơ học sinh")
    page.get_by_label("Mã định danh của học sinh").fill(str(student.education_id))
    page.get_by_label("Ngày sinh của học sinh").fill(born.strftime("%d/%m/%Y"))
    page.get_by_role("button", name="Gửi mã xác thực").click()
    page.wait_for_url("**/tra-cuu/ma-xac-thuc/")
    # What the task worker does with the look-up: the code goes out through the message
    # sender to the simulator, whose outbox stands for the mother's phone.
    for task in DBTaskResult.objects.filter(task_path__endswith="portal_codes_send"):
        portal_codes_send.call(*task.args_kwargs["args"])
    outbox = httpx.get(
        f"{message_simulator}/_sim/outbox", params={"to": MOTHER_PHONE}, timeout=5
    ).json()
    found = re.search(r"\b(\d{6})\b", outbox[0]["text"])
    assert found is not None
    page.get_by_label("Mã xác thực").fill(found.group(1))
    page.get_by_role("button", name="Xem hồ sơ").click()
    page.wait_for_url("**/tra-cuu/ho-so/")
    _vietnamese(page.get_by_role("heading", level=1), "Nguyễn Văn An")
    consents = page.locator("#dong-y")
    _vietnamese(consents.get_by_role("heading"), "Mục đích xử lý dữ liệu và sự đồng ý")
    _fits(page)
    page.screenshot(path=str(artefacts_dir / "journey5-portal-record-375.png"), full_page=True)
    withdraw = consents.get_by_role("button", name=re.compile("Rút lại sự đồng ý"))
    assert withdraw.count() == 1, "only the optional purpose can be withdrawn"
    withdraw.click()
    page.wait_for_load_state()
    _message(page, "Đã rút lại sự đồng ý.")
    assert consents.get_by_role("button", name=re.compile("Rút lại sự đồng ý")).count() == 0
    _fits(page)
    assert ConsentState.objects.get(purpose=PHOTOS).status == ConsentStatus.WITHDRAWN
    context.close()


# --- 6. Principal: a new school year -------------------------------------------------------------


def test_principal_rolls_the_school_into_a_new_year_and_promotes_the_classes(
    live_server: Any, signed_in_page: Any, artefacts_dir: Path, cast: Cast
) -> None:
    ha = f.make_student(cast.class_1a, "Lê Thị Hà", sex="F")
    page = signed_in_page(cast.alice, DESK)
    page.goto(f"{live_server.url}/truong/{cast.school_a.pk}/")
    page.get_by_role("link", name="Năm học: mở năm mới, lên lớp, khoá năm").click()
    page.wait_for_url(f"**/truong/{cast.school_a.pk}/nam-hoc/")
    page.get_by_role("button", name="Mở năm học 2027–2028").click()
    page.wait_for_load_state()
    _message(page, "Đã mở năm học 2027–2028")
    _vietnamese(page.get_by_role("heading", name="Năm học 2027–2028"), "Năm học 2027–2028")
    new_year = SchoolYear.objects.get(school=cast.school_a, start_year=2027)

    page.get_by_role("link", name="Năm học 2026–2027").first.click()
    page.wait_for_load_state()
    for name, pupils in (("1A", 2), ("1B", 1)):
        page.get_by_role("link", name=f"Lớp {name} — đề xuất lên lớp").click()
        page.wait_for_load_state()
        heading = page.get_by_role("heading", name=f"Lên lớp: lớp {name}")
        _vietnamese(heading, f"Lên lớp: lớp {name}")
        if name == "1A":
            assert page.get_by_label("Kết quả của Lê Thị Hà").input_value() == "promoted"
            _on_phone(page, artefacts_dir, "journey6-promotion")
            page.set_viewport_size(DESK)
        page.get_by_role("button", name="Chốt lên lớp").click()
        page.wait_for_load_state()
        _message(page, f"Đã chốt lên lớp lớp {name}: {pupils} học sinh.")
        page.get_by_role("link", name="Các lớp năm học 2026–2027").click()
        page.wait_for_load_state()

    for student, class_name in ((cast.an, "2A"), (ha, "2A"), (cast.binh, "2B")):
        current = Enrolment.objects.get(student=student, is_current=True)
        assert (current.school_year_id, current.grade) == (new_year.pk, 2)
        assert current.school_class == SchoolClass.objects.get(
            school_year=new_year, name=class_name
        )
        assert Student.objects.get(pk=student.pk).current_class_id == current.school_class_id


# --- 7. Authority officer -----------------------------------------------------------------------


def test_authority_officer_opens_a_round_compares_schools_and_downloads_a_table(
    live_server: Any, signed_in_page: Any, artefacts_dir: Path, cast: Cast
) -> None:
    for n in range(6):
        f.make_student(cast.class_1a, f"Học Sinh Nam {n}", sex="M")
        f.make_student(cast.class_b, f"Học Sinh Nữ {n}", sex="F")
    page = signed_in_page(cast.erin, DESK)
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Báo cáo thống kê").first.click()
    page.wait_for_url("**/bao-cao/")
    page.get_by_label("Tên kỳ báo cáo").fill("Đầu năm học 2026–2027")
    page.get_by_label("Loại kỳ").select_option("dau_nam")
    page.get_by_label("Ngày lấy số liệu").fill("01/10/2026")
    page.get_by_role("button", name="Mở kỳ báo cáo").click()
    page.wait_for_load_state()
    _message(page, "Đã mở kỳ báo cáo «Đầu năm học 2026–2027».")
    _vietnamese(page.get_by_role("heading", level=1), "Đầu năm học 2026–2027")

    page.get_by_role("link", name="Biểu đồ").first.click()
    page.wait_for_load_state()
    page.get_by_label(cast.school_a.name, exact=False).check()
    page.get_by_label(cast.school_b.name, exact=False).check()
    page.get_by_role("button", name="Xem").click()
    page.wait_for_load_state()
    assert page.locator("svg.chart__svg").count() == 2
    _vietnamese(page.locator("main"), "Trường Tiểu học Lê Lợi")
    _on_phone(page, artefacts_dir, "journey7-compare")
    page.set_viewport_size(DESK)

    page.locator(".breadcrumb").get_by_role("link", name="Đầu năm học 2026–2027").click()
    page.wait_for_load_state()
    page.get_by_role("link", name="Bảng tổng hợp").first.click()
    page.wait_for_load_state()
    table = page.locator("#bang-hoc_sinh_khoi_gioi_tinh")
    title = "Số học sinh chia theo khối lớp và giới tính"
    total = table.get_by_role("row").filter(has_text="Tổng cộng")
    assert total.get_by_role("cell").all_inner_texts() == ["8", "7", "15"]  # both schools
    assert "phạm vi: toàn Sở GDĐT Thành phố Hồ Chí Minh" in table.inner_text()
    _vietnamese(table.get_by_role("heading"), title)
    with page.expect_download() as download_info:
        table.get_by_role("link", name="Tải XLSX").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    with zipfile.ZipFile(download.path()) as workbook:
        strings = workbook.read("xl/sharedStrings.xml").decode()
        sheet = workbook.read("xl/worksheets/sheet1.xml").decode()
    assert escape(title, quote=False) in strings, "the file holds the table shown"
    assert "toàn Sở GDĐT Thành phố Hồ Chí Minh" in strings
    numbers: dict[str, list[str]] = {}  # sheet row → its number cells (not shared strings)
    for row_number, value in re.findall(r'<c r="[A-Z]+(\d+)"(?: s="\d+")?><v>([\d.]+)</v>', sheet):
        numbers.setdefault(row_number, []).append(value)
    assert ["8", "7", "15"] in numbers.values(), numbers
    assert "Học Sinh" not in strings, "a consolidated table names no pupil"
    # The same link answers with the spreadsheet's content type, as an attachment.
    href = table.get_by_role("link", name="Tải XLSX").get_attribute("href")
    answer = page.request.get(f"{live_server.url}{href}")
    assert answer.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert answer.headers["content-disposition"].startswith("attachment;")
