"""A verification job survives its worker being killed and the register going down: worked by
``edureg identity run`` in processes of their own, against the simulator in its own process,
every person ends answered once, none is lost and none answered twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import call_command

from edureg.access.roles import Role
from edureg.identity.models import IdentityState, IdentityStatus, JobKind, JobStatus
from edureg.identity.services import Target, jobs_resume, verification_request
from edureg.schools.models import School
from tests.factories import make_user
from tests.identity.support import AUTH, TOKEN, Sim, start_simulator, stop
from tests.processes import database_url

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = 10
LEASE = 2.0


@pytest.fixture
def seeded(tmp_path: Path, settings: Any) -> Path:
    register = tmp_path / "register.sqlite3"
    settings.EDUREG_REGISTER_SIM_DB = register
    call_command("seed", "--schools", "2", "--students-per-school", "60", "--seed", "5",
                 "--identity-mismatch-rate", "0.1", "--register-db", str(register),
                 stdout=StringIO())
    return register


@pytest.fixture
def sim(seeded: Path, tmp_path: Path) -> Iterator[Sim]:
    process = start_simulator(seeded, tmp_path)
    httpx.post(f"{process.url}/_sim/control", headers=AUTH, json={"latency_ms": 150})
    yield process
    stop(process)


def _worker(sim: Sim, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url(), "EDUREG_REGISTER_URL": sim.url,
           "EDUREG_REGISTER_TOKEN": TOKEN, "EDUREG_IDENTITY_BATCH_SIZE": str(BATCH),
           "EDUREG_IDENTITY_LEASE_SECONDS": str(LEASE), "EDUREG_REGISTER_RATE": "200",
           "EDUREG_REGISTER_MAX_CONCURRENCY": "2"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "edureg.cli.main", "identity", "run", "--threads", "2"],
            env=env, stdout=out, stderr=out)


def _wait(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_killed_worker_and_a_register_outage_lose_nobody_and_answer_nobody_twice(
        seeded: Path, sim: Sim, tmp_path: Path) -> None:
    school = School.objects.order_by("pk").first()
    assert school is not None
    officer = make_user("officer", Role.AUTHORITY_OFFICER, authority=school.authority)
    job = verification_request(actor=officer, target=Target(
        JobKind.AUTHORITY, authority_id=school.authority_id))
    assert job.persons > 5 * BATCH
    log = tmp_path / "worker.log"

    first = _worker(sim, log)
    _wait(lambda: IdentityState.objects.filter(answers__gt=0).count() >= 2 * BATCH, 60,
          "the first answers")
    first.send_signal(signal.SIGKILL)  # mid-job, with calls in flight
    first.wait(10)
    answered_before = IdentityState.objects.filter(answers__gt=0).count()
    assert answered_before < job.persons, "killed before the end"
    stranded = IdentityState.objects.filter(status=IdentityStatus.SENT).exclude(lease_owner="")
    leased = stranded.count()

    # The register goes down while the next worker starts; it comes back by itself.
    httpx.post(f"{sim.url}/_sim/control", headers=AUTH, json={"down": True})
    second = _worker(sim, log)
    time.sleep(1.5)
    httpx.post(f"{sim.url}/_sim/control", headers=AUTH, json={"down": False})
    assert second.wait(120) == 0, log.read_text()

    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    states = IdentityState.objects.filter(job=job)
    assert not states.filter(status=IdentityStatus.SENT).exists(), "nobody left waiting"
    final = (IdentityStatus.VERIFIED, IdentityStatus.MISMATCH, IdentityStatus.NOT_FOUND,
             IdentityStatus.UNVERIFIED)
    assert states.filter(status__in=final).count() == job.persons, "nobody lost"
    assert not states.filter(answers__gt=1).exists(), "nobody answered twice"
    answered = states.filter(answers=1).count()
    assert answered + job.not_sendable == job.persons
    stats = httpx.get(f"{sim.url}/_sim/stats", headers=AUTH).json()
    resent = sum(stats["persons_by_id"].values()) - len(stats["persons_by_id"])
    # Only the calls in flight when the worker was killed are sent again (two threads).
    assert resent <= 2 * BATCH
    assert resent <= leased
    assert len(stats["persons_by_id"]) == answered


def test_a_job_whose_worker_went_silent_is_enqueued_again(seeded: Path) -> None:
    school = School.objects.order_by("pk").first()
    assert school is not None
    principal = make_user("principal", Role.PRINCIPAL, school)
    job = verification_request(actor=principal, target=Target(JobKind.SCHOOL,
                                                              school_id=school.pk))
    assert jobs_resume(stale_seconds=60) == [], "a fresh job is its worker's"
    assert jobs_resume(stale_seconds=0) == [job.pk]
    assert jobs_resume(stale_seconds=60) == [], "enqueued once, not by every scheduler turn"
