"""``edureg year handover`` and ``edureg year intake``: the graduation hand-over and the new
intake list, run by the server's operator (as the system). Part of the ``year`` command.

    edureg year handover list --school MÃ --year 2025 [--json]
    edureg year handover assign --school MÃ --year 2025 --to MÃ_TRƯỜNG_NHẬN [--class 5A] [--json]
    edureg year handover accept --school MÃ_TRƯỜNG_NHẬN --class 6A --year 2026 [--json]
    edureg year intake --school MÃ --year 2026 --file DANH_SÁCH.csv [--commit] [--json]

``list`` counts a school's leavers (preschool, grade 5 or 9 completed) by hand-over state;
``assign`` gives every leaver still without a receiving school (of one class, with ``--class``) the
school ``--to``; ``accept`` takes every pupil assigned to the school into its class ``--class``
of year ``--year``. ``intake`` checks a CSV list (columns ``ho_ten``, ``ngay_sinh``,
``gioi_tinh``, ``so_dinh_danh``, ``lop``, and ``lien_ket``: the code of the existing record a
row is) and, with ``--commit``, writes it: all rows or none. Output names no person but the
rows' own: counts and the messages, by row.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from edureg.registry.models import SchoolClass, Student
from edureg.schools.models import School, SchoolYear
from edureg.yearly.handover import (
    handover_accept,
    handover_assign,
    leavers,
)
from edureg.yearly.models import Handover, HandoverStatus
from edureg.yearly.new_intake import IntakeRow, intake_check, intake_commit

_COLUMNS = {
    "ho_ten": "full_name",
    "ngay_sinh": "date_of_birth",
    "gioi_tinh": "sex",
    "so_dinh_danh": "personal_id_number",
}


def add_arguments(sub: Any) -> None:
    handover = sub.add_parser(
        "handover", help="Bàn giao trẻ hoàn thành mầm non, học sinh hoàn thành lớp 5/lớp 9")
    handover.add_argument("step", choices=["list", "assign", "accept"])
    handover.add_argument("--school", required=True, metavar="MÃ_TRƯỜNG")
    handover.add_argument(
        "--year",
        type=int,
        required=True,
        metavar="NĂM",
        help="list/assign: năm học vừa hoàn thành; accept: năm học của lớp",
    )
    handover.add_argument("--to", metavar="MÃ_TRƯỜNG_NHẬN", help="assign: trường nhận")
    handover.add_argument(
        "--class",
        dest="class_name",
        metavar="LỚP",
        help="assign: chỉ lớp này; accept: lớp nhận học sinh",
    )
    handover.add_argument("--json", action="store_true", help="In kết quả dạng JSON")
    intake = sub.add_parser("intake", help="Danh sách tuyển mới lớp 1/lớp 6")
    intake.add_argument("--school", required=True, metavar="MÃ_TRƯỜNG")
    intake.add_argument("--year", type=int, required=True, metavar="NĂM")
    intake.add_argument("--file", required=True, metavar="TỆP_CSV")
    intake.add_argument(
        "--commit", action="store_true", help="Ghi danh sách (mặc định chỉ kiểm tra)"
    )
    intake.add_argument("--json", action="store_true", help="In kết quả dạng JSON")


def _school(code: str) -> School:
    school = School.objects.select_related("authority").filter(code=code).first()
    if school is None:
        raise CommandError(f"Không có trường mã «{code}».")
    return school


def _fail(error: ValidationError) -> CommandError:
    return CommandError(" ".join(error.messages))


def _write(command: BaseCommand, result: dict[str, Any], text: str, as_json: bool) -> None:
    command.stdout.write(json.dumps(result, ensure_ascii=False) if as_json else text)


def handle_handover(command: BaseCommand, options: dict[str, Any]) -> None:
    school = _school(options["school"])
    step, year, as_json = options["step"], options["year"], options["json"]
    if step == "list":
        if not SchoolYear.objects.filter(school=school, start_year=year).exists():
            raise CommandError(f"Trường {school.code} không có năm học {year}–{year + 1}.")
        waiting = list(leavers(start_year=year).filter(school=school).values_list("pk", flat=True))
        assigned_count = Handover.objects.filter(
            from_enrolment_id__in=waiting, status=HandoverStatus.ASSIGNED
        ).count()
        accepted_count = Handover.objects.filter(
            from_school=school,
            status=HandoverStatus.ACCEPTED,
            from_enrolment__school_year__start_year=year,
        ).count()
        result = {
            "without_school": len(waiting) - assigned_count,
            "assigned": assigned_count,
            "accepted": accepted_count,
        }
        _write(
            command,
            result,
            f"Học sinh hoàn thành cấp học năm {year}–{year + 1} của "
            f"{school.code}: {result['without_school']:,} chưa có trường nhận, "
            f"{assigned_count:,} chờ trường nhận, {accepted_count:,} đã được nhận.",
            as_json,
        )
        return
    if step == "assign":
        if not options["to"]:
            raise CommandError("Hãy ghi trường nhận (--to).")
        to_school = _school(options["to"])
        pending = (
            leavers(start_year=year)
            .filter(school=school)
            .exclude(
                pk__in=Handover.objects.filter(status=HandoverStatus.ASSIGNED).values(
                    "from_enrolment_id"
                )
            )
        )
        if options["class_name"]:
            pending = pending.filter(school_class__name=options["class_name"])
        try:
            assigned = handover_assign(
                actor=None,
                school=school,
                start_year=year,
                enrolment_ids=list(pending.values_list("pk", flat=True)),
                to_school=to_school,
            )
        except ValidationError as error:
            raise _fail(error) from None
        _write(
            command,
            {"assigned": assigned.changed, "unchanged": assigned.unchanged},
            f"Đã phân {assigned.changed:,} học sinh về {to_school.code}.",
            as_json,
        )
        return
    school_class = SchoolClass.objects.filter(
        school=school, school_year__start_year=year, name=options["class_name"] or ""
    ).first()
    if school_class is None:
        raise CommandError(
            f"Trường {school.code} không có lớp «{options['class_name']}» năm "
            f"học {year}–{year + 1}."
        )
    ids = list(
        Handover.objects.filter(to_school=school, status=HandoverStatus.ASSIGNED).values_list(
            "pk", flat=True
        )
    )
    try:
        accepted = handover_accept(
            actor=None, to_school=school, handover_ids=ids, school_class=school_class
        )
    except ValidationError as error:
        raise _fail(error) from None
    _write(
        command,
        {"accepted": len(accepted)},
        f"Đã nhận {len(accepted):,} học sinh vào lớp {school_class.name}.",
        as_json,
    )


def _rows(path: Path, school: School, year: int) -> list[IntakeRow]:
    classes = dict(
        SchoolClass.objects.filter(school=school, school_year__start_year=year).values_list(
            "name", "pk"
        )
    )
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            records = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CommandError(f"Không đọc được tệp: {error}") from None
    rows = []
    for line, record in enumerate(records, start=2):  # line 1 is the header
        data = {
            field: (record.get(column) or "").strip()
            for column, field in _COLUMNS.items()
            if (record.get(column) or "").strip()
        }
        code = (record.get("lien_ket") or "").strip()
        link_to = None
        if code:
            link_to = (
                Student.objects.filter(Q(education_id=code) | Q(temporary_code=code))
                .values_list("pk", flat=True)
                .first()
                or 0
            )
        rows.append(
            IntakeRow(
                line=line,
                class_id=classes.get((record.get("lop") or "").strip(), 0),
                data=data,
                link_to=link_to,
            )
        )
    return rows


def handle_intake(command: BaseCommand, options: dict[str, Any]) -> None:
    school = _school(options["school"])
    year, as_json = options["year"], options["json"]
    rows = _rows(Path(options["file"]), school, year)
    try:
        if not options["commit"]:
            check = intake_check(actor=None, school=school, start_year=year, rows=rows)
            counts = {
                state: sum(1 for row in check.rows if row.state == state and not row.errors)
                for state in ("new", "link")
            }
            problems = [
                message
                for row in check.rows
                for messages in row.errors.values()
                for message in messages
            ]
            _write(
                command,
                {**counts, "problems": problems},
                "\n".join(
                    [
                        f"Kiểm tra: {counts['new']:,} học sinh mới, {counts['link']:,} "
                        f"học sinh đã có hồ sơ sẽ được liên kết, {len(problems):,} lỗi.",
                        *(f"  {message}" for message in problems),
                    ]
                ),
                as_json,
            )
            return
        result = intake_commit(actor=None, school=school, start_year=year, rows=rows)
    except ValidationError as error:
        raise _fail(error) from None
    _write(
        command,
        {"batch": result.batch.pk, "created": len(result.created), "linked": len(result.linked)},
        f"Đã ghi danh sách tuyển mới số {result.batch.pk}: {len(result.created):,} học sinh "
        f"mới (mã tạm), {len(result.linked):,} học sinh đã có hồ sơ được liên kết.",
        as_json,
    )
