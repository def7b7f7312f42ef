"""``edureg sync run [--once] [--json]``: take in the synced changes and push them to the
national sector database now, in this process (``edureg schedule`` normally hands this to the
task worker). ``edureg sync status [--json]``: the backlog and what was refused."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import InterfaceError, OperationalError, connection
from django.db.models import Count, Min

from edureg.sync.models import SyncChange, SyncStatus
from edureg.sync.relay import PushReport, sync_run_once

logger = logging.getLogger("edureg.sync")


class Command(BaseCommand):
    help = "Đồng bộ lên CSDL ngành: gửi các thay đổi đang chờ, xem tình trạng."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="Gửi các thay đổi đang chờ")
        run.add_argument("--once", action="store_true", help="Một lượt rồi dừng")
        run.add_argument("--interval", type=float, default=1.0,
                         help="Số giây chờ giữa hai lượt khi chạy liên tục")
        run.add_argument("--json", action="store_true", help="In kết quả dạng JSON")
        status = sub.add_parser("status", help="Hàng đợi và các thay đổi bị từ chối")
        status.add_argument("--json", action="store_true", help="In kết quả dạng JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "status":
            self._status(as_json=options["json"])
            return
        total = PushReport()
        while True:
            try:
                report = sync_run_once()
            except (OperationalError, InterfaceError) as error:
                # The database restarted, or a deadlock: the turn was rolled back whole (an
                # acknowledgement is written in one transaction), so the next one redoes it.
                if options["once"]:
                    raise
                logger.warning("sync turn failed (%s); retrying", type(error).__name__)
                connection.close()
                time.sleep(max(options["interval"], 1.0))
                continue
            total = total + report
            if options["once"]:
                break
            time.sleep(options["interval"])
        if options["json"]:
            self.stdout.write(json.dumps(dataclasses.asdict(total)))
        else:
            self.stdout.write(f"Đã gửi {total.sent}, được xác nhận {total.acked}, gộp "
                              f"{total.superseded}, bị từ chối {total.parked}, chờ gửi lại "
                              f"{total.retrying}, mã định danh mới {total.official_ids}.")

    def _status(self, *, as_json: bool) -> None:
        counts = dict(SyncChange.objects.values_list("status").annotate(n=Count("id"))
                      .order_by())
        oldest = SyncChange.objects.filter(status=SyncStatus.PENDING).aggregate(
            oldest=Min("committed_at"))["oldest"]
        by_status = {status: counts.get(status, 0) for status in SyncStatus.values}
        result = {"counts": by_status,
                  "oldest_pending": oldest.isoformat() if oldest else None}
        if as_json:
            self.stdout.write(json.dumps(result))
            return
        for status in SyncStatus:
            self.stdout.write(f"{status.label}: {by_status[status.value]}")
        if oldest:
            self.stdout.write(f"Thay đổi chờ lâu nhất từ: {oldest:%d/%m/%Y %H:%M:%S}")
