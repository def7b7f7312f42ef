"""The student edit form: a parser and renderer only.

Every field is a raw ``forms.Field`` without validators: the registry service is the one place
that validates (``edureg.registry.validation``), so the form, the API and imports cannot drift.
Coded fields render as <select> from the code lists; child lists (communes, legacy districts and
wards) hold only the children of the chosen parent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.forms.utils import flatatt
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from edureg.access.visibility import Visibility
from edureg.core.codelists import UnknownCodeListError, get_list
from edureg.registry.models import Student
from edureg.registry.services import EDITABLE_STUDENT_FIELDS
from edureg.registry.validation import STUDENT_CODED, STUDENT_PARENTS


@dataclasses.dataclass(frozen=True)
class FieldGroup:
    title: Any  # a lazy translated string
    names: tuple[str, ...]
    legacy: tuple[str, ...] = ()  # shown inside a collapsed "before the 2025 reform" block


STUDENT_LAYOUT: tuple[FieldGroup, ...] = (
    FieldGroup(_("Thông tin định danh"), (
        "full_name", "date_of_birth", "sex", "education_id", "temporary_code",
        "personal_id_number", "nationality_code", "ethnicity_code", "religion_code",
    )),
    FieldGroup(_("Nơi sinh"), ("birthplace_text", "birthplace_province", "birthplace_commune"),
               legacy=("birthplace_legacy_province", "birthplace_legacy_district",
                       "birthplace_legacy_ward")),
    FieldGroup(_("Quê quán"), ("hometown_text", "hometown_province", "hometown_commune"),
               legacy=("hometown_legacy_province", "hometown_legacy_district",
                       "hometown_legacy_ward")),
    FieldGroup(_("Nơi thường trú"), ("permanent_address", "permanent_province",
                                      "permanent_commune")),
    FieldGroup(_("Nơi ở hiện nay"), ("current_address", "current_province", "current_commune")),
    FieldGroup(_("Liên hệ"), ("phone",)),
    FieldGroup(_("Khuyết tật, chính sách"), ("disability_code", "policy_group_code")),
)

# Fields without a model label of their own.
_LABELS: dict[str, Any] = {
    "birthplace_legacy_province": _("Tỉnh/thành phố (địa giới trước 01/07/2025)"),
    "birthplace_legacy_district": _("Quận/huyện (địa giới trước 01/07/2025)"),
    "birthplace_legacy_ward": _("Phường/xã/thị trấn (địa giới trước 01/07/2025)"),
    "hometown_legacy_province": _("Tỉnh/thành phố (địa giới trước 01/07/2025)"),
    "hometown_legacy_district": _("Quận/huyện (địa giới trước 01/07/2025)"),
    "hometown_legacy_ward": _("Phường/xã/thị trấn (địa giới trước 01/07/2025)"),
    "identity_change_reason": _("Lý do sửa thông tin định danh"),
    "not_duplicate_reason": _("Lý do không phải cùng một người"),
}
_HELP: dict[str, Any] = {
    "date_of_birth": _("Ngày/tháng/năm, ví dụ 05/09/2019."),
    "personal_id_number": _("12 chữ số, theo CCCD hoặc giấy khai sinh."),
    "phone": _("Di động 10 số hoặc cố định 11 số; có thể bắt đầu bằng +84."),
    "temporary_code": _("Mã do hệ thống cấp khi chưa có mã định danh Bộ GD&ĐT."),
}
# Date fields are typed dd/mm/yyyy (Vietnamese order) on a numeric keypad.
DATE_INPUT = {"inputmode": "numeric", "placeholder": "dd/mm/yyyy", "autocomplete": "off"}
IDENTITY_REASON = "identity_change_reason"
NOT_DUPLICATE_REASON = "not_duplicate_reason"
_REASONS = frozenset({IDENTITY_REASON, NOT_DUPLICATE_REASON})
_NOT_DUPLICATE_HELP = _("Ví dụ: khác cha mẹ, khác nơi sinh. Quyết định được ghi lại và hồ sơ "
                        "trên sẽ không bị hỏi lại.")
_IDENTITY_REASON_HELP = _("Ví dụ: theo giấy khai sinh số 123/2019 do UBND phường cấp ngày "
                          "05/09/2019. Sau khi lưu, hệ thống sẽ xác thực lại với CSDL dân cư.")
_OFFICIAL_ID_HELP = _("Mã định danh Bộ GD&ĐT đã chính thức, không sửa được ở đây; nếu sai, hãy "
                      "báo cho Sở để xử lý.")
_INPUT_ATTRS: dict[str, dict[str, str]] = {
    "date_of_birth": {"inputmode": "numeric", "placeholder": "dd/mm/yyyy", "autocomplete": "off"},
    "personal_id_number": {"inputmode": "numeric", "autocomplete": "off"},
    "education_id": {"autocomplete": "off"},
    "temporary_code": {"autocomplete": "off"},
    "phone": {"autocomplete": "off"},
    "full_name": {"autocomplete": "off", "spellcheck": "false"},
}
_LIST_OF_FIELD: dict[str, str] = {**STUDENT_CODED, "sex": "sex"}
_PARENT_OF: dict[str, str] = dict(STUDENT_PARENTS)
_CHILD_OF: dict[str, str] = {parent: child for child, parent in STUDENT_PARENTS}
# Identity fields are checked together: the ID number's structure is compared with them.
IDENTITY_FIELDS = ("personal_id_number", "date_of_birth", "sex")
# URL names of the JSON views that list a parent's children, and their query parameter.
CHILDREN_ENDPOINTS: dict[str, tuple[str, str]] = {
    "commune": ("web:communes", "tinh"),
    "legacy_district": ("web:legacy_districts", "tinh"),
    "legacy_ward": ("web:legacy_wards", "huyen"),
}


def layout_names() -> tuple[str, ...]:
    return tuple(name for group in STUDENT_LAYOUT for name in (*group.names, *group.legacy))


def field_label(name: str) -> Any:
    if name in _LABELS:
        return _LABELS[name]
    field = Student._meta.get_field(name)
    assert isinstance(field, models.Field)
    return capfirst(field.verbose_name)


def _initial_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def _code_list_choices(list_name: str, parent: str | None) -> list[tuple[str, str]]:
    code_list = get_list(list_name)
    if list_name in CHILDREN_ENDPOINTS:
        entries = code_list.children(parent) if parent else ()
        return [(entry.code, entry.name) for entry in entries]
    return code_list.choices()


class CodeSelect(forms.Select):
    """A <select> of a code list written in one pass. Django renders each <option> through a
    template of its own: a pupil's edit form (communes, nationalities, ethnicities… some 2,600
    options) spent nine tenths of its server time there, and escaping through Django's lazy
    wrappers most of the rest. Flat choices, one value; the same markup as Django's widget
    (tests/web/test_code_select.py)."""

    # The choices as given: Django's setter normalises every pair again on each form.
    @property
    def choices(self) -> list[tuple[Any, Any]]:
        return self._codes

    @choices.setter
    def choices(self, value: Iterable[tuple[Any, Any]]) -> None:
        self._codes = list(value)

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None,
               renderer: Any = None) -> SafeString:
        final_attrs = self.build_attrs(self.attrs, attrs)
        final_attrs["name"] = name
        chosen = set(self.format_value(value))
        marked = False
        options = []
        for code, label in self._codes:
            text = "" if code is None else str(code)
            selected = not marked and text in chosen
            marked = marked or selected
            options.append(f'<option value="{escape(text)}"{" selected" if selected else ""}>'
                           f"{_escaped(label)}</option>")
        return mark_safe(f"<select{flatatt(final_attrs)}>{''.join(options)}</select>")  # noqa: S308 - every part escaped above


def _escaped(value: Any) -> str:
    """``conditional_escape`` without Django's lazy wrapper (a third of the select's cost)."""
    html = getattr(value, "__html__", None)
    return str(html()) if html is not None else escape(str(value))


class StudentEditForm(forms.Form):
    """Edits the fields the actor may see; hidden and masked fields are left out entirely, so a
    masked value can never be posted back over the real one. When the identity fields stand
    verified by the population register (``identity_locked``), the form also asks for the
    reason to change them, which the service requires."""

    def __init__(self, data: Mapping[str, Any] | None = None, *, student: Student,
                 visibility: Visibility, identity_locked: bool = False) -> None:
        super().__init__(data=data)
        self.student = student
        self.identity_locked = identity_locked
        excluded = visibility.hidden | visibility.masked
        names = [*layout_names(), *sorted(EDITABLE_STUDENT_FIELDS - set(layout_names()))]
        for name in names:
            if name not in EDITABLE_STUDENT_FIELDS or name in excluded:
                continue
            self.fields[name] = self._make_field(name)
        self.initial = {name: _initial_text(getattr(student, name)) for name in self.fields}
        for name, field in self.fields.items():
            describedby = f"id_{name}_msg" + (f" id_{name}_help" if field.help_text else "")
            field.widget.attrs["aria-describedby"] = describedby
            if name in _LIST_OF_FIELD:
                self._fill_choices(name)
        # Shown only when the save found look-alike pupils (the template decides).
        self.fields[NOT_DUPLICATE_REASON] = forms.CharField(
            label=field_label(NOT_DUPLICATE_REASON), required=False, strip=False,
            help_text=_NOT_DUPLICATE_HELP,
            widget=forms.Textarea(attrs={
                "rows": 2, "maxlength": "300",
                "aria-describedby": f"id_{NOT_DUPLICATE_REASON}_msg "
                                    f"id_{NOT_DUPLICATE_REASON}_help"}))
        if identity_locked:
            self.fields[IDENTITY_REASON] = forms.CharField(
                label=field_label(IDENTITY_REASON), required=False, strip=False,
                help_text=_IDENTITY_REASON_HELP,
                widget=forms.Textarea(attrs={
                    "rows": 2, "maxlength": "300",
                    "aria-describedby": f"id_{IDENTITY_REASON}_msg id_{IDENTITY_REASON}_help"}))

    def _make_field(self, name: str) -> forms.Field:
        help_text = _HELP.get(name, "")
        disabled = False
        if name == "education_id" and self.student.education_id:
            disabled, help_text = True, _OFFICIAL_ID_HELP
        widget: forms.Widget
        if name in _LIST_OF_FIELD:
            widget = CodeSelect()
        elif name == "phone":
            widget = forms.TextInput(attrs={"type": "tel", **_INPUT_ATTRS[name]})
        else:
            widget = forms.TextInput(attrs=dict(_INPUT_ATTRS.get(name, {})))
        return forms.Field(label=field_label(name), required=False, widget=widget,
                           help_text=help_text, disabled=disabled)

    def current_value(self, name: str) -> str:
        """What the user sees in the field now: their input when bound, else the stored value."""
        if self.is_bound and name in self.data and not self.fields[name].disabled:
            return str(self.data.get(name) or "")
        return str(self.initial.get(name) or "")

    def _fill_choices(self, name: str) -> None:
        list_name = _LIST_OF_FIELD[name]
        parent_name = _PARENT_OF.get(name)
        parent_value = self._parent_value(parent_name) if parent_name else None
        try:
            choices = _code_list_choices(list_name, parent_value)
        except UnknownCodeListError:
            choices = []
        current = self.current_value(name)
        if current and current not in {code for code, _label in choices}:
            # Keep a value that is not (or no longer) in the list visible instead of dropping it.
            choices.append((current, _("%(code)s — không có trong danh mục") % {"code": current}))
        widget = self.fields[name].widget
        assert isinstance(widget, forms.Select)
        widget.choices = [("", _("— Chọn —")), *choices]
        child = _CHILD_OF.get(name)
        if child is not None:
            child_list = _LIST_OF_FIELD[child]
            url_name, parameter = CHILDREN_ENDPOINTS[child_list]
            widget.attrs.update({"data-child": f"id_{child}",
                                 "data-children-url": reverse(url_name),
                                 "data-children-param": parameter})

    def _parent_value(self, parent_name: str) -> str | None:
        if parent_name in self.fields:
            return self.current_value(parent_name) or None
        return str(getattr(self.student, parent_name) or "") or None

    def changes(self) -> dict[str, str]:
        """The raw values of the fields the user changed, for the service to validate. A field
        missing from the submission is left alone rather than read as emptied."""
        return {name: str(self.data.get(name, "")) for name in self.changed_data
                if name in self.data and name not in _REASONS}

    def not_duplicate_reason(self) -> str:
        """The reason given for "not the same person" as the look-alikes (raw)."""
        return str(self.data.get(NOT_DUPLICATE_REASON, "")) if self.is_bound else ""

    def change_reason(self) -> str:
        """The reason given for changing verified identity fields (raw: the service cleans)."""
        if IDENTITY_REASON not in self.fields:
            return ""
        return str(self.data.get(IDENTITY_REASON, ""))

    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            for message in error.messages:
                self.add_error(None, message)
            return
        for name, messages in error.message_dict.items():
            for message in messages:
                if name in self.fields:
                    self.add_error(name, message)
                elif name == NON_FIELD_ERRORS:
                    self.add_error(None, message)
                else:
                    self.add_error(None, f"{field_label(name)}: {message}")

    def groups(self) -> list[tuple[Any, list[forms.BoundField], list[forms.BoundField]]]:
        """(title, bound fields, legacy bound fields) per group, skipping empty groups."""
        result = []
        placed: set[str] = set()
        for group in STUDENT_LAYOUT:
            main = [self[name] for name in group.names if name in self.fields]
            legacy = [self[name] for name in group.legacy if name in self.fields]
            placed.update(group.names, group.legacy)
            if main or legacy:
                result.append((group.title, main, legacy))
        rest = [self[name] for name in self.fields
                if name not in placed and name not in _REASONS]
        if rest:
            result.append((_("Khác"), rest, []))
        return result


def check_context(field: str, editable: Iterable[str]) -> tuple[str, ...]:
    """The fields checked along with ``field`` on its own: its parent code (a commune is checked
    against its province) and, for identity fields, the other identity fields."""
    related: list[str] = [field]
    if field in _PARENT_OF:
        related.append(_PARENT_OF[field])
    if field in IDENTITY_FIELDS:
        related.extend(IDENTITY_FIELDS)
    allowed = set(editable)
    return tuple(dict.fromkeys(name for name in related if name in allowed))
