"""The transfer screens' forms: parsers only. What a transfer may be is the services' business
(``registry.transfers``): their messages are shown on the fields they name, which is why the
field names are the services' (``to_school``, ``effective_on``, ``note``, ``school_class``,
``decision_note``)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from edureg.registry.models import SchoolClass
from edureg.schools.models import School
from edureg.web.forms import DATE_INPUT
from edureg.web.quality.forms import _ServiceErrors

_NOTE_ATTRS = {"rows": 2, "maxlength": "300"}


class TransferRequestForm(_ServiceErrors):
    """The sending school asks another school of the authority to take the pupil."""

    to_school = forms.ModelChoiceField(
        label=_("Trường nhận"), queryset=School.objects.none(), empty_label=_("— Chọn trường —"),
        error_messages={"required": _("Hãy chọn trường nhận."),
                        "invalid_choice": _("Hãy chọn một trường trong danh sách.")})
    effective_on = forms.DateField(
        label=_("Ngày chuyển"), required=False, input_formats=["%d/%m/%Y", "%Y-%m-%d"],
        widget=forms.DateInput(format="%d/%m/%Y", attrs=DATE_INPUT),
        help_text=_("Ngày/tháng/năm, ví dụ 05/01/2027; để trống là hôm nay."),
        error_messages={"invalid": _("Ngày chuyển phải theo dạng ngày/tháng/năm, ví dụ "
                                     "05/01/2027.")})
    note = forms.CharField(label=_("Ghi chú"), required=False,
                           widget=forms.Textarea(attrs=_NOTE_ATTRS),
                           help_text=_("Ví dụ: gia đình chuyển nơi ở."))

    def __init__(self, *args: Any, schools: QuerySet[School], **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"effective_on": timezone.localdate()})
        kwargs.setdefault("auto_id", "chuyen-truong-%s")
        super().__init__(*args, **kwargs)
        field = self.fields["to_school"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = schools  # validates the posted choice
        # The list read once (rendering the queryset would read it again).
        field.choices = [("", field.empty_label), *[(s.pk, s.name) for s in schools]]

    @property
    def has_schools(self) -> bool:
        return len(self.fields["to_school"].choices) > 1  # type: ignore[attr-defined]


def grouped_classes(classes: Sequence[SchoolClass]) -> list[tuple[str, list[tuple[int, str]]]]:
    """The classes as <optgroup>s by grade (``classes`` already ordered by grade and name)."""
    return [(str(_("Khối %(grade)s") % {"grade": grade}),
             [(c.pk, str(_("Lớp %(name)s") % {"name": c.name})) for c in group])
            for grade, group in groupby(classes, key=lambda c: c.grade)]


class TransferAcceptForm(_ServiceErrors):
    """The receiving school places the pupil in one of its classes of the open year."""

    school_class = forms.TypedChoiceField(
        label=_("Xếp vào lớp"), coerce=int,
        error_messages={"required": _("Hãy chọn lớp cho học sinh."),
                        "invalid_choice": _("Hãy chọn một lớp trong danh sách.")})
    decision_note = forms.CharField(label=_("Ghi chú"), required=False,
                                    widget=forms.Textarea(attrs=_NOTE_ATTRS))

    def __init__(self, *args: Any, transfer_id: int, classes: Sequence[SchoolClass],
                 **kwargs: Any) -> None:
        kwargs["auto_id"] = f"nhan-{transfer_id}-%s"
        super().__init__(*args, **kwargs)
        self.classes = {c.pk: c for c in classes}
        field = self.fields["school_class"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", _("— Chọn lớp —")), *grouped_classes(classes)]

    def chosen_class(self) -> SchoolClass:
        return self.classes[self.cleaned_data["school_class"]]


class TransferRefuseForm(_ServiceErrors):
    """The receiving school declines; the reason is required by the service."""

    decision_note = forms.CharField(
        label=_("Lý do từ chối"), required=False, widget=forms.Textarea(attrs=_NOTE_ATTRS),
        help_text=_("Trường gửi sẽ thấy lý do này."))

    def __init__(self, *args: Any, transfer_id: int, **kwargs: Any) -> None:
        kwargs["auto_id"] = f"tu-choi-{transfer_id}-%s"
        super().__init__(*args, **kwargs)
