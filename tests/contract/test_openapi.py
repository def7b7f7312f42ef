"""The API contract (issue 8): every operation of the OpenAPI document the running app serves
answers as the document says — no server error; only declared status codes, content types,
headers and bodies — for staff (session) and agencies (bearer tokens from /o/token/).

schemathesis generates the requests (its examples, coverage and fuzzing phases, all its
checks), then a fixed sweep of odd values goes into every parameter, then known requests
make sure the successful answers themselves were checked."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import settings
from schemathesis import checks

from tests.conftest import Cast
from tests.contract.conftest import CHANGES_PATH, ID_NUMBER, LOOKUP_PATH, Credentials

api_schema = schemathesis.pytest.from_fixture("api_schema")

# What every answer must satisfy, whatever was asked.
ANSWER_CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
                 checks.content_type_conformance, checks.response_schema_conformance,
                 checks.response_headers_conformance]

# Values clients get wrong, or attackers try: NUL and other control characters, bidi and
# zero-width marks, digits that are not ASCII (Python's int() takes "٣", a database does not),
# numbers past 64 bits, SQL, and long text. Not "", "/" nor "..": in a path they name another
# route (the client removes the dot segment), which answers for itself.
ODD_VALUES = [
    "\x00", "a\x00b", "\t", "\u202e", "\ufeff", "İ", "ﷺ", "🙂", "٣", "𝟙", "0", "-1", " 1",
    "1e3", "9223372036854775807", "9223372036854775808", "9" * 40, "' OR '1'='1", "%", "...",
    "x" * 1000,
]


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@api_schema.parametrize()
def test_every_operation_answers_as_documented(case: schemathesis.Case) -> None:
    # schemathesis's default checks: the five above, and that valid requests are accepted,
    # invalid ones refused, authentication enforced, unsupported methods answered 405, …
    case.call_and_validate()


@pytest.fixture
def valid_parameters(contract_data: Cast) -> dict[str, dict[str, str]]:
    """A request that reaches each operation's own work (a real list, pupil, class, key):
    the sweep replaces one of its parameters at a time, or adds the one it lacks."""
    an = contract_data.an
    return {
        "/api/v1/code-lists/{name}": {"name": "commune", "parent": "79"},
        "/api/v1/students/{student_id}": {"student_id": str(an.pk)},
        "/api/v1/classes/{class_id}/students": {"class_id": str(contract_data.class_1a.pk)},
        LOOKUP_PATH: {"education_id": str(an.education_id)},
    }


def test_odd_values_in_every_parameter_answer_as_documented(
        api_schema: schemathesis.BaseSchema, credentials: Credentials,
        valid_parameters: dict[str, dict[str, str]]) -> None:
    swept = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        locations = {p.name: p.location for p in operation.iter_parameters()}
        for name in locations:
            for value in ODD_VALUES:
                values = {**valid_parameters.get(operation.path, {}), name: value}
                case = credentials.apply(operation.Case(
                    path_parameters={k: v for k, v in values.items() if locations[k] == "path"},
                    query={k: v for k, v in values.items() if locations[k] == "query"}))
                case.call_and_validate(checks=ANSWER_CHECKS)
            swept += 1
    assert swept >= 10  # every parameter of the document, the change feed's included


def _call(schema: schemathesis.BaseSchema, path: str, *, credentials: Credentials | None,
          path_parameters: dict[str, Any] | None = None,
          query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
          ) -> tuple[int, Any]:
    """One request, checked against the document: (status, parsed body)."""
    case = schema[path]["GET"].Case(path_parameters=path_parameters or {}, query=query or {},
                                    headers=headers or {})
    if credentials is not None:
        credentials.apply(case)
    response = case.call_and_validate(checks=ANSWER_CHECKS)
    return response.status_code, response.json()


def test_known_requests_answer_as_documented(api_schema: schemathesis.BaseSchema,
                                             credentials: Credentials, contract_data: Cast,
                                             edureg_server: str) -> None:
    """The successful answers (which generated requests seldom reach: they would have to guess
    a pupil's id) and the refusals each kind of caller meets, through the same checks."""
    cast = contract_data
    staff, nobody = credentials, None

    status, body = _call(api_schema, "/api/v1/code-lists", credentials=nobody)
    assert (status, {"province", "commune"} <= {item["name"] for item in body}) == (200, True)
    status, body = _call(api_schema, "/api/v1/code-lists/{name}", credentials=nobody,
                         path_parameters={"name": "commune"}, query={"parent": "79"})
    assert (status, len(body["entries"]) > 0) == (200, True)
    status, body = _call(api_schema, "/api/v1/code-lists/{name}", credentials=nobody,
                         path_parameters={"name": "khong-co"})
    assert (status, body["detail"].startswith("Không có danh mục")) == (404, True)

    student = "/api/v1/students/{student_id}"
    status, body = _call(api_schema, student, credentials=staff,
                         path_parameters={"student_id": cast.an.pk})
    assert status == 200
    assert (body["full_name"], body["personal_id_number"], body["ethnicity_code"]) == (
        "Nguyễn Văn An", ID_NUMBER, "01")
    status, body = _call(api_schema, student, credentials=staff,
                         path_parameters={"student_id": cast.other_school_student.pk})
    assert (status, body) == (404, {"detail": "Không tìm thấy."})
    status, body = _call(api_schema, student, credentials=nobody,
                         path_parameters={"student_id": cast.an.pk})
    assert (status, "đăng nhập" in body["detail"]) == (401, True)
    # Past 64 bits no record can have the id: missing, like any other (tests/access).
    status, body = _call(api_schema, student, credentials=staff,
                         path_parameters={"student_id": 2**63})
    assert (status, body) == (404, {"detail": "Không tìm thấy."})
    status, body = _call(api_schema, student, credentials=staff,
                         path_parameters={"student_id": "٣"})
    assert (status, body["errors"]) == (
        422, [{"location": "path", "name": "student_id", "code": "int_parsing"}])
    status, body = _call(api_schema, "/api/v1/classes/{class_id}/students", credentials=staff,
                         path_parameters={"class_id": cast.class_1a.pk})
    assert (status, len(body)) == (200, 3)

    education_id = str(cast.an.education_id)
    status, body = _call(api_schema, LOOKUP_PATH, credentials=staff,
                         query={"education_id": education_id})
    assert (status, body["record"]["full_name"]) == (200, "Nguyễn Văn An")
    status, body = _call(api_schema, LOOKUP_PATH, credentials=staff,
                         query={"personal_id_number": ID_NUMBER, "fields": "full_name"})
    assert (status, body["record"]) == (200, {"full_name": "Nguyễn Văn An"})
    status, body = _call(api_schema, LOOKUP_PATH, credentials=staff, query={})
    assert (status, body["reason"]) == (400, "bad_request")
    status, body = _call(api_schema, LOOKUP_PATH, credentials=staff,
                         query={"education_id": "79\x00"})
    assert (status, body["errors"][0]["name"]) == (422, "education_id")
    status, body = _call(api_schema, LOOKUP_PATH, credentials=nobody,
                         query={"education_id": education_id})
    assert (status, "Bearer" in body["detail"]) == (401, True)
    status, body = _call(api_schema, LOOKUP_PATH, credentials=nobody,
                         query={"education_id": education_id},
                         headers={"Authorization": "Bearer gia-mao"})
    assert (status, body["reason"]) == (401, "invalid_token")

    status, body = _call(api_schema, CHANGES_PATH, credentials=staff)
    assert (status, len(body["changes"]) > 0) == (200, True)
    status, body = _call(api_schema, CHANGES_PATH, credentials=staff, query={"after": "x"})
    assert status == 400

    # The document checked is the one the server gives its clients.
    served = httpx.get(f"{edureg_server}/api/v1/openapi.json", timeout=10).json()
    assert served["openapi"].startswith("3.")
    assert served["paths"] == api_schema.raw_schema["paths"]
