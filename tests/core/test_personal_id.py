from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edureg.core.personal_id import (
    IdWarning,
    PersonalId,
    PersonalIdFormatError,
    check_personal_id,
    parse_personal_id,
)

FORMAT_MESSAGE = "Số định danh cá nhân phải gồm đúng 12 chữ số."


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "079212345678",
            PersonalId("079212345678", "079", "Thành phố Hồ Chí Minh", False, 2, "M", 2012),
        ),
        (
            "  001305000123 ",
            PersonalId("001305000123", "001", "Thành phố Hà Nội", False, 3, "F", 2005),
        ),
        ("038099000001", PersonalId("038099000001", "038", "Tỉnh Thanh Hóa", False, 0, "M", 1999)),
        ("096185123456", PersonalId("096185123456", "096", "Tỉnh Cà Mau", False, 1, "F", 1985)),
        (
            "077400000000",
            PersonalId("077400000000", "077", "Tỉnh Bà Rịa - Vũng Tàu", False, 4, "M", 2100),
        ),
        ("074501000000", PersonalId("074501000000", "074", "Tỉnh Bình Dương", False, 5, "F", 2101)),
        ("101310123456", PersonalId("101310123456", "101", "nước ngoài", True, 3, "F", 2010)),
        ("295210123456", PersonalId("295210123456", "295", "nước ngoài", True, 2, "M", 2010)),
        ("003210123456", PersonalId("003210123456", "003", None, False, 2, "M", 2010)),
        ("296210123456", PersonalId("296210123456", "296", None, False, 2, "M", 2010)),
        (
            "079612345678",
            PersonalId("079612345678", "079", "Thành phố Hồ Chí Minh", False, 6, None, None),
        ),
        (
            "079912345678",
            PersonalId("079912345678", "079", "Thành phố Hồ Chí Minh", False, 9, None, None),
        ),
    ],
)
def test_parse_personal_id(value: str, expected: PersonalId) -> None:
    assert parse_personal_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "07921234567",  # 11 digits
        "0792123456789",  # 13 digits
        "079-212-345678",
        "079 212 345678",
        "07921234567O",  # letter O instead of zero
        "０７９２１２３４５６７８",  # full-width digits
        "٠٧٩٢١٢٣٤٥٦٧٨",  # Arabic-Indic digits
        "+79212345678",
        "79212345678.0",  # Excel turned it into a number
    ],
)
def test_parse_personal_id_rejects_anything_but_twelve_ascii_digits(value: str) -> None:
    with pytest.raises(PersonalIdFormatError) as caught:
        parse_personal_id(value)
    assert caught.value.message == FORMAT_MESSAGE
    assert isinstance(caught.value, ValueError)


def test_there_is_no_checksum_any_last_digit_is_accepted() -> None:
    parsed = {parse_personal_id(f"07921234567{digit}").number for digit in range(10)}
    assert len(parsed) == 10


def codes(warnings: list[IdWarning]) -> list[str]:
    return [warning.code for warning in warnings]


@pytest.mark.parametrize(
    ("value", "date_of_birth", "sex", "expected"),
    [
        ("079212345678", date(2012, 5, 1), "M", []),
        ("079312345678", date(2012, 5, 1), "F", []),
        ("001099000001", date(1999, 12, 31), "M", []),
        ("079212345678", None, None, []),
        ("101310123456", date(2010, 1, 1), "F", []),  # registered abroad: fine
        ("079212345678", date(2012, 5, 1), "F", ["sex_mismatch"]),
        ("079312345678", date(2012, 5, 1), "M", ["sex_mismatch"]),
        ("079212345678", date(2013, 5, 1), "M", ["birth_year_mismatch"]),
        ("079012345678", date(2012, 5, 1), "M", ["birth_year_mismatch"]),  # century 1900s
        ("079012345678", date(2012, 5, 1), "F", ["sex_mismatch", "birth_year_mismatch"]),
        ("003212345678", date(2012, 5, 1), "M", ["unknown_place_prefix"]),
        ("999212345678", None, None, ["unknown_place_prefix"]),
        ("079712345678", date(2012, 5, 1), "F", ["unknown_century_sex_digit"]),
        ("000812345678", None, "M", ["unknown_place_prefix", "unknown_century_sex_digit"]),
        ("079212345678", date(2012, 5, 1), "X", []),  # unknown sex code is not compared
    ],
)
def test_check_personal_id_warnings(
    value: str, date_of_birth: date | None, sex: str | None, expected: list[str]
) -> None:
    assert codes(check_personal_id(value, date_of_birth=date_of_birth, sex=sex)) == expected


def test_warning_messages_say_what_disagrees_and_what_to_do() -> None:
    [sex_warning] = check_personal_id("079212345678", date_of_birth=None, sex="F")
    assert sex_warning.message == (
        "Chữ số thứ 4 của số định danh (giới tính/thế kỷ) không khớp với giới tính Nữ; "
        "hãy đối chiếu lại với CCCD hoặc giấy khai sinh."
    )
    [year_warning] = check_personal_id("079212345678", date_of_birth=date(2011, 1, 1), sex=None)
    assert "2012" in year_warning.message
    assert "2011" in year_warning.message
    assert "đối chiếu" in year_warning.message
    [prefix_warning] = check_personal_id("003212345678", date_of_birth=None, sex=None)
    assert "003" in prefix_warning.message


def test_check_personal_id_raises_for_bad_format() -> None:
    with pytest.raises(PersonalIdFormatError):
        check_personal_id("12345", date_of_birth=None, sex=None)


@given(st.text(max_size=20))
def test_parse_never_fails_with_anything_but_format_error(value: str) -> None:
    try:
        parsed = parse_personal_id(value)
    except PersonalIdFormatError:
        return
    assert parsed.number == value.strip()
    assert len(parsed.number) == 12


@given(
    st.from_regex(r"\A[0-9]{12}\Z"),
    st.one_of(st.none(), st.dates()),
    st.sampled_from([None, "M", "F", ""]),
)
def test_any_twelve_digits_parse_and_check_without_error(
    value: str, date_of_birth: date | None, sex: str | None
) -> None:
    parsed = parse_personal_id(value)
    assert parsed.place_code == value[:3]
    assert parsed.century_sex_digit == int(value[3])
    if parsed.birth_year is not None:
        assert parsed.birth_year % 100 == int(value[4:6])
        assert 1900 <= parsed.birth_year <= 2199
    warnings = check_personal_id(value, date_of_birth=date_of_birth, sex=sex)
    assert all(warning.message for warning in warnings)


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2199, 12, 31)),
    st.sampled_from(["M", "F"]),
    st.from_regex(r"\A[0-9]{6}\Z"),
)
def test_a_number_built_from_the_record_gives_no_warning(
    date_of_birth: date, sex: str, random_part: str
) -> None:
    century_digit = (date_of_birth.year // 100 - 19) * 2 + (1 if sex == "F" else 0)
    value = f"079{century_digit}{date_of_birth.year % 100:02d}{random_part}"
    assert check_personal_id(value, date_of_birth=date_of_birth, sex=sex) == []
