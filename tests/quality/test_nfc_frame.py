"""The batch path's NFC step gives what the per-record path's ``unicodedata`` gives."""

from __future__ import annotations

import unicodedata

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from edureg.quality.rules.checks import nfc_frame


@given(st.lists(st.text(max_size=12), min_size=1, max_size=8))
def test_nfc_frame_gives_the_nfc_of_every_value(values: list[str]) -> None:
    out = nfc_frame(pl.DataFrame({"text": values})).get_column("text").to_list()
    assert out == [unicodedata.normalize("NFC", value) for value in values]


def test_nfc_frame_normalises_decomposed_vietnamese_among_composed() -> None:
    names = ["Trần Văn Đức", unicodedata.normalize("NFD", "Nguyễn Thị Ánh Tuyết"), None]
    out = nfc_frame(pl.DataFrame({"name": names}, schema={"name": pl.Utf8}))
    assert out.get_column("name").to_list() == ["Trần Văn Đức", "Nguyễn Thị Ánh Tuyết", None]
