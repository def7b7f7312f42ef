"""The real ``PopulationRegister``: the register exchange over HTTPS (``contract``).

One shared ``httpx.Client`` (a connection pool) serves every thread. Around each HTTP attempt,
in order: the circuit breaker (while open, the call waits for the cool-down instead of hammering
the register — the batch pauses and resumes by itself, up to ``max_wait``), a semaphore of
``max_concurrency`` attempts in flight, and inside it a token bucket at ``rate_per_second``
attempts. Transient failures (timeouts, connection errors, 5xx, 429, malformed or oversized
answers) are retried by ``tenacity`` with exponential backoff and full jitter, never less than
the register's ``Retry-After``; permanent ones (400, 401, 403, 413, 422 …) are raised at once.
Failures that open the breaker, or happen while it is open, do not use up ``max_attempts``:
the breaker's wait bounds them instead. An attempt reads its answer for at most
``deadline_factor`` × ``timeout`` (checked as bytes arrive, so a trickle overruns it by at most
one read timeout); the status line and headers are bounded by the read timeout only. Log lines
name the attempt, the outcome and the wait, never a person.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pydantic
import tenacity
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from edureg.identity.register import contract
from edureg.identity.register.port import (
    PersonQuery,
    PopulationRegister,
    RegisterError,
    VerifyResponse,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# How often a call waiting on a half-open breaker looks whether the probe has ended.
_PROBE_POLL_SECONDS = 0.05
# Bytes of a non-200 answer worth reading: the error code is near the start.
_ERROR_BODY_BYTES = 10_000


class RegisterUnavailable(RegisterError):
    """The breaker stayed open past ``max_wait``: the register is down, try the batch later."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=False)


class _Failure(RegisterError):
    """A transient ``RegisterError`` labelled with its outcome, for the counters and the log."""

    def __init__(self, outcome: str, message: str, *, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message, permanent=False, retry_after=retry_after, status=status)
        self.outcome = outcome


class TokenBucket:
    """At most ``rate`` acquisitions per second (``burst`` at once); ``acquire`` blocks until
    its token is due. Each caller reserves the next token under the lock and sleeps outside it,
    so waiting callers are served in arrival order. ``rate`` 0 turns the limit off."""

    def __init__(self, rate: float, *, burst: int = 1, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        if rate < 0 or burst < 1:
            raise ValueError("rate must be >= 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def acquire(self) -> float:
        """Take a token; return the seconds waited for it."""
        if self.rate == 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst),
                               self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive transient failures, for ``cooldown``
    seconds; then lets one probe through (half-open). The probe's success closes it; its
    failure reopens it for twice the last cool-down, at most ``max_cooldown``."""

    def __init__(self, *, failure_threshold: int = 5, cooldown: float = 30.0,
                 max_cooldown: float = 300.0, clock: Clock = time.monotonic) -> None:
        if failure_threshold < 1 or cooldown <= 0 or max_cooldown < cooldown:
            raise ValueError("need failure_threshold >= 1 and 0 < cooldown <= max_cooldown")
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._current_cooldown = cooldown
        self._open_until = 0.0
        self._probe_in_flight = False
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state is BreakerState.OPEN and self._clock() >= self._open_until:
                return BreakerState.HALF_OPEN
            return self._state

    def admit(self) -> tuple[float, bool]:
        """``(0, is_probe)`` when a call may go now, else ``(seconds to wait, False)``."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return 0.0, False
            if self._state is BreakerState.OPEN:
                remaining = self._open_until - self._clock()
                if remaining > 0:
                    return remaining, False
                self._state = BreakerState.HALF_OPEN
            if self._probe_in_flight:
                return _PROBE_POLL_SECONDS, False
            self._probe_in_flight = True
            return 0.0, True

    def record_success(self) -> None:
        """The register answered (even with a permanent error): it is up."""
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._current_cooldown = self.cooldown
            self._probe_in_flight = False

    def record_failure(self, *, probe: bool) -> bool:
        """Count a transient failure; return whether the breaker is now open."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                self._failures += 1
                if self._failures >= self.failure_threshold:
                    self._open(self.cooldown)
                    return True
                return False
            if probe and self._state is BreakerState.HALF_OPEN:
                self._open(min(self._current_cooldown * 2, self.max_cooldown))
            return True  # a call started before the breaker opened, failing late

    def release(self, *, probe: bool) -> None:
        """The call ended with neither answer nor transient failure (a bug): free the probe."""
        if probe:
            with self._lock:
                self._probe_in_flight = False

    def _open(self, cooldown: float) -> None:
        self._state = BreakerState.OPEN
        self._current_cooldown = cooldown
        self._open_until = self._clock() + cooldown
        self._probe_in_flight = False
        self._failures = 0
        self.times_opened += 1


@dataclasses.dataclass
class _Call:
    """One ``verify``'s bookkeeping across its attempts."""

    body: bytes
    persons: Sequence[PersonQuery]
    attempts: int = 0
    charged: int = 0  # failed attempts that count against max_attempts
    breaker_waited: float = 0.0


class HttpPopulationRegister:
    """``PopulationRegister`` over HTTP; thread-safe — build one per process or job and share
    it (it holds the connection pool). ``close`` it when done."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        client_cert: tuple[str, str] | None = None,
        timeout: float = 10.0,
        max_concurrency: int = 4,
        rate_per_second: float = 20.0,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
        breaker_max_cooldown: float = 300.0,
        max_wait: float = 900.0,
        deadline_factor: float = 2.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if timeout <= 0 or max_concurrency < 1 or max_attempts < 1 or deadline_factor < 1:
            raise ValueError("need timeout > 0, max_concurrency >= 1, max_attempts >= 1 "
                             "and deadline_factor >= 1")
        self.url = base_url.rstrip("/") + contract.VERIFY_PATH
        self._token = token
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_wait = max_wait
        self.attempt_deadline = timeout * deadline_factor
        self._clock = clock
        self._sleep = sleep
        self._timeout = httpx.Timeout(timeout, connect=timeout, read=timeout, write=timeout,
                                      pool=timeout)
        verify = httpx.create_ssl_context()
        if client_cert is not None:
            verify.load_cert_chain(certfile=client_cert[0], keyfile=client_cert[1])
        self._client = httpx.Client(
            verify=verify, timeout=self._timeout, transport=transport, follow_redirects=False,
            limits=httpx.Limits(max_connections=max_concurrency,
                                max_keepalive_connections=max_concurrency))
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._bucket = TokenBucket(rate_per_second, clock=clock, sleep=sleep)
        self.breaker = CircuitBreaker(failure_threshold=breaker_threshold,
                                      cooldown=breaker_cooldown,
                                      max_cooldown=breaker_max_cooldown, clock=clock)
        self._backoff = tenacity.wait_random_exponential(multiplier=backoff_base,
                                                         max=backoff_cap)
        self._counts: collections.Counter[str] = collections.Counter()
        self._counts_lock = threading.Lock()

    @classmethod
    def from_settings(cls, **overrides: Any) -> HttpPopulationRegister:
        """Built from the ``EDUREG_REGISTER_*`` settings; ``overrides`` win."""
        cert, key = settings.EDUREG_REGISTER_CLIENT_CERT, settings.EDUREG_REGISTER_CLIENT_KEY
        if bool(cert) != bool(key):
            raise ImproperlyConfigured(
                "EDUREG_REGISTER_CLIENT_CERT and EDUREG_REGISTER_CLIENT_KEY go together")
        options: dict[str, Any] = {
            "client_cert": (cert, key) if cert else None,
            "timeout": settings.EDUREG_REGISTER_TIMEOUT_SECONDS,
            "max_concurrency": settings.EDUREG_REGISTER_MAX_CONCURRENCY,
            "rate_per_second": settings.EDUREG_REGISTER_RATE_PER_SECOND,
        }
        options.update(overrides)
        return cls(settings.EDUREG_REGISTER_URL, settings.EDUREG_REGISTER_TOKEN, **options)

    # -- the port --------------------------------------------------------------------------

    def verify(self, persons: Sequence[PersonQuery]) -> VerifyResponse:
        """Verify up to ``MAX_BATCH`` persons; results in the order sent. Raises
        ``RegisterError`` (``RegisterUnavailable`` when the breaker outlasts ``max_wait``)."""
        try:
            body = contract.request_body(persons)
        except pydantic.ValidationError as error:
            fields = sorted({str(e["loc"][-1]) if e["loc"] else "person"
                             for e in error.errors()})
            raise RegisterError(f"batch not sendable: invalid {', '.join(fields)}",
                                permanent=True) from None
        except ValueError as error:
            raise RegisterError(str(error), permanent=True) from None
        call = _Call(body=body, persons=persons)
        self._count("calls")
        retrying = tenacity.Retrying(
            stop=lambda state: call.charged >= self.max_attempts,
            wait=self._wait,
            retry=tenacity.retry_if_exception(_retryable),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            response: VerifyResponse = retrying(self._attempt, call)
        except RegisterError as error:
            self._count("failed")
            logger.warning("register call failed after %d attempt(s): %s%s",
                           call.attempts, _describe(error),
                           " (permanent, not retried)" if error.permanent else "")
            raise
        self._count("succeeded")
        return response

    # -- monitoring ------------------------------------------------------------------------

    @property
    def breaker_state(self) -> str:
        return self.breaker.state.value

    def counters(self) -> dict[str, int]:
        """A snapshot: calls, succeeded, failed, attempts, retries, ``outcome.<kind>`` per
        attempt (ok, timeout, connect, transport, status_<code>, malformed, oversize,
        deadline), breaker_opened, and the milliseconds waited on the bucket / breaker."""
        with self._counts_lock:
            counts = dict(self._counts)
        counts["breaker_opened"] = self.breaker.times_opened
        return counts

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpPopulationRegister:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one attempt -----------------------------------------------------------------------

    def _attempt(self, call: _Call) -> VerifyResponse:
        probe = self._wait_for_breaker(call)
        settled = False
        try:
            with self._slots:  # the token inside the slot: requests go out at most at the rate
                waited = self._bucket.acquire()
                if waited:
                    self._count("rate_wait_ms", round(waited * 1000))
                call.attempts += 1
                self._count("attempts")
                response = self._exchange(call)
            self.breaker.record_success()
            settled = True
            self._count("outcome.ok")
            return response
        except _Failure as failure:
            settled = True
            self._count(f"outcome.{failure.outcome}")
            if not self.breaker.record_failure(probe=probe):
                call.charged += 1
            raise
        except RegisterError as error:  # permanent: the register answered
            settled = True
            self._count(f"outcome.status_{error.status}" if error.status
                        else "outcome.unusable")
            self.breaker.record_success()
            call.charged += 1
            raise
        finally:
            if not settled:
                self.breaker.release(probe=probe)

    def _wait_for_breaker(self, call: _Call) -> bool:
        """Sleep while the breaker is open; return whether this attempt is its probe."""
        while True:
            wait, probe = self.breaker.admit()
            if wait <= 0:
                return probe
            remaining = self.max_wait - call.breaker_waited
            if remaining <= 0:
                raise RegisterUnavailable(
                    f"population register unavailable: circuit open for over "
                    f"{self.max_wait:g}s; retry the batch later")
            pause = min(wait, remaining)
            self._sleep(pause)
            call.breaker_waited += pause
            self._count("breaker_wait_ms", round(pause * 1000))

    def _exchange(self, call: _Call) -> VerifyResponse:
        request_id = uuid.uuid4().hex
        headers = {
            "Authorization": f"Bearer {self._token}",
            "X-Request-Id": request_id,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        deadline = self._clock() + self.attempt_deadline
        try:
            with self._client.stream("POST", self.url, content=call.body, headers=headers,
                                     timeout=self._timeout) as answer:
                if answer.status_code != 200:
                    error = contract.error_of(
                        answer.status_code, self._read(answer, deadline, cut=True),
                        answer.headers.get("Retry-After"))
                    if error.permanent:
                        raise error
                    raise _Failure(f"status_{answer.status_code}", str(error),
                                   retry_after=error.retry_after, status=error.status)
                body = self._read(answer, deadline)
        except httpx.TimeoutException as error:
            raise _Failure("timeout", f"register timed out ({type(error).__name__})") from None
        except httpx.UnsupportedProtocol as error:
            raise RegisterError(f"register URL not usable ({type(error).__name__})",
                                permanent=True) from None
        except httpx.ConnectError as error:
            raise _Failure("connect", f"register unreachable ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise _Failure("transport", f"register exchange broke ({type(error).__name__})") \
                from None
        try:
            return contract.parse_response(body, call.persons)
        except RegisterError as error:
            raise _Failure("malformed", str(error)) from None

    def _read(self, answer: httpx.Response, deadline: float, *, cut: bool = False) -> bytes:
        """The body, read before ``deadline`` (else ``deadline``). An answer over
        ``MAX_RESPONSE_BYTES`` is ``oversize``; with ``cut`` (an error answer), only its first
        ``_ERROR_BODY_BYTES`` are read."""
        limit = _ERROR_BODY_BYTES if cut else contract.MAX_RESPONSE_BYTES
        declared = answer.headers.get("Content-Length", "")
        if not cut and declared.isdigit() and int(declared) > limit:
            raise _Failure("oversize", "register answer too large")
        chunks: list[bytes] = []
        size = 0
        for chunk in answer.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                if cut:
                    break
                raise _Failure("oversize", "register answer too large")
            if self._clock() > deadline:
                raise _Failure("deadline",
                               f"register answer slower than {self.attempt_deadline:g}s")
        return b"".join(chunks)[:limit]

    # -- retry policy ----------------------------------------------------------------------

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Full-jitter backoff, at least the register's Retry-After; none while the breaker
        is open (its cool-down is the wait)."""
        error = state.outcome.exception() if state.outcome else None
        floor = error.retry_after if isinstance(error, RegisterError) and error.retry_after \
            else 0.0
        if self.breaker.state is not BreakerState.CLOSED:
            return floor
        return max(floor, self._backoff(state))

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self._count("retries")
        logger.warning("register attempt %d failed: %s; retrying in %.2fs (breaker %s)",
                       state.attempt_number, _describe(error), wait, self.breaker_state)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += amount


def _retryable(error: BaseException) -> bool:
    return (isinstance(error, RegisterError) and not error.permanent
            and not isinstance(error, RegisterUnavailable))


def _describe(error: BaseException | None) -> str:
    """The outcome or error class and our own message (never a request or person)."""
    if error is None:
        return "no error"
    label = error.outcome if isinstance(error, _Failure) else type(error).__name__
    return f"{label}: {error}"


def get_register() -> PopulationRegister:
    """The adapter ``settings.EDUREG_POPULATION_REGISTER`` names, built ``from_settings`` when
    it has one. Each call builds a new one: keep it for the whole job."""
    factory = import_string(settings.EDUREG_POPULATION_REGISTER)
    from_settings = getattr(factory, "from_settings", None)
    register: PopulationRegister = from_settings() if callable(from_settings) else factory()
    return register
