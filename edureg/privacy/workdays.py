"""Working days: weekends (Saturday, Sunday) and the Vietnamese public holidays of the versioned
data set ``holidays`` (``edureg/privacy/data/holidays/<version>.json``) are not working days.
Pure: no ORM.

Each holidays file lists dates by year. For a year, the dates come from the newest version (by
``valid_from``, then version) that lists that year, so a corrected year or a new year is a new
file; Tết and the days adjacent to Quốc khánh follow the Government's announcement each year.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from edureg.privacy.datafiles import PrivacyDataError, document, versions

DATA_SET = "holidays"
_SATURDAY = 5


def is_working_day(day: dt.date, holidays: frozenset[dt.date]) -> bool:
    return day.weekday() < _SATURDAY and day not in holidays


def add_working_days(start: dt.date, days: int, holidays: frozenset[dt.date]) -> dt.date:
    """The day ``days`` working days after ``start`` (``start`` itself is not counted; 0 gives
    ``start``). Weekends and ``holidays`` are skipped."""
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    left = days
    while left:
        day += dt.timedelta(days=1)
        if is_working_day(day, holidays):
            left -= 1
    return day


def _year_dates(raw: object, where: str) -> frozenset[dt.date]:
    if not isinstance(raw, list):
        raise PrivacyDataError(f"{where}: must be a list of {{'date', 'name'}}")
    found: set[dt.date] = set()
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                or not item["name"].strip() or not isinstance(item.get("date"), str):
            raise PrivacyDataError(f"{where}: each holiday needs a 'date' and a 'name'")
        try:
            found.add(dt.date.fromisoformat(item["date"]))
        except ValueError as error:
            raise PrivacyDataError(f"{where}: 'date' must be YYYY-MM-DD") from error
    return frozenset(found)


@lru_cache(maxsize=8)
def _by_year(version: str) -> dict[int, frozenset[dt.date]]:
    _file, data = document(DATA_SET, version)
    where = f"{DATA_SET}/{version}"
    raw = data.get("holidays")
    if not isinstance(raw, dict) or not raw:
        raise PrivacyDataError(f"{where}: 'holidays' must be an object of years")
    years: dict[int, frozenset[dt.date]] = {}
    for key, dates in raw.items():
        if not key.isdigit():
            raise PrivacyDataError(f"{where}: year {key!r} must be digits")
        year = int(key)
        found = _year_dates(dates, f"{where} [{key}]")
        if any(day.year != year for day in found):
            raise PrivacyDataError(f"{where}: a date listed under {key} is not in {key}")
        years[year] = found
    return years


def holidays() -> frozenset[dt.date]:
    """All the public holidays known, each year from the newest version that lists it."""
    chosen: dict[int, frozenset[dt.date]] = {}
    for file in versions(DATA_SET):  # oldest first: a newer version replaces a year
        chosen.update(_by_year(file.version))
    return frozenset().union(*chosen.values())


def clear_cache() -> None:
    _by_year.cache_clear()
