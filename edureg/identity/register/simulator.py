"""A simulator of the national population register: its own HTTP server on loopback, serving the
contract of ``contract.py`` over the SQLite file that ``edureg seed`` writes
(``settings.EDUREG_REGISTER_SIM_DB``), so the real HTTP adapter is exercised for real.

Faults are set at start (``edureg sim register --fail-rate …``) or at runtime, with the same
bearer token as the verify calls::

    POST /_sim/control  {"latency_ms": 200, "quota_per_second": 5, "fail_rate": 0.1,
                         "timeout_rate": 0, "timeout_seconds": 30, "malformed_rate": 0,
                         "down": false, "seed": 1}          (any subset; answers the whole set)
    GET  /_sim/health   {"ok": true, "down": false}          (no token needed)
    GET  /_sim/stats    {"verify_calls": …, "persons": …, "by_status": {"200": …},
                         "faults": {"fail": …}, "persons_by_id": {"079209001234": 1}}
    POST /_sim/reset    clears the stats

``by_status`` counts the statuses sent to verify calls (a late or malformed answer is a 200);
``persons`` and ``persons_by_id`` count only persons given a usable answer in time, so a caller
that verifies nobody twice needlessly leaves every count at 1. While ``down``, verify calls are
cut off without an answer (``faults.down``). Logs carry status, persons count and duration only.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import math
import random
import sqlite3
import threading
import time
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, cast

from edureg.core.simulation import FaultSettings, SimulatorHandler, SimulatorServer
from edureg.identity.register.contract import (
    MAX_REQUEST_BYTES,
    VERIFY_PATH,
    error_body,
    parse_request,
    response_body,
)
from edureg.identity.register.port import (
    FieldOutcome,
    FieldResult,
    PersonQuery,
    PersonResult,
)

__all__ = ["Faults", "RegisterSimulator", "make_server", "register_size", "serve"]

logger = logging.getLogger("edureg.sim.register")

CONTROL_PATH: Final = "/_sim/control"
HEALTH_PATH: Final = "/_sim/health"
STATS_PATH: Final = "/_sim/stats"
RESET_PATH: Final = "/_sim/reset"
_ROUTES: Final = frozenset({VERIFY_PATH, CONTROL_PATH, HEALTH_PATH, STATS_PATH, RESET_PATH})
# An oversized request body is read and dropped up to this size, so the 413 reaches the caller
# instead of a reset connection; beyond it the connection is simply closed after the answer.
_DRAIN_LIMIT: Final = 16_000_000
_MALFORMED_KINDS: Final = ("truncated", "wrong_types", "unknown_ref", "oversized")
_OVERSIZED_BYTES: Final = 5_000_000
_LOOKUP: Final = (
    "SELECT personal_id_number, full_name, date_of_birth, sex, birth_registration_place"
    " FROM person WHERE personal_id_number IN (SELECT value FROM json_each(?))")


@dataclasses.dataclass
class Faults(FaultSettings):
    """What the simulator does wrong, and how often. Rates are shares of verify calls, drawn
    independently in this order: fail (503), timeout (answer after ``timeout_seconds``),
    malformed (a broken 200)."""

    latency_ms: int = 0
    quota_per_second: float | None = None
    fail_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    malformed_rate: float = 0.0
    down: bool = False
    seed: int | None = None


class _State:
    """Faults, the random generator, the token bucket and the counters, behind one lock."""

    def __init__(self, faults: Faults) -> None:
        self.lock = threading.Lock()
        self.faults = faults
        self.random = random.Random(faults.seed)  # noqa: S311 - fault injection, not secrets
        self._tokens = 0.0
        self._refilled = time.monotonic()
        self._refill()
        self.reset()

    def _refill(self) -> None:
        self._tokens = max(1.0, self.faults.quota_per_second or 0.0)
        self._refilled = time.monotonic()

    def reset(self) -> None:
        with self.lock:
            self.verify_calls = 0
            self.by_status: collections.Counter[str] = collections.Counter()
            self.by_fault: collections.Counter[str] = collections.Counter()
            self.persons_by_id: collections.Counter[str] = collections.Counter()

    def control(self, changes: Mapping[str, Any]) -> Faults:
        with self.lock:
            self.faults = self.faults.updated(changes)
            if "quota_per_second" in changes:
                self._refill()
            if "seed" in changes:
                self.random.seed(self.faults.seed)
            return self.faults

    def take_token(self) -> float | None:
        """``None`` when the call is within the quota, else the seconds until it would be."""
        with self.lock:
            rate = self.faults.quota_per_second
            if rate is None:
                return None
            now = time.monotonic()
            capacity = max(1.0, rate)
            self._tokens = min(capacity, self._tokens + (now - self._refilled) * rate)
            self._refilled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return (1.0 - self._tokens) / rate

    def draw(self) -> tuple[str | None, str]:
        """The fault for one verify call (``fail`` / ``timeout`` / ``malformed`` / ``None``) and
        the malformed variant it would take."""
        with self.lock:
            faults, rng = self.faults, self.random
            draws = (rng.random(), rng.random(), rng.random())
            kind = rng.choice(_MALFORMED_KINDS)
        if draws[0] < faults.fail_rate:
            return "fail", kind
        if draws[1] < faults.timeout_rate:
            return "timeout", kind
        if draws[2] < faults.malformed_rate:
            return "malformed", kind
        return None, kind

    def count(self, status: int | None, fault: str | None = None,
              answered: Sequence[str] = ()) -> None:
        with self.lock:
            if status is not None:
                self.by_status[str(status)] += 1
            if fault is not None:
                self.by_fault[fault] += 1
            self.persons_by_id.update(answered)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"verify_calls": self.verify_calls,
                    "persons": sum(self.persons_by_id.values()),
                    "by_status": dict(self.by_status), "faults": dict(self.by_fault),
                    "persons_by_id": dict(self.persons_by_id)}


class RegisterSimulator(SimulatorServer):
    def __init__(self, address: tuple[str, int], db_path: Path, token: str,
                 faults: Faults) -> None:
        self.db_uri = f"{Path(db_path).resolve().as_uri()}?mode=ro"
        self.state = _State(faults)
        super().__init__(address, _Handler, token)


class _Handler(SimulatorHandler):
    server_version = "edureg-register-sim/1"
    max_request_bytes = MAX_REQUEST_BYTES
    drain_limit = _DRAIN_LIMIT
    _db: sqlite3.Connection | None = None

    @property
    def sim(self) -> RegisterSimulator:
        return cast(RegisterSimulator, self.server)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._db is not None:
                self._db.close()

    def _log(self, status: int | str, persons: int, started: float) -> None:
        logger.info("%s %s %s persons=%d %.0fms", self.command,
                    self.route if self.route in _ROUTES else "(other)", status, persons,
                    (time.perf_counter() - started) * 1000)

    def _refuse(self, status: int, code: str, message: str,
                headers: Mapping[str, str] | None = None) -> None:
        self._send(status, error_body(code, message), headers)

    # -- routes ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        started = time.perf_counter()
        route = self.path.split("?", 1)[0]
        status = 200
        if route == HEALTH_PATH:
            self._send(200, _json({"ok": True, "down": self.sim.state.faults.down}))
        elif route in (STATS_PATH, CONTROL_PATH):
            if not self._authorised():
                status = 401
                self._refuse(401, "unauthorized", "missing or wrong bearer token")
            elif route == STATS_PATH:
                self._send(200, _json(self.sim.state.stats()))
            else:
                self._send(200, _json(dataclasses.asdict(self.sim.state.faults)))
        elif route in _ROUTES:
            status = 405
            self._refuse(405, "method_not_allowed", "use POST")
        else:
            status = 404
            self._refuse(404, "not_found", "no such resource")
        self._log(status, 0, started)

    def do_POST(self) -> None:
        started = time.perf_counter()
        route = self.path.split("?", 1)[0]
        if route == VERIFY_PATH:
            self._verify(started)
            return
        body = self._read_body()
        status = 200
        if route not in (CONTROL_PATH, RESET_PATH):
            status = 404 if route not in _ROUTES else 405
            self._refuse(status, "not_found" if status == 404 else "method_not_allowed",
                         "no such resource" if status == 404 else "use GET")
        elif not self._authorised():
            status = 401
            self._refuse(401, "unauthorized", "missing or wrong bearer token")
        elif route == RESET_PATH:
            self.sim.state.reset()
            self._send(200, _json({"ok": True}))
        else:
            try:
                changes = json.loads(body) if body is not None else None
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object")
                faults = self.sim.state.control(changes)
            except ValueError as error:
                status = 400
                self._refuse(400, "bad_control", str(error))
            else:
                self._send(200, _json(dataclasses.asdict(faults)))
        self._log(status, 0, started)

    def _verify(self, started: float) -> None:
        state = self.sim.state
        with state.lock:
            state.verify_calls += 1
            down = state.faults.down
        if down:  # cut off: no status line, no body
            self.close_connection = True
            state.count(None, "down")
            self._log("closed", 0, started)
            return
        echo = {}
        request_id = self.headers.get("X-Request-Id", "")
        if 0 < len(request_id) <= 100 and request_id.isascii() and request_id.isprintable():
            echo["X-Request-Id"] = request_id
        body = self._read_body()
        status, persons = self._verify_answer(body, echo)
        self._log(status, persons, started)

    def _verify_answer(self, body: bytes | None, echo: dict[str, str]) -> tuple[int, int]:
        state = self.sim.state
        if not self._authorised():
            return self._verify_refused(401, "unauthorized", "missing or wrong bearer token",
                                        echo)
        if body is None:
            if not self.headers.get("Content-Length", "").strip().isdigit():
                return self._verify_refused(411, "length_required", "Content-Length needed",
                                            echo)
            return self._verify_refused(413, "too_large",
                                        f"request body over {MAX_REQUEST_BYTES} bytes", echo)
        wait = state.take_token()
        if wait is not None:
            echo["Retry-After"] = str(max(1, math.ceil(wait)))
            return self._verify_refused(429, "quota_exceeded", "too many calls", echo)
        try:
            persons = parse_request(body)
        except ValueError as error:
            return self._verify_refused(400, "bad_request", str(error), echo)
        faults = state.faults
        if faults.latency_ms and self.sim.stopping.wait(faults.latency_ms / 1000):
            return self._verify_refused(503, "shutting_down", "the simulator is stopping", echo)
        fault, kind = state.draw()
        if fault == "fail":
            state.count(None, "fail")
            return self._verify_refused(503, "unavailable", "service unavailable", echo)
        results = self._lookup(persons)
        answer = response_body(uuid.uuid4().hex, results)
        answered: Sequence[str] = [p.personal_id_number for p in persons]
        if fault == "timeout":
            state.count(None, "timeout")
            answered = ()
            if self.sim.stopping.wait(faults.timeout_seconds):
                return self._verify_refused(503, "shutting_down", "the simulator is stopping",
                                            echo)
        elif fault == "malformed":
            state.count(None, f"malformed_{kind}")
            answer, answered = _malformed(kind, answer, persons), ()
        state.count(200, answered=answered)
        try:
            self._send(200, answer, echo)
        except OSError:  # the caller gave up (a timeout): nothing to answer to
            self.close_connection = True
        return 200, len(persons)

    def _verify_refused(self, status: int, code: str, message: str,
                        headers: Mapping[str, str]) -> tuple[int, int]:
        self.sim.state.count(status)
        self._refuse(status, code, message, headers)
        return status, 0

    def _lookup(self, persons: Sequence[PersonQuery]) -> list[PersonResult]:
        if self._db is None:
            self._db = sqlite3.connect(self.sim.db_uri, uri=True)
        numbers = json.dumps(sorted({p.personal_id_number for p in persons}))
        rows = self._db.execute(_LOOKUP, (numbers,)).fetchall()
        register = {row[0]: row[1:] for row in rows}
        results = []
        for person in persons:
            held = register.get(person.personal_id_number)
            if held is None:
                results.append(PersonResult(ref=person.ref, found=False))
                continue
            sent = (person.full_name, person.date_of_birth.isoformat(), person.sex,
                    person.birth_registration_place)
            names = ("full_name", "date_of_birth", "sex", "birth_registration_place")
            results.append(PersonResult(ref=person.ref, found=True, fields={
                name: _compare(name, ours, theirs)
                for name, ours, theirs in zip(names, sent, held, strict=True)}))
        return results


def _compare(name: str, sent: str | None, held: str | None) -> FieldResult:
    """One field: not comparable when either side has no value; names compare after NFC."""
    if not sent or not held:
        return FieldResult(FieldOutcome.NOT_COMPARABLE)
    if name == "full_name":
        same = unicodedata.normalize("NFC", sent) == unicodedata.normalize("NFC", held)
    else:
        same = sent == held
    return FieldResult(FieldOutcome.MATCH) if same else FieldResult(FieldOutcome.MISMATCH, held)


def _malformed(kind: str, answer: bytes, persons: Sequence[PersonQuery]) -> bytes:
    """A broken version of a good ``answer``: each kind fails ``contract.parse_response``."""
    if kind == "truncated":
        return answer[: max(1, len(answer) // 2)]
    parsed = json.loads(answer)
    if kind == "wrong_types":
        for result in parsed["results"]:
            result["found"] = "yes"
    elif kind == "unknown_ref":
        sent, ref = {p.ref for p in persons}, "not-sent"
        while ref in sent:
            ref += "-x"
        parsed["results"][0]["ref"] = ref
    else:  # oversized: a well-formed answer far over MAX_RESPONSE_BYTES
        parsed["padding"] = "x" * _OVERSIZED_BYTES
    return json.dumps(parsed, ensure_ascii=False).encode()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def register_size(db_path: Path) -> int:
    """The number of persons in the register file; ``sqlite3.Error`` when it is not one."""
    uri = f"{Path(db_path).resolve().as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM person").fetchone()[0])
    finally:
        db.close()


def make_server(host: str, port: int, db_path: Path, token: str,
                faults: Faults | None = None) -> RegisterSimulator:
    """A bound simulator, not yet serving (``port`` 0: a free one, see ``server_address``)."""
    return RegisterSimulator((host, port), db_path, token, faults or Faults())


def serve(host: str, port: int, db_path: Path, token: str,
          faults: Faults | None = None) -> RegisterSimulator:
    """A simulator serving in a background thread; stop it with ``shutdown()`` and
    ``server_close()``."""
    server = make_server(host, port, db_path, token, faults)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     name="register-sim", daemon=True).start()
    return server
