"""Charts of report figures drawn on the server as inline SVG (no script, no library, nothing
fetched): schools compared side by side (horizontal bars) and a figure across years (a line).
Pure geometry; ``web/templates/reports/_bars.html`` and ``_trend.html`` draw it and add the
same figures as a table for screen readers and small screens.

Drawings are ``WIDTH`` user units wide (about a phone's width) and scale with their box, so the
labels stay readable on a phone. A suppressed figure ("<5") is drawn as no bar and says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from django.utils.translation import gettext as _

WIDTH = 360
_ROW = 40
_BAR = 18
_LABEL_TOP = 12
_TRACK_X = 8
_TRACK_WIDTH = 280
_LABEL_MAX = 42


class Figure(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def value(self) -> float | None: ...

    @property
    def text(self) -> str: ...


def _n(value: float) -> str:
    return f"{value:.1f}"


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_MAX else label[: _LABEL_MAX - 1] + "…"


@dataclasses.dataclass(frozen=True)
class Bar:
    label: str
    text: str
    label_y: str
    y: str
    width: str
    text_x: str
    text_y: str


@dataclasses.dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    track_x: str
    track_width: str
    bar_height: str
    bars: list[Bar]
    summary: str


def comparison_bars(figures: Sequence[Figure], *, title: str) -> BarChart | None:
    """One bar per figure (a school), scaled to the largest; the label above its bar."""
    if not figures:
        return None
    largest = max((f.value for f in figures if f.value is not None), default=0.0) or 1.0
    bars = []
    for index, figure in enumerate(figures):
        top = index * _ROW
        width = _TRACK_WIDTH * (figure.value or 0.0) / largest
        bars.append(
            Bar(
                label=_short(figure.label),
                text=figure.text,
                label_y=_n(top + _LABEL_TOP),
                y=_n(top + _LABEL_TOP + 4),
                width=_n(width),
                text_x=_n(_TRACK_X + width + 4),
                text_y=_n(top + _LABEL_TOP + 4 + _BAR - 4),
            )
        )
    summary = _("%(title)s: %(items)s.") % {
        "title": title,
        "items": "; ".join(f"{f.label} {f.text}" for f in figures),
    }
    return BarChart(
        width=WIDTH,
        height=len(figures) * _ROW + 4,
        track_x=_n(_TRACK_X),
        track_width=_n(_TRACK_WIDTH),
        bar_height=_n(_BAR),
        bars=bars,
        summary=summary,
    )


@dataclasses.dataclass(frozen=True)
class Point:
    x: str
    y: str
    label: str
    text: str


@dataclasses.dataclass(frozen=True)
class Tick:
    at: str
    label: str


@dataclasses.dataclass(frozen=True)
class TrendChart:
    width: int
    height: int
    left: str
    right: str
    top: str
    bottom: str
    label_x: str
    day_y: str
    points: list[Point]  # drawn (figures shown)
    line: str  # the polyline's "x,y x,y …"
    y_ticks: list[Tick]
    summary: str


_LEFT, _RIGHT, _TOP, _BOTTOM, _HEIGHT = 56.0, WIDTH - 24.0, 14.0, 180.0, 210


def _nice_top(value: float) -> float:
    if value < 10:
        return 10.0
    step = 10 ** (len(str(int(value))) - 1)
    return float(((int(value) // step) + 1) * step)


def trend_line(figures: Sequence[Figure], *, title: str) -> TrendChart | None:
    """The figures in order (one per year) as a line on a scale from 0; suppressed years are
    left out of the line (they stay in the table)."""
    if not figures:
        return None
    top_value = _nice_top(max((f.value for f in figures if f.value is not None), default=0.0))
    count = len(figures)

    def x(index: int) -> float:
        if count == 1:
            return (_LEFT + _RIGHT) / 2
        return _LEFT + (_RIGHT - _LEFT) * index / (count - 1)

    def y(value: float) -> float:
        return _BOTTOM - (_BOTTOM - _TOP) * value / top_value

    points = [
        Point(x=_n(x(i)), y=_n(y(f.value)), label=f.label, text=f.text)
        for i, f in enumerate(figures)
        if f.value is not None
    ]
    ticks = [
        Tick(at=_n(y(top_value * share)), label=_grouped(top_value * share))
        for share in (0.0, 0.5, 1.0)
    ]
    summary = _("%(title)s: %(items)s.") % {
        "title": title,
        "items": "; ".join(f"{f.label} {f.text}" for f in figures),
    }
    return TrendChart(
        width=WIDTH,
        height=_HEIGHT,
        left=_n(_LEFT),
        right=_n(_RIGHT),
        top=_n(_TOP),
        bottom=_n(_BOTTOM),
        label_x=_n(_LEFT - 6),
        day_y=_n(_BOTTOM + 20),
        points=points,
        line=" ".join(f"{p.x},{p.y}" for p in points),
        y_ticks=ticks,
        summary=summary,
    )


def _grouped(value: float) -> str:
    return f"{round(value):,}".replace(",", ".")
