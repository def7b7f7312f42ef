"""Deadlines the law sets, read from the versioned data set ``deadlines``
(``edureg/privacy/data/deadlines/<version>.json``). Pure: no ORM.

The 72 hours to notify the authority of a breach are data, so that a corrected reading is a new
file, not a code change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import lru_cache

from edureg.privacy.datafiles import PrivacyDataError, document

DATA_SET = "deadlines"


@dataclasses.dataclass(frozen=True)
class Deadlines:
    version: str
    source: str
    breach_notification_hours: int
    breach_notification_authority: str


@lru_cache(maxsize=8)
def _parsed(version: str) -> Deadlines:
    file, data = document(DATA_SET, version)
    where = f"{DATA_SET}/{version}"
    hours = data.get("breach_notification_hours")
    if not isinstance(hours, int) or isinstance(hours, bool) or hours <= 0:
        raise PrivacyDataError(f"{where}: 'breach_notification_hours' must be a positive "
                               "integer")
    authority = data.get("breach_notification_authority")
    if not isinstance(authority, str) or not authority.strip():
        raise PrivacyDataError(f"{where}: 'breach_notification_authority' must be a non-empty "
                               "string")
    return Deadlines(version=file.version, source=file.source,
                     breach_notification_hours=hours,
                     breach_notification_authority=authority.strip())


def deadlines_in_force(*, on: dt.date | None = None) -> Deadlines:
    file, _data = document(DATA_SET, on=on)
    return _parsed(file.version)


def notification_deadline(detected_at: dt.datetime, hours: int) -> dt.datetime:
    """When the authority must have been notified of a breach detected at ``detected_at``."""
    return detected_at + dt.timedelta(hours=hours)


def clear_cache() -> None:
    _parsed.cache_clear()
