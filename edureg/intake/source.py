"""What reading an export workbook yields, whatever its template version: rows keyed by
canonical field names, each value with the sheet, row and column it came from, and the problems
met while reading. ``edureg.intake.workbook`` produces it; the dry run and the commit
(``edureg.intake.plan``) consume it. Nothing here holds the file itself.

Canonical fields (``STUDENT_FIELDS``, ``STAFF_FIELDS``) are the names the planner knows; values
that name a code-list entry (ethnicity, religion, nationality, status, places…) stay as the text
read — the planner maps them by name with aliases, so that its messages can quote what the file
said.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping

# A value as read: text (stripped, NFC), a date (date columns, parsed), an integer (year and
# grade columns, and whole numbers), or None (empty cell).
Value = str | dt.date | int | None


class Kind(enum.StrEnum):
    STUDENT = "student"
    STAFF = "staff"


# Canonical fields of a pupil row. ``ethnicity``, ``religion``, ``nationality``, ``status``,
# ``disability``, ``*_province`` and ``*_commune`` are names as written in the file.
STUDENT_FIELDS: tuple[str, ...] = (
    "class_name", "grade", "education_id", "temporary_code", "full_name", "date_of_birth",
    "sex", "ethnicity", "religion", "nationality", "personal_id_number", "status",
    "status_date", "phone", "birthplace_text", "hometown_text", "hometown_province",
    "hometown_commune", "permanent_address", "permanent_province", "permanent_commune",
    "current_address", "current_province", "current_commune", "disability", "policy_group",
    "father_name", "father_birth_year", "father_occupation", "father_phone",
    "mother_name", "mother_birth_year", "mother_occupation", "mother_phone",
)
# Canonical fields of a staff row (the ~72-column export; the others are read and ignored).
STAFF_FIELDS: tuple[str, ...] = (
    "education_id", "full_name", "date_of_birth", "sex", "ethnicity", "religion",
    "nationality", "personal_id_number", "phone", "email", "job_position", "position_group",
    "employment_status", "qualification", "subjects",
)
FIELDS: Mapping[Kind, tuple[str, ...]] = {Kind.STUDENT: STUDENT_FIELDS,
                                          Kind.STAFF: STAFF_FIELDS}
# Without these columns a workbook cannot be taken in at all.
REQUIRED_COLUMNS: Mapping[Kind, frozenset[str]] = {
    Kind.STUDENT: frozenset({"full_name", "date_of_birth", "class_name"}),
    Kind.STAFF: frozenset({"full_name", "date_of_birth"}),
}


class Severity(enum.StrEnum):
    ERROR = "error"  # the row (or the file) cannot be taken in as it is
    WARNING = "warning"  # taken in; worth a look


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong, where it is (``sheet``/``row``/``column`` as Excel shows them: row 1 is
    the first row, column "A"), in Vietnamese saying what is wrong and what to do."""

    severity: Severity
    message: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    field: str | None = None


@dataclasses.dataclass(frozen=True)
class SourceRow:
    sheet: str
    row: int  # Excel row number
    values: Mapping[str, Value]  # canonical field → value (only fields the file has)
    columns: Mapping[str, str]  # canonical field → Excel column letter


@dataclasses.dataclass(frozen=True)
class Workbook:
    kind: Kind
    sha256: str  # of the bytes received: recorded in the audit trail instead of the file
    size: int
    sheet: str  # the data sheet read
    template: str  # which header set matched (e.g. "moet-c1-hocsinh-2024")
    rows: tuple[SourceRow, ...]
    problems: tuple[Problem, ...]  # met while reading (row-level and file-level warnings)
    skipped_rows: int  # repeated headers, blank, signature and total rows


class WorkbookRefused(Exception):  # a refusal, not a programming error
    """The file cannot be read as an export at all (not a workbook, encrypted, corrupt, too big,
    too many rows, required columns missing): ``message`` says why and what to do."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
