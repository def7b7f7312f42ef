"""The real ``MessageSender``: the message exchange over HTTPS (``contract``).

One shared ``httpx.Client`` (a connection pool) serves every thread. A call has a total
``deadline`` (``EDUREG_MESSAGES_TIMEOUT``): a web request that sends a one-time code waits no
longer than that, whatever the provider does. Each attempt is bounded by its own timeout
(``attempt_timeout``, at most what is left of the deadline) and runs on a small thread pool, so
the caller stops waiting at the deadline even when the provider is slow in a way per-phase HTTP
timeouts cannot catch (a slow connect followed by a slow answer, a trickling body); an attempt
left behind ends by its own timeouts and, the reference being the idempotency key, can at worst
deliver the message the caller was told failed — never a second one.

Transient failures (connect errors, timeouts, 429, 5xx, malformed 2xx answers) are retried by
``tenacity`` with exponential backoff and full jitter, never less than the provider's
``Retry-After``, while the next attempt can still start before the deadline; permanent ones
(400, 401, 403, 409, 422 …, or a message the contract refuses) are raised at once. Every
attempt carries the same reference. Log lines name the outcome, attempts and waits, never a
phone number or a text.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections.abc import Callable

import httpx
import tenacity
from django.conf import settings

from edureg.core.messages import contract
from edureg.core.messages.port import Message, MessageError

logger = logging.getLogger(__name__)

Sleep = Callable[[float], None]

# An attempt is not started with less than this left before the deadline.
_LEAST_ATTEMPT_SECONDS = 0.05
# Bytes of a non-2xx answer worth reading: the error code is near the start.
_ERROR_BODY_BYTES = 10_000


class _Failure(MessageError):
    """A transient ``MessageError`` labelled with its outcome, for the counters and the log."""

    def __init__(self, outcome: str, detail: str, *, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(permanent=False, retry_after=retry_after, status=status, detail=detail)
        self.outcome = outcome


@dataclasses.dataclass
class _Call:
    body: bytes
    deadline: float  # time.monotonic()
    attempts: int = 0


class HttpMessageSender:
    """``MessageSender`` over HTTP; thread-safe — one per process (``message_sender()``), it
    holds the connection pool. Arguments left out are read from the ``EDUREG_MESSAGES_*``
    settings; ``attempt_timeout`` defaults to half the deadline, so a hung connection leaves
    room for one more attempt on a fresh one."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        deadline: float | None = None,
        attempt_timeout: float | None = None,
        max_attempts: int = 4,
        backoff_base: float = 0.1,
        backoff_cap: float = 1.0,
        max_concurrency: int = 8,
        sleep: Sleep = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        deadline = float(settings.EDUREG_MESSAGES_TIMEOUT if deadline is None else deadline)
        attempt_timeout = deadline / 2 if attempt_timeout is None else attempt_timeout
        if deadline <= 0 or attempt_timeout <= 0 or max_attempts < 1 or max_concurrency < 1:
            raise ValueError("need deadline > 0, attempt_timeout > 0, max_attempts >= 1 and "
                             "max_concurrency >= 1")
        base_url = settings.EDUREG_MESSAGES_URL if base_url is None else base_url
        self.url = base_url.rstrip("/") + contract.MESSAGES_PATH
        self._token = settings.EDUREG_MESSAGES_TOKEN if token is None else token
        self.deadline = deadline
        self.attempt_timeout = min(attempt_timeout, deadline)
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._client = httpx.Client(
            transport=transport, follow_redirects=False,
            timeout=httpx.Timeout(self.attempt_timeout),
            limits=httpx.Limits(max_connections=max_concurrency,
                                max_keepalive_connections=max_concurrency))
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_concurrency, thread_name_prefix="message-sender")
        self._backoff = tenacity.wait_random_exponential(multiplier=backoff_base,
                                                         max=backoff_cap)
        self._counts: collections.Counter[str] = collections.Counter()
        self._counts_lock = threading.Lock()

    # -- the port --------------------------------------------------------------------------

    def send(self, message: Message) -> str:
        """Send ``message``; return the provider's id. Raises ``MessageError`` within the
        deadline."""
        self._count("calls")
        try:
            body = contract.request_body(message)
        except contract.InvalidMessage as error:
            self._count("failed")
            logger.warning("message not sendable: %s (permanent, not sent)", error)
            raise MessageError(permanent=True, detail=f"message not sendable: {error}") \
                from None
        call = _Call(body=body, deadline=time.monotonic() + self.deadline)
        retrying = tenacity.Retrying(
            stop=lambda state: self._stop(call, state),
            wait=self._wait,
            retry=tenacity.retry_if_exception(_retryable),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            message_id: str = retrying(self._attempt, call)
        except MessageError as error:
            self._count("failed")
            logger.warning("message not sent after %d attempt(s): %s%s", call.attempts,
                           _describe(error), " (permanent, not retried)" if error.permanent
                           else "")
            raise
        self._count("succeeded")
        return message_id

    # -- monitoring ------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """A snapshot: calls, succeeded, failed, attempts, retries, and ``outcome.<kind>`` per
        attempt (ok, timeout, connect, transport, status_<code>, malformed, deadline)."""
        with self._counts_lock:
            return dict(self._counts)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def __enter__(self) -> HttpMessageSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one attempt -----------------------------------------------------------------------

    def _attempt(self, call: _Call) -> str:
        remaining = call.deadline - time.monotonic()
        if remaining <= 0:
            raise _Failure("deadline", f"no answer within the {self.deadline:g}s deadline")
        call.attempts += 1
        self._count("attempts")
        future = self._pool.submit(self._exchange, call.body,
                                   min(self.attempt_timeout, remaining), call.deadline)
        try:
            message_id = future.result(timeout=remaining)
        except concurrent.futures.TimeoutError:
            future.cancel()  # not started yet (every thread busy): it never goes out
            self._count("outcome.deadline")
            raise _Failure("deadline",
                           f"no answer within the {self.deadline:g}s deadline") from None
        except _Failure as failure:
            self._count(f"outcome.{failure.outcome}")
            raise
        except MessageError as error:
            self._count(f"outcome.status_{error.status}" if error.status
                        else "outcome.unusable")
            raise
        self._count("outcome.ok")
        return message_id

    def _exchange(self, body: bytes, timeout: float, deadline: float) -> str:
        """One POST, on a pool thread."""
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        try:
            with self._client.stream("POST", self.url, content=body, headers=headers,
                                     timeout=httpx.Timeout(timeout)) as answer:
                ok = 200 <= answer.status_code < 300
                data = self._read(answer, deadline,
                                  limit=contract.MAX_RESPONSE_BYTES if ok else _ERROR_BODY_BYTES)
        except httpx.TimeoutException as error:
            raise _Failure("timeout", f"message provider timed out ({type(error).__name__})") \
                from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as error:
            raise MessageError(permanent=True,
                               detail=f"message provider URL not usable ({type(error).__name__})"
                               ) from None
        except httpx.ConnectError as error:
            raise _Failure("connect",
                           f"message provider unreachable ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise _Failure("transport",
                           f"message exchange broke ({type(error).__name__})") from None
        if ok:
            try:
                return contract.parse_response(data)
            except MessageError as error:
                raise _Failure("malformed", error.detail, status=answer.status_code) from None
        refusal = contract.error_of(answer.status_code, data, answer.headers.get("Retry-After"))
        if refusal.permanent:
            raise refusal
        raise _Failure(f"status_{answer.status_code}", refusal.detail,
                       retry_after=refusal.retry_after, status=refusal.status)

    def _read(self, answer: httpx.Response, deadline: float, *, limit: int) -> bytes:
        """At most ``limit`` bytes of the body (more is ``malformed`` for a 2xx answer), read
        before ``deadline``."""
        chunks: list[bytes] = []
        size = 0
        for chunk in answer.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                if 200 <= answer.status_code < 300:
                    raise _Failure("malformed", "message provider answer too large",
                                   status=answer.status_code)
                break
            if time.monotonic() > deadline:
                raise _Failure("deadline", f"no answer within the {self.deadline:g}s deadline")
        return b"".join(chunks)[:limit]

    # -- retry policy ----------------------------------------------------------------------

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Full-jitter backoff, at least the provider's Retry-After."""
        error = state.outcome.exception() if state.outcome else None
        floor = error.retry_after if isinstance(error, MessageError) and error.retry_after \
            else 0.0
        return max(floor, self._backoff(state))

    def _stop(self, call: _Call, state: tenacity.RetryCallState) -> bool:
        """Stop after ``max_attempts``, or when the next attempt could not start (after its
        wait) with a little time left before the deadline."""
        if call.attempts >= self.max_attempts:
            return True
        starts = time.monotonic() + state.upcoming_sleep
        return starts > call.deadline - _LEAST_ATTEMPT_SECONDS

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self._count("retries")
        logger.warning("message attempt %d failed: %s; retrying in %.2fs",
                       state.attempt_number, _describe(error), wait)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._counts_lock:
            self._counts[name] += amount


def _retryable(error: BaseException) -> bool:
    return isinstance(error, MessageError) and not error.permanent


def _describe(error: BaseException | None) -> str:
    """The outcome and the technical cause (never a phone number or a text)."""
    if error is None:
        return "no error"
    if isinstance(error, MessageError):
        label = error.outcome if isinstance(error, _Failure) else \
            ("refused" if error.permanent else "failed")
        return f"{label}: {error.detail}"
    return type(error).__name__
