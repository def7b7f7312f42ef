"""Arrow reads of PostgreSQL through ADBC, kept open for a batch of reads.

The ADBC PostgreSQL driver runs each query as ``COPY (…) TO STDOUT (FORMAT binary)`` and decodes
the rows into Arrow columns in C. On the 2.5 M-pupil rescan it took a third less of the client's
processor than connectorx, and connections kept for the whole rescan spare PostgreSQL a backend
start (about 10 ms of each side's processor) for every query: 60 s → 45 s in all
(docs/decisions.md).

``reads()`` opens a pool for the duration of a batch (a rescan); the queries of one call run on as
many threads, each on a connection of its own, which runs the session settings once when opened.
Outside a batch, each call opens and closes its connections. A connection whose query failed is
closed, never reused. No Django here: the caller passes the libpq URI.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl

_lock = threading.Lock()
_pool: _Pool | None = None
_users = 0


class _Pool:
    def __init__(self, uri: str, session: Sequence[str]) -> None:
        self.uri, self.session = uri, tuple(session)
        self.idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pg-read")
        self.opened: list[Any] = []

    def take(self) -> Any:
        try:
            return self.idle.get_nowait()
        except queue.Empty:
            connection = _connect(self.uri, self.session)
            with _lock:
                self.opened.append(connection)
            return connection

    def give_back(self, connection: Any) -> None:
        self.idle.put(connection)

    def drop(self, connection: Any) -> None:
        with _lock:
            self.opened.remove(connection)
        with contextlib.suppress(Exception):
            connection.close()

    def close(self) -> None:
        self.threads.shutdown(wait=True)
        for connection in self.opened:
            with contextlib.suppress(Exception):
                connection.close()
        self.opened.clear()


def _connect(uri: str, session: Sequence[str]) -> Any:
    import adbc_driver_postgresql.dbapi as adbc  # type: ignore[import-untyped]  # no stubs

    connection = adbc.connect(uri)
    try:
        with connection.cursor() as cursor:
            for statement in session:
                cursor.execute(statement)
    except Exception:
        connection.close()
        raise
    return connection


def _query(connection: Any, sql: str) -> pl.DataFrame:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        table = cursor.fetch_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


@contextlib.contextmanager
def reads(uri: str, session: Sequence[str]) -> Iterator[None]:
    """Keep connections open for the reads made inside (nested uses share one pool; the URI
    and settings of the outermost apply)."""
    global _pool, _users
    with _lock:
        if _pool is None:
            _pool = _Pool(uri, session)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            closing, _pool = (_pool, None) if _users == 0 else (None, _pool)
        if closing is not None:
            closing.close()


def read_postgres(uri: str, queries: Sequence[str], session: Sequence[str] = ()
                  ) -> pl.DataFrame:
    """The rows of the queries, concatenated (several are read at once, one connection
    each)."""
    pool = _pool
    if pool is None:
        with reads(uri, session):
            return read_postgres(uri, queries, session)

    def one(sql: str) -> pl.DataFrame:
        connection = pool.take()
        try:
            frame = _query(connection, sql)
        except Exception:
            pool.drop(connection)
            raise
        pool.give_back(connection)
        return frame

    if len(queries) == 1:
        return one(queries[0])
    return pl.concat(list(pool.threads.map(one, queries)), how="diagonal_relaxed")
