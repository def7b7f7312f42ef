"""The HTTP message sender against the SMS simulator (its own process) and, for answers the
simulator never gives (429, malformed 2xx, other refusals), a scripted HTTP peer on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from edureg.core.messages import (
    Message,
    MessageError,
    MessageSender,
    contract,
    message_sender,
    message_sender_clear,
)
from edureg.core.messages.http_adapter import HttpMessageSender
from tests.messages.sim_process import (
    SimulatorProcess,
    message_simulator,  # noqa: F401 - a fixture
    message_simulator_process,
    read_outbox,
)

PHONE = "0912345678"
CODE = "Mã xác thực tra cứu của phụ huynh: 482913"
UNAVAILABLE = "Hệ thống gửi tin nhắn đang gián đoạn, vui lòng thử lại sau ít phút."
Behaviour = Callable[["_Handler", bytes], None]


def code_message(reference: str = "otp.1", to: str = PHONE, text: str = CODE) -> Message:
    return Message(to=to, text=text, reference=reference)


# -- the simulator -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    with message_simulator_process() as running:
        yield running


@pytest.fixture
def control(sim: SimulatorProcess) -> Iterator[Callable[..., None]]:
    """Sets the simulator's faults; it starts each test with none, an empty outbox and zero
    stats."""
    with httpx.Client(base_url=sim.url, headers=sim.auth, timeout=5) as http:
        def set_faults(**faults: Any) -> None:
            assert http.post("/_sim/control", json=faults).status_code == 200

        set_faults(down=False, fail_rate=0.0, latency_ms=0, seed=None)
        assert http.post("/_sim/reset").status_code == 200
        yield set_faults


def sim_stats(sim: SimulatorProcess) -> dict[str, int]:
    counted: dict[str, int] = httpx.get(f"{sim.url}/_sim/stats", headers=sim.auth).json()
    return counted


Factory = Callable[..., HttpMessageSender]


@pytest.fixture
def make(sim: SimulatorProcess) -> Iterator[Factory]:
    """Senders with short waits; the simulator and its token unless told otherwise."""
    built: list[HttpMessageSender] = []

    def build(url: str | None = None, **overrides: Any) -> HttpMessageSender:
        options: dict[str, Any] = {"token": sim.token, "deadline": 3.0, "backoff_base": 0.01,
                                   "backoff_cap": 0.05}
        options.update(overrides)
        sender = HttpMessageSender(url or sim.url, **options)
        built.append(sender)
        return sender

    yield build
    for sender in built:
        sender.close()


def test_a_message_is_sent_and_its_id_returned(make: Factory, control: Any,
                                               sim: SimulatorProcess) -> None:
    message_id = make().send(code_message())
    [delivered] = read_outbox(sim.url, to=PHONE)
    assert delivered["id"] == message_id
    assert (delivered["text"], delivered["reference"]) == (CODE, "otp.1")


def test_the_same_reference_sent_twice_is_delivered_once(make: Factory, control: Any,
                                                         sim: SimulatorProcess) -> None:
    sender = make()
    assert sender.send(code_message()) == sender.send(code_message())
    assert len(read_outbox(sim.url)) == 1
    assert sim_stats(sim)["deduplicated"] == 1


def test_transient_503s_are_retried_and_each_message_delivered_once(
        make: Factory, control: Callable[..., None], sim: SimulatorProcess) -> None:
    control(fail_rate=0.5, seed=11)
    sender = make(max_attempts=12)
    ids = [sender.send(code_message(f"otp.{i}")) for i in range(10)]
    outbox = read_outbox(sim.url)
    assert sorted(m["id"] for m in outbox) == sorted(ids)
    assert sorted(m["reference"] for m in outbox) == sorted(f"otp.{i}" for i in range(10))
    counts, failed = sender.counters(), sim_stats(sim)["failed"]
    assert failed > 0
    assert counts["retries"] == counts["outcome.status_503"] == failed
    assert counts["succeeded"] == 10


def test_down_is_a_transient_error_within_the_deadline(make: Factory,
                                                       control: Callable[..., None],
                                                       sim: SimulatorProcess) -> None:
    control(down=True)
    sender = make(deadline=1.0, max_attempts=100, backoff_base=0.05, backoff_cap=0.2)
    started = time.monotonic()
    with pytest.raises(MessageError) as raised:
        sender.send(code_message())
    assert time.monotonic() - started < 1.0 + 0.5
    error = raised.value
    assert (error.permanent, error.status) == (False, 503)
    assert str(error) == UNAVAILABLE
    assert sim_stats(sim)["failed"] >= 2  # retried while the deadline allowed
    assert read_outbox(sim.url) == []


def test_an_unreachable_provider_is_a_transient_error_within_the_deadline(make: Factory) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    sender = make(f"http://127.0.0.1:{port}", deadline=0.6, max_attempts=100)
    started = time.monotonic()
    with pytest.raises(MessageError) as raised:
        sender.send(code_message())
    assert time.monotonic() - started < 0.6 + 0.5
    assert not raised.value.permanent
    assert sender.counters()["outcome.connect"] >= 2


@pytest.mark.parametrize("attempt_timeout", [None, 30.0], ids=["half-each", "longer-than-all"])
def test_a_hanging_provider_is_cut_at_the_deadline(make: Factory, control: Callable[..., None],
                                                   attempt_timeout: float | None) -> None:
    control(latency_ms=5_000)
    sender = make(deadline=0.8, attempt_timeout=attempt_timeout)
    started = time.monotonic()
    with pytest.raises(MessageError) as raised:
        sender.send(code_message())
    assert time.monotonic() - started < 0.8 + 0.5
    assert not raised.value.permanent
    counts = sender.counters()
    if attempt_timeout is None:  # 0.4 s each: the second ends by its timeout or the deadline
        assert counts["attempts"] == 2
        assert counts["outcome.timeout"] >= 1
    else:
        assert counts["outcome.deadline"] == 1


@pytest.mark.parametrize(("message", "field"), [
    (code_message(to="+84912345678"), "to"),
    (code_message(to="091234567"), "to"),
    (code_message(text=""), "text"),
    (code_message(text="x" * (contract.MAX_TEXT_LENGTH + 1)), "text"),
    (code_message(reference="otp 1"), "reference"),
    (code_message(reference="r" * 65), "reference"),
], ids=["not-normalised", "short-phone", "empty-text", "long-text", "space-in-reference",
        "long-reference"])
def test_a_message_outside_the_contract_is_permanent_and_never_sent(
        make: Factory, control: Any, sim: SimulatorProcess, message: Message,
        field: str) -> None:
    sender = make()
    with pytest.raises(MessageError) as raised:
        sender.send(message)
    error = raised.value
    assert error.permanent
    assert error.status is None
    assert error.detail == f"message not sendable: invalid {field}"  # the name, not the value
    assert sender.counters().get("attempts", 0) == 0
    assert sim_stats(sim) == {"sent": 0, "deduplicated": 0, "failed": 0, "refused": 0,
                              "outbox": 0}


def test_a_wrong_token_is_permanent_and_not_retried(make: Factory, control: Any,
                                                    sim: SimulatorProcess) -> None:
    sender = make(token="wrong")
    with pytest.raises(MessageError) as raised:
        sender.send(code_message())
    assert (raised.value.permanent, raised.value.status) == (True, 401)
    assert "unauthorized" in raised.value.detail
    assert sim_stats(sim)["refused"] == 1
    assert sender.counters()["attempts"] == 1


def test_a_late_resend_of_a_reference_returns_the_first_id(make: Factory, control: Any,
                                                           sim: SimulatorProcess) -> None:
    """A caller that sends again under the same reference (its own retry, with a text that
    says fewer minutes left) gets the first message's id; the phone gets one message."""
    sender = make()
    first = sender.send(code_message(text="Mã 482913, hiệu lực 10 phút"))
    assert sender.send(code_message(text="Mã 482913, hiệu lực 9 phút")) == first
    assert [m["text"] for m in read_outbox(sim.url)] == ["Mã 482913, hiệu lực 10 phút"]


def test_concurrent_sends_share_one_sender(make: Factory, control: Any,
                                           sim: SimulatorProcess) -> None:
    sender = make()
    with ThreadPoolExecutor(max_workers=12) as pool:
        ids = list(pool.map(lambda i: sender.send(code_message(f"otp.{i}")), range(40)))
    assert len(set(ids)) == 40
    assert sim_stats(sim)["sent"] == 40


# -- a scripted peer -----------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    peer: Peer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        peer = self.server.peer
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with peer.lock:
            peer.bodies.append(body)
            peer.headers.append(dict(self.headers.items()))
            behaviour = peer.script.popleft() if peer.script else peer.default
        try:
            behaviour(self, body)
        except OSError:  # the sender gave up on us
            self.close_connection = True

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def accept(handler: _Handler, body: bytes) -> None:
    handler.answer(202, contract.response_body("peer-1"))


def status(code: int, retry_after: str | None = None) -> Behaviour:
    def behave(handler: _Handler, body: bytes) -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        handler.answer(code, contract.error_body(f"e{code}", "scripted"), headers)
    return behave


def raw(body: bytes, code: int = 200) -> Behaviour:
    def behave(handler: _Handler, _: bytes) -> None:
        handler.answer(code, body)
    return behave


class Peer:
    """A provider on 127.0.0.1: each request takes the next planned behaviour, then
    ``default``; it keeps the bodies and headers it received."""

    def __init__(self) -> None:
        self.script: deque[Behaviour] = deque()
        self.default: Behaviour = accept
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.peer = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def plan(self, *behaviours: Behaviour) -> None:
        self.script.extend(behaviours)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer()
    yield server
    server.stop()


def test_each_attempt_carries_the_token_and_the_same_message(peer: Peer, make: Factory) -> None:
    peer.plan(status(503), status(500), status(502), status(504))
    sender = make(peer.url, token="peer-token", max_attempts=5)
    assert sender.send(code_message()) == "peer-1"
    assert len(peer.bodies) == 5
    assert len(set(peer.bodies)) == 1
    assert contract.parse_request(peer.bodies[0]) == code_message()
    assert {h["Authorization"] for h in peer.headers} == {"Bearer peer-token"}
    assert sender.counters()["retries"] == 4


def test_retries_stop_after_max_attempts(peer: Peer, make: Factory) -> None:
    peer.default = status(503)
    with pytest.raises(MessageError) as raised:
        make(peer.url, max_attempts=3).send(code_message())
    assert (raised.value.permanent, raised.value.status) == (False, 503)
    assert len(peer.bodies) == 3


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 413, 422, 301])
def test_permanent_answers_are_never_retried(peer: Peer, make: Factory, code: int) -> None:
    peer.default = status(code)
    with pytest.raises(MessageError) as raised:
        make(peer.url).send(code_message())
    assert raised.value.permanent
    assert raised.value.status == code
    assert f"e{code}" in raised.value.detail
    assert len(peer.bodies) == 1


def test_retry_after_is_the_least_wait(peer: Peer, make: Factory) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    peer.plan(status(429, retry_after="1"))
    assert make(peer.url, sleep=sleep).send(code_message()) == "peer-1"
    assert waits == [pytest.approx(1.0, abs=0.06)]  # the jitter (≤ 0.05 s) is above it
    assert waits[0] >= 1.0


def test_a_retry_after_past_the_deadline_gives_up_at_once(peer: Peer, make: Factory) -> None:
    peer.default = status(429, retry_after="30")
    started = time.monotonic()
    with pytest.raises(MessageError) as raised:
        make(peer.url, deadline=2.0).send(code_message())
    assert time.monotonic() - started < 1.0
    error = raised.value
    assert (error.permanent, error.status, error.retry_after) == (False, 429, 30.0)
    assert len(peer.bodies) == 1


@pytest.mark.parametrize("body", [
    b"{not json",
    b"",
    b"{}",
    b'{"id": 7, "status": "queued"}',
    b'{"id": "", "status": "queued"}',
    b'{"id": "m-1", "status": "lost"}',
    b'{"id": "m-1"}',
    b'["m-1"]',
    b'{"id": "m-1", "status": "queued", "padding": "' + b"x" * 70_000 + b'"}',
], ids=["not-json", "empty", "no-fields", "id-not-text", "id-empty", "unknown-status",
        "no-status", "a-list", "too-large"])
def test_a_malformed_2xx_answer_is_a_transient_error(peer: Peer, make: Factory,
                                                     body: bytes) -> None:
    peer.default = raw(body)
    sender = make(peer.url, max_attempts=2)
    with pytest.raises(MessageError) as raised:
        sender.send(code_message())
    assert not raised.value.permanent
    assert str(raised.value) == UNAVAILABLE
    assert sender.counters()["outcome.malformed"] == 2


def test_a_malformed_answer_then_a_good_one_delivers(peer: Peer, make: Factory) -> None:
    peer.plan(raw(b'{"status": "queued"}', code=202))
    assert make(peer.url).send(code_message()) == "peer-1"
    assert len(peer.bodies) == 2


def test_log_records_carry_no_phone_number_or_text(peer: Peer, make: Factory,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    name = "edureg.core.messages.http_adapter"
    sender = make(peer.url)
    peer.plan(status(503), raw(b"{not json"))
    sender.send(code_message("otp.1"))
    peer.default = status(422)
    with pytest.raises(MessageError):
        sender.send(code_message("otp.2"))
    with pytest.raises(MessageError):
        sender.send(code_message("otp.3", to="+84912345678"))
    ours = [r.getMessage() for r in caplog.records if r.name == name]
    assert len(ours) == 4
    assert "503" in ours[0]
    assert "malformed" in ours[1]
    assert "retrying in" in ours[1]
    assert "422" in ours[2]
    assert "permanent, not retried" in ours[2]
    assert "invalid to" in ours[3]
    for record in caplog.records:
        text = record.getMessage() + repr(record.args)
        for secret in (PHONE, "912345678", CODE, "482913", "phụ huynh"):
            assert secret not in text


# -- settings and the fixture --------------------------------------------------------------

class PlainSender:
    def send(self, message: Message) -> str:
        return "plain"


def test_message_sender_is_the_configured_adapter_one_per_process(settings: Any) -> None:
    message_sender_clear()
    settings.EDUREG_MESSAGE_SENDER = f"{__name__}.PlainSender"
    try:
        sender: MessageSender = message_sender()
        assert isinstance(sender, PlainSender)
        assert message_sender() is sender
        message_sender_clear()
        assert message_sender() is not sender
    finally:
        message_sender_clear()


def test_the_http_sender_reads_its_settings(settings: Any) -> None:
    settings.EDUREG_MESSAGES_URL = "http://127.0.0.1:9/"
    settings.EDUREG_MESSAGES_TIMEOUT = 2.0
    with HttpMessageSender() as sender:
        assert sender.url == "http://127.0.0.1:9/v1/messages"
        assert (sender.deadline, sender.attempt_timeout) == (2.0, 1.0)


@pytest.mark.usefixtures("message_simulator")
def test_the_fixture_sends_to_a_simulator_of_its_own(settings: Any) -> None:
    sender = message_sender()
    assert isinstance(sender, HttpMessageSender)
    url = settings.EDUREG_MESSAGES_URL
    assert sender.url == f"{url}/v1/messages"
    message_id = sender.send(code_message())
    assert [m["id"] for m in read_outbox(url, to=PHONE)] == [message_id]
