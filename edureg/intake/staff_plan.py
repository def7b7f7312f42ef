"""The dry run of a staff export (cán bộ, giáo viên, nhân viên): what committing it would do,
row by row — the same ``Plan`` as the pupils' (``edureg.intake.plan``).

Each row is matched to a staff member already on record — by education id, then personal ID
number, then (name without diacritics, date of birth) among the school's staff — and classified
new, updated, unchanged, held (on record at another school: moving school is not done by a
file) or rejected (errors). Code-list values (ethnicity, job position, position group,
employment status, qualification, subjects…) are mapped by name with aliases; every problem
names its sheet, row and column. New staff are checked for look-alikes (``staff_candidates``)
and the records as the commit would leave them are measured with the staff quality rules.
Rules of taking in are the pupils': an empty cell never erases a stored value, an official
education id is not changed, identity fields verified by the population register are not
overwritten (a warning says so).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _

from edureg.access.policy import Actor
from edureg.core.codelists import get_list
from edureg.core.text import fold_diacritics, name_match_key
from edureg.intake.plan import (
    SAMPLE,
    WRITING,
    Action,
    FindingSummary,
    Issue,
    Plan,
    PlanRefused,
    RowPlan,
    _as_text,
    _chunks,
    _match,
    _Row,
    _stringify_numbers,
    redacted,
    scrubbed,
)
from edureg.intake.source import Kind, SourceRow, Workbook
from edureg.quality.engine import evaluate_frame
from edureg.quality.models import CheckKind, FieldGroupCheck
from edureg.quality.rules.catalogue import Kind as RuleKind
from edureg.quality.rules.catalogue import Rule
from edureg.quality.rules.catalogue import Severity as RuleSeverity
from edureg.quality.rules.checks import TODAY
from edureg.quality.services import current_rule_set
from edureg.registry.duplicates import staff_candidates
from edureg.registry.models import IDENTITY_FIELDS, Guardian, Staff, Student
from edureg.registry.quality import IDENTITY_GROUP
from edureg.registry.staff import STAFF_CLEANERS
from edureg.registry.validation import STAFF_CODED, clean_person_values
from edureg.schools.models import School

_DIRECT = ("full_name", "education_id", "date_of_birth", "sex", "personal_id_number", "phone",
           "email")
# Column → (staff field, code list).
_CODED: Mapping[str, tuple[str, str]] = {
    "ethnicity": ("ethnicity_code", "ethnicity"),
    "religion": ("religion_code", "religion"),
    "nationality": ("nationality_code", "nationality"),
    "job_position": ("job_position_code", "job_position"),
    "position_group": ("position_group_code", "position_group"),
    "employment_status": ("employment_status_code", "employment_status"),
    "qualification": ("qualification_code", "qualification"),
}
_LIST_LABELS = {
    "ethnicity": "Dân tộc", "religion": "Tôn giáo", "nationality": "Quốc tịch",
    "job_position": "Vị trí việc làm", "position_group": "Nhóm chức vụ",
    "employment_status": "Trạng thái làm việc", "qualification": "Trình độ đào tạo",
    "subject": "Môn học",
}
_SOURCE_OF: dict[str, str] = {
    **{name: name for name in _DIRECT},
    **{field: column for column, (field, _list) in _CODED.items()},
    "subject_codes": "subjects",
}
_IDENTITY = frozenset(IDENTITY_FIELDS["staff"])
_RECORD_FIELDS = ("pk", "school_id", "updated_at", "name_match_key",
                  *sorted(set(STAFF_CLEANERS) | set(STAFF_CODED)))
# What the staff quality rules read (``registry.quality._STAFF_FIELDS``).
_RULE_FIELDS = (
    "full_name", "education_id", "date_of_birth", "sex", "ethnicity_code", "religion_code",
    "nationality_code", "personal_id_number", "phone", "email", "job_position_code",
    "position_group_code", "employment_status_code", "qualification_code",
)
_SUBJECT_SPLIT = re.compile(r"\s*[,;/\n]+\s*")
_PLAIN_CLEANERS = {name: cleaner for name, cleaner in STAFF_CLEANERS.items()
                   if name != "subject_codes"}


@dataclasses.dataclass(frozen=True)
class StaffRowPlan(RowPlan):
    staff_id: int | None = None


def _label(name: str) -> str:
    try:
        return str(getattr(Staff._meta.get_field(name), "verbose_name", name))
    except FieldDoesNotExist:
        return name


def _not_in_list(row: _Row, column: str, list_name: str, text: str) -> None:
    code_list = get_list(list_name)
    values = {"value": text[:60], "list": _LIST_LABELS.get(list_name, list_name),
              "version": code_list.version}
    message = _("“%(value)s” không có trong danh mục %(list)s (phiên bản %(version)s); hãy "
                "sửa theo tên trong danh mục.") % values
    plain = _("Giá trị ở ô này không có trong danh mục %(list)s (phiên bản %(version)s).") \
        % values
    row.error(message, field=column, plain=plain)


class _StaffPlanner:
    def __init__(self, workbook: Workbook, *, school: School, actor: Actor | None,
                 today: dt.date, findings: bool = True) -> None:
        self.workbook = workbook
        self.school = school
        self.actor = actor
        self.today = today
        self.with_findings = findings

    # --- parsing ------------------------------------------------------------------------------

    def parse(self, source: SourceRow) -> _Row:
        row = _Row(source)
        values = source.values
        raw: dict[str, object] = {}
        for name in _DIRECT:
            value = values.get(name)
            if value not in (None, ""):
                raw[name] = _stringify_numbers(name, value)
        coded: dict[str, Any] = {}
        for column, (field, list_name) in _CODED.items():
            text = _as_text(values.get(column))
            if text:
                entry = _match(list_name, text)
                if entry is None:
                    _not_in_list(row, column, list_name, text)
                else:
                    coded[field] = entry.code
        subjects = _as_text(values.get("subjects"))
        if subjects:
            codes: list[str] = []
            for part in _SUBJECT_SPLIT.split(subjects):
                if not part:
                    continue
                entry = _match("subject", part)
                if entry is None:
                    _not_in_list(row, "subjects", "subject", part)
                elif entry.code not in codes:
                    codes.append(entry.code)
            if codes:
                coded["subject_codes"] = codes
        cleaned = clean_person_values(Staff, raw, cleaners=_PLAIN_CLEANERS, coded={})
        cleaned.values.update(coded)
        row.invalid = {name: (messages, raw.get(name))
                       for name, messages in cleaned.errors.items()}
        for warning in cleaned.warnings:
            row.warn(warning.message, field=_SOURCE_OF.get(warning.field, warning.field),
                     plain=scrubbed(warning.message))
        row.values = {name: value for name, value in cleaned.values.items()
                      if value not in (None, "", [])}
        if "full_name" not in row.values and "full_name" not in row.invalid:
            row.error(_("Thiếu họ và tên."), field="full_name")
        row.key = name_match_key(str(row.values.get("full_name") or ""))
        return row

    # --- the plan -----------------------------------------------------------------------------

    def plan(self) -> Plan:
        rows = [self.parse(source) for source in self.workbook.rows]
        self._duplicates_in_file(rows)
        records = self._match(rows)
        for row in rows:
            self._settle_invalid(row)
        self._other_school_check(rows)
        locked = self._identity_locked(records)
        plans = [self._row_plan(row, locked) for row in rows]
        plans = self._candidates(rows, plans, records)
        findings = self._findings(rows, plans, records) if self.with_findings else []
        plans = [dataclasses.replace(plan, action=Action.REJECTED)
                 if row.rejected and plan.action is not Action.REJECTED else plan
                 for row, plan in zip(rows, plans, strict=True)]
        issues = [Issue(problem, redacted(problem)) for problem in self.workbook.problems]
        issues += [issue for row in rows for issue in row.issues]
        counts: Counter[str] = Counter(plan.action.value for plan in plans)
        counts["official_ids"] = sum(1 for plan in plans if plan.official_id
                                     and plan.action in WRITING)
        here = {plan.staff_id for plan in plans if plan.staff_id is not None
                and records[plan.staff_id]["school_id"] == self.school.pk}
        counts["absent"] = max(0, Staff.objects.filter(school=self.school).count() - len(here))
        fingerprint = self._fingerprint(plans, issues, records)
        return Plan(kind=Kind.STAFF, school_id=self.school.pk, sha256=self.workbook.sha256,
                    size=self.workbook.size, template=self.workbook.template,
                    skipped_rows=self.workbook.skipped_rows, rows=tuple(plans),
                    issues=tuple(issues), findings=tuple(findings), counts=dict(counts),
                    fingerprint=fingerprint)

    def _duplicates_in_file(self, rows: Sequence[_Row]) -> None:
        """The same person twice in the file: every row after the first is an error."""
        keys = (("education_id", _("cùng mã định danh")),
                ("personal_id_number", _("cùng số định danh cá nhân")))
        first: dict[tuple[str, object], int] = {}
        named: dict[tuple[str, dt.date], _Row] = {}
        for row in rows:
            for name, what in keys:
                value = row.values.get(name)
                if not value:
                    continue
                earlier = first.setdefault((name, value), row.source.row)
                if earlier != row.source.row:
                    row.error(_("Hàng này là cùng một người với hàng %(row)d (%(what)s): mỗi "
                                "người chỉ ghi một hàng; hãy xoá hoặc sửa một trong hai.")
                              % {"row": earlier, "what": what}, field=name)
                    break
            else:
                born = row.values.get("date_of_birth")
                if not row.key or not isinstance(born, dt.date):
                    continue
                other = named.setdefault((row.key, born), row)
                if other is row:
                    continue
                if row.values.get("education_id") and other.values.get("education_id"):
                    row.warn(_("Hàng này trùng họ tên và ngày sinh với hàng %(row)d nhưng khác "
                               "mã: hãy kiểm tra có phải cùng một người không.")
                             % {"row": other.source.row}, field="full_name")
                    continue
                row.error(_("Hàng này là cùng một người với hàng %(row)d (cùng họ tên và ngày "
                            "sinh, không có mã để phân biệt): mỗi người chỉ ghi một hàng; hãy "
                            "xoá hoặc sửa một trong hai.") % {"row": other.source.row},
                          field="full_name")

    def _match(self, rows: Sequence[_Row]) -> dict[int, dict[str, Any]]:
        """Find each row's staff member: by education id or ID number anywhere (both are
        unique among staff), else by name and birth date among the school's staff."""
        records: dict[int, dict[str, Any]] = {}
        found: dict[tuple[str, str], int] = {}
        for name in ("education_id", "personal_id_number"):
            wanted = sorted({str(row.values[name]) for row in rows if row.values.get(name)})
            for chunk in _chunks(wanted):
                for record in Staff.objects.filter(**{f"{name}__in": chunk}).values(
                        *_RECORD_FIELDS):
                    records.setdefault(record["pk"], record)
                    found[(name, str(record[name]))] = record["pk"]
        by_name: dict[tuple[str, dt.date], list[dict[str, Any]]] = defaultdict(list)
        keys = sorted({row.key for row in rows if row.key})
        for chunk in _chunks(keys):
            for record in Staff.objects.filter(school=self.school, name_match_key__in=chunk
                                               ).values(*_RECORD_FIELDS):
                if record["date_of_birth"] is not None:
                    by_name[(record["name_match_key"], record["date_of_birth"])].append(record)
                records.setdefault(record["pk"], record)
        for row in rows:
            self._match_row(row, found, by_name, records)
        return records

    def _match_row(self, row: _Row, found: Mapping[tuple[str, str], int],
                   by_name: Mapping[tuple[str, dt.date], list[dict[str, Any]]],
                   records: Mapping[int, dict[str, Any]]) -> None:
        values = row.values
        by_id = {name: found.get((name, str(values[name])))
                 for name in ("education_id", "personal_id_number") if values.get(name)}
        ids = {pk for pk in by_id.values() if pk is not None}
        if len(ids) > 1:
            row.error(_("Số định danh cá nhân ở hàng này đang là của một hồ sơ khác (không phải "
                        "hồ sơ có mã định danh của hàng): hãy kiểm tra lại hai mã."),
                      field="personal_id_number")
            return
        born = values.get("date_of_birth")
        if ids:
            record = records[ids.pop()]
        else:
            same = by_name.get((row.key, born), []) if isinstance(born, dt.date) else []
            if len(same) > 1:
                row.error(_("Trường có %(count)d cán bộ cùng họ tên và ngày sinh này: hãy ghi mã "
                            "định danh vào tệp để biết là ai.") % {"count": len(same)},
                          field="full_name")
                return
            if not same:
                return
            record = same[0]
            if values.get("personal_id_number") and record["personal_id_number"] \
                    and record["personal_id_number"] != values["personal_id_number"]:
                return  # the same name and birth date, another ID number: another person
        if values.get("education_id") and record["education_id"] \
                and record["education_id"] != values["education_id"]:
            row.error(_("Hồ sơ của cán bộ này đã có mã định danh chính thức khác với mã trong "
                        "tệp; mã chính thức không đổi được: hãy kiểm tra lại."),
                      field="education_id")
            return
        if by_id.get("education_id") and row.key and isinstance(born, dt.date) \
                and record["name_match_key"] != row.key \
                and record["date_of_birth"] not in (None, born):
            row.error(_("Mã định danh ở hàng này đang là của một người khác trong CSDL (khác họ "
                        "tên và ngày sinh): hãy kiểm tra lại mã."), field="education_id")
            return
        row.match = record

    def _settle_invalid(self, row: _Row) -> None:
        """A value the cleaners refuse: an error, unless the record already holds it as it is
        (then nothing is written, with a warning)."""
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

    def _other_school_check(self, rows: Sequence[_Row]) -> None:
        """A file of another school's staff (most matched rows on record at one other school)
        is refused as a whole."""
        matched = [row.match for row in rows if row.match is not None]
        elsewhere = Counter(record["school_id"] for record in matched
                            if record["school_id"] != self.school.pk)
        if not elsewhere or len(matched) < 5:
            return
        _other, count = elsewhere.most_common(1)[0]
        if count * 2 > len(matched):
            raise PlanRefused(_(
                "%(count)d trong %(total)d cán bộ tìm thấy của tệp đang thuộc một trường khác, "
                "không phải %(school)s: có thể đã chọn nhầm tệp hoặc nhầm trường. Không có gì "
                "được ghi.") % {"count": count, "total": len(matched),
                                "school": self.school.name})

    def _identity_locked(self, records: Mapping[int, dict[str, Any]]) -> set[int]:
        locked: set[int] = set()
        for chunk in _chunks(sorted(records)):
            locked.update(FieldGroupCheck.objects.filter(
                entity="staff", record_id__in=chunk, group=IDENTITY_GROUP,
                kind=CheckKind.REGISTER, ended_at__isnull=True)
                .values_list("record_id", flat=True))
        return locked

    def _row_plan(self, row: _Row, locked: set[int]) -> StaffRowPlan:
        at = (row.source.sheet, row.source.row)
        if row.rejected:
            return StaffRowPlan(*at, Action.REJECTED)
        record = row.match
        if record is None:
            return StaffRowPlan(*at, Action.NEW, values=dict(row.values))
        pk = record["pk"]
        if record["school_id"] != self.school.pk:
            row.warn(_("Người ở hàng này đang là cán bộ của một trường khác trong CSDL: hàng này "
                       "không được ghi. Chuyển công tác giữa các trường không làm bằng nhập tệp; "
                       "hãy liên hệ trường kia hoặc Sở."), field="full_name")
            return StaffRowPlan(*at, Action.HELD, staff_id=pk)
        changes: dict[str, Any] = {}
        for name, value in row.values.items():
            held = record.get(name)
            if held == value:
                continue
            if name == "subject_codes" and sorted(held or []) == sorted(value):
                continue
            if name == "full_name" and fold_diacritics(str(value)) == value \
                    and name_match_key(str(value)) == record["name_match_key"]:
                continue  # typed without diacritics: the stored spelling is kept
            if name in _IDENTITY and pk in locked and held not in (None, ""):
                row.warn(_("«%(label)s» đã được xác thực với CSDL quốc gia về dân cư; giá trị "
                           "trong tệp khác nhưng không được ghi đè bằng tệp: nếu cần sửa, hãy "
                           "sửa trên hồ sơ kèm lý do.") % {"label": _label(name)},
                         field=_SOURCE_OF.get(name, name))
                continue
            changes[name] = value
        action = Action.UPDATED if changes else Action.UNCHANGED
        return StaffRowPlan(*at, action, values=changes, staff_id=pk,
                            official_id="education_id" in changes)

    def _candidates(self, rows: Sequence[_Row], plans: list[StaffRowPlan],
                    records: Mapping[int, dict[str, Any]]) -> list[StaffRowPlan]:
        """Look-alikes of new staff, and of staff whose name, birth date or ID number the row
        changes: what the registry's entry check will ask about."""
        result = list(plans)
        for index, plan in enumerate(plans):
            if plan.action is Action.NEW:
                found = staff_candidates(plan.values)
            elif plan.action is Action.UPDATED and plan.staff_id is not None \
                    and set(plan.values) & {"full_name", "date_of_birth", "personal_id_number"}:
                record = records[plan.staff_id]
                merged = {name: record[name] for name in ("full_name", "date_of_birth",
                                                          "personal_id_number")}
                merged.update({k: v for k, v in plan.values.items() if k in merged})
                found = staff_candidates(merged, exclude_id=plan.staff_id)
            else:
                continue
            if found:
                result[index] = dataclasses.replace(plan, candidates=tuple(found))
        for row, plan in zip(rows, result, strict=True):
            if plan.candidates and plan.action in WRITING:
                row.warn(_("Có %(count)d hồ sơ cán bộ giống người ở hàng này (%(reasons)s). Nếu "
                           "là cùng một người, hãy ghi mã định danh vào tệp rồi soi thử lại; nếu "
                           "không phải, hãy ghi lý do khi ghi vào CSDL.")
                         % {"count": len(plan.candidates),
                            "reasons": "; ".join(sorted({reason for c in plan.candidates
                                                         for reason in c.reasons}))},
                         field="full_name")
        return result

    # --- quality ------------------------------------------------------------------------------

    def _findings(self, rows: Sequence[_Row], plans: Sequence[StaffRowPlan],
                  records: Mapping[int, dict[str, Any]]) -> list[FindingSummary]:
        """The staff problem rules, in batch, over the records as the commit would leave them;
        a rule of severity "error" on a value the row writes makes the row an error."""
        rule_set = current_rule_set()
        rules = [r for r in rule_set.for_entity("staff") if r.kind is RuleKind.PROBLEM]
        kept = [(row, plan) for row, plan in zip(rows, plans, strict=True)
                if plan.action in WRITING or plan.action is Action.UNCHANGED]
        if not kept or not rules:
            return []
        merged: list[dict[str, Any]] = []
        for _row, plan in kept:
            record = dict(records[plan.staff_id]) if plan.staff_id else {}
            record.update(plan.values)
            merged.append(record)
        shared = self._shared_numbers(merged)
        frame_rows = [{**{name: record.get(name) for name in _RULE_FIELDS},
                       "school_id": self.school.pk, "school_level": self.school.level,
                       "personal_id_shared": int(
                           (str(record.get("personal_id_number") or ""),
                            name_match_key(str(record.get("full_name") or ""))) in shared),
                       TODAY: self.today} for record in merged]
        for frame_row in frame_rows:
            for name in ("education_id", "personal_id_number"):
                frame_row[name] = frame_row[name] or None
        frame = pl.DataFrame(frame_rows, infer_schema_length=None, strict=False)
        result = evaluate_frame(rules, (), frame)
        summaries = []
        for rule in rules:
            hit = result.get_column(rule.code).arg_true().to_list()
            if not hit:
                continue
            if rule.severity is RuleSeverity.ERROR:
                self._blocking(rule, [kept[i] for i in hit])
            summaries.append(FindingSummary(
                rule_code=rule.code, dimension=rule.dimension.value,
                severity=rule.severity.value, message=rule.message, count=len(hit),
                rows=tuple((kept[i][1].sheet, kept[i][1].row) for i in hit[:SAMPLE]),
                record_ids=tuple(pk for i in hit
                                 if (pk := kept[i][1].staff_id) is not None)[:SAMPLE]))
        return summaries

    @staticmethod
    def _blocking(rule: Rule, hit: Sequence[tuple[_Row, StaffRowPlan]]) -> None:
        for row, plan in hit:
            touched = [name for name in rule.fields if name in plan.values]
            if touched and plan.action in WRITING:
                row.error(rule.message, field=_SOURCE_OF.get(touched[0], touched[0]))

    @staticmethod
    def _shared_numbers(merged: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
        """(ID number, name key) of the records whose ID number a pupil or guardian holds
        under another name (the "shared ID" rule)."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for record in merged:
            number = record.get("personal_id_number")
            if number:
                wanted[str(number)].add(name_match_key(str(record.get("full_name") or "")))
        shared: set[tuple[str, str]] = set()
        for queryset in (Student.objects.live(), Guardian.objects.all()):
            for chunk in _chunks(sorted(wanted)):
                for number, key in queryset.filter(personal_id_number__in=chunk).values_list(
                        "personal_id_number", "name_match_key"):
                    shared.update((str(number), own) for own in wanted[str(number)]
                                  if own != key)
        return shared

    # --- fingerprint --------------------------------------------------------------------------

    def _fingerprint(self, plans: Sequence[StaffRowPlan], issues: Sequence[Issue],
                     records: Mapping[int, dict[str, Any]]) -> str:
        touched = sorted({plan.staff_id for plan in plans if plan.staff_id is not None})
        state = {
            "file": self.workbook.sha256, "kind": self.workbook.kind.value,
            "school": self.school.pk, "template": self.workbook.template,
            "rows": [[plan.sheet, plan.row, plan.action.value, plan.staff_id,
                      sorted((name, str(value)) for name, value in plan.values.items()),
                      sorted(c.record_id for c in plan.candidates)] for plan in plans],
            "records": [[pk, records[pk]["updated_at"], records[pk]["school_id"]]
                        for pk in touched],
            "issues": [[i.problem.severity.value, i.problem.sheet, i.problem.row,
                        i.problem.column, i.problem.message] for i in issues],
        }
        text = json.dumps(state, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()


def plan_staff_workbook(workbook: Workbook, *, school: School, actor: Actor | None,
                        today: dt.date, findings: bool = True) -> Plan:
    """The dry run of a staff export for ``school`` (``edureg.intake.plan.plan_workbook``)."""
    return _StaffPlanner(workbook, school=school, actor=actor, today=today,
                         findings=findings).plan()
