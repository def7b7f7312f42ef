"""``edureg quality scan [--school CODE] [--json]``: re-measure every record with the rules in
force (after a new field catalogue, code list or rule version). The state is otherwise kept
current by every write."""

from __future__ import annotations

import dataclasses
import json
import resource
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from edureg.registry.quality import rescan_all
from edureg.schools.models import School


class Command(BaseCommand):
    help = "Chấm lại chất lượng dữ liệu (đúng, đủ, sạch, sống) của mọi hồ sơ."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        scan = sub.add_parser("scan", help="Chấm lại toàn bộ (hoặc một trường)")
        scan.add_argument("--school", action="append", default=[], metavar="MÃ_TRƯỜNG",
                          help="Chỉ chấm trường có mã này (có thể lặp lại)")
        scan.add_argument("--json", action="store_true", help="In kết quả dạng JSON")
        scan.add_argument("--schools-per-chunk", type=int, default=None,
                          help="Số trường mỗi lượt đọc (mặc định: 500 với SQLite, 100 với "
                               "PostgreSQL)")

    def handle(self, *args: Any, **options: Any) -> None:
        schools = School.objects.all()
        if options["school"]:
            schools = schools.filter(code__in=options["school"])
            missing = set(options["school"]) - set(schools.values_list("code", flat=True))
            if missing:
                raise CommandError(
                    f"Không có trường mã {', '.join(sorted(missing))}; hãy kiểm tra lại mã "
                    "trường (xem ở trang trường hoặc danh sách trường của Sở).")
        school_ids = list(schools.values_list("id", flat=True))
        started = time.perf_counter()
        reports = rescan_all(school_ids, schools_per_chunk=options["schools_per_chunk"])
        seconds = time.perf_counter() - started
        records = sum(r.records for r in reports)
        if options["json"]:
            self.stdout.write(json.dumps({
                "schools": len(school_ids), "seconds": round(seconds, 2),
                "records": records,
                "records_per_second": round(records / seconds) if seconds else None,
                "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "by_owner": [dataclasses.asdict(r) for r in reports],
            }, ensure_ascii=False))
            return
        findings = sum(r.findings for r in reports)
        self.stdout.write(
            f"Đã chấm {records:,} hồ sơ của {len(school_ids):,} trường trong {seconds:.1f} giây: "
            f"{findings:,} lỗi cần sửa.")
