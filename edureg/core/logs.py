"""Log output without personal data in tracebacks.

An exception's message can carry the values it failed on: PostgreSQL's "Key
(personal_id_number)=(…) already exists", a ValueError quoting a name. The log keeps what an
operator needs to find the fault (the exception types, the chain, every frame's file, line,
function and source line) and withholds the messages. The messages our own code logs are
written without personal data in the first place (ARCHITECTURE.md, "no personal data in logs").
"""

from __future__ import annotations

import logging
import traceback
from types import TracebackType

WITHHELD = "(nội dung lỗi đã ẩn: có thể chứa dữ liệu cá nhân)"

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def _chain(error: BaseException) -> list[tuple[BaseException, str]]:
    """The exceptions of the chain, oldest first, each with the line Python prints before its
    traceback (how it came from the one before)."""
    newest_first: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        older: BaseException | None = None
        lead = ""
        if current.__cause__ is not None:
            older, lead = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            older, lead = current.__context__, _CONTEXT
        newest_first.append((current, lead))
        current = older
    return newest_first[::-1]


def format_exception_withheld(error: BaseException) -> str:
    parts: list[str] = []
    for exception, lead in _chain(error):
        parts.append(lead)
        frames = traceback.extract_tb(exception.__traceback__)
        if frames:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_list(frames))
        kind = type(exception)
        name = kind.__qualname__ if kind.__module__ == "builtins" else (
            f"{kind.__module__}.{kind.__qualname__}")
        parts.append(f"{name}: {WITHHELD}\n")
    return "".join(parts).rstrip("\n")


class WithheldTracebackFormatter(logging.Formatter):
    """A formatter whose tracebacks name the exceptions but not their messages."""

    def format(self, record: logging.LogRecord) -> str:
        # logging keeps the first handler's traceback text on the record (``exc_text``) for
        # the others: this one writes its own and leaves the record as it found it.
        kept = record.exc_text
        record.exc_text = None
        try:
            return super().format(record)
        finally:
            record.exc_text = kept

    def formatException(
            self, ei: tuple[type[BaseException], BaseException, TracebackType | None]
            | tuple[None, None, None]) -> str:
        error = ei[1]
        if error is None:
            return ""
        return format_exception_withheld(error)
