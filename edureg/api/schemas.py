from __future__ import annotations

import datetime as dt

from ninja import Schema


class CodeListSummary(Schema):
    name: str
    version: str
    versions: list[str]
    entries: int


class CodeEntryOut(Schema):
    code: str
    name: str
    parent: str | None
    aliases: list[str]


class CodeListOut(Schema):
    name: str
    version: str
    valid_from: dt.date
    source: str
    entries: list[CodeEntryOut]


class StudentOut(Schema):
    id: int
    code: str
    full_name: str
    date_of_birth: dt.date | None
    sex: str
    school_id: int
    class_id: int | None
    # Hidden (null) or masked according to the caller's role; see access.visibility.
    ethnicity_code: str | None
    religion_code: str | None
    personal_id_number: str | None
    phone: str | None


class ErrorOut(Schema):
    detail: str
