from __future__ import annotations

import datetime as dt

from ninja import P, QueryEx, Schema

# Text parameters (look-up keys, names of fields) never hold control characters, and
# PostgreSQL cannot compare text with a NUL: such a value is refused as invalid (422).
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
QueryText = QueryEx[str | None, P(pattern=NO_CONTROL_CHARACTERS)]


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


class ParameterErrorOut(Schema):
    location: str  # path, query, header, cookie or body
    name: str
    code: str  # pydantic's error type: int_parsing, greater_than_equal, missing, …


class ValidationErrorOut(ErrorOut):
    """A request whose parameters do not match the operation's description (422)."""

    errors: list[ParameterErrorOut]
