"""The HTTP register adapter against a real, scriptable, misbehaving HTTP peer on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from edureg.identity.register import contract
from edureg.identity.register.http_adapter import (
    BreakerState,
    CircuitBreaker,
    HttpPopulationRegister,
    RegisterUnavailable,
    TokenBucket,
    get_register,
)
from edureg.identity.register.port import (
    FieldOutcome,
    FieldResult,
    PersonQuery,
    PersonResult,
    RegisterError,
    VerifyResponse,
)

TOKEN = "test-register-token"
Behaviour = Callable[["_Handler", bytes], None]


# -- the peer ------------------------------------------------------------------------------

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
            peer.seen.append(dict(self.headers.items()))
            peer.active += 1
            peer.max_active = max(peer.max_active, peer.active)
            behaviour = peer.script.popleft() if peer.script else peer.default
        try:
            behaviour(self, body)
        except OSError:  # the client gave up on us
            self.close_connection = True
        finally:
            with peer.lock:
                peer.active -= 1

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class Peer:
    """A register on 127.0.0.1: each request takes the next ``plan``ned behaviour, then
    ``default``; it records the headers it saw and the most requests it held at once."""

    def __init__(self) -> None:
        self.script: deque[Behaviour] = deque()
        self.default: Behaviour = answer()
        self.seen: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.port = 0
        self._server: _Server | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def plan(self, *behaviours: Behaviour) -> None:
        self.script.extend(behaviours)

    def start(self) -> None:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.peer = self
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _results(persons: Sequence[PersonQuery]) -> list[PersonResult]:
    return [PersonResult(ref=p.ref, found=not p.ref.endswith("-9"), fields={
        "full_name": FieldResult(FieldOutcome.MATCH),
        "date_of_birth": FieldResult(FieldOutcome.MISMATCH, "2019-05-02"),
    }) for p in persons]


def valid_answer(body: bytes) -> bytes:
    """The contract's answer to ``body``, in reverse order (the order is not the contract's)."""
    return contract.response_body("reg-1", _results(contract.parse_request(body))[::-1])


def answer(delay: float = 0.0) -> Behaviour:
    def behave(handler: _Handler, body: bytes) -> None:
        time.sleep(delay)
        handler.send(200, valid_answer(body))
    return behave


def status(code: int, retry_after: str | None = None) -> Behaviour:
    def behave(handler: _Handler, body: bytes) -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        handler.send(code, contract.error_body(f"e{code}", "scripted"), headers)
    return behave


def raw(body: bytes) -> Behaviour:
    def behave(handler: _Handler, _: bytes) -> None:
        handler.send(200, body)
    return behave


def rewritten(change: Callable[[list[PersonResult]], list[PersonResult]]) -> Behaviour:
    def behave(handler: _Handler, body: bytes) -> None:
        results = change(_results(contract.parse_request(body)))
        handler.send(200, contract.response_body("reg-1", results))
    return behave


def drip(interval: float, pieces: int) -> Behaviour:
    """A valid answer, a piece every ``interval`` (each well within the read timeout)."""
    def behave(handler: _Handler, body: bytes) -> None:
        data = valid_answer(body)
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        step = max(1, len(data) // pieces)
        for start in range(0, len(data), step):
            handler.wfile.write(data[start:start + step])
            handler.wfile.flush()
            time.sleep(interval)
    return behave


def huge(declared: bool) -> Behaviour:
    def behave(handler: _Handler, body: bytes) -> None:
        size = contract.MAX_RESPONSE_BYTES + 100_000
        handler.send_response(200)
        if declared:
            handler.send_header("Content-Length", str(size))
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.end_headers()
        piece = b" " * 65_536
        for _ in range(size // len(piece) + 1):
            handler.wfile.write(piece)
    return behave


def hang(seconds: float) -> Behaviour:
    def behave(handler: _Handler, body: bytes) -> None:
        time.sleep(seconds)
        handler.send(200, valid_answer(body))
    return behave


# -- fixtures ------------------------------------------------------------------------------

def persons(count: int = 3) -> list[PersonQuery]:
    return [PersonQuery(ref=f"s-{i}", personal_id_number=f"0792090012{i:02d}",
                        full_name="Nguyễn Thị Hoà", date_of_birth=dt.date(2019, 5, 1), sex="F",
                        birth_registration_place="79") for i in range(count)]


@pytest.fixture
def peer() -> Iterator[Peer]:
    server = Peer()
    yield server
    server.stop()


Factory = Callable[..., HttpPopulationRegister]


@pytest.fixture
def make() -> Iterator[Factory]:
    built: list[HttpPopulationRegister] = []

    def build(url: str, **overrides: Any) -> HttpPopulationRegister:
        options: dict[str, Any] = {
            "timeout": 0.3, "backoff_base": 0.01, "backoff_cap": 0.05, "rate_per_second": 0,
            "breaker_cooldown": 0.1, "breaker_max_cooldown": 0.4, "max_wait": 5.0,
        }
        options.update(overrides)
        register = HttpPopulationRegister(url, TOKEN, **options)
        built.append(register)
        return register

    yield build
    for register in built:
        register.close()


def _check(response: VerifyResponse, sent: Sequence[PersonQuery]) -> None:
    assert response.request_id == "reg-1"
    assert [r.ref for r in response.results] == [p.ref for p in sent]
    assert all(r.fields["date_of_birth"].register_value == "2019-05-02"
               for r in response.results if r.found)


# -- answers -------------------------------------------------------------------------------

def test_results_come_back_in_the_order_sent_with_credentials(peer: Peer, make: Factory) -> None:
    sent = persons(12)
    register = make(peer.url)
    response = register.verify(sent)
    _check(response, sent)
    assert [r.found for r in response.results] == [i != 9 for i in range(12)]
    assert response.results[0].fields["full_name"].outcome is FieldOutcome.MATCH
    assert not response.results[0].verified
    headers = peer.seen[0]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-Id"])
    assert register.counters()["attempts"] == 1
    assert register.counters()["outcome.ok"] == 1


def test_transient_errors_are_retried_each_with_its_own_request_id(peer: Peer,
                                                                    make: Factory) -> None:
    peer.plan(status(503), status(500), status(502))
    register = make(peer.url)
    _check(register.verify(persons()), persons())
    assert len(peer.seen) == 4
    assert len({h["X-Request-Id"] for h in peer.seen}) == 4
    counts = register.counters()
    assert (counts["retries"], counts["outcome.status_503"], counts["outcome.ok"]) == (3, 1, 1)


def test_retry_after_is_the_least_wait(peer: Peer, make: Factory) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    peer.plan(status(429, retry_after="1"))
    register = make(peer.url, sleep=sleep)
    started = time.monotonic()
    _check(register.verify(persons()), persons())
    assert time.monotonic() - started >= 1.0
    assert waits == [pytest.approx(1.0)]  # the jitter (≤ 0.05 s) is below it


def test_retries_stop_after_max_attempts(peer: Peer, make: Factory) -> None:
    peer.default = status(503)
    register = make(peer.url, max_attempts=3, breaker_threshold=10)
    with pytest.raises(RegisterError) as raised:
        register.verify(persons())
    assert (raised.value.permanent, raised.value.status) == (False, 503)
    assert len(peer.seen) == 3


@pytest.mark.parametrize("code", [400, 401, 403, 413, 422])
def test_permanent_errors_are_never_retried(peer: Peer, make: Factory, code: int) -> None:
    peer.default = status(code)
    register = make(peer.url)
    with pytest.raises(RegisterError) as raised:
        register.verify(persons())
    assert raised.value.permanent
    assert raised.value.status == code
    assert len(peer.seen) == 1
    assert register.counters()["attempts"] == 1
    assert register.breaker_state == "closed"


# -- malformed, slow, huge, silent ---------------------------------------------------------

@pytest.mark.parametrize("behaviour", [
    raw(b"{not json"),
    raw(b'{"request_id": 7, "results": []}'),
    raw(b'{"request_id": "r", "results": [{"ref": "s-0", "found": "yes"}]}'),
    rewritten(lambda results: [*results, PersonResult(ref="ghost", found=False)]),
    rewritten(lambda results: results[1:]),
    rewritten(lambda results: [*results, results[0]]),
], ids=["not-json", "wrong-type", "wrong-found", "ref-not-sent", "ref-missing", "repeated"])
def test_malformed_answers_are_errors_never_results(peer: Peer, make: Factory,
                                                    behaviour: Behaviour) -> None:
    peer.default = behaviour
    register = make(peer.url, max_attempts=2)
    with pytest.raises(RegisterError) as raised:
        register.verify(persons())
    assert not raised.value.permanent
    assert register.counters()["outcome.malformed"] == 2


def test_a_slow_drip_is_cut_at_the_deadline_and_retried(peer: Peer, make: Factory) -> None:
    peer.plan(drip(interval=0.05, pieces=40))  # 2 s in all, every piece within the timeout
    register = make(peer.url)
    started = time.monotonic()
    _check(register.verify(persons()), persons())
    assert time.monotonic() - started < 1.2
    assert register.counters()["outcome.deadline"] == 1


def test_a_slow_drip_alone_is_a_transient_error(peer: Peer, make: Factory) -> None:
    peer.default = drip(interval=0.05, pieces=40)
    register = make(peer.url, max_attempts=1)
    with pytest.raises(RegisterError, match="slower") as raised:
        register.verify(persons())
    assert not raised.value.permanent


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_a_huge_answer_is_refused(peer: Peer, make: Factory, declared: bool) -> None:
    peer.default = huge(declared)
    register = make(peer.url, max_attempts=1)
    with pytest.raises(RegisterError, match="too large") as raised:
        register.verify(persons())
    assert not raised.value.permanent
    assert register.counters()["outcome.oversize"] == 1


def test_a_hang_times_out_and_is_retried(peer: Peer, make: Factory) -> None:
    peer.plan(hang(1.0))
    register = make(peer.url)
    started = time.monotonic()
    _check(register.verify(persons()), persons())
    assert time.monotonic() - started < 0.9
    assert register.counters()["outcome.timeout"] == 1


# -- breaker -------------------------------------------------------------------------------

def test_an_outage_opens_the_breaker_which_waits_and_resumes(peer: Peer, make: Factory) -> None:
    peer.stop()
    register = make(peer.url, max_attempts=3, breaker_threshold=2)
    threading.Timer(0.8, peer.start).start()
    outcomes: list[VerifyResponse | BaseException] = []

    def call() -> None:
        try:
            outcomes.append(register.verify(persons()))
        except BaseException as error:
            outcomes.append(error)

    threads = [threading.Thread(target=call) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert time.monotonic() - started >= 0.8
    assert len(outcomes) == 4
    for outcome in outcomes:
        assert isinstance(outcome, VerifyResponse), outcome
        _check(outcome, persons())
    counts = register.counters()
    assert counts["breaker_opened"] >= 2  # opened, and reopened by a failed probe
    assert counts["outcome.connect"] >= 3  # well past max_attempts for one call
    assert register.breaker_state == "closed"


def test_a_long_outage_ends_the_wait_as_unavailable(peer: Peer, make: Factory) -> None:
    peer.stop()
    register = make(peer.url, breaker_threshold=1, max_wait=0.5)
    started = time.monotonic()
    with pytest.raises(RegisterUnavailable, match="unavailable") as raised:
        register.verify(persons())
    assert not raised.value.permanent
    assert 0.5 <= time.monotonic() - started < 2.0
    assert register.breaker_state in {"open", "half_open"}


def test_the_breaker_lets_one_probe_through_and_backs_off() -> None:
    now = [100.0]
    breaker = CircuitBreaker(failure_threshold=2, cooldown=10, max_cooldown=25,
                             clock=lambda: now[0])
    assert breaker.admit() == (0.0, False)
    assert not breaker.record_failure(probe=False)
    assert breaker.record_failure(probe=False)
    assert breaker.admit() == (10.0, False)  # open
    now[0] += 10
    assert breaker.state.value == "half_open"
    assert breaker.admit() == (0.0, True)
    wait, probe = breaker.admit()  # a second caller waits for the probe
    assert wait > 0
    assert not probe
    assert breaker.record_failure(probe=True)
    assert breaker.admit() == (20.0, False)
    now[0] += 20
    assert breaker.admit() == (0.0, True)
    breaker.record_failure(probe=True)
    assert breaker.admit() == (25.0, False)  # capped
    now[0] += 25
    assert breaker.admit() == (0.0, True)
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.admit() == (0.0, False)
    assert breaker.times_opened == 3


# -- limits --------------------------------------------------------------------------------

def test_the_rate_limit_spaces_calls(peer: Peer, make: Factory) -> None:
    register = make(peer.url, rate_per_second=20)
    started = time.monotonic()
    for _ in range(6):
        register.verify(persons(1))
    assert time.monotonic() - started >= 5 / 20 * 0.95


def test_the_token_bucket_on_a_clock() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    bucket = TokenBucket(4, clock=lambda: now[0], sleep=sleep)
    waits = [bucket.acquire() for _ in range(5)]
    assert waits == [0.0, 0.25, 0.25, 0.25, 0.25]
    now[0] += 10  # idle: no more than one token saved up
    assert [bucket.acquire() for _ in range(2)] == [0.0, 0.25]


def test_concurrency_is_capped(peer: Peer, make: Factory) -> None:
    peer.default = answer(delay=0.1)
    register = make(peer.url, max_concurrency=2)
    threads = [threading.Thread(target=register.verify, args=(persons(2),)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(peer.seen) == 8
    assert peer.max_active == 2


# -- logging, refusals, settings -----------------------------------------------------------

def test_log_lines_carry_no_personal_data(peer: Peer, make: Factory,
                                          caplog: pytest.LogCaptureFixture) -> None:
    name = "edureg.identity.register.http_adapter"
    caplog.set_level(logging.INFO)

    def ours() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == name]

    peer.plan(status(503), raw(b"{not json"))
    register = make(peer.url)
    register.verify(persons())
    assert len(ours()) == 2  # one per failed attempt
    assert "503" in ours()[0]
    assert "malformed" in ours()[1]
    assert "retrying in" in ours()[1]
    peer.default = status(401)
    with pytest.raises(RegisterError):
        register.verify(persons())
    assert len(ours()) == 3
    assert "401" in ours()[2]
    assert "permanent, not retried" in ours()[2]
    for person in persons():
        assert person.full_name not in caplog.text
        assert person.personal_id_number not in caplog.text


def test_an_unsendable_batch_is_refused_without_a_call(peer: Peer, make: Factory) -> None:
    register = make(peer.url)
    bad = [PersonQuery(ref="s-1", personal_id_number="0792", full_name="Nguyễn Thị Hoà",
                       date_of_birth=dt.date(2019, 5, 1), sex="F")]
    with pytest.raises(RegisterError) as raised:
        register.verify(bad)
    assert raised.value.permanent
    assert "personal_id_number" in str(raised.value)
    assert "0792" not in str(raised.value)
    with pytest.raises(RegisterError):
        register.verify([])
    assert peer.seen == []


class PlainRegister:
    def verify(self, persons: Sequence[PersonQuery]) -> VerifyResponse:
        return VerifyResponse(request_id="plain", results=[])


def test_get_register_builds_the_configured_adapter(peer: Peer, settings: Any) -> None:
    settings.EDUREG_POPULATION_REGISTER = \
        "edureg.identity.register.http_adapter.HttpPopulationRegister"
    settings.EDUREG_REGISTER_URL = peer.url
    settings.EDUREG_REGISTER_TOKEN = TOKEN
    register = get_register()
    assert isinstance(register, HttpPopulationRegister)
    with register:
        _check(register.verify(persons()), persons())
    assert peer.seen[0]["Authorization"] == f"Bearer {TOKEN}"
    settings.EDUREG_POPULATION_REGISTER = f"{__name__}.PlainRegister"
    assert isinstance(get_register(), PlainRegister)


def test_a_client_certificate_needs_its_key(settings: Any) -> None:
    settings.EDUREG_REGISTER_CLIENT_CERT = "/etc/edureg/register.pem"
    settings.EDUREG_REGISTER_CLIENT_KEY = ""
    with pytest.raises(ImproperlyConfigured):
        HttpPopulationRegister.from_settings()
