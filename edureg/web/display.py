"""Presentation of records already fetched through the scoped selectors: code-list names,
dates in dd/mm/yyyy, and the field visibility of ``edureg.access.visibility`` applied to every
value shown (hidden fields are left out, identifying ones masked). No queries happen here: all
relations used are fetched by the selectors in bulk."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _

from edureg.access.visibility import Visibility
from edureg.core.codelists import CodeList, UnknownCodeListError, get_list
from edureg.registry.models import Enrolment, Guardian, Staff, Student, StudentGuardian
from edureg.web.forms import field_label


def code_list(name: str, version: str | None = None) -> CodeList | None:
    """The list version a record's codes refer to, else the current one; None if unknown."""
    try:
        return get_list(name, version)
    except UnknownCodeListError:
        if version is None:
            return None
        return code_list(name)


def code_name(list_name: str, code: str, versions: Mapping[str, str] | None = None) -> str:
    if not code:
        return ""
    found = code_list(list_name, (versions or {}).get(list_name))
    return code if found is None else found.name_of(code)


def format_date(value: dt.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


@dataclasses.dataclass(frozen=True)
class Row:
    label: Any
    value: str


@dataclasses.dataclass(frozen=True)
class Section:
    title: Any
    rows: list[Row]


class _Rows:
    """Collects a record's rows, dropping hidden fields and masking identifying ones."""

    def __init__(self, record: Student | Guardian | Staff, visibility: Visibility) -> None:
        self.record = record
        self.visibility = visibility
        self.versions: Mapping[str, str] = getattr(record, "code_versions", None) or {}
        self.rows: list[Row] = []

    def value(self, name: str, list_name: str | None = None) -> str | None:
        """The shown text of a field; None when the field is hidden from this actor."""
        if name in self.visibility.hidden:
            return None
        raw = getattr(self.record, name)
        if isinstance(raw, dt.date):
            text = format_date(raw)
        elif list_name is not None:
            text = code_name(list_name, str(raw or ""), self.versions)
        else:
            text = "" if raw is None else str(raw)
        shown = self.visibility.show(name, text)
        return "" if shown is None else str(shown)

    def add(self, name: str, list_name: str | None = None, *, label: Any = None) -> None:
        text = self.value(name, list_name)
        if text is not None:
            self.rows.append(Row(label=label or field_label(name), value=text))

    def add_text(self, label: Any, text: str) -> None:
        self.rows.append(Row(label=label, value=text))


def _place(rows: _Rows, prefix: str, *, text_field: str | None, legacy: bool) -> None:
    if text_field is not None:
        rows.add(text_field)
    rows.add(f"{prefix}_commune", "commune")
    rows.add(f"{prefix}_province", "province")
    if not legacy:
        return
    parts = [
        rows.value(f"{prefix}_legacy_ward", "legacy_ward"),
        rows.value(f"{prefix}_legacy_district", "legacy_district"),
        rows.value(f"{prefix}_legacy_province", "legacy_province"),
    ]
    shown = [part for part in parts if part]
    if shown:
        rows.add_text(_("Theo địa giới trước 01/07/2025"), ", ".join(shown))


def student_sections(student: Student, visibility: Visibility) -> list[Section]:
    identity = _Rows(student, visibility)
    identity.add("full_name")
    identity.add("education_id")
    if student.temporary_code:
        identity.add("temporary_code")
    identity.add("date_of_birth")
    identity.add("sex", "sex")
    identity.add("personal_id_number")
    identity.add("nationality_code", "nationality")
    identity.add("ethnicity_code", "ethnicity")
    identity.add("religion_code", "religion")

    birthplace = _Rows(student, visibility)
    _place(birthplace, "birthplace", text_field="birthplace_text", legacy=True)
    hometown = _Rows(student, visibility)
    _place(hometown, "hometown", text_field="hometown_text", legacy=True)

    residence = _Rows(student, visibility)
    residence.add("permanent_address")
    _place(residence, "permanent", text_field=None, legacy=False)
    residence.add("current_address")
    _place(residence, "current", text_field=None, legacy=False)

    contact = _Rows(student, visibility)
    contact.add("phone")

    support = _Rows(student, visibility)
    support.add("disability_code", "disability")
    support.add("policy_group_code", "policy_group")

    sections = [
        Section(_("Thông tin định danh"), identity.rows),
        Section(_("Nơi sinh"), birthplace.rows),
        Section(_("Quê quán"), hometown.rows),
        Section(_("Nơi cư trú"), residence.rows),
        Section(_("Liên hệ"), contact.rows),
        Section(_("Khuyết tật, chính sách"), support.rows),
    ]
    return [section for section in sections if section.rows]


@dataclasses.dataclass(frozen=True)
class ClassRow:
    number: int
    student: Student
    code: str
    date_of_birth: str
    sex: str
    personal_id_number: str
    phone: str
    identity_label: str = ""  # the pupil's verification status, when the viewer works on it
    identity_tone: str = ""


def class_rows(students: list[Student], visibility: Visibility) -> list[ClassRow]:
    rows = []
    for number, student in enumerate(students, start=1):
        values = _Rows(student, visibility)
        code = values.value("education_id") or student.temporary_code or ""
        rows.append(ClassRow(
            number=number, student=student, code=code,
            date_of_birth=format_date(student.date_of_birth),
            sex=student.get_sex_display(),
            personal_id_number=values.value("personal_id_number") or "",
            phone=values.value("phone") or "",
        ))
    return rows


@dataclasses.dataclass(frozen=True)
class GuardianRow:
    full_name: str
    relation: str
    birth_year: str
    occupation: str
    phone: str
    personal_id_number: str
    is_primary_contact: bool


def guardian_rows(links: list[StudentGuardian], visibility: Visibility) -> list[GuardianRow]:
    rows = []
    for link in links:
        values = _Rows(link.guardian, visibility)
        rows.append(GuardianRow(
            full_name=values.value("full_name") or "",
            relation=code_name("guardian_relation", link.relation_code),
            birth_year=values.value("birth_year") or "",
            occupation=values.value("occupation") or "",
            phone=values.value("phone") or "",
            personal_id_number=values.value("personal_id_number") or "",
            is_primary_contact=link.is_primary_contact,
        ))
    return rows


@dataclasses.dataclass(frozen=True)
class StatusRow:
    status: str
    effective_on: str
    note: str


@dataclasses.dataclass(frozen=True)
class EnrolmentRow:
    school_year: str
    school: str
    school_class: str
    grade: int
    status: str
    status_since: str
    started_on: str
    ended_on: str
    is_current: bool
    changes: list[StatusRow]


def enrolment_rows(enrolments: list[Enrolment]) -> list[EnrolmentRow]:
    return [
        EnrolmentRow(
            school_year=enrolment.school_year.label,
            school=enrolment.school.name,
            school_class=enrolment.school_class.name if enrolment.school_class else "",
            grade=enrolment.grade,
            status=code_name("enrolment_status", enrolment.status_code),
            status_since=format_date(enrolment.status_since),
            started_on=format_date(enrolment.started_on),
            ended_on=format_date(enrolment.ended_on),
            is_current=enrolment.is_current,
            changes=[
                StatusRow(status=code_name("enrolment_status", change.status_code),
                          effective_on=format_date(change.effective_on), note=change.note)
                for change in enrolment.status_changes.all()
            ],
        )
        for enrolment in enrolments
    ]


@dataclasses.dataclass(frozen=True)
class StaffRow:
    number: int
    full_name: str
    job_position: str
    position_group: str
    subjects: str
    phone: str
    email: str


def staff_rows(staff: list[Staff], visibility: Visibility) -> list[StaffRow]:
    rows = []
    for number, member in enumerate(staff, start=1):
        values = _Rows(member, visibility)
        versions = member.code_versions or {}
        subjects = [code_name("subject", str(code), versions)
                    for code in (member.subject_codes or [])]
        rows.append(StaffRow(
            number=number,
            full_name=member.full_name,
            job_position=values.value("job_position_code", "job_position") or "",
            position_group=values.value("position_group_code", "position_group") or "",
            subjects=", ".join(subjects),
            phone=values.value("phone") or "",
            email=values.value("email") or "",
        ))
    return rows

