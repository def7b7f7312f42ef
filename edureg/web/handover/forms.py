"""The hand-over and intake screens' forms: parsers only. What may be assigned, accepted or
taken in is the services' business (``yearly.handover``, ``yearly.new_intake``); their
messages show on the fields they name, hence the services' field names (``students``,
``to_school``, ``handovers``, ``school_class``, ``decision_note``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from edureg.registry.models import SchoolClass
from edureg.schools.models import School
from edureg.web.quality.forms import _ServiceErrors
from edureg.web.transfers.forms import grouped_classes
from edureg.yearly.new_intake import IntakeRow, RowPlan

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

_NOTE_ATTRS = {"rows": 2, "maxlength": "300"}
NEW_PERSON = "moi"  # the intake decision "a different child": a new record


def _pupils_field(invalid: _StrPromise) -> forms.TypedMultipleChoiceField:
    """The ticked pupils of a hand-over form; ``invalid``: what to say when one is gone."""
    return forms.TypedMultipleChoiceField(
        label=_("Học sinh"),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Hãy chọn ít nhất một học sinh."), "invalid_choice": invalid},
    )


class AssignForm(_ServiceErrors):
    """The authority officer (or the receiving school) gives leavers a receiving school."""

    students = _pupils_field(_("Có học sinh không còn trong danh sách; hãy tải lại trang."))
    to_school = forms.TypedChoiceField(
        label=_("Trường nhận"),
        coerce=int,
        error_messages={
            "required": _("Hãy chọn trường nhận."),
            "invalid_choice": _("Hãy chọn một trường trong danh sách."),
        },
    )

    def __init__(
        self,
        *args: Any,
        students: Sequence[tuple[int, str]],
        schools: Sequence[School],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_id", "phan-truong-%s")
        super().__init__(*args, **kwargs)
        self.schools = {school.pk: school for school in schools}
        self.fields["students"].choices = list(students)  # type: ignore[attr-defined]
        self.fields["to_school"].choices = [  # type: ignore[attr-defined]
            ("", _("— Chọn trường —")),
            *[(s.pk, s.name) for s in schools],
        ]

    def chosen_school(self) -> School:
        return self.schools[self.cleaned_data["to_school"]]


class ClaimForm(_ServiceErrors):
    """The receiving school claims leavers nobody has been assigned yet."""

    students = _pupils_field(_("Có học sinh không còn chờ phân trường; hãy tải lại trang."))

    def __init__(self, *args: Any, students: Sequence[tuple[int, str]], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "nhan-hoc-sinh-%s")
        super().__init__(*args, **kwargs)
        self.fields["students"].choices = list(students)  # type: ignore[attr-defined]


class AcceptForm(_ServiceErrors):
    """The receiving school takes the pupils it ticks into one of its classes."""

    handovers = _pupils_field(_("Có học sinh không còn chờ nhận; hãy tải lại trang."))
    school_class = forms.TypedChoiceField(
        label=_("Xếp vào lớp"),
        coerce=int,
        error_messages={
            "required": _("Hãy chọn lớp cho học sinh."),
            "invalid_choice": _("Hãy chọn một lớp trong danh sách."),
        },
    )

    def __init__(
        self,
        *args: Any,
        pupils: Sequence[tuple[int, str]],
        classes: Sequence[SchoolClass],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_id", "nhan-%s")
        super().__init__(*args, **kwargs)
        self.classes = {c.pk: c for c in classes}
        self.fields["handovers"].choices = list(pupils)  # type: ignore[attr-defined]
        self.fields["school_class"].choices = [  # type: ignore[attr-defined]
            ("", _("— Chọn lớp —")),
            *grouped_classes(classes),
        ]

    def chosen_class(self) -> SchoolClass:
        return self.classes[self.cleaned_data["school_class"]]


class DeclineForm(_ServiceErrors):
    """The receiving school gives pupils back, with a reason (required by the service)."""

    handovers = _pupils_field(_("Có học sinh không còn chờ nhận; hãy tải lại trang."))
    decision_note = forms.CharField(
        label=_("Lý do trả lại"),
        required=False,
        widget=forms.Textarea(attrs=_NOTE_ATTRS),
        help_text=_("Sở và trường gửi sẽ thấy lý do này."),
    )

    def __init__(self, *args: Any, pupils: Sequence[tuple[int, str]], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "tra-lai-%s")
        super().__init__(*args, **kwargs)
        self.fields["handovers"].choices = list(pupils)  # type: ignore[attr-defined]


class IntakeForm(_ServiceErrors):
    """The intake list, one pupil a line: full name; date of birth; sex; personal ID number;
    class. The decisions on look-alikes come as ``lien_ket_<line>`` / ``ly_do_<line>``."""

    rows = forms.CharField(
        label=_("Danh sách học sinh"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "Mỗi dòng một học sinh: họ và tên; ngày sinh; giới tính; số định danh cá nhân (nếu "
            "có); lớp. Ví dụ: Phan Thị Mai; 12/04/2021; Nữ; ; 1A"
        ),
        error_messages={"required": _("Hãy nhập ít nhất một học sinh.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "tuyen-moi-%s")
        super().__init__(*args, **kwargs)


def intake_rows(
    text: str, classes: Mapping[str, int], decisions: Mapping[str, str]
) -> list[IntakeRow]:
    """The list's lines as service rows (line numbers as typed, blank lines skipped); a class
    name the school's year does not have becomes class 0, which the service refuses by line."""
    rows = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parts = [part.strip() for part in raw.replace("\t", ";").split(";")]
        parts += [""] * (5 - len(parts))
        name, born, sex, number, class_name = parts[:5]
        data = {
            key: value
            for key, value in (
                ("full_name", name),
                ("date_of_birth", born),
                ("sex", sex),
                ("personal_id_number", number),
            )
            if value
        }
        choice = decisions.get(f"lien_ket_{line}", "")
        link_to = int(choice) if choice.isdigit() else None
        reason = decisions.get(f"ly_do_{line}", "").strip() if choice == NEW_PERSON else ""
        rows.append(
            IntakeRow(
                line=line,
                class_id=classes.get(class_name, 0),
                data=data,
                link_to=link_to,
                not_duplicate_reason=reason,
            )
        )
    return rows


def decision_choices(row: RowPlan) -> list[tuple[str, str]]:
    """The choices offered for a row with look-alikes."""
    choices = [("", str(_("— Chọn —")))]
    for alike in row.look_alikes:
        choices.append(
            (
                str(alike.record_id),
                str(
                    _("Cùng một người với %(name)s (%(school)s)")
                    % {"name": alike.full_name, "school": alike.school}
                ),
            )
        )
    choices.append((NEW_PERSON, str(_("Không phải cùng một người: tạo hồ sơ mới"))))
    return choices
