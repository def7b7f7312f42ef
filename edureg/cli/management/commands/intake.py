"""``edureg intake``: take in an export workbook of the Ministry or the Department.

    edureg intake FILE --school MÃ [--kind student|staff] [--dry-run] [--json]
                  [--as TÊN_ĐĂNG_NHẬP] [--reason LÝ_DO]

Reads FILE and shows its dry run: how many pupils are new, updated, unchanged, moved to another
class or transferred in, and every problem with its sheet, row and column. Without
``--dry-run`` the plan is then committed, all or nothing; a file with errors is not committed.
``--as`` acts as that account (its job position decides what it may do; the records' history
names it); without it the command acts as the system, as the server's operator. ``--reason``
says why the rows that look like pupils already on record are other children (without it,
such a file is not committed). Output names no person: counts, places and messages without
the cells' values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from edureg.access.policy import Actor
from edureg.intake.plan import ACTIONS, Plan, PlanRefused
from edureg.intake.services import intake_cancel, intake_commit, intake_dry_run
from edureg.intake.source import Kind, WorkbookRefused
from edureg.privacy.policy import PolicyNotAcknowledged
from edureg.schools.models import School

_LABELS = {
    "new": "mới", "updated": "cập nhật", "unchanged": "không đổi", "moved": "chuyển lớp",
    "transferred_in": "chuyển đến", "held": "chưa ghi (xem cảnh báo)", "rejected": "có lỗi",
}


class Command(BaseCommand):
    help = "Nhập tệp xuất danh sách học sinh hoặc cán bộ, giáo viên, nhân viên của Bộ/Sở: soi " \
           "thử rồi ghi vào CSDL (tất cả hoặc không gì cả)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="TỆP", help="Tệp .xlsx, .xls hoặc .ods")
        parser.add_argument("--school", required=True, metavar="MÃ_TRƯỜNG")
        parser.add_argument("--kind", choices=[kind.value for kind in Kind],
                            default=Kind.STUDENT.value,
                            help="Danh sách học sinh (student, mặc định) hay cán bộ (staff)")
        parser.add_argument("--dry-run", action="store_true",
                            help="Chỉ soi thử, không ghi gì vào CSDL")
        parser.add_argument("--json", action="store_true",
                            help="In kết quả dạng JSON (số lượng và các lỗi, không có giá trị "
                                 "của ô)")
        parser.add_argument("--as", dest="username", default=None, metavar="TÊN_ĐĂNG_NHẬP",
                            help="Tài khoản thực hiện (mặc định: hệ thống)")
        parser.add_argument("--reason", default="", metavar="LÝ_DO",
                            help="Lý do các hàng giống hồ sơ đã có là người khác")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self._actor(options["username"])
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Không đọc được tệp {path}: {error.strerror}.") from None
        school = School.objects.filter(code=options["school"]).first()
        if school is None:
            raise CommandError(f"Không có trường mã «{options['school']}».")
        try:
            dry = intake_dry_run(actor=actor, school=school, kind=Kind(options["kind"]),
                                 data=data, filename=path.name, keep=False)
        except (WorkbookRefused, PlanRefused) as refused:
            raise CommandError(refused.message) from None
        except PermissionDenied:
            raise CommandError("Tài khoản này không có quyền nhập tệp.") from None
        except Http404:
            raise CommandError("Không tìm thấy trường (hoặc trường ngoài phạm vi của tài "
                               "khoản).") from None
        except PolicyNotAcknowledged as error:
            raise CommandError(error.message) from None
        plan = dry.plan
        result: dict[str, Any] = {"run": dry.run.pk, "school": school.code,
                                  "sha256": plan.sha256, "summary": plan.summary(),
                                  "committed": False}
        refusal = ""
        if options["dry_run"]:
            # Nothing kept to commit later: the run ends here (its counts stay on record).
            intake_cancel(actor=actor, run=dry.run)
        else:
            try:
                done = intake_commit(actor=actor, run=dry.run, data=data,
                                     not_duplicate_reason=options["reason"])
            except ValidationError as error:
                refusal = " ".join(error.messages)
            else:
                result["committed"] = True
                result["seconds"] = round(done.seconds, 2)
        result["refused"] = refusal or None
        result["problems"] = _problems(plan)
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False))
        else:
            self._print(plan, result)
        if refusal:
            raise CommandError(refusal)

    @staticmethod
    def _actor(username: str | None) -> Actor | None:
        if username is None:
            return None
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"Không có tài khoản đang hoạt động tên «{username}».")
        return user

    def _print(self, plan: Plan, result: dict[str, Any]) -> None:
        summary = plan.summary()
        self.stdout.write(f"Lần nhập số {result['run']} — trường {result['school']}, "
                          f"{summary['rows']:,} dòng dữ liệu "
                          f"({summary['skipped_rows']:,} dòng bỏ qua).")
        counts = ", ".join(f"{summary[action.value]:,} {_LABELS[action.value]}"
                           for action in ACTIONS if summary[action.value])
        self.stdout.write(f"Soi thử: {counts or 'không có dòng nào'}; "
                          f"{summary['errors']:,} lỗi, {summary['warnings']:,} cảnh báo; "
                          f"{summary['candidates']:,} hàng giống hồ sơ đã có; "
                          f"{summary['findings']:,} điểm chất lượng cần xem.")
        for problem in result["problems"]:
            place = " ".join(part for part in (
                f"trang {problem['sheet']}" if problem["sheet"] else "",
                f"hàng {problem['row']}" if problem["row"] else "",
                f"cột {problem['column']}" if problem["column"] else "") if part)
            label = "LỖI" if problem["severity"] == "error" else "cảnh báo"
            self.stdout.write(f"  [{label}] {place}: {problem['message']}")
        if result["committed"]:
            self.stdout.write(self.style.SUCCESS(
                f"Đã ghi vào CSDL ({result['seconds']} giây)."))
        elif not result["refused"]:
            self.stdout.write("Chưa ghi gì (chỉ soi thử).")


def _problems(plan: Plan) -> list[dict[str, Any]]:
    return [{"severity": issue.problem.severity.value, "sheet": issue.problem.sheet,
             "row": issue.problem.row, "column": issue.problem.column,
             "field": issue.problem.field, "message": issue.plain} for issue in plan.issues]
