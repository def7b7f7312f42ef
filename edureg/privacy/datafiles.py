"""Finding and loading the privacy data files (purposes, policy versions), versioned like the
code lists (``edureg.core.codelists.loader``).

Each version is an immutable JSON file ``<directory>/<name>/<version>.json`` with a header
(``name``, ``version``, ``valid_from``, ``source``). The shipped directory comes first; an
authority publishes a newer version by dropping a file into a directory named in
``EDUREG_PRIVACY_DATA_DIRS`` (separated by ``os.pathsep``), without a code change. The version in
force on a day is the one with the latest ``valid_from`` on or before it (Vietnam time).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

__all__ = [
    "DATA_DIRS_ENV",
    "SHIPPED_DATA_DIR",
    "DataFile",
    "PrivacyDataError",
    "clear_cache",
    "data_dirs",
    "document",
    "today_in_vietnam",
    "versions",
]

DATA_DIRS_ENV: Final = "EDUREG_PRIVACY_DATA_DIRS"
SHIPPED_DATA_DIR: Final = Path(__file__).resolve().parent / "data"
_VIETNAM_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")
_SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SAFE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class PrivacyDataError(Exception):
    """A privacy data file is missing, malformed or contradicts another file."""


@dataclass(frozen=True)
class DataFile:
    name: str
    version: str
    valid_from: date
    source: str
    path: Path


def data_dirs() -> tuple[Path, ...]:
    configured = os.environ.get(DATA_DIRS_ENV, "")
    extra = tuple(Path(item) for item in configured.split(os.pathsep) if item.strip())
    return (SHIPPED_DATA_DIR, *extra)


def today_in_vietnam() -> date:
    return datetime.now(tz=_VIETNAM_TZ).date()


def _read(path: Path) -> Mapping[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PrivacyDataError(f"{path}: cannot read: {error}") from error
    if not isinstance(data, dict):
        raise PrivacyDataError(f"{path}: must be a JSON object")
    return data


def _header(data: Mapping[str, object], path: Path) -> DataFile:
    values: dict[str, str] = {}
    for key in ("name", "version", "valid_from", "source"):
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise PrivacyDataError(f"{path}: '{key}' must be a non-empty string")
        values[key] = value
    if values["name"] != path.parent.name or values["version"] != path.stem:
        raise PrivacyDataError(f"{path}: file says {values['name']}/{values['version']}, "
                               f"path says {path.parent.name}/{path.stem}")
    try:
        valid_from = date.fromisoformat(values["valid_from"])
    except ValueError as error:
        raise PrivacyDataError(f"{path}: 'valid_from' must be YYYY-MM-DD") from error
    return DataFile(name=values["name"], version=values["version"], valid_from=valid_from,
                    source=values["source"], path=path)


@lru_cache(maxsize=8)
def _catalogue(dirs: tuple[Path, ...]) -> Mapping[str, tuple[DataFile, ...]]:
    found: dict[str, dict[str, DataFile]] = {}
    for directory in dirs:
        if not directory.is_dir():
            continue
        for set_dir in sorted(directory.iterdir()):
            if not set_dir.is_dir() or not _SAFE_NAME.match(set_dir.name):
                continue
            for path in sorted(set_dir.glob("*.json")):
                if not _SAFE_VERSION.match(path.stem):
                    continue
                data = _read(path)
                header = _header(data, path)
                existing = found.setdefault(set_dir.name, {}).get(header.version)
                if existing is not None:
                    if _read(existing.path) != data:
                        raise PrivacyDataError(
                            f"{path}: version {header.version} of {set_dir.name} already exists "
                            f"with different content in {existing.path}; versions are "
                            "immutable, publish a new version instead")
                    continue
                found[set_dir.name][header.version] = header
    return {name: tuple(sorted(by_version.values(), key=lambda f: (f.valid_from, f.version)))
            for name, by_version in found.items()}


def versions(name: str) -> tuple[DataFile, ...]:
    """The versions of a data set, oldest first (by the day each takes effect)."""
    found = _catalogue(data_dirs()).get(name)
    if not found:
        raise PrivacyDataError(f"no privacy data set {name!r}")
    return found


def document(name: str, version: str | None = None, *, on: date | None = None
             ) -> tuple[DataFile, Mapping[str, object]]:
    """A data set's file and content: the given version, or the one in force on ``on``."""
    available = versions(name)
    if version is None:
        day = on if on is not None else today_in_vietnam()
        in_force = [item for item in available if item.valid_from <= day]
        if not in_force:
            raise PrivacyDataError(f"no version of {name!r} is in force on {day}")
        chosen = in_force[-1]
    else:
        match = [item for item in available if item.version == version]
        if not match:
            raise PrivacyDataError(f"{name!r} has no version {version!r}")
        chosen = match[0]
    return chosen, _load(chosen.path)


@lru_cache(maxsize=64)
def _load(path: Path) -> Mapping[str, object]:
    return _read(path)


def clear_cache() -> None:
    """Forget found and loaded files (after a test writes a new version into a directory)."""
    _catalogue.cache_clear()
    _load.cache_clear()
