"""Purposes and consent rules as versioned data, and who must consent (pure rules)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from edureg.core.catalogue import active_catalogue
from edureg.privacy import datafiles, purposes
from edureg.privacy.datafiles import DATA_DIRS_ENV, SHIPPED_DATA_DIR, PrivacyDataError
from edureg.privacy.purposes import ConsentRules, purposes_in_force, required_parties

RULES = ConsentRules(child_own_consent_from_age=7, guardian_consent_until_age=18, basis="x")
DAY = dt.date(2026, 9, 5)


@pytest.fixture
def extra_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(DATA_DIRS_ENV, str(tmp_path))
    datafiles.clear_cache()
    purposes.clear_cache()
    yield tmp_path
    datafiles.clear_cache()
    purposes.clear_cache()


def _shipped() -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (SHIPPED_DATA_DIR / "purposes" / "2026.1.json").read_text(encoding="utf-8"))
    return data


def _publish(directory: Path, version: str, data: dict[str, object], valid_from: str) -> None:
    (directory / "purposes").mkdir(exist_ok=True)
    data = {**data, "version": version, "valid_from": valid_from}
    (directory / "purposes" / f"{version}.json").write_text(
        json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_shipped_purposes_mark_statutory_and_consent_based_ones() -> None:
    shipped = purposes_in_force(on=dt.date(2026, 9, 1))
    statutory = shipped.get("quan_ly_giao_duc")
    photos = shipped.get("anh_truyen_thong")
    assert statutory is not None
    assert not statutory.requires_consent
    assert photos is not None
    assert photos.requires_consent
    assert {p.code for p in shipped.needing_consent("student")} == {
        "anh_truyen_thong", "theo_doi_suc_khoe", "chia_se_tram_y_te"}
    assert (shipped.rules.child_own_consent_from_age,
            shipped.rules.guardian_consent_until_age) == (7, 18)
    for purpose in shipped.purposes:
        assert purpose.legal_basis
        assert purpose.retention.label
        assert purpose.notice_version


def test_every_purpose_uses_only_categories_of_the_field_catalogue(db: None) -> None:
    known = {field.category for field in active_catalogue().fields}
    for purpose in purposes_in_force().purposes:
        assert set(purpose.categories) <= known, purpose.code


def test_a_newer_version_takes_effect_on_its_date(extra_dir: Path) -> None:
    data = _shipped()
    data["rules"] = {**data["rules"], "child_own_consent_from_age": 8}  # type: ignore[dict-item]
    _publish(extra_dir, "2027.1", data, "2027-01-01")
    assert purposes_in_force(on=dt.date(2026, 12, 31)).version == "2026.1"
    later = purposes_in_force(on=dt.date(2027, 1, 1))
    assert (later.version, later.rules.child_own_consent_from_age) == ("2027.1", 8)


def test_a_published_version_cannot_be_changed_in_another_directory(extra_dir: Path) -> None:
    data = _shipped()
    data["source"] = "edited"
    _publish(extra_dir, "2026.1", data, "2026-01-01")
    with pytest.raises(PrivacyDataError, match="immutable"):
        purposes_in_force()


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["purposes"][1].pop("requires_consent"), "requires_consent"),
    (lambda d: d["purposes"][1].__setitem__("entities", ["alien"]), "entities"),
    (lambda d: d["purposes"].append(dict(d["purposes"][0])), "duplicate purpose"),
    (lambda d: d["rules"].__setitem__("child_own_consent_from_age", 30), "child's own"),
    (lambda d: d["purposes"][2]["retention"].__setitem__("months", 0), "months"),
])
def test_a_malformed_file_is_refused_naming_what_is_wrong(extra_dir: Path, change: object,
                                                          message: str) -> None:
    data = json.loads(json.dumps(_shipped()))
    change(data)  # type: ignore[operator]
    _publish(extra_dir, "2026.2", data, "2026-02-01")
    with pytest.raises(PrivacyDataError, match=message):
        purposes.purposes_version("2026.2")


def test_a_file_whose_header_contradicts_its_path_is_refused(extra_dir: Path) -> None:
    (extra_dir / "purposes").mkdir()
    shutil.copy(SHIPPED_DATA_DIR / "purposes" / "2026.1.json",
                extra_dir / "purposes" / "2026.9.json")
    with pytest.raises(PrivacyDataError, match="path says"):
        purposes_in_force()


@pytest.mark.parametrize(("born", "guardian", "subject", "age"), [
    (dt.date(2021, 9, 6), True, False, 4),
    (dt.date(2019, 9, 6), True, False, 6),  # turns 7 tomorrow
    (dt.date(2019, 9, 5), True, True, 7),  # 7 today
    (dt.date(2012, 1, 1), True, True, 14),
    (dt.date(2008, 9, 6), True, True, 17),
    (dt.date(2008, 9, 5), False, True, 18),
    (None, True, True, None),  # unknown age: both, the side that cannot be wrong
])
def test_who_must_consent_for_a_pupil(born: dt.date | None, guardian: bool, subject: bool,
                                      age: int | None) -> None:
    parties = required_parties(entity="student", date_of_birth=born, on=DAY, rules=RULES)
    assert (parties.guardian, parties.subject, parties.age) == (guardian, subject, age)


@pytest.mark.parametrize("entity", ["guardian", "staff"])
def test_adults_consent_for_themselves(entity: str) -> None:
    parties = required_parties(entity=entity, date_of_birth=None, on=DAY, rules=RULES)
    assert (parties.guardian, parties.subject) == (False, True)
