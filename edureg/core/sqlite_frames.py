"""connectorx reads of an SQLite database, run in a child process.

connectorx carries its own copy of SQLite. Two copies of SQLite in one process break each
other's POSIX locks on the same file: when one copy closes its descriptor, the kernel drops
every lock the process holds on the file, the other copy's included. Other processes may then
write under a reader or reset the WAL index it still uses ("disk I/O error", rows missing,
and at worst a corrupt database: https://sqlite.org/howtocorrupt.html §2.2.1). In a process of
its own, connectorx's copy is just another process, locking properly.

The child is ``python -m edureg.core.sqlite_frames``, started on first use and kept for the
life of the process. It reads one request per line on stdin (JSON: the database file, the
queries, and a scratch file), writes the frame there in Arrow IPC form (types kept exactly) and
answers with a status byte and a length (an error message, or nothing); the caller maps the
file.
A plain subprocess rather than ``multiprocessing``: spawn re-imports the caller's main module,
which fails for scripts without a main guard. No Django here.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import struct
import subprocess
import sys
import tempfile
import threading
from typing import IO

import polars as pl

_MAX_READERS = 2  # a rescan has at most two reads in flight (a chunk and the shared IDs)
_HEADER = struct.Struct(">cQ")  # status (b"F" frame, b"E" error), payload length
# Frames pass through a file in memory (tmpfs) where there is one: written once, then mapped.
_SHM = "/dev/shm"  # noqa: S108 - private files from mkstemp (mode 0600), removed after use
_SCRATCH = _SHM if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK) else None


class SqliteReadError(RuntimeError):
    """The child could not read (its message, without any row)."""


class _Reader:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edureg.core.sqlite_frames"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def read(self, path: str, queries: list[str]) -> pl.DataFrame:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None  # noqa: PT018 - pipes were asked for
        fd, out = tempfile.mkstemp(prefix="edureg-frame-", suffix=".arrow", dir=_SCRATCH)
        os.close(fd)
        try:
            stdin.write(json.dumps({"path": path, "queries": queries, "out": out}).encode()
                        + b"\n")
            stdin.flush()
            status, length = _HEADER.unpack(_read_exactly(stdout, _HEADER.size))
            payload = _read_exactly(stdout, length)
            if status != b"F":
                raise SqliteReadError(payload.decode(errors="replace"))
            # Read from tmpfs (mapped where Polars can); removing the name after is safe.
            return pl.read_ipc(out)
        finally:
            os.unlink(out)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) != size:
        raise SqliteReadError("the SQLite reader process stopped")
    return data


_idle: queue.SimpleQueue[_Reader] = queue.SimpleQueue()
_started: list[_Reader] = []
_lock = threading.Lock()


def _take() -> _Reader:
    try:
        return _idle.get_nowait()
    except queue.Empty:
        with _lock:
            if len(_started) < _MAX_READERS:
                reader = _Reader()
                _started.append(reader)
                return reader
        return _idle.get()


@atexit.register
def _close_all() -> None:
    for reader in _started:
        reader.close()


def read_sqlite(path: str, queries: list[str]) -> pl.DataFrame:
    """The rows of the queries (concatenated; several are read on as many threads) from the
    SQLite file at ``path``, read by connectorx in a child process."""
    reader = _take()
    try:
        frame = reader.read(path, queries)
    except Exception:
        reader.close()  # its pipe may hold half an answer: never reused
        with _lock:
            _started.remove(reader)
        raise
    _idle.put(reader)
    return frame


def _serve() -> None:
    import connectorx  # only the child loads its SQLite copy
    import pyarrow.ipc as pa_ipc  # type: ignore[import-untyped]  # no type stubs

    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            queries = request["queries"]
            # Arrow as connectorx builds it, written by pyarrow: converting to a Polars frame
            # here and reading that back cost a fifth more than the caller's one conversion.
            table = connectorx.read_sql(f"sqlite://{request['path']}",
                                        queries[0] if len(queries) == 1 else queries,
                                        return_type="arrow")
            with pa_ipc.new_file(request["out"], table.schema) as writer:
                writer.write_table(table)
            status, payload = b"F", b""
        except Exception as error:  # reported to the caller, which raises it
            status, payload = b"E", f"{type(error).__name__}: {error}".encode()
        out.write(_HEADER.pack(status, len(payload)))
        out.write(payload)
        out.flush()


if __name__ == "__main__":
    _serve()
