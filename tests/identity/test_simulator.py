"""The population-register simulator, run as its own process (``edureg sim register --port 0``)
over a small register file written here, and spoken to over real HTTP."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import sqlite3
import time
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import CommandError, call_command

from edureg.identity.register.contract import (
    MAX_BATCH,
    VERIFY_PATH,
    error_of,
    parse_response,
    request_body,
)
from edureg.identity.register.port import (
    FieldOutcome,
    PersonQuery,
    RegisterError,
    VerifyResponse,
)
from tests.identity.support import AUTH, TOKEN, Sim, start_simulator, stop

DEFAULT_FAULTS = {"latency_ms": 0, "quota_per_second": None, "fail_rate": 0.0,
                  "timeout_rate": 0.0, "timeout_seconds": 30.0, "malformed_rate": 0.0,
                  "down": False, "seed": 1}

# (personal_id_number, full_name, date_of_birth, sex, birth_registration_place)
PERSONS = [
    ("079219001234", "Nguyễn Thị Hòa", "2019-05-01", "F", "79"),
    ("001218005678", "Trần Văn An", "2018-02-10", "M", "01"),
    ("048220000111", "Lê Minh Khôi", "2020-11-30", "M", "48"),
]
HOA = PersonQuery(ref="s-1", personal_id_number="079219001234", full_name="Nguyễn Thị Hòa",
                  date_of_birth=dt.date(2019, 5, 1), sex="F", birth_registration_place="79")
AN = PersonQuery(ref="s-2", personal_id_number="001218005678", full_name="Trần Văn An",
                 date_of_birth=dt.date(2018, 2, 10), sex="M", birth_registration_place="01")
UNKNOWN = PersonQuery(ref="s-3", personal_id_number="079219999999", full_name="Phạm Văn Bình",
                      date_of_birth=dt.date(2019, 1, 1), sex="M", birth_registration_place="79")


def write_register(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("""CREATE TABLE person (
        personal_id_number TEXT NOT NULL, full_name TEXT NOT NULL, date_of_birth TEXT NOT NULL,
        sex TEXT NOT NULL, birth_registration_place TEXT NOT NULL, birthplace_text TEXT NOT NULL,
        ethnicity_code TEXT NOT NULL, religion_code TEXT NOT NULL,
        nationality_code TEXT NOT NULL, permanent_address TEXT NOT NULL,
        permanent_province TEXT NOT NULL, permanent_commune TEXT NOT NULL,
        father_full_name TEXT NOT NULL, mother_full_name TEXT NOT NULL, kind TEXT NOT NULL)""")
    db.execute("CREATE UNIQUE INDEX person_personal_id_number ON person (personal_id_number)")
    db.executemany(
        "INSERT INTO person VALUES (?, ?, ?, ?, ?, '', '01', '00', 'VN', '', '79', '26734', '', "
        "'', 'student')", PERSONS)
    db.commit()
    db.close()


def start(tmp: Path, *flags: str) -> Sim:
    """The simulator over the small register above."""
    db = tmp / "register.sqlite3"
    if not db.exists():
        write_register(db)
    return start_simulator(db, tmp, *flags)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    running = start(tmp_path_factory.mktemp("sim"), "--down", "--latency-ms", "5", "--quota",
                    "3", "--seed", "2", "--fail-rate", "0.25", "--timeout-seconds", "7")
    yield running
    assert stop(running) == 0  # SIGTERM is a clean exit


@pytest.fixture(scope="module")
def http(sim: Sim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=AUTH, timeout=5) as client:
        yield client


@pytest.fixture
def client(http: httpx.Client) -> httpx.Client:
    """A client to a simulator back to no faults, with its stats cleared."""
    assert http.post("/_sim/control", json=DEFAULT_FAULTS).status_code == 200
    assert http.post("/_sim/reset").status_code == 200
    return http


def verify(client: httpx.Client, *persons: PersonQuery, **kwargs: Any) -> httpx.Response:
    return client.post(VERIFY_PATH, content=request_body(persons), **kwargs)


def verified(client: httpx.Client, *persons: PersonQuery) -> VerifyResponse:
    response = verify(client, *persons)
    assert response.status_code == 200, response.text
    return parse_response(response.content, persons)


def stats(client: httpx.Client) -> dict[str, Any]:
    answer: dict[str, Any] = client.get("/_sim/stats").json()
    return answer


def test_a_person_as_registered_matches_on_every_field(client: httpx.Client) -> None:
    response = verify(client, HOA, headers={"X-Request-Id": "edureg-42"})
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "edureg-42"
    answer = parse_response(response.content, [HOA])
    assert re.fullmatch(r"[0-9a-f]{32}", answer.request_id)
    [result] = answer.results
    assert result.found
    assert result.verified
    assert {name: f.outcome for name, f in result.fields.items()} == {
        "full_name": FieldOutcome.MATCH, "date_of_birth": FieldOutcome.MATCH,
        "sex": FieldOutcome.MATCH, "birth_registration_place": FieldOutcome.MATCH}
    assert verified(client, HOA).request_id != answer.request_id


def test_another_spelling_is_a_mismatch_with_the_register_value(client: httpx.Client) -> None:
    hoa = dataclasses.replace(HOA, full_name="Nguyễn Thị Hoà", sex="M")
    [result] = verified(client, hoa).results
    assert result.found
    assert not result.verified
    assert result.fields["full_name"].outcome is FieldOutcome.MISMATCH
    assert result.fields["full_name"].register_value == "Nguyễn Thị Hòa"
    assert result.fields["sex"].outcome is FieldOutcome.MISMATCH
    assert result.fields["sex"].register_value == "F"
    assert result.fields["date_of_birth"].outcome is FieldOutcome.MATCH


def test_a_decomposed_name_matches(client: httpx.Client) -> None:
    hoa = dataclasses.replace(HOA, full_name=unicodedata.normalize("NFD", HOA.full_name))
    assert hoa.full_name != HOA.full_name
    [result] = verified(client, hoa).results
    assert result.fields["full_name"].outcome is FieldOutcome.MATCH


def test_an_unknown_number_is_not_found(client: httpx.Client) -> None:
    answer = verified(client, UNKNOWN, HOA)
    assert [(r.ref, r.found) for r in answer.results] == [("s-3", False), ("s-1", True)]
    assert answer.results[0].fields == {}


def test_a_field_not_sent_is_not_comparable(client: httpx.Client) -> None:
    [result] = verified(client, dataclasses.replace(AN, birth_registration_place=None)).results
    assert result.fields["birth_registration_place"].outcome is FieldOutcome.NOT_COMPARABLE
    assert result.fields["full_name"].outcome is FieldOutcome.MATCH
    assert result.verified


def test_without_the_token_the_answer_is_401(client: httpx.Client, sim: Sim) -> None:
    with httpx.Client(base_url=sim.url) as anonymous:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            response = anonymous.post(VERIFY_PATH, content=request_body([HOA]), headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthorized"
            assert error_of(401, response.content, None).permanent
        assert anonymous.get("/_sim/stats").status_code == 401
        assert anonymous.post("/_sim/control", json={"down": True}).status_code == 401
        assert anonymous.get("/_sim/health").json() == {"ok": True, "down": False}


@pytest.mark.parametrize("body", [
    b"not json", b"{}", b'{"persons": []}',
    b'{"persons": [{"ref": "a", "personal_id_number": "123", "full_name": "A", '
    b'"date_of_birth": "2019-01-01", "sex": "F"}]}',
    json.dumps({"persons": [{"ref": f"r{i}", "personal_id_number": "079219001234",
                             "full_name": "Nguyễn Thị Hòa", "date_of_birth": "2019-05-01",
                             "sex": "F"} for i in range(MAX_BATCH + 1)]}).encode(),
])
def test_a_malformed_request_is_400(client: httpx.Client, body: bytes) -> None:
    response = client.post(VERIFY_PATH, content=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_a_huge_body_is_413(client: httpx.Client) -> None:
    response = client.post(VERIFY_PATH, content=b"{" + b" " * 300_000 + b"}")
    assert response.status_code == 413
    assert error_of(413, response.content, None).permanent
    assert verify(client, HOA).status_code == 200  # on a new connection, the service goes on


def test_over_the_quota_the_answer_is_429_with_retry_after(client: httpx.Client) -> None:
    client.post("/_sim/control", json={"quota_per_second": 0.5})
    assert verify(client, HOA).status_code == 200
    response = verify(client, HOA)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    error = error_of(429, response.content, response.headers["Retry-After"])
    assert not error.permanent
    assert error.retry_after is not None
    assert error.retry_after >= 1
    client.post("/_sim/control", json={"quota_per_second": None})
    assert verify(client, HOA).status_code == 200
    assert stats(client)["by_status"] == {"200": 2, "429": 1}


def test_fail_rate_one_answers_503(client: httpx.Client) -> None:
    client.post("/_sim/control", json={"fail_rate": 1})
    for _ in range(3):
        response = verify(client, HOA)
        assert response.status_code == 503
        assert not error_of(503, response.content, None).permanent
    assert stats(client)["faults"] == {"fail": 3}


def test_every_malformed_answer_fails_the_contract(client: httpx.Client) -> None:
    client.post("/_sim/control", json={"malformed_rate": 1, "seed": 7})
    for _ in range(10):
        response = verify(client, HOA, AN)
        assert response.status_code == 200
        with pytest.raises(RegisterError) as raised:
            parse_response(response.content, [HOA, AN])
        assert not raised.value.permanent
    counted = stats(client)
    assert set(counted["faults"]) == {"malformed_truncated", "malformed_wrong_types",
                                      "malformed_unknown_ref", "malformed_oversized"}
    assert counted["persons_by_id"] == {}  # nobody got a usable answer


def test_down_cuts_calls_off_and_up_again_answers(client: httpx.Client) -> None:
    assert client.post("/_sim/control", json={"down": True}).json()["down"] is True
    assert client.get("/_sim/health").json() == {"ok": True, "down": True}
    with pytest.raises(httpx.TransportError):
        verify(client, HOA)
    client.post("/_sim/control", json={"down": False})
    assert verified(client, HOA).results[0].verified
    assert stats(client)["faults"] == {"down": 1}


def test_a_timeout_answers_only_after_the_callers_patience(client: httpx.Client) -> None:
    client.post("/_sim/control", json={"timeout_rate": 1, "timeout_seconds": 5})
    with pytest.raises(httpx.ReadTimeout):
        verify(client, HOA, timeout=0.3)
    client.post("/_sim/control", json={"timeout_rate": 0, "latency_ms": 150})
    started = time.monotonic()
    assert verified(client, HOA).results[0].verified
    assert time.monotonic() - started >= 0.15
    assert stats(client)["persons_by_id"] == {"079219001234": 1}


def test_stats_count_the_persons_answered(client: httpx.Client) -> None:
    verified(client, HOA, AN, UNKNOWN)
    verified(client, HOA)
    client.post("/_sim/control", json={"fail_rate": 1})
    verify(client, AN)
    counted = stats(client)
    assert counted["verify_calls"] == 3
    assert counted["persons"] == 4
    assert counted["persons_by_id"] == {"079219001234": 2, "001218005678": 1,
                                        "079219999999": 1}
    assert counted["by_status"] == {"200": 2, "503": 1}
    client.post("/_sim/reset")
    assert stats(client)["verify_calls"] == 0


def test_concurrent_calls_are_all_counted(client: httpx.Client, sim: Sim) -> None:
    def one(i: int) -> int:
        return verify(client, dataclasses.replace(AN, ref=f"c-{i}")).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(one, range(40))) == {200}
    assert stats(client)["persons_by_id"] == {"001218005678": 40}


def test_control_refuses_bad_settings(client: httpx.Client) -> None:
    for body in ({"fail_rate": 2}, {"down": "yes"}, {"latency_ms": -1}, {"speed": 1},
                 {"quota_per_second": 0}, [1]):
        response = client.post("/_sim/control", json=body)
        assert response.status_code == 400, body
    assert client.get("/_sim/control").json() == DEFAULT_FAULTS


def test_logs_carry_no_personal_data(client: httpx.Client, sim: Sim) -> None:
    verified(client, HOA, AN, UNKNOWN)
    verify(client, dataclasses.replace(HOA, full_name="Nguyễn Thị Hoà"))
    time.sleep(0.1)
    log = sim.log.read_text(encoding="utf-8")
    assert re.search(r"POST /v1/persons/verify 200 persons=3 \d+ms", log)
    for number, name, *_ in [*PERSONS, ("079219999999", "Phạm Văn Bình")]:
        assert number not in log
        assert name not in log
        assert name.split()[-1] not in log


def test_faults_can_be_set_at_start(sim: Sim) -> None:
    assert sim.started_with == {
        "health": {"ok": True, "down": True},
        "faults": {**DEFAULT_FAULTS, "down": True, "latency_ms": 5, "quota_per_second": 3.0,
                   "fail_rate": 0.25, "seed": 2, "timeout_seconds": 7.0}}


def test_without_register_data_the_command_says_to_seed(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="edureg seed"):
        call_command("sim", "register", "--db", str(tmp_path / "missing.sqlite3"))
