"""Intake of an export workbook: dry run and commit; prints one JSON object.

    .venv/bin/python bench/intake.py [--rows 2000] [--rows 50000] [--seed 1] [--keep]
    DATABASE_URL=postgres://… .venv/bin/python bench/intake.py --rows 50000

For each ``--rows`` size: a synthetic school's export (drawn by the seed generator, written as a
real .xlsx by ``edureg.seeding.workbook`` — every reader quirk included) is taken in by a
records clerk of an empty school with its classes, through the services the web and the command
use, with every check on (policy, cleaning, look-alikes, audit per pupil, quality state):

- ``dry_run_seconds``: reading the file and planning it (``intake_dry_run``);
- ``commit_seconds``: planning it again inside the transaction, checking the fingerprint and
  writing every pupil with their parents (``intake_commit``);
- ``reimport_seconds``: the dry run of the same file again (every row unchanged).

Rows the plan rejects (the same name and date of birth twice in a synthetic file, say) are left
out before the timed runs, as a user would fix them. Without ``DATABASE_URL`` the run uses a
fresh SQLite file in a temporary directory (``--keep`` keeps it); with it, the database must be
empty and migrated.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup(directory: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edureg.settings")
    os.environ.setdefault("EDUREG_VAR_DIR", str(directory))
    os.environ["EDUREG_AUDIT_ANCHOR_FILE"] = ""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _level(grades: set[int]) -> str:
    if max(grades) <= 5:
        return "tieu_hoc"
    if min(grades) >= 10:
        return "thpt"
    return "thcs" if min(grades) >= 6 and max(grades) <= 9 else "lien_cap"


def _school(code: str, rows: list[dict[str, Any]], today: dt.date) -> Any:
    from edureg.access.models import Membership, User
    from edureg.access.roles import Role
    from edureg.privacy.models import PolicyAcknowledgement
    from edureg.privacy.policy import policy_in_force
    from edureg.registry.models import SchoolClass
    from edureg.schools.models import Authority, School, SchoolYear

    authority = Authority.objects.get_or_create(code="SGD79", defaults={
        "name": "Sở GDĐT Thành phố Hồ Chí Minh", "province_code": "79",
        "admin_units_version": "2025-07-01"})[0]
    grades = {int(row["grade"]) for row in rows}
    school = School.objects.create(authority=authority, code=code, name=f"Trường thử {code}",
                                   level=_level(grades), ownership="public",
                                   commune_code="26734", admin_units_version="2025-07-01")
    start = today.year if today.month >= 8 else today.year - 1
    year = SchoolYear.objects.create(school=school, start_year=start,
                                     starts_on=dt.date(start, 9, 5),
                                     ends_on=dt.date(start + 1, 5, 31))
    SchoolClass.objects.bulk_create([
        SchoolClass(school=school, school_year=year, name=name, grade=grade)
        for name, grade in sorted({(str(r["class_name"]), int(r["grade"])) for r in rows})])
    clerk = User.objects.create(username=f"giao.{code}", full_name="Giáo vụ")
    Membership.objects.create(user=clerk, role=Role.RECORDS_CLERK, authority=authority,
                              school=school, starts_on=dt.date(2020, 1, 1))
    PolicyAcknowledgement.objects.create(user=clerk, policy_version=policy_in_force().version,
                                         acknowledged_at=dt.datetime.now(tz=dt.UTC))
    return school, clerk


def _own_identifiers(rows: list[dict[str, Any]], *, offset: int) -> list[dict[str, Any]]:
    """Identifiers of this run's pupils only: the generator draws the same ones for every
    school of a seed, which a second run would take for another school's pupils."""
    for index, row in enumerate(rows):
        number = offset + index
        if row.get("education_id"):
            row["education_id"] = f"9{number:09d}"
        if row.get("temporary_code"):
            row["temporary_code"] = f"TB{number:09d}"
        pid = row.get("personal_id_number")
        if isinstance(pid, str) and len(pid) == 12:
            row["personal_id_number"] = f"{pid[:6]}{number % 1_000_000:06d}"
    return rows


def _workbook(rows: list[dict[str, Any]], today: dt.date) -> bytes:
    from edureg.intake.source import Kind
    from edureg.seeding.workbook import write_export_workbook

    buffer = io.BytesIO()
    write_export_workbook(buffer, kind=Kind.STUDENT, rows=rows, today=today,
                          constant_memory=True)
    return buffer.getvalue()


def run_size(count: int, seed: int) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    from edureg.intake.plan import Action
    from edureg.intake.services import intake_commit, intake_dry_run
    from edureg.intake.source import Kind
    from edureg.registry.models import Student
    from edureg.seeding.workbook import synthetic_rows

    today = timezone.localdate()
    rows = _own_identifiers(synthetic_rows(Kind.STUDENT, count=count, seed=seed, today=today),
                            offset=count)
    school, clerk = _school(f"B{count}", rows, today)
    data = _workbook(rows, today)
    # Leave out what the plan rejects, as a user would fix the file first.
    first = intake_dry_run(actor=clerk, school=school, kind=Kind.STUDENT, data=data, keep=False)
    rejected = {plan.row for plan in first.plan.rows if plan.action is Action.REJECTED}
    if rejected:
        numbers = {plan.row: index for index, plan in enumerate(first.plan.rows)}
        drop = {numbers[row] for row in rejected}
        rows = [row for index, row in enumerate(rows) if index not in drop]
        data = _workbook(rows, today)
    started, cpu = time.perf_counter(), time.process_time()
    dry = intake_dry_run(actor=clerk, school=school, kind=Kind.STUDENT, data=data, keep=False)
    dry_seconds, dry_cpu = time.perf_counter() - started, time.process_time() - cpu
    assert dry.plan.errors == 0, [i.plain for i in dry.plan.issues if i.is_error][:5]
    reason = "Trường mới, học sinh khác" if dry.plan.candidate_rows else ""
    started, cpu = time.perf_counter(), time.process_time()
    intake_commit(actor=clerk, run=dry.run, data=data, not_duplicate_reason=reason)
    commit_seconds, commit_cpu = time.perf_counter() - started, time.process_time() - cpu
    written = Student.objects.filter(school=school).count()
    started = time.perf_counter()
    again = intake_dry_run(actor=clerk, school=school, kind=Kind.STUDENT, data=data,
                           keep=False)
    reimport_seconds = time.perf_counter() - started
    return {
        "rows": len(rows), "left_out_as_errors": len(rejected), "bytes": len(data),
        "database": connection.vendor,
        "dry_run_seconds": round(dry_seconds, 2), "commit_seconds": round(commit_seconds, 2),
        # This process's CPU time: what the run costs whatever else the machine is doing.
        "dry_run_cpu_seconds": round(dry_cpu, 2), "commit_cpu_seconds": round(commit_cpu, 2),
        "reimport_seconds": round(reimport_seconds, 2),
        "pupils_written": written, "summary": dry.plan.summary(),
        "reimport_unchanged": again.plan.summary()["unchanged"],
        "reimport_writes": again.plan.writes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    try:
        _setup(directory)
        results = [run_size(count, args.seed) for count in (args.rows or [2000])]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(json.dumps({"runs": results, "peak_rss_mib": peak,
                          "load_average": [round(x, 2) for x in os.getloadavg()]},
                         ensure_ascii=False))
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
