"""Upward sync to the national sector database, against the upstream simulator process; prints
one JSON object.

    .venv/bin/python bench/sync_relay.py [--students 100000] [--backlog 100000]
        [--rate 200] [--steady-seconds 60] [--kills 20] [--outage-seconds 300]

A temporary SQLite database is migrated and seeded (``edureg.seeding``), and ``edureg sim
upstream`` runs as its own process with its own file. Three phases:

1. throughput: ``--backlog`` changes (one audited change per pupil, distinct pupils) pushed by
   ``sync_run_once`` in this process; changes acknowledged per second (target ≥ 2,000/s);
2. steady lag: a writer commits ``--rate`` changes per second for ``--steady-seconds`` while the
   relay runs as ``edureg sync run`` in its own process; commit-to-acknowledgement lag p50/p95
   (target p95 ≤ 5 s);
3. faults: another ``--backlog`` changes; the relay process is killed (SIGKILL) at random
   moments ``--kills`` times and started again, and the simulator is down for
   ``--outage-seconds`` in the middle. At the end every change must be acknowledged or
   superseded, none parked, and the simulator's own record must show every acknowledged change
   applied exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_simulator(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "edureg.cli.main", "sim", "upstream", "--port", str(port),
         "--db", str(workdir / "upstream.sqlite3")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    for _attempt in range(100):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_sim/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the upstream simulator did not start")


def _relay() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "edureg.cli.main", "sync", "run", "--interval", "0.2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)


def _changes(student_ids: list[int], school_of: dict[int, int], chunk: int = 500) -> None:
    """One audited change per pupil, committed ``chunk`` at a time."""
    from django.db import transaction

    from edureg.audit.services import audit_record

    for start in range(0, len(student_ids), chunk):
        with transaction.atomic():
            for pk in student_ids[start:start + chunk]:
                audit_record(actor=None, action="student.update", entity="student",
                             entity_id=pk, school_id=school_of[pk],
                             data={"changes": {"occupation": [None, "bench"]}})


def _pending() -> int:
    from edureg.sync.models import SyncChange, SyncStatus

    return SyncChange.objects.filter(status=SyncStatus.PENDING).count()


def _lags(since_seq: int) -> list[float]:
    from edureg.sync.models import SyncChange, SyncStatus

    return sorted((acked - committed).total_seconds() for committed, acked in
                  SyncChange.objects.filter(seq__gt=since_seq, status__in=[
                      SyncStatus.ACKED, SyncStatus.SUPERSEDED])
                  .values_list("committed_at", "acked_at") if acked is not None)


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, round(fraction * (len(values) - 1)))], 3)


def _head() -> int:
    from edureg.audit.models import AuditEvent

    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def _wait_until_drained(timeout: float) -> bool:
    from edureg.sync.relay import sync_intake

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sync_intake()
        if _pending() == 0:
            return True
        time.sleep(0.5)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--outage-seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="edureg-bench-sync-", dir="/tmp"))
    port = _free_port()
    os.environ.update({
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "EDUREG_VAR_DIR": str(workdir),
        "EDUREG_REGISTER_SIM_DB": str(workdir / "register.sqlite3"),
        "EDUREG_UPSTREAM_URL": f"http://127.0.0.1:{port}",
        "EDUREG_AUDIT_ANCHOR_FILE": "",
        "DJANGO_SETTINGS_MODULE": "edureg.settings",
    })
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db.models import Q
    from django.utils import timezone

    from edureg.registry.models import Student
    from edureg.seeding.options import SeedOptions
    from edureg.seeding.services import seed_database
    from edureg.sync.models import SyncChange, SyncCursor, SyncStatus
    from edureg.sync.relay import sync_run_once

    call_command("migrate", verbosity=0, interactive=False)
    per_school = min(args.students, 1000)
    seed_database(SeedOptions(schools=max(1, args.students // per_school),
                              students_per_school=per_school, seed=args.seed,
                              register_path=Path(settings.EDUREG_REGISTER_SIM_DB)))
    school_of = dict(Student.objects.values_list("pk", "school_id"))
    pupils = sorted(school_of)
    simulator = _start_simulator(workdir, port)
    result: dict[str, Any] = {"benchmark": "sync_relay", "database": "sqlite",
                              "students": len(pupils)}
    try:
        # Start after the seed: its bulk load is not a change to send.
        SyncCursor.objects.update_or_create(name="upstream", defaults={"seq": _head()})

        # 1. Throughput.
        backlog = pupils[:args.backlog]
        _changes(backlog, school_of)
        started = time.perf_counter()
        total = 0
        while True:
            report = sync_run_once()
            total += report.acked + report.superseded
            if report.sent == 0 and _pending() == 0:
                break
        seconds = time.perf_counter() - started
        result["throughput"] = {"changes": len(backlog), "acknowledged": total,
                                "seconds": round(seconds, 2),
                                "changes_per_s": round(len(backlog) / seconds, 1),
                                "target_changes_per_s": 2000}

        # 2. Steady lag.
        since = _head()
        relay = _relay()
        stop = threading.Event()
        written = 0

        def writer() -> None:
            nonlocal written
            interval = 1.0 / args.rate
            next_at = time.monotonic()
            while not stop.is_set():
                _changes([rng.choice(pupils)], school_of, chunk=1)
                written += 1
                next_at += interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(args.steady_seconds)
        stop.set()
        thread.join()
        drained = _wait_until_drained(120)
        relay.send_signal(signal.SIGTERM)
        relay.wait(30)
        lags = _lags(since)
        result["steady"] = {"rate_per_s": args.rate, "seconds": args.steady_seconds,
                            "changes": written, "drained": drained,
                            "lag_p50_s": _percentile(lags, 0.5),
                            "lag_p95_s": _percentile(lags, 0.95),
                            "lag_max_s": _percentile(lags, 1.0), "target_p95_s": 5}

        # 3. Faults: kills and an outage during a backlog.
        since = _head()
        fault_backlog = pupils[:args.backlog]
        _changes(fault_backlog, school_of)
        relay = _relay()
        kills = 0
        outage_at = args.kills // 2
        outage_seconds = 0.0
        while kills < args.kills:
            time.sleep(rng.uniform(0.5, 3.0))
            relay.kill()
            relay.wait()
            kills += 1
            if kills == outage_at and args.outage_seconds > 0:
                control = f"http://127.0.0.1:{port}/_sim/control"
                httpx.post(control, json={"down": True}, timeout=5)
                relay = _relay()
                outage_started = time.monotonic()
                time.sleep(args.outage_seconds)
                httpx.post(control, json={"down": False}, timeout=5)
                outage_seconds = time.monotonic() - outage_started
                # Changes backed off during the outage are due again now.
                SyncChange.objects.filter(status=SyncStatus.PENDING).update(
                    next_attempt_at=timezone.now())
                continue
            relay = _relay()
        drained = _wait_until_drained(900)
        relay.send_signal(signal.SIGTERM)
        relay.wait(30)
        changes = SyncChange.objects.filter(seq__gt=since)
        counts = {status: changes.filter(status=status).count() for status in SyncStatus.values}
        # The seed plants pupils without a birth date or sex: the upstream refuses those, and
        # only those may be parked.
        refusable = Student.objects.filter(pk__in=fault_backlog).filter(
            Q(date_of_birth__isnull=True) | Q(sex="") | Q(full_name="")).count()
        summary = httpx.get(f"http://127.0.0.1:{port}/_sim/applied/summary", timeout=10).json()
        acked_total = SyncChange.objects.filter(status=SyncStatus.ACKED).count()
        result["faults"] = {
            "changes": len(fault_backlog), "kills": kills,
            "outage_seconds": round(outage_seconds, 1), "drained": drained, "counts": counts,
            "simulator": summary,
            "acked_everywhere": acked_total,
            "exactly_once": summary.get("max_applications_per_change") == 1
            and summary.get("changes") == acked_total and counts["pending"] == 0,
            "parked_expected": refusable,
            "nothing_parked_wrongly": counts["parked"] == refusable,
        }
        lags = _lags(since)
        result["faults"]["lag_p50_s"] = _percentile(lags, 0.5)
        result["faults"]["lag_mean_s"] = round(statistics.fmean(lags), 2) if lags else None
    finally:
        simulator.terminate()
        simulator.wait(30)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
