"""Presentation of stored quality facts: the rule's message, the field's label, where the fix
goes (the field of the edit form, ``#id_<field>``; a guardian's problem, the pupil's page),
and the open steps decoded from a state's bits. No queries: everything shown was fetched by the
selectors."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from edureg.access.policy import Actor
from edureg.access.visibility import Visibility
from edureg.core.catalogue import Catalogue, active_catalogue
from edureg.privacy.policy import visibility_for
from edureg.quality import selectors as quality
from edureg.quality.rules.catalogue import Dimension, Rule
from edureg.quality.services import current_rule_set
from edureg.registry.services import EDITABLE_STUDENT_FIELDS
from edureg.web.forms import field_label

SEVERITY_LABELS: dict[str, Any] = {
    "error": gettext_lazy("Lỗi"),
    "warning": gettext_lazy("Cảnh báo"),
    "info": gettext_lazy("Lưu ý"),
}
# What kind of step a status rule stands for, by its dimension.
STEP_LABELS: dict[Dimension, Any] = {
    Dimension.CORRECT: gettext_lazy("chưa đối chiếu hồ sơ"),
    Dimension.CLEAN: gettext_lazy("chưa xác thực"),
    Dimension.LIVE: gettext_lazy("quá hạn xác nhận"),
    Dimension.COMPLETE: gettext_lazy("chưa đủ"),
}
GUARDIANS_ANCHOR = "cha-me"


def label_of(catalogue: Catalogue, entity: str, field: str) -> str:
    """A field's label: the field catalogue's, else the edit form's, else its name."""
    info = catalogue.get(entity, field)
    if info is not None:
        return info.label
    if entity == "student":
        try:
            return str(field_label(field))
        except FieldDoesNotExist:
            return field
    return field


@dataclasses.dataclass(frozen=True)
class FindingRow:
    student_id: int
    student_name: str
    class_name: str | None
    severity: str
    severity_label: Any
    subject: str  # "Số điện thoại", or "Cha mẹ, người giám hộ (Nguyễn Văn A): Số điện thoại"
    message: str
    url: str


@dataclasses.dataclass(frozen=True)
class Step:
    code: str
    kind: Any
    message: str


@dataclasses.dataclass(frozen=True)
class PupilSteps:
    student_id: int
    student_name: str
    class_name: str | None
    steps: list[Step]


class Presenter:
    """Reads findings and states for one actor (the edit form's fields depend on what the
    actor may see at the pupil's school)."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.rule_set = current_rule_set()
        self.rules = quality.rules_by_code(self.rule_set)
        self.catalogue = active_catalogue()
        self._visibility: dict[int, Visibility] = {}

    def _label(self, entity: str, field: str) -> str:
        return label_of(self.catalogue, entity, field)

    def _in_form(self, school_id: int, field: str) -> bool:
        """Whether the actor's edit form of a pupil at this school has the field."""
        if school_id not in self._visibility:
            self._visibility[school_id] = visibility_for(self.actor, "student", school_id=school_id)
        seen = self._visibility[school_id]
        return field in EDITABLE_STUDENT_FIELDS and field not in seen.hidden | seen.masked

    def fix_url(self, *, student_id: int, school_id: int, entity: str, field: str) -> str:
        if entity == "student":
            url = reverse("web:student_edit", args=[student_id])
            return f"{url}#id_{field}" if self._in_form(school_id, field) else url
        return f"{reverse('web:student', args=[student_id])}#{GUARDIANS_ANCHOR}"

    def finding(self, *, student_id: int, student_name: str, class_name: str | None,
                school_id: int, entity: str, field: str, rule_code: str, severity: str,
                guardian_name: str = "") -> FindingRow:
        rule = self.rules.get(rule_code)
        label = self._label(entity, field)
        if entity == "guardian":
            who = _("Cha mẹ, người giám hộ")
            if guardian_name:
                who = f"{who} ({guardian_name})"
            label = f"{who}: {label}"
        message = rule.message if rule is not None else _(
            "Hãy kiểm tra lại «%(label)s».") % {"label": label}
        return FindingRow(
            student_id=student_id, student_name=student_name, class_name=class_name,
            severity=severity, severity_label=SEVERITY_LABELS.get(severity, severity),
            subject=label, message=message,
            url=self.fix_url(student_id=student_id, school_id=school_id, entity=entity,
                             field=field))

    def steps(self, status_bits: int, owner: str = "student") -> list[Step]:
        return [self._step(rule) for rule in quality.open_steps(self.rule_set, owner,
                                                                 status_bits)]

    @staticmethod
    def _step(rule: Rule) -> Step:
        return Step(code=rule.code, kind=STEP_LABELS[rule.dimension], message=rule.message)


@dataclasses.dataclass(frozen=True)
class AttestationRow:
    """A field group of the pupil: the check that holds now (if any) and the form to record a
    new one."""

    code: str
    label: str
    fields: list[str]
    check: Any  # FieldGroupCheck | None
    document: str  # the check's document, by its label
    form: Any  # AttestForm | None


def attestation_rows(checks: dict[str, Any], forms: dict[str, Any]) -> list[AttestationRow]:
    rule_set = current_rule_set()
    documents = rule_set.parameters.documents
    catalogue = active_catalogue()
    rows = []
    for group in rule_set.parameters.groups_for("student"):
        check = checks.get(group.code)
        labels = [label_of(catalogue, "student", name) for name in group.fields]
        rows.append(AttestationRow(
            code=group.code, label=group.label, fields=labels, check=check,
            document=documents.get(check.document_type, check.document_type) if check else "",
            form=forms.get(group.code)))
    return rows
