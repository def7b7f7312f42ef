"""The hashed form of an event and the verifier.

An event's *line* is its stored columns joined by U+001F, in this order:

    seq, occurred_at (UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``), actor_id or "", actor_label, action,
    kind, entity, entity_id, school_id or "", data (canonical JSON text, as stored)

and its hash is ``sha256(prev_hash + U+001E + line)`` in hex. Every column is covered, and the
verifier asks the database to build the line from the stored columns (one SQL expression per
engine), so checking an event is one hash of stored text: nothing is parsed or re-serialised.
Text columns never hold the separators (``clean_text``), and JSON escapes them, so a line has
exactly one reading.

Verification splits the seq range into chunks; each chunk checks its own links (seqs contiguous,
each hash recomputed) and the links between chunks are checked at the end, so chunks can run in
parallel processes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import multiprocessing
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final

from django.db import connection, connections, transaction

GENESIS: Final = "0" * 64
FIELD_SEP: Final = "\x1f"
LINK_SEP: Final = "\x1e"
_CONTROL = dict.fromkeys(range(0x20), " ")
_PARALLEL_FROM: Final = 500_000
_FETCH: Final = 20_000


def clean_text(value: str, limit: int) -> str:
    """Control characters become spaces (they would make the line ambiguous); cut to size."""
    return value.translate(_CONTROL)[:limit]


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def event_line(*, seq: int, occurred_at: str, actor_id: int | None, actor_label: str,
               action: str, kind: str, entity: str, entity_id: str, school_id: int | None,
               data_text: str) -> str:
    return FIELD_SEP.join((
        str(seq), occurred_at, "" if actor_id is None else str(actor_id), actor_label, action,
        kind, entity, entity_id, "" if school_id is None else str(school_id), data_text,
    ))


def link_hash(prev_hash: str, line: str) -> str:
    return hashlib.sha256(f"{prev_hash}{LINK_SEP}{line}".encode()).hexdigest()


_SQLITE_LINE: Final = (
    "seq || char(31) || CASE WHEN length(occurred_at) = 19 THEN occurred_at || '.000000' "
    "ELSE occurred_at END || char(31) || ifnull(actor_id, '') || char(31) || actor_label "
    "|| char(31) || action || char(31) || kind || char(31) || entity || char(31) || entity_id "
    "|| char(31) || ifnull(school_id, '') || char(31) || data"
)
_POSTGRES_LINE: Final = (
    "concat_ws(chr(31), seq::text, "
    "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
    "coalesce(actor_id::text, ''), actor_label, action, kind, entity, entity_id, "
    "coalesce(school_id::text, ''), data)"
)


def line_sql(vendor: str) -> str:
    if vendor == "sqlite":
        return _SQLITE_LINE
    if vendor == "postgresql":
        return _POSTGRES_LINE
    raise NotImplementedError(f"audit verification does not support {vendor}")


@dataclasses.dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


@dataclasses.dataclass(frozen=True)
class ChunkResult:
    lo: int
    hi: int
    count: int
    first_prev: str | None
    last_hash: str | None
    broken: ChainBreak | None


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    events: int
    head_seq: int
    broken: ChainBreak | None


def scan_chunk(lo: int, hi: int) -> ChunkResult:
    """Check the links of events ``lo``..``hi`` (by seq) from the stored text alone."""
    sha256 = hashlib.sha256
    sql = (
        f"SELECT seq, prev_hash, hash, {line_sql(connection.vendor)} "  # noqa: S608
        "FROM audit_auditevent WHERE seq >= %s AND seq <= %s ORDER BY seq"
    )
    expected = lo
    prev: str | None = None
    first_prev: str | None = None
    # PostgreSQL streams a named cursor inside a transaction; SQLite reads a WAL snapshot in
    # autocommit (a transaction there would take the write lock and stall the writers).
    streaming: AbstractContextManager[Any] = (
        transaction.atomic() if connection.vendor == "postgresql" else nullcontext())
    with streaming, connection.chunked_cursor() as cursor:
        cursor.execute(sql, [lo, hi])
        while rows := cursor.fetchmany(_FETCH):
            for seq, prev_hash, stored_hash, line in rows:
                if seq != expected:
                    return ChunkResult(lo, hi, expected - lo, first_prev, prev, ChainBreak(
                        expected, "sự kiện bị xoá" if seq > expected
                        else "số thứ tự bị trùng hoặc đảo"))
                if prev is None:
                    first_prev = prev = prev_hash
                    if seq == 1 and prev_hash != GENESIS:
                        return ChunkResult(lo, hi, 0, first_prev, None,
                                           ChainBreak(seq, "liên kết đầu chuỗi bị sửa"))
                elif prev_hash != prev:
                    return ChunkResult(lo, hi, expected - lo, first_prev, prev,
                                       ChainBreak(seq, "liên kết với sự kiện trước bị sửa"))
                digest = sha256(f"{prev}{LINK_SEP}{line}".encode()).hexdigest()
                if digest != stored_hash:
                    return ChunkResult(lo, hi, expected - lo, first_prev, prev,
                                       ChainBreak(seq, "nội dung sự kiện bị sửa"))
                prev = stored_hash
                expected += 1
    broken = None if expected == hi + 1 else ChainBreak(expected, "sự kiện bị xoá")
    return ChunkResult(lo, hi, expected - lo, first_prev, prev, broken)


def open_database_name() -> str:
    """The database this process's connection has open (its file, for SQLite), asked of the
    database itself rather than of the settings."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA database_list")
            return next(str(row[2]) for row in cursor.fetchall() if row[1] == "main")
        cursor.execute("SELECT current_database()")
        return str(cursor.fetchone()[0])


def _child_setup(settings_dict: dict[str, object]) -> None:
    """A fresh (spawned) worker: set Django up and point it at the parent's database — under
    tests that is the test database, whose name the settings module alone does not give."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edureg.settings")
    django.setup()
    connections["default"].settings_dict.update(settings_dict)


def _scan_in_child(bounds: tuple[int, int]) -> ChunkResult:
    try:
        return scan_chunk(*bounds)
    finally:
        connections.close_all()


def chunk_bounds(head_seq: int, parts: int) -> list[tuple[int, int]]:
    size = max(1, -(-head_seq // max(parts, 1)))
    return [(lo, min(lo + size - 1, head_seq)) for lo in range(1, head_seq + 1, size)]


def join_chunks(chunks: Sequence[ChunkResult], head_hash: str) -> ChainBreak | None:
    """The first break, inside a chunk or at a boundary between chunks, or a head mismatch."""
    prev_last = GENESIS
    for chunk in chunks:
        if chunk.first_prev is not None and chunk.first_prev != prev_last:
            return ChainBreak(chunk.lo, "liên kết với sự kiện trước bị sửa")
        if chunk.broken is not None:
            return chunk.broken
        prev_last = chunk.last_hash or prev_last
    if chunks and prev_last != head_hash:
        return ChainBreak(chunks[-1].hi, "sự kiện cuối không khớp với đầu chuỗi")
    return None


def _in_memory_sqlite() -> bool:
    name = str(connection.settings_dict.get("NAME", ""))
    return connection.vendor == "sqlite" and (":memory:" in name or "mode=memory" in name)


def verify(*, head_seq: int, head_hash: str, workers: int | None = None,
           chunks: int | None = None) -> VerifyResult:
    """Verify events 1..``head_seq`` against the chain head.

    ``workers`` processes (default: 2 for long chains on a file or server database) each scan
    whole chunks; events appended while verifying (seq above the head read at the start) are
    left for the next run."""
    if head_seq == 0:
        return VerifyResult(0, 0, None)
    if workers is None:
        workers = 2 if head_seq >= _PARALLEL_FROM and not _in_memory_sqlite() else 1
    bounds = chunk_bounds(head_seq, chunks or workers * 4)
    if workers > 1 and not _in_memory_sqlite():
        # Spawned, not forked: a fork copies the locks of other threads (Polars' pool, for
        # one) in whatever state they are, and the child can wait on them for ever.
        target = {key: connection.settings_dict[key] for key in ("NAME", "HOST", "PORT",
                                                                 "USER", "PASSWORD")}
        target["NAME"] = open_database_name()
        with multiprocessing.get_context("spawn").Pool(
                workers, initializer=_child_setup, initargs=(target,)) as pool:
            results = pool.map(_scan_in_child, bounds, chunksize=1)
    else:
        results = [scan_chunk(lo, hi) for lo, hi in bounds]
    broken = join_chunks(results, head_hash)
    return VerifyResult(sum(r.count for r in results), head_seq, broken)
