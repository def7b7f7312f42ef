"""The register simulator as its own process, for the identity tests."""

from __future__ import annotations

import dataclasses
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

TOKEN = "test-register-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclasses.dataclass
class Sim:
    process: subprocess.Popen[str]
    url: str
    log: Path
    started_with: dict[str, Any]  # the faults and health as started, before any test


def start_simulator(db: Path, log_dir: Path, *flags: str) -> Sim:
    """``edureg sim register --port 0`` over ``db`` in its own process, once it answers."""
    log = log_dir / f"sim-{time.monotonic_ns()}.log"
    env = {**os.environ, "EDUREG_REGISTER_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    with log.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [sys.executable, "-m", "edureg.cli.main", "sim", "register", "--port", "0",
             "--db", str(db), *flags],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if ready else ""
    found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not found:
        process.kill()
        raise AssertionError(f"no start line: {line!r} {log.read_text()}")
    assert "Giả lập CSDL dân cư" in line
    url = f"http://127.0.0.1:{found.group(1)}"
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=url, headers=AUTH, timeout=2) as http:
        while True:
            try:
                health = http.get("/_sim/health")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return Sim(process, url, log, {"health": health.json(),
                                       "faults": http.get("/_sim/control").json()})


def stop(sim: Sim) -> int:
    sim.process.send_signal(signal.SIGTERM)
    try:
        return sim.process.wait(timeout=10)
    finally:
        if sim.process.poll() is None:
            sim.process.kill()
