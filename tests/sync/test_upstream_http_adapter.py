"""The HTTP upstream adapter against the sector-database simulator (its own process) and, for
answers the simulator never gives on purpose (429, refusals, mismatched results), a scripted
HTTP peer on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from edureg.sync.upstream import (
    RecordChange,
    UpstreamError,
    UpstreamSectorDB,
    contract,
    upstream_sector_db,
    upstream_sector_db_clear,
)
from edureg.sync.upstream.http_adapter import HttpUpstreamSectorDB, UpstreamUnavailable
from edureg.sync.upstream.port import ChangeResult
from tests.sync.sim_process import (
    SimulatorProcess,
    applied_changes,
    applied_summary,
    upstream_simulator_process,
)

NAME = "Nguyễn Thị Hoà"
BORN = "2019-05-01"
TEMPORARY = "T-79760101-000042"
UNAVAILABLE = ("CSDL ngành (Bộ GD&ĐT) tạm thời không phản hồi; các thay đổi sẽ được gửi lại "
               "tự động.")
Behaviour = Callable[["_Handler", bytes], None]


def change(change_id: str = "ev-1", record_id: int = 42, sequence: int = 1,
           **fields: str | None) -> RecordChange:
    return RecordChange(change_id=change_id, entity="student", record_id=record_id,
                        sequence=sequence, school_code="79760101", education_id=None,
                        temporary_code=TEMPORARY,
                        fields={"full_name": NAME, "date_of_birth": BORN, "sex": "F", **fields})


def batch(size: int, prefix: str = "ev", sequence: int = 1) -> list[RecordChange]:
    return [change(f"{prefix}-{i}", record_id=i, sequence=sequence) for i in range(1, size + 1)]


# -- the simulator -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorProcess]:
    with upstream_simulator_process() as running:
        yield running


@pytest.fixture
def control(sim: SimulatorProcess) -> Iterator[Callable[..., None]]:
    """Sets the simulator's faults; it starts each test with none and an empty file."""
    with httpx.Client(base_url=sim.url, timeout=5) as http:
        def set_faults(**faults: Any) -> None:
            assert http.post("/_sim/control", json=faults).status_code == 200

        set_faults(down=False, fail_rate=0.0, latency_ms=0, malformed_rate=0.0, seed=None)
        assert http.post("/_sim/reset").status_code == 200
        yield set_faults


Factory = Callable[..., HttpUpstreamSectorDB]


@pytest.fixture
def make(sim: SimulatorProcess) -> Iterator[Factory]:
    """Adapters with short waits; the simulator and its token unless told otherwise."""
    built: list[HttpUpstreamSectorDB] = []

    def build(url: str | None = None, **overrides: Any) -> HttpUpstreamSectorDB:
        options: dict[str, Any] = {"token": sim.token, "timeout": 5.0, "backoff_base": 0.01,
                                   "backoff_cap": 0.05}
        options.update(overrides)
        adapter = HttpUpstreamSectorDB(url or sim.url, **options)
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        adapter.close()


def test_a_batch_is_answered_in_order_with_official_ids(make: Factory, control: Any,
                                                        sim: SimulatorProcess) -> None:
    sent = [change("ev-3", record_id=3), change("ev-1", record_id=1, sex="X"),
            change("ev-2", record_id=2)]
    results = make().push(sent)
    assert [r.change_id for r in results] == ["ev-3", "ev-1", "ev-2"]
    assert [r.status for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1].field_errors == {"sex": "Giới tính (sex) phải là M (nam) hoặc F (nữ)."}
    assert results[1].education_id is None
    assert results[0].education_id != results[2].education_id
    for result in results:
        assert result.acknowledged_at.tzinfo is dt.UTC
    assert applied_changes(sim.url, record_id=3)[0]["fields"]["full_name"] == NAME


def test_a_full_batch_of_500_goes_in_one_call(make: Factory, control: Any) -> None:
    adapter = make()
    results = adapter.push(batch(500))
    assert len(results) == 500
    assert {r.status for r in results} == {"accepted"}
    assert adapter.counters()["attempts"] == 1


def test_transient_503s_are_retried_and_each_change_applied_once(
        make: Factory, control: Callable[..., None], sim: SimulatorProcess) -> None:
    control(fail_rate=0.5, seed=5)
    adapter = make(max_attempts=20)
    for number in range(10):
        [result] = adapter.push([change(f"ev-{number}", record_id=number + 1)])
        assert result.status == "accepted"
    counts = adapter.counters()
    assert counts["outcome.status_503"] > 0
    assert counts["retries"] == counts["outcome.status_503"]
    assert applied_summary(sim.url) == {"records": 10, "changes": 10,
                                        "max_applications_per_change": 1}


def test_down_is_a_transient_error_within_the_budget(make: Factory,
                                                     control: Callable[..., None]) -> None:
    control(down=True)
    adapter = make(timeout=1.0, max_attempts=100, backoff_base=0.05, backoff_cap=0.2,
                   breaker_threshold=1000)
    started = time.monotonic()
    with pytest.raises(UpstreamError) as raised:
        adapter.push([change()])
    assert time.monotonic() - started < 1.0 + 0.5
    error = raised.value
    assert (error.permanent, error.status) == (False, 503)
    assert str(error) == UNAVAILABLE
    assert adapter.counters()["attempts"] >= 2


def test_an_unreachable_upstream_is_a_transient_error_within_the_budget(make: Factory) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    adapter = make(f"http://127.0.0.1:{port}", timeout=0.6, max_attempts=100)
    started = time.monotonic()
    with pytest.raises(UpstreamError) as raised:
        adapter.push([change()])
    assert time.monotonic() - started < 0.6 + 0.5
    assert not raised.value.permanent
    assert adapter.counters()["outcome.connect"] >= 2


def test_a_wrong_token_is_permanent_and_not_retried(make: Factory, control: Any,
                                                    sim: SimulatorProcess) -> None:
    adapter = make(token="wrong")
    with pytest.raises(UpstreamError) as raised:
        adapter.push([change()])
    error = raised.value
    assert (error.permanent, error.status) == (True, 401)
    assert "EDUREG_UPSTREAM_TOKEN" in str(error)
    assert "unauthorized" in error.detail
    assert adapter.counters()["attempts"] == 1
    assert applied_summary(sim.url)["changes"] == 0


def test_a_malformed_answer_is_transient_and_the_resend_is_a_duplicate(
        make: Factory, control: Callable[..., None], sim: SimulatorProcess) -> None:
    control(malformed_rate=1.0, seed=1)
    sent = batch(5)
    with pytest.raises(UpstreamError) as raised:
        make(max_attempts=1).push(sent)
    assert not raised.value.permanent
    assert applied_summary(sim.url)["changes"] == 5  # applied before the answer broke
    control(malformed_rate=0.0)
    results = make().push(sent)
    assert {r.status for r in results} == {"duplicate"}
    assert all(r.education_id for r in results)
    assert applied_summary(sim.url) == {"records": 5, "changes": 5,
                                        "max_applications_per_change": 1}


def test_malformed_answers_retried_within_a_push_apply_each_change_once(
        make: Factory, control: Callable[..., None], sim: SimulatorProcess) -> None:
    control(malformed_rate=0.5, seed=7)
    adapter = make(max_attempts=20)
    statuses = []
    for number in range(8):
        results = adapter.push(batch(20, prefix=f"b{number}", sequence=number + 1))
        statuses.extend(r.status for r in results)
    assert set(statuses) <= {"accepted", "duplicate"}
    assert "duplicate" in statuses  # some answers broke after the commit
    assert adapter.counters()["outcome.malformed"] > 0
    assert applied_summary(sim.url) == {"records": 20, "changes": 160,
                                        "max_applications_per_change": 1}


def test_a_batch_outside_the_contract_is_permanent_and_never_sent(make: Factory, control: Any,
                                                                  sim: SimulatorProcess) -> None:
    adapter = make()
    bad = RecordChange(change_id="ev 1", entity="student", record_id=0, sequence=1,
                       school_code="79760101", education_id=None, temporary_code=TEMPORARY,
                       fields={"full_name": NAME})
    with pytest.raises(UpstreamError) as raised:
        adapter.push([change(), bad])
    error = raised.value
    assert error.permanent
    assert "changes.1.change_id" in error.detail
    assert "changes.1.record_id" in error.detail
    assert NAME not in error.detail
    with pytest.raises(UpstreamError) as too_many:
        adapter.push(batch(501))
    assert too_many.value.permanent
    assert adapter.counters().get("attempts", 0) == 0
    assert adapter.push([]) == []
    assert applied_summary(sim.url)["changes"] == 0


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
        except OSError:
            self.close_connection = True

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _results(body: bytes) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC).isoformat()
    return [{"change_id": c.change_id, "status": "accepted", "field_errors": {},
             "education_id": f"99{c.record_id:08d}", "acknowledged_at": now}
            for c in contract.parse_request(body)]


def accept(handler: _Handler, body: bytes) -> None:
    handler.answer(200, json.dumps({"results": _results(body)}).encode())


def rewritten(change_results: Callable[[list[dict[str, Any]]], Any]) -> Behaviour:
    def behave(handler: _Handler, body: bytes) -> None:
        handler.answer(200, json.dumps({"results": change_results(_results(body))}).encode())
    return behave


def status(code: int, retry_after: str | None = None) -> Behaviour:
    def behave(handler: _Handler, body: bytes) -> None:
        headers = {"Retry-After": retry_after} if retry_after else {}
        handler.answer(code, contract.error_body(f"e{code}", "scripted"), headers)
    return behave


def raw(body: bytes) -> Behaviour:
    def behave(handler: _Handler, _: bytes) -> None:
        handler.answer(200, body)
    return behave


class Peer:
    """An upstream on 127.0.0.1: each request takes the next planned behaviour, then
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


def test_each_attempt_has_its_own_request_id_and_the_same_body(peer: Peer,
                                                               make: Factory) -> None:
    peer.plan(status(503), status(500), status(502))
    adapter = make(peer.url, token="peer-token")
    [result] = adapter.push([change()])
    assert result.status == "accepted"
    assert len(peer.bodies) == 4
    assert len(set(peer.bodies)) == 1
    assert len({h["X-Request-Id"] for h in peer.headers}) == 4
    assert {h["Authorization"] for h in peer.headers} == {"Bearer peer-token"}


@pytest.mark.parametrize("code", [400, 401, 403, 404, 413, 422])
def test_permanent_answers_are_never_retried(peer: Peer, make: Factory, code: int) -> None:
    peer.default = status(code)
    with pytest.raises(UpstreamError) as raised:
        make(peer.url).push([change()])
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
    [result] = make(peer.url, sleep=sleep).push([change()])
    assert result.status == "accepted"
    assert len(waits) == 1
    assert 1.0 <= waits[0] <= 1.06


def test_retries_stop_after_max_attempts(peer: Peer, make: Factory) -> None:
    peer.default = status(503)
    with pytest.raises(UpstreamError) as raised:
        make(peer.url, max_attempts=3).push([change()])
    assert (raised.value.permanent, raised.value.status) == (False, 503)
    assert len(peer.bodies) == 3


def _swap(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [results[1], results[0], *results[2:]]


def _set(key: str, value: Any) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    def change_first(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results[0][key] = value
        return results
    return change_first


@pytest.mark.parametrize("behaviour", [
    raw(b"{not json"),
    raw(b""),
    raw(b"{}"),
    raw(b'{"results": "none"}'),
    raw(b'{"results": [], "padding": "' + b"x" * (contract.MAX_RESPONSE_BYTES + 1) + b'"}'),
    rewritten(lambda results: results[:-1]),
    rewritten(lambda results: [*results, {**results[0], "change_id": "ev-99"}]),
    rewritten(lambda results: [results[0], *results]),
    rewritten(_swap),
    rewritten(_set("change_id", "ev-other")),
    rewritten(_set("status", "applied")),
    rewritten(_set("education_id", "99-0000-01")),
    rewritten(_set("education_id", "9" * 21)),
    rewritten(_set("education_id", "")),
    rewritten(_set("acknowledged_at", "2025-09-01T08:00:00")),
    rewritten(_set("field_errors", {"full_name": 3})),
], ids=["not-json", "empty", "no-results", "results-not-a-list", "too-large", "missing",
        "extra", "repeated", "reordered", "unknown-change", "unknown-status",
        "education-id-not-alphanumeric", "education-id-too-long", "education-id-empty",
        "naive-time", "field-error-not-text"])
def test_an_answer_that_does_not_fit_the_batch_is_a_transient_error(
        peer: Peer, make: Factory, behaviour: Behaviour) -> None:
    peer.default = behaviour
    adapter = make(peer.url, max_attempts=2)
    with pytest.raises(UpstreamError) as raised:
        adapter.push(batch(3))
    assert not raised.value.permanent
    assert str(raised.value) == UNAVAILABLE
    counts = adapter.counters()
    assert counts.get("outcome.malformed", 0) + counts.get("outcome.oversize", 0) == 2


def test_a_malformed_answer_then_a_good_one_gives_results(peer: Peer, make: Factory) -> None:
    peer.plan(rewritten(_swap))
    results = make(peer.url).push(batch(2))
    assert [r.change_id for r in results] == ["ev-1", "ev-2"]
    assert len(peer.bodies) == 2


def test_the_breaker_opens_and_then_fails_fast(peer: Peer, make: Factory) -> None:
    peer.default = status(503)
    adapter = make(peer.url, max_attempts=3, breaker_threshold=3, breaker_cooldown=30.0)
    with pytest.raises(UpstreamError):
        adapter.push([change()])
    assert adapter.breaker_state == "open"
    with pytest.raises(UpstreamUnavailable) as raised:
        adapter.push([change()])
    assert not raised.value.permanent
    assert raised.value.retry_after is not None
    assert 25 < raised.value.retry_after <= 30
    assert len(peer.bodies) == 3  # nothing sent while open


def test_log_records_carry_no_personal_data(peer: Peer, make: Factory,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    name = "edureg.sync.upstream.http_adapter"
    adapter = make(peer.url)
    peer.plan(status(503), rewritten(_set("status", "lost")))
    adapter.push([change()])
    peer.default = status(422)
    with pytest.raises(UpstreamError):
        adapter.push([change()])
    with pytest.raises(UpstreamError):
        adapter.push([change(change_id="ev 2")])
    ours = [r.getMessage() for r in caplog.records if r.name == name]
    assert len(ours) == 5
    assert "503" in ours[0]
    assert "malformed" in ours[1]
    assert "accepted=1" in ours[2]
    assert "422" in ours[3]
    assert "permanent, not retried" in ours[3]
    assert "not sendable" in ours[4]
    for record in caplog.records:
        text = record.getMessage() + repr(record.args)
        for secret in (NAME, "Nguyễn", BORN, TEMPORARY):
            assert secret not in text


# -- settings and the fixture --------------------------------------------------------------

class PlainUpstream:
    def push(self, changes: Any) -> list[ChangeResult]:
        return []


def test_upstream_sector_db_is_the_configured_adapter_one_per_process(settings: Any) -> None:
    upstream_sector_db_clear()
    settings.EDUREG_UPSTREAM = f"{__name__}.PlainUpstream"
    try:
        upstream: UpstreamSectorDB = upstream_sector_db()
        assert isinstance(upstream, PlainUpstream)
        assert upstream_sector_db() is upstream
        upstream_sector_db_clear()
        assert upstream_sector_db() is not upstream
    finally:
        upstream_sector_db_clear()


def test_the_http_adapter_reads_its_settings(settings: Any) -> None:
    settings.EDUREG_UPSTREAM_URL = "http://127.0.0.1:9/"
    settings.EDUREG_UPSTREAM_TIMEOUT = 4.0
    with HttpUpstreamSectorDB() as adapter:
        assert adapter.url == "http://127.0.0.1:9/v1/changes"
        assert (adapter.timeout, adapter.attempt_timeout) == (4.0, 2.0)


def test_the_fixture_pushes_to_a_simulator_of_its_own(upstream_simulator: str,
                                                      settings: Any) -> None:
    upstream = upstream_sector_db()
    assert isinstance(upstream, HttpUpstreamSectorDB)
    assert upstream.url == f"{upstream_simulator}/v1/changes"
    [result] = upstream.push([change()])
    assert result.status == "accepted"
    assert [c["change_id"] for c in applied_changes(upstream_simulator, record_id=42)] == ["ev-1"]
