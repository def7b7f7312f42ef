"""Population-register exchange under quota and faults; prints one JSON object.

    .venv/bin/python bench/register.py [--persons 100000] [--quota 50] [--workers 8]
                                       [--fail-rate 0.05] [--outage-seconds 60]

Starts ``edureg sim register`` as its own process over a register file of ``--persons``
synthetic persons, and verifies all of them in batches of 100 through the real HTTP adapter
(``HttpPopulationRegister``) from ``--workers`` threads:

- ``quota``: the simulator allows ``--quota`` calls per second (429 beyond); the adapter's own
  rate limit is set to the same figure. Reports calls per second as a share of the quota, and
  calls per person (from the simulator's own counts).
- ``faults``: the same batch with ``--fail-rate`` of calls answered 503 and, starting ten
  seconds in, the simulator down for ``--outage-seconds``. Every person must end with an
  answer (none lost), and none be answered twice. Reports retries, breaker openings and time.

This measures the exchange (adapter + simulator); the verification job that stores results
per person is the identity workflow's (issue 5, next part).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TOKEN = "bench-register-token"  # noqa: S105 - a loopback simulator's token


def write_register(path: Path, persons: int) -> list[tuple[str, str, str, str]]:
    """A register file with the ``person`` columns the simulator reads."""
    rows = []
    for n in range(persons):
        born = dt.date(2008, 1, 1) + dt.timedelta(days=n % 4000)
        sex = "M" if n % 2 else "F"
        digit = (2 if sex == "M" else 3)
        number = f"079{digit}{born.year % 100:02d}{n:06d}"
        rows.append((number, f"Nguyễn Văn Thử {n}", born.isoformat(), sex))
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE person (personal_id_number TEXT NOT NULL, full_name TEXT NOT NULL, "
               "date_of_birth TEXT NOT NULL, sex TEXT NOT NULL, "
               "birth_registration_place TEXT NOT NULL)")
    db.executemany("INSERT INTO person VALUES (?, ?, ?, ?, '79')", rows)
    db.execute("CREATE UNIQUE INDEX person_personal_id_number ON person (personal_id_number)")
    db.commit()
    db.close()
    return rows


def start_simulator(db_path: Path, quota: float) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "EDUREG_REGISTER_TOKEN": TOKEN}
    process = subprocess.Popen(  # noqa: S603 - fixed argument list
        [sys.executable, "-m", "edureg.cli.main", "sim", "register", "--port", "0",
         "--db", str(db_path), "--quota", str(quota), "--seed", "7"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if match is None:
        process.kill()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return process, f"http://127.0.0.1:{match.group(1)}"


def control(client: Any, url: str, **settings: Any) -> None:
    response = client.post(f"{url}/_sim/control", json=settings,
                           headers={"Authorization": f"Bearer {TOKEN}"})
    response.raise_for_status()


def stats(client: Any, url: str) -> dict[str, Any]:
    response = client.get(f"{url}/_sim/stats", headers={"Authorization": f"Bearer {TOKEN}"})
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def run_batch(url: str, rows: Sequence[tuple[str, str, str, str]], *, quota: float,
              workers: int) -> dict[str, Any]:
    from edureg.identity.register.http_adapter import HttpPopulationRegister
    from edureg.identity.register.port import MAX_BATCH, PersonQuery, RegisterError

    register = HttpPopulationRegister(
        url, TOKEN, timeout=5.0, max_concurrency=workers, rate_per_second=quota,
        max_attempts=8, backoff_base=0.2, backoff_cap=5.0, breaker_cooldown=5.0,
        breaker_max_cooldown=20.0, max_wait=600.0)
    batches = [rows[start:start + MAX_BATCH] for start in range(0, len(rows), MAX_BATCH)]
    answered: dict[str, bool] = {}
    failed: list[str] = []
    lock = threading.Lock()
    cursor = iter(range(len(batches)))

    def work() -> None:
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            persons = [PersonQuery(ref=row[0], personal_id_number=row[0], full_name=row[1],
                                   date_of_birth=dt.date.fromisoformat(row[2]), sex=row[3])
                       for row in batches[index]]
            try:
                response = register.verify(persons)
            except RegisterError as error:
                with lock:
                    failed.append(str(error))
                continue
            with lock:
                for result in response.results:
                    answered[result.ref] = result.verified

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    counters = register.counters()
    register.close()
    return {"seconds": round(seconds, 1), "batches": len(batches), "answered": len(answered),
            "verified": sum(answered.values()), "batches_failed": len(failed),
            "lost": len(rows) - len(answered), "counters": counters}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--quota", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--fail-rate", type=float, default=0.05)
    parser.add_argument("--outage-seconds", type=float, default=60.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="edureg-bench-register-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'edureg.sqlite3'}")
    os.environ.setdefault("EDUREG_VAR_DIR", str(workdir))
    os.environ["DJANGO_SETTINGS_MODULE"] = "edureg.settings"
    import django
    import httpx

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per call otherwise
    rows = write_register(workdir / "register.sqlite3", args.persons)
    process, url = start_simulator(workdir / "register.sqlite3", args.quota)
    client = httpx.Client(timeout=10.0)
    try:
        quota_run = run_batch(url, rows, quota=args.quota, workers=args.workers)
        quota_stats = stats(client, url)
        calls = quota_stats["verify_calls"]
        per_person = list(quota_stats["persons_by_id"].values())

        client.post(f"{url}/_sim/reset", headers={"Authorization": f"Bearer {TOKEN}"})
        control(client, url, fail_rate=args.fail_rate)

        def outage() -> None:
            time.sleep(10)
            control(client, url, down=True)
            time.sleep(args.outage_seconds)
            control(client, url, down=False)

        outage_thread = threading.Thread(target=outage)
        outage_thread.start()
        fault_run = run_batch(url, rows, quota=args.quota, workers=args.workers)
        outage_thread.join()
        fault_stats = stats(client, url)
        fault_per_person = list(fault_stats["persons_by_id"].values())
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)
    print(json.dumps({
        "benchmark": "register_exchange",
        "persons": args.persons, "batch_size": 100, "workers": args.workers,
        "quota": {
            "quota_calls_per_second": args.quota,
            **quota_run,
            "calls_per_second": round(calls / quota_run["seconds"], 2),
            "share_of_quota": round(calls / quota_run["seconds"] / args.quota, 3),
            "simulator_calls": calls,
            "simulator_by_status": quota_stats["by_status"],
            "calls_per_person_max": max(per_person, default=0),
            "persons_answered_by_simulator": len(per_person),
        },
        "faults": {
            "fail_rate": args.fail_rate, "outage_seconds": args.outage_seconds,
            **fault_run,
            "simulator_by_status": fault_stats["by_status"],
            "persons_answered_twice": sum(1 for n in fault_per_person if n > 1),
        },
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
