"""Background tasks whose worker died while running them (killed, out of memory, the machine
restarted) stay RUNNING in django-tasks-db, which never looks at them again. A worker started
by ``edureg worker`` is named after its host and process; ``tasks_recover`` (run by
``edureg schedule``) puts back in the queue the tasks a worker of this host was running when
it disappeared. Every task of edureg is safe to run again (each reads what is still to do)."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger("edureg.tasks")

_HOST_MAX = 40  # a worker id is at most 63 characters


def _host() -> str:
    return socket.gethostname()[:_HOST_MAX]


def worker_name(pid: int | None = None) -> str:
    """The worker id of a worker process: ``host:pid``."""
    return f"{_host()}:{pid if pid is not None else os.getpid()}"


def _worker_alive(pid: int) -> bool:
    """Whether process ``pid`` runs and is a task worker (a pid may have been reused)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(argument.endswith(b"worker") for argument in arguments)


def tasks_recover() -> int:
    """Put back in the queue the RUNNING tasks whose worker, on this host, is gone; the number
    put back. Workers of other hosts (or not named by ``worker_name``) are left alone."""
    host = _host()
    lost = []
    for pk, worker_ids in DBTaskResult.objects.filter(
            status=TaskResultStatus.RUNNING).values_list("pk", "worker_ids"):
        if not worker_ids:
            continue
        worker_host, _, pid = str(worker_ids[-1]).rpartition(":")
        if worker_host == host and pid.isdigit() and not _worker_alive(int(pid)):
            lost.append(pk)
    if not lost:
        return 0
    recovered = DBTaskResult.objects.filter(pk__in=lost, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.READY, started_at=None)
    logger.warning("%d background tasks put back in the queue: their worker had stopped",
                   recovered)
    return recovered
