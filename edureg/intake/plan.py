"""The dry run (soi thử) of an export workbook: what committing it would do, row by row.

Each row is matched to a person already on record — by education id, then temporary code, then
personal ID number, then (name without diacritics, date of birth) among the school's pupils —
and classified: new, updated, unchanged, moved to another class, transferred in from another
school, held (not written, with the reason) or rejected (errors). Code-list values are mapped
by name with aliases (``CodeList.match``); provinces and communes by the post-2025 lists, or
through the pre-2025 ones they replaced. Every problem names its sheet, row and column. New
pupils are checked for look-alikes with the registry's entry check (in batch), and the records
as they would be after the commit are measured with the quality rules (in batch).

The plan is computed again inside the commit's transaction; its ``fingerprint`` — a checksum
over the file, every action with its values and the state of every record it touches — must
be the one the user reviewed, so a commit never does something the user did not see.

Rules of taking in: an empty cell never erases a stored value; temporary codes are the
registry's own and are not changed; identity fields verified by the population register are
not overwritten (a warning says so); moving school is the transfer workflow's
(``registry.transfers``): a pupil enrolled elsewhere is taken in by accepting the sending
school's open request, and held otherwise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, has_perm_at
from edureg.access.roles import Perm
from edureg.core.catalogue import active_catalogue
from edureg.core.codelists import CodeEntry, get_list, legacy_ward_to_commune, match_key
from edureg.core.text import fold_diacritics, name_match_key
from edureg.intake.source import Kind, Problem, Severity, SourceRow, Workbook
from edureg.quality.engine import evaluate_frame
from edureg.quality.models import CheckKind, FieldGroupCheck
from edureg.quality.rules.catalogue import Kind as RuleKind
from edureg.quality.rules.catalogue import Rule
from edureg.quality.rules.catalogue import Severity as RuleSeverity
from edureg.quality.rules.checks import TODAY
from edureg.quality.services import current_rule_set
from edureg.registry.duplicates import Candidate, student_candidates
from edureg.registry.models import (
    IDENTITY_FIELDS,
    Enrolment,
    Guardian,
    SchoolClass,
    Staff,
    Student,
    StudentGuardian,
    Transfer,
    TransferStatus,
)
from edureg.registry.quality import IDENTITY_GROUP
from edureg.registry.services import student_candidates_many
from edureg.registry.validation import (
    GUARDIAN_CLEANERS,
    STUDENT_CLEANERS,
    STUDENT_CODED,
    FieldValueError,
    clean_person_values,
    parse_date,
)
from edureg.schools.models import School, SchoolYear, SchoolYearStatus

_CHUNK = 500
SAMPLE = 20  # rows and records kept per finding and per candidate list in a plan's report
FATHER, MOTHER = "01", "02"  # guardian_relation codes


class Action(enum.StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    MOVED = "moved"  # placed in another class of the school (possibly with changed fields)
    TRANSFERRED_IN = "transferred_in"  # from another school, by its open transfer request
    HELD = "held"  # not written, for the reason given (waiting for a transfer, has left)
    REJECTED = "rejected"  # has errors: the commit is refused until the file is fixed


ACTIONS: tuple[Action, ...] = tuple(Action)
WRITING = frozenset({Action.NEW, Action.UPDATED, Action.MOVED, Action.TRANSFERRED_IN})


class PlanRefused(Exception):
    """The workbook cannot be taken in for this school at all (another school's pupils, no
    school year open): ``message`` says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass(frozen=True)
class Issue:
    """A problem of the plan: ``problem.message`` may quote what the file said (to find the
    cell); ``plain`` says the same without any value from the file (for logs and --json)."""

    problem: Problem
    plain: str

    @property
    def is_error(self) -> bool:
        return self.problem.severity is Severity.ERROR


@dataclasses.dataclass(frozen=True)
class GuardianStep:
    """A parent named by the row: an existing guardian (``guardian_id``) whose ``changes``
    are written and who is linked if not yet, or a new one (shared by the rows with the same
    ``new_key``: siblings)."""

    relation_code: str
    values: Mapping[str, Any]
    guardian_id: int | None
    new_key: str | None
    changes: tuple[str, ...]
    link: bool

    @property
    def writes(self) -> bool:
        return self.guardian_id is None or bool(self.changes) or self.link


@dataclasses.dataclass(frozen=True)
class RowPlan:
    sheet: str
    row: int
    action: Action
    student_id: int | None = None
    class_id: int | None = None
    # Cleaned values to write: every value the row gives (new pupil), or those that change.
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    moved: bool = False
    status_code: str | None = None  # a status to record (existing pupil) or to enrol with
    status_on: dt.date | None = None
    guardians: tuple[GuardianStep, ...] = ()
    transfer_id: int | None = None
    candidates: tuple[Candidate, ...] = ()
    official_id: bool = False  # the row gives a pupil known by a temporary code its official id

    @property
    def guardian_writes(self) -> tuple[GuardianStep, ...]:
        return tuple(step for step in self.guardians if step.writes)


@dataclasses.dataclass(frozen=True)
class FindingSummary:
    """What one quality rule would say about the records after the commit."""

    rule_code: str
    dimension: str
    severity: str
    message: str
    count: int
    rows: tuple[tuple[str, int], ...]  # (sheet, row), the first ``SAMPLE``
    record_ids: tuple[int, ...]  # records already on record among them, the first ``SAMPLE``


@dataclasses.dataclass(frozen=True)
class Plan:
    kind: Kind
    school_id: int
    sha256: str
    size: int
    template: str
    skipped_rows: int
    rows: tuple[RowPlan, ...]
    issues: tuple[Issue, ...]
    findings: tuple[FindingSummary, ...]
    counts: Mapping[str, int]
    fingerprint: str

    @property
    def errors(self) -> int:
        return sum(1 for issue in self.issues if issue.is_error)

    @property
    def warnings(self) -> int:
        return len(self.issues) - self.errors

    @property
    def candidate_rows(self) -> tuple[RowPlan, ...]:
        return tuple(row for row in self.rows if row.candidates and row.action in WRITING)

    @property
    def writes(self) -> int:
        return sum(self.counts.get(action, 0) for action in WRITING)

    @property
    def error_rows(self) -> list[int]:
        return sorted({issue.problem.row for issue in self.issues
                       if issue.is_error and issue.problem.row is not None})

    def summary(self) -> dict[str, int]:
        """Counts only: what the audit trail and the run keep."""
        return {**{action.value: self.counts.get(action, 0) for action in ACTIONS},
                "rows": len(self.rows), "skipped_rows": self.skipped_rows,
                "errors": self.errors, "warnings": self.warnings,
                "candidates": len(self.candidate_rows),
                "findings": sum(f.count for f in self.findings),
                **{name: self.counts.get(name, 0)
                   for name in ("official_ids", "guardians_new", "absent")}}


# --- Field mapping ------------------------------------------------------------------------

# Columns that go to the pupil's field of the same name through the registry's cleaners.
_DIRECT = ("full_name", "education_id", "temporary_code", "date_of_birth", "sex",
           "personal_id_number", "phone", "birthplace_text", "hometown_text",
           "permanent_address", "current_address")
# Column → (pupil field, code list): values named in the file, mapped by name with aliases.
_CODED: Mapping[str, tuple[str, str]] = {
    "ethnicity": ("ethnicity_code", "ethnicity"),
    "religion": ("religion_code", "religion"),
    "nationality": ("nationality_code", "nationality"),
    "disability": ("disability_code", "disability"),
    "policy_group": ("policy_group_code", "policy_group"),
}
# Places: (province column, commune column, legacy province field or None).
_PLACES = (("hometown_province", "hometown_commune", "hometown_legacy_province"),
           ("permanent_province", "permanent_commune", None),
           ("current_province", "current_commune", None))
_LIST_LABELS = {
    "ethnicity": "Dân tộc", "religion": "Tôn giáo", "nationality": "Quốc tịch",
    "disability": "Loại khuyết tật", "policy_group": "Đối tượng chính sách",
    "province": "Tỉnh/thành phố", "commune": "Xã/phường",
    "enrolment_status": "Trạng thái học sinh",
}
_PARENTS = ((FATHER, "father"), (MOTHER, "mother"))
# The file column a pupil field's value came from (for the column letter of a problem).
_SOURCE_OF: dict[str, str] = {
    **{name: name for name in _DIRECT},
    **{field: column for column, (field, _list) in _CODED.items()},
    **{column: column for places in _PLACES for column in places[:2]},
    "hometown_legacy_province": "hometown_province",
    "birthplace_province": "birthplace_text",
}
# Identity fields verified by the register are not overwritten by a file.
_IDENTITY = frozenset(IDENTITY_FIELDS["student"])
_RECORD_FIELDS = ("pk", "school_id", "current_class_id", "merged_into_id", "updated_at",
                  "name_match_key", *sorted(set(STUDENT_CLEANERS) | set(STUDENT_CODED)))


def _label(name: str) -> str:
    info = {f.name: f for f in active_catalogue().for_entity("student")}.get(name)
    return info.label if info is not None else name


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return str(value).strip()


def _stringify_numbers(name: str, value: object) -> object:
    """Numbers a spreadsheet stored as numbers lose their leading zeros: give them back where
    the field's form is known (12-digit ID numbers, 10-digit phones)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if name == "personal_id_number":
            return f"{value:012d}"
        if name.endswith("phone"):
            text = str(value)
            return "0" + text if len(text) in (9, 10) else text
        return str(value)
    return value


@functools.lru_cache(maxsize=20_000)
def _match(list_name: str, text: str, parent: str | None = None) -> CodeEntry | None:
    return get_list(list_name).match(text, parent=parent)


@functools.lru_cache(maxsize=20_000)
def _legacy_commune(text: str, legacy_province: str) -> str | None:
    """The post-2025 commune a pre-2025 ward of the legacy province named ``text`` became."""
    for district in get_list("legacy_district").children(legacy_province):
        ward = _match("legacy_ward", text, district.code)
        if ward is not None:
            commune = legacy_ward_to_commune(ward.code)
            return commune.code if commune is not None else None
    return None


@dataclasses.dataclass
class _Row:
    """One source row as parsed: the cleaned pupil values and what else it says."""

    source: SourceRow
    issues: list[Issue] = dataclasses.field(default_factory=list)
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    school_class: SchoolClass | None = None
    status_code: str | None = None
    status_on: dt.date | None = None
    parents: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    key: str = ""
    match: dict[str, Any] | None = None
    # Field → (messages, value as read) of values the registry's cleaners refuse; the same
    # for the parents, by (relation, field).
    invalid: dict[str, tuple[list[str], object]] = dataclasses.field(default_factory=dict)
    parent_invalid: dict[tuple[str, str], tuple[list[str], object]] = dataclasses.field(
        default_factory=dict)

    @property
    def incomplete(self) -> bool:
        """Errors, or refused values not yet settled (``_settle_invalid``)."""
        return self.rejected or bool(self.invalid)

    @property
    def rejected(self) -> bool:
        return any(issue.is_error for issue in self.issues)

    def add(self, severity: Severity, message: str, plain: str, *, field: str | None) -> None:
        column = self.source.columns.get(field) if field else None
        self.issues.append(Issue(Problem(severity=severity, message=message,
                                         sheet=self.source.sheet, row=self.source.row,
                                         column=column, field=field), plain))

    def error(self, message: str, *, field: str | None = None, plain: str | None = None
              ) -> None:
        self.add(Severity.ERROR, message, plain or message, field=field)

    def warn(self, message: str, *, field: str | None = None, plain: str | None = None
             ) -> None:
        self.add(Severity.WARNING, message, plain or message, field=field)


def _not_in_list(row: _Row, column: str, list_name: str, text: str, *,
                 within: str = "") -> None:
    code_list = get_list(list_name)
    values = {"value": text[:60], "list": _LIST_LABELS.get(list_name, list_name),
              "version": code_list.version, "within": within}
    if within:
        message = _("“%(value)s” không có trong danh mục %(list)s của %(within)s (phiên bản "
                    "%(version)s); hãy sửa theo tên trong danh mục.") % values
        plain = _("Giá trị ở ô này không có trong danh mục %(list)s của %(within)s (phiên bản "
                  "%(version)s).") % values
    else:
        message = _("“%(value)s” không có trong danh mục %(list)s (phiên bản %(version)s); hãy "
                    "sửa theo tên trong danh mục.") % values
        plain = _("Giá trị ở ô này không có trong danh mục %(list)s (phiên bản %(version)s).") \
            % values
    row.error(message, field=column, plain=plain)


class _StudentPlanner:
    def __init__(self, workbook: Workbook, *, school: School, actor: Actor | None,
                 today: dt.date, findings: bool = True) -> None:
        self.workbook = workbook
        self.with_findings = findings
        self.school = school
        self.actor = actor
        self.today = today
        year = (SchoolYear.objects.filter(school=school, status=SchoolYearStatus.OPEN)
                .order_by("-start_year").first())
        if year is None:
            raise PlanRefused(_("Trường chưa có năm học đang diễn ra: hãy mở năm học và tạo "
                                "lớp trước khi nhập tệp."))
        self.year = year
        self.classes = {match_key(c.name): c for c in SchoolClass.objects.filter(
            school=school, school_year=year).select_related("school_year")}
        self.class_by_id = {c.pk: c for c in self.classes.values()}
        statuses = get_list("enrolment_status")
        self.active = {e.code for e in statuses.entries if e.extra.get("active")}
        self.transfer_out = {e.code for e in statuses.entries
                             if e.extra.get("transfer") == "out"}
        self.default_status = next(e.code for e in statuses.entries if e.extra.get("active"))

    # --- parsing --------------------------------------------------------------------------

    def parse(self, source: SourceRow) -> _Row:
        row = _Row(source)
        values = source.values
        code_school = values.get("school_code")
        if code_school not in (None, "") and str(code_school).strip() != self.school.code:
            raise PlanRefused(_(
                "Tệp này là danh sách của trường có mã %(other)s (trang %(sheet)s, hàng "
                "%(row)d), không phải của %(school)s (mã %(code)s): hãy chọn đúng tệp hoặc đúng "
                "trường.") % {"other": str(code_school)[:20], "sheet": source.sheet,
                             "row": source.row, "school": self.school.name,
                             "code": self.school.code})
        raw: dict[str, object] = {}
        for name in _DIRECT:
            value = values.get(name)
            if value not in (None, ""):
                raw[name] = _stringify_numbers(name, value)
        # Named values are mapped here, by name with aliases (and communes within their
        # province), so they are codes of the lists in force: the registry checks them again
        # when it writes.
        coded: dict[str, str] = {}
        for column, (field, list_name) in _CODED.items():
            text = _as_text(values.get(column))
            if text:
                entry = _match(list_name, text)
                if entry is None:
                    _not_in_list(row, column, list_name, text)
                else:
                    coded[field] = entry.code
        for province_column, commune_column, legacy_field in _PLACES:
            self._place(row, coded, province_column, commune_column, legacy_field)
        cleaned = clean_person_values(Student, raw, cleaners=STUDENT_CLEANERS, coded={})
        cleaned.values.update(coded)
        # Settled once the row's person is known: a value the record already holds as it is
        # is no write (a warning), anything else an error.
        row.invalid = {name: (messages, raw.get(name)) for name, messages in cleaned.errors.items()}
        for warning in cleaned.warnings:
            row.warn(warning.message, field=_SOURCE_OF.get(warning.field, warning.field),
                     plain=scrubbed(warning.message))
        row.values = {name: value for name, value in cleaned.values.items()
                      if value not in (None, "")}
        if "full_name" not in row.values and "full_name" not in row.invalid:
            row.error(_("Thiếu họ và tên."), field="full_name")
        row.key = name_match_key(str(row.values.get("full_name") or ""))
        self._class(row)
        self._status(row)
        self._parents(row)
        return row

    def _place(self, row: _Row, raw: dict[str, str], province_column: str,
               commune_column: str, legacy_field: str | None) -> None:
        province_text = _as_text(row.source.values.get(province_column))
        commune_text = _as_text(row.source.values.get(commune_column))
        province: str | None = None
        legacy: str | None = None
        if province_text:
            entry = _match("province", province_text)
            if entry is None:
                old = _match("legacy_province", province_text)
                if old is not None:
                    legacy = old.code
                    new = old.extra_str("province")
                    province = new if new in get_list("province") else None
            else:
                province = entry.code
            if province is None:
                _not_in_list(row, province_column, "province", province_text)
                return
            raw[province_column] = province
            if legacy is not None and legacy_field is not None:
                raw[legacy_field] = legacy
        if not commune_text:
            return
        if province is None:
            row.error(_("Có xã/phường nhưng thiếu tỉnh/thành phố: hãy ghi cả tỉnh/thành phố."),
                      field=province_column)
            return
        commune = _match("commune", commune_text, province)
        code = commune.code if commune is not None else None
        if code is None:
            entry = get_list("province").get(province)
            olds = (legacy,) if legacy is not None else (
                entry.extra_strs("legacy_provinces") if entry is not None else ())
            for old_code in olds:
                code = _legacy_commune(commune_text, old_code)
                if code is not None:
                    break
        commune_entry = get_list("commune").get(code) if code is not None else None
        if code is None or commune_entry is None or commune_entry.parent != province:
            _not_in_list(row, commune_column, "commune", commune_text,
                         within=get_list("province").name_of(province))
            return
        raw[commune_column] = code

    def _class(self, row: _Row) -> None:
        text = _as_text(row.source.values.get("class_name"))
        if not text:
            row.error(_("Thiếu tên lớp."), field="class_name")
            return
        school_class = self.classes.get(match_key(text))
        if school_class is None:
            row.error(_("Lớp “%(name)s” không có trong năm học %(year)s của trường: hãy tạo lớp "
                        "hoặc sửa tên lớp cho đúng.") % {"name": text[:30],
                                                         "year": self.year.label},
                      field="class_name",
                      plain=_("Lớp ở ô này không có trong năm học %(year)s của trường.")
                      % {"year": self.year.label})
            return
        row.school_class = school_class
        grade = row.source.values.get("grade")
        if isinstance(grade, int) and grade != school_class.grade:
            row.warn(_("Khối %(grade)d không khớp với lớp %(name)s (khối %(class_grade)d): lấy "
                       "theo lớp.") % {"grade": grade, "name": school_class.name,
                                       "class_grade": school_class.grade}, field="grade")

    def _status(self, row: _Row) -> None:
        text = _as_text(row.source.values.get("status"))
        if text:
            entry = _match("enrolment_status", text)
            if entry is None:
                _not_in_list(row, "status", "enrolment_status", text)
            else:
                row.status_code = entry.code
        when = row.source.values.get("status_date")
        if when in (None, ""):
            return
        try:
            day = parse_date(when)
        except FieldValueError as error:
            row.error(error.message, field="status_date")
            return
        if day is not None and day > self.today:
            row.error(_("Ngày trạng thái ở tương lai: hãy kiểm tra lại."), field="status_date")
            return
        row.status_on = day

    def _parents(self, row: _Row) -> None:
        for relation, prefix in _PARENTS:
            raw = {name: _stringify_numbers(f"{prefix}_{name}",
                                            row.source.values.get(f"{prefix}_{name}"))
                   for name in ("name", "birth_year", "occupation", "phone")}
            given = {name: value for name, value in raw.items() if value not in (None, "")}
            if not given:
                continue
            if "name" not in given:
                row.warn(_("Có thông tin của %(who)s nhưng không có họ tên: phần này không được "
                           "ghi.") % {"who": _("cha") if relation == FATHER else _("mẹ")},
                         field=f"{prefix}_name")
                continue
            data = {("full_name" if name == "name" else name): value
                    for name, value in given.items()}
            cleaned = clean_person_values(Guardian, data, cleaners=GUARDIAN_CLEANERS, coded={})
            for name, messages in cleaned.errors.items():
                row.parent_invalid[(relation, name)] = (messages, data.get(name))
            if "full_name" in cleaned.values:
                row.parents.append((relation, {k: v for k, v in cleaned.values.items()
                                               if v not in (None, "")}))

    # --- the plan ----------------------------------------------------------------------------

    def plan(self) -> Plan:
        rows = [self.parse(source) for source in self.workbook.rows]
        self._duplicates_in_file(rows)
        records = self._match(rows)
        for row in rows:
            self._settle_invalid(row)
        locked = self._identity_locked(records)
        transfers = self._open_transfers(records)
        enrolments = self._enrolments(records)
        self._other_school_check(rows, records, transfers)
        links = self._guardian_links(records)
        for row in rows:
            self._settle_parent_invalid(row, links)
        school_guardians = self._school_guardians(rows)
        may_accept = self.actor is not None and has_perm_at(self.actor, Perm.STUDENT_TRANSFER,
                                                            self.school.pk)
        plans = [self._row_plan(row, records, locked, transfers, enrolments, links,
                                school_guardians, may_accept) for row in rows]
        plans = self._candidates(rows, plans, records)
        findings = self._findings(rows, plans, records, enrolments) if self.with_findings \
            else []
        issues = [issue for row in rows for issue in row.issues]
        plans = [dataclasses.replace(plan, action=Action.REJECTED)
                 if row.rejected and plan.action is not Action.REJECTED else plan
                 for row, plan in zip(rows, plans, strict=True)]
        issues = [Issue(problem, redacted(problem)) for problem in self.workbook.problems] + issues
        counts: Counter[str] = Counter(plan.action.value for plan in plans)
        counts["official_ids"] = sum(1 for plan in plans if plan.official_id
                                     and plan.action in WRITING)
        counts["guardians_new"] = len({step.new_key or f"{plan.sheet}:{plan.row}:{i}"
                                       for plan in plans if plan.action in WRITING
                                       for i, step in enumerate(plan.guardians)
                                       if step.guardian_id is None})
        here = {plan.student_id for plan in plans if plan.student_id is not None}
        counts["absent"] = max(0, Student.objects.live().filter(school=self.school).count()
                               - len(here & {pk for pk, r in records.items()
                                             if r["school_id"] == self.school.pk}))
        fingerprint = self._fingerprint(plans, issues, records, enrolments, links, transfers)
        return Plan(kind=Kind.STUDENT, school_id=self.school.pk, sha256=self.workbook.sha256,
                    size=self.workbook.size, template=self.workbook.template,
                    skipped_rows=self.workbook.skipped_rows, rows=tuple(plans),
                    issues=tuple(issues), findings=tuple(findings), counts=dict(counts),
                    fingerprint=fingerprint)

    def _duplicates_in_file(self, rows: Sequence[_Row]) -> None:
        """The same person twice in the file: every row after the first is an error."""
        keys = (("education_id", _("cùng mã định danh")),
                ("temporary_code", _("cùng mã tạm")),
                ("personal_id_number", _("cùng số định danh cá nhân")))
        first: dict[tuple[str, object], int] = {}
        named: dict[tuple[str, dt.date], _Row] = {}
        for row in rows:
            claims = [(name, row.values.get(name), what) for name, what in keys]
            for name, value, what in claims:
                if not value:
                    continue
                earlier = first.setdefault((name, value), row.source.row)
                if earlier != row.source.row:
                    row.error(_("Hàng này là cùng một người với hàng %(row)d (%(what)s): mỗi "
                                "người chỉ ghi một hàng; hãy xoá hoặc sửa một trong hai.")
                              % {"row": earlier, "what": what}, field=name)
                    break
            else:
                self._same_name_and_birth(row, named)

    def _same_name_and_birth(self, row: _Row, named: dict[tuple[str, dt.date], _Row]) -> None:
        """Two rows with the same name and date of birth: the same person twice unless both
        carry their own education id (two records the registry already has, or will have —
        a warning then, for the duplicate review)."""
        born = row.values.get("date_of_birth")
        if not row.key or not isinstance(born, dt.date):
            return
        earlier = named.setdefault((row.key, born), row)
        if earlier is row:
            return
        own = (row.values.get("education_id") or row.values.get("temporary_code"),
               earlier.values.get("education_id") or earlier.values.get("temporary_code"))
        if all(own):
            row.warn(_("Hàng này trùng họ tên và ngày sinh với hàng %(row)d nhưng khác mã: hãy "
                       "kiểm tra có phải cùng một người không.") % {"row": earlier.source.row},
                     field="full_name")
            return
        row.error(_("Hàng này là cùng một người với hàng %(row)d (cùng họ tên và ngày sinh, "
                    "không có mã để phân biệt): mỗi người chỉ ghi một hàng; hãy xoá hoặc sửa "
                    "một trong hai.") % {"row": earlier.source.row}, field="full_name")

    def _match(self, rows: Sequence[_Row]) -> dict[int, dict[str, Any]]:
        """Find each row's person; returns the records matched (live ones: a merged record
        stands for the one it was merged into)."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            for name in ("education_id", "temporary_code", "personal_id_number"):
                if row.values.get(name):
                    wanted[name].add(str(row.values[name]))
        found: dict[tuple[str, str], int] = {}
        records: dict[int, dict[str, Any]] = {}
        for name, values in wanted.items():
            for chunk in _chunks(sorted(values)):
                for record in Student.objects.filter(**{f"{name}__in": chunk}).values(
                        *_RECORD_FIELDS):
                    found[(name, str(record[name]))] = record["pk"]
                    records[record["pk"]] = record
        # A merged record stands for the one it was merged into.
        merged = {pk: r["merged_into_id"] for pk, r in records.items() if r["merged_into_id"]}
        for _hop in range(3):
            missing = sorted(set(merged.values()) - set(records))
            if not missing:
                break
            for chunk in _chunks(missing):
                for record in Student.objects.filter(pk__in=chunk).values(*_RECORD_FIELDS):
                    records[record["pk"]] = record
                    if record["merged_into_id"]:
                        merged[record["pk"]] = record["merged_into_id"]

        def live(pk: int | None) -> int | None:
            for _hop in range(4):
                if pk is None or pk not in merged:
                    return pk
                pk = merged[pk]
            return pk

        by_name: dict[tuple[str, dt.date], list[dict[str, Any]]] = defaultdict(list)
        keys = sorted({row.key for row in rows if row.key})
        for chunk in _chunks(keys):
            for record in (Student.objects.live().filter(school=self.school,
                                                         name_match_key__in=chunk)
                           .values(*_RECORD_FIELDS)):
                if record["date_of_birth"] is not None:
                    by_name[(record["name_match_key"], record["date_of_birth"])].append(record)
                records.setdefault(record["pk"], record)
        for row in rows:
            self._match_row(row, found, by_name, records, live)
        return records

    def _match_row(self, row: _Row, found: Mapping[tuple[str, str], int],
                   by_name: Mapping[tuple[str, dt.date], list[dict[str, Any]]],
                   records: Mapping[int, dict[str, Any]],
                   live: Callable[[int | None], int | None]) -> None:
        values = row.values
        by_id = {name: live(found.get((name, str(values[name]))))
                 for name in ("education_id", "temporary_code", "personal_id_number")
                 if values.get(name)}
        ids = {pk for pk in by_id.values() if pk is not None}
        if len(ids) > 1:
            if by_id.get("education_id") and by_id.get("personal_id_number") \
                    and by_id["education_id"] != by_id["personal_id_number"]:
                row.error(_("Số định danh cá nhân ở hàng này đang là của một hồ sơ khác (không "
                            "phải hồ sơ có mã định danh của hàng): hãy kiểm tra lại hai mã."),
                          field="personal_id_number")
            else:
                row.error(_("Mã tạm và mã định danh ở hàng này thuộc hai hồ sơ khác nhau: hãy "
                            "kiểm tra lại hai mã."), field="temporary_code")
            return
        if ids:
            record = records[ids.pop()]
        else:
            born = values.get("date_of_birth")
            same = by_name.get((row.key, born), []) if isinstance(born, dt.date) else []
            if len(same) > 1:
                row.error(_("Trường có %(count)d hồ sơ cùng họ tên và ngày sinh này: hãy ghi mã "
                            "định danh vào tệp để biết là ai.") % {"count": len(same)},
                          field="full_name")
                return
            if not same:
                return
            record = same[0]
            if values.get("personal_id_number") and record["personal_id_number"] \
                    and record["personal_id_number"] != values["personal_id_number"]:
                return  # the same name and birth date, but another ID number: another child
        if values.get("education_id") and record["education_id"] \
                and record["education_id"] != values["education_id"]:
            row.error(_("Hồ sơ của học sinh này đã có mã định danh chính thức khác với mã trong "
                        "tệp; mã chính thức không đổi được: hãy kiểm tra lại."),
                      field="education_id")
            return
        born = values.get("date_of_birth")
        if by_id.get("education_id") and row.key and isinstance(born, dt.date) \
                and record["name_match_key"] != row.key \
                and record["date_of_birth"] not in (None, born):
            row.error(_("Mã định danh %(code)s đang là của một người khác trong CSDL (khác họ tên "
                        "và ngày sinh): hãy kiểm tra lại mã.") % {"code": values["education_id"]},
                      field="education_id",
                      plain=_("Mã định danh ở hàng này đang là của một người khác trong CSDL "
                              "(khác họ tên và ngày sinh)."))
            return
        row.match = record

    def _settle_invalid(self, row: _Row) -> None:
        for name, (messages, value) in row.invalid.items():
            stored = row.match.get(name) if row.match is not None else None
            column = _SOURCE_OF.get(name, name)
            if stored not in (None, "") and _as_text(stored) == _as_text(value):
                message = _("%(label)s trong tệp không hợp lệ (%(message)s) nhưng hồ sơ đã ghi "
                            "như vậy: giữ nguyên; hãy sửa trên hồ sơ.") % {
                    "label": _label(name), "message": messages[0].rstrip(".")}
                row.warn(message, field=column, plain=scrubbed(message))
                continue
            for message in messages:
                message = _("%(label)s: %(message)s") % {"label": _label(name),
                                                         "message": message}
                row.error(message, field=column, plain=scrubbed(message))
        row.invalid = {}

    def _settle_parent_invalid(self, row: _Row,
                               links: Mapping[int, Mapping[str, dict[str, Any]]]) -> None:
        """``_settle_invalid`` for the parents: against the parent linked to the pupil."""
        linked = links.get(row.match["pk"], {}) if row.match is not None else {}
        for (relation, name), (messages, value) in row.parent_invalid.items():
            prefix = dict(_PARENTS)[relation]
            column = f"{prefix}_{'name' if name == 'full_name' else name}"
            stored = linked.get(relation, {}).get(name)
            if stored not in (None, "") and _as_text(stored) == _as_text(value):
                message = _("%(message)s Hồ sơ đã ghi như vậy: giữ nguyên; hãy sửa trên hồ "
                            "sơ.") % {"message": messages[0]}
                row.warn(message, field=column, plain=scrubbed(message))
                continue
            for message in messages:
                row.error(message, field=column, plain=scrubbed(message))
        row.parent_invalid = {}

    def _identity_locked(self, records: Mapping[int, dict[str, Any]]) -> set[int]:
        locked: set[int] = set()
        for chunk in _chunks(sorted(records)):
            locked.update(FieldGroupCheck.objects.filter(
                entity="student", record_id__in=chunk, group=IDENTITY_GROUP,
                kind=CheckKind.REGISTER, ended_at__isnull=True)
                .values_list("record_id", flat=True))
        return locked

    def _open_transfers(self, records: Mapping[int, dict[str, Any]]) -> dict[int, Transfer]:
        others = sorted(pk for pk, r in records.items() if r["school_id"] != self.school.pk)
        found: dict[int, Transfer] = {}
        for chunk in _chunks(others):
            for transfer in Transfer.objects.filter(student_id__in=chunk, to_school=self.school,
                                                    status=TransferStatus.REQUESTED):
                found[transfer.student_id] = transfer
        return found

    def _enrolments(self, records: Mapping[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(sorted(records)):
            for enrolment in Enrolment.objects.filter(student_id__in=chunk, is_current=True
                                                      ).values("pk", "student_id", "school_id",
                                                               "school_class_id",
                                                               "status_code",
                                                               "school_year_id"):
                found[enrolment["student_id"]] = dict(enrolment)
        return found

    def _other_school_check(self, rows: Sequence[_Row], records: Mapping[int, dict[str, Any]],
                            transfers: Mapping[int, Transfer]) -> None:
        """A file of another school's pupils (most matched rows enrolled at one other school,
        without transfer requests) is refused as a whole."""
        matched = [row.match for row in rows if row.match is not None]
        elsewhere = Counter(record["school_id"] for record in matched
                            if record["school_id"] != self.school.pk
                            and record["pk"] not in transfers)
        if not elsewhere or len(matched) < 5:
            return
        other, count = elsewhere.most_common(1)[0]
        if count * 2 > len(matched):
            name = School.objects.filter(pk=other).values_list("name", flat=True).first()
            raise PlanRefused(_(
                "%(count)d trong %(total)d học sinh tìm thấy của tệp đang học ở %(other)s, không "
                "phải %(school)s: có thể đã chọn nhầm tệp hoặc nhầm trường. Không có gì được "
                "ghi.") % {"count": count, "total": len(matched), "other": name or "?",
                           "school": self.school.name})

    def _guardian_links(self, records: Mapping[int, dict[str, Any]]
                        ) -> dict[int, dict[str, dict[str, Any]]]:
        """Per pupil, relation → the linked guardian's values (father and mother only)."""
        found: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
        fields = ("guardian_id", "student_id", "relation_code", "guardian__full_name",
                  "guardian__birth_year", "guardian__occupation", "guardian__phone",
                  "guardian__personal_id_number", "guardian__updated_at",
                  "guardian__school_id")
        for chunk in _chunks(sorted(records)):
            for link in StudentGuardian.objects.filter(
                    student_id__in=chunk, relation_code__in=(FATHER, MOTHER)
            ).order_by("pk").values(*fields):
                found[link["student_id"]].setdefault(link["relation_code"], {
                    name.removeprefix("guardian__"): value for name, value in link.items()})
        return found

    def _school_guardians(self, rows: Sequence[_Row]) -> dict[tuple[str, object], int]:
        """The school's guardians by (name key, birth year) and (name key, phone): a parent of
        a sibling already on record is linked, not created again."""
        keys = sorted({name_match_key(str(values["full_name"]))
                       for row in rows for _relation, values in row.parents})
        found: dict[tuple[str, object], int] = {}
        for chunk in _chunks(keys):
            for pk, key, year, phone in (Guardian.objects.filter(school=self.school,
                                                                 name_match_key__in=chunk)
                                         .order_by("pk").values_list("pk", "name_match_key",
                                                                     "birth_year", "phone")):
                if year:
                    found.setdefault((key, year), pk)
                if phone:
                    found.setdefault((key, phone), pk)
        return found

    def _row_plan(self, row: _Row, records: Mapping[int, dict[str, Any]], locked: set[int],
                  transfers: Mapping[int, Transfer],
                  enrolments: Mapping[int, dict[str, Any]],
                  links: Mapping[int, Mapping[str, dict[str, Any]]],
                  school_guardians: Mapping[tuple[str, object], int],
                  may_accept: bool) -> RowPlan:
        at = (row.source.sheet, row.source.row)
        if row.rejected or row.school_class is None:
            return RowPlan(*at, Action.REJECTED)
        school_class = row.school_class
        record = row.match
        if record is None:
            enrol_with = row.status_code or self.default_status
            if enrol_with not in self.active:
                message = _("Học sinh chưa có trong CSDL nhưng có trạng thái «%(status)s»: "
                            "không tạo hồ sơ cho học sinh đã rời trường.") % {
                    "status": get_list("enrolment_status").name_of(enrol_with)}
                row.warn(message, field="status", plain=scrubbed(message))
                return RowPlan(*at, Action.HELD)
            values = dict(row.values)
            return RowPlan(*at, Action.NEW, class_id=school_class.pk, values=values,
                           status_code=enrol_with, status_on=row.status_on,
                           guardians=self._guardian_steps(row, {}, school_guardians))
        pk = record["pk"]
        transfer_id: int | None = None
        if record["school_id"] != self.school.pk:
            transfer = transfers.get(pk)
            other = School.objects.filter(pk=record["school_id"]).values_list(
                "name", flat=True).first() or "?"
            if transfer is None:
                row.warn(_("Học sinh này đang học ở %(other)s trong CSDL và chưa có đề nghị "
                           "chuyển trường: hàng này không được ghi. Hãy đề nghị %(other)s "
                           "chuyển học sinh sang trường (chuyển trường), rồi nhập lại tệp.")
                         % {"other": other}, field="full_name")
                return RowPlan(*at, Action.HELD, student_id=pk)
            if not may_accept:
                row.warn(_("Học sinh này đang chờ chuyển từ %(other)s sang trường: chỉ người "
                           "được tiếp nhận học sinh chuyển đến mới ghi được hàng này.")
                         % {"other": other}, field="full_name")
                return RowPlan(*at, Action.HELD, student_id=pk)
            transfer_id = transfer.pk
        changes: dict[str, Any] = {}
        for name, value in row.values.items():
            if name == "temporary_code" or record.get(name) == value:
                continue
            if name == "full_name" and fold_diacritics(str(value)) == value \
                    and name_match_key(str(value)) == record["name_match_key"]:
                continue  # typed without diacritics: the stored spelling is kept
            if name in _IDENTITY and pk in locked and record.get(name) not in (None, ""):
                row.warn(_("«%(label)s» đã được xác thực với CSDL quốc gia về dân cư; giá trị "
                           "trong tệp khác nhưng không được ghi đè bằng tệp: nếu cần sửa, hãy "
                           "sửa trên hồ sơ kèm lý do.") % {"label": _label(name)},
                         field=_SOURCE_OF.get(name, name))
                continue
            changes[name] = value
        enrolment = enrolments.get(pk)
        moved = transfer_id is None and (enrolment is None
                                         or enrolment["school_class_id"] != school_class.pk
                                         or record["current_class_id"] != school_class.pk)
        status = row.status_code
        if status is not None and transfer_id is None:
            if status in self.transfer_out:
                row.warn(_("Học sinh chuyển đi được ghi bằng chức năng chuyển trường; trạng thái "
                           "ở hàng này không được ghi."), field="status")
                status = None
            elif enrolment is not None and enrolment["status_code"] == status:
                status = None
        elif transfer_id is not None:
            status = None  # the transfer records "Chuyển đến"
        steps = self._guardian_steps(row, links.get(pk, {}), school_guardians)
        if transfer_id is not None:
            action = Action.TRANSFERRED_IN
        elif moved:
            action = Action.MOVED
        elif changes or status or any(step.writes for step in steps):
            action = Action.UPDATED
        else:
            action = Action.UNCHANGED
        return RowPlan(*at, action, student_id=pk, class_id=school_class.pk,
                       values=changes, moved=moved, status_code=status,
                       status_on=row.status_on, guardians=steps, transfer_id=transfer_id,
                       official_id="education_id" in changes)

    def _guardian_steps(self, row: _Row, linked: Mapping[str, dict[str, Any]],
                        school_guardians: Mapping[tuple[str, object], int]
                        ) -> tuple[GuardianStep, ...]:
        """The row's father and mother: the parent already linked (the same name without
        diacritics: their changed values; another name: left as it is, with a warning), a
        guardian of the school with the same name and birth year or phone (a sibling's
        parent: linked), or a new one (shared by rows naming the same parent)."""
        steps = []
        for relation, values in row.parents:
            key = name_match_key(str(values["full_name"]))
            current = linked.get(relation)
            if current is not None:
                if name_match_key(str(current["full_name"])) != key:
                    row.warn(_("Họ tên %(who)s trong tệp khác với hồ sơ: không ghi đè bằng tệp; "
                               "nếu cần sửa, hãy sửa trên hồ sơ.")
                             % {"who": _("cha") if relation == FATHER else _("mẹ")},
                             field=f"{dict(_PARENTS)[relation]}_name")
                    continue
                ours = current["school_id"] == self.school.pk
                changes = tuple(name for name, value in values.items()
                                if ours and current.get(name) != value)
                steps.append(GuardianStep(relation, values, current["guardian_id"], None,
                                          changes, link=False))
                continue
            existing = (school_guardians.get((key, values.get("birth_year")))
                        or school_guardians.get((key, values.get("phone"))))
            if existing is not None:
                steps.append(GuardianStep(relation, values, existing, None, (), link=True))
                continue
            shared: str | None = None
            if values.get("birth_year") or values.get("phone"):
                shared = (f"{relation}:{key}:{values.get('birth_year') or ''}:"
                          f"{values.get('phone') or ''}")
            steps.append(GuardianStep(relation, values, None, shared, tuple(values), link=True))
        return tuple(steps)

    def _candidates(self, rows: Sequence[_Row], plans: list[RowPlan],
                    records: Mapping[int, dict[str, Any]]) -> list[RowPlan]:
        """Look-alikes of new pupils (in batch) and of pupils whose name, birth date or ID
        number the row changes — what the registry's entry check will ask about."""
        new = [index for index, plan in enumerate(plans) if plan.action is Action.NEW]
        found = student_candidates_many([plans[i].values for i in new])
        result = list(plans)
        for index, candidates in zip(new, found, strict=True):
            if candidates:
                result[index] = dataclasses.replace(plans[index],
                                                    candidates=tuple(candidates))
        for index, plan in enumerate(plans):
            if plan.action not in (Action.UPDATED, Action.MOVED, Action.TRANSFERRED_IN) \
                    or not set(plan.values) & {"full_name", "date_of_birth",
                                               "personal_id_number"}:
                continue
            assert plan.student_id is not None
            record = records[plan.student_id]
            merged = {name: record[name] for name in ("full_name", "date_of_birth",
                                                      "personal_id_number")}
            merged.update({k: v for k, v in plan.values.items() if k in merged})
            candidates = student_candidates(merged, exclude_id=plan.student_id)
            if candidates:
                result[index] = dataclasses.replace(plan, candidates=tuple(candidates))
        for row, plan in zip(rows, result, strict=True):
            if plan.candidates and plan.action in WRITING:
                row.warn(_("Có %(count)d hồ sơ giống người ở hàng này (%(reasons)s). Nếu là cùng "
                           "một người, hãy ghi mã định danh vào tệp (hoặc đề nghị chuyển trường) "
                           "rồi soi thử lại; nếu không phải, hãy ghi lý do khi ghi vào CSDL.")
                         % {"count": len(plan.candidates),
                            "reasons": "; ".join(sorted({reason for c in plan.candidates
                                                         for reason in c.reasons}))},
                         field="full_name")
        return result

    # --- quality ------------------------------------------------------------------------------

    def _findings(self, rows: Sequence[_Row], plans: Sequence[RowPlan],
                  records: Mapping[int, dict[str, Any]],
                  enrolments: Mapping[int, dict[str, Any]]) -> list[FindingSummary]:
        """The problem rules, in batch, over the records as the commit would leave them; rules
        of severity "error" on a value the row writes make the row an error (the registry would
        refuse the save)."""
        rule_set = current_rule_set()
        student_rules = [r for r in rule_set.for_entity("student") if r.kind is RuleKind.PROBLEM]
        guardian_rules = [r for r in rule_set.for_entity("guardian")
                          if r.kind is RuleKind.PROBLEM]
        kept = [(row, plan) for row, plan in zip(rows, plans, strict=True)
                if plan.action in WRITING or plan.action is Action.UNCHANGED]
        if not kept:
            return []
        shared = self._shared_numbers(kept, records)
        student_rows: list[dict[str, Any]] = []
        guardian_rows: list[dict[str, Any]] = []
        owners: list[tuple[RowPlan, _Row]] = []
        for row, plan in kept:
            record = dict(records[plan.student_id]) if plan.student_id else {}
            record.update(plan.values)
            school_class = self.class_by_id[plan.class_id] if plan.class_id else None
            enrolment = enrolments.get(plan.student_id or -1) or {}
            status = plan.status_code or enrolment.get("status_code") or self.default_status
            number = record.get("personal_id_number")
            student_rows.append({
                **{name: record.get(name) for name in _RECORD_FIELDS if name != "pk"},
                "school_level": self.school.level,
                "grade": str(school_class.grade) if school_class else None,
                "status_code": status, "start_year": self.year.start_year,
                "personal_id_shared": int(bool(number) and (number, row.key) in shared),
                TODAY: self.today})
            for step in plan.guardians:
                guardian_rows.append({**{name: step.values.get(name)
                                         for name in GUARDIAN_CLEANERS},
                                      "owner": len(owners), "school_level": self.school.level,
                                      "status_code": status,
                                      "child_birth": record.get("date_of_birth"),
                                      "personal_id_shared": 0, TODAY: self.today})
            owners.append((plan, row))
        hits: dict[str, list[int]] = defaultdict(list)
        for rules, frame_rows, owner_of in (
                (student_rules, student_rows, None),
                (guardian_rules, guardian_rows, "owner")):
            if not frame_rows or not rules:
                continue
            frame = pl.DataFrame(frame_rows, infer_schema_length=None, strict=False)
            result = evaluate_frame(rules, (), frame)
            for rule in rules:
                column = result.get_column(rule.code)
                for position in column.arg_true().to_list():
                    owner = position if owner_of is None else frame_rows[position][owner_of]
                    hits[rule.code].append(owner)
        summaries = []
        for rule in rule_set.rules:
            owners_hit = sorted(set(hits.get(rule.code, ())))
            if not owners_hit:
                continue
            if rule.severity is RuleSeverity.ERROR and rule.entity == "student":
                self._blocking(rule, [owners[i] for i in owners_hit])
            summaries.append(FindingSummary(
                rule_code=rule.code, dimension=rule.dimension.value,
                severity=rule.severity.value, message=rule.message, count=len(owners_hit),
                rows=tuple((owners[i][0].sheet, owners[i][0].row) for i in owners_hit[:SAMPLE]),
                record_ids=tuple(pk for i in owners_hit
                                 if (pk := owners[i][0].student_id) is not None)[:SAMPLE]))
        return summaries

    def _blocking(self, rule: Rule, hit: Iterable[tuple[RowPlan, _Row]]) -> None:
        for plan, row in hit:
            written = set(plan.values)
            touched = [name for name in rule.fields if name in written]
            if touched and plan.action in WRITING:
                row.error(rule.message, field=_SOURCE_OF.get(touched[0], touched[0]))

    def _shared_numbers(self, kept: Sequence[tuple[_Row, RowPlan]],
                        records: Mapping[int, dict[str, Any]]) -> set[tuple[str, str]]:
        """(ID number, name key) of the rows whose ID number a guardian or staff member holds
        under another name (the "shared ID" rule)."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for row, plan in kept:
            number = plan.values.get("personal_id_number") or (
                records[plan.student_id]["personal_id_number"] if plan.student_id else None)
            if number:
                wanted[str(number)].add(row.key)
        shared: set[tuple[str, str]] = set()
        for model in (Guardian, Staff):
            for chunk in _chunks(sorted(wanted)):
                holders = model.objects.filter(personal_id_number__in=chunk).values_list(
                    "personal_id_number", "name_match_key")
                for number, key in holders:
                    shared.update((str(number), own) for own in wanted[str(number)]
                                  if own != key)
        return shared

    # --- fingerprint ----------------------------------------------------------------------------

    def _fingerprint(self, plans: Sequence[RowPlan], issues: Sequence[Issue],
                     records: Mapping[int, dict[str, Any]],
                     enrolments: Mapping[int, dict[str, Any]],
                     links: Mapping[int, Mapping[str, dict[str, Any]]],
                     transfers: Mapping[int, Transfer]) -> str:
        touched = sorted({plan.student_id for plan in plans if plan.student_id is not None})
        state = {
            "file": self.workbook.sha256, "kind": self.workbook.kind.value,
            "school": self.school.pk, "template": self.workbook.template,
            "rows": [_plan_state(plan) for plan in plans],
            "records": [[pk, records[pk]["updated_at"], records[pk]["school_id"],
                         records[pk]["current_class_id"], enrolments.get(pk),
                         sorted((relation, link["guardian_id"], link["updated_at"])
                                for relation, link in links.get(pk, {}).items()),
                         transfers[pk].pk if pk in transfers else None] for pk in touched],
            "issues": [[i.problem.severity.value, i.problem.sheet, i.problem.row,
                        i.problem.column, i.problem.message] for i in issues],
        }
        text = json.dumps(state, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


def _plan_state(plan: RowPlan) -> list[Any]:
    return [plan.sheet, plan.row, plan.action.value, plan.student_id, plan.class_id,
            sorted((name, str(value)) for name, value in plan.values.items()),
            plan.status_code, plan.status_on,
            [[s.relation_code, s.guardian_id, s.new_key, list(s.changes), s.link,
              sorted((k, str(v)) for k, v in s.values.items())] for s in plan.guardians],
            plan.transfer_id, sorted(c.record_id for c in plan.candidates)]


_QUOTED = re.compile(r"«[^»]*»|“[^”]*”")
_DATE = re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b")
_DIGITS = re.compile(r"\d{4,}")


_SEX = re.compile(r"(giới tính) (Nam|Nữ)\b")


def scrubbed(message: str) -> str:
    """A message about one row without the values it quotes (what the cell said, a birth
    year, the sex): quoted text, dates, runs of four digits or more."""
    text = _SEX.sub(r"\1 …", _QUOTED.sub("«…»", message))
    return _DIGITS.sub("…", _DATE.sub("…", text))


def redacted(problem: Problem) -> str:
    """The reader's message of a problem, without the cell's value where it is about one row
    (logs and --json must not carry a date of birth or an ID number)."""
    return problem.message if problem.row is None else scrubbed(problem.message)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def plan_workbook(workbook: Workbook, *, school: School, actor: Actor | None,
                  today: dt.date | None = None, findings: bool = True) -> Plan:
    """The dry run of ``workbook`` for ``school``, as ``actor`` would commit it (``None``:
    the system). Reads the database, writes nothing; raises ``PlanRefused`` for a file that
    cannot be taken in for this school at all. ``findings``: measure the records with the
    quality rules (the commit, which writes through the registry, leaves that to it: the
    registry refuses a write its error rules refuse, and measures what it wrote)."""
    day = today or timezone.localdate()
    if workbook.kind is Kind.STUDENT:
        return _StudentPlanner(workbook, school=school, actor=actor, today=day,
                               findings=findings).plan()
    from edureg.intake.staff_plan import plan_staff_workbook  # it builds on this module

    return plan_staff_workbook(workbook, school=school, actor=actor, today=day,
                               findings=findings)

