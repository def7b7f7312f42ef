"""Vietnamese phone numbers: mobile (10 digits, 03/05/07/08/09) and fixed lines (02x, 11 digits).

Numbers are stored in the national form ``0…``; ``+84``/``84`` prefixes, spaces, dots and dashes
are accepted on input.
"""

from __future__ import annotations

import re

MOBILE = re.compile(r"0[35789]\d{8}")
FIXED_LINE = re.compile(r"02\d{9}")
_SEPARATORS = re.compile(r"[\s.\-()]")


class PhoneError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def normalise_phone(value: str) -> str:
    """Return the number as ``0…`` digits, or raise PhoneError with a Vietnamese message."""
    raw = _SEPARATORS.sub("", value.strip())
    if raw.startswith("+84"):
        raw = "0" + raw[3:]
    elif raw.startswith("84") and len(raw) in (11, 12):
        raw = "0" + raw[2:]
    if not raw.isascii() or not raw.isdigit():
        raise PhoneError("Số điện thoại chỉ gồm chữ số (có thể bắt đầu bằng +84).")
    if MOBILE.fullmatch(raw) or FIXED_LINE.fullmatch(raw):
        return raw
    raise PhoneError(
        "Số điện thoại không đúng định dạng Việt Nam: di động 10 số bắt đầu bằng 03, 05, 07, 08, "
        "09; cố định 11 số bắt đầu bằng 02."
    )


def mask_phone(value: str) -> str:
    """Keep the last three digits: 0912345678 → ******678."""
    if not value:
        return ""
    return "*" * max(len(value) - 3, 0) + value[-3:]
