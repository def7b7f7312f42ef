"""``edureg seed``: fill an empty database with demo data (one authority, its schools)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from edureg.intake.source import Kind
from edureg.intake.workbook import header_sets
from edureg.registry.quality import rescan_all
from edureg.schools.models import School
from edureg.seeding.options import (
    DEFAULT_DEMO_PASSWORD,
    DEFAULT_RATES,
    RATE_OPTIONS,
    ProblemRates,
    SeedOptionError,
    SeedOptions,
)
from edureg.seeding.services import SeedRefusedError, seed_database
from edureg.seeding.workbook import (
    DEFAULT_TEMPLATES,
    ExpectedChanges,
    ExportRefusedError,
    school_export_rows,
    synthetic_rows,
    write_export_workbook,
)

# Listed in the ground truth so detectors can be scored, but not planted by the rates.
NATURAL_KINDS = frozenset({"problem.no_personal_id", "problem.no_education_id",
                           "problem.age_grade"})


def _integer(option: str) -> Any:
    def parse(value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{option} phải là số nguyên (đã nhận: {value!r})."
            ) from None
    return parse


def _rate(option: str) -> Any:
    def parse(value: str) -> float:
        try:
            return float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{option} phải là tỉ lệ từ 0 đến 1, ví dụ 0.01 (đã nhận: {value!r})."
            ) from None
    return parse


class Command(BaseCommand):
    help = (
        "Tạo dữ liệu mẫu: Sở GDĐT TP. Hồ Chí Minh, các trường, cán bộ, giáo viên, học sinh và "
        "cha mẹ học sinh, kèm lỗi dữ liệu cài sẵn và dữ liệu giả lập CSDL dân cư. Với "
        "--export-workbook: chỉ ghi một tệp Excel mẫu giống tệp xuất của Bộ/Sở (để thử nhập "
        "dữ liệu), không tạo gì trong cơ sở dữ liệu."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--schools", type=_integer("--schools"), default=3,
                            help="Số trường (mặc định 3)")
        parser.add_argument("--students-per-school", type=_integer("--students-per-school"),
                            default=150, help="Số học sinh mỗi trường (mặc định 150)")
        parser.add_argument("--seed", type=_integer("--seed"), default=1,
                            help="Hạt giống ngẫu nhiên; cùng hạt giống cho cùng dữ liệu")
        parser.add_argument(
            "--problem-rate", type=_rate("--problem-rate"), default=None,
            help=f"Tổng tỉ lệ học sinh có lỗi cài sẵn, chia theo tỉ lệ mặc định giữa các loại "
                 f"(mặc định {DEFAULT_RATES.total:.3f})",
        )
        for name, option in RATE_OPTIONS.items():
            parser.add_argument(option, dest=f"rate_{name}", type=_rate(option), default=None,
                                help=f"Tỉ lệ lỗi loại {name} (mặc định "
                                     f"{getattr(DEFAULT_RATES, name)})")
        parser.add_argument(
            "--demo-password", default=None,
            help="Mật khẩu các tài khoản demo (mặc định: biến EDUREG_DEMO_PASSWORD, "
                 "hoặc mật khẩu demo cố định)",
        )
        parser.add_argument("--reset", action="store_true",
                            help="Xoá dữ liệu mẫu đã có rồi tạo lại")
        parser.add_argument("--register-db", default=None,
                            help="Tệp SQLite của CSDL dân cư giả lập "
                                 "(mặc định: EDUREG_REGISTER_SIM_DB)")
        export = parser.add_argument_group(
            "tệp Excel mẫu",
            "Ghi một tệp .xlsx giống tệp xuất danh sách của Bộ/Sở, để thử chức năng nhập. "
            "Tệp có dữ liệu cá nhân: chỉ dùng với dữ liệu mẫu (tổng hợp), không bao giờ với dữ "
            "liệu thật; --school chỉ nhận trường của cơ sở dữ liệu demo do edureg seed tạo.",
        )
        templates = sorted(template.name for headers in header_sets().values()
                           for template in headers.templates)
        export.add_argument("--export-workbook", metavar="PATH", default=None,
                            help="Ghi tệp Excel mẫu vào PATH (thay vì tạo dữ liệu mẫu)")
        export.add_argument("--kind", choices=[kind.value for kind in Kind],
                            default=Kind.STUDENT.value,
                            help="Danh sách học sinh (student, mặc định) hay cán bộ (staff)")
        export.add_argument("--school", metavar="CODE", default=None,
                            help="Mã một trường của dữ liệu mẫu: tệp liệt kê học sinh/cán bộ "
                                 "của trường đó, có vài thay đổi (chuyển lớp, sửa số điện "
                                 "thoại, thêm người mới)")
        export.add_argument("--rows", type=_integer("--rows"), default=40,
                            help="Số dòng dữ liệu tổng hợp khi không có --school (mặc định 40)")
        export.add_argument("--template", choices=templates, default=None,
                            help="Mẫu tệp xuất (mặc định: "
                                 + ", ".join(f"{kind.value}: {name}"
                                             for kind, name in DEFAULT_TEMPLATES.items()) + ")")
        export.add_argument("--plant-errors", action="store_true",
                            help="Cài vài lỗi để minh hoạ: ngày không có thật, ngày ở tương "
                                 "lai, thiếu họ tên")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["export_workbook"]:
            self.export_workbook(options)
            return
        rates = DEFAULT_RATES
        if options["problem_rate"] is not None:
            total = options["problem_rate"]
            if not 0.0 <= total <= 1.0:
                raise CommandError(
                    f"--problem-rate phải là tỉ lệ từ 0 đến 1 (đã nhận: {total}); ví dụ 0.06 "
                    "là 6% học sinh."
                )
            rates = rates.scaled_to(total)
        explicit = {name: options[f"rate_{name}"] for name in RATE_OPTIONS
                    if options[f"rate_{name}"] is not None}
        rates = ProblemRates(**{**rates.as_dict(), **explicit})
        password = (options["demo_password"] or os.environ.get("EDUREG_DEMO_PASSWORD")
                    or DEFAULT_DEMO_PASSWORD)
        seed_options = SeedOptions(
            schools=options["schools"], students_per_school=options["students_per_school"],
            seed=options["seed"], rates=rates, demo_password=password, reset=options["reset"],
            register_path=Path(options["register_db"] or settings.EDUREG_REGISTER_SIM_DB),
        )
        verbose = options["verbosity"] >= 1
        try:
            result = seed_database(
                seed_options,
                progress=(lambda message: self.stdout.write(message)) if verbose else None,
            )
        except SeedOptionError as error:
            raise CommandError(error.message) from error
        except SeedRefusedError as error:
            raise CommandError(error.message) from error
        self.stdout.write(result.message)
        if not result.created:
            return
        counts = result.counts
        self.stdout.write(
            f"{counts.get('schools.School', 0):,} trường, "
            f"{counts.get('registry.SchoolClass', 0):,} lớp, "
            f"{counts.get('registry.Staff', 0):,} cán bộ/giáo viên/nhân viên, "
            f"{counts.get('registry.Student', 0):,} học sinh, "
            f"{counts.get('registry.Guardian', 0):,} cha mẹ/người giám hộ "
            f"trong {result.seconds:.1f} giây ({result.engine})."
        )
        school_ids = list(School.objects.values_list("id", flat=True))
        scanned = sum(report.records for report in rescan_all(school_ids))
        self.stdout.write(f"Đã chấm chất lượng dữ liệu của {scanned:,} hồ sơ.")
        planted = {key.removeprefix("problem."): value for key, value in counts.items()
                   if key.startswith("problem.") and key not in NATURAL_KINDS}
        self.stdout.write(
            "Lỗi cài sẵn: " + ", ".join(f"{kind} {value:,}" for kind, value in planted.items())
            + f"; ghi trong {seed_options.register_path}."
        )
        self.stdout.write("")
        self.stdout.write("Tài khoản demo (mọi tài khoản của trường đầu tiên dùng cùng mật khẩu):")
        rows = [("Tên đăng nhập", "Vai trò", "Đơn vị", "Mật khẩu")]
        rows += [(login.username, login.role, login.school, result.demo_password)
                 for login in result.demo_logins]
        widths = [max(len(row[column]) for row in rows) for column in range(4)]
        for number, row in enumerate(rows):
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                                strict=True)))
            if number == 0:
                self.stdout.write("  ".join("-" * width for width in widths))

    def export_workbook(self, options: dict[str, Any]) -> None:
        kind = Kind(options["kind"])
        template = options["template"] or DEFAULT_TEMPLATES[kind]
        if template not in {item.name for item in header_sets()[kind].templates}:
            raise CommandError(f"Mẫu {template} không phải mẫu danh sách {kind.value}; hãy chọn "
                               "mẫu khác bằng --template.")
        path = Path(options["export_workbook"])
        if not path.parent.is_dir():
            raise CommandError(f"Không có thư mục {path.parent}; hãy tạo thư mục trước.")
        if options["rows"] < 1 or options["rows"] > 100_000:
            raise CommandError("--rows phải là số nguyên từ 1 đến 100000.")
        today = timezone.localdate()
        expected: ExpectedChanges | None = None
        school_name = ""
        try:
            if options["school"]:
                school, rows, expected = school_export_rows(
                    options["school"], kind=kind, seed=options["seed"], today=today)
                school_name = school.name
            else:
                rows = synthetic_rows(kind, count=options["rows"], seed=options["seed"],
                                      today=today)
            written = write_export_workbook(
                path, kind=kind, rows=rows, template=template, school_name=school_name,
                today=today, plant_errors=options["plant_errors"], seed=options["seed"],
                expected=expected,
            )
        except ExportRefusedError as error:
            raise CommandError(error.message) from error
        # Personal data, even synthetic: readable by its owner only.
        path.chmod(0o600)
        self.stdout.write(
            f"Đã ghi {path}: mẫu {written.template}, sheet «{written.sheet}», "
            f"{len(written.rows):,} dòng dữ liệu."
        )
        if written.planted:
            self.stdout.write("Lỗi cài sẵn: " + ", ".join(
                f"dòng {error.row} ({error.kind})" for error in written.planted))
        if expected is not None:
            self.stdout.write(
                f"So với cơ sở dữ liệu, đọc thử sẽ thấy: {expected.new} mới, "
                f"{expected.updated} cập nhật, {expected.moved} chuyển lớp, "
                f"{expected.unchanged} không đổi."
            )
