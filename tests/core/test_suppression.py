from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edureg.core.suppression import (
    DEFAULT_THRESHOLD,
    suppress,
    suppress_column,
    suppress_counts,
    suppressed_label,
)


@pytest.mark.parametrize(
    ("count", "threshold", "shown"),
    [
        (0, 5, "<5"),
        (1, 5, "<5"),
        (4, 5, "<5"),
        (5, 5, 5),
        (6, 5, 6),
        (1_234_567, 5, 1_234_567),
        (9, 10, "<10"),
        (10, 10, 10),
        (0, 1, "<1"),
        (1, 1, 1),
    ],
)
def test_counts_below_the_threshold_are_suppressed(count: int, threshold: int,
                                                   shown: str | int) -> None:
    assert suppress(count, threshold) == shown


def test_the_default_threshold_is_five() -> None:
    assert DEFAULT_THRESHOLD == 5
    assert suppress(4) == "<5" == suppressed_label()
    assert suppress(5) == 5


@pytest.mark.parametrize("count", [-1, -5])
def test_a_negative_count_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match="negative"):
        suppress(count)


@pytest.mark.parametrize("count", [2.0, "3", None, True])
def test_a_count_that_is_not_an_int_is_refused(count: object) -> None:
    with pytest.raises(TypeError):
        suppress(count)  # type: ignore[arg-type]


@pytest.mark.parametrize("threshold", [0, -5, 2.5, True])
def test_a_threshold_below_one_or_not_an_int_is_refused(threshold: object) -> None:
    with pytest.raises(ValueError, match="threshold"):
        suppress(10, threshold)  # type: ignore[arg-type]


counts = st.integers(min_value=0, max_value=10**9)
thresholds = st.integers(min_value=1, max_value=1_000)


@given(counts, thresholds)
def test_a_shown_count_is_exact_and_never_small(count: int, threshold: int) -> None:
    shown = suppress(count, threshold)
    if isinstance(shown, int):
        assert shown == count >= threshold
    else:
        assert shown == f"<{threshold}"
        assert count < threshold


@given(counts, counts, thresholds)
def test_suppression_keeps_the_order_of_shown_counts(first: int, second: int,
                                                     threshold: int) -> None:
    """Shown counts keep their order; a suppressed one is below every shown one."""
    low, high = sorted((first, second))
    shown_low, shown_high = suppress(low, threshold), suppress(high, threshold)
    if isinstance(shown_low, int):
        assert isinstance(shown_high, int)
        assert shown_low <= shown_high


@given(st.dictionaries(st.text(max_size=5), counts, max_size=20), thresholds)
def test_a_mapping_is_suppressed_cell_by_cell(table: dict[str, int], threshold: int) -> None:
    shown = suppress_counts(table, threshold)
    assert list(shown) == list(table)
    assert all(shown[key] == suppress(count, threshold) for key, count in table.items())
    assert all(value >= threshold for value in shown.values() if isinstance(value, int))


@given(st.lists(counts, max_size=30), thresholds)
def test_a_column_keeps_its_order_and_length(column: list[int], threshold: int) -> None:
    shown = suppress_column(column, threshold)
    assert len(shown) == len(column)
    assert shown == [suppress(count, threshold) for count in column]


def test_a_bad_cell_refuses_the_whole_table() -> None:
    with pytest.raises(ValueError, match="negative"):
        suppress_counts({"1A": 12, "1B": -1})
