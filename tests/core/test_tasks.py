"""Tasks of a worker that died are put back in the queue; tasks of a live worker, of another
host or of an unnamed worker are left alone."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from edureg.cli.management.commands.worker import Command as WorkerCommand
from edureg.core.tasks import tasks_recover, worker_name
from edureg.registry.dedupe_run import dedupe_run_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_worker() -> Iterator[int]:
    """A running process whose last argument names it a worker."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "worker"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _running(worker_id: str) -> DBTaskResult:
    result = DBTaskResult.objects.get(pk=dedupe_run_task.enqueue().id)
    result.claim(worker_id)
    return result


def test_tasks_of_a_dead_worker_of_this_host_go_back_to_the_queue(live_worker: int) -> None:
    dead = _running(worker_name(_dead_pid()))
    alive = _running(worker_name(live_worker))
    elsewhere = _running(f"another-host:{_dead_pid()}")
    unnamed = _running("Xq3v9yZ0aB")
    assert tasks_recover() == 1
    statuses = {r.pk: (r.status, r.started_at) for r in DBTaskResult.objects.all()}
    assert statuses[dead.pk] == (TaskResultStatus.READY, None)
    for kept in (alive, elsewhere, unnamed):
        assert statuses[kept.pk][0] == TaskResultStatus.RUNNING
    assert DBTaskResult.objects.ready().filter(pk=dead.pk).exists()  # a worker takes it again
    assert tasks_recover() == 0


def test_a_finished_task_is_never_put_back() -> None:
    result = _running(worker_name(_dead_pid()))
    result.set_successful(None)
    assert tasks_recover() == 0
    result.refresh_from_db()
    assert result.status == TaskResultStatus.SUCCESSFUL


def test_the_worker_command_names_itself_after_host_and_process() -> None:
    parser = WorkerCommand().create_parser("edureg", "worker")
    assert parser.parse_args([]).worker_id == worker_name()
    assert parser.parse_args(["--worker-id", "w1"]).worker_id == "w1"


def test_the_schedule_recovers_lost_tasks() -> None:
    lost = _running(worker_name(_dead_pid()))
    call_command("schedule", "--once", stdout=StringIO())
    lost.refresh_from_db()
    assert lost.status == TaskResultStatus.READY
