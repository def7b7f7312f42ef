"""The HTTP contract of the upward exchange, shared by the real adapter and the simulator.

    POST {base}/v1/changes
    Authorization: Bearer <token>          X-Request-Id: <one per attempt>
    {"changes": [{"change_id": "ev-1234", "entity": "student", "record_id": 42,
                  "sequence": 1234, "school_code": "79760101", "education_id": null,
                  "temporary_code": "T-79760101-000042",
                  "fields": {"full_name": "Nguyễn Thị Hoà", "date_of_birth": "2019-05-01",
                             "sex": "F", …}}]}                      (1 … MAX_BATCH changes)

    200 {"results": [{"change_id": "ev-1234", "status": "accepted", "field_errors": {},
                      "education_id": "9900000001",
                      "acknowledged_at": "2025-09-01T08:00:00.123456+00:00"}]}
    400 / 401 / 403 / 413 / 422 … {"error": {"code": "…", "message": "…"}}   permanent
    408 / 425 / 429 (Retry-After: seconds or a date), every 5xx             transient

A 200 answer holds one result per change sent, in the order sent (a change id sent twice in a
batch is answered twice, the second time ``duplicate``). Anything else in a 200 answer (not
JSON, wrong types, unknown statuses, education ids that are not 1–20 letters and digits, naive
times, results missing, extra, repeated or out of order, a body over ``MAX_RESPONSE_BYTES``) is
a malformed answer: ``UpstreamError`` (transient), never a result. Error texts of this module
name fields and positions, never their values.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Annotated, Any, Final, Literal

import pydantic
from django.utils.translation import gettext_lazy

from edureg.core.messages.contract import is_permanent, retry_after_seconds
from edureg.sync.upstream.port import (
    MAX_BATCH,
    ChangeResult,
    RecordChange,
    UpstreamError,
)

CHANGES_PATH: Final = "/v1/changes"
CHANGE_ID_PATTERN: Final = r"^[A-Za-z0-9._-]{1,64}$"
EDUCATION_ID_PATTERN: Final = r"^[A-Za-z0-9]{1,20}$"
MAX_FIELDS: Final = 200
MAX_VALUE_LENGTH: Final = 2_000
# 500 changes of a few dozen fields each; beyond this a request is refused unread (413).
MAX_REQUEST_BYTES: Final = 16_000_000
# 500 results, each with a few field errors, are well under this; beyond it is no answer.
MAX_RESPONSE_BYTES: Final = 2_000_000

_AUTH_REFUSED = gettext_lazy(
    "CSDL ngành (Bộ GD&ĐT) từ chối thông tin xác thực của edureg (HTTP {status}); cần kiểm tra "
    "EDUREG_UPSTREAM_TOKEN và quyền kết nối.")
_TOO_LARGE = gettext_lazy(
    "Lô thay đổi vượt giới hạn của CSDL ngành (Bộ GD&ĐT) (HTTP 413); cần giảm số thay đổi "
    "mỗi lô.")
_BAD_BATCH = gettext_lazy(
    "CSDL ngành (Bộ GD&ĐT) không chấp nhận định dạng lô thay đổi (HTTP {status}); cần kiểm tra "
    "phiên bản giao thức đồng bộ.")
_NOT_SENDABLE = gettext_lazy(
    "Lô thay đổi không đúng giao thức đồng bộ ({fields}); không gửi lên CSDL ngành.")

_Key = Annotated[str, pydantic.StringConstraints(min_length=1, max_length=64)]
_Value = Annotated[str, pydantic.StringConstraints(max_length=MAX_VALUE_LENGTH)]
_Reason = Annotated[str, pydantic.StringConstraints(min_length=1, max_length=500)]
_Fields = Annotated[dict[_Key, _Value | None], pydantic.Field(max_length=MAX_FIELDS)]
_FieldErrors = Annotated[dict[_Key, _Reason], pydantic.Field(max_length=MAX_FIELDS)]


class WireChange(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True, extra="forbid", frozen=True)

    change_id: pydantic.constr(pattern=CHANGE_ID_PATTERN)  # type: ignore[valid-type]
    entity: pydantic.constr(min_length=1, max_length=32)  # type: ignore[valid-type]
    record_id: pydantic.conint(ge=1)  # type: ignore[valid-type]
    sequence: pydantic.conint(ge=0)  # type: ignore[valid-type]
    school_code: pydantic.constr(min_length=1, max_length=32)  # type: ignore[valid-type]
    # Checked per change by the upstream (a bad one rejects that change, not the batch).
    education_id: pydantic.constr(min_length=1, max_length=64) | None = None  # type: ignore[valid-type]
    temporary_code: pydantic.constr(min_length=1, max_length=64) | None = None  # type: ignore[valid-type]
    fields: _Fields


class WireRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True, extra="forbid", frozen=True)

    changes: pydantic.conlist(WireChange, min_length=1)  # type: ignore[valid-type]


class WireResult(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True, extra="ignore", frozen=True)

    change_id: pydantic.constr(pattern=CHANGE_ID_PATTERN)  # type: ignore[valid-type]
    status: Literal["accepted", "duplicate", "rejected", "stale"]
    field_errors: _FieldErrors = {}
    education_id: pydantic.constr(pattern=EDUCATION_ID_PATTERN) | None = None  # type: ignore[valid-type]
    acknowledged_at: pydantic.AwareDatetime


class WireResponse(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True, extra="ignore", frozen=True)

    results: pydantic.conlist(WireResult, max_length=MAX_BATCH)  # type: ignore[valid-type]


class InvalidBatch(ValueError):
    """A batch outside the contract. ``fields``: where it is at fault (``changes.3.record_id``;
    never a value); ``too_many``: it holds more than ``MAX_BATCH`` changes."""

    def __init__(self, fields: tuple[str, ...] = (), *, too_many: bool = False) -> None:
        reason = (f"more than {MAX_BATCH} changes" if too_many
                  else f"invalid {', '.join(fields)}" if fields else "not a JSON batch object")
        super().__init__(reason)
        self.fields = fields
        self.too_many = too_many


def _fields_of(error: pydantic.ValidationError) -> tuple[str, ...]:
    places = set()
    for problem in error.errors(include_input=False):
        # ("changes", 3, "fields", "full_name") → "changes.3.fields": the key may be personal.
        location = [str(part) for part in problem["loc"][:3]]
        places.add(".".join(location) or "body")
    return tuple(sorted(places)[:10])


def _wire(change: RecordChange) -> dict[str, Any]:
    return {"change_id": change.change_id, "entity": change.entity,
            "record_id": change.record_id, "sequence": change.sequence,
            "school_code": change.school_code, "education_id": change.education_id,
            "temporary_code": change.temporary_code, "fields": dict(change.fields)}


def request_body(changes: Sequence[RecordChange]) -> bytes:
    """The JSON body for ``changes``; ``InvalidBatch`` when the contract refuses it."""
    if len(changes) > MAX_BATCH:
        raise InvalidBatch(too_many=True)
    try:
        wire = WireRequest.model_validate({"changes": [_wire(c) for c in changes]})
    except pydantic.ValidationError as error:
        raise InvalidBatch(_fields_of(error)) from None
    return wire.model_dump_json().encode()


def parse_request(body: bytes) -> list[RecordChange]:
    """The changes of a request body; ``InvalidBatch`` when it is not a batch within the
    contract (``too_many`` when it is one of more than ``MAX_BATCH`` changes)."""
    try:
        wire = WireRequest.model_validate_json(body)
    except pydantic.ValidationError as error:
        raise InvalidBatch(_fields_of(error)) from None
    if len(wire.changes) > MAX_BATCH:
        raise InvalidBatch(too_many=True)
    return [RecordChange(change_id=c.change_id, entity=c.entity, record_id=c.record_id,
                         sequence=c.sequence, school_code=c.school_code,
                         education_id=c.education_id, temporary_code=c.temporary_code,
                         fields=c.fields) for c in wire.changes]


def response_body(results: Sequence[ChangeResult]) -> bytes:
    return json.dumps({"results": [
        {"change_id": r.change_id, "status": r.status, "field_errors": dict(r.field_errors),
         "education_id": r.education_id, "acknowledged_at": r.acknowledged_at.isoformat()}
        for r in results]}, ensure_ascii=False).encode()


def parse_response(body: bytes, sent: Sequence[RecordChange]) -> list[ChangeResult]:
    """The results of a 200 answer, one per change sent in the order sent; ``UpstreamError``
    (transient) when it is malformed, too large, or does not answer exactly the changes sent."""
    if len(body) > MAX_RESPONSE_BYTES:
        raise UpstreamError(permanent=False, detail="upstream answer too large")
    try:
        wire = WireResponse.model_validate_json(body)
    except pydantic.ValidationError as error:
        raise UpstreamError(permanent=False, detail=(
            f"malformed upstream answer ({error.error_count()} problem(s))")) from None
    answered = [result.change_id for result in wire.results]
    if answered != [change.change_id for change in sent]:
        raise UpstreamError(permanent=False, detail=(
            f"upstream answer does not match the changes sent ({len(answered)} result(s) "
            f"for {len(sent)} change(s), or out of order)"))
    return [ChangeResult(change_id=r.change_id, status=r.status,
                         field_errors=dict(r.field_errors) if r.status == "rejected" else {},
                         education_id=r.education_id,
                         acknowledged_at=r.acknowledged_at.astimezone(dt.UTC))
            for r in wire.results]


def error_body(code: str, message: str, fields: tuple[str, ...] = ()) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = list(fields)
    return json.dumps({"error": error}).encode()


def error_of(status: int, body: bytes, retry_after: str | None) -> UpstreamError:
    """The error a non-200 answer stands for."""
    code = ""
    try:
        parsed: Any = json.loads(body[:10_000]) if body else None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            code = str(parsed["error"].get("code", ""))[:50]
    except ValueError:
        pass
    label = "".join(c for c in code if c.isascii() and (c.isalnum() or c in "._-"))
    permanent = is_permanent(status)
    message: str | None = None
    if status in (401, 403):
        message = str(_AUTH_REFUSED).format(status=status)
    elif status == 413:
        message = str(_TOO_LARGE)
    elif status in (400, 422):
        message = str(_BAD_BATCH).format(status=status)
    return UpstreamError(message, permanent=permanent,
                         retry_after=retry_after_seconds(retry_after), status=status,
                         detail=f"upstream answered {status}{' ' + label if label else ''}")


def not_sendable(error: InvalidBatch) -> UpstreamError:
    """The permanent error for a batch the contract refuses before sending."""
    where = ", ".join(error.fields) if error.fields else str(error)
    return UpstreamError(str(_NOT_SENDABLE).format(fields=where), permanent=True,
                         detail=f"batch not sendable: {error}")
