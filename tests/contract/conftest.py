"""A running edureg over a small school's committed data, and the credentials each kind of
caller uses: alice's signed-in session for the staff API, agencies' bearer tokens from
/o/token/ for the sharing API (one look-up agreement, one change-feed agreement)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from _pytest.nodeid import NodeId
from django.db import transaction
from django.test import Client

from edureg.registry.models import Student
from edureg.registry.services import student_update
from edureg.sharing.services import IssuedClient
from tests import factories as f
from tests.conftest import Cast
from tests.contract.server import edureg_web_process, server_log
from tests.sharing.conftest import basic, issue

ID_NUMBER = "079219001234"
CHANGES_PATH = "/api/v1/sharing/changes"
LOOKUP_PATH = "/api/v1/sharing/students"
# schemathesis's default for positive_data_acceptance, and 400: see ``api_schema``.
_ACCEPTED_OR_BAD_REQUEST = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]


@dataclasses.dataclass(frozen=True)
class Credentials:
    session_id: str  # alice, principal of school A (two factors done)
    lookup_token: str
    feed_token: str

    def for_operation(self, operation: schemathesis.APIOperation) -> tuple[str, str, str] | None:
        """(location, name, value) of the credential the operation's security requirement
        names: the session cookie, or the bearer token of the agreement of the operation's
        kind; None for public operations."""
        schemes = {name for requirement in operation.definition.raw.get("security", [])
                   for name in requirement}
        if "SessionAuth" in schemes:
            return "cookie", "sessionid", self.session_id
        if "AgencyToken" in schemes:
            token = self.feed_token if operation.path == CHANGES_PATH else self.lookup_token
            return "header", "Authorization", f"Bearer {token}"
        return None

    def apply(self, case: schemathesis.Case) -> schemathesis.Case:
        credential = self.for_operation(case.operation)
        if credential is not None:
            location, name, value = credential
            (case.cookies if location == "cookie" else case.headers)[name] = value
        return case


@dataclasses.dataclass(frozen=True)
class Agencies:
    lookup: IssuedClient
    feed: IssuedClient


@pytest.fixture
def contract_data(transactional_db: None, cast: Cast) -> Cast:
    """The cast (committed, for the server's own connections), class 1A a little fuller, and
    An with an ID number, a phone and the sensitive codes filled in."""
    Student.objects.filter(pk=cast.an.pk).update(personal_id_number=ID_NUMBER,
                                                 phone="0903127845", ethnicity_code="01",
                                                 religion_code="00")
    f.make_student(cast.class_1a, "Lê Thị Ánh", sex="F")
    f.make_student(cast.class_1a, "Đặng Quốc Việt", sex="M")
    return cast


@pytest.fixture
def agencies(contract_data: Cast) -> Agencies:
    """Two agreements of school A's authority at the allowed maximum rate: look-ups by either
    key, and a change feed with one change already waiting (An's phone, edited by alice)."""
    lookup = issue(contract_data, allowed_lookups=("education_id", "personal_id_number"),
                   rate_limit_per_minute=600)
    feed = issue(contract_data, reference="02/2026/TTCS-SGDĐT", kind="change_feed",
                 change_feed_legal_basis="Quyết định 12/QĐ-UBND về liên thông dữ liệu học sinh",
                 allowed_lookups=(), rate_limit_per_minute=600)
    with transaction.atomic():
        student_update(actor=contract_data.alice,
                       student=Student.objects.get(pk=contract_data.an.pk),
                       data={"phone": "0903127846"})
    return Agencies(lookup=lookup, feed=feed)


@pytest.fixture
def server_log_file(tmp_path: Path) -> Path:
    return tmp_path / "web.log"


@pytest.fixture
def edureg_server(contract_data: Cast, agencies: Agencies,
                  server_log_file: Path) -> Iterator[str]:
    """The base URL of edureg's web server, started once the data is committed."""
    with edureg_web_process(server_log_file) as url:
        yield url


def _token(server: str, issued: IssuedClient, log: Path) -> str:
    response = httpx.post(f"{server}/o/token/", data={"grant_type": "client_credentials"},
                          headers={"Authorization": basic(issued.client_id,
                                                          issued.client_secret)},
                          timeout=10)
    assert response.status_code == 200, f"{response.text}\n{server_log(log)}"
    return str(response.json()["access_token"])


@pytest.fixture
def credentials(edureg_server: str, contract_data: Cast, agencies: Agencies,
                server_log_file: Path) -> Credentials:
    staff = Client()
    staff.force_login(contract_data.alice)
    return Credentials(session_id=staff.cookies["sessionid"].value,
                       lookup_token=_token(edureg_server, agencies.lookup, server_log_file),
                       feed_token=_token(edureg_server, agencies.feed, server_log_file))


@pytest.fixture
def _item_renamable(monkeypatch: pytest.MonkeyPatch) -> None:
    """schemathesis 4.32's ``from_fixture`` names each operation's subtest by rewriting the
    running item's ``_nodeid``, which pytest 9.2 replaced with the structured ``_id``."""
    if not hasattr(pytest.Function, "_nodeid"):
        monkeypatch.setattr(pytest.Function, "_nodeid", property(
            lambda item: item.nodeid,
            lambda item, value: setattr(item, "_id", NodeId.parse(value))), raising=False)


@pytest.fixture
def api_schema(edureg_server: str, credentials: Credentials,
               _item_renamable: None) -> schemathesis.BaseSchema:
    """The OpenAPI document as the running server serves it. Each operation gets the
    credential its security requirement names: alice's session cookie (``SessionAuth``), or
    the bearer token of the agreement of the operation's kind (``AgencyToken``); public
    operations none. schemathesis's own probes still take them away (``ignored_auth``)."""
    config = schemathesis.Config.from_dict({
        "seed": 20260801,  # the same requests on every run (with Hypothesis's derandomize)
        "request-timeout": 30,
        "operations": [{
            # Rules that bind parameters together, or to the data, which OpenAPI parameters
            # cannot state and each operation's description does: exactly one look-up key;
            # a cursor no further than the newest change, each parameter once. A request
            # valid for the document may so be refused with the documented 400.
            "include-path-regex": f"^({LOOKUP_PATH}|{CHANGES_PATH})$",
            "checks": {"positive_data_acceptance": {
                "expected-statuses": _ACCEPTED_OR_BAD_REQUEST}},
        }],
    })
    schema = schemathesis.openapi.from_url(f"{edureg_server}/api/v1/openapi.json",
                                           config=config, timeout=10)

    class Caller:
        def get(self, case: schemathesis.Case,
                context: schemathesis.AuthContext) -> tuple[str, str, str] | None:
            return credentials.for_operation(case.operation)

        def set(self, case: schemathesis.Case, data: tuple[str, str, str],
                context: schemathesis.AuthContext) -> None:
            credentials.apply(case)

    schema.auth(refresh_interval=None)(Caller)
    return schema
