"""Personal identification number (số định danh cá nhân), the 12 digits on the CCCD card.

The only hard rule is the format: exactly 12 ASCII digits. The de-facto structure
``PPP G YY RRRRRR`` (place of birth registration, century/sex digit, year of birth, random) is
no longer prescribed by law and older numbers may not follow it, so disagreements between the
structure and a record are warnings for a person to check, never rejections. There is no check
digit: do not add one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

from edureg.core.codelists import legacy_province_for_id_prefix
from edureg.core.text import gettext_noop, translate_message

__all__ = [
    "PERSONAL_ID_LENGTH",
    "IdWarning",
    "PersonalId",
    "PersonalIdFormatError",
    "check_personal_id",
    "parse_personal_id",
]

PERSONAL_ID_LENGTH: Final = 12
# Births registered abroad carry a country prefix in this range; the country table is not
# public, so the place is only "abroad".
_FOREIGN_PREFIXES: Final = range(101, 296)
_ABROAD: Final = gettext_noop("nước ngoài")
_SEX_NAMES: Final = {"M": gettext_noop("Nam"), "F": gettext_noop("Nữ")}

FORMAT_MESSAGE: Final = gettext_noop("Số định danh cá nhân phải gồm đúng 12 chữ số.")
UNKNOWN_PREFIX_MESSAGE: Final = gettext_noop(
    "Ba chữ số đầu của số định danh (%(prefix)s) không phải mã tỉnh hay mã nước nơi đăng ký "
    "khai sinh; hãy đối chiếu lại với CCCD hoặc giấy khai sinh."
)
UNKNOWN_CENTURY_MESSAGE: Final = gettext_noop(
    "Chữ số thứ 4 của số định danh (%(digit)s) không phải mã giới tính/thế kỷ thông thường "
    "(0–5); hãy đối chiếu lại với CCCD hoặc giấy khai sinh."
)
SEX_MISMATCH_MESSAGE: Final = gettext_noop(
    "Chữ số thứ 4 của số định danh (giới tính/thế kỷ) không khớp với giới tính %(sex)s; "
    "hãy đối chiếu lại với CCCD hoặc giấy khai sinh."
)
BIRTH_YEAR_MISMATCH_MESSAGE: Final = gettext_noop(
    "Số định danh cho năm sinh %(id_year)s nhưng ngày sinh là năm %(year)s; hãy đối chiếu lại "
    "ngày sinh và số định danh với CCCD hoặc giấy khai sinh."
)

Sex = Literal["M", "F"]


class PersonalIdFormatError(ValueError):
    def __init__(self) -> None:
        self.message = translate_message(FORMAT_MESSAGE)
        super().__init__(self.message)


@dataclass(frozen=True, slots=True)
class PersonalId:
    number: str
    place_code: str
    place_name: str | None
    is_foreign_registration: bool
    century_sex_digit: int
    sex: Sex | None
    birth_year: int | None


@dataclass(frozen=True, slots=True)
class IdWarning:
    code: str
    message: str


def _normalise(value: str) -> str:
    number = value.strip()
    # isdecimal() alone would accept full-width and other scripts' digits.
    if len(number) != PERSONAL_ID_LENGTH or not (number.isascii() and number.isdecimal()):
        raise PersonalIdFormatError
    return number


def parse_personal_id(value: str) -> PersonalId:
    """Parse a 12-digit personal identification number (surrounding spaces are ignored)."""
    number = _normalise(value)
    place_code = number[:3]
    province = legacy_province_for_id_prefix(place_code)
    is_foreign = province is None and int(place_code) in _FOREIGN_PREFIXES
    if province is not None:
        place_name: str | None = province.name
    elif is_foreign:
        place_name = translate_message(_ABROAD)
    else:
        place_name = None
    digit = int(number[3])
    known_century = digit <= 5
    sex: Sex | None = ("F" if digit % 2 else "M") if known_century else None
    birth_year = (digit // 2 + 19) * 100 + int(number[4:6]) if known_century else None
    return PersonalId(
        number=number,
        place_code=place_code,
        place_name=place_name,
        is_foreign_registration=is_foreign,
        century_sex_digit=digit,
        sex=sex,
        birth_year=birth_year,
    )


def check_personal_id(
    value: str, *, date_of_birth: date | None, sex: str | None
) -> list[IdWarning]:
    """Warnings where the number's structure disagrees with the record; empty when consistent.

    Raises ``PersonalIdFormatError`` when the value is not 12 digits: that is an error, not a
    warning. ``sex`` is a code of the ``sex`` list ("M"/"F"); other values are not compared.
    """
    parsed = parse_personal_id(value)
    warnings: list[IdWarning] = []
    if parsed.place_name is None:
        warnings.append(
            IdWarning(
                "unknown_place_prefix",
                translate_message(UNKNOWN_PREFIX_MESSAGE) % {"prefix": parsed.place_code},
            )
        )
    if parsed.sex is None:
        warnings.append(
            IdWarning(
                "unknown_century_sex_digit",
                translate_message(UNKNOWN_CENTURY_MESSAGE) % {"digit": parsed.century_sex_digit},
            )
        )
        return warnings
    if sex in _SEX_NAMES and sex != parsed.sex:
        warnings.append(
            IdWarning(
                "sex_mismatch",
                translate_message(SEX_MISMATCH_MESSAGE)
                % {"sex": translate_message(_SEX_NAMES[sex])},
            )
        )
    if date_of_birth is not None and parsed.birth_year != date_of_birth.year:
        warnings.append(
            IdWarning(
                "birth_year_mismatch",
                translate_message(BIRTH_YEAR_MISMATCH_MESSAGE)
                % {"id_year": parsed.birth_year, "year": date_of_birth.year},
            )
        )
    return warnings
