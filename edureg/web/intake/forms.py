"""The intake screens' forms: parsers only; what a workbook may hold is the intake's business."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from edureg.intake.models import RunKind

ACCEPTED = ".xlsx,.xls,.ods"


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("Loại danh sách"), choices=RunKind.choices,
                             initial=RunKind.STUDENT)
    file = forms.FileField(
        label=_("Tệp xuất từ CSDL (.xlsx, .xls hoặc .ods)"),
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPTED}),
        error_messages={"required": _("Hãy chọn tệp để tải lên."),
                        "empty": _("Tệp rỗng; hãy chọn lại tệp danh sách.")})

    def __init__(self, *args: Any, too_big: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.too_big = too_big
        megabytes = settings.EDUREG_INTAKE_MAX_BYTES // (1024 * 1024)
        self.fields["file"].help_text = _(
            "Tối đa %(mb)d MB. Tệp chỉ được đọc để soi thử và ghi; hệ thống không lưu lại "
            "tệp.") % {"mb": megabytes}

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile | None = self.cleaned_data.get("file")
        if upload is None:
            raise forms.ValidationError(_("Hãy chọn tệp để tải lên."))
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.too_big:
            self.add_error("file", _(
                "Tệp lớn hơn %(mb)d MB: hãy tách tệp theo khối lớp rồi tải lên từng tệp.")
                % {"mb": settings.EDUREG_INTAKE_MAX_BYTES // (1024 * 1024)})
        return cleaned


class CommitForm(forms.Form):
    not_duplicate_reason = forms.CharField(
        label=_("Lý do các hàng giống hồ sơ đã có là người khác"), required=False,
        max_length=300, widget=forms.Textarea(attrs={"rows": 2, "maxlength": "300"}),
        help_text=_("Chỉ cần khi có hàng giống hồ sơ đã có; ví dụ “khác cha mẹ, khác nơi "
                    "sinh”."))
