"""Helpers of ``bench/faults.py``: the PostgreSQL cluster, supervised processes, the
simulators' control endpoints and a signed-in HTTP client of the web screens."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
EDUREG = [sys.executable, "-m", "edureg.cli.main"]


def pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if not found:
        raise SystemExit("PostgreSQL is not installed (scripts/pg_server.sh installs it as root)")
    return found[-1].parent


def as_postgres(command: list[str], timeout: float = 120) -> int:
    """Run a server command as the account that owns the cluster (the server refuses root).
    Output goes nowhere: a server started here keeps what it inherited open."""
    if os.geteuid() == 0:
        command = ["su", "postgres", "-s", "/bin/bash", "-c",
                   " ".join(f"'{part}'" for part in command)]
    return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,  # noqa: S603
                          stderr=subprocess.DEVNULL, check=False, timeout=timeout).returncode


def pg_start(data: Path, port: int) -> str:
    """Start (initialising if new) the cluster with ``scripts/pg_server.sh``; returns its URL
    without a database name."""
    out = subprocess.run(["bash", str(ROOT / "scripts" / "pg_server.sh"), "start", str(data),  # noqa: S603, S607
                          str(port)], capture_output=True, text=True, check=True)
    return out.stdout.strip().rsplit("/", 1)[0]


def pg_stop(data: Path) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "pg_server.sh"), "stop", str(data)],  # noqa: S603, S607
                   capture_output=True, check=False)


def pg_restart(data: Path) -> tuple[bool, float]:
    """``pg_ctl restart -m fast``: every connection is cut; returns (ok, seconds)."""
    started = time.monotonic()
    code = as_postgres([str(pg_bin() / "pg_ctl"), "-D", str(data), "-l",
                        str(data / "server.log"), "-m", "fast", "-w", "restart"])
    return code == 0, round(time.monotonic() - started, 2)


def pg_createdb(port: int, name: str) -> None:
    for tool in ("dropdb", "createdb"):
        args = [str(pg_bin() / tool), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        if tool == "dropdb":
            args.append("--if-exists")
        subprocess.run([*args, name], check=True, capture_output=True)  # noqa: S603


@dataclass
class Supervised:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    restarts: int = 0
    kills: int = 0
    exits: list[int] = field(default_factory=list)


class Supervisor:
    """Starts named processes (output to ``logs/NAME.log``) and starts again any that died
    without being asked to stop — what a deployment's process manager does."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs, self.env = logs, env
        self.logs.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, Supervised] = {}

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]
               ) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log,  # noqa: S603
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, name: str, argv: list[str], **env: str) -> Supervised:
        merged = {**self.env, **env}
        child = Supervised(name, argv, merged, self._spawn(name, argv, merged))
        self.children[name] = child
        return child

    def ensure(self) -> list[str]:
        """Start again the children that exited; returns their names."""
        again = []
        for key, child in self.children.items():
            if key.startswith("_"):  # paused on purpose
                continue
            code = child.process.poll()
            if code is not None:
                child.exits.append(code)
                child.restarts += 1
                child.process = self._spawn(child.name, child.argv, child.env)
                again.append(child.name)
        return again

    def kill(self, name: str) -> None:
        """SIGKILL, then start it again at once."""
        child = self.children[name]
        child.process.send_signal(signal.SIGKILL)
        child.process.wait()
        child.kills += 1
        child.process = self._spawn(child.name, child.argv, child.env)

    def pause(self, name: str) -> None:
        """SIGKILL and leave it down (until ``resume``)."""
        child = self.children.pop(name)
        child.process.send_signal(signal.SIGKILL)
        child.process.wait()
        child.kills += 1
        self.children[f"_{name}"] = child

    def resume(self, name: str) -> None:
        child = self.children.pop(f"_{name}")
        child.process = self._spawn(child.name, child.argv, child.env)
        self.children[name] = child

    def stop(self, name: str) -> int | None:
        child = self.children.pop(name, None) or self.children.pop(f"_{name}", None)
        if child is None:
            return None
        if child.process.poll() is None:
            child.process.terminate()
            try:
                child.process.wait(20)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        return child.process.returncode

    def stop_all(self) -> None:
        for name in list(self.children):
            self.stop(name.lstrip("_"))

    def alive(self, name: str) -> bool:
        child = self.children.get(name)
        return child is not None and child.process.poll() is None


def wait_http(url: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.5,
               between: Callable[[], Any] | None = None, stable: float = 0.0
               ) -> tuple[bool, float]:
    """Poll ``check`` until true (and still true ``stable`` seconds later: late answers can
    queue new work); ``between`` runs each turn (the supervisor). Returns (succeeded,
    seconds)."""
    started = time.monotonic()
    while True:
        if between is not None:
            between()
        try:
            if check() and (not stable or (time.sleep(stable), check())[1]):
                return True, round(time.monotonic() - started, 1)
        except Exception:
            from django.db import connection

            connection.close()
        if time.monotonic() - started > timeout:
            return False, round(time.monotonic() - started, 1)
        time.sleep(every)


_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class WebClient:
    """A browser-like client of the web screens, signed in with a password."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30.0, follow_redirects=False)

    def token(self, path: str) -> str:
        page = self.http.get(path)
        found = _CSRF.search(page.text)
        if found is None:
            raise RuntimeError(f"no CSRF token on {path} ({page.status_code})")
        return found.group(1)

    def sign_in(self, username: str, password: str) -> None:
        token = self.token("/dang-nhap/")
        answer = self.http.post("/dang-nhap/", data={
            "username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": self.base + "/dang-nhap/"})
        if answer.status_code != 302:
            raise RuntimeError(f"sign-in refused ({answer.status_code})")

    def close(self) -> None:
        self.http.close()


def last_traceback(log: Path) -> dict[str, Any] | None:
    """The last Python traceback in a process log: its innermost frame and exception line."""
    if not log.exists():
        return None
    text = log.read_text(errors="replace")
    start = text.rfind("Traceback (most recent call last)")
    if start < 0:
        return None
    lines = text[start:].splitlines()
    frames = [re.match(r'\s*File "([^"]+)", line (\d+), in (\S+)', line) for line in lines]
    found = [m for m in frames if m is not None]
    app = [m for m in found if "/edureg/" in m.group(1) and "site-packages" not in m.group(1)]
    error = next((line for line in lines[1:] if line and not line.startswith(" ")
                  and not line.startswith("Traceback") and ":" in line), "")
    inner = found[-1] if found else None
    app_frame = app[-1] if app else None
    return {
        "exception": error.strip()[:300],
        "innermost": inner and f"{inner.group(1)}:{inner.group(2)} in {inner.group(3)}",
        "app_frame": app_frame and
        f"{app_frame.group(1).split('/edureg/', 1)[-1]}:{app_frame.group(2)} in "
        f"{app_frame.group(3)}",
        "app_frames": [f"{m.group(1).split('/edureg/', 1)[-1]}:{m.group(2)} in {m.group(3)}"
                       for m in app],
    }
