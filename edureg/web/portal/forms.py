"""The portal's forms: parsers only; ``privacy.portal`` checks and decides."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from edureg.web.forms import DATE_INPUT
from edureg.web.quality.forms import _ServiceErrors


class LookupForm(_ServiceErrors):
    education_id = forms.CharField(
        label=_("Mã định danh của học sinh"), required=False, max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=_("Mã định danh Bộ GD&ĐT, in trên thẻ học sinh hoặc sổ liên lạc điện tử."),
        error_messages={"max_length": _("Mã định danh dài quá %(limit_value)d ký tự.")})
    date_of_birth = forms.DateField(
        label=_("Ngày sinh của học sinh"), required=False, input_formats=["%d/%m/%Y", "%Y-%m-%d"],
        widget=forms.DateInput(format="%d/%m/%Y", attrs=DATE_INPUT),
        help_text=_("Ngày/tháng/năm, ví dụ 05/09/2019."),
        error_messages={"invalid": _("Ngày sinh phải theo dạng ngày/tháng/năm, ví dụ "
                                     "05/09/2019.")})


class CodeForm(_ServiceErrors):
    code = forms.CharField(
        label=_("Mã xác thực"), required=False, max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text=_("6 chữ số trong tin nhắn gửi tới số điện thoại của cha mẹ/người giám hộ đã "
                    "đăng ký ở trường."),
        error_messages={"max_length": _("Mã xác thực chỉ có 6 chữ số.")})


class CorrectionForm(_ServiceErrors):
    details = forms.CharField(
        label=_("Thông tin cần sửa"), required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": "4000"}),
        help_text=_("Ví dụ: ngày sinh đúng là 05/09/2019 theo giấy khai sinh; nhà trường sẽ "
                    "liên hệ để đối chiếu giấy tờ."))
