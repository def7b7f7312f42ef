"""Fault drills (``make faults``): prints one JSON object with each drill's outcome and exits 1
when any check fails.

    .venv/bin/python bench/faults.py [--schools 3] [--students-per-school 200] [--seed 1]
        [--only pg,worker,simulators,disk]

Everything lives under ``/tmp/faults`` (wiped at start): a PostgreSQL cluster on port 55480
(``scripts/pg_server.sh``), the web (gunicorn) on 8180, the simulators on 8181 (population
register), 8182 (messages) and 8183 (upstream sector database), each process supervised (a
process that dies is started again, as a deployment's process manager would). A small seed
(``edureg seed``), then four drills:

1. ``pg``: pupil edits flow through ``student_update`` (three writer threads, one per school)
   while the web is read over HTTP and ``edureg sync run`` pushes upstream; PostgreSQL is
   restarted (``pg_ctl restart -m fast``) in the middle. Every acknowledged edit exists exactly
   once (one audit event, the value in the record), an edit that raised left nothing (or is
   counted as committed-in-doubt: the commit reached the server but its answer did not), the
   record and its last audit event agree, the web answers again, the relay recovered and the
   sync queue drains with the upstream simulator applying each change once.
2. ``worker``: verification jobs (one per class of two schools, ``job_run_task``), pupil edits
   for the relay (``sync_relay_task``, enqueued by ``edureg schedule``) and the scheduler's own
   tasks; ``edureg worker`` is SIGKILLed ``--kills`` times while it runs a task and started
   again, then once more while it runs a ``dedupe_run_task`` enqueued for the purpose. Every
   person ends answered exactly once, none left waiting, the sync queue drains exactly once
   upstream, and every task that a kill left ``RUNNING`` had its work redone (a later
   successful run with the same arguments, its verification job finished, or nothing left to
   sync); otherwise it is lost. The supervisor here also does what ``edureg schedule`` does
   for lost verification jobs (``jobs_resume``), after 20 s of silence instead of 90 s.
3. ``simulators``: a school's verification job (small batches against a slowed simulator);
   once answers come in, the register simulator goes down (``/_sim/control``) and the
   upstream simulator process is killed for ``--outage-seconds`` while more edits are made.
   The job finishes with every person answered once, the queue drains, only records the
   upstream refuses for good are parked, the upstream applies each change once.
4. ``disk``: the intake directory (``EDUREG_INTAKE_DIR``) on a tmpfs of 512 KiB filled to
   leave a third of the workbook (``ulimit -f`` on the web process when not root: EFBIG takes
   the same ``OSError`` path as ENOSPC); a workbook is uploaded through the real upload
   screen, signed in as the school's records clerk. The answer must be a page with a
   Vietnamese message (no 500; a non-workbook upload first proves the message can be read),
   no intake run or audit event half-written, no file left behind; with the space back, the
   same upload works and its cancel removes its files.

Afterwards ``edureg audit verify`` must pass, the pupil count equal the seed's, no task wait
in the queue and no change wait for sync.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faults_support import (
    EDUREG,
    ROOT,
    Supervisor,
    WebClient,
    last_traceback,
    pg_createdb,
    pg_restart,
    pg_start,
    pg_stop,
    wait_http,
    wait_until,
)

BASE = Path("/tmp/faults")  # noqa: S108 - the drills' agreed place, wiped at start
PG_DATA = BASE / "pg"
PG_PORT = 55480
WEB_PORT = 8180
REGISTER_PORT, MESSAGES_PORT, UPSTREAM_PORT = 8181, 8182, 8183
WEB = f"http://127.0.0.1:{WEB_PORT}"
REGISTER = f"http://127.0.0.1:{REGISTER_PORT}"
UPSTREAM = f"http://127.0.0.1:{UPSTREAM_PORT}"
REGISTER_TOKEN = "faults-register-token"  # noqa: S105 - a loopback simulator's token
PASSWORD = "Faults@drill2026"  # noqa: S105 - the seed's demo accounts, on a throwaway database
SMALL_FS = BASE / "small"
LEASE_SECONDS = 10
STALE_SECONDS = 20  # our supervisor's jobs_resume: a dead worker's job is enqueued again


def environment() -> dict[str, str]:
    var = BASE / "var"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "edureg.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{PG_PORT}/edureg",
        "EDUREG_VAR_DIR": str(var),
        "EDUREG_REGISTER_SIM_DB": str(var / "register.sqlite3"),
        "EDUREG_UPSTREAM_SIM_DB": str(var / "upstream.sqlite3"),
        "EDUREG_INTAKE_DIR": str(var / "intake"),
        "EDUREG_AUDIT_ANCHOR_FILE": str(var / "audit-anchors.jsonl"),
        "EDUREG_REGISTER_SIM_PORT": str(REGISTER_PORT),
        "EDUREG_MESSAGES_SIM_PORT": str(MESSAGES_PORT),
        "EDUREG_UPSTREAM_SIM_PORT": str(UPSTREAM_PORT),
        "EDUREG_REGISTER_URL": REGISTER,
        "EDUREG_MESSAGES_URL": f"http://127.0.0.1:{MESSAGES_PORT}",
        "EDUREG_UPSTREAM_URL": UPSTREAM,
        "EDUREG_REGISTER_TOKEN": REGISTER_TOKEN,
        "EDUREG_REGISTER_TIMEOUT": "3",
        "EDUREG_UPSTREAM_TIMEOUT": "3",
        "EDUREG_IDENTITY_LEASE_SECONDS": str(LEASE_SECONDS),
        "EDUREG_DEMO_PASSWORD": PASSWORD,
        "EDUREG_LOG_LEVEL": "WARNING",
    }


def edureg(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDUREG, *args], env=env, cwd=ROOT, capture_output=True,  # noqa: S603
                          text=True, check=False)


def unmount_small() -> None:
    if os.path.ismount(SMALL_FS):
        subprocess.run(["umount", str(SMALL_FS)], check=False)  # noqa: S603, S607


# --- Reads of the database ---------------------------------------------------------------------

def audit_head() -> int:
    from edureg.audit.models import AuditEvent

    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def sync_settled() -> bool:
    """Every synced change taken in and none waiting."""
    from edureg.audit.models import AuditEvent
    from edureg.sync.models import SyncChange, SyncCursor, SyncStatus

    newest = (AuditEvent.objects.filter(action="student.update").order_by("-seq")
              .values_list("seq", flat=True).first() or 0)
    cursor = SyncCursor.objects.filter(name="upstream").values_list("seq", flat=True).first()
    return (cursor or 0) >= newest and not SyncChange.objects.filter(
        status=SyncStatus.PENDING).exists()


def sync_counts(since_seq: int) -> dict[str, int]:
    from edureg.sync.models import SyncChange, SyncStatus

    changes = SyncChange.objects.filter(seq__gt=since_seq)
    return {status: changes.filter(status=status).count() for status in SyncStatus.values}


def upstream_exactly_once() -> dict[str, Any]:
    from edureg.sync.models import SyncChange, SyncStatus

    summary = httpx.get(f"{UPSTREAM}/_sim/applied/summary", timeout=10).json()
    acked = SyncChange.objects.filter(status=SyncStatus.ACKED).count()
    return {"simulator": summary, "acked_in_edureg": acked,
            "ok": summary.get("max_applications_per_change", 0) <= 1
            and summary.get("changes") == acked}


def refused_by_upstream(since_seq: int) -> int:
    """Pupils with changes since ``since_seq`` that the upstream refuses for good (the seed
    plants pupils without a birth date, sex or name): each ends with exactly one parked change,
    its newest (the relay supersedes a record's older changes in the same batch)."""
    from django.db.models import Q

    from edureg.registry.models import Student
    from edureg.sync.models import SyncChange

    records = SyncChange.objects.filter(seq__gt=since_seq, entity="student").values_list(
        "record_id", flat=True)
    bad = set(Student.objects.filter(pk__in=list(records)).filter(
        Q(date_of_birth__isnull=True) | Q(sex="") | Q(full_name="")).values_list(
        "pk", flat=True))
    return len(bad)


def page_message(body: str) -> str | None:
    """The error a form page shows (field errors first, then the alert block), as text; None
    when there is none or it is not Vietnamese (no letter beyond ASCII)."""
    import re

    for pattern in (r'class="field-error"[^>]*>(.*?)</p>', r'role="alert"[^>]*>(.*?)</div>',
                    r'class="[^"]*(?:errorlist|messages)[^"]*"[^>]*>(.*?)</ul>'):
        found = re.search(pattern, body, re.S)
        if found:
            text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()
            if text and any(ord(char) > 127 for char in text):
                return text[:300]
    return None


def task_rows(since: Any) -> list[dict[str, Any]]:
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.filter(enqueued_at__gte=since).order_by("enqueued_at")
                .values("id", "task_path", "status", "enqueued_at", "started_at",
                        "finished_at", "args_kwargs"))


def redone_in_effect(row: dict[str, Any]) -> bool:
    """The work of a task row a kill left behind was done all the same: its verification job
    finished (``jobs_resume`` enqueues a lost job again; ``_job_finish`` closes one whose
    persons were all answered), or nothing is left to sync."""
    from edureg.identity.models import JobStatus, VerificationJob

    name = row["task_path"].rsplit(".", 1)[-1]
    if name == "job_run_task":
        return VerificationJob.objects.filter(pk=row["args_kwargs"]["args"][0],
                                              status=JobStatus.DONE).exists()
    if name == "sync_relay_task":
        return sync_settled()
    return False


def tasks_report(since: Any) -> dict[str, Any]:
    """Per task: how many ended how; a row left RUNNING by a kill counts as lost unless a
    later run of the same task (same arguments) succeeded or its work is done in effect."""
    rows = task_rows(since)
    by_task: dict[str, Counter[str]] = {}
    lost = []
    for row in rows:
        name = row["task_path"].rsplit(".", 1)[-1]
        by_task.setdefault(name, Counter())[row["status"]] += 1
    for row in rows:
        if row["status"] not in ("RUNNING", "READY", "FAILED"):
            continue
        redone = any(other["task_path"] == row["task_path"]
                     and other["args_kwargs"] == row["args_kwargs"]
                     and other["status"] == "SUCCESSFUL"
                     and other["enqueued_at"] >= row["enqueued_at"]
                     and other["id"] != row["id"] for other in rows)
        if not redone and not redone_in_effect(row):
            lost.append({"task": row["task_path"].rsplit(".", 1)[-1], "status": row["status"],
                         "args_kwargs": row["args_kwargs"]})
    return {"by_task": {name: dict(counts) for name, counts in by_task.items()},
            "stranded_running": sum(1 for r in rows if r["status"] == "RUNNING"),
            "lost": lost}


def identity_report(job_ids: list[int]) -> dict[str, Any]:
    from django.db.models import Count

    from edureg.identity.models import IdentityState, IdentityStatus, JobStatus, VerificationJob

    jobs = VerificationJob.objects.filter(pk__in=job_ids)
    states = IdentityState.objects.filter(job_id__in=job_ids)
    by_status = dict(states.values_list("status").annotate(n=Count("pk")).values_list(
        "status", "n"))
    persons = sum(jobs.values_list("persons", flat=True))
    left = by_status.get(IdentityStatus.SENT, 0)
    twice = states.filter(answers__gt=1).count()
    done = jobs.filter(status=JobStatus.DONE).count()
    return {"jobs": len(job_ids), "jobs_done": done, "persons": persons,
            "by_status": by_status, "left_waiting": left, "answered_twice": twice,
            "lost": persons - sum(by_status.values()),
            "ok": done == len(job_ids) and left == 0 and twice == 0
            and persons == sum(by_status.values())}


# --- The run -----------------------------------------------------------------------------------

class Drills:
    def __init__(self, args: argparse.Namespace, env: dict[str, str]) -> None:
        self.args, self.env = args, env
        self.sup = Supervisor(BASE / "logs", env)
        self.rng = random.Random(args.seed)
        self.register_http = httpx.Client(
            timeout=5.0, headers={"Authorization": f"Bearer {REGISTER_TOKEN}"})

    # -- processes --

    def start_simulators(self) -> None:
        var = BASE / "var"
        self.sup.start("register", [*EDUREG, "sim", "register", "--port", str(REGISTER_PORT),
                                    "--db", str(var / "register.sqlite3"), "--seed", "7"])
        self.sup.start("messages", [*EDUREG, "sim", "messages", "--port", str(MESSAGES_PORT)])
        self.sup.start("upstream", [*EDUREG, "sim", "upstream", "--port", str(UPSTREAM_PORT),
                                    "--db", str(var / "upstream.sqlite3")])
        for url in (f"{REGISTER}/_sim/stats", f"http://127.0.0.1:{MESSAGES_PORT}/_sim/outbox",
                    f"{UPSTREAM}/_sim/health"):
            if not wait_http(url):
                raise SystemExit(f"a simulator did not start ({url})")

    def start_web(self, name: str = "web", **env: str) -> None:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        argv = [gunicorn, "edureg.wsgi:application", "--bind", f"127.0.0.1:{WEB_PORT}",
                "--workers", "2", "--threads", "4", "--timeout", "60"]
        if "ULIMIT_FSIZE_KB" in env:
            # Not root: the web's file writes are limited in size instead (EFBIG, the same
            # OSError path as ENOSPC).
            argv = ["bash", "-c", f'ulimit -f {env.pop("ULIMIT_FSIZE_KB")} && exec "$@"', "-",
                    *argv]
        self.sup.start(name, argv, **env)
        if not wait_http(f"{WEB}/dang-nhap/", 60):
            raise SystemExit("the web did not start")

    def start_worker(self, rate: str) -> None:
        # Small batches against a slowed simulator: a verification task lasts long enough to
        # be killed (or cut off) in the middle.
        self.sup.start("worker", [*EDUREG, "worker", "--queue-name", "*", "--no-reload"],
                       EDUREG_REGISTER_RATE=rate, EDUREG_IDENTITY_BATCH_SIZE="5")

    def register_control(self, **faults: Any) -> None:
        self.register_http.post(f"{REGISTER}/_sim/control", json=faults).raise_for_status()

    def supervise(self) -> None:
        """One turn of what a deployment runs around the app: processes that died are started
        again, verification jobs whose worker was lost are enqueued again."""
        from django.db import connection

        from edureg.identity.services import jobs_resume

        self.sup.ensure()
        try:
            jobs_resume(stale_seconds=STALE_SECONDS)
        except Exception:
            connection.close()

    # -- setup --

    def setup(self) -> dict[str, Any]:
        started = time.monotonic()
        pg_createdb(PG_PORT, "edureg")
        for step in (("migrate", "--no-input", "-v", "0"),
                     ("seed", "--schools", str(self.args.schools), "--students-per-school",
                      str(self.args.students_per_school), "--seed", str(self.args.seed),
                      "--register-db", str(BASE / "var" / "register.sqlite3"))):
            done = edureg(*step, env=self.env)
            if done.returncode != 0:
                raise SystemExit(f"edureg {step[0]} failed: {done.stderr[-2000:]}")
        import django

        django.setup()
        from edureg.access.models import Membership, User
        from edureg.access.roles import Role
        from edureg.privacy.policy import policy_acknowledge, policy_in_force
        from edureg.registry.models import Student
        from edureg.schools.models import School
        from edureg.sync.models import SyncCursor

        # The seed's bulk load is not a change to send upward.
        SyncCursor.objects.update_or_create(name="upstream", defaults={"seq": audit_head()})
        self.schools = list(School.objects.order_by("pk"))
        self.clerks = {}
        version = policy_in_force().version
        for school in self.schools:
            membership = Membership.objects.filter(school=school, role=Role.RECORDS_CLERK
                                                   ).select_related("user").first()
            if membership is None:
                raise SystemExit(f"the seed made no records clerk for {school.code}")
            policy_acknowledge(actor=membership.user, version=version)
            self.clerks[school.pk] = membership.user
        officer = Membership.objects.filter(role=Role.AUTHORITY_OFFICER,
                                            school__isnull=True).first()
        if officer is None:
            raise SystemExit("the seed made no authority officer")
        self.officer = User.objects.get(pk=officer.user_id)
        self.pupils = {school.pk: list(Student.objects.filter(school=school).order_by("pk")
                                       .values_list("pk", flat=True)) for school in self.schools}
        self.students_seeded = Student.objects.count()
        self.start_simulators()
        self.start_web()
        return {"schools": len(self.schools), "students": self.students_seeded,
                "seconds": round(time.monotonic() - started, 1)}

    # -- helpers --

    def edit(self, school_id: int, pupil_id: int, value: str) -> None:
        from edureg.registry.models import Student
        from edureg.registry.services import student_update

        student = Student.objects.get(pk=pupil_id)
        student_update(actor=self.clerks[school_id], student=student,
                       data={"current_address": value})

    def edits(self, school_id: int, count: int, tag: str, offset: int = 0) -> int:
        pupils = self.pupils[school_id]
        for number in range(offset, offset + count):
            self.edit(school_id, pupils[number % len(pupils)], f"Số {number} đường {tag}")
        return count

    # -- 1. PostgreSQL restarted mid-run --

    def drill_pg(self) -> dict[str, Any]:
        from django.db import connection

        from edureg.audit.models import AuditEvent
        from edureg.registry.models import Student

        self.sup.start("relay", [*EDUREG, "sync", "run", "--interval", "0.2"])
        since = audit_head()
        stop = threading.Event()
        outcomes: list[tuple[int, str, str, float]] = []  # pupil, value, ok|error class, time
        lock = threading.Lock()
        origin = time.monotonic()

        def writer(index: int, school_id: int) -> None:
            pupils = self.pupils[school_id][:40]
            number = 0
            try:
                while not stop.is_set():
                    pupil = pupils[number % len(pupils)]
                    value = f"Số {number} đường Diễn tập {index}"
                    try:
                        self.edit(school_id, pupil, value)
                        outcome = "ok"
                    except Exception as error:
                        outcome = type(error).__name__
                        connection.close()
                        time.sleep(0.1)
                    with lock:
                        outcomes.append((pupil, value, outcome, time.monotonic() - origin))
                    number += 1
                    time.sleep(0.01)
            finally:
                connection.close()

        probes: list[tuple[float, str]] = []

        def prober() -> None:
            client = WebClient(WEB)
            try:
                signed_in = False
                while not stop.is_set():
                    try:
                        if not signed_in:
                            client.sign_in(self.clerks[self.schools[0].pk].username, PASSWORD)
                            signed_in = True
                        answer = client.http.get(f"/truong/{self.schools[0].pk}/")
                        probes.append((time.monotonic() - origin, str(answer.status_code)))
                    except (httpx.HTTPError, RuntimeError) as error:
                        probes.append((time.monotonic() - origin, type(error).__name__))
                    time.sleep(0.1)
            finally:
                client.close()

        threads = [threading.Thread(target=writer, args=(i, school.pk))
                   for i, school in enumerate(self.schools)] + [threading.Thread(target=prober)]
        for thread in threads:
            thread.start()
        time.sleep(4)
        restart_at = time.monotonic() - origin
        restarted, restart_seconds = pg_restart(PG_DATA)
        back_at = time.monotonic() - origin
        end = time.monotonic() + 6
        while time.monotonic() < end:
            self.sup.ensure()
            time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join()
        drained, drain_seconds = wait_until(sync_settled, 120, between=self.supervise,
                                            stable=3)
        relay_alive = self.sup.alive("relay")
        relay = self.sup.children["relay"]
        relay_info = {"alive_at_end": relay_alive, "restarted_by_supervisor": relay.restarts,
                      "exit_codes": relay.exits}
        self.sup.stop("relay")

        # What the database holds of each write.
        events = Counter[tuple[int, str]]()
        last_value: dict[int, str] = {}
        for pupil, data in AuditEvent.objects.filter(
                seq__gt=since, action="student.update").order_by("seq").values_list(
                "entity_id", "data"):
            new = (data.get("changes", {}).get("current_address") or [None, None])[1]
            events[(int(pupil), new)] += 1
            last_value[int(pupil)] = new
        acked = [(p, v) for p, v, o, _t in outcomes if o == "ok"]
        failed = [(p, v) for p, v, o, _t in outcomes if o != "ok"]
        errors = Counter(o for _p, _v, o, _t in outcomes if o != "ok")
        acked_missing = sum(1 for key in acked if events[key] == 0)
        duplicated = sum(1 for count in events.values() if count > 1)
        in_doubt = sum(1 for key in failed if events[key] == 1)
        unknown = sum(1 for key in events if key not in set(acked) | set(failed))
        current = dict(Student.objects.filter(pk__in=list(last_value)).values_list(
            "pk", "current_address"))
        disagree = sum(1 for pupil, value in last_value.items() if current.get(pupil) != value)
        after = [status for at, status in probes if at > back_at + 2.0]
        web_errors_after = sum(1 for status in after if not status.startswith(("2", "3")))
        web_5xx_window = sum(1 for at, status in probes
                             if restart_at - 0.5 <= at <= back_at + 2.0 and status.startswith("5"))
        once = upstream_exactly_once()
        checks = {
            "postgres_restarted": restarted,
            "writes_failed_during_restart": len(failed) > 0,
            "acknowledged_all_present": acked_missing == 0,
            "nothing_duplicated": duplicated == 0 and unknown == 0,
            "record_matches_its_audit": disagree == 0,
            "web_answers_after_restart": bool(after) and web_errors_after == 0,
            "relay_recovered": relay_alive,
            "sync_drained": drained,
            "upstream_exactly_once": once["ok"],
        }
        return {
            "restart_at_s": round(restart_at, 2), "restart_seconds": restart_seconds,
            "writes": len(outcomes), "acknowledged": len(acked), "failed": len(failed),
            "failure_kinds": dict(errors),
            "failed_but_committed_in_doubt": in_doubt,
            "acknowledged_missing": acked_missing, "duplicated": duplicated,
            "events_unaccounted": unknown, "record_audit_disagree": disagree,
            "web_probes": len(probes), "web_5xx_around_restart": web_5xx_window,
            "web_errors_after_restart": web_errors_after, "relay": relay_info,
            "sync_drain_seconds": drain_seconds, "sync": sync_counts(since), "upstream": once,
            "checks": checks, "ok": all(checks.values()),
        }

    # -- 2. Worker killed repeatedly --

    def drill_worker(self) -> dict[str, Any]:
        from django.utils import timezone
        from django_tasks_db.models import DBTaskResult

        from edureg.identity.models import JobKind
        from edureg.identity.services import Target, verification_request
        from edureg.registry.models import SchoolClass

        since_time = timezone.now()
        since = audit_head()
        edits = self.edits(self.schools[-1].pk, 150, "Tiến trình nền")
        job_ids = []
        for school in self.schools[:2]:
            for class_id in SchoolClass.objects.filter(school=school).order_by("pk").values_list(
                    "pk", flat=True):
                job = verification_request(actor=self.clerks[school.pk], target=Target(
                    kind=JobKind.CLASS, class_id=class_id))
                job_ids.append(job.pk)
        self.register_control(latency_ms=400)
        self.sup.start("schedule", [*EDUREG, "schedule", "--interval", "1"])
        self.start_worker("20")
        kills: list[dict[str, Any]] = []
        origin = time.monotonic()
        for _kill in range(self.args.kills):
            # Kill while a task runs: wait for the (re)started worker to take one.
            running = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and running is None:
                self.sup.ensure()
                running = DBTaskResult.objects.filter(
                    status="RUNNING", enqueued_at__gte=since_time).exclude(
                    id__in=[k["task_id"] for k in kills if k["task_id"]]).values_list(
                    "id", "task_path").first()
                time.sleep(0.05)
            if running is None:
                break
            time.sleep(self.rng.uniform(0.1, 0.6))
            self.sup.kill("worker")
            status = DBTaskResult.objects.filter(id=running[0]).values_list(
                "status", flat=True).first()
            kills.append({"at_s": round(time.monotonic() - origin, 1), "task_id": running[0],
                          "task": running[1].rsplit(".", 1)[-1], "status_after_kill": status})

        # One more, aimed: the duplicate run (no app-level resume of its own) killed while
        # it runs.
        from edureg.registry.dedupe_run import dedupe_run_task

        aimed = dedupe_run_task.enqueue()
        hit = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self.sup.ensure()
            status = DBTaskResult.objects.filter(id=aimed.id).values_list(
                "status", flat=True).first()
            if status == "RUNNING":
                time.sleep(0.2)
                self.sup.kill("worker")
                hit = DBTaskResult.objects.filter(id=aimed.id).values_list(
                    "status", flat=True).first()
                break
            if status in ("SUCCESSFUL", "FAILED"):
                hit = f"finished before the kill ({status})"
                break
            time.sleep(0.02)
        kills.append({"at_s": round(time.monotonic() - origin, 1), "task_id": str(aimed.id),
                      "task": "dedupe_run_task", "status_after_kill": hit})

        def settled() -> bool:
            from edureg.identity.models import JobStatus, VerificationJob

            return (not VerificationJob.objects.filter(pk__in=job_ids).exclude(
                status=JobStatus.DONE).exists() and sync_settled()
                and not DBTaskResult.objects.filter(status="READY").exists())

        finished, seconds = wait_until(settled, 300, between=self.supervise, stable=3)
        self.register_control(latency_ms=0)
        identity = identity_report(job_ids)
        tasks = tasks_report(since_time)
        once = upstream_exactly_once()
        dedupe_ok = any(name == "dedupe_run_task" and counts.get("SUCCESSFUL", 0)
                        for name, counts in tasks["by_task"].items())
        checks = {
            "settled": finished,
            "identity_every_person_answered_once": identity["ok"],
            "sync_drained": sync_settled(),
            "upstream_exactly_once": once["ok"],
            "dedupe_run_completed": dedupe_ok,
            "no_task_lost": not tasks["lost"],
            "killed_while_running": sum(1 for k in kills if k["status_after_kill"] == "RUNNING"
                                        ) >= self.args.kills,
        }
        return {
            "kills": kills, "settle_seconds": seconds, "edits": edits, "identity": identity,
            "tasks": tasks, "sync": sync_counts(since), "upstream": once,
            "checks": checks, "ok": all(checks.values()),
        }

    # -- 3. Simulators down --

    def drill_simulators(self) -> dict[str, Any]:
        from edureg.identity.models import IdentityState, JobKind
        from edureg.identity.services import Target, verification_request

        since = audit_head()
        self.sup.stop("worker")
        self.register_control(latency_ms=700)
        self.start_worker("20")
        school = self.schools[-1]
        job = verification_request(actor=self.officer, target=Target(
            kind=JobKind.SCHOOL, school_id=school.pk))
        origin = time.monotonic()
        # Mid-batch: once the worker has answers in.
        started, _wait = wait_until(lambda: IdentityState.objects.filter(
            job=job, answers__gt=0).count() >= 10, 90, every=0.1, between=self.sup.ensure)
        answered_before = IdentityState.objects.filter(job=job, answers__gt=0).count()
        self.register_control(down=True)
        self.sup.pause("upstream")
        down_at = round(time.monotonic() - origin, 1)
        # Edits to sync while the upstream is away.
        edits = 0
        end = time.monotonic() + self.args.outage_seconds
        while time.monotonic() < end:
            edits += self.edits(self.schools[0].pk, 10, "Mất kết nối", offset=edits)
            self.supervise()
        answered_down = IdentityState.objects.filter(job=job, answers__gt=0).count()
        self.register_control(down=False, latency_ms=0)
        self.sup.resume("upstream")
        wait_http(f"{UPSTREAM}/_sim/health")
        up_at = round(time.monotonic() - origin, 1)

        def settled() -> bool:
            from edureg.identity.models import JobStatus, VerificationJob

            return VerificationJob.objects.filter(pk=job.pk, status=JobStatus.DONE).exists() \
                and sync_settled()

        finished, seconds = wait_until(settled, 400, between=self.supervise, stable=3)
        identity = identity_report([job.pk])
        counts = sync_counts(since)
        once = upstream_exactly_once()
        stats = self.register_http.get(f"{REGISTER}/_sim/stats").json()
        refusable = refused_by_upstream(since)
        checks = {
            "outage_was_mid_batch": started and answered_down < identity["persons"],
            "settled": finished,
            "verification_batch_finished": identity["ok"],
            "sync_drained": sync_settled(),
            "parked_only_records_upstream_refuses": counts.get("parked", 0) == refusable,
            "upstream_exactly_once": once["ok"],
        }
        return {
            "down_at_s": down_at, "up_at_s": up_at, "settle_seconds": seconds,
            "answered_before_outage": answered_before, "answered_at_end_of_outage":
            answered_down, "edits": edits, "parked_expected": refusable, "identity": identity,
            "register_calls_by_status_since_start": stats.get("by_status"), "sync": counts,
            "upstream": once, "checks": checks, "ok": all(checks.values()),
        }

    # -- 4. Disk nearly full for uploads --

    def drill_disk(self) -> dict[str, Any]:
        from edureg.audit.models import AuditEvent
        from edureg.intake.models import IntakeRun

        school = self.schools[0]
        workbook = BASE / "workbook.xlsx"
        done = edureg("seed", "--export-workbook", str(workbook), "--school", school.code,
                      env=self.env)
        if done.returncode != 0:
            raise SystemExit(f"the workbook was not written: {done.stderr[-1000:]}")
        size = workbook.stat().st_size
        root = os.geteuid() == 0
        intake = SMALL_FS / "intake"
        filler = SMALL_FS / "filler"
        web_env: dict[str, str] = {"EDUREG_INTAKE_DIR": str(intake)}
        if root:
            SMALL_FS.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs",  # noqa: S603, S607
                            str(SMALL_FS)], check=True)
            intake.mkdir(mode=0o700)
            free = shutil.disk_usage(SMALL_FS).free
            # Leave room for a third of the workbook: the kept copy cannot be written whole.
            filler.write_bytes(b"\0" * max(0, free - size // 3))
            method = "tmpfs 512 KiB, filled"
        else:
            intake.mkdir(parents=True, mode=0o700)
            web_env["ULIMIT_FSIZE_KB"] = str(max(1, size // 3 // 1024))
            method = "ulimit -f on the web process"
        free_left = shutil.disk_usage(SMALL_FS).free
        self.sup.stop("web")
        # A log of its own: under ``ulimit -f`` a long log could not grow either.
        self.start_web("web-disk", **web_env)
        log = BASE / "logs" / "web-disk.log"
        log_mark = log.stat().st_size if log.exists() else 0

        def upload(client: WebClient, content: bytes | None = None) -> httpx.Response:
            path = f"/truong/{school.pk}/nhap-tep/"
            token = client.token(path)
            return client.http.post(path, data={"kind": "student",
                                                "csrfmiddlewaretoken": token},
                                    files={"file": ("danh-sach.xlsx",
                                                    content or workbook.read_bytes())},
                                    headers={"Referer": WEB + path})

        client = WebClient(WEB)
        client.sign_in(self.clerks[school.pk].username, PASSWORD)
        # Control: a file that is not a workbook is refused on the page, with a message this
        # drill can read (so that "no message" below means none was shown).
        refused = upload(client, b"not a workbook")
        control = {"status": refused.status_code,
                   "message": page_message(refused.text) if refused.status_code == 200
                   else None}
        runs_before = IntakeRun.objects.count()
        events_before = AuditEvent.objects.filter(action__startswith="intake").count()
        answer = upload(client)
        body = answer.text
        runs_after = IntakeRun.objects.count()
        events_after = AuditEvent.objects.filter(action__startswith="intake").count()
        left = sorted(p.name for p in intake.iterdir())
        traceback = None
        if answer.status_code >= 500:
            text = log.read_bytes()[log_mark:].decode(errors="replace")
            (BASE / "logs" / "disk-drill-traceback.log").write_text(text)
            traceback = last_traceback(BASE / "logs" / "disk-drill-traceback.log")
        message = page_message(body) if answer.status_code == 200 else None
        full = {
            "status": answer.status_code, "message": message,
            "intake_runs_added": runs_after - runs_before,
            "intake_audit_events_added": events_after - events_before,
            "files_left": left, "traceback": traceback,
        }
        # The space back: the same upload goes through, and its cancel removes its files.
        filler.unlink(missing_ok=True)
        again = upload(client)
        recovered: dict[str, Any] = {"status": again.status_code}
        run = IntakeRun.objects.order_by("-pk").first()
        if again.status_code == 302 and run is not None:
            recovered["files_while_open"] = sorted(p.name for p in intake.iterdir())
            path = f"/nhap-tep/{run.pk}/"
            token = client.token(path)
            cancel = client.http.post(f"/nhap-tep/{run.pk}/huy/",
                                      data={"csrfmiddlewaretoken": token},
                                      headers={"Referer": WEB + path})
            recovered["cancel_status"] = cancel.status_code
            recovered["files_after_cancel"] = sorted(p.name for p in intake.iterdir())
        client.close()
        self.sup.stop("web-disk")
        checks = {
            "control_refusal_shows_message": bool(control["message"]),
            "no_500": answer.status_code < 500,
            "clear_message": answer.status_code == 200 and bool(message),
            "nothing_half_written": full["intake_runs_added"] == 0
            and full["intake_audit_events_added"] == 0,
            "no_file_left": not left,
            "upload_works_with_space": again.status_code == 302 and run is not None
            and not any(name.startswith(f"run-{run.pk}.")
                        for name in recovered.get("files_after_cancel", ["?"])),
        }
        return {"method": method, "workbook_bytes": size, "free_bytes": free_left,
                "control_not_a_workbook": control, "full_disk": full,
                "with_space": recovered, "checks": checks, "ok": all(checks.values())}

    # -- after all --

    def final(self) -> dict[str, Any]:
        from django_tasks_db.models import DBTaskResult

        from edureg.registry.models import Student
        from edureg.sync.models import SyncChange, SyncStatus

        verify = edureg("audit", "verify", env=self.env)
        students = Student.objects.count()
        waiting = DBTaskResult.objects.filter(status="READY").count()
        pending = SyncChange.objects.filter(status=SyncStatus.PENDING).count()
        checks = {"audit_verify": verify.returncode == 0,
                  "students_count_unchanged": students == self.students_seeded,
                  "task_queue_empty": waiting == 0, "sync_queue_empty": pending == 0}
        return {"audit_verify": (verify.stdout + verify.stderr).strip()[-500:],
                "students": students, "students_seeded": self.students_seeded,
                "tasks_waiting": waiting, "sync_pending": pending,
                "checks": checks, "ok": all(checks.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=3)
    parser.add_argument("--students-per-school", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--outage-seconds", type=float, default=10.0)
    parser.add_argument("--only", default="pg,worker,simulators,disk")
    parser.add_argument("--watchdog-seconds", type=int, default=1500,
                        help="dump every thread's stack and exit if the run hangs this long")
    args = parser.parse_args()
    faulthandler.dump_traceback_later(args.watchdog_seconds, exit=True)
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]

    unmount_small()
    pg_stop(PG_DATA)
    shutil.rmtree(BASE, ignore_errors=True)
    (BASE / "var").mkdir(parents=True)
    pg_start(PG_DATA, PG_PORT)
    env = environment()
    os.environ.update(env)
    drills = Drills(args, env)
    result: dict[str, Any] = {"benchmark": "faults", "database": "postgresql",
                              "data": str(BASE)}
    started = time.monotonic()
    try:
        result["setup"] = drills.setup()
        runs = {"pg": drills.drill_pg, "worker": drills.drill_worker,
                "simulators": drills.drill_simulators, "disk": drills.drill_disk}
        for name in wanted:
            try:
                result[name] = runs[name]()
            except Exception as error:
                import traceback

                result[name] = {"ok": False, "error": f"{type(error).__name__}: {error}",
                                "traceback": traceback.format_exc()[-1500:]}
        drills.sup.stop("worker")
        drills.sup.stop("schedule")
        result["after"] = drills.final()
    finally:
        drills.sup.stop_all()
        from django.db import connections

        connections.close_all()
        unmount_small()
        pg_stop(PG_DATA)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["ok"] = all(result[name].get("ok") for name in [*wanted, "after"] if name in result)
    print(json.dumps(result, ensure_ascii=False, default=str, indent=1))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
