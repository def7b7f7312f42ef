"""The building blocks of quality rules, each with two evaluations of one definition.

A check answers "is this record in violation?". ``row`` evaluates it on one record (a mapping of
column → Python value) for the per-record path on every write; ``expr`` builds the same test as a
Polars expression for the batch path (a full rescan of millions of rows), given the frame's column
types when known (a Date column need not go through its text). A rule is defined once,
as a composition of checks; the two evaluations are generated from that one definition, and a
property test (``tests/quality/test_paths_agree.py``) proves they agree on generated data.

Rules never raise on odd data: missing columns' values, ``None``, wrong types, empty or huge
strings, NFD text — a check that cannot judge a value answers "no violation". Regular expressions
are kept to the syntax that Python's ``re`` and Rust's ``regex`` (Polars) read the same way.
No ORM here (CONVENTIONS.md: pure rules import no ORM).
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Collection, Mapping
from typing import Any

import polars as pl

Row = Mapping[str, Any]
# A frame's column types (``DataFrame.schema``): the batch expressions of a column whose type is
# known skip the text round trip that an unknown column needs. Without it, any typing works.
Types = Mapping[str, pl.DataType]


def _type(column: str, types: Types | None) -> pl.DataType | None:
    return types.get(column) if types is not None else None


def _text(value: object, *, nfc: bool = True) -> str | None:
    """A value as NFC text stripped of surrounding space; None when it is not text. (The
    batch path gets NFC text from ``nfc_frame``; ``nfc`` is accepted for symmetry.)"""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value).strip(_SPACES)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value) if _INT_MIN <= value <= _INT_MAX else None
    return None


# The range a batch column (Int64) can hold; larger numbers are no valid value of any field.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
# Field values are text, integers (bool included) or dates; floats, lists and mappings are no
# value of any field and count as missing in both paths.
_SCALARS = (str, int, dt.date)

def _text_expr(column: str, *, nfc: bool = True) -> pl.Expr:
    """The column's text stripped; the frame must have passed through ``nfc_frame``."""
    return pl.col(column).cast(pl.Utf8, strict=False).str.strip_chars(_SPACES)


def _search_expr(column: str, pattern: str) -> pl.Expr:
    return _text_expr(column).str.contains(pattern).fill_null(False)


def _nfc_unstable_class() -> str:
    """A regex class of every character that can make a string non-NFC: characters NFC changes
    and characters that may compose with the one before (NFC_Quick_Check No or Maybe). A string
    without any of them is already NFC (UAX #15 quick check), so only the rare rest is
    normalised in the batch path — normalising every value costs seconds per million."""
    unstable: set[int] = set()
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        if unicodedata.combining(char) or unicodedata.normalize("NFC", char) != char:
            unstable.add(code)
        decomposition = unicodedata.decomposition(char)
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                unstable.add(int(parts[1], 16))
    unstable.update(range(0x1161, 0x1176))  # Hangul vowel and trailing jamo compose
    unstable.update(range(0x11A8, 0x11C3))
    ranges: list[tuple[int, int]] = []
    for code in sorted(unstable):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "[" + "".join(
        f"\\x{{{lo:X}}}" if lo == hi else f"\\x{{{lo:X}}}-\\x{{{hi:X}}}"
        for lo, hi in ranges) + "]"


@functools.cache
def nfc_unstable() -> str:
    return _nfc_unstable_class()


def nfc_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame ready for the checks: every text column in NFC (normalising only the values
    that need it), and columns of lists, structs or objects replaced by NULL (as the per-record
    path treats such values: no value of a field)."""
    updates = []
    texts = []
    for name, dtype in frame.schema.items():
        if dtype.is_nested() or dtype.is_float() or dtype == pl.Object:
            updates.append(pl.lit(None, dtype=pl.Utf8).alias(name))
        elif dtype == pl.Utf8:
            texts.append(name)
    # A column of ASCII text (codes, numbers) is NFC as it is; telling which are costs a
    # fraction of looking for unstable characters in every value.
    ascii_only = frame.select(
        (pl.col(name).str.len_bytes() == pl.col(name).str.len_chars()).all()
        for name in texts).row(0) if texts else ()
    for name, plain in zip(texts, ascii_only, strict=True):
        if plain:
            continue
        needs = frame.get_column(name).str.contains(nfc_unstable()).fill_null(False)
        if needs.any():
            updates.append(pl.when(needs).then(pl.col(name).str.normalize("NFC"))
                           .otherwise(pl.col(name)).alias(name))
    return frame.with_columns(updates) if updates else frame


# One explicit set for both paths: Python's str.strip() and Rust's trim disagree on a few
# control characters (U+001C–U+001F are "space" to Python only).
_SPACES = " \t\n\r\f\v\u00a0"


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _date(value: object) -> dt.date | None:
    """A date, or text starting with YYYY-MM-DD (as SQLite returns dates); else None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _date_expr(column: str, types: Types | None = None) -> pl.Expr:
    """The batch form of ``_date``: Date and Datetime columns as dates, text parsed from its
    first ten characters when they are YYYY-MM-DD of a real day (year 0001 or later). A column
    known to be a Date or Datetime (``types``) is taken as the day it holds, which is what its
    text would give."""
    kind = _type(column, types)
    if kind == pl.Date or kind == pl.Datetime:
        day = pl.col(column) if kind == pl.Date else pl.col(column).dt.date()
        return pl.when(day.dt.year().is_between(1, 9999)).then(day)
    text = pl.col(column).cast(pl.Utf8, strict=False).str.slice(0, 10)
    valid = text.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$") & ~text.str.starts_with("0000")
    return pl.when(valid).then(text.str.to_date("%Y-%m-%d", strict=False))


_INTEGER = re.compile(r"-?[0-9]{1,18}")
_EIGHTEEN_DIGITS = 10**18 - 1
# Integer columns whose every value fits Int64.
_INTEGER_TYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)
_NEVER_EMPTY_TYPES = (*_INTEGER_TYPES, pl.Boolean, pl.Date, pl.Datetime)


def _int(value: object) -> int | None:
    """An int, or text that is exactly an integer of up to 18 digits (no spaces, no sign
    other than "-"); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _INT_MAX else None
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    return None


def _int_expr(column: str, types: Types | None = None) -> pl.Expr:
    """The batch form of ``_int``. A column known to hold integers (``types``) is taken as it
    is when its text would be an integer of up to 18 digits."""
    if _type(column, types) in _INTEGER_TYPES:
        number = pl.col(column).cast(pl.Int64)
        return pl.when(number.is_between(-_EIGHTEEN_DIGITS, _EIGHTEEN_DIGITS)).then(number)
    text = pl.col(column).cast(pl.Utf8, strict=False)
    return pl.when(text.str.contains(r"^-?[0-9]{1,18}$")).then(
        text.cast(pl.Int64, strict=False))


class Check(abc.ABC):
    """True = the record violates the rule. ``None`` inputs never violate (except ``Blank``)."""

    @abc.abstractmethod
    def row(self, record: Row) -> bool: ...

    @abc.abstractmethod
    def expr(self, types: Types | None = None) -> pl.Expr: ...

    @property
    @abc.abstractmethod
    def columns(self) -> frozenset[str]: ...

    def search(self) -> tuple[str, str] | None:
        """(column, pattern) when the batch test is exactly "the column's stripped text
        contains a match of the pattern": ``AnyOf`` then runs one regular expression for all
        of a column's searches instead of one per search."""
        return None

    def __and__(self, other: Check) -> Check:
        return All((self, other))

    def __or__(self, other: Check) -> Check:
        return AnyOf((self, other))

    def __invert__(self) -> Check:
        return Not(self)


@dataclasses.dataclass(frozen=True)
class All(Check):
    parts: tuple[Check, ...]

    def row(self, record: Row) -> bool:
        return all(part.row(record) for part in self.parts)

    def expr(self, types: Types | None = None) -> pl.Expr:
        return pl.all_horizontal([part.expr(types) for part in self.parts])

    @property
    def columns(self) -> frozenset[str]:
        return frozenset().union(*(part.columns for part in self.parts))


@dataclasses.dataclass(frozen=True)
class AnyOf(Check):
    parts: tuple[Check, ...]

    def row(self, record: Row) -> bool:
        return any(part.row(record) for part in self.parts)

    def expr(self, types: Types | None = None) -> pl.Expr:
        searches: dict[str, list[str]] = {}
        others = []
        for part in _any_parts(self):
            found = part.search()
            if found is None or "(?P<" in found[1] or "(?<" in found[1]:  # a name may clash
                others.append(part.expr(types))
            else:
                searches.setdefault(found[0], []).append(found[1])
        # An inline flag such as (?i) holds to the end of its group (Rust's regex).
        merged = [_search_expr(column, "|".join(f"(?:{p})" for p in patterns))
                  for column, patterns in searches.items()]
        return pl.any_horizontal([*merged, *others])

    @property
    def columns(self) -> frozenset[str]:
        return frozenset().union(*(part.columns for part in self.parts))


def _any_parts(check: AnyOf) -> list[Check]:
    """The parts of nested ``AnyOf``s (``a | b | c``) as one list."""
    return [leaf for part in check.parts
            for leaf in (_any_parts(part) if isinstance(part, AnyOf) else [part])]


@dataclasses.dataclass(frozen=True)
class Not(Check):
    part: Check

    def row(self, record: Row) -> bool:
        return not self.part.row(record)

    def expr(self, types: Types | None = None) -> pl.Expr:
        return ~self.part.expr(types)

    @property
    def columns(self) -> frozenset[str]:
        return self.part.columns


@dataclasses.dataclass(frozen=True)
class Blank(Check):
    """Missing: NULL, or text that is empty once stripped (an empty JSON list counts too)."""

    column: str

    def row(self, record: Row) -> bool:
        value = record.get(self.column)
        if value is None or not isinstance(value, _SCALARS):
            return True
        if isinstance(value, int) and not isinstance(value, bool) \
                and not _INT_MIN <= value <= _INT_MAX:
            return True
        if isinstance(value, str):
            return not value.strip(_SPACES)
        return False

    def expr(self, types: Types | None = None) -> pl.Expr:
        if _type(self.column, types) in _NEVER_EMPTY_TYPES:  # their text is never empty
            return pl.col(self.column).is_null()
        text = pl.col(self.column).cast(pl.Utf8, strict=False).str.strip_chars(_SPACES)
        return (pl.col(self.column).is_null() | (text == "")).fill_null(True)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})


@dataclasses.dataclass(frozen=True)
class OneOf(Check):
    """The column's text is one of ``values`` (a guard: "applies to these levels/statuses")."""

    column: str
    values: frozenset[str]

    def row(self, record: Row) -> bool:
        return _text(record.get(self.column), nfc=False) in self.values

    def expr(self, types: Types | None = None) -> pl.Expr:
        return _text_expr(self.column, nfc=False).is_in(sorted(self.values)).fill_null(False)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})


@dataclasses.dataclass(frozen=True)
class NotInList(Check):
    """Filled, but not a code of the list."""

    column: str
    codes: frozenset[str]

    def row(self, record: Row) -> bool:
        value = _text(record.get(self.column), nfc=False)
        return bool(value) and value not in self.codes

    def expr(self, types: Types | None = None) -> pl.Expr:
        text = _text_expr(self.column, nfc=False)
        return ((text != "") & ~text.is_in(sorted(self.codes))).fill_null(False)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})


@dataclasses.dataclass(frozen=True)
class Matches(Check):
    """Filled, and the (NFC, stripped) text contains a match of ``pattern``."""

    column: str
    pattern: str
    nfc: bool = True

    def row(self, record: Row) -> bool:
        value = _text(record.get(self.column), nfc=self.nfc)
        return value is not None and value != "" and re.search(self.pattern, value) is not None

    def search(self) -> tuple[str, str]:
        return self.column, self.pattern

    def expr(self, types: Types | None = None) -> pl.Expr:
        return _search_expr(self.column, self.pattern)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})


@dataclasses.dataclass(frozen=True)
class LowerIn(Check):
    """Filled, and the whole text is one of ``values``, case ignored and any run of spaces
    matching a space (placeholders like "Không  có"). One anchored regular expression, so the
    batch path needs no lower-casing or space-collapsing pass over the column."""

    column: str
    values: frozenset[str]
    nfc: bool = True

    @property
    def pattern(self) -> str:
        words = (r"[ \t]+".join(re.escape(word) for word in value.split())
                 for value in sorted(self.values))
        return "(?i)^(?:" + "|".join(words) + ")$"

    def row(self, record: Row) -> bool:
        value = _text(record.get(self.column), nfc=self.nfc)
        return value is not None and re.search(self.pattern, value) is not None

    def search(self) -> tuple[str, str]:
        return self.column, self.pattern

    def expr(self, types: Types | None = None) -> pl.Expr:
        return _search_expr(self.column, self.pattern)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})


@dataclasses.dataclass(frozen=True)
class RepeatedCharacter(Check):
    """The same Latin letter (or, with ``digits``, the same digit) ``times`` or more in a row,
    case ignored: "aaa" in a name, "0000000" in a phone. House numbers like "222" are not junk,
    so letters and digits are separate checks. Written as an alternation because Rust's regex
    has no back-references."""

    column: str
    times: int
    digits: bool = False

    @property
    def pattern(self) -> str:
        # (?i) with ASCII classes: only a-z and their capitals (Rust and Python agree there).
        alphabet = _DIGITS if self.digits else _LATIN
        return "|".join(f"[{char}{char.upper()}]{{{self.times}}}" if char.isalpha()
                        else f"{char}{{{self.times}}}" for char in alphabet)

    def row(self, record: Row) -> bool:
        value = _text(record.get(self.column), nfc=False)
        return value is not None and re.search(self.pattern, value) is not None

    def search(self) -> tuple[str, str]:
        return self.column, self.pattern

    def expr(self, types: Types | None = None) -> pl.Expr:
        return _search_expr(self.column, self.pattern)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})


@dataclasses.dataclass(frozen=True)
class DateOutside(Check):
    """A date before ``earliest`` or after the evaluation day (``today``) plus ``after_days``."""

    column: str
    earliest: dt.date
    after_days: int = 0

    def row(self, record: Row) -> bool:
        value = _date(record.get(self.column))
        today = _date(record.get(TODAY))
        if value is None or today is None:
            return False
        return value < self.earliest or value > today + dt.timedelta(days=self.after_days)

    def expr(self, types: Types | None = None) -> pl.Expr:
        value = _date_expr(self.column, types)
        latest = _date_expr(TODAY, types) + pl.duration(days=self.after_days)
        return ((value < pl.lit(self.earliest)) | (value > latest)).fill_null(False)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column, TODAY})


@dataclasses.dataclass(frozen=True)
class YearDifferenceOutside(Check):
    """``minuend − year(subtrahend)`` outside [low + offset, high + offset], where the offset is
    the value of ``offset_column`` (0 without one). Age by calendar year against the school year
    (offset = grade), a guardian's birth year against the child's, a staff member's working age."""

    minuend: str  # a year (int) or a date column
    subtrahend: str  # a year (int) or a date column
    low: int
    high: int
    offset_column: str | None = None

    def row(self, record: Row) -> bool:
        first = _year(record.get(self.minuend))
        second = _year(record.get(self.subtrahend))
        offset = _int(record.get(self.offset_column)) if self.offset_column else 0
        if first is None or second is None or offset is None:
            return False
        difference = first - second
        return not (self.low + offset <= difference <= self.high + offset)

    def expr(self, types: Types | None = None) -> pl.Expr:
        difference = _year_expr(self.minuend, types) - _year_expr(self.subtrahend, types)
        offset = _int_expr(self.offset_column, types) if self.offset_column else pl.lit(0)
        inside = difference.is_between(pl.lit(self.low) + offset, pl.lit(self.high) + offset)
        return (~inside).fill_null(False)

    @property
    def columns(self) -> frozenset[str]:
        names = {self.minuend, self.subtrahend}
        if self.offset_column:
            names.add(self.offset_column)
        return frozenset(names)


def _year(value: object) -> int | None:
    day = _date(value)
    if day is not None:
        return day.year
    number = _int(value)
    return number if number is not None and 1000 <= number <= 9999 else None


def _year_expr(column: str, types: Types | None = None) -> pl.Expr:
    kind = _type(column, types)
    if kind == pl.Date or kind == pl.Datetime:  # its text is no integer
        return _date_expr(column, types).dt.year().cast(pl.Int64)
    as_int = _int_expr(column, types)
    if kind in _INTEGER_TYPES:  # its text is no date
        return pl.when(as_int.is_between(1000, 9999)).then(as_int)
    as_date = _date_expr(column, types)
    number = pl.when(as_int.is_between(1000, 9999)).then(as_int)
    return pl.coalesce(as_date.dt.year().cast(pl.Int64), number)


@dataclasses.dataclass(frozen=True)
class PersonalIdDisagrees(Check):
    """The 12-digit personal ID's structure (``PPP G YY RRRRRR``) disagrees with the record:
    ``part`` is "prefix" (not a known place code), "century" (G above 5: no century in use),
    "sex" (digit G vs sex) or "year" (G, YY vs the year of birth). Only judged when the
    number is 12 digits (the format rule covers the rest) and the compared field is filled."""

    column: str
    part: str  # "prefix" | "sex" | "year"
    other: str = ""  # the sex or date-of-birth column
    prefixes: frozenset[str] = frozenset()

    def row(self, record: Row) -> bool:
        number = _text(record.get(self.column), nfc=False)
        if not number or len(number) != 12 or not (number.isascii() and number.isdigit()):
            return False
        digit = int(number[3])
        if self.part == "prefix":
            return number[:3] not in self.prefixes
        if self.part == "century":
            return digit > 5
        if digit > 5:
            return False
        if self.part == "sex":
            sex = _text(record.get(self.other), nfc=False)
            return sex in ("M", "F") and sex != ("F" if digit % 2 else "M")
        year = _year(record.get(self.other))
        return year is not None and year != (digit // 2 + 19) * 100 + int(number[4:6])

    def expr(self, types: Types | None = None) -> pl.Expr:
        number = _text_expr(self.column, nfc=False)
        valid = number.str.contains(r"^[0-9]{12}$")
        digit = number.str.slice(3, 1).cast(pl.Int64, strict=False)
        if self.part == "prefix":
            wrong = ~number.str.slice(0, 3).is_in(sorted(self.prefixes))
        elif self.part == "century":
            wrong = digit > 5
        elif self.part == "sex":
            sex = _text_expr(self.other, nfc=False)
            expected = pl.when(digit % 2 == 1).then(pl.lit("F")).otherwise(pl.lit("M"))
            wrong = (digit <= 5) & sex.is_in(["M", "F"]) & (sex != expected)
        else:
            year = (digit // 2 + 19) * 100 + number.str.slice(4, 2).cast(pl.Int64, strict=False)
            wrong = (digit <= 5) & (_year_expr(self.other, types) != year)
        return (valid & wrong).fill_null(False)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column, self.other} - {""})


@dataclasses.dataclass(frozen=True)
class IsTrue(Check):
    """A precomputed flag of the feed (shared ID number, attested group, …) is true."""

    column: str

    def row(self, record: Row) -> bool:
        value = record.get(self.column)
        if value is True:
            return True
        if isinstance(value, int) and not isinstance(value, bool):
            return value == 1
        return isinstance(value, str) and value.strip(_SPACES) in _TRUE_TEXTS

    def expr(self, types: Types | None = None) -> pl.Expr:
        kind = _type(self.column, types)
        if kind == pl.Boolean:
            return pl.col(self.column).fill_null(False)
        if kind in _INTEGER_TYPES:
            return (pl.col(self.column) == 1).fill_null(False)
        # A Boolean column reads "true" as text, an integer column "1".
        return (pl.col(self.column).cast(pl.Utf8, strict=False).str.strip_chars(_SPACES)
                .is_in(sorted(_TRUE_TEXTS)).fill_null(False))

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column})


@dataclasses.dataclass(frozen=True)
class OlderThan(Check):
    """A date (last confirmed) missing or more than ``days`` before the evaluation day."""

    column: str
    days: int

    def row(self, record: Row) -> bool:
        value = _date(record.get(self.column))
        today = _date(record.get(TODAY))
        if today is None:
            return False
        return value is None or (today - value).days > self.days

    def expr(self, types: Types | None = None) -> pl.Expr:
        value = _date_expr(self.column, types)
        today = _date_expr(TODAY, types)
        stale = value.is_null() | ((today - value).dt.total_days() > self.days)
        return (today.is_not_null() & stale).fill_null(False)

    @property
    def columns(self) -> frozenset[str]:
        return frozenset({self.column, TODAY})


_TRUE_TEXTS = frozenset({"1", "true"})
_LATIN = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
# The evaluation day, supplied with every row/frame so that "now" is an input, not a clock read.
TODAY = "_today"


def codes_of(values: Collection[str]) -> frozenset[str]:
    return frozenset(str(v) for v in values)
