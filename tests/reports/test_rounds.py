"""Reporting rounds: the authority opens and closes a round, each principal reviews the
school's figures and signs off through the quality sign-off, the authority follows progress;
out of scope is missing, and bad input is refused with a clear message."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from edureg.access.roles import Role
from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.quality.models import SignOff
from edureg.reports import charts
from edureg.reports.models import ReportingRound
from edureg.reports.rounds import (
    ROUND_CLOSED,
    ROUND_OPENED,
    Figure,
    RoundData,
    round_close,
    round_comparison,
    round_open,
    round_progress,
    round_review,
    round_sign_off,
    round_table_export,
    round_tables,
    round_trend,
)
from edureg.reports.services import ReportRefused
from edureg.reports.tables import TOTAL_KEY
from tests import factories as f
from tests.conftest import Cast

AS_OF = dt.date(2026, 10, 1)
NAME = "Đầu năm học 2026–2027"


@pytest.fixture
def pupils(cast: Cast) -> Cast:
    """Twelve more pupils in A's 1A, eleven in B's 1A: counts above the threshold."""
    for n in range(6):
        f.make_student(cast.class_1a, f"Học Sinh Nam {n}", sex="M")
        f.make_student(cast.class_1a, f"Học Sinh Nữ {n}", sex="F")
        f.make_student(cast.class_b, f"Học Sinh B {n}", sex="F")
    for n in range(5):
        f.make_student(cast.class_b, f"Học Sinh B Nam {n}", sex="M")
    return cast


def _open(cast: Cast, name: str = NAME, as_of: dt.date = AS_OF) -> ReportingRound:
    return round_open(
        actor=cast.erin,
        authority=cast.school_a.authority,
        data=RoundData(name=name, kind="dau_nam", as_of=as_of),
    )


def test_authority_officer_opens_and_closes_a_round(pupils: Cast) -> None:
    opened = _open(pupils)
    assert opened.is_open
    assert opened.as_of == AS_OF
    assert AuditEvent.objects.filter(action=ROUND_OPENED, entity_id=str(opened.pk)).exists()
    closed = round_close(actor=pupils.erin, round_id=opened.pk)
    assert closed.closed_at is not None
    assert AuditEvent.objects.filter(action=ROUND_CLOSED, entity_id=str(opened.pk)).exists()
    with pytest.raises(ValidationError, match="đã khoá"):
        round_close(actor=pupils.erin, round_id=opened.pk)


def test_principal_cannot_open_or_close_a_round(pupils: Cast) -> None:
    with pytest.raises(PermissionDenied):
        round_open(
            actor=pupils.alice,
            authority=pupils.school_a.authority,
            data=RoundData(name=NAME, kind="dau_nam", as_of=AS_OF),
        )
    opened = _open(pupils)
    with pytest.raises(PermissionDenied):
        round_close(actor=pupils.alice, round_id=opened.pk)


def test_another_authority_is_missing(pupils: Cast) -> None:
    other = f.make_authority("SGD01")
    f.make_school(other, code="Z0001")
    with pytest.raises(Http404):
        round_open(
            actor=pupils.erin,
            authority=other,
            data=RoundData(name=NAME, kind="dau_nam", as_of=AS_OF),
        )
    stranger = f.make_user("xuan", Role.AUTHORITY_OFFICER, authority=other)
    opened = _open(pupils)
    for call in (
        lambda: round_close(actor=stranger, round_id=opened.pk),
        lambda: round_progress(actor=stranger, round_id=opened.pk),
        lambda: round_tables(actor=stranger, round_id=opened.pk),
    ):
        with pytest.raises(Http404):
            call()
    assert ReportingRound.objects.get(pk=opened.pk).closed_at is None


@pytest.mark.parametrize(
    ("name", "kind", "as_of", "field", "message"),
    [
        ("", "dau_nam", AS_OF, "name", "Hãy đặt tên"),
        (NAME, "ca_nam", AS_OF, "kind", "loại kỳ"),
        (NAME, "dau_nam", None, "as_of", "Hãy nhập ngày"),
        (NAME, "dau_nam", dt.date(2025, 10, 1), "as_of", "trước khi có số liệu"),
        (NAME, "dau_nam", dt.date(2099, 1, 1), "as_of", "tương lai"),
    ],
)
def test_bad_round_is_refused_clearly(
    pupils: Cast, name: str, kind: str, as_of: dt.date | None, field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        round_open(
            actor=pupils.erin,
            authority=pupils.school_a.authority,
            data=RoundData(name=name, kind=kind, as_of=as_of),
        )
    assert message in " ".join(caught.value.message_dict[field])
    assert not ReportingRound.objects.exists()


def test_the_same_name_twice_is_refused(pupils: Cast) -> None:
    _open(pupils)
    with pytest.raises(ValidationError, match="tên khác"):
        _open(pupils)


def test_principal_reviews_and_signs_off_with_the_quality_sign_off(pupils: Cast) -> None:
    opened = _open(pupils)
    review = round_review(actor=pupils.alice, round_id=opened.pk, school_id=pupils.school_a.pk)
    assert review.may_sign_off
    assert review.sign_off is None
    assert not review.refused
    by_code = {table.code: table for table in review.tables}
    grid = by_code["hoc_sinh_khoi_gioi_tinh"]
    assert grid.total is not None
    assert grid.total.cells[-1].text == "14"  # An, Bình and twelve more in school A
    assert "records" in review.scores
    signed = round_sign_off(
        actor=pupils.alice, round_id=opened.pk, school_id=pupils.school_a.pk, note="Đã rà soát"
    )
    # The quality sign-off itself, labelled with the round's name, audited there.
    assert SignOff.objects.get() == signed
    assert signed.round_label == NAME
    event = AuditEvent.objects.filter(action=actions.QUALITY_SIGNED_OFF).last()
    assert event is not None
    assert event.data["round"] == NAME
    again = round_review(actor=pupils.alice, round_id=opened.pk, school_id=pupils.school_a.pk)
    assert again.sign_off == signed
    assert not again.may_sign_off
    with pytest.raises(ValidationError, match="đã ký"):
        round_sign_off(actor=pupils.alice, round_id=opened.pk, school_id=pupils.school_a.pk)


def test_progress_shows_which_schools_signed(pupils: Cast) -> None:
    opened = _open(pupils)
    round_sign_off(actor=pupils.dave, round_id=opened.pk, school_id=pupils.school_b.pk)
    progress = round_progress(actor=pupils.erin, round_id=opened.pk)
    signed = {row.school.code: row.signed_at is not None for row in progress.schools}
    assert signed == {"A0001": False, "B0001": True}
    assert (progress.signed, progress.total) == (1, 2)
    # A sign-off of another round (same school) does not count for this one.
    other = _open(pupils, name="Giữa năm học 2026–2027")
    assert round_progress(actor=pupils.erin, round_id=other.pk).signed == 0


def test_progress_is_for_the_authority_only(pupils: Cast) -> None:
    opened = _open(pupils)
    with pytest.raises(Http404):
        round_progress(actor=pupils.alice, round_id=opened.pk)
    with pytest.raises(PermissionDenied):
        round_progress(actor=pupils.bob, round_id=opened.pk)


def test_no_sign_off_in_a_closed_round(pupils: Cast) -> None:
    opened = _open(pupils)
    round_close(actor=pupils.erin, round_id=opened.pk)
    with pytest.raises(ValidationError, match="đã khoá"):
        round_sign_off(actor=pupils.alice, round_id=opened.pk, school_id=pupils.school_a.pk)
    assert not SignOff.objects.exists()


def test_principal_cannot_review_or_sign_another_school(pupils: Cast) -> None:
    opened = _open(pupils)
    with pytest.raises(Http404):
        round_review(actor=pupils.alice, round_id=opened.pk, school_id=pupils.school_b.pk)
    with pytest.raises(Http404):
        round_sign_off(actor=pupils.alice, round_id=opened.pk, school_id=pupils.school_b.pk)
    with pytest.raises(PermissionDenied):
        round_sign_off(actor=pupils.bob, round_id=opened.pk, school_id=pupils.school_a.pk)
    with pytest.raises(Http404):
        round_review(actor=pupils.alice, round_id=999_999, school_id=pupils.school_a.pk)
    assert not SignOff.objects.exists()


def test_consolidated_tables_for_the_authority_and_a_group(pupils: Cast) -> None:
    opened = _open(pupils)
    _found, whole = round_tables(
        actor=pupils.erin, round_id=opened.pk, definition="hoc_sinh_khoi_gioi_tinh"
    )
    total = whole[0].total
    assert total is not None
    assert total.cells[-1].text == "26"
    cell = total.cells[-1]
    assert cell.provenance is not None
    assert cell.provenance.as_of == AS_OF
    assert cell.provenance.definition == "hoc_sinh_khoi_gioi_tinh"
    _found, group = round_tables(
        actor=pupils.erin,
        round_id=opened.pk,
        school_ids=[pupils.school_b.pk],
        definition="hoc_sinh_khoi_gioi_tinh",
    )
    assert group[0].total is not None
    assert group[0].total.cells[-1].text == "12"


def test_a_group_outside_the_actors_scope_is_refused_clearly(pupils: Cast) -> None:
    opened = _open(pupils)
    with pytest.raises(ReportRefused, match="không thuộc phạm vi"):
        round_tables(
            actor=pupils.alice,
            round_id=opened.pk,
            school_ids=[pupils.school_a.pk, pupils.school_b.pk],
        )
    elsewhere = f.make_school(f.make_authority("SGD01"), code="Z0001")
    with pytest.raises(ReportRefused, match="không thuộc phạm vi"):
        round_tables(actor=pupils.erin, round_id=opened.pk, school_ids=[elsewhere.pk])
    with pytest.raises(ReportRefused, match="Chưa chọn"):
        round_comparison(
            actor=pupils.erin,
            round_id=opened.pk,
            school_ids=[],
            definition="hoc_sinh_khoi_gioi_tinh",
        )
    # Their own school is fine for the principal.
    _found, own = round_tables(
        actor=pupils.alice,
        round_id=opened.pk,
        school_ids=[pupils.school_a.pk],
        definition="hoc_sinh_khoi_gioi_tinh",
    )
    assert own[0].total is not None


def test_comparison_and_trend_figures(pupils: Cast) -> None:
    opened = _open(pupils)
    _found, _definition, figures = round_comparison(
        actor=pupils.erin,
        round_id=opened.pk,
        definition="hoc_sinh_khoi_gioi_tinh",
        school_ids=[pupils.school_a.pk, pupils.school_b.pk],
    )
    assert [(fig.label, fig.text) for fig in figures] == [
        (pupils.school_a.name, "14"),
        (pupils.school_b.name, "12"),
    ]
    assert all("phiên bản" in fig.provenance for fig in figures)
    _found, _definition, trend = round_trend(
        actor=pupils.erin, round_id=opened.pk, definition="hoc_sinh_khoi_gioi_tinh"
    )
    # Data begins in September 2026: the earlier years are left out.
    assert [(fig.label, fig.text) for fig in trend] == [("01/10/2026", "26")]
    drawn = charts.comparison_bars(figures, title="Học sinh")
    assert drawn is not None
    assert [bar.text for bar in drawn.bars] == ["14", "12"]
    assert "Học sinh" in drawn.summary


def test_export_is_audited_and_holds_no_person(pupils: Cast) -> None:
    opened = _open(pupils)
    made = round_table_export(
        actor=pupils.erin,
        round_id=opened.pk,
        definition="hoc_sinh_khoi_gioi_tinh",
        file_format="xlsx",
    )
    assert made.filename == "hoc_sinh_khoi_gioi_tinh_2026-10-01.xlsx"
    assert made.content.startswith(b"PK")
    event = AuditEvent.objects.filter(action=actions.EXPORT).last()
    assert event is not None
    assert event.data["report"] == "hoc_sinh_khoi_gioi_tinh"
    assert event.data["format"] == "xlsx"
    with pytest.raises(Http404):
        round_table_export(
            actor=pupils.erin,
            round_id=opened.pk,
            definition="hoc_sinh_khoi_gioi_tinh",
            file_format="csv",
        )
    with pytest.raises(PermissionDenied):
        round_table_export(
            actor=pupils.bob,
            round_id=opened.pk,
            definition="hoc_sinh_khoi_gioi_tinh",
            file_format="pdf",
        )


@pytest.mark.parametrize(
    ("values", "texts", "widths"),
    [
        ([10.0, 5.0], ["10", "5"], ["280.0", "140.0"]),
        ([None, 8.0], ["<5", "8"], ["0.0", "280.0"]),
        ([0.0, 0.0], ["0", "0"], ["0.0", "0.0"]),
    ],
)
def test_comparison_bars_scale_to_the_largest(
    values: list[float | None], texts: list[str], widths: list[str]
) -> None:
    figures = [
        Figure(f"Trường {n}", value, text, "")
        for n, (value, text) in enumerate(zip(values, texts, strict=True))
    ]
    drawn = charts.comparison_bars(figures, title="T")
    assert drawn is not None
    assert [bar.width for bar in drawn.bars] == widths


def test_trend_line_leaves_suppressed_years_out_of_the_line() -> None:
    drawn = charts.trend_line(
        [
            Figure("05/09/2024", None, "<5", ""),
            Figure("05/09/2025", 40.0, "40", ""),
            Figure("05/09/2026", 80.0, "80", ""),
        ],
        title="T",
    )
    assert drawn is not None
    assert len(drawn.points) == 2
    assert "<5" in drawn.summary
    assert charts.trend_line([], title="T") is None


def test_total_key_is_the_last_column_of_a_grid(pupils: Cast) -> None:
    opened = _open(pupils)
    _found, shown = round_tables(
        actor=pupils.erin, round_id=opened.pk, definition="hoc_sinh_khoi_gioi_tinh"
    )
    assert shown[0].columns[-1].key == TOTAL_KEY
