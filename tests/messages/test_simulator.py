"""The SMS simulator, run as its own process (``edureg sim messages --port 0``) and spoken to
over real HTTP."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.core.management import CommandError, call_command

from edureg.core.messages.contract import MAX_TEXT_LENGTH, MESSAGES_PATH, error_of
from edureg.core.messages.simulator import serve
from tests.messages.sim_process import SimulatorProcess, message_simulator_process, read_outbox

DEFAULT_FAULTS = {"latency_ms": 0, "fail_rate": 0.0, "down": False, "seed": None}
PHONE = "0912345678"
OTHER_PHONE = "0387654321"
CODE_TEXT = "Mã xác thực tra cứu của phụ huynh: 482913. Mã có hiệu lực trong 10 phút."


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    with message_simulator_process() as running:
        yield running
        assert running.process.poll() is None  # served every test without dying


@pytest.fixture(scope="module")
def http(sim: SimulatorProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=sim.auth, timeout=5) as client:
        yield client


@pytest.fixture
def client(http: httpx.Client) -> httpx.Client:
    """A client to a simulator with no faults, an empty outbox and zero stats."""
    assert http.post("/_sim/control", json=DEFAULT_FAULTS).status_code == 200
    assert http.post("/_sim/reset").status_code == 200
    return http


def send(client: httpx.Client, to: Any = PHONE, text: Any = CODE_TEXT, reference: Any = "otp.1",
         headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    return client.post(MESSAGES_PATH, json={"to": to, "text": text, "reference": reference,
                                            **body}, headers=headers)


def stats(client: httpx.Client) -> dict[str, int]:
    counted: dict[str, int] = client.get("/_sim/stats").json()
    return counted


def test_a_message_is_accepted_and_can_be_read_back(client: httpx.Client,
                                                    sim: SimulatorProcess) -> None:
    response = send(client)
    assert response.status_code == 202
    answer = response.json()
    assert answer["status"] == "queued"
    assert re.fullmatch(r"msg-[0-9a-f]{32}", answer["id"])
    [message] = read_outbox(sim.url, to=PHONE)
    assert message.pop("at").endswith("+00:00")
    assert message == {"id": answer["id"], "to": PHONE, "text": CODE_TEXT,
                       "reference": "otp.1"}
    assert stats(client) == {"sent": 1, "deduplicated": 0, "failed": 0, "refused": 0,
                             "outbox": 1}


def test_the_outbox_lists_one_phone_newest_first(client: httpx.Client,
                                                 sim: SimulatorProcess) -> None:
    for number, (phone, text) in enumerate([(PHONE, "Mã 1"), (OTHER_PHONE, "Mã 2"),
                                            (PHONE, "Mã 3")]):
        assert send(client, phone, text, f"otp.{number}").status_code == 202
    assert [m["text"] for m in read_outbox(sim.url, to=PHONE)] == ["Mã 3", "Mã 1"]
    assert [m["text"] for m in read_outbox(sim.url)] == ["Mã 3", "Mã 2", "Mã 1"]
    assert read_outbox(sim.url, to="0900000000") == []


def test_the_same_reference_is_delivered_once(client: httpx.Client,
                                              sim: SimulatorProcess) -> None:
    first, again = send(client), send(client)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == again.json()
    assert len(read_outbox(sim.url, to=PHONE)) == 1
    assert stats(client)["sent"] == 1
    assert stats(client)["deduplicated"] == 1


def test_concurrent_retries_of_one_reference_deliver_once(client: httpx.Client,
                                                          sim: SimulatorProcess) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: send(client), range(24)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(read_outbox(sim.url)) == 1
    assert stats(client)["deduplicated"] == 23


def test_the_reference_alone_is_the_key(client: httpx.Client, sim: SimulatorProcess) -> None:
    first = send(client).json()
    for again in (send(client, text="Mã xác thực: 000000"), send(client, to=OTHER_PHONE)):
        assert (again.status_code, again.json()) == (202, first)
    assert [m["text"] for m in read_outbox(sim.url)] == [CODE_TEXT]
    assert read_outbox(sim.url, to=OTHER_PHONE) == []


def test_without_the_token_a_message_is_401(client: httpx.Client,
                                             sim: SimulatorProcess) -> None:
    with httpx.Client(base_url=sim.url) as anonymous:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": sim.token}):
            response = send(anonymous, headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthorized"
            assert error_of(401, response.content, None).permanent
    assert read_outbox(sim.url) == []
    assert stats(client)["refused"] == 3


def test_the_simulators_own_routes_need_no_token(client: httpx.Client,
                                                  sim: SimulatorProcess) -> None:
    """The demo opens the outbox in a browser, and tests of other packages set faults."""
    with httpx.Client(base_url=sim.url) as anonymous:
        assert anonymous.post("/_sim/control", json={"down": True}).json()["down"] is True
        assert anonymous.get("/_sim/health").json() == {"ok": True, "down": True}
        assert anonymous.get("/_sim/control").json()["down"] is True
        assert anonymous.get("/_sim/stats").json()["sent"] == 0
        assert anonymous.get("/_sim/outbox").json() == []
        assert anonymous.post("/_sim/reset").json() == {"ok": True}


@pytest.mark.parametrize(("body", "fields"), [
    ({"to": "091234567"}, ["to"]),  # 9 digits
    ({"to": "09123456789"}, ["to"]),  # 11 digits
    ({"to": "+84912345678"}, ["to"]),  # not normalised
    ({"to": "1912345678"}, ["to"]),
    ({"to": "091234567x"}, ["to"]),
    ({"to": "０９１２３４５６７８"}, ["to"]),  # full-width digits
    ({"to": 912345678}, ["to"]),
    ({"text": "x" * (MAX_TEXT_LENGTH + 1)}, ["text"]),
    ({"text": ""}, ["text"]),
    ({"reference": ""}, ["reference"]),
    ({"reference": "otp 1"}, ["reference"]),
    ({"reference": "r" * 65}, ["reference"]),
    ({"reference": "mã.1"}, ["reference"]),
    ({"priority": "high"}, ["priority"]),
])
def test_an_invalid_message_is_422_naming_the_fields(client: httpx.Client,
                                                     sim: SimulatorProcess,
                                                     body: dict[str, Any],
                                                     fields: list[str]) -> None:
    response = send(client, **body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_message"
    assert error["fields"] == fields
    assert PHONE not in response.text
    assert error_of(422, response.content, None).permanent
    assert read_outbox(sim.url) == []


def test_the_longest_text_is_accepted(client: httpx.Client, sim: SimulatorProcess) -> None:
    text = "Thông báo: " + "ệ" * (MAX_TEXT_LENGTH - len("Thông báo: "))
    assert send(client, text=text).status_code == 202
    assert read_outbox(sim.url)[0]["text"] == text


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"", b"{"])
def test_a_body_that_is_not_a_json_object_is_422(client: httpx.Client, body: bytes) -> None:
    response = client.post(MESSAGES_PATH, content=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_json"


def test_a_huge_body_is_413_and_the_service_goes_on(client: httpx.Client) -> None:
    response = client.post(MESSAGES_PATH, content=b"{" + b" " * 100_000 + b"}")
    assert response.status_code == 413
    assert error_of(413, response.content, None).permanent
    assert send(client).status_code == 202


def test_down_answers_503_and_up_again_delivers(client: httpx.Client,
                                                sim: SimulatorProcess) -> None:
    assert client.post("/_sim/control", json={"down": True}).json()["down"] is True
    assert client.get("/_sim/health").json() == {"ok": True, "down": True}
    for _ in range(3):
        response = send(client)
        assert response.status_code == 503
        assert not error_of(503, response.content, None).permanent
    assert read_outbox(sim.url) == []
    client.post("/_sim/control", json={"down": False})
    assert send(client).status_code == 202
    assert stats(client) == {"sent": 1, "deduplicated": 0, "failed": 3, "refused": 0,
                             "outbox": 1}


def test_fail_rate_answers_503_at_random(client: httpx.Client, sim: SimulatorProcess) -> None:
    client.post("/_sim/control", json={"fail_rate": 1})
    assert send(client).status_code == 503
    client.post("/_sim/control", json={"fail_rate": 0.5, "seed": 3})
    statuses = [send(client, reference=f"otp.{i}").status_code for i in range(40)]
    assert set(statuses) == {202, 503}
    assert len(read_outbox(sim.url)) == statuses.count(202)
    assert stats(client)["failed"] == 1 + statuses.count(503)
    client.post("/_sim/control", json={"seed": 3})
    assert [send(client, reference=f"again.{i}").status_code for i in range(40)] == statuses


def test_latency_delays_each_answer(client: httpx.Client) -> None:
    client.post("/_sim/control", json={"latency_ms": 300})
    started = time.monotonic()
    assert send(client).status_code == 202
    assert time.monotonic() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        client.post(MESSAGES_PATH, json={"to": PHONE, "text": CODE_TEXT, "reference": "late"},
                    timeout=0.1)


def test_control_refuses_bad_settings(client: httpx.Client) -> None:
    for body in ({"fail_rate": 2}, {"fail_rate": "0.5"}, {"down": "yes"}, {"latency_ms": -1},
                 {"latency_ms": 1.5}, {"speed": 1}, [1]):
        response = client.post("/_sim/control", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "bad_control"
    assert client.get("/_sim/control").json() == DEFAULT_FAULTS


def test_unknown_routes_and_methods(client: httpx.Client) -> None:
    assert client.get("/v2/messages").status_code == 404
    assert client.get(MESSAGES_PATH).status_code == 405
    assert client.post("/_sim/outbox").status_code == 405


def test_faults_can_be_set_at_start() -> None:
    with (message_simulator_process(down=True, fail_rate=0.25, latency_ms=5, seed=2) as sim,
          httpx.Client(base_url=sim.url, headers=sim.auth, timeout=5) as client):
        assert client.get("/_sim/control").json() == {
            "latency_ms": 5, "fail_rate": 0.25, "down": True, "seed": 2}
        assert send(client).status_code == 503


def test_logs_carry_no_phone_numbers_or_texts(client: httpx.Client,
                                              sim: SimulatorProcess) -> None:
    send(client)
    send(client, to=OTHER_PHONE, text="x" * (MAX_TEXT_LENGTH + 1))
    read_outbox(sim.url, to=PHONE)
    time.sleep(0.1)
    log = sim.log.read_text(encoding="utf-8")
    assert re.search(r"POST /v1/messages 202 \d+ms", log)
    assert re.search(r"GET /_sim/outbox 200 \d+ms", log)
    for secret in (PHONE, OTHER_PHONE, "482913", "phụ huynh", "xxxxxxxx"):
        assert secret not in log


def test_the_outbox_keeps_the_newest_messages() -> None:
    server = serve("127.0.0.1", 0, "t", capacity=3)
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": "Bearer t"}) as client:
            ids = [send(client, text=f"Mã {i}", reference=f"otp.{i}").json()["id"]
                   for i in range(5)]
            assert [m["id"] for m in read_outbox(server.url)] == ids[:1:-1]
            # Deduplication lasts as long as the outbox keeps the message.
            assert send(client, text="Mã 4", reference="otp.4").json()["id"] == ids[4]
            assert send(client, text="Mã 0", reference="otp.0").json()["id"] != ids[0]
            assert client.get("/_sim/stats").json()["outbox"] == 3
    finally:
        server.shutdown()
        server.server_close()


def test_a_port_in_use_is_a_command_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match="--port"):
            call_command("sim", "messages", "--port", str(port))


def test_the_control_answer_is_the_whole_set(client: httpx.Client) -> None:
    answer = client.post("/_sim/control", json={"latency_ms": 7}).json()
    assert answer == {**DEFAULT_FAULTS, "latency_ms": 7}
    assert json.loads(client.get("/_sim/control").content) == answer
