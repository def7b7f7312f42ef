"""The ``MessageSender`` port: send one text message (SMS) to a Vietnamese mobile number.

Used for one-time codes to guardians and for scheduled alerts. Adapters (the real HTTP one,
whatever tests need) implement ``MessageSender``; which one runs is a setting
(``EDUREG_MESSAGE_SENDER``, a dotted path, like Django's ``EMAIL_BACKEND``).

``reference`` is the caller's idempotency key: the same reference sent again — by a retry, or by
the caller — never delivers a second message. It is never personal data (it is logged and kept
by the provider); build it from ids, e.g. ``otp.<request id>``.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from django.utils.translation import gettext_lazy

# Texts shown to the person who asked for the message; the cause is in ``detail`` and the logs.
_UNAVAILABLE = gettext_lazy(
    "Hệ thống gửi tin nhắn đang gián đoạn, vui lòng thử lại sau ít phút.")
_REFUSED = gettext_lazy(
    "Không gửi được tin nhắn đến số điện thoại này. Vui lòng liên hệ nhà trường để được hỗ trợ.")


@dataclasses.dataclass(frozen=True)
class Message:
    to: str  # a mobile number normalised to 10 digits, "0xxxxxxxxx" (core.phone)
    text: str  # at most contract.MAX_TEXT_LENGTH characters
    reference: str  # idempotency key: 1–64 of [A-Za-z0-9._-], never personal data


class MessageError(Exception):
    """A message that was not accepted. ``str(error)`` is Vietnamese, fit to show the user.
    ``permanent``: sending the same message again cannot help (refused number or text, wrong
    credentials); otherwise it may, after ``retry_after`` seconds when the provider said.
    ``status``: the provider's HTTP status, when it answered. ``detail``: the cause in English
    for logs — never a phone number or a text."""

    def __init__(self, message: str | None = None, *, permanent: bool,
                 retry_after: float | None = None, status: int | None = None,
                 detail: str = "") -> None:
        # The default text stays lazy: it is translated where it is shown, not on the
        # sender's thread pool.
        super().__init__(message if message is not None
                         else _REFUSED if permanent else _UNAVAILABLE)
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status
        self.detail = detail


class MessageSender(Protocol):
    def send(self, message: Message) -> str:
        """Hand ``message`` to the provider; return the provider's message id (the same id
        for the same reference). Raises ``MessageError``."""
        ...
