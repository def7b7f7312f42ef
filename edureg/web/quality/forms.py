"""The quality screens' forms: parsers only. What a value must be is the services' business
(``registry.attestation``): their messages are shown on the fields they name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from edureg.quality.rules.catalogue import AttestationGroup, Dimension
from edureg.quality.services import current_rule_set
from edureg.web.forms import DATE_INPUT

_ID_MAX = 2**63 - 1


class _ServiceErrors(forms.Form):
    def add_service_errors(self, error: ValidationError) -> None:
        """Show a service's errors on the fields they name (elsewhere, on the form)."""
        if not hasattr(error, "error_dict"):
            for message in error.messages:
                self.add_error(None, message)
            return
        for field, errors in error.message_dict.items():
            self.add_error(field if field in self.fields else None, errors)


class AttestForm(_ServiceErrors):
    """Record that a field group of a pupil agrees with a legal document. One form per group on
    the pupil's page, prefixed with the group's code so their fields have distinct ids."""

    document_type = forms.CharField(label=_("Loại giấy tờ"), required=False,
                                    widget=forms.Select)
    document_number = forms.CharField(label=_("Số giấy tờ"), required=False,
                                      widget=forms.TextInput(attrs={"autocomplete": "off"}))
    document_date = forms.DateField(
        label=_("Ngày cấp"), required=False, input_formats=["%d/%m/%Y", "%Y-%m-%d"],
        widget=forms.DateInput(format="%d/%m/%Y", attrs=DATE_INPUT),
        help_text=_("Ngày/tháng/năm, ví dụ 05/09/2019; để trống nếu giấy tờ không ghi."),
        error_messages={"invalid": _("Ngày cấp phải theo dạng ngày/tháng/năm, ví dụ "
                                     "05/09/2019.")})

    def __init__(self, data: Any = None, *, group: AttestationGroup,
                 documents: dict[str, str]) -> None:
        super().__init__(data, prefix=group.code)
        self.group = group
        widget = self.fields["document_type"].widget
        assert isinstance(widget, forms.Select)
        widget.choices = [("", _("— Chọn —")),
                          *[(code, documents.get(code, code)) for code in group.documents]]


def attest_forms(data: Any = None, group: str | None = None) -> dict[str, AttestForm]:
    """One attestation form per field group of a pupil; ``data`` binds the one of ``group``."""
    parameters = current_rule_set().parameters
    documents = dict(parameters.documents)
    return {g.code: AttestForm(data if g.code == group else None, group=g, documents=documents)
            for g in parameters.groups_for("student")}


class SignOffForm(_ServiceErrors):
    round_label = forms.CharField(
        label=_("Kỳ báo cáo"), required=False,
        help_text=_("Ví dụ: Đầu năm học 2026–2027."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}))
    note = forms.CharField(label=_("Ghi chú"), required=False,
                           widget=forms.Textarea(attrs={"rows": 2}))


class TodoForm(forms.Form):
    lop = forms.IntegerField(label=_("Lớp"), required=False, min_value=1, max_value=_ID_MAX,
                             widget=forms.Select)
    trang = forms.IntegerField(required=False, min_value=1, max_value=_ID_MAX)
    trang_buoc = forms.IntegerField(required=False, min_value=1, max_value=_ID_MAX)

    def __init__(self, *args: Any, classes: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lop"].widget.choices = [("", _("Tất cả các lớp")), *classes]


MEAN = "tb"
RANKING_CHOICES = [
    (MEAN, _("Trung bình bốn tiêu chí")),
    (Dimension.CORRECT.value, _("Đúng")),
    (Dimension.COMPLETE.value, _("Đủ")),
    (Dimension.CLEAN.value, _("Sạch")),
    (Dimension.LIVE.value, _("Sống")),
]
ORDER_CHOICES = [("cao", _("Cao đến thấp")), ("thap", _("Thấp đến cao"))]


class RankingForm(forms.Form):
    tieu_chi = forms.ChoiceField(label=_("Xếp hạng theo"), required=False,
                                 choices=RANKING_CHOICES)
    thu_tu = forms.ChoiceField(label=_("Thứ tự"), required=False, choices=ORDER_CHOICES)
    trang = forms.IntegerField(required=False, min_value=1, max_value=_ID_MAX,
                               widget=forms.HiddenInput)


def valid_or_empty(form: forms.Form) -> dict[str, Any]:
    """The fields that parsed (a bad page number or class in a link falls back to none)."""
    form.is_valid()
    return form.cleaned_data if hasattr(form, "cleaned_data") else {}
