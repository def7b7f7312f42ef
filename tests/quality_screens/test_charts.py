"""Chart geometry: bars proportional to the scores, lines placed by day and value, coordinates
in plain SVG numbers whatever the language, and a sentence for screen readers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from edureg.quality.selectors import Scores, TrendPoint
from edureg.web.quality import charts

DAY = dt.date(2026, 11, 1)


def _scores(records: int, ok: int) -> Scores:
    return Scores(records=records, correct_ok=ok, complete_ok=records, clean_ok=0,
                  live_ok=ok, required_total=10, required_filled=5)


@pytest.mark.parametrize(("value", "text"), [
    (None, "—"), (0.0, "0,0%"), (100 / 3, "33,3%"), (200 / 3, "66,7%"), (100.0, "100,0%"),
    (52.25, "52,2%"),
])
def test_percent_is_vietnamese(value: float | None, text: str) -> None:
    with translation.override("vi"):
        assert charts.percent(value) == text


@pytest.mark.parametrize(("records", "ok"), [(0, 0), (4, 1), (4, 4), (3, 0)])
def test_bars_are_proportional(records: int, ok: int) -> None:
    with translation.override("vi"):
        chart = charts.score_bars(_scores(records, ok))
    widths = {bar.key: float(bar.width) for bar in chart.bars}
    track = float(chart.track_width)
    expected = 0.0 if not records else track * ok / records
    assert widths["dung"] == pytest.approx(expected, abs=0.06)
    assert widths["sach"] == 0.0
    assert widths["du"] == pytest.approx(track if records else 0.0, abs=0.06)
    assert [bar.label for bar in chart.bars] == ["Đúng", "Đủ", "Sạch", "Sống"]
    for bar in chart.bars:
        assert "," not in bar.width + bar.y + bar.text_y
        assert bar.text in chart.summary


def test_no_trend_without_snapshots() -> None:
    assert charts.trend_chart([]) is None


def test_trend_places_points_by_day_and_value() -> None:
    points = [TrendPoint(DAY, _scores(4, 0)), TrendPoint(DAY + dt.timedelta(days=1), _scores(4, 2)),
              TrendPoint(DAY + dt.timedelta(days=10), _scores(4, 4))]
    with translation.override("vi"):
        chart = charts.trend_chart(points)
    assert chart is not None
    correct = next(s for s in chart.series if s.key == "dung")
    xs = [float(x) for x, _y in correct.dots]
    ys = [float(y) for _x, y in correct.dots]
    left, right = float(chart.left), float(chart.right)
    assert xs[0] == pytest.approx(left)
    assert xs[-1] == pytest.approx(right)
    assert xs[1] - xs[0] == pytest.approx((right - left) / 10, abs=0.1)
    assert ys == [pytest.approx(float(chart.bottom)), pytest.approx(
        (float(chart.bottom) + float(chart.top)) / 2, abs=0.1), pytest.approx(float(chart.top))]
    assert correct.points == " ".join(f"{x},{y}" for x, y in correct.dots)
    assert [tick.label for tick in chart.x_ticks] == ["01/11", "11/11"]
    assert len(chart.rows) == 3
    assert chart.rows[1].values[0] == "50,0%"
    assert "Đúng từ 0,0% đến 100,0%" in chart.summary


def test_a_single_day_is_drawn_as_dots_in_the_middle() -> None:
    chart = charts.trend_chart([TrendPoint(DAY, _scores(2, 1))])
    assert chart is not None
    middle = (float(chart.left) + float(chart.right)) / 2
    for series in chart.series:
        assert [float(x) for x, _y in series.dots] == [pytest.approx(middle)]


def test_days_without_records_leave_gaps() -> None:
    chart = charts.trend_chart([TrendPoint(DAY, Scores()), TrendPoint(DAY + dt.timedelta(2),
                                                                      _scores(2, 2))])
    assert chart is not None
    assert all(len(series.dots) == 1 for series in chart.series)
    assert chart.rows[0].values == ["—"] * 4
