"""``edureg accounts deactivate-inactive``: deactivate the accounts of staff who no longer work
(employment status not active). ``edureg accounts prune-login-failures``: forget sign-in failures
too old to count towards a lockout. Both are safe to run repeatedly, e.g. nightly from cron."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from edureg.access.lockout import failures_prune
from edureg.registry.accounts import (
    deactivate_inactive_staff_accounts,
    staff_accounts_deactivate_inactive,
)


class Command(BaseCommand):
    help = "Quản lý tài khoản."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser(
            "deactivate-inactive",
            help="Khoá tài khoản của cán bộ không còn làm việc (theo trạng thái làm việc)",
        )
        run.add_argument("--enqueue", action="store_true",
                         help="Đưa vào hàng đợi để tiến trình nền (db_worker) thực hiện")
        sub.add_parser("prune-login-failures",
                       help="Xoá các lần đăng nhập sai đã quá thời gian tính khoá")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "prune-login-failures":
            self.stdout.write(f"Đã xoá {failures_prune()} lần đăng nhập sai cũ.")
            return
        if options["enqueue"]:
            result = deactivate_inactive_staff_accounts.enqueue()
            self.stdout.write(f"Đã đưa vào hàng đợi: {result.id}")
            return
        done = staff_accounts_deactivate_inactive()
        self.stdout.write(f"Đã khoá {len(done)} tài khoản của cán bộ không còn làm việc.")
