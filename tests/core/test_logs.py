"""Tracebacks in the log name the exceptions and frames, never the messages (which can hold
the values a query or a check failed on)."""

from __future__ import annotations

import io
import logging
from typing import Any, cast

from edureg.core.logs import WITHHELD, WithheldTracebackFormatter

PERSONAL = ("Nguyễn Văn An", "079123456789")


def _check_identity(value: str) -> None:
    raise ValueError(f"{PERSONAL[0]} có số định danh {value} đã tồn tại")


def _save() -> None:
    try:
        _check_identity(PERSONAL[1])
    except ValueError as error:
        raise RuntimeError(f"Không lưu được hồ sơ {PERSONAL[0]}") from error


def _logged(action: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(WithheldTracebackFormatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("edureg.tests.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            action()  # type: ignore[operator]
        except Exception:
            logger.exception("Lỗi khi lưu hồ sơ")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_chained_exception_keeps_types_and_frames_but_no_message() -> None:
    text = _logged(_save)
    for value in PERSONAL:
        assert value not in text
    assert "Lỗi khi lưu hồ sơ" in text
    assert text.count(WITHHELD) == 2
    assert "ValueError: " in text
    assert "RuntimeError: " in text
    assert "direct cause" in text
    assert "_check_identity" in text
    assert text.index("ValueError") < text.index("RuntimeError")  # oldest first, as Python


def test_an_exception_raised_while_handling_another_is_shown_as_such() -> None:
    def handling() -> None:
        try:
            empty: dict[str, str] = {}
            empty["họ tên " + PERSONAL[0]]
        except KeyError:
            int(PERSONAL[1] + "x")

    text = _logged(handling)
    assert "During handling of the above exception" in text
    assert "KeyError: " in text
    for value in PERSONAL:
        assert value not in text


def test_the_console_log_uses_this_formatter() -> None:
    from django.conf import settings

    config = cast(dict[str, Any], settings.LOGGING)
    assert config["formatters"]["plain"]["()"] == "edureg.core.logs.WithheldTracebackFormatter"
    assert config["handlers"]["console"]["formatter"] == "plain"
