"""``edureg audit verify``: check the hash chain of the audit log."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from edureg.audit.models import AuditEvent
from edureg.audit.services import audit_verify_chain


class Command(BaseCommand):
    help = "Kiểm tra tính toàn vẹn của nhật ký (chuỗi băm)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("verify", help="Kiểm tra toàn bộ chuỗi")

    def handle(self, *args: Any, **options: Any) -> None:
        broken = audit_verify_chain()
        if broken is not None:
            raise CommandError(
                f"Nhật ký bị sửa hoặc xoá tại sự kiện số {broken}; hãy báo ngay cho hiệu trưởng "
                "và quản trị hệ thống."
            )
        self.stdout.write(f"Nhật ký toàn vẹn: {AuditEvent.objects.count()} sự kiện.")
