"""The real ``UpstreamSectorDB``: the upward exchange over HTTPS (``contract``).

One shared ``httpx.Client`` (a connection pool) serves every thread. A push has a total budget
(``timeout``, ``EDUREG_UPSTREAM_TIMEOUT``), retries included; each attempt's HTTP timeouts are
at most what is left of it, and its answer is read for no longer, so a push ends within the
budget plus at most one attempt timeout (a slow connect followed by a slow first byte).

Transient failures (connect errors, timeouts, 429, 5xx, malformed, oversized or mismatched 200
answers) are retried by ``tenacity`` with exponential backoff and full jitter, never less than
the upstream's ``Retry-After``, while the next attempt can still start within the budget;
permanent ones (400, 401, 403, 413, 422 …, or a batch the contract refuses) are raised at once.
Every attempt sends the same body under a new ``X-Request-Id``; the change ids make a repeat
harmless (the upstream answers ``duplicate``). A circuit breaker (the register adapter's) opens
after ``breaker_threshold`` consecutive failed attempts: while it is open a push fails at once,
transient, with ``retry_after`` the rest of the cool-down, instead of hammering an upstream that
is down; then one push probes. Log lines carry counts, statuses and waits, never a field value.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence

import httpx
import tenacity
from django.conf import settings

from edureg.identity.register.http_adapter import CircuitBreaker
from edureg.sync.upstream import contract
from edureg.sync.upstream.port import ChangeResult, RecordChange, UpstreamError

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# An attempt is not started with less than this left of the budget.
_LEAST_ATTEMPT_SECONDS = 0.05
# Bytes of a non-2xx answer worth reading: the error code is near the start.
_ERROR_BODY_BYTES = 10_000


class _Failure(UpstreamError):
    """A transient ``UpstreamError`` labelled with its outcome, for the counters and the log."""

    def __init__(self, outcome: str, detail: str, *, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(permanent=False, retry_after=retry_after, status=status, detail=detail)
        self.outcome = outcome


class UpstreamUnavailable(UpstreamError):
    """The circuit breaker is open: the upstream failed repeatedly, nothing was sent. Try again
    after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(permanent=False, retry_after=retry_after,
                         detail=f"circuit open, {retry_after:.1f}s of cool-down left")


@dataclasses.dataclass
class _Call:
    body: bytes
    changes: Sequence[RecordChange]
    deadline: float  # on the adapter's clock
    attempts: int = 0


class HttpUpstreamSectorDB:
    """``UpstreamSectorDB`` over HTTP; thread-safe — one per process (``upstream_sector_db()``),
    it holds the connection pool. Arguments left out are read from the ``EDUREG_UPSTREAM_*``
    settings; ``attempt_timeout`` defaults to half the budget, so a hung connection leaves room
    for one more attempt on a fresh one."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
        max_attempts: int = 5,
        backoff_base: float = 0.2,
        backoff_cap: float = 5.0,
        breaker_threshold: int = 10,
        breaker_cooldown: float = 5.0,
        breaker_max_cooldown: float = 60.0,
        max_concurrency: int = 4,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        timeout = float(settings.EDUREG_UPSTREAM_TIMEOUT if timeout is None else timeout)
        attempt_timeout = timeout / 2 if attempt_timeout is None else attempt_timeout
        if timeout <= 0 or attempt_timeout <= 0 or max_attempts < 1 or max_concurrency < 1:
            raise ValueError("need timeout > 0, attempt_timeout > 0, max_attempts >= 1 and "
                             "max_concurrency >= 1")
        base_url = settings.EDUREG_UPSTREAM_URL if base_url is None else base_url
        self.url = base_url.rstrip("/") + contract.CHANGES_PATH
        self._token = settings.EDUREG_UPSTREAM_TOKEN if token is None else token
        self.timeout = timeout
        self.attempt_timeout = min(attempt_timeout, timeout)
        self.max_attempts = max_attempts
        self._clock = clock
        self._sleep = sleep
        self._client = httpx.Client(
            transport=transport, follow_redirects=False,
            timeout=httpx.Timeout(self.attempt_timeout),
            limits=httpx.Limits(max_connections=max_concurrency,
                                max_keepalive_connections=max_concurrency))
        self.breaker = CircuitBreaker(failure_threshold=breaker_threshold,
                                      cooldown=breaker_cooldown,
                                      max_cooldown=breaker_max_cooldown, clock=clock)
        self._backoff = tenacity.wait_random_exponential(multiplier=backoff_base,
                                                         max=backoff_cap)
        self._counts: collections.Counter[str] = collections.Counter()
        self._counts_lock = threading.Lock()

    # -- the port --------------------------------------------------------------------------

    def push(self, changes: Sequence[RecordChange]) -> list[ChangeResult]:
        """Push one batch; one result per change, in order. Raises ``UpstreamError``."""
        if not changes:
            return []
        self._count("calls")
        try:
            body = contract.request_body(changes)
        except contract.InvalidBatch as error:
            self._count("failed")
            logger.warning("upstream batch of %d change(s) not sendable: %s (permanent, not "
                           "sent)", len(changes), error)
            raise contract.not_sendable(error) from None
        call = _Call(body=body, changes=changes, deadline=self._clock() + self.timeout)
        retrying = tenacity.Retrying(
            stop=lambda state: self._stop(call, state),
            wait=self._wait,
            retry=tenacity.retry_if_exception(_retryable),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            results: list[ChangeResult] = retrying(self._attempt, call)
        except UpstreamError as error:
            self._count("failed")
            logger.warning("upstream push of %d change(s) failed after %d attempt(s): %s%s",
                           len(changes), call.attempts, _describe(error),
                           " (permanent, not retried)" if error.permanent else "")
            raise
        self._count("succeeded")
        self._count("changes", len(results))
        statuses = collections.Counter(result.status for result in results)
        logger.debug("upstream push of %d change(s) in %d attempt(s): %s", len(results),
                    call.attempts, " ".join(f"{status}={statuses[status]}"
                                            for status in sorted(statuses)))
        return results

    # -- monitoring ------------------------------------------------------------------------

    @property
    def breaker_state(self) -> str:
        return self.breaker.state.value

    def counters(self) -> dict[str, int]:
        """A snapshot: calls, succeeded, failed, changes, attempts, retries, ``outcome.<kind>``
        per attempt (ok, timeout, connect, transport, status_<code>, malformed, oversize,
        deadline, breaker_open) and breaker_opened."""
        with self._counts_lock:
            counts = dict(self._counts)
        counts["breaker_opened"] = self.breaker.times_opened
        return counts

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpUpstreamSectorDB:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one attempt -----------------------------------------------------------------------

    def _attempt(self, call: _Call) -> list[ChangeResult]:
        remaining = call.deadline - self._clock()
        if remaining <= 0:
            raise _Failure("deadline", f"no answer within the {self.timeout:g}s budget")
        wait, probe = self.breaker.admit()
        if wait > 0:
            self._count("outcome.breaker_open")
            raise UpstreamUnavailable(wait)
        settled = False
        call.attempts += 1
        self._count("attempts")
        try:
            results = self._exchange(call, min(self.attempt_timeout, remaining))
            self.breaker.record_success()
            settled = True
        except _Failure as failure:
            settled = True
            self._count(f"outcome.{failure.outcome}")
            self.breaker.record_failure(probe=probe)
            raise
        except UpstreamError as error:  # permanent: the upstream answered
            settled = True
            self._count(f"outcome.status_{error.status}" if error.status
                        else "outcome.unusable")
            self.breaker.record_success()
            raise
        finally:
            if not settled:
                self.breaker.release(probe=probe)
        self._count("outcome.ok")
        return results

    def _exchange(self, call: _Call, timeout: float) -> list[ChangeResult]:
        headers = {
            "Authorization": f"Bearer {self._token}",
            "X-Request-Id": uuid.uuid4().hex,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        try:
            with self._client.stream("POST", self.url, content=call.body, headers=headers,
                                     timeout=httpx.Timeout(timeout)) as answer:
                ok = 200 <= answer.status_code < 300
                data = self._read(answer, call.deadline, ok=ok)
        except httpx.TimeoutException as error:
            raise _Failure("timeout", f"upstream timed out ({type(error).__name__})") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            raise UpstreamError(permanent=True,
                                detail=f"upstream URL not usable ({type(error).__name__})"
                                ) from None
        except httpx.ConnectError as error:
            raise _Failure("connect", f"upstream unreachable ({type(error).__name__})") \
                from None
        except httpx.TransportError as error:
            raise _Failure("transport", f"upstream exchange broke ({type(error).__name__})") \
                from None
        if ok:
            try:
                return contract.parse_response(data, call.changes)
            except UpstreamError as error:
                raise _Failure("malformed", error.detail, status=answer.status_code) from None
        refusal = contract.error_of(answer.status_code, data, answer.headers.get("Retry-After"))
        if refusal.permanent:
            raise refusal
        raise _Failure(f"status_{answer.status_code}", refusal.detail,
                       retry_after=refusal.retry_after, status=refusal.status)

    def _read(self, answer: httpx.Response, deadline: float, *, ok: bool) -> bytes:
        """The body, read before ``deadline``: a 2xx one over ``MAX_RESPONSE_BYTES`` is
        ``oversize`` (not read further); of an error answer only the first bytes are kept."""
        limit = contract.MAX_RESPONSE_BYTES if ok else _ERROR_BODY_BYTES
        declared = answer.headers.get("Content-Length", "")
        if ok and declared.isdigit() and int(declared) > limit:
            raise _Failure("oversize", "upstream answer too large", status=answer.status_code)
        chunks: list[bytes] = []
        size = 0
        for chunk in answer.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                if ok:
                    raise _Failure("oversize", "upstream answer too large",
                                   status=answer.status_code)
                break
            if self._clock() > deadline:
                raise _Failure("deadline", f"no answer within the {self.timeout:g}s budget")
        return b"".join(chunks)[:limit]

    # -- retry policy ----------------------------------------------------------------------

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Full-jitter backoff, at least the upstream's Retry-After."""
        error = state.outcome.exception() if state.outcome else None
        floor = error.retry_after if isinstance(error, UpstreamError) and error.retry_after \
            else 0.0
        return max(floor, self._backoff(state))

    def _stop(self, call: _Call, state: tenacity.RetryCallState) -> bool:
        """Stop after ``max_attempts``, or when the next attempt could not start (after its
        wait) with a little of the budget left."""
        if call.attempts >= self.max_attempts:
            return True
        starts = self._clock() + state.upcoming_sleep
        return starts > call.deadline - _LEAST_ATTEMPT_SECONDS

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self._count("retries")
        logger.warning("upstream attempt %d failed: %s; retrying in %.2fs (breaker %s)",
                       state.attempt_number, _describe(error), wait, self.breaker_state)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += amount


def _retryable(error: BaseException) -> bool:
    return (isinstance(error, UpstreamError) and not error.permanent
            and not isinstance(error, UpstreamUnavailable))


def _describe(error: BaseException | None) -> str:
    """The outcome and the technical cause (never a field value)."""
    if error is None:
        return "no error"
    if isinstance(error, UpstreamError):
        label = error.outcome if isinstance(error, _Failure) else \
            "breaker_open" if isinstance(error, UpstreamUnavailable) else \
            "refused" if error.permanent else "failed"
        return f"{label}: {error.detail}"
    return type(error).__name__

