"""Report screens: the authority officer's rounds, progress, consolidated tables, charts and
downloads; the principal's round page with the sign-off. Pages render, downloads are XLSX/PDF
with no personal data, and each screen refuses the accounts it is not for."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from django.test import Client
from django.urls import reverse

from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.quality.models import SignOff
from edureg.registry.models import Student
from edureg.reports.models import ReportingRound
from edureg.reports.rounds import RoundData, round_open
from tests import factories as f
from tests.conftest import Cast

AS_OF = dt.date(2026, 10, 1)
NAME = "Đầu năm học 2026–2027"
CODE = "hoc_sinh_khoi_gioi_tinh"


@pytest.fixture
def opened(cast: Cast) -> ReportingRound:
    for n in range(6):
        f.make_student(cast.class_1a, f"Học Sinh Nam {n}", sex="M")
        f.make_student(cast.class_1a, f"Học Sinh Nữ {n}", sex="F")
        f.make_student(cast.class_b, f"Học Sinh B {n}", sex="F")
    return round_open(
        actor=cast.erin,
        authority=cast.school_a.authority,
        data=RoundData(name=NAME, kind="dau_nam", as_of=AS_OF),
    )


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _names() -> list[str]:
    return list(Student.objects.values_list("full_name", flat=True))


def test_officer_opens_a_round_from_the_rounds_page(cast: Cast) -> None:
    client = _client(cast.erin)
    page = client.get(reverse("web:reports_rounds"))
    assert page.status_code == 200
    assert "Mở kỳ báo cáo" in page.content.decode()
    response = client.post(
        reverse("web:reports_round_open"),
        {
            "authority": cast.school_a.authority_id,
            "name": NAME,
            "kind": "dau_nam",
            "as_of": "01/10/2026",
        },
    )
    made = ReportingRound.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("web:reports_round", args=[made.pk])


def test_a_date_before_the_data_is_shown_on_the_field(cast: Cast) -> None:
    response = _client(cast.erin).post(
        reverse("web:reports_round_open"),
        {
            "authority": cast.school_a.authority_id,
            "name": NAME,
            "kind": "dau_nam",
            "as_of": "01/10/2025",
        },
    )
    assert response.status_code == 200
    assert "trước khi có số liệu" in response.content.decode()
    assert not ReportingRound.objects.exists()


def test_progress_page_lists_the_schools_and_who_signed(cast: Cast, opened: ReportingRound) -> None:
    _client(cast.dave).post(reverse("web:reports_sign_off", args=[opened.pk, cast.school_b.pk]))
    page = _client(cast.erin).get(reverse("web:reports_round", args=[opened.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "1/2" in body
    assert cast.school_a.name in body
    assert "Chưa ký" in body
    assert "Dave" not in body  # who signed is not shown, only that the school did


def test_officer_closes_a_round(cast: Cast, opened: ReportingRound) -> None:
    response = _client(cast.erin).post(reverse("web:reports_round_close", args=[opened.pk]))
    assert response.status_code == 302
    opened.refresh_from_db()
    assert opened.closed_at is not None


def test_consolidated_tables_show_how_each_figure_was_computed(
    cast: Cast, opened: ReportingRound
) -> None:
    page = _client(cast.erin).get(
        reverse("web:reports_tables", args=[opened.pk]), {"bao_cao": CODE}
    )
    body = page.content.decode()
    assert page.status_code == 200
    assert f"Báo cáo «{CODE}» phiên bản 1, số liệu tại ngày 01/10/2026" in body
    assert reverse("web:reports_download", args=[opened.pk, CODE, "xlsx"]) in body
    for name in _names():
        assert name not in body


def test_a_group_outside_scope_is_a_clear_message(cast: Cast, opened: ReportingRound) -> None:
    page = _client(cast.alice).get(
        reverse("web:reports_tables", args=[opened.pk]),
        {"truong": [cast.school_a.pk, cast.school_b.pk]},
    )
    assert page.status_code == 200
    assert "không thuộc phạm vi" in page.content.decode()
    page = _client(cast.erin).get(
        reverse("web:reports_tables", args=[opened.pk]), {"truong": ["x"]}
    )
    assert "không hợp lệ" in page.content.decode()


def test_charts_are_inline_svg_with_a_table(cast: Cast, opened: ReportingRound) -> None:
    page = _client(cast.erin).get(
        reverse("web:reports_charts", args=[opened.pk]),
        {"bao_cao": CODE, "truong": [cast.school_a.pk, cast.school_b.pk]},
    )
    body = page.content.decode()
    assert page.status_code == 200
    assert body.count('<svg class="chart__svg') == 2
    assert "<script" not in body
    assert "Xem số liệu dạng bảng" in body
    assert cast.school_b.name in body


@pytest.mark.parametrize(
    ("file_format", "content_type", "magic"),
    [
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK"),
        ("pdf", "application/pdf", b"%PDF-"),
    ],
)
def test_downloads_are_files_of_figures_only(
    cast: Cast, opened: ReportingRound, file_format: str, content_type: str, magic: bytes
) -> None:
    response = _client(cast.erin).get(
        reverse("web:reports_download", args=[opened.pk, CODE, file_format])
    )
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert f"{CODE}_2026-10-01.{file_format}" in response["Content-Disposition"]
    assert response.content.startswith(magic)
    if file_format == "xlsx":
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        text = "".join(archive.read(n).decode() for n in archive.namelist() if n.endswith(".xml"))
        assert "Tổng cộng" in text
        for name in _names():
            assert name not in text
    event = AuditEvent.objects.filter(action=actions.EXPORT).last()
    assert event is not None
    assert event.actor_id == cast.erin.pk
    assert event.data["format"] == file_format


def test_unknown_report_download_goes_back_with_a_message(
    cast: Cast, opened: ReportingRound
) -> None:
    response = _client(cast.erin).get(
        reverse("web:reports_download", args=[opened.pk, "khong_co", "xlsx"]), follow=True
    )
    assert "Không có báo cáo mã «khong_co»" in response.content.decode()


def test_principal_round_page_and_sign_off(cast: Cast, opened: ReportingRound) -> None:
    client = _client(cast.alice)
    rounds = client.get(reverse("web:reports_rounds")).content.decode()
    url = reverse("web:reports_school_round", args=[opened.pk, cast.school_a.pk])
    assert url in rounds
    assert "Mở kỳ báo cáo" not in rounds
    page = client.get(url)
    body = page.content.decode()
    assert page.status_code == 200
    assert "Ký xác nhận số liệu của trường" in body
    assert "Sống" in body
    assert "phiên bản 1" in body
    response = client.post(
        reverse("web:reports_sign_off", args=[opened.pk, cast.school_a.pk]), {"note": "Đã rà soát"}
    )
    assert response.status_code == 302
    assert SignOff.objects.get().round_label == NAME
    assert "Đã ký xác nhận lúc" in client.get(url).content.decode()


def test_principal_cannot_open_the_authority_pages(cast: Cast, opened: ReportingRound) -> None:
    client = _client(cast.alice)
    assert client.get(reverse("web:reports_round", args=[opened.pk])).status_code == 404
    # The whole authority's tables are not theirs; their own school's are.
    assert client.get(reverse("web:reports_tables", args=[opened.pk])).status_code == 404
    assert (
        client.get(
            reverse("web:reports_tables", args=[opened.pk]),
            {"truong": cast.school_a.pk, "bao_cao": CODE},
        ).status_code
        == 200
    )
    assert client.post(reverse("web:reports_round_close", args=[opened.pk])).status_code == 403
    assert (
        client.get(
            reverse("web:reports_school_round", args=[opened.pk, cast.school_b.pk])
        ).status_code
        == 404
    )


def test_teacher_without_report_permission_is_refused(cast: Cast, opened: ReportingRound) -> None:
    client = _client(cast.bob)
    assert client.get(reverse("web:reports_rounds")).status_code == 403
    assert (
        client.get(reverse("web:reports_download", args=[opened.pk, CODE, "pdf"])).status_code
        == 403
    )


def test_nav_links_to_reports(cast: Cast) -> None:
    for user in (cast.erin, cast.alice):
        home = _client(user).get(reverse("web:home"), follow=True).content.decode()
        assert reverse("web:reports_rounds") in home
    assert (
        reverse("web:reports_rounds")
        not in _client(cast.carol).get(reverse("web:home"), follow=True).content.decode()
    )
