"""Vietnamese text: cleaning, names, matching keys and class-list sorting.

Pure functions, no Django models. Stored names keep their diacritics and letter case exactly as
written on the birth certificate; folding is only ever used for matching keys.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from typing import Final

from django.core.exceptions import AppRegistryNotReady, ImproperlyConfigured
from django.utils.translation import gettext

__all__ = [
    "NAME_MAX_LENGTH",
    "SORT_KEY_MAX_LENGTH",
    "NameParts",
    "TextValueError",
    "clean_text",
    "fold_diacritics",
    "gettext_noop",
    "name_match_key",
    "normalise_name",
    "split_name",
    "translate_message",
    "vietnamese_sort_key",
]

NAME_MAX_LENGTH: Final = 100
SORT_KEY_MAX_LENGTH: Final = 255

# Tabs, line breaks, format characters (zero-width joiners, BOM, bidi marks), lone surrogates
# and paragraph/line separators have no place in a single-line field: they come from copy-paste
# and make two identical-looking values differ.
_CONTROL_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

# Typographic apostrophes and hyphens that keyboards and word processors substitute for the
# ASCII ones; a name typed on a phone and the same name typed on a PC must be stored alike.
_NAME_PUNCTUATION_MAP: Final = {
    ord("\u2019"): "'",  # right single quotation mark
    ord("\u2018"): "'",  # left single quotation mark
    ord("\u02bc"): "'",  # modifier letter apostrophe
    ord("\u2010"): "-",  # hyphen
    ord("\u2011"): "-",  # non-breaking hyphen
}


def gettext_noop(message: str) -> str:
    """Mark a message for ``makemessages`` (same keyword as Django's) without touching settings.

    Django's own ``gettext_noop`` reads ``settings.USE_I18N``, which breaks importing this module
    in scripts and unit tests that run without Django settings.
    """
    return message


CONTROL_CHARS_MESSAGE: Final = gettext_noop(
    "Có ký tự điều khiển không hợp lệ; hãy gõ lại bằng bàn phím."
)
TOO_LONG_MESSAGE: Final = gettext_noop("Dài quá %(max_length)s ký tự; hãy rút gọn.")
INVALID_NAME_CHARS_MESSAGE: Final = gettext_noop(
    "Họ tên chỉ gồm chữ cái, dấu cách, dấu nháy (') và gạch nối (-)."
)


def translate_message(message: str) -> str:
    """Translate a message marked with ``gettext_noop``; the Vietnamese source when Django is off.

    Pure modules must stay importable and usable without Django settings (scripts, unit tests);
    there the Vietnamese source text is the message.
    """
    from django.conf import settings

    if not settings.configured:
        return message
    try:
        return gettext(message)
    except (AppRegistryNotReady, ImproperlyConfigured):
        return message


class TextValueError(ValueError):
    """A text value that cannot be stored; ``message`` is shown to the user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _control_chars_error() -> TextValueError:
    return TextValueError("control_chars", translate_message(CONTROL_CHARS_MESSAGE))


def _too_long_error(max_length: int) -> TextValueError:
    message = translate_message(TOO_LONG_MESSAGE) % {"max_length": max_length}
    return TextValueError("too_long", message)


def _invalid_name_chars_error() -> TextValueError:
    return TextValueError("invalid_name_chars", translate_message(INVALID_NAME_CHARS_MESSAGE))


def _has_control_chars(value: str) -> bool:
    if value.isprintable():  # its non-printable categories include all of ours: the common case
        return False
    return any(unicodedata.category(char) in _CONTROL_CATEGORIES for char in value)


def clean_text(value: str, *, max_length: int) -> str:
    """NFC-normalise, strip and collapse whitespace runs to one space.

    Raises ``TextValueError`` for control characters (including tabs and line breaks) and for
    values longer than ``max_length`` characters after cleaning.
    """
    normalised = unicodedata.normalize("NFC", value)
    if _has_control_chars(normalised):
        raise _control_chars_error()
    cleaned = " ".join(normalised.split())
    if len(cleaned) > max_length:
        raise _too_long_error(max_length)
    return cleaned


def normalise_name(value: str) -> str:
    """Clean a personal name for storage without touching its diacritics or letter case.

    Accepts NFD input (macOS, some Excel exports) and returns NFC. Allows letters, spaces,
    apostrophes and hyphens only.
    """
    cleaned = clean_text(value, max_length=NAME_MAX_LENGTH).translate(_NAME_PUNCTUATION_MAP)
    has_letter = False
    previous_is_letter = False
    for char in cleaned:
        category = unicodedata.category(char)
        if category.startswith("L"):
            has_letter = previous_is_letter = True
        elif category == "Mn" and previous_is_letter:
            # A combining mark with no precomposed form (rare foreign names) stays on its letter.
            continue
        elif char in " '-":
            previous_is_letter = False
        else:
            raise _invalid_name_chars_error()
    if cleaned and not has_letter:
        raise _invalid_name_chars_error()
    return unicodedata.normalize("NFC", cleaned)


def fold_diacritics(value: str) -> str:
    """Remove diacritics (and turn đ/Đ into d/D) for matching keys; never for storage."""
    decomposed = unicodedata.normalize("NFD", value)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return unicodedata.normalize("NFC", stripped.replace("đ", "d").replace("Đ", "D"))


@functools.lru_cache(maxsize=65536)  # names repeat: an import asks for thousands of the same
def name_match_key(value: str) -> str:
    """Key for matching names: "Nguyễn  Thị Ánh" -> "nguyen thi anh"."""
    folded = fold_diacritics(unicodedata.normalize("NFC", value)).casefold()
    return " ".join(folded.split())


@dataclass(frozen=True, slots=True)
class NameParts:
    family: str
    middle: str
    given: str


def split_name(full_name: str) -> NameParts:
    """Split a Vietnamese name (family … given); a single word is the given name."""
    words = unicodedata.normalize("NFC", full_name).split()
    if not words:
        return NameParts(family="", middle="", given="")
    if len(words) == 1:
        return NameParts(family="", middle="", given=words[0])
    return NameParts(family=words[0], middle=" ".join(words[1:-1]), given=words[-1])


# Vietnamese alphabet order, then the letters only foreign names use.
_ALPHABET: Final = "aăâbcdđeêghiklmnoôơpqrstuưvxy" + "fjwz"
_LETTER_CODES: Final = {letter: f"{index + 10:02d}" for index, letter in enumerate(_ALPHABET)}
_UNKNOWN_LETTER_CODE: Final = "99"
_WORD_SEPARATOR: Final = "01"
_PART_END: Final = "00"

# Tone order used by Vietnamese dictionaries: none, huyền, hỏi, ngã, sắc, nặng.
_TONE_MARKS: Final = {
    "\u0300": 1,  # huyền (grave)
    "\u0309": 2,  # hỏi (hook above)
    "\u0303": 3,  # ngã (tilde)
    "\u0301": 4,  # sắc (acute)
    "\u0323": 5,  # nặng (dot below)
}
# Marks that make a different letter rather than a tone.
_LETTER_MARKS: Final = frozenset({"\u0306", "\u0302", "\u031b"})  # breve, circumflex, horn


def _word_tokens(word: str) -> tuple[str, int]:
    """Return (letter codes, tone) for one word of a name."""
    codes: list[str] = []
    tone = 0
    for char in unicodedata.normalize("NFC", word.casefold()):
        decomposed = unicodedata.normalize("NFD", char)
        base = decomposed[0]
        letter_marks = ""
        for mark in decomposed[1:]:
            if mark in _LETTER_MARKS:
                letter_marks += mark
            elif mark in _TONE_MARKS and tone == 0:
                tone = _TONE_MARKS[mark]
        if not base.isalpha():
            continue
        letter = unicodedata.normalize("NFC", base + letter_marks)
        codes.append(_LETTER_CODES.get(letter) or _LETTER_CODES.get(base, _UNKNOWN_LETTER_CODE))
    return "".join(codes), tone


def vietnamese_sort_key(full_name: str) -> str:
    """Digits-only key that sorts names by given, middle, then family name, Vietnamese-style.

    Letters compare first (a < ă < â … d < đ …, case-insensitive) over given, middle and family
    names; tone marks only break ties afterwards (none < huyền < hỏi < ngã < sắc < nặng).
    Two digits per letter, "01" between words and "00" closing each part: byte order equals the
    intended order under any collation. At most 255 characters.
    """
    words = unicodedata.normalize("NFC", full_name).replace("-", " ").split()
    parts = split_name(" ".join(words))
    primary: list[str] = []
    tones: list[str] = []
    for part in (parts.given, parts.middle, parts.family):
        word_codes: list[str] = []
        for word in part.split():
            codes, tone = _word_tokens(word)
            if codes:
                word_codes.append(codes)
                tones.append(str(tone))
        primary.append(_WORD_SEPARATOR.join(word_codes) + _PART_END)
    primary_key = "".join(primary)
    if len(primary_key) >= SORT_KEY_MAX_LENGTH:
        # Cut on a two-digit boundary so no letter code is split.
        return primary_key[: SORT_KEY_MAX_LENGTH - 1]
    return (primary_key + "".join(tones))[:SORT_KEY_MAX_LENGTH]
