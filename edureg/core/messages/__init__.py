"""Outbound text messages (SMS): one-time codes to guardians, scheduled alerts.

``message_sender()`` is the adapter ``settings.EDUREG_MESSAGE_SENDER`` names (a dotted path to
a class built with no arguments, which reads its own settings), one per process: it holds the
connection pool. ``message_sender_clear()`` closes it and forgets it (tests, changed settings).
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.module_loading import import_string

from edureg.core.messages.port import Message, MessageError, MessageSender

__all__ = ["Message", "MessageError", "MessageSender", "message_sender",
           "message_sender_clear"]


@functools.cache
def message_sender() -> MessageSender:
    sender: MessageSender = import_string(settings.EDUREG_MESSAGE_SENDER)()
    return sender


def message_sender_clear() -> None:
    """Forget the cached sender, closing it first if it can be closed."""
    if message_sender.cache_info().currsize:
        close = getattr(message_sender(), "close", None)
        if callable(close):
            close()
    message_sender.cache_clear()
