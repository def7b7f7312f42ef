"""Today's date where edureg works (Vietnam, one time zone, no daylight saving).

Cheaper than ``django.utils.timezone.localdate()`` (which goes through the per-request
time-zone lookup): validation asks for it once per value, tens of thousands of times per
imported workbook."""

from __future__ import annotations

from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

VIETNAM_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")


def today() -> date:
    return datetime.now(tz=VIETNAM_TZ).date()
