"""``edureg audit verify``: check the hash chain of the audit log."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from edureg.audit.services import audit_verify


class Command(BaseCommand):
    help = "Kiểm tra tính toàn vẹn của nhật ký (chuỗi băm)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="Kiểm tra toàn bộ chuỗi")
        verify.add_argument("--workers", type=int, default=None,
                            help="Số tiến trình kiểm tra song song (mặc định: tự chọn)")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        result = audit_verify(workers=options.get("workers"))
        if result.broken is not None:
            raise CommandError(
                f"Nhật ký bị sửa hoặc xoá tại sự kiện số {result.broken.seq} "
                f"({result.broken.reason}); hãy báo ngay cho hiệu trưởng và quản trị hệ thống."
            )
        seconds = time.perf_counter() - started
        self.stdout.write(f"Nhật ký toàn vẹn: {result.events} sự kiện ({seconds:.1f} giây).")
