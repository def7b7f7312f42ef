"""The supervision screens' filters (GET forms): parsed and bounded here, nothing else."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

ENTITY_CHOICES = [("", _("Tất cả")), ("student", _("Học sinh")), ("staff", _("Cán bộ")),
                  ("guardian", _("Cha mẹ, người giám hộ"))]


class _DateInput(forms.DateInput):
    input_type = "date"


class FilterForm(forms.Form):
    truong = forms.IntegerField(label=_("Trường"), required=False, min_value=1,
                                widget=forms.Select)
    nguoi = forms.CharField(label=_("Tài khoản"), required=False, max_length=150,
                            help_text=_("Tên đăng nhập của người cần xem."))
    doi_tuong = forms.ChoiceField(label=_("Loại hồ sơ"), required=False, choices=ENTITY_CHOICES)
    ma = forms.CharField(label=_("Mã hồ sơ"), required=False, max_length=40,
                         help_text=_("Số hiệu của hồ sơ (trong địa chỉ trang hồ sơ)."))
    tu_ngay = forms.DateField(label=_("Từ ngày"), required=False, widget=_DateInput)
    den_ngay = forms.DateField(label=_("Đến ngày"), required=False, widget=_DateInput)
    truoc = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: object, schools: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["truong"].widget.choices = [("", _("Tất cả các trường")), *schools]

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("tu_ngay"), cleaned.get("den_ngay")
        if isinstance(start, dt.date) and isinstance(end, dt.date) and start > end:
            self.add_error("den_ngay", _("“Đến ngày” phải sau hoặc bằng “Từ ngày”."))
        if cleaned.get("ma") and not cleaned.get("doi_tuong"):
            cleaned["doi_tuong"] = "student"
        return cleaned


class ChangeFilterForm(FilterForm):
    truong_du_lieu = forms.CharField(label=_("Trường dữ liệu"), required=False, max_length=60,
                                     help_text=_("Ví dụ: full_name, phone."))

    field_order = ["truong", "nguoi", "doi_tuong", "ma", "truong_du_lieu", "tu_ngay",
                   "den_ngay"]


class DayForm(forms.Form):
    truong = forms.IntegerField(label=_("Trường"), required=False, min_value=1,
                                widget=forms.Select)
    ngay = forms.DateField(label=_("Ngày"), required=False, widget=_DateInput)

    def __init__(self, *args: object, schools: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["truong"].widget.choices = [("", _("Tất cả các trường")), *schools]


class SchoolForm(forms.Form):
    truong = forms.IntegerField(label=_("Trường"), required=False, min_value=1,
                                widget=forms.Select)

    def __init__(self, *args: object, schools: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["truong"].widget.choices = [("", _("Tất cả các trường")), *schools]
