"""The production set-up in deploy/: the example environment passes Django's deployment
checks once its CHANGE-ME values are filled in, lists every setting, and gunicorn's access log
keeps no query string or client detail."""

from __future__ import annotations

import os
import re
import runpy
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import database_url

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
EXAMPLE = DEPLOY / "edureg.env.example"


def _example_values() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def _env_file(tmp_path: Path, *, fill_in: bool) -> Path:
    """The example as an officer would install it, its files moved under ``tmp_path``; with
    ``fill_in``, every CHANGE-ME replaced as docs/production.md says."""
    lines = []
    for name, value in _example_values().items():
        if value.startswith("/"):
            value = str(tmp_path / value.lstrip("/"))
        if fill_in and "CHANGE-ME" in value:
            value = ("k" + os.urandom(40).hex() if name == "EDUREG_SECRET_KEY"
                     else value.replace("CHANGE-ME", "s3cret"))
        lines.append(f"{name}={value}")
    path = tmp_path / "edureg.env"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _edureg_run(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A server's environment: none of the test run's settings, nor the flag the browser tests
    # set for Playwright's event loop (DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy refuses).
    env = {key: value for key, value in os.environ.items()
           if not (key.startswith("EDUREG_") or key in ("DATABASE_URL",
                                                         "DJANGO_ALLOW_ASYNC_UNSAFE"))}
    env["EDUREG_ENV_FILE"] = str(env_file)
    return subprocess.run([str(DEPLOY / "edureg-run"), *args], env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_filled_in_example_environment_passes_the_deployment_checks(tmp_path: Path) -> None:
    result = _edureg_run(_env_file(tmp_path, fill_in=True), "edureg", "check", "--deploy",
                         "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_production_start_with_a_change_me_value_left_stops(tmp_path: Path) -> None:
    result = _edureg_run(_env_file(tmp_path, fill_in=False), "edureg", "check", "--deploy")

    assert result.returncode != 0
    assert "CHANGE-ME" in result.stderr
    assert "EDUREG_SECRET_KEY" in result.stderr
    assert "DATABASE_URL" in result.stderr


def test_the_example_environment_lists_every_setting() -> None:
    settings_text = (ROOT / "edureg" / "settings.py").read_text(encoding="utf-8")
    read = set(re.findall(r'\.(?:str|bool|int|float|list|db_url)\(\s*"([A-Z0-9_]+)"',
                          settings_text))
    read |= set(re.findall(r'environ\.get\("([A-Z0-9_]+)"',
                           (DEPLOY / "gunicorn.conf.py").read_text(encoding="utf-8")))
    example = EXAMPLE.read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))

    assert read - listed == set(), "add these to deploy/edureg.env.example, with a comment"
    assert read, "the settings pattern found nothing"


def test_gunicorn_workers_follow_the_cpu_count() -> None:
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))

    cores = os.cpu_count() or 1
    assert config["workers"] == min(2 * cores + 1, 17)
    assert config["workers"] > 1
    assert config["wsgi_app"] == "edureg.wsgi:application"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.django_db(transaction=True)
def test_the_access_log_of_a_request_keeps_no_query_string_nor_client_detail(
        tmp_path: Path) -> None:
    port = _free_port()
    access_log = tmp_path / "access.log"
    env = {**os.environ, "DATABASE_URL": database_url(), "EDUREG_WEB_WORKERS": "1"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(  # noqa: S603
        [str(gunicorn), "--config", str(DEPLOY / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "--access-logfile", str(access_log)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    query = "ho_ten=Nguy%E1%BB%85n+V%C4%83n+An&so_dinh_danh=079123456789"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/dang-nhap/?{query}",
                                     headers={"User-Agent": "agent-of-079123456789",
                                              "Referer": "http://x/?cccd=079123456789"},
                                     timeout=10)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert response.status_code == 200
    line = access_log.read_text(encoding="utf-8").strip().splitlines()[-1]
    assert '"GET /dang-nhap/ HTTP/1.1" 200' in line
    for absent in ("?", "ho_ten", "079123456789", "127.0.0.1", "agent-of"):
        assert absent not in line
