"""``edureg year``: the turn of the school year, run by the server's operator (as the system).

    edureg year rollover (--authority MÃ | --school MÃ) --from 2025 [--promote-all] [--json]
    edureg year close (--authority MÃ | --school MÃ) --year 2025 [--json]
    edureg year handover (list | assign | accept) …, edureg year intake …  (cli.year_handover)

``rollover`` opens the year after ``--from`` for each school (classes carried to the next
grade, homeroom teachers as proposals, one promotion proposal per class) and, with
``--promote-all``, commits every class's proposal as it stands, one transaction per class.
Interrupted, the same command is run again: it resumes where it stopped (opened years and
committed classes are left as they are). ``close`` makes the year read-only. Output names no
person: counts and the schools' messages.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils import timezone

from edureg.cli import year_handover
from edureg.schools.models import Authority, School, SchoolYear
from edureg.yearly.models import RolloverRun
from edureg.yearly.services import rollover_run, year_close


class Command(BaseCommand):
    help = "Chuyển năm học: mở năm học mới, lên lớp, khoá năm học cũ."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        rollover = sub.add_parser("rollover", help="Mở năm học mới (và chốt lên lớp)")
        close = sub.add_parser("close", help="Khoá một năm học")
        for command in (rollover, close):
            where = command.add_mutually_exclusive_group(required=True)
            where.add_argument("--authority", metavar="MÃ_SỞ")
            where.add_argument("--school", metavar="MÃ_TRƯỜNG")
            command.add_argument("--json", action="store_true", help="In kết quả dạng JSON")
        rollover.add_argument("--from", dest="from_year", type=int, required=True,
                              metavar="NĂM", help="Năm bắt đầu của năm học cũ, ví dụ 2025")
        rollover.add_argument("--promote-all", action="store_true",
                              help="Chốt lên lớp mọi lớp theo đề xuất hiện có")
        rollover.add_argument("--workers", type=int, default=3, metavar="SỐ",
                              help="Số luồng xử lý các trường cùng lúc (PostgreSQL; SQLite "
                                   "luôn dùng 1). Mặc định 3")
        close.add_argument("--year", type=int, required=True, metavar="NĂM")
        year_handover.add_arguments(sub)  # handover, intake

    def _schools(self, options: dict[str, Any]) -> tuple[Authority, School | None,
                                                        QuerySet[School]]:
        if options["school"]:
            school = School.objects.select_related("authority").filter(
                code=options["school"]).first()
            if school is None:
                raise CommandError(f"Không có trường mã «{options['school']}».")
            return school.authority, school, School.objects.filter(pk=school.pk)
        authority = Authority.objects.filter(code=options["authority"]).first()
        if authority is None:
            raise CommandError(f"Không có Sở mã «{options['authority']}».")
        return authority, None, School.objects.filter(authority=authority, is_active=True)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] in ("handover", "intake"):
            handle = {"handover": year_handover.handle_handover,
                      "intake": year_handover.handle_intake}[options["action"]]
            handle(self, options)
            return
        authority, school, schools = self._schools(options)
        if options["action"] == "close":
            self._close(schools, options["year"], as_json=options["json"])
            return
        run = RolloverRun.objects.create(authority=authority, school=school,
                                         from_start_year=options["from_year"],
                                         promote_all=options["promote_all"],
                                         started_at=timezone.now())
        if options["workers"] < 1:
            raise CommandError("--workers: cần một số từ 1 trở lên.")
        skipped = rollover_run(actor=None, schools=list(schools.order_by("pk")),
                               run=run, workers=options["workers"])
        result = {"run": run.pk, "schools_opened": run.schools_opened,
                  "classes_committed": run.classes_committed, "pupils_moved": run.pupils_moved,
                  "problems": [{"school": s.school, "message": s.reason} for s in skipped]}
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False))
            return
        self.stdout.write(f"Lần chuyển năm học số {run.pk}: mở năm học mới cho "
                          f"{run.schools_opened:,} trường, chốt lên lớp {run.classes_committed:,} "
                          f"lớp, {run.pupils_moved:,} học sinh.")
        for item in skipped:
            self.stdout.write(f"  {item.school}: {item.reason}")

    def _close(self, schools: QuerySet[School], start_year: int, *, as_json: bool) -> None:
        closed, problems = 0, []
        for year in SchoolYear.objects.filter(school__in=schools, start_year=start_year) \
                .select_related("school").order_by("school_id"):
            try:
                year_close(actor=None, year=year)
                closed += 1
            except ValidationError as error:
                problems.append({"school": year.school.code, "message": " ".join(error.messages)})
        if as_json:
            self.stdout.write(json.dumps({"closed": closed, "problems": problems},
                                         ensure_ascii=False))
            return
        self.stdout.write(f"Đã khoá năm học {start_year}–{start_year + 1} của {closed:,} trường.")
        for problem in problems:
            self.stdout.write(f"  {problem['school']}: {problem['message']}")
