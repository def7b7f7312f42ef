"""Immutable code-list types: one version of one national or local code list."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from types import MappingProxyType

from edureg.core.text import fold_diacritics

__all__ = ["CodeEntry", "CodeList", "match_key"]

_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def match_key(text: str) -> str:
    """Key for matching a typed or imported value against code-list names and aliases.

    Casefolded, diacritics folded, and everything but letters and digits removed, so that
    "Khơ-me", "khome" and "Khơ me" meet, as do "H'Mông" and "Hmông".
    """
    return _NOT_ALPHANUMERIC.sub("", fold_diacritics(text).casefold())


@dataclass(frozen=True, slots=True)
class CodeEntry:
    code: str
    name: str
    aliases: tuple[str, ...] = ()
    parent: str | None = None
    # JSON object with immutable containers (tuples, read-only mappings); not hashed.
    extra: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def extra_str(self, key: str) -> str | None:
        value = self.extra.get(key)
        return value if isinstance(value, str) else None

    def extra_strs(self, key: str) -> tuple[str, ...]:
        value = self.extra.get(key)
        if isinstance(value, tuple):
            return tuple(item for item in value if isinstance(item, str))
        return ()

    def flag(self, key: str) -> bool:
        """A boolean from ``extra``; missing or non-boolean values are False."""
        return self.extra.get(key) is True


@dataclass(frozen=True)
class CodeList:
    """One version of a code list. Entries keep the order of the data file."""

    name: str
    version: str
    valid_from: date
    source: str
    entries: tuple[CodeEntry, ...]

    @cached_property
    def _by_code(self) -> Mapping[str, CodeEntry]:
        return {entry.code: entry for entry in self.entries}

    @cached_property
    def _by_exact_name(self) -> Mapping[str, tuple[CodeEntry, ...]]:
        return _index(
            (unicodedata.normalize("NFC", text), entry)
            for entry in self.entries
            for text in (entry.name, *entry.aliases)
        )

    @cached_property
    def _by_key(self) -> Mapping[str, tuple[CodeEntry, ...]]:
        return _index(
            (match_key(text), entry)
            for entry in self.entries
            for text in (entry.name, *entry.aliases)
        )

    @cached_property
    def _by_folded_code(self) -> Mapping[str, tuple[CodeEntry, ...]]:
        return _index((entry.code.casefold(), entry) for entry in self.entries)

    @cached_property
    def _children(self) -> Mapping[str | None, tuple[CodeEntry, ...]]:
        index: dict[str | None, list[CodeEntry]] = {}
        for entry in self.entries:
            index.setdefault(entry.parent, []).append(entry)
        return {parent: tuple(entries) for parent, entries in index.items()}

    @cached_property
    def _code_widths(self) -> tuple[int, ...]:
        return tuple(sorted({len(entry.code) for entry in self.entries if entry.code.isdigit()}))

    @cached_property
    def _extra_indexes(self) -> dict[str, Mapping[str | None, CodeEntry]]:
        return {}

    def find_by_extra(self, key: str, value: str) -> CodeEntry | None:
        """The first entry whose ``extra[key]`` is ``value``, from an index built on first use
        (asked once per ID number of an imported workbook)."""
        index = self._extra_indexes.get(key)
        if index is None:
            built: dict[str | None, CodeEntry] = {}
            for entry in self.entries:
                built.setdefault(entry.extra_str(key), entry)
            index = self._extra_indexes[key] = built
        return index.get(value)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._by_code

    def get(self, code: str) -> CodeEntry | None:
        return self._by_code.get(code)

    def name_of(self, code: str) -> str:
        """Display name of ``code``; an unknown code is shown as it is stored, not hidden."""
        entry = self._by_code.get(code)
        return entry.name if entry is not None else code

    def children(self, parent_code: str) -> tuple[CodeEntry, ...]:
        return self._children.get(parent_code, ())

    def choices(self) -> list[tuple[str, str]]:
        return [(entry.code, entry.name) for entry in self.entries]

    def match(self, text: str, *, parent: str | None = None) -> CodeEntry | None:
        """Find the entry a typed or imported value means.

        Tried in order: the exact code; the exact name or alias; the name or alias compared by
        ``match_key`` (case, diacritics, spaces, hyphens and apostrophes ignored); the code
        ignoring case; a digits-only code that lost its leading zeros in a spreadsheet
        ("5" -> "05"). A value that fits several entries at the first step where it fits at all
        (two communes called "Xã Tân Thành") matches nothing unless ``parent`` narrows it to one.
        """
        stripped = unicodedata.normalize("NFC", text.strip())
        if not stripped:
            return None
        steps: tuple[tuple[CodeEntry, ...], ...] = (
            tuple(entry for entry in (self._by_code.get(stripped),) if entry is not None),
            self._by_exact_name.get(stripped, ()),
            self._by_key.get(match_key(stripped), ()),
            self._by_folded_code.get(stripped.casefold(), ()),
            self._codes_without_leading_zeros(stripped),
        )
        for candidates in steps:
            if parent is not None:
                candidates = tuple(entry for entry in candidates if entry.parent == parent)
            if candidates:
                return candidates[0] if len(candidates) == 1 else None
        return None

    def _codes_without_leading_zeros(self, text: str) -> tuple[CodeEntry, ...]:
        if not text.isascii() or not text.isdigit():
            return ()
        padded = (self._by_code.get(text.zfill(width)) for width in self._code_widths)
        return tuple(entry for entry in padded if entry is not None)


def _index(pairs: Iterable[tuple[str, CodeEntry]]) -> Mapping[str, tuple[CodeEntry, ...]]:
    index: dict[str, list[CodeEntry]] = {}
    for key, entry in pairs:
        if not key:
            continue
        entries = index.setdefault(key, [])
        if entry not in entries:
            entries.append(entry)
    return {key: tuple(entries) for key, entries in index.items()}
