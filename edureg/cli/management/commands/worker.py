"""``edureg worker``: the background-task worker (django-tasks-db's ``db_worker``), named
``host:pid`` so that ``edureg schedule`` can put back in the queue what it was running if it
dies (``edureg.core.tasks``). Takes ``db_worker``'s options."""

from __future__ import annotations

from argparse import ArgumentParser

from django_tasks_db.management.commands.db_worker import Command as DbWorker

from edureg.core.tasks import worker_name


class Command(DbWorker):
    help = "Tiến trình chạy việc nền (đồng bộ, xác thực danh tính, chạy tìm trùng…)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(worker_id=worker_name())
