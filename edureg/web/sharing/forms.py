"""The authority officer's agreement forms: parsers only. What an agreement may allow is the
service's business (``sharing.services``); its messages are shown on the fields they name.
Nothing is ticked or chosen in advance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django import forms
from django.utils.translation import gettext_lazy as _

from edureg.core.catalogue import FieldInfo
from edureg.privacy.purposes import Purpose
from edureg.sharing.models import AgreementKind
from edureg.web.forms import DATE_INPUT
from edureg.web.quality.forms import _ServiceErrors

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

_DATE_FORMATS = ["%d/%m/%Y", "%Y-%m-%d"]
LOOKUP_CHOICES = [("education_id", _("Mã định danh Bộ GD&ĐT")),
                  ("personal_id_number", _("Số định danh cá nhân"))]


def _date(label: _StrPromise, help_text: _StrPromise) -> forms.DateField:
    return forms.DateField(
        label=label, required=False, input_formats=_DATE_FORMATS, help_text=help_text,
        widget=forms.DateInput(format="%d/%m/%Y", attrs=DATE_INPUT),
        error_messages={"invalid": _("Ngày phải theo dạng ngày/tháng/năm, ví dụ 01/01/2027.")})


class AgreementForm(_ServiceErrors):
    agency_code = forms.CharField(label=_("Mã cơ quan nhận dữ liệu"), required=False,
                                  widget=forms.TextInput(attrs={"autocomplete": "off"}),
                                  help_text=_("Ví dụ: TYT-26734 (Trạm Y tế phường)."))
    agency_name = forms.CharField(label=_("Tên cơ quan nhận dữ liệu"), required=False,
                                  widget=forms.TextInput(attrs={"autocomplete": "off"}))
    reference = forms.CharField(label=_("Số hiệu văn bản thoả thuận"), required=False,
                                widget=forms.TextInput(attrs={"autocomplete": "off"}))
    legal_basis = forms.CharField(label=_("Căn cứ pháp lý"), required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    purpose = forms.ChoiceField(label=_("Mục đích xử lý"), required=False)
    allowed_fields = forms.MultipleChoiceField(
        label=_("Trường dữ liệu được chia sẻ"), required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Chỉ chọn những trường cơ quan nhận thật sự cần cho mục đích đã nêu."),
        error_messages={"invalid_choice": _("Trường “%(value)s” không có trong danh mục trường "
                                            "dữ liệu học sinh.")})
    allowed_lookups = forms.MultipleChoiceField(
        label=_("Cách tra cứu được phép"), required=False, choices=LOOKUP_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Không bắt buộc với dòng thay đổi: nếu chọn, cơ quan còn được tra cứu "
                    "từng hồ sơ theo cách đã chọn."),
        error_messages={"invalid_choice": _("Cách tra cứu “%(value)s” không hợp lệ.")})
    kind = forms.ChoiceField(
        label=_("Hình thức"), required=False,
        choices=[("", _("— Chọn hình thức —")), *AgreementKind.choices],
        help_text=_("Tra cứu: mỗi lần một học sinh. Dòng thay đổi chuyển dữ liệu hàng loạt, "
                    "cần căn cứ pháp lý riêng."),
        error_messages={"invalid_choice": _("Hãy chọn hình thức chia sẻ trong danh sách.")})
    change_feed_legal_basis = forms.CharField(
        label=_("Căn cứ pháp lý của dòng thay đổi"), required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Bắt buộc khi chọn hình thức dòng thay đổi: văn bản cho phép chuyển dữ liệu "
                    "hàng loạt (ngoài căn cứ của việc chia sẻ)."))
    valid_from = _date(_("Hiệu lực từ ngày"), _("Ngày/tháng/năm, ví dụ 01/01/2027."))
    expires_on = _date(_("Hết hiệu lực sau ngày"),
                       _("Ngày cuối cùng thoả thuận còn hiệu lực."))
    rate_limit_per_minute = forms.IntegerField(
        label=_("Số lượt tra cứu tối đa mỗi phút"), required=False,
        help_text=_("Mỗi lần tra cứu hoặc lấy một trang dòng thay đổi tính là một lượt."),
        error_messages={"invalid": _("Số lượt tra cứu mỗi phút phải là một số nguyên.")})

    def __init__(self, *args: object, purposes: Sequence[Purpose],
                 fields: Sequence[FieldInfo], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        purpose_field = self.fields["purpose"]
        assert isinstance(purpose_field, forms.ChoiceField)
        purpose_field.choices = [("", str(_("— Chọn mục đích —"))),
                                 *[(p.code, p.name) for p in purposes]]
        allowed = self.fields["allowed_fields"]
        assert isinstance(allowed, forms.MultipleChoiceField)
        sensitive = str(_("dữ liệu nhạy cảm"))
        allowed.choices = [(f.name, f"{f.label} ({sensitive})" if f.is_sensitive else f.label)
                           for f in fields]


class RevokeForm(_ServiceErrors):
    reason = forms.CharField(label=_("Lý do thu hồi"), required=False,
                             widget=forms.Textarea(attrs={"rows": 2}))
