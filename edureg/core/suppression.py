"""Small-cell suppression: an aggregate count of persons shown to someone outside the school is
shown exactly only when it reaches the threshold; a smaller count (zero included) shows as
``"<threshold"`` ("<5"), so a table of counts cannot single out a handful of pupils.

Pure: callers pass the threshold (``settings.EDUREG_SMALL_CELL_THRESHOLD``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

DEFAULT_THRESHOLD = 5

Key = TypeVar("Key")


def suppressed_label(threshold: int = DEFAULT_THRESHOLD) -> str:
    """What a count below ``threshold`` is shown as."""
    return f"<{threshold}"


def suppress(count: int, threshold: int = DEFAULT_THRESHOLD) -> str | int:
    """``count`` itself when it is at least ``threshold``, ``"<threshold"`` otherwise."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"a count of persons is an int, not {type(count).__name__}")
    if count < 0:
        raise ValueError(f"a count of persons cannot be negative: {count}")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise ValueError(f"the small-cell threshold must be a positive int: {threshold!r}")
    return count if count >= threshold else suppressed_label(threshold)


def suppress_counts(counts: Mapping[Key, int], threshold: int = DEFAULT_THRESHOLD
                    ) -> dict[Key, str | int]:
    """Each count of a mapping (row label → count) suppressed as by ``suppress``."""
    return {key: suppress(count, threshold) for key, count in counts.items()}


def suppress_column(counts: Iterable[int], threshold: int = DEFAULT_THRESHOLD
                    ) -> list[str | int]:
    """The counts of a table's column, in order, each suppressed as by ``suppress``."""
    return [suppress(count, threshold) for count in counts]
