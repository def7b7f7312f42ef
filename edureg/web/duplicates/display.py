"""The review queue's pairs side by side, as the actor may see them: a pupil in the actor's
reach with the field visibility of their role; another school's pupil by its school only (as
the look-alikes of the edit form). The batch run's explanation, in Vietnamese."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from edureg.access.policy import Actor
from edureg.access.visibility import Visibility
from edureg.privacy.policy import visibility_for
from edureg.registry.duplicate_selectors import PairView
from edureg.registry.models import Student
from edureg.web.display import code_name, format_date

# The batch run's comparisons (``registry.dedupe_run``), as people call them.
_COMPARISONS: dict[str, Any] = {
    "given": gettext_lazy("tên"),
    "middle": gettext_lazy("tên đệm"),
    "family": gettext_lazy("họ"),
    "dob": gettext_lazy("ngày sinh"),
    "id_number": gettext_lazy("số định danh cá nhân"),
    "sex": gettext_lazy("giới tính"),
    "birthplace_legacy_province": gettext_lazy("tỉnh đăng ký khai sinh"),
    "permanent_commune": gettext_lazy("xã/phường thường trú"),
    "guardians": gettext_lazy("cha mẹ"),
    "guardian_names": gettext_lazy("tên cha mẹ"),
    "guardian_phones": gettext_lazy("số điện thoại cha mẹ"),
}
_LEVELS: dict[str, Any] = {
    "day_month_swapped": gettext_lazy("đảo ngày và tháng"),
    "one_typo": gettext_lazy("lệch một ký tự"),
    "two_typos": gettext_lazy("lệch hai ký tự"),
    "same_year_month": gettext_lazy("cùng tháng và năm"),
    "same_year": gettext_lazy("cùng năm"),
    "one_shared": gettext_lazy("trùng một"),
    "two_shared": gettext_lazy("trùng hai"),
    "none_shared": gettext_lazy("không trùng"),
    "names_and_phone": gettext_lazy("trùng tên và số điện thoại"),
    "two_names": gettext_lazy("trùng tên cả hai người"),
    "one_name": gettext_lazy("trùng tên một người"),
    "phone_only": gettext_lazy("chỉ trùng số điện thoại"),
    "different": gettext_lazy("khác"),
}
_PARTS: dict[str, Any] = {
    "agreed": gettext_lazy("Giống nhau"),
    "disagreed": gettext_lazy("Khác nhau"),
    "missing": gettext_lazy("Thiếu ở một bên"),
}


def _comparison(text: str) -> str:
    name, _sep, level = text.strip().partition(" (")
    label = str(_COMPARISONS.get(name, name))
    level = level.rstrip(")")
    if not level:
        return label
    if level.startswith("similar"):
        return _("%(label)s (gần giống)") % {"label": label}
    return f"{label} ({_LEVELS.get(level, level)})"


def explanation_lines(explanation: str) -> list[tuple[str, str]]:
    """``agreed: given, dob (day_month_swapped); missing: id_number`` as labelled lines."""
    lines = []
    for part in explanation.split(";"):
        head, sep, rest = part.strip().partition(":")
        if not sep or head.strip() not in _PARTS:
            continue
        items = [_comparison(item) for item in rest.split(",") if item.strip()]
        lines.append((str(_PARTS[head.strip()]), ", ".join(items)))
    return lines


@dataclasses.dataclass(frozen=True)
class Side:
    student_id: int
    visible: bool
    school: str
    title: str  # the name, or "a pupil of <school>"


@dataclasses.dataclass(frozen=True)
class FieldRow:
    label: Any
    left: str
    right: str
    same: bool


@dataclasses.dataclass(frozen=True)
class PairCard:
    pair_id: int
    probability: str
    explanation: list[tuple[str, str]]
    left: Side
    right: Side
    rows: list[FieldRow]
    may_merge: bool


_HIDDEN = "—"


def _values(student: Student, shown: Visibility | None) -> dict[str, str]:
    if shown is None:
        return {}

    def field(name: str, text: str) -> str:
        value = shown.show(name, text)
        return "" if value is None else str(value)

    return {
        "full_name": field("full_name", student.full_name),
        "code": field("education_id", student.education_id or "") or student.temporary_code
        or "",
        "date_of_birth": field("date_of_birth", format_date(student.date_of_birth)),
        "sex": field("sex", student.get_sex_display()),
        "personal_id_number": field("personal_id_number", student.personal_id_number or ""),
        "birthplace": field("birthplace_legacy_province", code_name(
            "legacy_province", student.birthplace_legacy_province)),
        "permanent": field("permanent_commune", code_name(
            "commune", student.permanent_commune, student.code_versions)),
        "class": student.current_class.name if student.current_class else "",
    }


_LABELS: tuple[tuple[str, Any], ...] = (
    ("full_name", gettext_lazy("Họ và tên")),
    ("code", gettext_lazy("Mã định danh Bộ GD&ĐT / mã tạm")),
    ("date_of_birth", gettext_lazy("Ngày sinh")),
    ("sex", gettext_lazy("Giới tính")),
    ("personal_id_number", gettext_lazy("Số định danh cá nhân")),
    ("birthplace", gettext_lazy("Tỉnh đăng ký khai sinh")),
    ("permanent", gettext_lazy("Xã/phường thường trú")),
    ("class", gettext_lazy("Lớp")),
)


def _side(student: Student, visible: bool) -> Side:
    title = student.full_name if visible else _("Học sinh của %(school)s") % {
        "school": student.school.name}
    return Side(student_id=student.pk, visible=visible, school=student.school.name,
                title=title)


def pair_card(actor: Actor, view: PairView) -> PairCard:
    left = _values(view.left, visibility_for(actor, "student", school_id=view.left.school_id)
                   if view.left_visible else None)
    right = _values(view.right, visibility_for(actor, "student", school_id=view.right.school_id)
                    if view.right_visible else None)
    rows = []
    for name, label in _LABELS:
        one, other = left.get(name, _HIDDEN), right.get(name, _HIDDEN)
        rows.append(FieldRow(label=label, left=one or _("chưa có"), right=other or _("chưa có"),
                             same=bool(one) and one == other and _HIDDEN not in (one, other)))
    return PairCard(
        pair_id=view.pair.pk, probability=f"{view.pair.match_probability * 100:.0f} %",
        explanation=explanation_lines(view.pair.explanation),
        left=_side(view.left, view.left_visible), right=_side(view.right, view.right_visible),
        rows=rows, may_merge=view.may_merge)
