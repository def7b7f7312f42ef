from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edureg.core.text import (
    NameParts,
    TextValueError,
    clean_text,
    fold_diacritics,
    name_match_key,
    normalise_name,
    split_name,
    vietnamese_sort_key,
)


def nfd(value: str) -> str:
    return unicodedata.normalize("NFD", value)


# --- clean_text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Trường   Tiểu học  Lê Lợi ", "Trường Tiểu học Lê Lợi"),
        ("Lớp\u00a05A", "Lớp 5A"),  # no-break space from Excel/Word
        ("Lớp\u3000 5A", "Lớp 5A"),  # ideographic space
        (nfd("Nguyễn Thị Ánh"), "Nguyễn Thị Ánh"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_clean_text_normalises_whitespace_and_composes(raw: str, expected: str) -> None:
    cleaned = clean_text(raw, max_length=50)
    assert cleaned == expected
    assert unicodedata.is_normalized("NFC", cleaned)


@pytest.mark.parametrize(
    "raw",
    [
        "Lê\tLợi",
        "Lê\nLợi",
        "Lê Lợi\r",
        "Lê\u200bLợi",  # zero-width space (Cf)
        "\ufeffLê Lợi",  # byte-order mark from a CSV export
        "Lê\u2028Lợi",  # line separator
        "Lê\x00Lợi",
        "Lê\u202eLợi",  # right-to-left override, used to disguise text
    ],
)
def test_clean_text_rejects_control_characters(raw: str) -> None:
    with pytest.raises(TextValueError) as caught:
        clean_text(raw, max_length=50)
    assert caught.value.code == "control_chars"
    assert caught.value.message == "Có ký tự điều khiển không hợp lệ; hãy gõ lại bằng bàn phím."
    assert isinstance(caught.value, ValueError)


def test_clean_text_counts_length_after_cleaning_and_composition() -> None:
    # 5 letters in NFD are 9 code points; the limit applies to the stored NFC text.
    assert clean_text(nfd("Ánh Ễ"), max_length=5) == "Ánh Ễ"
    assert clean_text("  a    b  ", max_length=3) == "a b"
    with pytest.raises(TextValueError) as caught:
        clean_text("abcdef", max_length=5)
    assert caught.value.code == "too_long"
    assert caught.value.message == "Dài quá 5 ký tự; hãy rút gọn."


@given(st.text())
def test_clean_text_never_crashes_and_is_idempotent(raw: str) -> None:
    error_code: str | None = None
    try:
        cleaned = clean_text(raw, max_length=1000)
    except TextValueError as error:
        error_code = error.code
    if error_code is not None:
        assert error_code in {"control_chars", "too_long"}
        return
    assert clean_text(cleaned, max_length=1000) == cleaned
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    assert unicodedata.is_normalized("NFC", cleaned)


# --- normalise_name -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nguyễn Thị Ánh", "Nguyễn Thị Ánh"),
        ("  nguyễn   thị ánh ", "nguyễn thị ánh"),  # case is never changed
        ("NGUYỄN THỊ ÁNH", "NGUYỄN THỊ ÁNH"),
        (nfd("Trần Thị Ngọc Hân"), "Trần Thị Ngọc Hân"),
        ("H'Hen Niê", "H'Hen Niê"),
        ("H\u2019Hen Niê", "H'Hen Niê"),  # typographic apostrophe from a phone keyboard
        ("Y-Moan Ênuôl", "Y-Moan Ênuôl"),
        ("Ksor\u00a0H'Bia", "Ksor H'Bia"),
        ("Đặng Thùy Dương", "Đặng Thùy Dương"),
        ("", ""),
    ],
)
def test_normalise_name_keeps_diacritics_and_case(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


def test_normalise_name_keeps_old_and_new_tone_placement_as_written() -> None:
    # "Hoà" (old style) and "Hòa" (new style) are different spellings on birth certificates.
    assert normalise_name("Nguyễn Thị Hoà") == "Nguyễn Thị Hoà"
    assert normalise_name("Nguyễn Thị Hòa") == "Nguyễn Thị Hòa"


@pytest.mark.parametrize(
    "raw",
    ["Nguyễn Văn 2", "Nguyễn Văn A.", "Lê_Lợi", "Trần (Tí)", "Lê@Lợi", "'", "- -", "Bé 1"],
)
def test_normalise_name_rejects_digits_and_punctuation(raw: str) -> None:
    with pytest.raises(TextValueError) as caught:
        normalise_name(raw)
    assert caught.value.code == "invalid_name_chars"
    assert caught.value.message == (
        "Họ tên chỉ gồm chữ cái, dấu cách, dấu nháy (') và gạch nối (-)."
    )


def test_normalise_name_limits_length_to_one_hundred() -> None:
    assert len(normalise_name("A" * 100)) == 100
    with pytest.raises(TextValueError) as caught:
        normalise_name("A" * 101)
    assert caught.value.code == "too_long"


def test_normalise_name_rejects_tab_as_control_character() -> None:
    with pytest.raises(TextValueError) as caught:
        normalise_name("Nguyễn\tAn")
    assert caught.value.code == "control_chars"


vietnamese_letters = st.sampled_from(
    list("aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂBCDĐEÊGHIKLMNOÔƠPQRSTUƯVXY")
    + list("àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")
)
vietnamese_names = st.lists(
    st.text(vietnamese_letters, min_size=1, max_size=7), min_size=1, max_size=5
).map(" ".join)


@given(vietnamese_names)
def test_normalise_name_is_idempotent_and_accepts_nfd(name: str) -> None:
    stored = normalise_name(nfd(name))
    assert stored == unicodedata.normalize("NFC", name)
    assert normalise_name(stored) == stored


@given(st.text())
def test_normalise_name_never_crashes_on_odd_input(raw: str) -> None:
    error_code: str | None = None
    try:
        stored = normalise_name(raw)
    except TextValueError as error:
        error_code = error.code
    if error_code is not None:
        assert error_code in {"control_chars", "too_long", "invalid_name_chars"}
        return
    assert normalise_name(stored) == stored
    assert not any(char.isdigit() for char in stored)


# --- folding and match keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nguyễn Thị Ánh", "Nguyen Thi Anh"),
        ("Đặng Đức Được", "Dang Duc Duoc"),
        ("Phường Bến Thành", "Phuong Ben Thanh"),
        (nfd("Hoàng Ưng"), "Hoang Ung"),
        ("abc", "abc"),
    ],
)
def test_fold_diacritics_removes_marks_and_dd(raw: str, expected: str) -> None:
    assert fold_diacritics(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nguyễn  Thị Ánh", "nguyen thi anh"),
        ("  NGUYỄN THỊ ÁNH ", "nguyen thi anh"),
        (nfd("nguyễn thị ánh"), "nguyen thi anh"),
        ("Đỗ\u00a0Hoà", "do hoa"),
        ("Đỗ Hòa", "do hoa"),
    ],
)
def test_name_match_key(raw: str, expected: str) -> None:
    assert name_match_key(raw) == expected


@given(st.text())
def test_name_match_key_is_idempotent_and_ascii_for_vietnamese(raw: str) -> None:
    key = name_match_key(raw)
    assert name_match_key(key) == key
    assert key == key.strip()


@given(vietnamese_names)
def test_name_match_key_of_vietnamese_names_is_ascii_lowercase(name: str) -> None:
    key = name_match_key(name)
    assert set(key) <= set(string.ascii_lowercase + " ")


# --- split_name ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nguyễn Thị Minh Khai", NameParts("Nguyễn", "Thị Minh", "Khai")),
        ("Lê Lợi", NameParts("Lê", "", "Lợi")),
        ("An", NameParts("", "", "An")),
        ("  Trần   Văn  Ơn ", NameParts("Trần", "Văn", "Ơn")),
        ("", NameParts("", "", "")),
    ],
)
def test_split_name(raw: str, expected: NameParts) -> None:
    assert split_name(raw) == expected


# --- vietnamese_sort_key ------------------------------------------------------------------------


def sort_vietnamese(names: list[str]) -> list[str]:
    return sorted(names, key=vietnamese_sort_key)


def test_class_list_sorts_by_given_name_in_vietnamese_alphabet() -> None:
    expected = [
        "Nguyễn Văn An",
        "Trần Thị Ân",
        "Lê Văn Bình",
        "Phạm Đức Dũng",
        "Hoàng Văn Đạt",
        "Vũ Thị Hà",
        "Đỗ Minh Khôi",
        "Bùi Thị Oanh",
        "Ngô Văn Ơn",
        "Lý Thị Uyên",
        "Đinh Văn Ưng",
        "Mai Thị Yến",
    ]
    shuffled = expected[::-1][3:] + expected[::-1][:3]
    assert sort_vietnamese(shuffled) == expected


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("Lê An", "Lê Ăn"),  # a < ă
        ("Lê Ăn", "Lê Ân"),  # ă < â
        ("Lê Dung", "Lê Đông"),  # d < đ, even though "o" < "u"
        ("Lê Dũng", "Lê Đa"),
        ("Lê Em", "Lê Êm"),
        ("Lê On", "Lê Ôn"),
        ("Lê Ôn", "Lê Ơn"),
        ("Lê Uy", "Lê Ưu"),
        ("Lê Yến", "Lê Fatima"),  # f, j, w, z come after y
        ("Lê An", "Lê Anh"),  # a prefix sorts first
        ("Nguyễn Thị An", "Trần Văn Anh"),
        ("Trần Anh Bảo", "Lê Minh Bảo"),  # same given: middle decides
        ("Lê Minh Bảo", "Trần Minh Bảo"),  # same given and middle: family decides
        ("Minh Bảo", "Lê Minh Bảo"),  # no family sorts first
        ("Bảo", "Minh Bảo"),
        ("Lê Thị Hoa", "Lê Thị Ngọc Hoa"),  # a shorter middle name sorts first
    ],
)
def test_sort_key_pairwise_order(earlier: str, later: str) -> None:
    assert vietnamese_sort_key(earlier) < vietnamese_sort_key(later)
    assert sort_vietnamese([later, earlier]) == [earlier, later]


def test_tones_only_break_ties_after_letters() -> None:
    tones = ["Lê An", "Lê Àn", "Lê Ản", "Lê Ãn", "Lê Án", "Lê Ạn"]
    assert sort_vietnamese(tones[::-1]) == tones
    # A tone difference in the given name does not beat a letter difference in the family name.
    assert sort_vietnamese(["Trần Văn An", "Lê Văn Án"]) == ["Lê Văn Án", "Trần Văn An"]
    # All "An" pupils stay together, before "Anh".
    names = ["Lê Văn Anh", "Trần Văn An", "Lê Văn Án", "Đỗ Thị Ạn"]
    assert sort_vietnamese(names)[-1] == "Lê Văn Anh"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("nguyễn văn an", "NGUYỄN VĂN AN"),
        (nfd("Nguyễn Văn An"), "Nguyễn Văn An"),
        ("Nguyễn  Văn An ", "Nguyễn Văn An"),
        ("Lê Thị Hoà", "Lê Thị Hòa"),  # tone placement style does not matter
    ],
)
def test_sort_key_ignores_case_spacing_and_normal_form(one: str, other: str) -> None:
    assert vietnamese_sort_key(one) == vietnamese_sort_key(other)


def test_sort_key_is_bounded_even_for_absurd_names() -> None:
    key = vietnamese_sort_key(" ".join(["Nguyễn"] * 60))
    assert len(key) <= 255
    assert len(key) % 2 == 0  # truncated on a letter boundary
    assert vietnamese_sort_key("") == "000000"


any_names = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)


@given(any_names)
def test_sort_key_is_ascii_digits_and_bounded_for_any_input(raw: str) -> None:
    key = vietnamese_sort_key(raw)
    assert key.isascii()
    assert key.isdigit()
    assert len(key) <= 255


# Plain letters whose Vietnamese order equals ASCII order (no ă â đ ê ô ơ ư, no f j w z).
plain_words = st.text(st.sampled_from("abcdeghiklmnopqrstuvxyABDGHKLNT"), min_size=1, max_size=6)
plain_names = st.lists(plain_words, min_size=1, max_size=4).map(" ".join)


def reference_order(name: str) -> tuple[str, list[str], str]:
    parts = split_name(name.lower())
    return (parts.given, parts.middle.split(), parts.family)


@given(st.lists(plain_names, min_size=2, max_size=15))
def test_sort_key_agrees_with_given_middle_family_comparison(names: list[str]) -> None:
    by_key = sorted(names, key=vietnamese_sort_key)
    assert [reference_order(name) for name in by_key] == sorted(
        reference_order(name) for name in names
    )


tone_marks = st.sampled_from(["", "\u0300", "\u0309", "\u0303", "\u0301", "\u0323"])


@given(plain_names, plain_names, st.data())
def test_tone_marks_never_outweigh_a_letter_difference(
    one: str, other: str, data: st.DataObject
) -> None:
    def with_tones(name: str) -> str:
        return " ".join(word[0] + data.draw(tone_marks) + word[1:] for word in name.split())

    plain_order = vietnamese_sort_key(one) < vietnamese_sort_key(other)
    if reference_order(one) != reference_order(other):
        toned_order = vietnamese_sort_key(with_tones(one)) < vietnamese_sort_key(with_tones(other))
        assert toned_order == plain_order
