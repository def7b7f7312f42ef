"""Deadlines the law sets, read from the versioned data set ``deadlines``
(``edureg/privacy/data/deadlines/<version>.json``). Pure: no ORM.

The 72 hours to notify the authority of a breach are data, so that a corrected reading is a new
file, not a code change. So are the data-subject request deadlines (from version 2026.2: a count
of days per kind of request, working days or calendar days) and the channels a request comes in
through; an older file without them has ``subject_requests = None``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from typing import cast

from edureg.privacy.datafiles import PrivacyDataError, document

DATA_SET = "deadlines"
REQUEST_KINDS = ("access", "correction", "deletion", "restriction", "objection",
                 "consent_withdrawal")


@dataclasses.dataclass(frozen=True)
class Period:
    days: int
    working_days: bool  # False: calendar days


@dataclasses.dataclass(frozen=True)
class RequestChannel:
    code: str
    name: str


@dataclasses.dataclass(frozen=True)
class SubjectRequestDeadlines:
    acknowledge_working_days: int
    respond: dict[str, Period]  # by request kind (``REQUEST_KINDS``)
    channels: tuple[RequestChannel, ...]

    def channel(self, code: str) -> RequestChannel | None:
        return next((c for c in self.channels if c.code == code), None)


@dataclasses.dataclass(frozen=True)
class Deadlines:
    version: str
    source: str
    breach_notification_hours: int
    breach_notification_authority: str
    subject_requests: SubjectRequestDeadlines | None = None


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _subject_requests(data: Mapping[str, object], where: str) -> SubjectRequestDeadlines | None:
    if "subject_request_deadlines" not in data:
        return None
    acknowledge = data.get("subject_request_acknowledge_working_days")
    if not _positive(acknowledge):
        raise PrivacyDataError(f"{where}: 'subject_request_acknowledge_working_days' must be a "
                               "positive integer")
    raw = data.get("subject_request_deadlines")
    if not isinstance(raw, dict) or set(raw) != set(REQUEST_KINDS):
        raise PrivacyDataError(f"{where}: 'subject_request_deadlines' must give exactly "
                               f"{list(REQUEST_KINDS)}")
    respond: dict[str, Period] = {}
    for kind in REQUEST_KINDS:
        item = raw[kind]
        if (not isinstance(item, dict) or not _positive(item.get("days"))
                or not isinstance(item.get("working_days"), bool)):
            raise PrivacyDataError(f"{where}: subject_request_deadlines[{kind!r}] must have a "
                                   "positive 'days' and 'working_days' true or false")
        respond[kind] = Period(days=item["days"], working_days=item["working_days"])
    raw_channels = data.get("subject_request_channels")
    if not isinstance(raw_channels, list) or not raw_channels:
        raise PrivacyDataError(f"{where}: 'subject_request_channels' must be a non-empty list")
    channels: list[RequestChannel] = []
    for item in raw_channels:
        if (not isinstance(item, dict) or not isinstance(item.get("code"), str)
                or not item["code"] or not isinstance(item.get("name"), str)
                or not item["name"].strip()):
            raise PrivacyDataError(f"{where}: each subject request channel needs a 'code' and "
                                   "a 'name'")
        channels.append(RequestChannel(code=item["code"], name=item["name"].strip()))
    if len({c.code for c in channels}) != len(channels):
        raise PrivacyDataError(f"{where}: duplicate subject request channel code")
    return SubjectRequestDeadlines(acknowledge_working_days=cast(int, acknowledge),
                                   respond=respond, channels=tuple(channels))


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
                     breach_notification_authority=authority.strip(),
                     subject_requests=_subject_requests(data, where))


def deadlines_in_force(*, on: dt.date | None = None) -> Deadlines:
    file, _data = document(DATA_SET, on=on)
    return _parsed(file.version)


def notification_deadline(detected_at: dt.datetime, hours: int) -> dt.datetime:
    """When the authority must have been notified of a breach detected at ``detected_at``."""
    return detected_at + dt.timedelta(hours=hours)


def clear_cache() -> None:
    _parsed.cache_clear()
