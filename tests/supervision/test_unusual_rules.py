"""The unusual-access rules are pure functions: table-driven tests."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from edureg.audit.unusual import (
    Thresholds,
    is_night,
    night_flag,
    night_windows,
    outside_classes,
    outside_classes_flag,
    volume_flag,
)

LIMITS = Thresholds()
HCM = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(("moment", "night"), [
    (dt.time(21, 59), False),
    (dt.time(22, 0), True),
    (dt.time(23, 30), True),
    (dt.time(0, 0), True),
    (dt.time(4, 59), True),
    (dt.time(5, 0), False),
    (dt.time(12, 0), False),
])
def test_night_window_spans_midnight(moment: dt.time, night: bool) -> None:
    assert is_night(moment, LIMITS) is night


def test_a_window_inside_one_day() -> None:
    siesta = Thresholds(night_starts=dt.time(12), night_ends=dt.time(13))
    assert is_night(dt.time(12, 30), siesta)
    assert not is_night(dt.time(13, 0), siesta)
    day = dt.date(2026, 10, 1)
    assert night_windows(day, siesta, HCM) == [
        (dt.datetime(2026, 10, 1, 12, tzinfo=HCM), dt.datetime(2026, 10, 1, 13, tzinfo=HCM))]


def test_night_windows_of_a_day_are_its_early_morning_and_late_evening() -> None:
    day = dt.date(2026, 10, 1)
    assert night_windows(day, LIMITS, HCM) == [
        (dt.datetime(2026, 10, 1, 0, tzinfo=HCM), dt.datetime(2026, 10, 1, 5, tzinfo=HCM)),
        (dt.datetime(2026, 10, 1, 22, tzinfo=HCM), dt.datetime(2026, 10, 2, 0, tzinfo=HCM)),
    ]


@pytest.mark.parametrize(("records", "flagged"), [(0, False), (1, True), (40, True)])
def test_night_flag(records: int, flagged: bool) -> None:
    assert night_flag(records, LIMITS) is flagged


@pytest.mark.parametrize(("today", "history", "flagged"), [
    (101, [], True),  # no history: above the floor is enough
    (100, [], False),  # the floor itself is not above it
    (600, [100] * 30, True),  # more than 5 × median 100
    (500, [100] * 30, False),  # exactly 5 ×
    (501, [100] * 15 + [0] * 15, True),  # median of 0..100 days is 50
    (240, [0] * 29 + [10_000], True),  # one busy day does not move the median
    (90, [1] * 30, False),  # under the floor whatever the ratio
    (5000, [2000] * 30, False),  # a heavy but usual user
])
def test_volume_flag(today: int, history: list[int], flagged: bool) -> None:
    assert volume_flag(today, history, LIMITS) is flagged


@pytest.mark.parametrize(("read", "classes", "outside"), [
    ([], [], 0),
    (["1", "2"], ["1", "2", "3"], 0),
    (["1", "2", "9"], ["1", "2"], 1),
    (["9", "9", "8"], [], 2),  # distinct records
])
def test_outside_classes_counts_distinct_records(read: list[str], classes: list[str],
                                                 outside: int) -> None:
    assert outside_classes(read, classes) == outside


@pytest.mark.parametrize(("outside", "flagged"), [(9, False), (10, True)])
def test_outside_classes_flag(outside: int, flagged: bool) -> None:
    assert outside_classes_flag(outside, LIMITS) is flagged


def test_thresholds_come_from_settings_data() -> None:
    custom = Thresholds.from_mapping({"volume_factor": 3.0, "night_min_records": 5})
    assert (custom.volume_factor, custom.night_min_records, custom.history_days) == (3.0, 5, 30)
    with pytest.raises(ValueError, match="unknown"):
        Thresholds.from_mapping({"volume_factr": 3.0})
