"""The HTTP contract of the register exchange, shared by the real adapter and the simulator.

    POST {base}/v1/persons/verify
    Authorization: Bearer <token>          X-Request-Id: <the caller's id for the exchange>
    {"persons": [{"ref": "s-42", "personal_id_number": "079209001234",
                  "full_name": "Nguyễn Thị Hoà", "date_of_birth": "2019-05-01", "sex": "F",
                  "birth_registration_place": "79"}]}          (1 … MAX_BATCH persons)

    200 {"request_id": "…", "results": [{"ref": "s-42", "found": true,
         "fields": {"full_name": {"outcome": "mismatch", "register_value": "Nguyễn Thị Hòa"},
                    "date_of_birth": {"outcome": "match", "register_value": null}, …}}]}
    400 / 401 / 403 / 413 / 422 {"error": {"code": "…", "message": "…"}}   permanent
    429 (Retry-After: seconds), 500 / 502 / 503 / 504                        transient

Every result's ``ref`` must be one that was sent, each exactly once. Anything else in a 200
answer (wrong types, missing fields, unknown outcomes, refs not sent or missing, a body over
``MAX_RESPONSE_BYTES``) is a malformed answer: ``RegisterError`` (transient), never a result.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Literal

import pydantic

from edureg.identity.register.port import (
    COMPARED_FIELDS,
    MAX_BATCH,
    FieldOutcome,
    FieldResult,
    PersonQuery,
    PersonResult,
    RegisterError,
    VerifyResponse,
)

VERIFY_PATH = "/v1/persons/verify"
# A batch of 100 answers is a few tens of kilobytes; anything near this is not an answer.
MAX_RESPONSE_BYTES = 1_000_000
MAX_REQUEST_BYTES = 200_000
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 413, 422})
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

_STRICT = pydantic.ConfigDict(strict=True, extra="ignore", frozen=True)
_Text = pydantic.constr(min_length=1, max_length=200)


class WirePerson(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True, extra="forbid", frozen=True)

    ref: pydantic.constr(min_length=1, max_length=64)  # type: ignore[valid-type]
    personal_id_number: pydantic.constr(pattern=r"^[0-9]{12}$")  # type: ignore[valid-type]
    full_name: _Text  # type: ignore[valid-type]
    date_of_birth: pydantic.constr(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")  # type: ignore[valid-type]
    sex: Literal["M", "F"]
    birth_registration_place: pydantic.constr(max_length=10) | None = None  # type: ignore[valid-type]


class WireRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True, extra="forbid", frozen=True)

    persons: pydantic.conlist(WirePerson, min_length=1, max_length=MAX_BATCH)  # type: ignore[valid-type]


class WireField(pydantic.BaseModel):
    model_config = _STRICT

    outcome: Literal["match", "mismatch", "not_comparable"]
    register_value: pydantic.constr(max_length=200) | None = None  # type: ignore[valid-type]


class WireResult(pydantic.BaseModel):
    model_config = _STRICT

    ref: pydantic.constr(min_length=1, max_length=64)  # type: ignore[valid-type]
    found: bool
    fields: dict[Literal["full_name", "date_of_birth", "sex", "birth_registration_place"],
                 WireField] = {}


class WireResponse(pydantic.BaseModel):
    model_config = _STRICT

    request_id: pydantic.constr(min_length=1, max_length=100)  # type: ignore[valid-type]
    results: pydantic.conlist(WireResult, max_length=MAX_BATCH)  # type: ignore[valid-type]


def request_body(persons: Sequence[PersonQuery]) -> bytes:
    """The JSON body for ``persons`` (1 … MAX_BATCH)."""
    if not 1 <= len(persons) <= MAX_BATCH:
        raise ValueError(f"a verification batch holds 1 to {MAX_BATCH} persons")
    wire = WireRequest(persons=[WirePerson(
        ref=p.ref, personal_id_number=p.personal_id_number, full_name=p.full_name,
        date_of_birth=p.date_of_birth.isoformat(), sex=p.sex,  # type: ignore[arg-type]
        birth_registration_place=p.birth_registration_place) for p in persons])
    return wire.model_dump_json(exclude_none=True).encode()


def parse_request(body: bytes) -> list[PersonQuery]:
    """The persons of a request body; ``ValueError`` with a reason when it is not one."""
    if len(body) > MAX_REQUEST_BYTES:
        raise ValueError("request body too large")
    try:
        wire = WireRequest.model_validate_json(body)
    except pydantic.ValidationError as error:
        raise ValueError(f"malformed request: {error.error_count()} problem(s)") from None
    persons = []
    for person in wire.persons:
        try:
            born = dt.date.fromisoformat(person.date_of_birth)
        except ValueError:
            raise ValueError(f"malformed request: date_of_birth of {person.ref}") from None
        persons.append(PersonQuery(
            ref=person.ref, personal_id_number=person.personal_id_number,
            full_name=person.full_name, date_of_birth=born, sex=person.sex,
            birth_registration_place=person.birth_registration_place))
    if len({p.ref for p in persons}) != len(persons):
        raise ValueError("malformed request: a ref is repeated")
    return persons


def response_body(request_id: str, results: Sequence[PersonResult]) -> bytes:
    return json.dumps({
        "request_id": request_id,
        "results": [{"ref": r.ref, "found": r.found,
                     "fields": {name: {"outcome": f.outcome.value,
                                       "register_value": f.register_value}
                                for name, f in r.fields.items()}} for r in results],
    }, ensure_ascii=False).encode()


def parse_response(body: bytes, sent: Sequence[PersonQuery]) -> VerifyResponse:
    """A 200 answer as results, in the order sent; ``RegisterError`` (transient) when it is
    malformed, too large, or does not answer exactly the persons sent."""
    if len(body) > MAX_RESPONSE_BYTES:
        raise RegisterError("register answer too large", permanent=False)
    try:
        wire = WireResponse.model_validate_json(body)
    except pydantic.ValidationError as error:
        raise RegisterError(f"malformed register answer ({error.error_count()} problem(s))",
                            permanent=False) from None
    by_ref = {}
    for result in wire.results:
        if result.ref in by_ref:
            raise RegisterError("register answer repeats a person", permanent=False)
        by_ref[result.ref] = result
    if set(by_ref) != {p.ref for p in sent}:
        raise RegisterError("register answer does not match the persons sent", permanent=False)
    results = []
    for person in sent:
        result = by_ref[person.ref]
        fields = {name: FieldResult(FieldOutcome(f.outcome), f.register_value)
                  for name, f in result.fields.items() if name in COMPARED_FIELDS}
        results.append(PersonResult(ref=person.ref, found=result.found,
                                    fields=fields if result.found else {}))
    return VerifyResponse(request_id=wire.request_id, results=results)


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def error_of(status: int, body: bytes, retry_after: str | None) -> RegisterError:
    """The error a non-200 answer stands for."""
    code = ""
    try:
        parsed: Any = json.loads(body[:10_000]) if body else None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            code = str(parsed["error"].get("code", ""))[:50]
    except ValueError:
        pass
    wait = None
    if retry_after is not None:
        try:
            wait = min(max(float(retry_after), 0.0), 300.0)
        except ValueError:
            wait = None
    permanent = status in PERMANENT_STATUSES or (400 <= status < 500
                                                 and status not in TRANSIENT_STATUSES)
    return RegisterError(f"register answered {status}{' ' + code if code else ''}",
                         permanent=permanent, retry_after=wait, status=status)
