"""The sector-database simulator as its own process, for any test that pushes changes upward.

    # tests/<package>/conftest.py
    from tests.sync.sim_process import upstream_simulator  # noqa: F401 - a fixture

    # tests/<package>/test_….py
    def test_a_change_reaches_the_upstream(upstream_simulator: str) -> None:
        ...                                 # code under test calls upstream_sector_db().push(…)
        assert applied_changes(upstream_simulator, record_id=42)[-1]["change_id"] == "ev-7"

``upstream_simulator`` (function scope) runs ``edureg sim upstream`` on a free port over a
temporary ``--db`` of its own, points ``EDUREG_UPSTREAM_URL`` (and ``EDUREG_UPSTREAM``, at the
HTTP adapter) at it, and clears the ``upstream_sector_db()`` cache before and after the test.
Options of ``running_upstream_simulator`` are the command's: ``fail_rate=0.5``, ``down=True``,
``latency_ms=200``, ``malformed_rate=0.2``, ``seed=1``; ``db=PATH`` to keep (or reuse) its file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings

from edureg.sync.upstream import upstream_sector_db_clear

HTTP_UPSTREAM = "edureg.sync.upstream.http_adapter.HttpUpstreamSectorDB"
_START_SECONDS = 30


@dataclasses.dataclass(frozen=True)
class SimulatorProcess:
    url: str
    token: str
    db: Path
    log: Path  # the process's stderr: its log lines
    process: subprocess.Popen[str]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _flags(options: dict[str, Any]) -> list[str]:
    flags: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is not False and value is not None:
            flags.extend([flag, str(value)])
    return flags


@contextlib.contextmanager
def upstream_simulator_process(db: Path | None = None,
                               **options: Any) -> Iterator[SimulatorProcess]:
    """``edureg sim upstream --port 0`` over ``db`` (else a temporary file of its own) with
    ``options`` as flags, in its own process, once it answers; stopped (SIGTERM) on exit. Its
    token is the current EDUREG_UPSTREAM_TOKEN."""
    token = django_settings.EDUREG_UPSTREAM_TOKEN
    env = {**os.environ, "EDUREG_UPSTREAM_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="upstream-sim-") as folder:
        db_path = Path(db) if db is not None else Path(folder) / "upstream.sqlite3"
        log = Path(folder) / "sim.log"
        with log.open("w") as stderr:
            process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [sys.executable, "-m", "edureg.cli.main", "sim", "upstream", "--port", "0",
                 "--db", str(db_path), *_flags(options)],
                stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        try:
            yield SimulatorProcess(_started_url(process, log), token, db_path, log, process)
        finally:
            _stop(process)


@contextlib.contextmanager
def running_upstream_simulator(**options: Any) -> Iterator[str]:
    """The base URL of a simulator process (see ``upstream_simulator_process``)."""
    with upstream_simulator_process(**options) as sim:
        yield sim.url


def _started_url(process: subprocess.Popen[str], log: Path) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], _START_SECONDS)
    line = process.stdout.readline() if ready else ""
    found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not found:
        _stop(process)
        raise AssertionError(f"the upstream simulator did not start: {line!r} "
                             f"{log.read_text(encoding='utf-8')}")
    url = f"http://127.0.0.1:{found.group(1)}"
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=url, timeout=2) as http:
        while True:
            try:
                http.get("/_sim/health").raise_for_status()
                return url
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after 10 s: a simulator slow to stop on a loaded machine must not
    fail the test that used it (what the test checks is over by then)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    finally:
        if process.stdout is not None:
            process.stdout.close()


def applied_changes(url: str, record_id: int, entity: str = "student") -> list[dict[str, Any]]:
    """The changes the simulator at ``url`` applied to one record, in the order applied."""
    response = httpx.get(f"{url}/_sim/applied",
                         params={"record_id": record_id, "entity": entity}, timeout=5)
    response.raise_for_status()
    changes: list[dict[str, Any]] = response.json()
    return changes


def applied_summary(url: str) -> dict[str, int]:
    """``{"records", "changes", "max_applications_per_change"}`` of the simulator at ``url``."""
    response = httpx.get(f"{url}/_sim/applied/summary", timeout=5)
    response.raise_for_status()
    summary: dict[str, int] = response.json()
    return summary


@pytest.fixture
def upstream_simulator(settings: Any) -> Iterator[str]:
    """A fresh simulator for this test; ``upstream_sector_db()`` pushes to it. Yields its
    URL."""
    with running_upstream_simulator() as url:
        settings.EDUREG_UPSTREAM = HTTP_UPSTREAM
        settings.EDUREG_UPSTREAM_URL = url
        upstream_sector_db_clear()
        try:
            yield url
        finally:
            upstream_sector_db_clear()
