"""The identity screens' forms: parsers only. What a value must be is the services' business
(``identity.services``): their messages are shown on the fields they name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from edureg.identity.models import NoIdReason
from edureg.identity.selectors import QueueFilter
from edureg.web.quality.forms import _ServiceErrors

_ID_MAX = 2**63 - 1
_NOTE_ATTRS = {"rows": 2, "maxlength": "300"}


class NoIdForm(_ServiceErrors):
    """Declare that a pupil has no personal ID number, and why. The reason is a plain field
    rendered as a list: an unknown value reaches the service, which names the field."""

    no_id_reason = forms.CharField(label=_("Lý do không có số định danh"), required=False,
                                   widget=forms.Select)
    no_id_note = forms.CharField(
        label=_("Ghi chú"), required=False, widget=forms.Textarea(attrs=_NOTE_ATTRS),
        help_text=_("Bắt buộc khi chọn «Lý do khác»: ghi rõ lý do."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        widget = self.fields["no_id_reason"].widget
        assert isinstance(widget, forms.Select)
        widget.choices = [("", _("— Chọn —")), *NoIdReason.choices]


class CorrectionForm(_ServiceErrors):
    """Mark a difference as "the family was asked to have the register corrected"."""

    queue_note = forms.CharField(label=_("Ghi chú xử lý"), required=False,
                                 widget=forms.Textarea(attrs=_NOTE_ATTRS),
                                 help_text=_("Ví dụ: đã hướng dẫn gia đình đến công an xã ngày …"))


QUEUE_FILTER_CHOICES = [
    (QueueFilter.ALL, _("Tất cả")),
    (QueueFilter.OPEN, _("Chờ xử lý")),
    (QueueFilter.CORRECTION_REQUESTED, _("Đã đề nghị đính chính CSDL dân cư")),
]


class QueueFilterForm(forms.Form):
    trang_thai = forms.ChoiceField(label=_("Tình trạng xử lý"), required=False,
                                   choices=QUEUE_FILTER_CHOICES)
    trang = forms.IntegerField(required=False, min_value=1, max_value=_ID_MAX,
                               widget=forms.HiddenInput)
