"""Sample export workbooks shaped like the Ministry's and the Department's exports.

For demos and tests of the intake (``edureg.intake``): ``edureg seed --export-workbook PATH``.
The rows are either synthetic (drawn by the seed generator: names, places, families, code
lists) or, with ``--school CODE``, the pupils (or staff) of a seeded demo school as its export
would list them, with a few changes so that a dry run shows new, updated, moved and unchanged
rows. Only a seeded demo database is accepted for ``--school``: the file holds personal data,
and demo data is synthetic.

The writer reproduces what importers meet in real exports (DOMAIN.md §5): title rows above the
header; header versions (columns reordered, header text with line breaks, headers in NFD, a
two-row header with merged group cells, a row of column numbers); dates as dd/mm/yyyy text in
some rows, as date cells in others and as bare Excel serial numbers in a few; ID numbers,
education ids and phones stored as numbers (leading zeros lost); class names merged down their
block of rows; a repeated header in the middle (concatenated pages); a total row and the
signature block at the end; ethnicity names in their spelling variants; grade-1 pupils with a
temporary code instead of the Ministry's. ``plant_errors`` adds impossible and future dates and
missing names.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import xlsxwriter  # type: ignore[import-untyped]
from xlsxwriter.format import Format  # type: ignore[import-untyped]
from xlsxwriter.worksheet import Worksheet  # type: ignore[import-untyped]

from edureg.audit.models import AuditEvent
from edureg.core.codelists import CodeList, get_list
from edureg.intake.source import Kind, Value
from edureg.intake.workbook import HeaderSet, Template, header_key, header_sets
from edureg.registry.models import Enrolment, SchoolClass, Staff, StudentGuardian
from edureg.schools.models import School
from edureg.seeding.generator import TABLE_FIELDS, TABLE_ORDER, CodeLists, GenerationPlan, generate
from edureg.seeding.options import ProblemRates

__all__ = [
    "DEFAULT_TEMPLATES",
    "ExpectedChanges",
    "ExportRefusedError",
    "PlantedError",
    "WrittenWorkbook",
    "school_export_rows",
    "synthetic_rows",
    "write_export_workbook",
]

Row = dict[str, Value]

DEFAULT_TEMPLATES: Final = {Kind.STUDENT: "hcm-hocsinh-2025-nhom", Kind.STAFF: "moet-canbo-2024"}
# Writer quirks per template (the reader must undo every one of them).
_LINE_BREAK_HEADERS: Final = frozenset({"hcm-hocsinh-2025", "moet-canbo-2024"})
_NFD_HEADERS: Final = frozenset({"hcm-hocsinh-2025", "moet-c1-hocsinh-2023"})
_COLUMN_NUMBERS: Final = frozenset({"moet-c1-hocsinh-2024", "moet-canbo-2022"})
_MERGED_CLASS: Final = frozenset({"moet-c1-hocsinh-2023"})
_CODE_LIST_SHEETS: Final = frozenset({"moet-c1-hocsinh-2024", "moet-canbo-2024"})
_FIRST_HEADER_ROW: Final = 5  # 0-based: four title rows and a blank row above
_EXCEL_EPOCH: Final = dt.date(1899, 12, 30)
# Spellings of the same ethnic group met in exports (aliases of the ethnicity code list).
_ETHNICITY_VARIANTS: Final = (("Khmer", "Khơ-me", "Khơ me"), ("Mông", "H'Mông", "Hmông"))
_AUTHORITY_PROVINCE: Final = "Hồ Chí Minh"
_SIGNERS: Final = ("Nguyễn Thị Thu Hà", "Trần Minh Khoa")

_DATE_FIELDS: Final = frozenset({"date_of_birth", "status_date"})
_NUMBER_FIELDS: Final = frozenset({"grade", "father_birth_year", "mother_birth_year"})
_PHONE_FIELDS: Final = frozenset({"phone", "father_phone", "mother_phone"})


class ExportRefusedError(Exception):
    """The sample cannot be written as asked; ``message`` says why, in Vietnamese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class PlantedError:
    row: int  # Excel row number
    field: str
    kind: str  # "impossible_date", "future_date", "missing_name"


@dataclass(frozen=True, slots=True)
class ExpectedChanges:
    """What a dry run of a ``--school`` sample against the database should find."""

    new: int = 0
    updated: int = 0
    moved: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class WrittenWorkbook:
    kind: Kind
    template: str
    sheet: str
    # The rows as meant (before planted errors), in file order, with their Excel row numbers.
    rows: tuple[Mapping[str, Value], ...]
    row_numbers: tuple[int, ...]
    planted: tuple[PlantedError, ...]
    # Rows below the header that are not data: column numbers, repeated header, blank,
    # total and signature rows.
    skipped_rows: int
    expected: ExpectedChanges = field(default_factory=ExpectedChanges)


# --- rows ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Names:
    """Code → display name for every list an export spells out."""

    lists: Mapping[str, CodeList]

    def name(self, list_name: str, code: str | None) -> str | None:
        if not code:
            return None
        return self.lists[list_name].name_of(code)

    @classmethod
    def load(cls) -> _Names:
        names = ("sex", "ethnicity", "religion", "nationality", "disability", "policy_group",
                 "enrolment_status", "province", "commune", "job_position", "position_group",
                 "employment_status", "qualification", "subject")
        return cls({name: get_list(name) for name in names})


def _generation_lists() -> CodeLists:
    names = ("province", "commune", "legacy_province", "legacy_district", "legacy_ward",
             "school_level", "subject", "job_position", "enrolment_status", "guardian_relation",
             "preschool_age_group")
    loaded = {name: get_list(name) for name in names}
    versions = {name: get_list(name).version for name in (
        *names, "sex", "ethnicity", "religion", "nationality", "disability", "policy_group",
        "position_group", "employment_status", "qualification")}
    return CodeLists(
        province=loaded["province"], commune=loaded["commune"],
        legacy_province=loaded["legacy_province"], legacy_district=loaded["legacy_district"],
        legacy_ward=loaded["legacy_ward"], school_level=loaded["school_level"],
        subject=loaded["subject"], job_position=loaded["job_position"],
        enrolment_status=loaded["enrolment_status"],
        guardian_relation=loaded["guardian_relation"],
        preschool_age_group=loaded["preschool_age_group"], versions=versions,
    )


def _start_year(today: dt.date) -> int:
    return today.year if today.month >= 8 else today.year - 1


def _generated_tables(*, students: int, seed: int,
                      today: dt.date) -> dict[str, list[dict[str, Any]]]:
    """One synthetic school drawn by the seed generator, as dicts per table (no database)."""
    lists = _generation_lists()
    province = lists.province.match(_AUTHORITY_PROVINCE)
    if province is None:
        raise ExportRefusedError("Không tìm thấy Thành phố Hồ Chí Minh trong danh mục tỉnh.")
    plan = GenerationPlan(
        seed=seed, schools=1, students_per_school=students,
        rates=ProblemRates(0.0, 0.0, 0.0, 0.0, 0.0), start_year=_start_year(today),
        province_code=province.code, authority_code="SGD79",
        authority_name="Sở Giáo dục và Đào tạo Thành phố Hồ Chí Minh",
        id_bases=dict.fromkeys(TABLE_ORDER, 1), demo_password_hash="!",  # noqa: S106 - no accounts are written
        timestamp="",
        chunk_students=students + 1,
    )
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLE_ORDER}
    for batch in generate(plan, lists):
        for name, rows in batch.rows.items():
            fields = TABLE_FIELDS[name]
            tables[name].extend(dict(zip(fields, row, strict=True)) for row in rows)
    return tables


def _iso_date(value: object) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value:
        return dt.date.fromisoformat(value)
    return None


def _ethnicity(names: _Names, code: str | None, index: int) -> str | None:
    if code == "05":
        return _ETHNICITY_VARIANTS[0][index % 3]
    if code == "08":
        return _ETHNICITY_VARIANTS[1][index % 3]
    return names.name("ethnicity", code)


def _student_row(names: _Names, student: Mapping[str, Any], *, class_name: str, grade: int,
                 status: str | None, status_date: dt.date | None,
                 father: Mapping[str, Any] | None, mother: Mapping[str, Any] | None,
                 index: int) -> Row:
    def parent(person: Mapping[str, Any] | None, key: str) -> Value:
        if person is None:
            return None
        value = person.get(key)
        return value if value not in ("", None) else None

    return {
        "class_name": class_name, "grade": grade,
        "education_id": student.get("education_id") or None,
        "temporary_code": student.get("temporary_code") or None,
        "full_name": student["full_name"],
        "date_of_birth": _iso_date(student.get("date_of_birth")),
        "sex": names.name("sex", student.get("sex")),
        "ethnicity": _ethnicity(names, student.get("ethnicity_code"), index),
        "religion": names.name("religion", student.get("religion_code")),
        "nationality": names.name("nationality", student.get("nationality_code")),
        "personal_id_number": student.get("personal_id_number") or None,
        "status": names.name("enrolment_status", status),
        "status_date": status_date,
        "phone": student.get("phone") or None,
        "birthplace_text": student.get("birthplace_text") or None,
        "hometown_text": student.get("hometown_text") or None,
        "hometown_province": names.name("province", student.get("hometown_province")),
        "hometown_commune": names.name("commune", student.get("hometown_commune")),
        "permanent_address": student.get("permanent_address") or None,
        "permanent_province": names.name("province", student.get("permanent_province")),
        "permanent_commune": names.name("commune", student.get("permanent_commune")),
        "current_address": student.get("current_address") or None,
        "current_province": names.name("province", student.get("current_province")),
        "current_commune": names.name("commune", student.get("current_commune")),
        "disability": names.name("disability", student.get("disability_code")),
        "policy_group": names.name("policy_group", student.get("policy_group_code")),
        "father_name": parent(father, "full_name"),
        "father_birth_year": parent(father, "birth_year"),
        "father_occupation": parent(father, "occupation"),
        "father_phone": parent(father, "phone"),
        "mother_name": parent(mother, "full_name"),
        "mother_birth_year": parent(mother, "birth_year"),
        "mother_occupation": parent(mother, "occupation"),
        "mother_phone": parent(mother, "phone"),
    }


def _staff_row(names: _Names, staff: Mapping[str, Any], index: int) -> Row:
    subjects = staff.get("subject_codes") or []
    if isinstance(subjects, str):
        subjects = json.loads(subjects)
    return {
        "education_id": staff.get("education_id") or None,
        "full_name": staff["full_name"],
        "date_of_birth": _iso_date(staff.get("date_of_birth")),
        "sex": names.name("sex", staff.get("sex")),
        "ethnicity": _ethnicity(names, staff.get("ethnicity_code"), index),
        "religion": names.name("religion", staff.get("religion_code")),
        "nationality": names.name("nationality", staff.get("nationality_code")),
        "personal_id_number": staff.get("personal_id_number") or None,
        "phone": staff.get("phone") or None,
        "email": staff.get("email") or None,
        "job_position": names.name("job_position", staff.get("job_position_code")),
        "position_group": names.name("position_group", staff.get("position_group_code")),
        "employment_status": names.name("employment_status",
                                        staff.get("employment_status_code")),
        "qualification": names.name("qualification", staff.get("qualification_code")),
        "subjects": ", ".join(names.lists["subject"].name_of(code) for code in subjects) or None,
    }


def synthetic_rows(kind: Kind, *, count: int, seed: int, today: dt.date) -> list[Row]:
    """``count`` export rows of one synthetic school, in the export's order (class, name)."""
    if count < 1:
        raise ExportRefusedError("--rows phải là số nguyên lớn hơn 0.")
    names = _Names.load()
    if kind == Kind.STAFF:
        tables = _generated_tables(students=max(38, count * 25), seed=seed, today=today)
        staff = tables["registry.Staff"][:count]
        return [_staff_row(names, person, index) for index, person in enumerate(staff)]
    tables = _generated_tables(students=count, seed=seed, today=today)
    classes = {row["id"]: row for row in tables["registry.SchoolClass"]}
    guardians = {row["id"]: row for row in tables["registry.Guardian"]}
    parents: dict[int, dict[str, dict[str, Any]]] = {}
    for link in tables["registry.StudentGuardian"]:
        relation = {"01": "father", "02": "mother"}.get(link["relation_code"])
        if relation:
            parents.setdefault(link["student_id"], {})[relation] = guardians[link["guardian_id"]]
    enrolments = {row["student_id"]: row for row in tables["registry.Enrolment"]}
    students = sorted(
        tables["registry.Student"],
        key=lambda row: (classes[row["current_class_id"]]["grade"],
                         classes[row["current_class_id"]]["name"], row["name_sort_key"]),
    )
    rows = []
    for index, student in enumerate(students):
        school_class = classes[student["current_class_id"]]
        enrolment = enrolments[student["id"]]
        family = parents.get(student["id"], {})
        since = _iso_date(enrolment["status_since"])
        row = _student_row(
            names, student, class_name=school_class["name"], grade=school_class["grade"],
            status=enrolment["status_code"], status_date=min(since, today) if since else None,
            father=family.get("father"), mother=family.get("mother"), index=index,
        )
        # Grade-1 pupils waiting for their Ministry code carry the school's temporary code.
        if row["grade"] == 1 and index % 6 == 1 and row["education_id"]:
            row["temporary_code"] = f"TMP{_start_year(today)}{index + 1:07d}"
            row["education_id"] = None
        # Spelling variants of ethnic groups: a few pupils of groups with several spellings.
        if index % 17 == 3:
            row["ethnicity"] = _ETHNICITY_VARIANTS[0][(index // 17) % 3]
        elif index % 17 == 9:
            row["ethnicity"] = _ETHNICITY_VARIANTS[1][(index // 17) % 3]
        rows.append(row)
    return rows


# --- a demo school's export ----------------------------------------------------------------


def _seeded_school(code: str) -> School:
    school = School.objects.select_related("authority").filter(code=code).first()
    if school is None:
        raise ExportRefusedError(f"Không tìm thấy trường có mã {code!r}.")
    seeded = AuditEvent.objects.filter(action="seed.bulk_load",
                                       entity_id=str(school.authority_id)).exists()
    if not seeded:
        raise ExportRefusedError(
            f"Trường {code} không thuộc dữ liệu mẫu do edureg seed tạo ra: chỉ được xuất tệp "
            "mẫu từ cơ sở dữ liệu demo (tệp chứa dữ liệu cá nhân)."
        )
    return school


def school_export_rows(code: str, *, kind: Kind, seed: int, today: dt.date
                       ) -> tuple[School, list[Row], ExpectedChanges]:
    """The export of a seeded demo school, changed a little: a few pupils moved to another
    class of their grade, a few phones edited, a few new pupils (or staff) added."""
    school = _seeded_school(code)
    names = _Names.load()
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    if kind == Kind.STAFF:
        return school, *_staff_export(school, names, rng, seed=seed, today=today)
    enrolments = list(
        Enrolment.objects.filter(school=school, is_current=True,
                                 student__merged_into__isnull=True)
        .select_related("student", "school_class")
        .order_by("grade", "school_class__name", "student__name_sort_key", "student_id")
    )
    if not enrolments:
        raise ExportRefusedError(f"Trường {code} chưa có học sinh nào đang học.")
    parents: dict[int, dict[str, dict[str, Any]]] = {}
    links = (StudentGuardian.objects.filter(student__school=school,
                                            relation_code__in=("01", "02"))
             .select_related("guardian"))
    for link in links:
        relation = "father" if link.relation_code == "01" else "mother"
        guardian = link.guardian
        parents.setdefault(link.student_id, {})[relation] = {
            "full_name": guardian.full_name, "birth_year": guardian.birth_year,
            "occupation": guardian.occupation, "phone": guardian.phone,
        }
    rows: list[Row] = []
    for index, enrolment in enumerate(enrolments):
        student = enrolment.student
        values = {name: getattr(student, name) for name in TABLE_FIELDS["registry.Student"]
                  if hasattr(student, name)}
        school_class = enrolment.school_class
        family = parents.get(student.pk, {})
        rows.append(_student_row(
            names, values, class_name=school_class.name if school_class else "",
            grade=enrolment.grade, status=enrolment.status_code,
            status_date=min(enrolment.status_since, today), father=family.get("father"),
            mother=family.get("mother"), index=index,
        ))
    classes_by_grade: dict[int, list[str]] = {}
    year_ids = {enrolment.school_year_id for enrolment in enrolments}
    for school_class in SchoolClass.objects.filter(school=school, school_year_id__in=year_ids):
        classes_by_grade.setdefault(school_class.grade, []).append(school_class.name)
    positions = list(range(len(rows)))
    rng.shuffle(positions)
    share = max(1, len(rows) // 30)
    moved = 0
    for position in positions[:share]:
        row = rows[position]
        grade = row["grade"]
        options = [name for name in classes_by_grade.get(grade if isinstance(grade, int) else -1,
                                                         [])
                   if name != row["class_name"]]
        if options:
            row["class_name"] = rng.choice(sorted(options))
            moved += 1
    updated = 0
    for position in positions[share:2 * share]:
        rows[position]["phone"] = _mobile(rng)
        updated += 1
    new_rows = _new_pupils(rows, count=max(2, len(rows) // 50), rng=rng, seed=seed,
                           today=today)
    rows.extend(new_rows)
    rows.sort(key=lambda row: (row["grade"] if isinstance(row["grade"], int) else 0,
                               str(row["class_name"])))
    unchanged = len(enrolments) - moved - updated
    return school, rows, ExpectedChanges(new=len(new_rows), updated=updated, moved=moved,
                                         unchanged=unchanged)


def _mobile(rng: random.Random) -> str:
    return f"09{rng.choice('0134678')}{rng.randrange(10_000_000):07d}"


def _new_pupils(existing: Sequence[Row], *, count: int, rng: random.Random, seed: int,
                today: dt.date) -> list[Row]:
    """Pupils the database does not have yet, in the school's own classes."""
    drawn = synthetic_rows(Kind.STUDENT, count=count, seed=seed + 100_003, today=today)
    classes = sorted({(int(row["grade"]), str(row["class_name"])) for row in existing
                      if isinstance(row["grade"], int)})
    start_year = _start_year(today)
    result = []
    for row in drawn:
        grade, class_name = rng.choice(classes)
        born = row["date_of_birth"]
        year = start_year - 5 - grade if grade else start_year - 4
        if isinstance(born, dt.date):
            born = dt.date(year, born.month, min(born.day, 28))
        number = row["personal_id_number"]
        if isinstance(number, str) and len(number) == 12 and isinstance(born, dt.date):
            century = (born.year // 100 - 19) * 2 + int(number[3]) % 2
            number = f"{number[:3]}{century}{born.year % 100:02d}{number[6:]}"
        temporary = grade == 1 and rng.random() < 0.5
        row.update({
            "grade": grade, "class_name": class_name, "date_of_birth": born,
            "personal_id_number": number, "status": "Chuyển đến",
            "education_id": None if temporary else f"{rng.randrange(10**10):010d}",
            "temporary_code": f"TMP{start_year}{rng.randrange(10**7):07d}" if temporary else None,
        })
        result.append(row)
    return result


def _staff_export(school: School, names: _Names, rng: random.Random, *, seed: int,
                  today: dt.date) -> tuple[list[Row], ExpectedChanges]:
    people = list(Staff.objects.filter(school=school).order_by("name_sort_key", "pk"))
    if not people:
        raise ExportRefusedError(f"Trường {school.code} chưa có cán bộ nào.")
    rows = []
    for index, person in enumerate(people):
        values = {name: getattr(person, name) for name in TABLE_FIELDS["registry.Staff"]
                  if hasattr(person, name)}
        rows.append(_staff_row(names, values, index))
    positions = list(range(len(rows)))
    rng.shuffle(positions)
    updated = max(1, len(rows) // 20)
    for position in positions[:updated]:
        rows[position]["phone"] = _mobile(rng)
    new_rows = synthetic_rows(Kind.STAFF, count=2, seed=seed + 100_003, today=today)
    for row in new_rows:
        row["education_id"] = f"{rng.randrange(10**10):010d}"
    rows.extend(new_rows)
    return rows, ExpectedChanges(new=len(new_rows), updated=updated,
                                 unchanged=len(people) - updated)


# --- writing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Column:
    header: str  # as in headers.toml ("Group > Column" under a group)
    field: str | None  # None: a column edureg does not read


def _columns(headers: HeaderSet, template: Template) -> list[_Column]:
    columns = []
    for text in template.headers:
        field = headers.by_key.get(header_key(text))
        if field is None:
            without = header_key(text.split("(")[0]) if "(" in text else ""
            field = headers.by_key.get(without)
        columns.append(_Column(text, field))
    return columns


def _header_text(text: str, *, index: int, template: str) -> str:
    if template in _LINE_BREAK_HEADERS:
        if " (" in text:
            text = text.replace(" (", "\n(", 1)
        else:
            words = text.split(" ")
            if len(words) >= 3:
                middle = len(words) // 2
                text = " ".join(words[:middle]) + "\n" + " ".join(words[middle:])
    if template in _NFD_HEADERS and index % 2 == 1:
        text = unicodedata.normalize("NFD", text)
    return text


class _Sheet:
    """Writes rows in order, counting the structural ones."""

    def __init__(self, worksheet: Worksheet, formats: Mapping[str, Format],
                 columns: Sequence[_Column], template: str) -> None:
        self.worksheet = worksheet
        self.formats = formats
        self.columns = columns
        self.template = template
        self.row = 0
        self.structural = 0
        self.two_rows = any(" > " in column.header for column in columns)

    def header(self, *, structural: bool) -> None:
        worksheet, bold = self.worksheet, self.formats["header"]
        texts = [_header_text(column.header, index=index, template=self.template)
                 for index, column in enumerate(self.columns)]
        if not self.two_rows:
            worksheet.write_row(self.row, 0, texts, bold)
            self.advance(1, structural=structural)
            return
        top = self.row
        index = 0
        while index < len(texts):
            group, _sep, sub = texts[index].partition(" > ")
            if not sub:
                worksheet.merge_range(top, index, top + 1, index, group, bold)
                index += 1
                continue
            end = index
            while end + 1 < len(texts) and texts[end + 1].partition(" > ")[0] == group:
                end += 1
            if end > index:
                worksheet.merge_range(top, index, top, end, group, bold)
            else:
                worksheet.write_string(top, index, group, bold)
            for column in range(index, end + 1):
                worksheet.write_string(top + 1, column, texts[column].partition(" > ")[2], bold)
            index = end + 1
        self.advance(2, structural=structural)

    def advance(self, rows: int, *, structural: bool) -> None:
        self.row += rows
        if structural:
            self.structural += rows


def _write_value(worksheet: Worksheet, row: int, column: int, field: str, value: Value,
                 *, index: int, formats: Mapping[str, Format]) -> None:
    if value is None or value == "":
        return
    if isinstance(value, dt.date):
        if index % 7 == 1:
            worksheet.write_number(row, column, (value - _EXCEL_EPOCH).days)
        elif index % 3 == 0:
            worksheet.write_datetime(row, column, dt.datetime.combine(value, dt.time()),
                                     formats["date"])
        else:
            worksheet.write_string(row, column, value.strftime("%d/%m/%Y"))
        return
    if isinstance(value, int):
        worksheet.write_number(row, column, value)
        return
    text = str(value)
    as_number = (
        (field == "personal_id_number" and index % 4 == 1)
        or (field == "education_id" and index % 5 == 2)
        or (field in _PHONE_FIELDS and index % 6 == 3)
    )
    if as_number and text.isdigit() and len(text) <= 15:
        worksheet.write_number(row, column, int(text))
        return
    if field == "full_name" and index % 11 == 5:
        text = unicodedata.normalize("NFD", text)
    worksheet.write_string(row, column, text)


def write_export_workbook(
    target: Path | IO[bytes], *, kind: Kind, rows: Sequence[Mapping[str, Value]],
    template: str | None = None, school_name: str = "", today: dt.date,
    plant_errors: bool = False, seed: int = 1, constant_memory: bool = False,
    expected: ExpectedChanges | None = None,
) -> WrittenWorkbook:
    """Write ``rows`` (canonical fields → values) as an export of ``template``."""
    headers = header_sets()[kind]
    chosen = headers.template(template or DEFAULT_TEMPLATES[kind])
    columns = _columns(headers, chosen)
    options: dict[str, Any] = {"constant_memory": constant_memory}
    if not isinstance(target, Path):
        options["in_memory"] = True
    workbook = xlsxwriter.Workbook(str(target) if isinstance(target, Path) else target, options)
    formats = {
        "header": workbook.add_format({"bold": True, "text_wrap": True, "align": "center",
                                       "valign": "vcenter", "border": 1}),
        "title": workbook.add_format({"bold": True}),
        "date": workbook.add_format({"num_format": "dd/mm/yyyy"}),
    }
    sheet_name = chosen.sheet or "Sheet1"
    worksheet = workbook.add_worksheet(sheet_name)
    sheet = _Sheet(worksheet, formats, columns, chosen.name)
    title = chosen.title + f" NĂM HỌC {_start_year(today)}-{_start_year(today) + 1}"
    for text in ("SỞ GIÁO DỤC VÀ ĐÀO TẠO THÀNH PHỐ HỒ CHÍ MINH",
                 (school_name or "Trường Tiểu học Lê Quý Đôn").upper(), title,
                 f"Ngày xuất: {today:%d/%m/%Y}"):
        worksheet.write_string(sheet.row, 0, text, formats["title"])
        sheet.advance(1, structural=False)
    sheet.advance(_FIRST_HEADER_ROW - sheet.row, structural=False)
    sheet.header(structural=False)
    if chosen.name in _COLUMN_NUMBERS:
        worksheet.write_row(sheet.row, 0, [f"({n + 1})" for n in range(len(columns))])
        sheet.advance(1, structural=True)
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    planted_at: dict[int, str] = {}
    if plant_errors and rows:
        chosen_rows = rng.sample(range(len(rows)), k=min(len(rows), 4))
        kinds = ("impossible_date", "missing_name", "future_date", "impossible_date")
        planted_at = dict(zip(chosen_rows, kinds, strict=False))
    repeat_at = _repeat_position(rows) if kind == Kind.STUDENT else (
        len(rows) // 2 if len(rows) >= 10 else None)
    class_column = next((i for i, c in enumerate(columns) if c.field == "class_name"), None)
    # Without a column of its own, a temporary code goes where the Ministry's code would be.
    temporary_in_code_column = all(column.field != "temporary_code" for column in columns)
    runs = (_class_runs(rows, repeat_at)
            if chosen.name in _MERGED_CLASS and class_column is not None else {})
    row_numbers: list[int] = []
    planted: list[PlantedError] = []
    for index, values in enumerate(rows):
        if index == repeat_at:
            sheet.header(structural=True)
        row_numbers.append(sheet.row + 1)
        for position, column in enumerate(columns):
            if column.field is None:
                if header_key(column.header) == "stt":
                    worksheet.write_number(sheet.row, position, index + 1)
                continue
            value = values.get(column.field)
            if (column.field == "education_id" and value is None
                    and temporary_in_code_column):
                value = values.get("temporary_code")
            if runs and position == class_column:
                # The class name is written once per block, merged down over its rows.
                if index in runs:
                    text = "" if value is None else str(value)
                    if runs[index] > 1:
                        worksheet.merge_range(sheet.row, position, sheet.row + runs[index] - 1,
                                              position, text)
                    else:
                        worksheet.write_string(sheet.row, position, text)
                continue
            if index in planted_at:
                value = _planted(planted_at[index], column.field, value, today, planted,
                                 sheet.row + 1)
            _write_value(worksheet, sheet.row, position, column.field, value, index=index,
                         formats=formats)
        sheet.advance(1, structural=False)
    _footer(sheet, kind=kind, count=len(rows), today=today)
    if chosen.name in _CODE_LIST_SHEETS:
        _code_list_sheets(workbook, kind)
    workbook.close()
    return WrittenWorkbook(
        kind=kind, template=chosen.name, sheet=sheet_name,
        rows=tuple(dict(row) for row in rows), row_numbers=tuple(row_numbers),
        planted=tuple(planted), skipped_rows=sheet.structural,
        expected=expected or ExpectedChanges(),
    )


def _repeat_position(rows: Sequence[Mapping[str, Value]]) -> int | None:
    """A class boundary near the middle: where a concatenated export repeats its header."""
    if len(rows) < 10:
        return None
    middle = len(rows) // 2
    boundaries = [index for index in range(1, len(rows))
                  if rows[index].get("class_name") != rows[index - 1].get("class_name")]
    if not boundaries:
        return middle
    return min(boundaries, key=lambda index: abs(index - middle))


def _class_runs(rows: Sequence[Mapping[str, Value]], repeat_at: int | None) -> dict[int, int]:
    """First row index → length of each run of one class (a repeated header ends a run)."""
    runs: dict[int, int] = {}
    first = 0
    for index in range(1, len(rows) + 1):
        if (index == len(rows) or index == repeat_at
                or rows[index].get("class_name") != rows[first].get("class_name")):
            runs[first] = index - first
            first = index
    return runs


def _planted(kind: str, field: str, value: Value, today: dt.date, planted: list[PlantedError],
             row: int) -> Value:
    if kind == "missing_name" and field == "full_name":
        planted.append(PlantedError(row, field, kind))
        return None
    if field != "date_of_birth":
        return value
    if kind == "impossible_date":
        year = value.year if isinstance(value, dt.date) else today.year - 8
        planted.append(PlantedError(row, field, kind))
        return f"31/02/{year}"
    if kind == "future_date":
        planted.append(PlantedError(row, field, kind))
        return (today + dt.timedelta(days=40)).strftime("%d/%m/%Y")
    return value


def _footer(sheet: _Sheet, *, kind: Kind, count: int, today: dt.date) -> None:
    worksheet = sheet.worksheet
    width = len(sheet.columns)
    right = max(3, min(width - 3, 8))
    sheet.advance(1, structural=True)
    noun = "học sinh" if kind == Kind.STUDENT else "cán bộ, giáo viên, nhân viên"
    worksheet.merge_range(sheet.row, 0, sheet.row, 2, f"Tổng cộng: {count} {noun}")
    sheet.advance(2, structural=True)
    worksheet.write_string(
        sheet.row, right,
        f"TP. Hồ Chí Minh, ngày {today.day:02d} tháng {today.month:02d} năm {today.year}",
    )
    sheet.advance(1, structural=True)
    worksheet.write_string(sheet.row, 1, "Người lập biểu")
    worksheet.write_string(sheet.row, right, "Hiệu trưởng")
    sheet.advance(1, structural=True)
    worksheet.write_string(sheet.row, 1, "(Ký, ghi rõ họ tên)")
    worksheet.write_string(sheet.row, right, "(Ký tên, đóng dấu)")
    sheet.advance(4, structural=True)
    worksheet.write_string(sheet.row, 1, _SIGNERS[0])
    worksheet.write_string(sheet.row, right, _SIGNERS[1])
    sheet.advance(1, structural=True)


def _code_list_sheets(workbook: xlsxwriter.Workbook, kind: Kind) -> None:
    """The small code-list sheets the Ministry's exports carry beside the data sheet."""
    lists: tuple[tuple[str, str, str, str], ...] = (
        ("DM_DanToc", "ethnicity", "Mã dân tộc", "Tên dân tộc"),
        ("DM_TonGiao", "religion", "Mã tôn giáo", "Tên tôn giáo"),
    )
    if kind == Kind.STUDENT:
        lists += (("DM_TrangThai", "enrolment_status", "Mã trạng thái", "Tên trạng thái"),)
    for sheet_name, list_name, code_header, name_header in lists:
        worksheet = workbook.add_worksheet(sheet_name)
        worksheet.write_row(0, 0, [code_header, name_header])
        for row, entry in enumerate(get_list(list_name).entries, start=1):
            worksheet.write_row(row, 0, [entry.code, entry.name])
