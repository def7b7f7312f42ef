"""``edureg dedupe run [--school CODE] [--json]``: find duplicate pupils across the authority
with the linkage engine and store the pairs (match probability and which fields agreed) for
review. Pairs already decided are kept."""

from __future__ import annotations

import dataclasses
import json
import resource
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from edureg.registry.dedupe_run import dedupe_run
from edureg.schools.models import School


class Command(BaseCommand):
    help = "Tìm hồ sơ trùng (cùng một người) trong toàn Sở."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="Chạy tìm trùng và lưu các cặp nghi trùng")
        run.add_argument("--school", action="append", default=[], metavar="MÃ_TRƯỜNG",
                         help="Chỉ giữ các cặp có học sinh của trường này (có thể lặp lại)")
        run.add_argument("--json", action="store_true", help="In kết quả dạng JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        school_ids = None
        if options["school"]:
            found = dict(School.objects.filter(code__in=options["school"])
                         .values_list("code", "pk"))
            missing = sorted(set(options["school"]) - set(found))
            if missing:
                raise CommandError(f"Không có trường mã {', '.join(missing)}; hãy kiểm tra lại "
                                   "mã trường.")
            school_ids = list(found.values())
        report = dedupe_run(school_ids=school_ids)
        if options["json"]:
            self.stdout.write(json.dumps({
                **dataclasses.asdict(report),
                "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }))
            return
        self.stdout.write(
            f"Đã so {report.persons:,} học sinh trong {report.seconds:.1f} giây: "
            f"{report.pairs_stored:,} cặp nghi trùng cần xem xét "
            f"({report.pairs_already_decided:,} cặp đã có quyết định).")
