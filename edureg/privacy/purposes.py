"""Processing purposes, their legal bases and the consent rules, read from the versioned data
set ``purposes`` (``edureg/privacy/data/purposes/<version>.json``). Pure: no ORM.

What the law says (ages, who consents, which purposes need consent) is data, so that a corrected
reading is a new file, not a code change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from functools import lru_cache

from edureg.privacy.datafiles import PrivacyDataError, document

DATA_SET = "purposes"
ENTITIES = ("student", "guardian", "staff")


@dataclasses.dataclass(frozen=True)
class Retention:
    label: str
    months: int | None


@dataclasses.dataclass(frozen=True)
class Purpose:
    code: str
    name: str
    description: str
    legal_basis: str
    requires_consent: bool
    entities: tuple[str, ...]
    categories: tuple[str, ...]  # field-catalogue categories the purpose uses
    other_data: tuple[str, ...]  # data outside the field catalogue (e.g. photos)
    recipients: tuple[str, ...]
    retention: Retention
    notice_version: str
    notice_text: str


@dataclasses.dataclass(frozen=True)
class ConsentRules:
    child_own_consent_from_age: int
    guardian_consent_until_age: int
    basis: str


@dataclasses.dataclass(frozen=True)
class Channel:
    code: str
    name: str


@dataclasses.dataclass(frozen=True)
class Purposes:
    version: str
    valid_from: dt.date
    source: str
    rules: ConsentRules
    channels: tuple[Channel, ...]
    purposes: tuple[Purpose, ...]

    def get(self, code: str) -> Purpose | None:
        return next((p for p in self.purposes if p.code == code), None)

    def channel(self, code: str) -> Channel | None:
        return next((c for c in self.channels if c.code == code), None)

    def needing_consent(self, entity: str) -> tuple[Purpose, ...]:
        return tuple(p for p in self.purposes if p.requires_consent and entity in p.entities)

    def for_entity(self, entity: str) -> tuple[Purpose, ...]:
        return tuple(p for p in self.purposes if entity in p.entities)


def _str(raw: Mapping[str, object], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PrivacyDataError(f"{where}: '{key}' must be a non-empty string")
    return value.strip()


def _strs(raw: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PrivacyDataError(f"{where}: '{key}' must be a list of non-empty strings")
    return tuple(value)


def _int(raw: Mapping[str, object], key: str, where: str) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PrivacyDataError(f"{where}: '{key}' must be a non-negative integer")
    return value


def _object(raw: object, where: str) -> Mapping[str, object]:
    if not isinstance(raw, dict):
        raise PrivacyDataError(f"{where}: must be an object")
    return raw


def _purpose(raw: object, where: str) -> Purpose:
    item = _object(raw, where)
    code = _str(item, "code", where)
    where = f"{where} [{code}]"
    requires = item.get("requires_consent")
    if not isinstance(requires, bool):
        raise PrivacyDataError(f"{where}: 'requires_consent' must be true or false")
    entities = _strs(item, "entities", where)
    if not entities or set(entities) - set(ENTITIES):
        raise PrivacyDataError(f"{where}: 'entities' must name some of {list(ENTITIES)}")
    retention = _object(item.get("retention"), f"{where} retention")
    months = retention.get("months")
    if months is not None and (not isinstance(months, int) or isinstance(months, bool)
                               or months <= 0):
        raise PrivacyDataError(f"{where}: retention 'months' must be a positive integer or null")
    notice = _object(item.get("notice"), f"{where} notice")
    return Purpose(
        code=code, name=_str(item, "name", where), description=_str(item, "description", where),
        legal_basis=_str(item, "legal_basis", where), requires_consent=requires,
        entities=entities, categories=_strs(item, "categories", where),
        other_data=_strs(item, "other_data", where), recipients=_strs(item, "recipients", where),
        retention=Retention(label=_str(retention, "label", f"{where} retention"), months=months),
        notice_version=_str(notice, "version", f"{where} notice"),
        notice_text=_str(notice, "text", f"{where} notice"),
    )


def parse_purposes(data: Mapping[str, object], *, version: str, valid_from: dt.date,
                   source: str) -> Purposes:
    """Check one purposes file's content; raise ``PrivacyDataError`` naming the bad entry."""
    where = f"purposes/{version}"
    rules_raw = _object(data.get("rules"), f"{where} rules")
    rules = ConsentRules(
        child_own_consent_from_age=_int(rules_raw, "child_own_consent_from_age", where),
        guardian_consent_until_age=_int(rules_raw, "guardian_consent_until_age", where),
        basis=_str(rules_raw, "basis", where))
    if rules.child_own_consent_from_age > rules.guardian_consent_until_age:
        raise PrivacyDataError(f"{where}: the child's own consent must start before the "
                               "guardian's ends")
    raw_channels = data.get("channels")
    raw_purposes = data.get("purposes")
    if not isinstance(raw_channels, list) or not raw_channels:
        raise PrivacyDataError(f"{where}: 'channels' must be a non-empty list")
    if not isinstance(raw_purposes, list) or not raw_purposes:
        raise PrivacyDataError(f"{where}: 'purposes' must be a non-empty list")
    channels = tuple(
        Channel(code=_str(c, "code", f"{where} channel"), name=_str(c, "name", f"{where} channel"))
        for c in (_object(raw, f"{where} channel") for raw in raw_channels))
    purposes = tuple(_purpose(raw, f"{where} purpose") for raw in raw_purposes)
    for label, codes in (("channel", [c.code for c in channels]),
                         ("purpose", [p.code for p in purposes])):
        if len(set(codes)) != len(codes):
            raise PrivacyDataError(f"{where}: duplicate {label} code")
    return Purposes(version=version, valid_from=valid_from, source=source, rules=rules,
                    channels=channels, purposes=purposes)


@lru_cache(maxsize=16)
def _parsed(version: str) -> Purposes:
    file, data = document(DATA_SET, version)
    return parse_purposes(data, version=file.version, valid_from=file.valid_from,
                          source=file.source)


def purposes_in_force(*, on: dt.date | None = None) -> Purposes:
    file, _data = document(DATA_SET, on=on)
    return _parsed(file.version)


def purposes_version(version: str) -> Purposes:
    return _parsed(version)


def clear_cache() -> None:
    _parsed.cache_clear()


# --- Who must consent ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RequiredParties:
    guardian: bool  # a parent or guardian of the person
    subject: bool  # the person themself (a child from the rules' age, or an adult)
    age: int | None  # on the day of consent; None when the birth date is not known


def age_on(date_of_birth: dt.date, day: dt.date) -> int:
    before_birthday = (day.month, day.day) < (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - int(before_birthday)


def required_parties(*, entity: str, date_of_birth: dt.date | None, on: dt.date,
                     rules: ConsentRules) -> RequiredParties:
    """Who must agree for ``entity``'s consent given on ``on``. A pupil of unknown age is
    treated as old enough to consent and young enough to need a guardian: asking both is the
    side that cannot be wrong. Guardians and staff are adults and consent for themselves."""
    if entity != "student":
        return RequiredParties(guardian=False, subject=True, age=None)
    if date_of_birth is None:
        return RequiredParties(guardian=True, subject=True, age=None)
    age = age_on(date_of_birth, on)
    return RequiredParties(guardian=age < rules.guardian_consent_until_age,
                           subject=age >= rules.child_own_consent_from_age, age=age)
