"""An authority-wide verification job through the whole workflow; prints one JSON object.

    .venv/bin/python bench/identity_job.py [--schools 100] [--students-per-school 940]
        [--quota 10] [--threads 4] [--fail-rate 0.05] [--outage-seconds 60] [--kill-after 5]
        [--database-url URL]

Seeds a database (SQLite in a temporary directory unless ``--database-url``) and its population
register file with ``edureg seed``, starts ``edureg sim register`` over that file, and asks for
the verification of every pupil and staff member of the authority
(``verification_request``, as the seeded authority officer). ``edureg identity run`` processes
then work the job through the real HTTP adapter and store every answer (states, register
checks, audit events, quality state). Two runs over the same persons:

- ``quota``: the simulator allows ``--quota`` calls per second; the adapter's rate limit is
  set to the same figure. Reports calls per second between the first and the last answer as a
  share of the quota, the wall time, and calls per person (from the simulator's own counts).
- ``faults``: ``--fail-rate`` of calls answered 503; from ten seconds in, the simulator down
  for ``--outage-seconds``; at ``--kill-after`` seconds the worker is killed (SIGKILL) and a new
  one started. Every person must end in a final state: none left waiting, none answered twice.
  Reports total time, the calls the simulator saw by status (retries = calls beyond the
  batches), and how many persons were sent again because their call was in flight at the kill.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TOKEN = "bench-register-token"  # noqa: S105 - a loopback simulator's token
LEASE_SECONDS = 20  # how soon a killed worker's persons are taken up again


def edureg(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "edureg.cli.main", *args], check=True,  # noqa: S603
                   env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


def start_simulator(db_path: Path, quota: float, env: dict[str, str]
                    ) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(  # noqa: S603 - fixed argument list
        [sys.executable, "-m", "edureg.cli.main", "sim", "register", "--port", "0",
         "--db", str(db_path), "--quota", str(quota), "--seed", "7"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    assert process.stdout is not None
    match = re.search(r"http://127\.0\.0\.1:(\d+)", process.stdout.readline())
    if match is None:
        process.kill()
        raise SystemExit("the simulator did not start")
    return process, f"http://127.0.0.1:{match.group(1)}"


class Bench:
    def __init__(self, args: argparse.Namespace, env: dict[str, str], url: str) -> None:
        import httpx

        self.args, self.env, self.url = args, env, url
        self.http = httpx.Client(timeout=10.0, headers={"Authorization": f"Bearer {TOKEN}"})

    def control(self, **faults: Any) -> None:
        self.http.post(f"{self.url}/_sim/control", json=faults).raise_for_status()

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = self.http.get(f"{self.url}/_sim/stats").json()
        return found

    def worker(self, log: Path) -> subprocess.Popen[bytes]:
        env = {**self.env, "EDUREG_REGISTER_URL": self.url, "EDUREG_REGISTER_TOKEN": TOKEN,
               "EDUREG_REGISTER_RATE": str(self.args.quota),
               "EDUREG_REGISTER_MAX_CONCURRENCY": str(self.args.threads),
               "EDUREG_IDENTITY_LEASE_SECONDS": str(LEASE_SECONDS)}
        with log.open("ab") as out:
            return subprocess.Popen(  # noqa: S603 - fixed argument list
                [sys.executable, "-m", "edureg.cli.main", "identity", "run", "--threads",
                 str(self.args.threads)], env=env, cwd=ROOT, stdout=out, stderr=out)

    def run(self, label: str, log: Path, *, faults: bool) -> dict[str, Any]:
        from django.db.models import Count, Max, Min

        from edureg.identity.models import (
            IdentityState,
            IdentityStatus,
            JobKind,
            VerificationJob,
        )
        from edureg.identity.services import Target, verification_request
        from edureg.quality.models import CheckKind, FieldGroupCheck
        from edureg.schools.models import Authority

        # Every person back to "chưa xác thực": both runs send the same persons.
        IdentityState.objects.all().delete()
        VerificationJob.objects.all().delete()
        FieldGroupCheck.objects.filter(kind=CheckKind.REGISTER).delete()
        self.http.post(f"{self.url}/_sim/reset").raise_for_status()
        self.control(quota_per_second=self.args.quota,
                     fail_rate=self.args.fail_rate if faults else 0.0)
        authority = Authority.objects.get()
        officer = officer_of(authority)
        job = verification_request(actor=officer, target=Target(
            kind=JobKind.AUTHORITY, authority_id=authority.pk))
        started = time.perf_counter()
        workers = [self.worker(log)]
        events: list[str] = []
        threads = []
        if faults:
            def outage() -> None:
                time.sleep(10)
                self.control(down=True)
                events.append(f"down at {time.perf_counter() - started:.1f}s")
                time.sleep(self.args.outage_seconds)
                self.control(down=False)
                events.append(f"up at {time.perf_counter() - started:.1f}s")

            def kill() -> None:
                time.sleep(self.args.kill_after)
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait()
                events.append(f"worker killed at {time.perf_counter() - started:.1f}s")
                workers.append(self.worker(log))

            threads = [threading.Thread(target=outage), threading.Thread(target=kill)]
            for thread in threads:
                thread.start()
        for thread in threads:
            thread.join()
        codes = [process.wait() for process in workers]
        seconds = time.perf_counter() - started
        job.refresh_from_db()
        states = IdentityState.objects.filter(job=job)
        by_status = dict(states.values_list("status").annotate(n=Count("pk"))
                         .values_list("status", "n"))
        span = states.exclude(answered_at=None).aggregate(first=Min("answered_at"),
                                                          last=Max("answered_at"))
        stats = self.stats()
        sent = stats["persons_by_id"]
        calls_ok = stats["by_status"].get("200", 0)
        answer_seconds = ((span["last"] - span["first"]).total_seconds()
                          if span["first"] else 0.0)
        result: dict[str, Any] = {
            "persons": job.persons,
            "seconds": round(seconds, 1),
            "worker_exit_codes": codes,
            "job_status": job.status,
            "by_status": by_status,
            "left_waiting": by_status.get(IdentityStatus.SENT, 0),
            "answered_twice": states.filter(answers__gt=1).count(),
            "not_sendable": job.not_sendable,
            "answered": job.answered,
            "lost": job.persons - sum(n for s, n in by_status.items()
                                      if s != IdentityStatus.SENT),
            "simulator_calls_by_status": stats["by_status"],
            "simulator_faults": stats["faults"],
            "calls_answered": calls_ok,
            "persons_sent": sum(sent.values()),
            "distinct_persons_sent": len(sent),
            "calls_per_person": round(sum(sent.values()) / len(sent), 4) if sent else None,
            "persons_sent_again": sum(sent.values()) - len(sent),
        }
        if faults:
            result["events"] = events
            result["calls_beyond_answered"] = sum(stats["by_status"].values()) - calls_ok
        else:
            rate = (calls_ok - 1) / answer_seconds if answer_seconds else 0.0
            result["answer_seconds"] = round(answer_seconds, 1)
            result["calls_per_second"] = round(rate, 2)
            result["share_of_quota"] = round(rate / self.args.quota, 3)
        return result


def officer_of(authority: Any) -> Any:
    from edureg.access.models import Membership
    from edureg.access.roles import Role

    membership = Membership.objects.filter(authority=authority, role=Role.AUTHORITY_OFFICER,
                                           school__isnull=True).select_related("user").first()
    if membership is None:
        raise SystemExit("the seed made no authority officer")
    return membership.user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=100)
    parser.add_argument("--students-per-school", type=int, default=940)
    parser.add_argument("--quota", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--fail-rate", type=float, default=0.05)
    parser.add_argument("--outage-seconds", type=float, default=60.0)
    parser.add_argument("--kill-after", type=float, default=5.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--skip-faults", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="edureg-bench-identity-"))
    register = workdir / "register.sqlite3"
    env = {**os.environ, "DATABASE_URL": args.database_url or
           f"sqlite:///{workdir / 'edureg.sqlite3'}", "EDUREG_VAR_DIR": str(workdir),
           "EDUREG_REGISTER_SIM_DB": str(register), "EDUREG_REGISTER_TOKEN": TOKEN,
           "DJANGO_SETTINGS_MODULE": "edureg.settings"}
    os.environ.update(env)
    started = time.perf_counter()
    edureg("migrate", env=env)
    edureg("seed", "--reset", "--schools", str(args.schools), "--students-per-school",
           str(args.students_per_school), "--register-db", str(register), env=env)
    seed_seconds = time.perf_counter() - started
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    process, url = start_simulator(register, args.quota, env)
    bench = Bench(args, env, url)
    try:
        quota = bench.run("quota", workdir / "worker-quota.log", faults=False)
        faults = None if args.skip_faults else bench.run(
            "faults", workdir / "worker-faults.log", faults=True)
    finally:
        process.terminate()
        process.wait(timeout=10)
    from django.db import connection

    print(json.dumps({
        "benchmark": "identity_job",
        "database": connection.vendor,
        "schools": args.schools, "students_per_school": args.students_per_school,
        "seed_seconds": round(seed_seconds, 1),
        "quota_calls_per_second": args.quota, "threads": args.threads, "batch_size": 100,
        "lease_seconds": LEASE_SECONDS,
        "quota": quota,
        "faults": faults and {"fail_rate": args.fail_rate,
                              "outage_seconds": args.outage_seconds,
                              "kill_after_seconds": args.kill_after, **faults},
        "workdir": str(workdir),
    }, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
