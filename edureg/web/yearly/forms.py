"""The school-year screens' forms: parsers only. Which outcomes a pupil may get, and whether a
proposal may still change, is the services' business (``edureg.yearly.services``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from edureg.web.quality.forms import _ServiceErrors
from edureg.web.yearly.selectors import PupilRow
from edureg.yearly.models import Outcome

FIELD_PREFIX = "hs_"
EXCEPTIONS = (Outcome.REPEAT, Outcome.LEFT, Outcome.TRANSFERRED)


class ProposalForm(_ServiceErrors):
    """One outcome per pupil of the class: the default (promoted, or completed for the top
    grade) or one of the exceptions. A pupil whose field is not posted keeps what is stored."""

    def __init__(self, data: Any = None, *, pupils: Sequence[PupilRow], default: str) -> None:
        super().__init__(data, auto_id="ket-qua-%s")
        self.pupils = {row.student.pk: row for row in pupils}
        choices = [(default, Outcome(default).label), *[(o.value, o.label) for o in EXCEPTIONS]]
        for row in pupils:
            self.fields[f"{FIELD_PREFIX}{row.student.pk}"] = forms.ChoiceField(
                label=row.student.full_name,
                choices=choices,
                initial=row.outcome,
                required=False,
                error_messages={
                    "invalid_choice": _("Hãy chọn một kết quả trong danh sách cho học sinh này.")
                },
            )

    def rows(self) -> list[tuple[PupilRow, forms.BoundField]]:
        return [(row, self[f"{FIELD_PREFIX}{pk}"]) for pk, row in self.pupils.items()]

    def outcomes(self, stored: Mapping[int, str]) -> dict[int, str]:
        """The exceptions to store: those stored for pupils still in the class, changed by the
        fields posted."""
        result = {pk: outcome for pk, outcome in stored.items() if pk in self.pupils}
        for pk in self.pupils:
            name = f"{FIELD_PREFIX}{pk}"
            if name in self.data and self.cleaned_data.get(name):
                result[pk] = self.cleaned_data[name]
        return result


class CloseYearForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("Tôi đã kiểm tra: mọi lớp đã được chốt lên lớp và kết quả là đúng."),
        required=True,
        error_messages={
            "required": _(
                "Hãy đánh dấu ô xác nhận trước khi khoá năm học: sau khi khoá không hoàn tác "
                "được việc lên lớp."
            )
        },
    )
