"""Charts drawn on the server: the geometry of inline SVG (no script, no library, nothing
fetched), rendered by ``web/quality/_bar_chart.html`` and ``_trend_chart.html``.

The drawings are narrow (``WIDTH`` user units, about a phone's width) and scale with their box
(``viewBox``), so their text stays readable on a phone; every chart comes with a sentence for
screen readers and the templates add the same figures as a table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from edureg.quality.rules.catalogue import DIMENSION_LABELS, Dimension
from edureg.quality.selectors import Scores, TrendPoint

WIDTH = 360
DIMENSIONS = (Dimension.CORRECT, Dimension.COMPLETE, Dimension.CLEAN, Dimension.LIVE)


def percent(value: float | None) -> str:
    """A score as Vietnamese text ("52,3%"), or a dash without records."""
    if value is None:
        return "—"
    # Rounded first: Django's number formatting cuts extra decimals off rather than rounding.
    return f"{formats.number_format(round(value, 1), 1)}%"


def dimension_label(dimension: Dimension) -> str:
    return _(DIMENSION_LABELS[dimension])


def _n(value: float) -> str:
    """A coordinate: plain decimal point whatever the language (SVG is not localised)."""
    return f"{value:.1f}"


@dataclasses.dataclass(frozen=True)
class Bar:
    key: str  # the dimension, for the colour
    label: str
    text: str
    y: str  # top of the bar
    text_y: str  # baseline of the texts
    width: str


@dataclasses.dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    track_x: str
    track_width: str
    bar_height: str
    value_x: str
    bars: list[Bar]
    summary: str


_BAR_ROW = 44
_BAR_HEIGHT = 24
_TRACK_X = 76
_TRACK_WIDTH = 210


def score_bars(scores: Scores) -> BarChart:
    """The four scores as horizontal bars of 0–100 %."""
    bars = []
    for index, dimension in enumerate(DIMENSIONS):
        value = scores.share(dimension)
        top = 8 + index * _BAR_ROW
        bars.append(Bar(
            key=dimension.value, label=dimension_label(dimension), text=percent(value),
            y=_n(top), text_y=_n(top + _BAR_HEIGHT / 2 + 6),
            width=_n(_TRACK_WIDTH * (value or 0) / 100)))
    summary = _("Tỷ lệ hồ sơ đạt: %(items)s.") % {
        "items": "; ".join(f"{bar.label} {bar.text}" for bar in bars)}
    return BarChart(width=WIDTH, height=8 + len(DIMENSIONS) * _BAR_ROW, track_x=_n(_TRACK_X),
                    track_width=_n(_TRACK_WIDTH), bar_height=_n(_BAR_HEIGHT),
                    value_x=_n(WIDTH - 2), bars=bars, summary=summary)


@dataclasses.dataclass(frozen=True)
class Tick:
    at: str  # x for the day axis, y for the percent axis
    label: str
    anchor: str = "end"


@dataclasses.dataclass(frozen=True)
class Series:
    key: str
    label: str
    points: str  # the polyline's "x,y x,y …"
    dots: list[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class TrendRow:
    day: str
    values: list[str]  # in ``DIMENSIONS`` order
    duplicates: list[int]  # open, "not the same person", merged (``DUPLICATE_LABELS``)


DUPLICATE_LABELS = (gettext_lazy("Chờ xem xét"), gettext_lazy("Không trùng"),
                    gettext_lazy("Đã gộp"))


@dataclasses.dataclass(frozen=True)
class TrendChart:
    width: int
    height: int
    left: str
    right: str
    top: str
    bottom: str
    label_x: str  # where the percent labels end
    day_y: str  # baseline of the day labels
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    series: list[Series]
    rows: list[TrendRow]  # the same figures, for the table
    duplicate_labels: tuple[object, ...]
    summary: str


_LEFT, _RIGHT, _TOP, _BOTTOM, _HEIGHT = 48.0, WIDTH - 14.0, 12.0, 196.0, 224


def trend_chart(points: Sequence[TrendPoint]) -> TrendChart | None:
    """The four scores day by day as lines (days without a snapshot are simply not drawn);
    None without any snapshot."""
    if not points:
        return None
    first, last = points[0].day, points[-1].day
    span = max((last - first).days, 1)

    def x(point: TrendPoint) -> float:
        if first == last:
            return (_LEFT + _RIGHT) / 2
        return _LEFT + (_RIGHT - _LEFT) * (point.day - first).days / span

    def y(value: float) -> float:
        return _BOTTOM - (_BOTTOM - _TOP) * value / 100

    series = []
    for dimension in DIMENSIONS:
        coordinates = [(_n(x(p)), _n(y(value))) for p in points
                       if (value := p.scores.share(dimension)) is not None]
        series.append(Series(key=dimension.value, label=dimension_label(dimension),
                             points=" ".join(f"{cx},{cy}" for cx, cy in coordinates),
                             dots=coordinates))
    if first == last:
        x_ticks = [Tick(at=_n(x(points[0])), label=first.strftime("%d/%m"), anchor="middle")]
    else:
        middle = points[len(points) // 2]
        x_ticks = [Tick(at=_n(x(points[0])), label=first.strftime("%d/%m"), anchor="start"),
                   Tick(at=_n(x(points[-1])), label=last.strftime("%d/%m"), anchor="end")]
        if 0.3 < (middle.day - first).days / span < 0.7:
            x_ticks.insert(1, Tick(at=_n(x(middle)), label=middle.day.strftime("%d/%m"),
                                   anchor="middle"))
    y_ticks = [Tick(at=_n(y(value)), label=f"{value}%") for value in (0, 25, 50, 75, 100)]
    rows = [TrendRow(day=p.day.strftime("%d/%m/%Y"),
                     values=[percent(p.scores.share(d)) for d in DIMENSIONS],
                     duplicates=[p.duplicates.open, p.duplicates.not_same,
                                 p.duplicates.merged]) for p in points]
    changes = "; ".join(
        _("%(label)s từ %(start)s đến %(end)s") % {
            "label": dimension_label(d), "start": percent(points[0].scores.share(d)),
            "end": percent(points[-1].scores.share(d))}
        for d in DIMENSIONS)
    summary = _("Diễn biến từ %(first)s đến %(last)s: %(changes)s.") % {
        "first": first.strftime("%d/%m/%Y"), "last": last.strftime("%d/%m/%Y"),
        "changes": changes}
    start, end = points[0].duplicates, points[-1].duplicates
    if start != end or end.open or end.not_same or end.merged:
        summary += " " + _("Nghi trùng chờ xem xét từ %(open_start)d đến %(open_end)d; đã "
                           "xác định không trùng %(not_same)d, đã gộp %(merged)d.") % {
            "open_start": start.open, "open_end": end.open, "not_same": end.not_same,
            "merged": end.merged}
    return TrendChart(width=WIDTH, height=_HEIGHT, left=_n(_LEFT), right=_n(_RIGHT),
                      top=_n(_TOP), bottom=_n(_BOTTOM), label_x=_n(_LEFT - 6),
                      day_y=_n(_BOTTOM + 20), y_ticks=y_ticks, x_ticks=x_ticks, series=series,
                      rows=rows, summary=summary, duplicate_labels=DUPLICATE_LABELS)
