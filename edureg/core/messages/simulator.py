"""A simulator of the SMS provider: its own HTTP server on loopback, serving the contract of
``contract.py``, so the real HTTP adapter is exercised for real. Nothing is sent to a phone:
accepted messages go to an in-memory outbox (the last ``capacity``), where the demo and the
tests read the one-time codes.

    POST /v1/messages   (bearer token)  202 {"id": "msg-…", "status": "queued"}; the same
                        reference again: the first message's id, and nothing delivered (the
                        reference alone is the key: the repeat's number and text are not read)
    GET  /_sim/outbox[?to=0912345678]   the delivered messages, newest first:
                        [{"id", "to", "text", "reference", "at"}]
    GET  /_sim/health   {"ok": true, "down": false}
    POST /_sim/control  {"down": false, "fail_rate": 0.1, "latency_ms": 200, "seed": 1}
                        (any subset; answers the whole set; GET reads it)
    GET  /_sim/stats    {"sent": …, "deduplicated": …, "failed": …, "refused": …, "outbox": …}
    POST /_sim/reset    empties the outbox and the stats (a call still waiting out its
                        latency then answers 503 and delivers nothing)

The ``/_sim/`` routes are the simulator's own and take no token: the demo opens the outbox in a
browser, and the simulator listens on loopback. Faults apply to ``POST /v1/messages`` after the
token check: ``latency_ms`` first, then ``down`` (503) and ``fail_rate`` (503 at random).
``failed`` counts those 503s, ``refused`` the 401 / 413 / 422 answers. Logs carry the route,
status and duration only, never a phone number or a text (the outbox's query string is not
logged).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import logging
import random
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any, Final, cast

from edureg.core.messages.contract import (
    MAX_REQUEST_BYTES,
    MESSAGES_PATH,
    InvalidMessage,
    error_body,
    parse_request,
    response_body,
)
from edureg.core.messages.port import Message
from edureg.core.simulation import FaultSettings, SimulatorHandler, SimulatorServer

__all__ = ["Delivered", "Faults", "MessageSimulator", "make_server", "serve"]

logger = logging.getLogger("edureg.sim.messages")

OUTBOX_PATH: Final = "/_sim/outbox"
CONTROL_PATH: Final = "/_sim/control"
HEALTH_PATH: Final = "/_sim/health"
STATS_PATH: Final = "/_sim/stats"
RESET_PATH: Final = "/_sim/reset"
_ROUTES: Final = frozenset({MESSAGES_PATH, OUTBOX_PATH, CONTROL_PATH, HEALTH_PATH, STATS_PATH,
                            RESET_PATH})
DEFAULT_CAPACITY: Final = 10_000


@dataclasses.dataclass
class Faults(FaultSettings):
    """What the simulator does wrong: every message call waits ``latency_ms``; while ``down``
    each answers 503; otherwise a share ``fail_rate`` of them does."""

    latency_ms: int = 0
    fail_rate: float = 0.0
    down: bool = False
    seed: int | None = None


@dataclasses.dataclass(frozen=True)
class Delivered:
    id: str
    to: str
    text: str
    reference: str
    at: str  # ISO 8601, UTC


class _State:
    """Faults, the random generator, the outbox and the counters, behind one lock."""

    def __init__(self, faults: Faults, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.lock = threading.Lock()
        self.faults = faults
        self.capacity = capacity
        self.random = random.Random(faults.seed)  # noqa: S311 - fault injection, not secrets
        self.reset()

    def reset(self) -> None:
        with self.lock:
            # By reference, oldest first: the outbox and the deduplication window in one.
            self.outbox: collections.OrderedDict[str, Delivered] = collections.OrderedDict()
            self.counts: collections.Counter[str] = collections.Counter()
            self.epoch = getattr(self, "epoch", 0) + 1

    def control(self, changes: Mapping[str, Any]) -> Faults:
        with self.lock:
            self.faults = self.faults.updated(changes)
            if "seed" in changes:
                self.random.seed(self.faults.seed)
            return self.faults

    def fails(self) -> bool:
        """Whether this call answers 503 (down, or drawn at ``fail_rate``)."""
        with self.lock:
            failed = self.faults.down or self.random.random() < self.faults.fail_rate
            if failed:
                self.counts["failed"] += 1
            return failed

    def deliver(self, message: Message) -> Delivered:
        """The delivery of ``message``: a new one, or the earlier one of its reference."""
        with self.lock:
            earlier = self.outbox.get(message.reference)
            if earlier is not None:
                self.counts["deduplicated"] += 1
                return earlier
            delivered = Delivered(
                id=f"msg-{uuid.uuid4().hex}", to=message.to, text=message.text,
                reference=message.reference,
                at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"))
            self.outbox[message.reference] = delivered
            while len(self.outbox) > self.capacity:
                self.outbox.popitem(last=False)
            self.counts["sent"] += 1
            return delivered

    def refused(self) -> None:
        with self.lock:
            self.counts["refused"] += 1

    def listed(self, to: str | None) -> list[dict[str, str]]:
        with self.lock:
            return [dataclasses.asdict(d) for d in reversed(self.outbox.values())
                    if to is None or d.to == to]

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {"sent": self.counts["sent"], "deduplicated": self.counts["deduplicated"],
                    "failed": self.counts["failed"], "refused": self.counts["refused"],
                    "outbox": len(self.outbox)}


class MessageSimulator(SimulatorServer):
    def __init__(self, address: tuple[str, int], token: str, faults: Faults,
                 capacity: int = DEFAULT_CAPACITY) -> None:
        self.state = _State(faults, capacity)
        super().__init__(address, _Handler, token)


class _Handler(SimulatorHandler):
    server_version = "edureg-messages-sim/1"
    max_request_bytes = MAX_REQUEST_BYTES

    @property
    def sim(self) -> MessageSimulator:
        return cast(MessageSimulator, self.server)

    def _log(self, status: int, started: float) -> None:
        logger.info("%s %s %s %.0fms", self.command,
                    self.route if self.route in _ROUTES else "(other)", status,
                    (time.perf_counter() - started) * 1000)

    def _refuse(self, status: int, code: str, message: str,
                fields: tuple[str, ...] = ()) -> int:
        return self._send(status, error_body(code, message, fields))

    # -- routes ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        started = time.perf_counter()
        route, state = self.route, self.sim.state
        if route == HEALTH_PATH:
            status = self._send(200, _json({"ok": True, "down": state.faults.down}))
        elif route == OUTBOX_PATH:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            to = query.get("to", [None])[-1]
            status = self._send(200, _json(state.listed(to)))
        elif route == STATS_PATH:
            status = self._send(200, _json(state.stats()))
        elif route == CONTROL_PATH:
            status = self._send(200, _json(dataclasses.asdict(state.faults)))
        elif route in _ROUTES:
            status = self._refuse(405, "method_not_allowed", "use POST")
        else:
            status = self._refuse(404, "not_found", "no such resource")
        self._log(status, started)

    def do_POST(self) -> None:
        started = time.perf_counter()
        route = self.route
        body = self._read_body()
        if route == MESSAGES_PATH:
            status = self._message(body)
        elif route not in (CONTROL_PATH, RESET_PATH):
            status = (self._refuse(405, "method_not_allowed", "use GET") if route in _ROUTES
                      else self._refuse(404, "not_found", "no such resource"))
        elif route == RESET_PATH:
            self.sim.state.reset()
            status = self._send(200, _json({"ok": True}))
        else:
            try:
                changes = json.loads(body) if body is not None else None
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object")
                faults = self.sim.state.control(changes)
            except ValueError as error:
                status = self._refuse(400, "bad_control", str(error))
            else:
                status = self._send(200, _json(dataclasses.asdict(faults)))
        self._log(status, started)

    def _message(self, body: bytes | None) -> int:
        state = self.sim.state
        if not self._authorised():
            state.refused()
            return self._refuse(401, "unauthorized", "missing or wrong bearer token")
        latency, epoch = state.faults.latency_ms, state.epoch
        if latency and self.sim.stopping.wait(latency / 1000):
            return self._refuse(503, "shutting_down", "the simulator is stopping")
        if epoch != state.epoch:  # reset while it waited: it belongs to the emptied outbox
            return self._refuse(503, "reset", "the simulator was reset")
        if state.fails():
            return self._refuse(503, "unavailable", "service unavailable")
        if body is None:
            state.refused()
            return self._refuse(413, "too_large",
                                f"request body missing or over {MAX_REQUEST_BYTES} bytes")
        try:
            message = parse_request(body)
        except InvalidMessage as error:
            state.refused()
            return self._refuse(422, error.code, str(error), error.fields)
        return self._send(202, response_body(state.deliver(message).id))


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def make_server(host: str, port: int, token: str, faults: Faults | None = None,
                capacity: int = DEFAULT_CAPACITY) -> MessageSimulator:
    """A bound simulator, not yet serving (``port`` 0: a free one, see ``server_address``)."""
    return MessageSimulator((host, port), token, faults or Faults(), capacity)


def serve(host: str, port: int, token: str, faults: Faults | None = None,
          capacity: int = DEFAULT_CAPACITY) -> MessageSimulator:
    """A simulator serving in a background thread; stop it with ``shutdown()`` and
    ``server_close()``."""
    server = make_server(host, port, token, faults, capacity)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     name="messages-sim", daemon=True).start()
    return server
