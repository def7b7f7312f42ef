"""Explain, for the mismatch queue, how a field differs from the national population register.

The register only says "mismatch" and, for some fields, returns its own value. School staff need
to know what kind of difference it is (a typing matter such as the old/new tone-mark placement
"Hoà"/"Hòa", or a real disagreement such as another date of birth), in Vietnamese, and what to
do about it, naming the document to check. Pure functions: no ORM, no I/O.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import itertools
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from django.utils.translation import gettext as _

from edureg.core.text import fold_diacritics
from edureg.identity.register.port import COMPARED_FIELDS

__all__ = [
    "Difference",
    "DifferenceKind",
    "SuggestedAction",
    "describe_action",
    "explain_field",
    "explain_not_found",
    "suggested_action",
]


class DifferenceKind(enum.StrEnum):
    UNICODE_FORM = "unicode_form"  # same text once NFC-normalised and invisible characters dropped
    TONE_PLACEMENT = "tone_placement"  # old/new tone-mark placement: "Hoà"/"Hòa", "Thuỷ"/"Thủy"
    LETTER_CASE_SPACING = "case_spacing"  # differs only in upper/lower case or spaces
    MISSING_DIACRITICS = "missing_diacritics"  # one side has no diacritics at all
    OTHER_DIACRITICS = "other_diacritics"  # same letters (a/ă/â… distinct), other tone marks
    NAME_SPELLING = "name_spelling"  # letters differ: typo, i/y, another word
    DAY_MONTH_SWAPPED = "day_month_swapped"
    DATE_FEW_DAYS = "date_few_days"  # same year, at most 31 days apart, not a swap
    DATE_YEAR = "date_year"  # the year differs
    DATE_OTHER = "date_other"
    SEX_CODE = "sex_code"
    PLACE_CODE = "place_code"
    NOT_FOUND = "not_found"  # the register has no person with this number


class SuggestedAction(enum.StrEnum):
    CORRECT_RECORD = "correct_record"  # correct our record from the birth certificate / ID
    CHECK_DOSSIER = "check_dossier"  # compare with the dossier first: either side may be wrong
    # The dossier agrees with our record, so the register is wrong: the family asks the commune
    # police to correct it.
    REGISTER_CORRECTION = "register_correction"


@dataclasses.dataclass(frozen=True, slots=True)
class Difference:
    field: str
    kind: DifferenceKind
    ours: str  # display form of our value ("" when empty)
    theirs: str  # display form of the register's value ("" when the register did not return it)
    message: str  # one Vietnamese sentence naming both values
    action: SuggestedAction
    action_text: str  # what to do, naming the document to check


# Differences a careful retyping from the birth certificate removes: nobody's data is wrong.
_TYPOGRAPHIC_KINDS: Final = frozenset({
    DifferenceKind.UNICODE_FORM,
    DifferenceKind.TONE_PLACEMENT,
    DifferenceKind.LETTER_CASE_SPACING,
    DifferenceKind.MISSING_DIACRITICS,
})

# The kind a field's difference gets when its values cannot be compared more finely (the
# register returned no value, our side is empty, or both look the same).
_FALLBACK_KINDS: Final = {
    "full_name": DifferenceKind.NAME_SPELLING,
    "date_of_birth": DifferenceKind.DATE_OTHER,
    "sex": DifferenceKind.SEX_CODE,
    "birth_registration_place": DifferenceKind.PLACE_CODE,
}

# Vietnamese tone marks (huyền, sắc, ngã, hỏi, nặng), as opposed to the marks that make another
# letter (ă, â, ê, ô, ơ, ư): only a tone mark may sit on either vowel of "oa", "oe", "uy".
_TONE_MARKS: Final = frozenset("\u0300\u0301\u0303\u0309\u0323")
# Clusters where the old style puts the tone on the first vowel ("hòa", "thủy", "khỏe") and the
# new style on the second ("hoà", "thuỷ", "khoẻ"); both spellings are in legal documents.
_TONE_PLACEMENT_CLUSTERS: Final = frozenset({("o", "a"), ("o", "e"), ("u", "y")})

_ISO_DATE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_FEW_DAYS: Final = 31


def explain_field(field: str, ours: str | None, theirs: str | None, *,
                  place_names: Mapping[str, str] | None = None) -> Difference:
    """Explain how our value of a compared field differs from the register's.

    ``field`` is one of ``COMPARED_FIELDS``; dates are ISO "YYYY-MM-DD", sex "M"/"F", the place
    a pre-2025 province code, shown by its name when ``place_names`` has it. ``theirs`` is None
    (or empty) when the register did not return its value. Any text is accepted: values that do
    not parse are shown as given. Raises ``ValueError`` only for an unknown ``field``.
    """
    if field not in COMPARED_FIELDS:
        raise ValueError(f"not a compared field: {field!r}")
    names = place_names or {}
    ours_shown = _display(field, ours, names)
    theirs_shown = _display(field, theirs, names)
    if ours is None or theirs is None or not ours_shown or not theirs_shown:
        kind = _FALLBACK_KINDS[field]
        message = _incomplete_message(field, ours_shown, theirs_shown)
    else:
        kind, message = _CLASSIFIERS[field](ours, theirs, ours_shown, theirs_shown)
    action = _action_of(kind)
    return Difference(field=field, kind=kind, ours=ours_shown, theirs=theirs_shown,
                      message=message, action=action, action_text=_action_text(kind, action))


def explain_not_found(personal_id_number: str) -> Difference:
    """The register has no person with this personal ID number."""
    number = "".join(personal_id_number.split())
    if number:
        message = _("CSDL dân cư không có người nào mang số định danh cá nhân %(number)s.") % {
            "number": number}
    else:
        message = _("Hồ sơ chưa ghi số định danh cá nhân nên không tìm được trong CSDL dân cư.")
    return Difference(field="personal_id_number", kind=DifferenceKind.NOT_FOUND, ours=number,
                      theirs="", message=message, action=SuggestedAction.CHECK_DOSSIER,
                      action_text=_action_text(DifferenceKind.NOT_FOUND,
                                               SuggestedAction.CHECK_DOSSIER))


def suggested_action(differences: Sequence[Difference]) -> SuggestedAction:
    """The overall action for one person: correct our record when every difference is a typing
    matter (Unicode form, tone placement, case or spacing, missing diacritics), otherwise check
    the dossier first. With no difference to go on, checking the dossier is the safe answer."""
    if differences and all(difference.kind in _TYPOGRAPHIC_KINDS for difference in differences):
        return SuggestedAction.CORRECT_RECORD
    return SuggestedAction.CHECK_DOSSIER


def describe_action(action: SuggestedAction) -> str:
    """What to do for an overall action (see ``suggested_action``), in Vietnamese."""
    if action is SuggestedAction.CORRECT_RECORD:
        return _("Sửa hồ sơ theo giấy khai sinh (hoặc căn cước) rồi lưu; "
                 "hệ thống sẽ tự xác thực lại.")
    if action is SuggestedAction.REGISTER_CORRECTION:
        return _("Giấy khai sinh/căn cước khớp với hồ sơ nên CSDL dân cư ghi sai: hướng dẫn gia "
                 "đình mang giấy tờ đến công an cấp xã đề nghị đính chính, rồi đánh dấu "
                 "«Đã đề nghị đính chính».")
    return _("Đối chiếu với giấy khai sinh/căn cước: nếu hồ sơ sai, sửa hồ sơ (hệ thống tự xác "
             "thực lại); nếu giấy tờ khớp với hồ sơ thì CSDL dân cư sai — hướng dẫn gia đình "
             "đề nghị công an cấp xã đính chính, rồi đánh dấu «Đã đề nghị đính chính».")


# --- Display -------------------------------------------------------------------------------


def _field_label(field: str) -> str:
    if field == "full_name":
        return _("Họ tên")
    if field == "date_of_birth":
        return _("Ngày sinh")
    if field == "sex":
        return _("Giới tính")
    return _("Nơi đăng ký khai sinh")


def _display(field: str, value: str | None, place_names: Mapping[str, str]) -> str:
    if value is None:
        return ""
    if field == "full_name":
        # Keep the spacing as is: it may be the very difference being shown.
        shown = "".join(" " if char.isspace() else char for char in _visible_nfc(value))
        return shown if shown.strip() else ""
    if field == "date_of_birth":
        date = _parse_date(value)
        return _format_date(date) if date is not None else " ".join(value.split())
    if field == "sex":
        code = value.strip().upper()
        if code == "M":
            return _("Nam")
        if code == "F":
            return _("Nữ")
        return " ".join(value.split())
    code = _place_code(value)
    return place_names.get(code, code) if code else ""


def _quoted(field: str, shown: str) -> str:
    # Guillemets make a name's spaces and case visible; dates, sex and places read fine bare.
    return f"«{shown}»" if field == "full_name" else shown


def _incomplete_message(field: str, ours_shown: str, theirs_shown: str) -> str:
    values = {"label": _field_label(field), "ours": _quoted(field, ours_shown),
              "theirs": _quoted(field, theirs_shown)}
    if not theirs_shown and not ours_shown:
        return _("%(label)s khác với CSDL dân cư: hồ sơ để trống, "
                 "CSDL dân cư không trả về giá trị.") % values
    if not theirs_shown:
        return _("%(label)s khác với CSDL dân cư: hồ sơ ghi %(ours)s, "
                 "CSDL dân cư không trả về giá trị.") % values
    return _("%(label)s khác với CSDL dân cư: hồ sơ để trống, "
             "CSDL dân cư ghi %(theirs)s.") % values


def _same_message(field: str, theirs_shown: str) -> str:
    return _("CSDL dân cư báo %(label)s không khớp dù hai bên cùng ghi %(theirs)s.") % {
        "label": _field_label(field).lower(), "theirs": _quoted(field, theirs_shown)}


# --- Names ---------------------------------------------------------------------------------


def _visible_nfc(value: str) -> str:
    """NFC without format characters (zero-width spaces and joiners, BOM, bidi marks), which
    copy-paste brings in and nobody can see."""
    return unicodedata.normalize(
        "NFC", "".join(char for char in value if unicodedata.category(char) != "Cf"))


def _letters(value: str) -> list[list[str]]:
    """Split into [base, letter marks, tone marks] per character, whatever the input form."""
    letters: list[list[str]] = []
    for char in unicodedata.normalize("NFD", value):
        if letters and unicodedata.category(char).startswith("M"):
            letters[-1][2 if char in _TONE_MARKS else 1] += char
        else:
            letters.append([char, "", ""])
    return letters


def _join_letters(letters: list[list[str]], *, tones: bool = True) -> str:
    joined = "".join(base + marks + (tone if tones else "") for base, marks, tone in letters)
    return unicodedata.normalize("NFC", joined)


def _tone_on_second_vowel(value: str) -> str:
    """Move a tone mark from the first to the second vowel of "oa", "oe", "uy", so the old and
    new placements ("hòa"/"hoà", "thủy"/"thuỷ", "khỏe"/"khoẻ") compare equal. Case is kept."""
    letters = _letters(value)
    for first, second in itertools.pairwise(letters):
        if ((first[0].lower(), second[0].lower()) in _TONE_PLACEMENT_CLUSTERS
                and not first[1] and not second[1] and first[2] and not second[2]):
            first[2], second[2] = "", first[2]
    return _join_letters(letters)


def _without_tones(value: str) -> str:
    return _join_letters(_letters(value), tones=False)


def _compact(value: str) -> str:
    return unicodedata.normalize("NFC", "".join(value.casefold().split()))


def _has_diacritics(value: str) -> bool:
    return fold_diacritics(value) != unicodedata.normalize("NFC", value)


def _name_kind(ours: str, theirs: str) -> DifferenceKind:
    """Each check tolerates what the earlier ones did, so "HOÀ"/"Hòa" is a tone placement."""
    ours_visible, theirs_visible = _visible_nfc(ours), _visible_nfc(theirs)
    if ours_visible == theirs_visible:
        return DifferenceKind.UNICODE_FORM
    ours_compact, theirs_compact = _compact(ours_visible), _compact(theirs_visible)
    if ours_compact == theirs_compact:
        return DifferenceKind.LETTER_CASE_SPACING
    # Tones move within each word before spaces go, lest "Hò Anh" pair up with "Ho Ành".
    ours_placed = _compact(_tone_on_second_vowel(ours_visible))
    theirs_placed = _compact(_tone_on_second_vowel(theirs_visible))
    if ours_placed == theirs_placed:
        return DifferenceKind.TONE_PLACEMENT
    if fold_diacritics(ours_compact) == fold_diacritics(theirs_compact) and (
            not _has_diacritics(ours_compact) or not _has_diacritics(theirs_compact)):
        return DifferenceKind.MISSING_DIACRITICS
    if _without_tones(ours_placed) == _without_tones(theirs_placed):
        return DifferenceKind.OTHER_DIACRITICS
    return DifferenceKind.NAME_SPELLING


def _explain_name(ours: str, theirs: str, ours_shown: str,
                  theirs_shown: str) -> tuple[DifferenceKind, str]:
    if ours == theirs:
        return DifferenceKind.NAME_SPELLING, _same_message("full_name", theirs_shown)
    kind = _name_kind(ours, theirs)
    values = {"ours": ours_shown, "theirs": theirs_shown}
    if kind is DifferenceKind.UNICODE_FORM:
        message = _("Họ tên trông giống nhau nhưng khác mã chữ (thường do dán từ tệp khác): "
                    "hồ sơ ghi «%(ours)s», CSDL dân cư ghi «%(theirs)s».")
    elif kind is DifferenceKind.LETTER_CASE_SPACING:
        message = _("Họ tên chỉ khác chữ hoa, chữ thường hoặc dấu cách: hồ sơ ghi «%(ours)s», "
                    "CSDL dân cư ghi «%(theirs)s».")
    elif kind is DifferenceKind.TONE_PLACEMENT:
        message = _("Họ tên khác cách đặt dấu: hồ sơ ghi «%(ours)s», "
                    "CSDL dân cư ghi «%(theirs)s».")
    elif kind is DifferenceKind.MISSING_DIACRITICS and not _has_diacritics(ours):
        message = _("Họ tên trong hồ sơ bị thiếu dấu: hồ sơ ghi «%(ours)s», "
                    "CSDL dân cư ghi «%(theirs)s».")
    elif kind is DifferenceKind.MISSING_DIACRITICS:
        message = _("Họ tên trong CSDL dân cư không có dấu: hồ sơ ghi «%(ours)s», "
                    "CSDL dân cư ghi «%(theirs)s».")
    elif kind is DifferenceKind.OTHER_DIACRITICS:
        message = _("Họ tên khác dấu thanh: hồ sơ ghi «%(ours)s», CSDL dân cư ghi «%(theirs)s».")
    else:
        message = _("Họ tên viết khác: hồ sơ ghi «%(ours)s», CSDL dân cư ghi «%(theirs)s».")
    return kind, message % values


# --- Dates, sex, place ---------------------------------------------------------------------


def _parse_date(value: str) -> dt.date | None:
    # Only the contract's ISO form: date.fromisoformat would also take "20190503" or week dates.
    match = _ISO_DATE.fullmatch(value.strip())
    if match is None:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def _format_date(date: dt.date) -> str:
    # Not strftime: "%Y" does not zero-pad years before 1000 on every platform.
    return f"{date.day:02d}/{date.month:02d}/{date.year:04d}"


def _explain_date(ours: str, theirs: str, ours_shown: str,
                  theirs_shown: str) -> tuple[DifferenceKind, str]:
    ours_date, theirs_date = _parse_date(ours), _parse_date(theirs)
    if ours_shown == theirs_shown:
        return DifferenceKind.DATE_OTHER, _same_message("date_of_birth", theirs_shown)
    values: dict[str, object] = {"ours": ours_shown, "theirs": theirs_shown}
    if ours_date is None or theirs_date is None:
        kind = DifferenceKind.DATE_OTHER
    elif ours_date.year != theirs_date.year:
        kind = DifferenceKind.DATE_YEAR
    elif (ours_date.day, ours_date.month) == (theirs_date.month, theirs_date.day):
        kind = DifferenceKind.DAY_MONTH_SWAPPED
    elif abs((ours_date - theirs_date).days) <= _FEW_DAYS:
        kind = DifferenceKind.DATE_FEW_DAYS
        values["days"] = abs((ours_date - theirs_date).days)
    else:
        kind = DifferenceKind.DATE_OTHER
    if kind is DifferenceKind.DATE_YEAR:
        message = _("Năm sinh khác: hồ sơ ghi %(ours)s, CSDL dân cư ghi %(theirs)s.")
    elif kind is DifferenceKind.DAY_MONTH_SWAPPED:
        message = _("Ngày sinh bị đảo ngày và tháng: hồ sơ ghi %(ours)s, "
                    "CSDL dân cư ghi %(theirs)s.")
    elif kind is DifferenceKind.DATE_FEW_DAYS:
        message = _("Ngày sinh lệch %(days)s ngày: hồ sơ ghi %(ours)s, "
                    "CSDL dân cư ghi %(theirs)s.")
    else:
        message = _("Ngày sinh khác: hồ sơ ghi %(ours)s, CSDL dân cư ghi %(theirs)s.")
    return kind, message % values


def _explain_sex(ours: str, theirs: str, ours_shown: str,
                 theirs_shown: str) -> tuple[DifferenceKind, str]:
    if ours_shown == theirs_shown:
        return DifferenceKind.SEX_CODE, _same_message("sex", theirs_shown)
    message = _("Giới tính khác: hồ sơ ghi %(ours)s, CSDL dân cư ghi %(theirs)s.")
    return DifferenceKind.SEX_CODE, message % {"ours": ours_shown, "theirs": theirs_shown}


def _place_code(value: str) -> str:
    code = "".join(value.split())
    # Province codes are two digits; a spreadsheet may have eaten the leading zero of "01".
    return code.zfill(2) if len(code) == 1 and code.isascii() and code.isdigit() else code


def _explain_place(ours: str, theirs: str, ours_shown: str,
                   theirs_shown: str) -> tuple[DifferenceKind, str]:
    if _place_code(ours) == _place_code(theirs):
        return DifferenceKind.PLACE_CODE, _same_message("birth_registration_place", theirs_shown)
    message = _("Nơi đăng ký khai sinh khác: hồ sơ ghi %(ours)s, CSDL dân cư ghi %(theirs)s.")
    return DifferenceKind.PLACE_CODE, message % {"ours": ours_shown, "theirs": theirs_shown}


_CLASSIFIERS: Final[Mapping[str, Callable[[str, str, str, str], tuple[DifferenceKind, str]]]] = {
    "full_name": _explain_name,
    "date_of_birth": _explain_date,
    "sex": _explain_sex,
    "birth_registration_place": _explain_place,
}


# --- Actions -------------------------------------------------------------------------------


def _action_of(kind: DifferenceKind) -> SuggestedAction:
    if kind in _TYPOGRAPHIC_KINDS:
        return SuggestedAction.CORRECT_RECORD
    return SuggestedAction.CHECK_DOSSIER


def _action_text(kind: DifferenceKind, action: SuggestedAction) -> str:
    if kind is DifferenceKind.UNICODE_FORM:
        # Nothing visible to correct: retyping replaces the hidden characters.
        return _("Gõ lại họ tên trong hồ sơ bằng bàn phím (không dán) theo giấy khai sinh "
                 "(hoặc căn cước) rồi lưu; hệ thống sẽ tự xác thực lại.")
    if kind is DifferenceKind.SEX_CODE:
        # The 4th digit is no longer prescribed by law and older numbers may not follow it:
        # a hint for the check, not proof.
        return _("Đối chiếu giới tính với giấy khai sinh/căn cước; chữ số thứ 4 của số định danh "
                 "cá nhân thường cũng cho biết giới tính và thế kỷ sinh (số chẵn: nam, số lẻ: "
                 "nữ; 0/1: sinh từ 1900 đến 1999, 2/3: sinh từ 2000 đến 2099). Nếu hồ sơ sai, "
                 "sửa hồ sơ (hệ thống tự xác thực lại); nếu giấy tờ khớp với hồ sơ thì CSDL dân "
                 "cư sai — hướng dẫn gia đình đề nghị công an cấp xã đính chính, rồi đánh dấu "
                 "«Đã đề nghị đính chính».")
    if kind is DifferenceKind.NOT_FOUND:
        return _("Kiểm tra số định danh cá nhân trên giấy khai sinh/căn cước: nếu hồ sơ ghi sai "
                 "số, sửa hồ sơ (hệ thống tự xác thực lại); nếu số đúng, hướng dẫn gia đình đề "
                 "nghị công an cấp xã cập nhật thông tin vào CSDL dân cư, rồi đánh dấu "
                 "«Đã đề nghị đính chính».")
    return describe_action(action)
