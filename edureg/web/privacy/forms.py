"""The consent forms of the pupil's page: parsers only. Who must agree, and what counts as
proof, is the services' business (``privacy.services``); their messages are shown on the
fields they name. Nothing is ticked or chosen in advance: the "agreed" box starts empty and
every choice starts at "— Chọn —"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from edureg.privacy.purposes import Channel, Purpose
from edureg.registry.models import Guardian
from edureg.web.forms import DATE_INPUT
from edureg.web.quality.forms import _ServiceErrors

_DATE_FORMATS = ["%d/%m/%Y", "%Y-%m-%d"]
SUBJECT = "hoc-sinh"


def _channel_choices(channels: Sequence[Channel]) -> list[tuple[str, str]]:
    return [("", str(_("— Chọn hình thức —"))), *[(c.code, c.name) for c in channels]]


class ConsentGiveForm(_ServiceErrors):
    """One purpose's "record consent" form (one per purpose on the page)."""

    purpose = forms.CharField(widget=forms.HiddenInput)
    notice_version = forms.CharField(widget=forms.HiddenInput)
    guardian = forms.TypedChoiceField(
        label=_("Cha mẹ/người giám hộ đồng ý"), coerce=int, required=False, empty_value=None,
        error_messages={"invalid_choice": _("Hãy chọn một người trong danh sách cha mẹ/người "
                                            "giám hộ của học sinh.")})
    subject_agreed = forms.BooleanField(
        label=_("Chính học sinh đồng ý"), required=False,
        help_text=_("Bắt buộc với học sinh từ đủ 7 tuổi: cần cả học sinh và cha mẹ/người giám "
                    "hộ cùng đồng ý."))
    channel = forms.ChoiceField(label=_("Hình thức"), required=False)
    evidence_reference = forms.CharField(
        label=_("Chứng cứ lưu"), required=False, max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=_("Ví dụ: Phiếu đồng ý số 12, lưu tại hồ sơ lớp 1A."),
        error_messages={"max_length": _("Chứng cứ lưu dài quá %(limit_value)d ký tự.")})
    given_on = forms.DateField(
        label=_("Ngày đồng ý"), required=False, input_formats=_DATE_FORMATS,
        widget=forms.DateInput(format="%d/%m/%Y", attrs=DATE_INPUT),
        help_text=_("Ngày ký phiếu, ngày/tháng/năm; để trống là hôm nay."),
        error_messages={"invalid": _("Ngày đồng ý phải theo dạng ngày/tháng/năm, ví dụ "
                                     "05/09/2026.")})

    def __init__(self, data: Any = None, *, purpose: Purpose, guardians: Sequence[Guardian],
                 channels: Sequence[Channel]) -> None:
        super().__init__(data, initial={"purpose": purpose.code,
                                        "notice_version": purpose.notice_version},
                         auto_id=f"dong-y-{purpose.code}-%s")
        self.chosen_purpose = purpose
        self.guardians = {g.pk: g for g in guardians}
        field = self.fields["guardian"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", _("— Chọn người đồng ý —")),
                         *[(g.pk, g.full_name) for g in guardians]]
        channel = self.fields["channel"]
        assert isinstance(channel, forms.ChoiceField)
        channel.choices = _channel_choices(channels)

    def chosen_guardian(self) -> Guardian | None:
        chosen = self.cleaned_data.get("guardian")
        return None if chosen is None else self.guardians.get(chosen)


class ConsentWithdrawForm(_ServiceErrors):
    """Withdrawing the consent in force for one purpose: by a parent or guardian, or the pupil."""

    withdrawn_by = forms.ChoiceField(
        label=_("Người rút lại"), required=False,
        error_messages={"invalid_choice": _("Hãy chọn người rút lại trong danh sách.")})
    withdrawal_channel = forms.ChoiceField(label=_("Hình thức"), required=False)
    withdrawal_evidence = forms.CharField(
        label=_("Chứng cứ lưu"), required=False, max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=_("Ví dụ: Đơn rút lại sự đồng ý ngày 10/10/2026, lưu tại văn phòng."),
        error_messages={"max_length": _("Chứng cứ lưu dài quá %(limit_value)d ký tự.")})
    withdrawn_on = forms.DateField(
        label=_("Ngày rút lại"), required=False, input_formats=_DATE_FORMATS,
        widget=forms.DateInput(format="%d/%m/%Y", attrs=DATE_INPUT),
        help_text=_("Ngày/tháng/năm; để trống là hôm nay."),
        error_messages={"invalid": _("Ngày rút lại phải theo dạng ngày/tháng/năm, ví dụ "
                                     "05/10/2026.")})

    def __init__(self, data: Any = None, *, purpose: Purpose, guardians: Sequence[Guardian],
                 channels: Sequence[Channel]) -> None:
        super().__init__(data, auto_id=f"rut-lai-{purpose.code}-%s")
        self.chosen_purpose = purpose
        self.guardians = {str(g.pk): g for g in guardians}
        field = self.fields["withdrawn_by"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("— Chọn người rút lại —")), (SUBJECT, _("Chính học sinh")),
                         *[(str(g.pk), g.full_name) for g in guardians]]
        channel = self.fields["withdrawal_channel"]
        assert isinstance(channel, forms.ChoiceField)
        channel.choices = _channel_choices(channels)

    def chosen_guardian(self) -> Guardian | None:
        return self.guardians.get(self.cleaned_data.get("withdrawn_by") or "")

    def by_subject(self) -> bool:
        return self.cleaned_data.get("withdrawn_by") == SUBJECT


class AcknowledgeForm(forms.Form):
    version = forms.CharField(widget=forms.HiddenInput)
    read = forms.BooleanField(
        label=_("Tôi đã đọc và cam kết thực hiện quy chế này"), required=True,
        error_messages={"required": _("Hãy đánh dấu ô xác nhận đã đọc quy chế.")})


_DATETIME_FORMATS = ["%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
_DATETIME_INPUT = {"inputmode": "numeric", "placeholder": "dd/mm/yyyy hh:mm",
                   "autocomplete": "off"}


class IncidentForm(_ServiceErrors):
    """Record or correct a personal-data breach. The texts say what happened, never who."""

    detected_at = forms.DateTimeField(
        label=_("Thời điểm phát hiện"), required=False, input_formats=_DATETIME_FORMATS,
        widget=forms.DateTimeInput(format="%d/%m/%Y %H:%M", attrs=_DATETIME_INPUT),
        help_text=_("Ngày/tháng/năm giờ:phút, ví dụ 05/10/2026 14:30. Hạn thông báo tính từ "
                    "thời điểm này."),
        error_messages={"invalid": _("Thời điểm phát hiện phải theo dạng ngày/tháng/năm "
                                     "giờ:phút, ví dụ 05/10/2026 14:30.")})
    title = forms.CharField(label=_("Tiêu đề"), required=False, max_length=200,
                            widget=forms.TextInput(attrs={"autocomplete": "off"}),
                            error_messages={"max_length": _("Tiêu đề dài quá %(limit_value)d "
                                                            "ký tự.")})
    description = forms.CharField(
        label=_("Mô tả sự cố"), required=False, widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Điều gì đã xảy ra, loại dữ liệu liên quan. Không ghi họ tên, số định danh, "
                    "số điện thoại của người bị ảnh hưởng."))
    affected_count = forms.IntegerField(
        label=_("Số người bị ảnh hưởng"), required=False, min_value=0,
        error_messages={"invalid": _("Số người bị ảnh hưởng phải là một số nguyên."),
                        "min_value": _("Số người bị ảnh hưởng không được âm.")})
    actions_taken = forms.CharField(label=_("Biện pháp đã thực hiện"), required=False,
                                    widget=forms.Textarea(attrs={"rows": 3}))


class IncidentNotifyForm(_ServiceErrors):
    notified_at = forms.DateTimeField(
        label=_("Thời điểm thông báo"), required=False, input_formats=_DATETIME_FORMATS,
        widget=forms.DateTimeInput(format="%d/%m/%Y %H:%M", attrs=_DATETIME_INPUT),
        help_text=_("Để trống là bây giờ."),
        error_messages={"invalid": _("Thời điểm thông báo phải theo dạng ngày/tháng/năm "
                                     "giờ:phút, ví dụ 05/10/2026 14:30.")})
    notification_reference = forms.CharField(
        label=_("Số văn bản thông báo"), required=False, max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={"max_length": _("Số văn bản thông báo dài quá %(limit_value)d ký tự.")})


class SubjectRequestForm(_ServiceErrors):
    """Record a data-subject request received about a pupil. Nothing is chosen in advance."""

    kind = forms.ChoiceField(label=_("Loại yêu cầu"), required=False)
    student_code = forms.CharField(
        label=_("Mã học sinh"), required=False, max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=_("Mã định danh Bộ GD&ĐT hoặc mã tạm của học sinh."),
        error_messages={"max_length": _("Mã học sinh dài quá %(limit_value)d ký tự.")})
    requester_relation = forms.ChoiceField(label=_("Người yêu cầu"), required=False)
    channel = forms.ChoiceField(label=_("Hình thức tiếp nhận"), required=False)
    received_at = forms.DateTimeField(
        label=_("Thời điểm tiếp nhận"), required=False, input_formats=_DATETIME_FORMATS,
        widget=forms.DateTimeInput(format="%d/%m/%Y %H:%M", attrs=_DATETIME_INPUT),
        help_text=_("Để trống là bây giờ. Thời hạn tính từ ngày tiếp nhận."),
        error_messages={"invalid": _("Thời điểm tiếp nhận phải theo dạng ngày/tháng/năm "
                                     "giờ:phút, ví dụ 05/10/2026 14:30.")})
    details = forms.CharField(
        label=_("Nội dung yêu cầu"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Ví dụ: sửa ngày sinh theo giấy khai sinh; rút lại đồng ý đăng ảnh."))

    def __init__(self, data: Any = None, *, kinds: Sequence[tuple[str, str]],
                 relations: Sequence[tuple[str, str]], channels: Sequence[tuple[str, str]],
                 **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        for name, choices, empty in (("kind", kinds, _("— Chọn loại yêu cầu —")),
                                     ("requester_relation", relations, _("— Chọn —")),
                                     ("channel", channels, _("— Chọn hình thức —"))):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [("", str(empty)), *choices]
            field.error_messages["invalid_choice"] = _("Hãy chọn trong danh sách.")


class SubjectRequestAssignForm(_ServiceErrors):
    assigned_to = forms.TypedChoiceField(
        label=_("Người xử lý"), coerce=int, required=False, empty_value=None,
        error_messages={"invalid_choice": _("Người xử lý: hãy chọn một người trong danh "
                                            "sách.")})

    def __init__(self, data: Any = None, *, users: Sequence[tuple[int, str]],
                 **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        field = self.fields["assigned_to"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", str(_("— Chọn người xử lý —"))), *users]


class SubjectRequestResponseForm(_ServiceErrors):
    """The answer to the requester, or the reason for refusing (``label``)."""

    response = forms.CharField(label=_("Nội dung trả lời"), required=False,
                               widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, data: Any = None, *, label: str, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.fields["response"].label = label
