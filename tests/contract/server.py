"""edureg's web server (gunicorn, as ``edureg up`` runs it) in a process of its own, on a free
loopback port, over the database the test has open."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from django.conf import settings

from tests.processes import database_url

_START_SECONDS = 60
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def edureg_web_process(log: Path) -> Iterator[str]:
    """Start gunicorn on 127.0.0.1 (port chosen by the system), wait until the API answers and
    yield its base URL; stop it on exit. Its log (errors, and an access line per request)
    goes to ``log``."""
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1",
           "EDUREG_DEBUG": "false",
           # Sessions made by the test are signed with the test's key.
           "EDUREG_SECRET_KEY": settings.SECRET_KEY}
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [gunicorn, "edureg.wsgi:application", "--bind", "127.0.0.1:0", "--workers", "1",
             "--threads", "2", "--access-logfile", "-",
             "--access-logformat", "%(m)s %(U)s?%(q)s %(s)s",
             # Every request reaches the app, whose answers are under test: gunicorn's own
             # limits (a request line over 4094 bytes, a header over 8190) answer in HTML
             # before it, as a proxy's would.
             "--limit-request-line", "0", "--limit-request-field_size", "0"],
            stdout=out, stderr=out, env=env)
    try:
        yield _started(process, log)
    finally:
        _stop(process)
        text = server_log(log)
        if "Traceback" in text:
            # Shown with the failing test's report: what a server error was.
            sys.stderr.write(text[text.index("Traceback"):])


def server_log(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")


def _started(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + _START_SECONDS
    url = ""
    while not url:
        found = _LISTENING.search(log.read_text(encoding="utf-8", errors="replace"))
        if found:
            url = f"http://127.0.0.1:{found.group(1)}"
        elif process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("the web server did not start:\n"
                                 + log.read_text(encoding="utf-8", errors="replace"))
        else:
            time.sleep(0.05)
    with httpx.Client(base_url=url, timeout=5) as http:
        while True:
            try:
                http.get("/api/v1/openapi.json").raise_for_status()
                return url
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (gunicorn's quick shutdown: the test is over, no request is left to finish),
    then SIGKILL after 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
