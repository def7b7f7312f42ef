"""Field formats for people records: the blocking checks every write path runs (form, API, import).

Each check returns the stored form of a value or a Vietnamese message that names the field and
says what to do. Structural disagreements of the personal ID number are warnings, never errors.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from django.db import models
from django.utils.translation import gettext as _

from edureg.core import clock
from edureg.core.codelists import get_list
from edureg.core.personal_id import PersonalIdFormatError, check_personal_id, parse_personal_id
from edureg.core.phone import PhoneError, normalise_phone
from edureg.core.text import TextValueError, clean_text, normalise_name

_EDUCATION_ID = re.compile(r"[0-9A-Za-z]{1,20}")
_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y")


@dataclasses.dataclass(frozen=True)
class FieldWarning:
    field: str
    code: str
    message: str


@dataclasses.dataclass
class Cleaned:
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    errors: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    warnings: list[FieldWarning] = dataclasses.field(default_factory=list)
    code_versions: dict[str, str] = dataclasses.field(default_factory=dict)

    def error(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)


class FieldValueError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_date(value: object) -> dt.date | None:
    """dd/mm/yyyy, ISO or a date; None for empty. Raise FieldValueError otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in _DATE_FORMATS:
        try:
            parsed = dt.datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
        return parsed
    raise FieldValueError(
        _("Ngày không hợp lệ; hãy nhập theo dạng ngày/tháng/năm, ví dụ 05/09/2018.")
    )


def _plausible_birth_date(value: dt.date) -> dt.date:
    today = clock.today()
    if value > today:
        raise FieldValueError(_("Ngày sinh nằm trong tương lai; hãy kiểm tra lại năm sinh."))
    if value.year < 1900:
        raise FieldValueError(_("Năm sinh trước 1900; hãy kiểm tra lại."))
    return value


def _text(max_length: int) -> Callable[[object], str]:
    def clean(value: object) -> str:
        if value is None:
            return ""
        try:
            return clean_text(str(value), max_length=max_length)
        except TextValueError as exc:
            raise FieldValueError(exc.message) from exc

    return clean


def _name(value: object) -> str:
    try:
        name = normalise_name(str(value or ""))
    except TextValueError as exc:
        raise FieldValueError(exc.message) from exc
    if not name:
        raise FieldValueError(_("Không được để trống họ và tên."))
    return name


def _phone(value: object) -> str:
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        return normalise_phone(text)
    except PhoneError as exc:
        raise FieldValueError(exc.message) from exc


def _personal_id(value: object) -> str | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return parse_personal_id(text).number
    except PersonalIdFormatError as exc:
        raise FieldValueError(str(exc)) from exc


def _education_id(value: object) -> str | None:
    text = str(value or "").strip()
    if not text:
        return None
    if not _EDUCATION_ID.fullmatch(text):
        raise FieldValueError(_("Mã chỉ gồm chữ số và chữ cái không dấu, tối đa 20 ký tự."))
    return text


def _sex(value: object) -> str:
    text = str(value or "").strip()
    if not text:
        return ""
    entry = get_list("sex").match(text)
    if entry is None:
        raise FieldValueError(_("Giới tính phải là Nam hoặc Nữ."))
    return entry.code


def _birth_date(value: object) -> dt.date | None:
    parsed = parse_date(value)
    return None if parsed is None else _plausible_birth_date(parsed)


def _birth_year(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        year = int(str(value).strip())
    except ValueError as exc:
        raise FieldValueError(_("Năm sinh phải là số có 4 chữ số, ví dụ 1985.")) from exc
    if not 1900 <= year <= clock.today().year:
        raise FieldValueError(_("Năm sinh phải nằm trong khoảng 1900 đến năm nay."))
    return year


# Coded fields → the code list their values come from.
STUDENT_CODED = {
    "ethnicity_code": "ethnicity",
    "religion_code": "religion",
    "nationality_code": "nationality",
    "disability_code": "disability",
    "policy_group_code": "policy_group",
    "birthplace_province": "province",
    "birthplace_commune": "commune",
    "hometown_province": "province",
    "hometown_commune": "commune",
    "permanent_province": "province",
    "permanent_commune": "commune",
    "current_province": "province",
    "current_commune": "commune",
    "birthplace_legacy_province": "legacy_province",
    "birthplace_legacy_district": "legacy_district",
    "birthplace_legacy_ward": "legacy_ward",
    "hometown_legacy_province": "legacy_province",
    "hometown_legacy_district": "legacy_district",
    "hometown_legacy_ward": "legacy_ward",
}
STAFF_CODED = {
    "ethnicity_code": "ethnicity",
    "religion_code": "religion",
    "nationality_code": "nationality",
    "job_position_code": "job_position",
    "position_group_code": "position_group",
    "employment_status_code": "employment_status",
    "qualification_code": "qualification",
}
# (child field, parent field): a commune must lie in the chosen province, and so on.
STUDENT_PARENTS = (
    ("birthplace_commune", "birthplace_province"),
    ("hometown_commune", "hometown_province"),
    ("permanent_commune", "permanent_province"),
    ("current_commune", "current_province"),
    ("birthplace_legacy_district", "birthplace_legacy_province"),
    ("birthplace_legacy_ward", "birthplace_legacy_district"),
    ("hometown_legacy_district", "hometown_legacy_province"),
    ("hometown_legacy_ward", "hometown_legacy_district"),
)

STUDENT_CLEANERS: dict[str, Callable[[object], Any]] = {
    "full_name": _name,
    "education_id": _education_id,
    "temporary_code": _education_id,
    "date_of_birth": _birth_date,
    "sex": _sex,
    "personal_id_number": _personal_id,
    "phone": _phone,
    "birthplace_text": _text(300),
    "hometown_text": _text(300),
    "permanent_address": _text(300),
    "current_address": _text(300),
}
GUARDIAN_CLEANERS: dict[str, Callable[[object], Any]] = {
    "full_name": _name,
    "birth_year": _birth_year,
    "occupation": _text(100),
    "phone": _phone,
    "personal_id_number": _personal_id,
}


def _label(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    return str(getattr(field, "verbose_name", name))


def _clean_coded(result: Cleaned, name: str, list_name: str, value: object) -> None:
    text = str(value or "").strip()
    if not text:
        result.values[name] = ""
        return
    code_list = get_list(list_name)
    entry = code_list.get(text) or code_list.match(text)
    if entry is None:
        result.error(name, _("“%(value)s” không có trong danh mục (phiên bản %(version)s); "
                             "hãy chọn một giá trị trong danh sách.")
                     % {"value": text[:40], "version": code_list.version})
        return
    result.values[name] = entry.code
    result.code_versions[list_name] = code_list.version


def clean_person_values(
    model: type[models.Model],
    raw: Mapping[str, object],
    *,
    cleaners: Mapping[str, Callable[[object], Any]],
    coded: Mapping[str, str],
    parents: tuple[tuple[str, str], ...] = (),
    current: models.Model | None = None,
) -> Cleaned:
    """Clean the given fields of a person record; unknown field names are errors."""
    result = Cleaned()
    for name, value in raw.items():
        if name in coded:
            _clean_coded(result, name, coded[name], value)
        elif name in cleaners:
            try:
                result.values[name] = cleaners[name](value)
            except FieldValueError as exc:
                result.error(name, exc.message)
        else:
            result.error(name, _("Trường “%(name)s” không được phép sửa ở đây.") % {"name": name})

    def final(name: str) -> Any:
        if name in result.values:
            return result.values[name]
        return getattr(current, name, None) if current is not None else None

    for child, parent in parents:
        if child in result.errors or parent in result.errors:
            continue
        child_code, parent_code = final(child), final(parent)
        if child_code and parent_code and (child in raw or parent in raw):
            entry = get_list(coded[child]).get(child_code)
            if entry is not None and entry.parent != parent_code:
                result.error(child, _("%(child)s không thuộc %(parent)s đã chọn; hãy chọn lại.")
                             % {"child": _label(model, child), "parent": _label(model, parent)})
    identity = {"personal_id_number", "date_of_birth", "sex"}
    if identity & set(raw) and not identity & set(result.errors):
        number = final("personal_id_number")
        if number:
            for warning in check_personal_id(
                number, date_of_birth=final("date_of_birth"), sex=final("sex") or None
            ):
                result.warnings.append(
                    FieldWarning(field="personal_id_number", code=warning.code,
                                 message=warning.message)
                )
    return result
