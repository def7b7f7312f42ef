"""How a difference from the population register is explained in the mismatch queue: its kind,
the Vietnamese sentence naming both values, and the suggested action."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edureg.identity.explain import (
    Difference,
    DifferenceKind,
    SuggestedAction,
    describe_action,
    explain_field,
    explain_not_found,
    suggested_action,
)
from edureg.identity.register.port import COMPARED_FIELDS

K = DifferenceKind
A = SuggestedAction
PROVINCES = {"79": "Thành phố Hồ Chí Minh", "01": "Hà Nội", "48": "Đà Nẵng"}


def nfd(value: str) -> str:
    return unicodedata.normalize("NFD", value)


# --- Names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs", "kind", "action"),
    [
        (nfd("Nguyễn Thị Hòa"), "Nguyễn Thị Hòa", K.UNICODE_FORM, A.CORRECT_RECORD),
        ("Nguyễn Thị Hòa\u200b", "Nguyễn Thị Hòa", K.UNICODE_FORM, A.CORRECT_RECORD),
        ("Nguyễn Thị Hoà", "Nguyễn Thị Hòa", K.TONE_PLACEMENT, A.CORRECT_RECORD),
        ("Thuỷ", "Thủy", K.TONE_PLACEMENT, A.CORRECT_RECORD),
        ("Khoẻ", "Khỏe", K.TONE_PLACEMENT, A.CORRECT_RECORD),
        ("Trần Thị Thoả", "Trần Thị Thỏa", K.TONE_PLACEMENT, A.CORRECT_RECORD),
        ("Lê Hoạ", "Lê Họa", K.TONE_PLACEMENT, A.CORRECT_RECORD),
        ("Ngô Thuý", "Ngô Thúy", K.TONE_PLACEMENT, A.CORRECT_RECORD),
        ("Phạm Thị Loã", "Phạm Thị Lõa", K.TONE_PLACEMENT, A.CORRECT_RECORD),
        ("Vũ Thị Thoá", "Vũ Thị Thóa", K.TONE_PLACEMENT, A.CORRECT_RECORD),
        ("Đỗ Văn Huỵ", "Đỗ Văn Hụy", K.TONE_PLACEMENT, A.CORRECT_RECORD),
        ("NGUYỄN THỊ HOÀ", "NGUYỄN THỊ HÒA", K.TONE_PLACEMENT, A.CORRECT_RECORD),
        (nfd("Nguyễn Thị Hoà"), "Nguyễn Thị Hòa", K.TONE_PLACEMENT, A.CORRECT_RECORD),
        # Case differs too: the tone placement is the difference worth naming.
        ("NGUYỄN THỊ HOÀ", "Nguyễn Thị Hòa", K.TONE_PLACEMENT, A.CORRECT_RECORD),
        ("NGUYỄN văn an", "Nguyễn Văn An", K.LETTER_CASE_SPACING, A.CORRECT_RECORD),
        ("Nguyễn  Văn An ", "Nguyễn Văn An", K.LETTER_CASE_SPACING, A.CORRECT_RECORD),
        ("Nguyễn Văn\tAn", "Nguyễn Văn An", K.LETTER_CASE_SPACING, A.CORRECT_RECORD),
        ("Nguyen Van An", "Nguyễn Văn An", K.MISSING_DIACRITICS, A.CORRECT_RECORD),
        ("Nguyễn Văn An", "NGUYEN VAN AN", K.MISSING_DIACRITICS, A.CORRECT_RECORD),
        ("Dang Duc Minh", "Đặng Đức Minh", K.MISSING_DIACRITICS, A.CORRECT_RECORD),
        ("Lê", "Lế", K.OTHER_DIACRITICS, A.CHECK_DOSSIER),
        ("Nguyễn Thị Hoà", "Nguyễn Thị Hóa", K.OTHER_DIACRITICS, A.CHECK_DOSSIER),
        # A tone moved across a word boundary is another word, not another placement.
        ("Hò Anh", "Ho Ành", K.OTHER_DIACRITICS, A.CHECK_DOSSIER),
        # a/â, d/đ and o/ô are different letters, not different marks.
        ("Trần", "Tràn", K.NAME_SPELLING, A.CHECK_DOSSIER),
        ("Đức", "Dức", K.NAME_SPELLING, A.CHECK_DOSSIER),
        ("Hoà", "Hôà", K.NAME_SPELLING, A.CHECK_DOSSIER),
        ("Nguyễn Thị Vy", "Nguyễn Thị Vi", K.NAME_SPELLING, A.CHECK_DOSSIER),
        ("Nguyễn Văn An", "Nguyễn Văn Anh", K.NAME_SPELLING, A.CHECK_DOSSIER),
        ("Nguyễn Văn An", "Trần Văn An", K.NAME_SPELLING, A.CHECK_DOSSIER),
    ],
)
def test_name_difference(ours: str, theirs: str, kind: DifferenceKind,
                         action: SuggestedAction) -> None:
    difference = explain_field("full_name", ours, theirs)

    assert (difference.field, difference.kind, difference.action) == ("full_name", kind, action)
    assert difference.ours == unicodedata.normalize("NFC", ours).replace("\u200b", "").replace(
        "\t", " ")
    assert difference.theirs == theirs
    assert f"«{difference.ours}»" in difference.message
    assert f"«{difference.theirs}»" in difference.message
    assert difference.action_text


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        ("Nguyễn Thị Hoà", "Nguyễn Thị Hòa",
         "Họ tên khác cách đặt dấu: hồ sơ ghi «Nguyễn Thị Hoà», CSDL dân cư ghi «Nguyễn Thị Hòa»."),
        ("Nguyen Van An", "Nguyễn Văn An",
         "Họ tên trong hồ sơ bị thiếu dấu: hồ sơ ghi «Nguyen Van An», "
         "CSDL dân cư ghi «Nguyễn Văn An»."),
        ("Nguyễn Văn An", "Nguyen Van An",
         "Họ tên trong CSDL dân cư không có dấu: hồ sơ ghi «Nguyễn Văn An», "
         "CSDL dân cư ghi «Nguyen Van An»."),
        ("Lê", "Lế", "Họ tên khác dấu thanh: hồ sơ ghi «Lê», CSDL dân cư ghi «Lế»."),
    ],
)
def test_name_message(ours: str, theirs: str, expected: str) -> None:
    assert explain_field("full_name", ours, theirs).message == expected


def test_nfd_name_is_shown_composed() -> None:
    difference = explain_field("full_name", nfd("Nguyễn Thị Hòa"), "Nguyễn Thị Hòa")

    assert difference.ours == difference.theirs == "Nguyễn Thị Hòa"
    assert unicodedata.is_normalized("NFC", difference.message)


def test_name_the_register_reports_but_both_sides_hold_alike() -> None:
    difference = explain_field("full_name", "Nguyễn Văn An", "Nguyễn Văn An")

    assert (difference.kind, difference.action) == (K.NAME_SPELLING, A.CHECK_DOSSIER)
    assert "«Nguyễn Văn An»" in difference.message


# --- Date of birth -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs", "kind", "shown_ours", "shown_theirs"),
    [
        ("2019-05-03", "2019-03-05", K.DAY_MONTH_SWAPPED, "03/05/2019", "05/03/2019"),
        ("2019-12-01", "2019-01-12", K.DAY_MONTH_SWAPPED, "01/12/2019", "12/01/2019"),
        ("2019-05-10", "2019-05-13", K.DATE_FEW_DAYS, "10/05/2019", "13/05/2019"),
        ("2019-05-13", "2019-05-10", K.DATE_FEW_DAYS, "13/05/2019", "10/05/2019"),
        ("2019-01-31", "2019-03-04", K.DATE_OTHER, "31/01/2019", "04/03/2019"),
        ("2019-02-01", "2019-03-04", K.DATE_FEW_DAYS, "01/02/2019", "04/03/2019"),
        ("2018-05-10", "2019-05-10", K.DATE_YEAR, "10/05/2018", "10/05/2019"),
        # Near in days but across the new year: the year is what differs.
        ("2018-12-31", "2019-01-01", K.DATE_YEAR, "31/12/2018", "01/01/2019"),
        ("2018-05-03", "2019-03-05", K.DATE_YEAR, "03/05/2018", "05/03/2019"),
        ("2019-01-10", "2019-05-13", K.DATE_OTHER, "10/01/2019", "13/05/2019"),
        ("03/05/2019", "2019-05-03", K.DATE_OTHER, "03/05/2019", "03/05/2019"),
        ("2019-02-30", "2019-02-28", K.DATE_OTHER, "2019-02-30", "28/02/2019"),
    ],
)
def test_date_difference(ours: str, theirs: str, kind: DifferenceKind, shown_ours: str,
                         shown_theirs: str) -> None:
    difference = explain_field("date_of_birth", ours, theirs)

    assert (difference.kind, difference.action) == (kind, A.CHECK_DOSSIER)
    assert (difference.ours, difference.theirs) == (shown_ours, shown_theirs)
    assert shown_ours in difference.message
    assert shown_theirs in difference.message


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [
        ("2019-05-03", "2019-03-05",
         "Ngày sinh bị đảo ngày và tháng: hồ sơ ghi 03/05/2019, CSDL dân cư ghi 05/03/2019."),
        ("2019-05-10", "2019-05-13",
         "Ngày sinh lệch 3 ngày: hồ sơ ghi 10/05/2019, CSDL dân cư ghi 13/05/2019."),
        ("2018-05-10", "2019-05-10",
         "Năm sinh khác: hồ sơ ghi 10/05/2018, CSDL dân cư ghi 10/05/2019."),
    ],
)
def test_date_message(ours: str, theirs: str, expected: str) -> None:
    assert explain_field("date_of_birth", ours, theirs).message == expected


# --- Sex and place -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs", "shown_ours", "shown_theirs"),
    [("M", "F", "Nam", "Nữ"), ("F", "M", "Nữ", "Nam"), ("F", "X", "Nữ", "X")],
)
def test_sex_difference(ours: str, theirs: str, shown_ours: str, shown_theirs: str) -> None:
    difference = explain_field("sex", ours, theirs)

    assert (difference.kind, difference.action) == (K.SEX_CODE, A.CHECK_DOSSIER)
    assert (difference.ours, difference.theirs) == (shown_ours, shown_theirs)
    assert difference.message == (
        f"Giới tính khác: hồ sơ ghi {shown_ours}, CSDL dân cư ghi {shown_theirs}.")
    assert "giấy khai sinh" in difference.action_text
    assert "chữ số thứ 4" in difference.action_text


@pytest.mark.parametrize(
    ("ours", "theirs", "place_names", "shown_ours", "shown_theirs"),
    [
        ("79", "01", PROVINCES, "Thành phố Hồ Chí Minh", "Hà Nội"),
        ("48", "1", PROVINCES, "Đà Nẵng", "Hà Nội"),
        ("79", "01", None, "79", "01"),
        ("79", "01", {}, "79", "01"),
        ("79", "99", PROVINCES, "Thành phố Hồ Chí Minh", "99"),
    ],
)
def test_place_difference(ours: str, theirs: str, place_names: dict[str, str] | None,
                          shown_ours: str, shown_theirs: str) -> None:
    difference = explain_field("birth_registration_place", ours, theirs,
                               place_names=place_names)

    assert (difference.kind, difference.action) == (K.PLACE_CODE, A.CHECK_DOSSIER)
    assert (difference.ours, difference.theirs) == (shown_ours, shown_theirs)
    assert shown_ours in difference.message
    assert shown_theirs in difference.message


# --- The register returned no value, or ours is empty ----------------------------------------


@pytest.mark.parametrize(
    ("field", "ours", "theirs", "kind", "shown_ours"),
    [
        ("full_name", "Nguyễn Văn An", None, K.NAME_SPELLING, "Nguyễn Văn An"),
        ("full_name", "Nguyễn Văn An", "", K.NAME_SPELLING, "Nguyễn Văn An"),
        ("date_of_birth", "2019-05-03", None, K.DATE_OTHER, "03/05/2019"),
        ("sex", "F", None, K.SEX_CODE, "Nữ"),
        ("birth_registration_place", "79", "  ", K.PLACE_CODE, "Thành phố Hồ Chí Minh"),
    ],
)
def test_register_returned_no_value(field: str, ours: str, theirs: str | None,
                                    kind: DifferenceKind, shown_ours: str) -> None:
    difference = explain_field(field, ours, theirs, place_names=PROVINCES)

    assert (difference.kind, difference.action) == (kind, A.CHECK_DOSSIER)
    assert (difference.ours, difference.theirs) == (shown_ours, "")
    assert shown_ours in difference.message
    assert "CSDL dân cư không trả về giá trị" in difference.message


@pytest.mark.parametrize(
    ("field", "ours", "theirs", "kind", "shown_theirs"),
    [
        ("full_name", None, "Nguyễn Văn An", K.NAME_SPELLING, "Nguyễn Văn An"),
        ("date_of_birth", "", "2019-05-03", K.DATE_OTHER, "03/05/2019"),
    ],
)
def test_ours_empty(field: str, ours: str | None, theirs: str, kind: DifferenceKind,
                    shown_theirs: str) -> None:
    difference = explain_field(field, ours, theirs)

    assert (difference.kind, difference.ours, difference.theirs) == (kind, "", shown_theirs)
    assert "hồ sơ để trống" in difference.message
    assert shown_theirs in difference.message


def test_unknown_field_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="personal_id_number"):
        explain_field("personal_id_number", "1", "2")


# --- Not found and the overall action ----------------------------------------------------------


def test_not_found() -> None:
    difference = explain_not_found("079209001234")

    assert (difference.field, difference.kind, difference.action) == (
        "personal_id_number", K.NOT_FOUND, A.CHECK_DOSSIER)
    assert (difference.ours, difference.theirs) == ("079209001234", "")
    assert "079209001234" in difference.message
    assert "giấy khai sinh" in difference.action_text
    assert "công an cấp xã" in difference.action_text


def test_not_found_without_a_number() -> None:
    difference = explain_not_found("  ")

    assert (difference.kind, difference.ours) == (K.NOT_FOUND, "")
    assert difference.message


# One example of each kind, built inside the tests: translations need Django set up.
EXAMPLES = {
    "tone": ("full_name", "Nguyễn Thị Hoà", "Nguyễn Thị Hòa"),
    "unicode": ("full_name", nfd("Nguyễn Thị Hòa"), "Nguyễn Thị Hòa"),
    "case": ("full_name", "NGUYỄN văn an", "Nguyễn Văn An"),
    "missing": ("full_name", "Nguyen Van An", "Nguyễn Văn An"),
    "other": ("full_name", "Lê", "Lế"),
    "swap": ("date_of_birth", "2019-05-03", "2019-03-05"),
    "sex": ("sex", "M", "F"),
}


def example(name: str) -> Difference:
    if name == "not_found":
        return explain_not_found("079209001234")
    return explain_field(*EXAMPLES[name])


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["tone"], A.CORRECT_RECORD),
        (["unicode", "case", "missing", "tone"], A.CORRECT_RECORD),
        (["tone", "swap"], A.CHECK_DOSSIER),
        (["other"], A.CHECK_DOSSIER),
        (["missing", "sex"], A.CHECK_DOSSIER),
        (["not_found"], A.CHECK_DOSSIER),
        (["tone", "not_found"], A.CHECK_DOSSIER),
        ([], A.CHECK_DOSSIER),
    ],
)
def test_suggested_action(names: list[str], expected: SuggestedAction) -> None:
    assert suggested_action([example(name) for name in names]) is expected


@pytest.mark.parametrize("action", list(SuggestedAction))
def test_every_action_is_described(action: SuggestedAction) -> None:
    assert describe_action(action)


def test_per_field_action_text_matches_the_overall_one() -> None:
    assert example("tone").action_text == describe_action(A.CORRECT_RECORD)
    assert example("swap").action_text == describe_action(A.CHECK_DOSSIER)


# --- Any text at all ---------------------------------------------------------------------------


@given(field=st.sampled_from(COMPARED_FIELDS), ours=st.none() | st.text(),
       theirs=st.none() | st.text(),
       place_names=st.none() | st.dictionaries(st.text(max_size=3), st.text(min_size=1)))
def test_explain_never_raises_and_always_says_something(
        field: str, ours: str | None, theirs: str | None,
        place_names: dict[str, str] | None) -> None:
    difference = explain_field(field, ours, theirs, place_names=place_names)

    assert difference.field == field
    assert difference.kind in DifferenceKind
    assert difference.message.strip()
    assert difference.action_text.strip()
    assert difference.action is (A.CORRECT_RECORD
                                 if suggested_action([difference]) is A.CORRECT_RECORD
                                 else A.CHECK_DOSSIER)
