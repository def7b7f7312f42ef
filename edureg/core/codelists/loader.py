"""Finding and loading versioned code-list files.

Each version is an immutable JSON file ``<directory>/<list name>/<version>.json``. The shipped
directory comes first; an authority adds newer versions by dropping files into the directories
named in ``EDUREG_CODE_LIST_DIRS`` (separated by ``os.pathsep``), without a code change.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo

from edureg.core.codelists.base import CodeEntry, CodeList

__all__ = [
    "CODE_LIST_DIRS_ENV",
    "SHIPPED_DATA_DIR",
    "CodeListError",
    "UnknownCodeListError",
    "available_versions",
    "clear_cache",
    "code_list_dirs",
    "current_version",
    "get_list",
    "list_names",
    "load_code_list_file",
]

CODE_LIST_DIRS_ENV: Final = "EDUREG_CODE_LIST_DIRS"
SHIPPED_DATA_DIR: Final = Path(__file__).resolve().parent / "data"
# Code lists change on Vietnamese calendar dates (the 2025 reform took effect 1 July 2025, VN time).
_VIETNAM_TZ: Final = ZoneInfo("Asia/Ho_Chi_Minh")
_SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SAFE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class CodeListError(Exception):
    """A code-list file is missing, malformed or contradicts another file."""


class UnknownCodeListError(CodeListError, LookupError):
    """No such list, or no such version of it."""


@dataclass(frozen=True, slots=True)
class _VersionFile:
    version: str
    valid_from: date
    path: Path


def code_list_dirs() -> tuple[Path, ...]:
    """The shipped data directory, then the ones configured in ``EDUREG_CODE_LIST_DIRS``."""
    return _dirs_of(os.environ.get(CODE_LIST_DIRS_ENV, ""))


@lru_cache(maxsize=8)
def _dirs_of(configured: str) -> tuple[Path, ...]:
    # Cached by the setting's text: a look-up per coded value must not build paths each time.
    extra = tuple(Path(item) for item in configured.split(os.pathsep) if item.strip())
    return (SHIPPED_DATA_DIR, *extra)


def _freeze(value: object) -> object:
    if isinstance(value, dict):
        return MappingProxyType({str(key): _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


def _require_str(data: Mapping[str, object], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise CodeListError(f"{where}: '{key}' must be a non-empty string")
    return value


def _parse_entry(raw: object, where: str) -> CodeEntry:
    if not isinstance(raw, dict):
        raise CodeListError(f"{where}: each entry must be an object")
    code = _require_str(raw, "code", where)
    name = _require_str(raw, "name", f"{where} [{code}]")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(alias, str) for alias in aliases):
        raise CodeListError(f"{where} [{code}]: 'aliases' must be a list of strings")
    parent = raw.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise CodeListError(f"{where} [{code}]: 'parent' must be a string or null")
    extra = raw.get("extra", {})
    if not isinstance(extra, dict):
        raise CodeListError(f"{where} [{code}]: 'extra' must be an object")
    frozen_extra = _freeze(extra)
    assert isinstance(frozen_extra, MappingProxyType)
    return CodeEntry(
        code=code, name=name, aliases=tuple(aliases), parent=parent, extra=frozen_extra
    )


def _parse_date(value: str, where: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CodeListError(f"{where}: 'valid_from' must be YYYY-MM-DD") from error


def _read_document(path: Path) -> Mapping[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CodeListError(f"{path}: cannot read code list: {error}") from error
    if not isinstance(data, dict):
        raise CodeListError(f"{path}: a code list must be a JSON object")
    return data


def _parse_header(data: Mapping[str, object], path: Path) -> _VersionFile:
    where = str(path)
    name = _require_str(data, "name", where)
    version = _require_str(data, "version", where)
    if name != path.parent.name or version != path.stem:
        raise CodeListError(
            f"{where}: file says {name}/{version}, path says {path.parent.name}/{path.stem}"
        )
    valid_from = _parse_date(_require_str(data, "valid_from", where), where)
    _require_str(data, "source", where)
    return _VersionFile(version=version, valid_from=valid_from, path=path)


def load_code_list_file(path: Path) -> CodeList:
    """Read and validate one code-list file; its name and version must match its path."""
    data = _read_document(path)
    header = _parse_header(data, path)
    where = str(path)
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list):
        raise CodeListError(f"{where}: 'entries' must be a list")
    entries = tuple(_parse_entry(raw, where) for raw in raw_entries)
    seen: set[str] = set()
    for entry in entries:
        if entry.code in seen:
            raise CodeListError(f"{where}: duplicate code {entry.code!r}")
        seen.add(entry.code)
    return CodeList(
        name=path.parent.name,
        version=header.version,
        valid_from=header.valid_from,
        source=_require_str(data, "source", where),
        entries=entries,
    )


@cache
def _load_path(path: Path) -> CodeList:
    return load_code_list_file(path)


@lru_cache(maxsize=8)
def _catalogue(dirs: tuple[Path, ...]) -> Mapping[str, tuple[_VersionFile, ...]]:
    found: dict[str, dict[str, _VersionFile]] = {}
    for directory in dirs:
        if not directory.is_dir():
            continue
        for list_dir in sorted(directory.iterdir()):
            if not list_dir.is_dir() or not _SAFE_NAME.match(list_dir.name):
                continue
            for path in sorted(list_dir.glob("*.json")):
                if not _SAFE_VERSION.match(path.stem):
                    continue
                # Only the header is validated here; entries are parsed on first use of a list.
                document = _read_document(path)
                header = _parse_header(document, path)
                versions = found.setdefault(list_dir.name, {})
                existing = versions.get(header.version)
                if existing is not None:
                    if _read_document(existing.path) != document:
                        raise CodeListError(
                            f"{path}: version {header.version} of {list_dir.name} already exists "
                            f"with different content in {existing.path}; versions are immutable, "
                            "publish a new version instead"
                        )
                    continue
                versions[header.version] = header
    return {
        name: tuple(sorted(versions.values(), key=lambda item: (item.valid_from, item.version)))
        for name, versions in found.items()
    }


def _versions_of(name: str) -> tuple[_VersionFile, ...]:
    versions = _catalogue(code_list_dirs()).get(name)
    if not versions:
        raise UnknownCodeListError(f"unknown code list {name!r}")
    return versions


def _today() -> date:
    return datetime.now(tz=_VIETNAM_TZ).date()


def list_names() -> list[str]:
    return sorted(_catalogue(code_list_dirs()))


def available_versions(name: str) -> list[str]:
    """Versions of a list, oldest first (by the date each takes effect)."""
    return [item.version for item in _versions_of(name)]


def current_version(name: str, *, on: date | None = None) -> str:
    """The version in force on ``on`` (default: today in Vietnam): latest ``valid_from`` ≤ day."""
    day = on if on is not None else _today()
    in_force = [item for item in _versions_of(name) if item.valid_from <= day]
    if not in_force:
        raise UnknownCodeListError(f"no version of code list {name!r} is in force on {day}")
    return in_force[-1].version


# get_list's answers by (configured directories, name, version, day): validation asks for a
# list once per coded value, tens of thousands of times per imported workbook.
_resolved: dict[tuple[str, str, str | None, date | None], CodeList] = {}


def get_list(name: str, version: str | None = None, *, on: date | None = None) -> CodeList:
    """A code list: the given version, or the one in force on ``on`` (default: today)."""
    configured = os.environ.get(CODE_LIST_DIRS_ENV, "")
    day = None if version is not None else (on if on is not None else _today())
    key = (configured, name, version, day)
    found = _resolved.get(key)
    if found is not None:
        return found
    versions = _versions_of(name)
    wanted = version if version is not None else current_version(name, on=day)
    for item in versions:
        if item.version == wanted:
            if len(_resolved) > 1024:
                _resolved.clear()
            found = _resolved[key] = _load_path(item.path)
            return found
    raise UnknownCodeListError(f"code list {name!r} has no version {wanted!r}")


def clear_cache() -> None:
    """Forget loaded files, e.g. after a test writes a new version into a directory."""
    _catalogue.cache_clear()
    _load_path.cache_clear()
    _resolved.clear()
