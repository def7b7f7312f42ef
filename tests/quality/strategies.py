"""Hypothesis strategies for rows as the quality rules see them."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence

import polars as pl
from hypothesis import strategies as st

# Polars strings are UTF-8: lone surrogates cannot be stored, so they are left out everywhere.
CHARACTERS = st.characters(exclude_categories=("Cs",))
WHITESPACE = ("", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\x1f", "\x85")
SYMBOLS = "!@#$%^&*()_+=[]{};:'\"<>?/\\|~`-.,"
VIETNAMESE_NAMES = (
    "Nguyễn Văn An", "Trần Thị Bình", "Lê Thị Ánh Tuyết", "Phạm Quốc Việt", "Đặng Thị Hường",
    "Hờ A Pó", "Lò Văn Sính", "Y Niê", "H'Hen Niê", "Giàng Thị Dợ", "Ksor H'Bia",
)
ODD_DATE_TEXTS = ("", " ", "2019-02-29", "2020-13-01", "0000-00-00", "9999-12-31",
                  "2021-W01-1", "2010-1-1", "20100101", "2010-01-01junk", " 2010-01-01")


def nfc_or_nfd(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([unicodedata.normalize("NFC", text),
                            unicodedata.normalize("NFD", text)])


def any_case(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([text, text.upper(), text.title()]).flatmap(nfc_or_nfd)


vietnamese = st.sampled_from(VIETNAMESE_NAMES).flatmap(nfc_or_nfd)
long_texts = st.builds(
    lambda unit, times, tail: (unit * times)[:5000 - len(tail)] + tail,
    st.sampled_from(["a", "Nguyễn ", "0", " ", "ab1 ", "ệ"]), st.integers(200, 5000),
    st.sampled_from(["", "asdf", "test", "0"]),
)
digits = st.text(alphabet="0123456789", min_size=1, max_size=13)
symbols = st.text(alphabet=SYMBOLS, min_size=1, max_size=6)
garbage = st.text(CHARACTERS, max_size=24)


def personal_ids(prefixes: Sequence[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda prefix, digit, year, rest: f"{prefix}{digit}{year:02d}{rest:06d}",
        st.sampled_from([*prefixes, "000", "300", "999"]), st.sampled_from("0123456789"),
        st.integers(0, 99), st.integers(0, 999_999),
    )


phones = st.builds(
    lambda start, rest: start + rest,
    st.sampled_from(["03", "05", "07", "08", "09", "02", "01", "+84", "84"]),
    st.text(alphabet="0123456789", min_size=6, max_size=10),
)


def texts(meaningful: Sequence[str], prefixes: Sequence[str]) -> st.SearchStrategy[str]:
    choices = [
        st.sampled_from(WHITESPACE), vietnamese, garbage, digits, symbols, long_texts,
        personal_ids(prefixes), phones,
    ]
    if meaningful:
        choices.insert(0, st.sampled_from(meaningful).flatmap(any_case))
    padding = st.sampled_from(["", "", "", " ", "  ", "\t", "\u00a0", "\n"])
    return st.builds(lambda before, text, after: before + text + after,
                     padding, st.one_of(*choices), padding)


dates = st.dates(min_value=dt.date(1850, 1, 1), max_value=dt.date(2150, 12, 31))
days = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2060, 12, 31))
iso_texts = st.one_of(
    dates.map(dt.date.isoformat),
    dates.map(lambda day: f"{day.isoformat()}T08:30:00"),
    dates.map(lambda day: f"{day.isoformat()} 01:02:03.456789+00:00"),
    st.text(alphabet="0123456789-W:T /.", max_size=16),
    st.text(CHARACTERS, max_size=12),
    st.sampled_from(ODD_DATE_TEXTS),
)
integers = st.one_of(st.integers(0, 13), st.integers(1850, 2150),
                     st.integers(-(2**40), 2**40))

# The Polars dtype of a column whose values were drawn as this kind.
DTYPES: dict[str, pl.DataType] = {
    "text": pl.Utf8(), "iso": pl.Utf8(), "date": pl.Date(), "int": pl.Int64(),
}
