"""The report screens' forms: parsers only. What a round, a date or a group of schools must be
is the services' business (``reports.rounds``): their messages are shown on the fields they
name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from edureg.reports.models import RoundKind
from edureg.web.forms import DATE_INPUT

_ID_MAX = 2**63 - 1


class RoundForm(forms.Form):
    authority = forms.TypedChoiceField(label=_("Sở"), coerce=int, required=True)
    name = forms.CharField(
        label=_("Tên kỳ báo cáo"),
        required=False,
        help_text=_("Ví dụ: Đầu năm học 2026–2027."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    kind = forms.ChoiceField(label=_("Loại kỳ"), choices=RoundKind.choices, required=False)
    as_of = forms.DateField(
        label=_("Ngày lấy số liệu"),
        required=False,
        input_formats=["%d/%m/%Y", "%Y-%m-%d"],
        help_text=_("Số liệu của kỳ là số liệu tại cuối ngày này (ngày/tháng/năm)."),
        widget=forms.DateInput(format="%d/%m/%Y", attrs=DATE_INPUT),
    )

    def __init__(self, *args: Any, authorities: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["authority"]
        field.choices = authorities  # type: ignore[attr-defined]
        if len(authorities) == 1:
            field.initial = authorities[0][0]
            field.widget = forms.HiddenInput()

    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            for message in error.messages:
                self.add_error(None, message)
            return
        for field, errors in error.message_dict.items():
            self.add_error(field if field in self.fields else None, errors)


def school_ids(values: list[str]) -> list[int] | None:
    """The chosen schools' ids (``?truong=…``, repeated); None when one is not a number."""
    ids = []
    for value in values:
        if not value.isdigit() or int(value) > _ID_MAX:
            return None
        ids.append(int(value))
    return ids


class SignOffForm(forms.Form):
    note = forms.CharField(
        label=_("Ghi chú"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
