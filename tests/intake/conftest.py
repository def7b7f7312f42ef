"""The intake's cast: school A's records clerk (giao) and IT officer (ivan), both having read
the data-protection policy; workbooks built row by row (``workbook``: the reader's output, for
the plan's own tests) or written as real .xlsx files (``xlsx``: through the reader); pupils'
export rows with sensible defaults (``pupil``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from edureg.access.models import User
from edureg.access.roles import Role
from edureg.intake.source import STUDENT_FIELDS, Kind, Problem, SourceRow, Value, Workbook
from edureg.intake.workbook import column_letter
from edureg.privacy.models import PolicyAcknowledgement
from edureg.privacy.policy import policy_in_force
from edureg.seeding.workbook import write_export_workbook
from tests import factories as f
from tests.conftest import Cast

SHEET = "HocSinh"
FIRST_ROW = 7  # the first data row of a workbook built by ``workbook``
COLUMNS = {name: column_letter(index) for index, name in enumerate(STUDENT_FIELDS)}


@pytest.fixture(autouse=True)
def intake_dir(tmp_path: Path, settings: Any) -> Path:
    """Each test keeps its temporary files in its own directory."""
    directory = tmp_path / "intake"
    settings.EDUREG_INTAKE_DIR = directory
    return directory


def _acknowledged(user: User) -> User:
    PolicyAcknowledgement.objects.create(user=user, policy_version=policy_in_force().version,
                                         acknowledged_at=timezone.now())
    return user


@pytest.fixture
def clerk(cast: Cast) -> User:
    """School A's records clerk."""
    return _acknowledged(f.make_user("giao", Role.RECORDS_CLERK, cast.school_a))


@pytest.fixture
def ivan(cast: Cast) -> User:
    """School A's IT officer."""
    return _acknowledged(f.make_user("ivan", Role.IT_OFFICER, cast.school_a))


def pupil(full_name: str = "Võ Thị Mai", **values: Value) -> dict[str, Value]:
    """An export row of a grade-1 pupil of class 1A (canonical fields → values as read)."""
    row: dict[str, Value] = {
        "class_name": "1A", "grade": 1, "full_name": full_name,
        "date_of_birth": dt.date(2020, 3, 1), "sex": "Nữ", "ethnicity": "Kinh",
        "nationality": "Việt Nam", "status": "Đang học",
    }
    row.update(values)
    return row


def workbook(rows: Sequence[Mapping[str, Value]], *, problems: Sequence[Problem] = (),
             kind: Kind = Kind.STUDENT) -> Workbook:
    """What the reader yields for these rows (one row per mapping, from row 7 on)."""
    source = tuple(
        SourceRow(sheet=SHEET, row=FIRST_ROW + index,
                  values=dict(row),
                  columns={name: COLUMNS[name] for name in row if name in COLUMNS})
        for index, row in enumerate(rows))
    digest = hashlib.sha256(repr([sorted(r.items()) for r in rows]).encode()).hexdigest()
    return Workbook(kind=kind, sha256=digest, size=len(rows), sheet=SHEET,
                    template="test", rows=source, problems=tuple(problems), skipped_rows=0)


def xlsx(rows: Sequence[Mapping[str, Value]], *, template: str | None = None) -> bytes:
    """The rows written as a real export workbook (.xlsx), for the reader to read."""
    buffer = io.BytesIO()
    write_export_workbook(buffer, kind=Kind.STUDENT, rows=rows, template=template,
                          today=timezone.localdate())
    return buffer.getvalue()


def row_of(number: int) -> int:
    """The sheet row of the ``number``-th (0-based) mapping given to ``workbook``."""
    return FIRST_ROW + number
