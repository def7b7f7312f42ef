"""The ``UpstreamSectorDB`` port: push the current state of changed records to the national
sector database (the Ministry's), in batches, and learn per change whether it took effect.

Adapters (the real HTTP one, whatever tests need) implement ``UpstreamSectorDB``; which one runs
is a setting (``EDUREG_UPSTREAM``, a dotted path, like Django's ``EMAIL_BACKEND``).

``change_id`` is the idempotency key: the upstream applies a change id at most once, and answers
a repeat with ``"duplicate"`` (the same effect as ``"accepted"``). ``sequence`` orders the
changes of one record: the upstream refuses (``"stale"``) a change older than one it has
already applied for that record, so pushing out of order never rolls a record back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from django.utils.translation import gettext_lazy

# Changes per call; the upstream refuses larger batches (413).
MAX_BATCH: Final = 500

ACCEPTED: Final = "accepted"
DUPLICATE: Final = "duplicate"  # applied earlier under the same change_id: same as accepted
REJECTED: Final = "rejected"  # not applied; field_errors say why
STALE: Final = "stale"  # older than a change already applied for the record: nothing applied
STATUSES: Final = frozenset({ACCEPTED, DUPLICATE, REJECTED, STALE})

# Texts for the IT officer's screen; the cause is in ``detail`` and the logs.
_UNAVAILABLE = gettext_lazy(
    "CSDL ngành (Bộ GD&ĐT) tạm thời không phản hồi; các thay đổi sẽ được gửi lại tự động.")
_REFUSED = gettext_lazy(
    "CSDL ngành (Bộ GD&ĐT) từ chối lô thay đổi; cần kiểm tra cấu hình kết nối hoặc dữ liệu "
    "gửi lên trước khi gửi lại.")


@dataclasses.dataclass(frozen=True)
class RecordChange:
    change_id: str  # idempotency key, e.g. "ev-1234" (the audit event seq); [A-Za-z0-9._-]{1,64}
    entity: str  # "student" for now ("staff" later)
    record_id: int  # edureg's record id (stable for life)
    sequence: int  # increases per record: an older one is refused after a newer
    school_code: str
    education_id: str | None  # the official MOET id, when the record has one
    temporary_code: str | None
    # The record's current state, already mapped to the fields allowed upward (text values;
    # dates ISO yyyy-mm-dd).
    fields: Mapping[str, str | None]


@dataclasses.dataclass(frozen=True)
class ChangeResult:
    change_id: str
    status: str  # ACCEPTED | DUPLICATE | REJECTED | STALE
    field_errors: Mapping[str, str]  # for REJECTED: field name → Vietnamese reason
    education_id: str | None  # the official id the upstream holds for the record
    acknowledged_at: dt.datetime  # UTC, aware


class UpstreamError(Exception):
    """A batch that got no usable answer. ``str(error)`` is Vietnamese, fit for the IT
    officer. ``permanent``: sending the same batch again cannot help (refused credentials, a
    batch the contract refuses); otherwise it may, after ``retry_after`` seconds when the
    upstream said. ``status``: the upstream's HTTP status, when it answered. ``detail``: the
    cause in English for logs — never personal data."""

    def __init__(self, message: str | None = None, *, permanent: bool,
                 retry_after: float | None = None, status: int | None = None,
                 detail: str = "") -> None:
        super().__init__(message if message is not None
                         else _REFUSED if permanent else _UNAVAILABLE)
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status
        self.detail = detail


class UpstreamSectorDB(Protocol):
    def push(self, changes: Sequence[RecordChange]) -> list[ChangeResult]:
        """Push one batch (1 … ``MAX_BATCH`` changes); one result per change, in the same
        order. Raises ``UpstreamError`` when the batch as a whole got no usable answer."""
        ...
