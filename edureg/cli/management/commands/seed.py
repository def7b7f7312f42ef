"""``edureg seed``: fill an empty database with demo data (one authority, its schools)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

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
        "cha mẹ học sinh, kèm lỗi dữ liệu cài sẵn và dữ liệu giả lập CSDL dân cư."
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

    def handle(self, *args: Any, **options: Any) -> None:
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
