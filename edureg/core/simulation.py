"""What the simulators of outside systems (the population register, the SMS provider, the national
sector database) share: their fault settings and the plumbing of their HTTP servers.

Each simulator is its own process on loopback serving its contract, so that the real HTTP
adapters are exercised for real; each keeps its own routes, state and answers and takes from
here only what is the same in all three: a fault dataclass changed by ``POST /_sim/control``
(``FaultSettings``), a threading server whose threads never block shutdown
(``SimulatorServer``), and a request handler that answers JSON, reads a bounded body, checks the
bearer token in constant time and logs nothing of the request line (``SimulatorHandler``).
"""

from __future__ import annotations

import dataclasses
import hmac
import math
import socket
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self, cast

__all__ = ["FaultSettings", "SimulatorHandler", "SimulatorServer", "checked_setting"]


def checked_setting(name: str, value: Any) -> Any:
    """A fault setting's value as stored, by the setting's name: ``down`` true or false,
    ``latency_ms`` and ``seed`` non-negative integers (``seed`` may be null),
    ``quota_per_second`` a positive number or null, ``timeout_seconds`` a non-negative number,
    anything else a rate from 0 to 1. ``ValueError`` saying what is expected otherwise."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if name == "down":
        if not isinstance(value, bool):
            raise ValueError("down must be true or false")
        return value
    if name in ("latency_ms", "seed"):
        if value is None and name == "seed":
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
        return value
    if name == "quota_per_second":
        if value is None:
            return None
        if not number or not math.isfinite(value) or value <= 0:
            raise ValueError("quota_per_second must be a positive number or null")
        return float(value)
    if name == "timeout_seconds":
        if not number or not math.isfinite(value) or value < 0:
            raise ValueError("timeout_seconds must be a non-negative number")
        return float(value)
    if not number or not 0.0 <= value <= 1.0:  # the rates
        raise ValueError(f"{name} must be a number from 0 to 1")
    return float(value)


class FaultSettings:
    """Mixed into a simulator's fault dataclass: ``updated`` applies a control body."""

    def updated(self, changes: Mapping[str, Any]) -> Self:
        """A copy with ``changes`` applied; ``ValueError`` on an unknown setting or value."""
        fields = dataclasses.fields(cast(Any, self))
        unknown = set(changes) - {f.name for f in fields}
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values = {f.name: getattr(self, f.name) for f in fields}
        for name, value in changes.items():
            values[name] = checked_setting(name, value)
        return type(self)(**values)


class SimulatorServer(ThreadingHTTPServer):
    """A simulator's server. Its threads never block shutdown, sleeping ones included: a fault
    latency waits on ``stopping``, which ``shutdown`` sets."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[SimulatorHandler],
                 token: str) -> None:
        self.token = token
        self.stopping = threading.Event()
        super().__init__(address, handler)

    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class SimulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection frees its thread after this
    max_request_bytes: ClassVar[int]
    # An oversized body up to this size is read and dropped, so that the client sees the
    # answer instead of a reset connection; a larger one is left unread.
    drain_limit: ClassVar[int] = 0

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes: without this, delayed ACKs add 40 ms a call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the base class would log request lines, query strings included; each
        simulator logs the route, status and duration itself."""

    def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> int:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:  # the caller gave up (its deadline): nothing to answer to
            self.close_connection = True
        return status

    def _read_body(self) -> bytes | None:
        """The request body; ``None`` when there is none within ``max_request_bytes`` (the
        connection is then closed after the answer)."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if 0 <= length <= self.max_request_bytes:
            return self.rfile.read(length)
        self.close_connection = True
        remaining = length if 0 < length <= self.drain_limit else 0
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)
        return None

    def _authorised(self) -> bool:
        given = self.headers.get("Authorization", "")
        token = cast(SimulatorServer, self.server).token
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
