"""Template filters of the quality screens."""

from __future__ import annotations

from django import template

from edureg.web.quality import charts

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """A score as Vietnamese text ("52,3%"); a dash when there is nothing to score."""
    return charts.percent(value)
