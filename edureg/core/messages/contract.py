"""The HTTP contract of the outbound-message exchange, shared by the real adapter and the
simulator.

    POST {base}/v1/messages
    Authorization: Bearer <token>
    {"to": "0912345678", "text": "Mã xác thực của bạn là 482913", "reference": "otp.8f2c…"}

    202 {"id": "msg-…", "status": "queued"}       (also 200 / 201; the same reference again:
                                                   the same id, nothing delivered twice)
    400 / 401 / 403 / 413 / 422 … {"error": {"code": "…", "message": "…"}}   permanent
    408 / 425 / 429 (Retry-After: seconds or a date), every 5xx             transient

A 2xx answer that is not the object above (not JSON, wrong types, no id, over
``MAX_RESPONSE_BYTES``) is a malformed answer: ``MessageError`` (transient), never an id.
Error messages of this module name fields, never their values.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
from typing import Any, Literal

import pydantic

from edureg.core.messages.port import Message, MessageError

MESSAGES_PATH = "/v1/messages"
MAX_TEXT_LENGTH = 480
PHONE_PATTERN = r"^0[0-9]{9}$"
REFERENCE_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
# 480 characters, each escaped as \uXXXX at worst, and the rest of the object.
MAX_REQUEST_BYTES = 16_000
MAX_RESPONSE_BYTES = 64_000
# Longest Retry-After honoured, in seconds.
MAX_RETRY_AFTER = 3600.0
# Below 500, only these are worth another try; every 5xx is.
TRANSIENT_CLIENT_STATUSES = frozenset({408, 425, 429})


class WireMessage(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True, extra="forbid", frozen=True)

    to: pydantic.constr(pattern=PHONE_PATTERN)  # type: ignore[valid-type]
    text: pydantic.constr(min_length=1, max_length=MAX_TEXT_LENGTH)  # type: ignore[valid-type]
    reference: pydantic.constr(pattern=REFERENCE_PATTERN)  # type: ignore[valid-type]


class WireAccepted(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True, extra="ignore", frozen=True)

    id: pydantic.constr(min_length=1, max_length=100)  # type: ignore[valid-type]
    status: Literal["queued", "sent", "delivered"]


class InvalidMessage(ValueError):
    """A message outside the contract. ``fields``: the names of the fields at fault (never
    their values); ``code``: ``invalid_json`` or ``invalid_message``."""

    def __init__(self, code: str, fields: tuple[str, ...] = ()) -> None:
        reason = f"invalid {', '.join(fields)}" if fields else "not a JSON message object"
        super().__init__(reason)
        self.code = code
        self.fields = fields


def _fields_of(error: pydantic.ValidationError) -> tuple[str, ...]:
    return tuple(sorted({str(problem["loc"][0]) if problem["loc"] else "body"
                         for problem in error.errors(include_input=False)}))


def request_body(message: Message) -> bytes:
    """The JSON body for ``message``; ``InvalidMessage`` when the contract refuses it."""
    try:
        wire = WireMessage(to=message.to, text=message.text, reference=message.reference)
    except pydantic.ValidationError as error:
        raise InvalidMessage("invalid_message", _fields_of(error)) from None
    return wire.model_dump_json().encode()


def parse_request(body: bytes) -> Message:
    """The message of a request body; ``InvalidMessage`` when it is not one."""
    try:
        parsed = json.loads(body)
    except ValueError:
        raise InvalidMessage("invalid_json") from None
    if not isinstance(parsed, dict):
        raise InvalidMessage("invalid_json")
    try:
        wire = WireMessage.model_validate(parsed)
    except pydantic.ValidationError as error:
        raise InvalidMessage("invalid_message", _fields_of(error)) from None
    return Message(to=wire.to, text=wire.text, reference=wire.reference)


def response_body(message_id: str, status: str = "queued") -> bytes:
    return json.dumps({"id": message_id, "status": status}).encode()


def parse_response(body: bytes) -> str:
    """The message id of a 2xx answer; ``MessageError`` (transient) when it is malformed."""
    if len(body) > MAX_RESPONSE_BYTES:
        raise MessageError(permanent=False, detail="message provider answer too large")
    try:
        wire = WireAccepted.model_validate_json(body)
    except pydantic.ValidationError as error:
        raise MessageError(permanent=False, detail=(
            f"malformed message provider answer ({error.error_count()} problem(s))")) from None
    return str(wire.id)


def error_body(code: str, message: str, fields: tuple[str, ...] = ()) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = list(fields)
    return json.dumps({"error": error}).encode()


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now, within
    0 … ``MAX_RETRY_AFTER``; ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def is_permanent(status: int) -> bool:
    """Whether a non-2xx answer means that sending again cannot help (3xx included: this
    exchange never redirects, so one is a wrong URL)."""
    return status < 500 and status not in TRANSIENT_CLIENT_STATUSES


def error_of(status: int, body: bytes, retry_after: str | None) -> MessageError:
    """The error a non-2xx answer stands for."""
    code = ""
    try:
        parsed: Any = json.loads(body[:10_000]) if body else None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            code = str(parsed["error"].get("code", ""))[:50]
    except ValueError:
        pass
    label = "".join(c for c in code if c.isascii() and (c.isalnum() or c in "._-"))
    return MessageError(permanent=is_permanent(status),
                        retry_after=retry_after_seconds(retry_after), status=status,
                        detail=f"message provider answered {status}"
                               f"{' ' + label if label else ''}")
