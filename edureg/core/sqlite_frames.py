"""connectorx reads of an SQLite database, run in a child process.

connectorx carries its own copy of SQLite. Two copies of SQLite in one process break each
other's POSIX locks on the same file: when one copy closes its descriptor, the kernel drops
every lock the process holds on the file, the other copy's included. Other processes may then
write under a reader or reset the WAL index it still uses ("disk I/O error", rows missing,
and at worst a corrupt database: https://sqlite.org/howtocorrupt.html §2.2.1). In a process of
its own, connectorx's copy is just another process, locking properly. The frames come back in
Arrow IPC form, which keeps their types exactly.

No Django here: the child imports only this module, polars and connectorx.
"""

from __future__ import annotations

import atexit
import io
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

import polars as pl

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()
_WORKERS = 2  # a rescan has at most one read in flight; a second serves an overlapping caller


def _read(uri: str, queries: list[str]) -> bytes:
    import connectorx  # only the child loads its SQLite copy

    frame = connectorx.read_sql(uri, queries[0] if len(queries) == 1 else queries,
                                return_type="polars")
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="uncompressed")
    return buffer.getvalue()


def _executor() -> ProcessPoolExecutor:
    global _pool  # one pool per process, started on first use
    with _pool_lock:
        if _pool is None:
            # spawn, not fork: a forked child would inherit this process's open SQLite handles.
            _pool = ProcessPoolExecutor(max_workers=_WORKERS,
                                        mp_context=multiprocessing.get_context("spawn"))
            atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
        return _pool


def read_sqlite(path: str, queries: list[str]) -> pl.DataFrame:
    """The rows of the queries (concatenated; several are read on as many threads) from the
    SQLite file at ``path``, read by connectorx in a child process."""
    data = _executor().submit(_read, f"sqlite://{path}", queries).result()
    return pl.read_ipc(io.BytesIO(data))
