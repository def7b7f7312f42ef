"""Vietnamese-aware matching features for person records: pure functions, no Django, no ORM.

Every helper accepts any text (or ``None``) and never raises on odd input: a value that carries
no usable information becomes ``None`` ("missing"), and the engine never counts a missing value
as agreement. Stored values are never changed; these are matching keys only.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Final, Literal

import polars as pl

from edureg.core.phone import PhoneError, normalise_phone
from edureg.core.text import fold_diacritics, name_match_key, split_name

__all__ = [
    "DateRelation",
    "birth_year",
    "date_key",
    "date_relation",
    "family_name_key",
    "given_name_key",
    "guardian_features",
    "middle_names_key",
    "name_key",
    "normalise_match_text",
    "phone_key",
    "prepare_person_frame",
    "swapped_date_key",
]

DateRelation = Literal[
    "exact", "day_month_swapped", "one_digit", "same_year", "different", "missing"
]

# Anything that is not a letter, a combining mark, a digit or a space separates words: dots in
# "Ng. Văn A", commas, hyphens and stray symbols from copy-paste.
_NON_WORD: Final = re.compile(r"[^\w\s]|_", re.UNICODE)
_DIGITS: Final = re.compile(r"\d+")


def normalise_match_text(value: str | None) -> str | None:
    """NFC, casefold, punctuation to spaces, whitespace collapsed; ``None`` when nothing is left.

    Keeps diacritics: "NGUYỄN  Thị" and the NFD spelling of "nguyễn thị" give the same value.
    """
    if value is None:
        return None
    # Casefolding can produce decomposed sequences (e.g. "İ" -> "i̇"), so normalise after it too.
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())
    # Control and format characters (zero-width joiners, BOM) make identical names differ;
    # drop them before punctuation becomes spaces, so one inside a word does not split it.
    text = "".join(char for char in text if unicodedata.category(char)[0] != "C")
    text = _NON_WORD.sub(" ", text)
    collapsed = " ".join(text.split())
    return collapsed or None


def name_key(value: str | None) -> str | None:
    """Diacritic-free, casefolded name key: "NGUYỄN  thị ánh" -> "nguyen thi anh".

    Diacritics are often dropped or misplaced when names are typed, so matching compares folded
    keys; the engine can still reward an exact match on the accented form separately.
    """
    normalised = normalise_match_text(value)
    if normalised is None:
        return None
    key = name_match_key(fold_diacritics(normalised))
    # Folding can leave bare combining marks on non-letters; drop anything that is not a word.
    key = " ".join(_NON_WORD.sub(" ", key).split())
    return key or None


def family_name_key(value: str | None) -> str | None:
    """First word of a Vietnamese full name (family name), folded; ``None`` for one-word names."""
    key = name_key(value)
    return (split_name(key).family or None) if key else None


def middle_names_key(value: str | None) -> str | None:
    """Words between family and given name, folded; ``None`` when there is no middle name."""
    key = name_key(value)
    return (split_name(key).middle or None) if key else None


def given_name_key(value: str | None) -> str | None:
    """Last word of a Vietnamese full name (the given name, "tên"), folded."""
    key = name_key(value)
    return (split_name(key).given or None) if key else None


def phone_key(value: str | None) -> str | None:
    """A phone number in its national ``0…`` form, or ``None`` when it is not a valid one
    (junk such as "0000000000" is never shared evidence)."""
    if not value:
        return None
    try:
        return normalise_phone(value)
    except PhoneError:
        return None


def _parse_date(value: str | date | None) -> tuple[int, int, int] | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.year, value.month, value.day
    text = unicodedata.normalize("NFKC", value).strip()
    groups = _DIGITS.findall(text)
    if len(groups) == 1 and len(groups[0]) == 8:
        digits = groups[0]
        year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:])
    elif len(groups) == 3 and len(groups[0]) == 4:
        year, month, day = (int(group) for group in groups)  # ISO: 2015-09-02
    elif len(groups) == 3 and len(groups[2]) == 4:
        day, month, year = (int(group) for group in groups)  # Vietnamese: 02/09/2015
    else:
        return None
    # Keep dates whose day and month are plausible either way round, so a day/month swap
    # (13/05 typed as 05/13) is still comparable; reject only nonsense.
    if not (1000 <= year <= 9999 and 1 <= month <= 31 and 1 <= day <= 31):
        return None
    if month > 12 and day > 12:
        return None
    return year, month, day


def date_key(value: str | date | None) -> str | None:
    """``YYYYMMDD`` from ISO, ``DD/MM/YYYY``, ``YYYYMMDD`` or a ``date``; ``None`` if unusable."""
    parsed = _parse_date(value)
    if parsed is None:
        return None
    year, month, day = parsed
    return f"{year:04d}{month:02d}{day:02d}"


def swapped_date_key(value: str | date | None) -> str | None:
    """The same date with day and month exchanged (``YYYYDDMM``); for blocking on swaps."""
    key = date_key(value)
    return None if key is None else key[:4] + key[6:8] + key[4:6]


def birth_year(value: str | date | None) -> int | None:
    parsed = _parse_date(value)
    return None if parsed is None else parsed[0]


def date_relation(left: str | date | None, right: str | date | None) -> DateRelation:
    """How two dates of birth relate; missing on either side is ``"missing"``, never agreement."""
    left_key, right_key = date_key(left), date_key(right)
    if left_key is None or right_key is None:
        return "missing"
    if left_key == right_key:
        return "exact"
    if (
        left_key[:4] == right_key[:4]
        and left_key[4:6] == right_key[6:8]
        and (left_key[6:8] == right_key[4:6])
    ):
        return "day_month_swapped"
    if sum(a != b for a, b in zip(left_key, right_key, strict=True)) == 1:
        return "one_digit"
    if left_key[:4] == right_key[:4]:
        return "same_year"
    return "different"


def _map_unique(frame: pl.DataFrame, column: str, function: object, name: str) -> pl.Series:
    """Apply a Python helper once per distinct value: names repeat heavily in a population."""
    values = frame.get_column(column).cast(pl.String)
    distinct = values.unique()
    mapped = [function(value) for value in distinct.to_list()]  # type: ignore[operator]
    lookup = pl.DataFrame({"value": distinct, name: mapped}, strict=False)
    joined = pl.DataFrame({"value": values}).join(lookup, on="value", how="left", nulls_equal=True)
    return joined.get_column(name)


def prepare_person_frame(
    frame: pl.DataFrame,
    *,
    id_column: str,
    full_name_column: str,
    date_of_birth_column: str,
    id_number_column: str | None = None,
    extra_columns: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Derive the columns ``person_spec`` compares from raw person rows.

    Output columns: ``id``, ``full_name`` (normalised, accented), ``full_key``, ``family``,
    ``middle``, ``given`` (folded), ``dob`` (``YYYYMMDD``), ``dob_swapped``, ``birth_year``,
    ``id_number`` (digits only) and the ``extra_columns`` unchanged.
    """
    names = frame.get_column(full_name_column).cast(pl.String)
    base = pl.DataFrame({"name": names})
    out = pl.DataFrame(
        {
            "id": frame.get_column(id_column),
            "full_name": _map_unique(base, "name", normalise_match_text, "full_name"),
            "full_key": _map_unique(base, "name", name_key, "full_key"),
            "family": _map_unique(base, "name", family_name_key, "family"),
            "middle": _map_unique(base, "name", middle_names_key, "middle"),
            "given": _map_unique(base, "name", given_name_key, "given"),
        }
    )
    dobs = pl.DataFrame({"dob": frame.get_column(date_of_birth_column).cast(pl.String)})
    dob = _map_unique(dobs, "dob", date_key, "dob_key")
    out = out.with_columns(
        dob.alias("dob"),
        _map_unique(dobs, "dob", swapped_date_key, "swapped").alias("dob_swapped"),
        dob.str.slice(0, 4).cast(pl.Int32, strict=False).alias("birth_year"),
    )
    if id_number_column is not None:
        id_numbers = (
            frame.get_column(id_number_column)
            .cast(pl.String)
            .str.replace_all(r"\D", "")
            .replace("", None)
        )
    else:
        id_numbers = pl.Series([None] * frame.height, dtype=pl.String)
    out = out.with_columns(id_numbers.alias("id_number"))
    if extra_columns:
        out = out.with_columns(frame.select(extra_columns))
    return out


# A phone number shared by more persons than a family has children at school is a school's
# or an agent's number typed for everyone: it says nothing about who is who.
MAX_PERSONS_PER_PHONE: Final = 6


def guardian_features(
    links: pl.DataFrame,
    *,
    person_column: str,
    full_name_column: str,
    phone_column: str,
) -> pl.DataFrame:
    """Per person, the evidence their parents or guardians give: ``guardian_names`` (sorted,
    distinct folded full names), ``guardian_key`` (those names joined, for blocking) and
    ``guardian_phones`` (valid numbers, without those shared by many persons). ``links`` has
    one row per person and guardian; a person without usable values gets nulls (missing), never
    empty lists, so the engine counts nothing for them.

    A child typed in again at another school usually comes with the same parents (names and
    phone retyped), which a name-and-birth-date coincidence in a city of millions does not.
    """
    base = pl.DataFrame({
        "id": links.get_column(person_column),
        "name": _map_unique(links, full_name_column, name_key, "name"),
        "phone": _map_unique(links, phone_column, phone_key, "phone"),
    })
    shared = (base.drop_nulls("phone").group_by("phone").agg(pl.col("id").n_unique().alias("n"))
              .filter(pl.col("n") > MAX_PERSONS_PER_PHONE).get_column("phone"))
    base = base.with_columns(
        pl.when(pl.col("phone").is_in(shared.implode())).then(None).otherwise(pl.col("phone"))
        .alias("phone"))
    names = (base.drop_nulls("name").group_by("id")
             .agg(pl.col("name").unique().sort().alias("guardian_names")))
    phones = (base.drop_nulls("phone").group_by("id")
              .agg(pl.col("phone").unique().sort().alias("guardian_phones")))
    return (names.join(phones, on="id", how="full", coalesce=True)
            .with_columns(pl.col("guardian_names").list.join(" | ").alias("guardian_key"))
            .select("id", "guardian_names", "guardian_key", "guardian_phones"))
