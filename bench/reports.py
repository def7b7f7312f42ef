"""Time the standard set of statistical reports (every active definition) as of a date: for the
whole authority, and for one school; print one JSON object.

    .venv/bin/python bench/reports.py [--existing] [--as-of YYYY-MM-DD] [--repeat 3]
                                      [--schools 20] [--students-per-school 500]
                                      [--exports] [--per-definition]

The set is generated as the screens and the CLI generate it, with ``reports_generate`` (the
pupils and classes read once for all their definitions). ``--per-definition`` also times each
definition alone with ``report_generate`` (its own statement) and checks that the tables are the
same as the set's. ``load_average`` is the machine's (1, 5, 15 min) at the start and the end.

Seeds a fresh database (``DATABASE_URL``, empty, or a temporary SQLite file) with ``--schools``
× ``--students-per-school`` pupils unless ``--existing`` (then the database must hold a seed and
be migrated: ``edureg migrate`` adds the report tables and the status-history index). The date
defaults to 30 days after the latest school-year start (never after today). The single school
is the one with the most enrolments. ``--exports`` also times the XLSX and PDF of each table.

Targets (issue 11): the authority's set for 3,500 schools / 2.5 M pupils ≤ 30 s on PostgreSQL;
one school's set ≤ 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--existing", action="store_true")
    parser.add_argument("--as-of", default=None, metavar="YYYY-MM-DD")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--schools", type=int, default=20)
    parser.add_argument("--students-per-school", type=int, default=500)
    parser.add_argument("--exports", action="store_true")
    parser.add_argument("--per-definition", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="edureg-bench-reports-", dir="/tmp"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ.setdefault("EDUREG_REGISTER_SIM_DB", str(workdir / "register.sqlite3"))
    os.environ.setdefault("EDUREG_VAR_DIR", str(workdir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edureg.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, Max
    from django.utils import timezone

    from edureg.registry.models import Enrolment
    from edureg.reports.exports import table_pdf, table_xlsx
    from edureg.reports.services import definitions_active, report_generate, reports_generate
    from edureg.schools.models import Authority, School, SchoolYear

    result: dict[str, Any] = {
        "benchmark": "reports",
        "engine": connection.vendor,
        "load_average": {"start": [round(n, 2) for n in os.getloadavg()]},
    }
    if not args.existing:
        from edureg.seeding.options import SeedOptions
        from edureg.seeding.services import seed_database

        call_command("migrate", verbosity=0, interactive=False)
        started = time.perf_counter()
        seeded = seed_database(
            SeedOptions(
                schools=args.schools,
                students_per_school=args.students_per_school,
                seed=1,
                register_path=Path(settings.EDUREG_REGISTER_SIM_DB),
            )
        )
        result["seed_seconds"] = round(time.perf_counter() - started, 1)
        if not seeded.created:
            print(json.dumps({"error": seeded.message}, ensure_ascii=False))
            return 1
    authority = Authority.objects.order_by("pk").first()
    if authority is None:
        print(json.dumps({"error": "no authority in the database"}))
        return 1
    if args.as_of:
        as_of = dt.date.fromisoformat(args.as_of)
    else:
        latest = SchoolYear.objects.aggregate(latest=Max("starts_on"))["latest"]
        as_of = min(timezone.localdate(), latest + dt.timedelta(days=30))
    biggest = (
        Enrolment.objects.filter(is_current=True)
        .values("school_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    school = (
        School.objects.get(pk=biggest["school_id"])
        if biggest
        else School.objects.order_by("pk").first()
    )
    codes = [definition.code for definition in definitions_active()]
    result.update(
        {
            "as_of": as_of.isoformat(),
            "definitions": len(codes),
            "schools": School.objects.filter(authority=authority).count(),
            "enrolments": Enrolment.objects.count(),
            "single_school": {
                "code": school.code if school else None,
                "enrolments": biggest["n"] if biggest else 0,
            },
        }
    )

    def run_set(**scope: Any) -> dict[str, Any]:
        started = time.perf_counter()
        tables = reports_generate(actor=None, as_of=as_of, **scope)
        seconds = time.perf_counter() - started
        figures: dict[str, Any] = {
            "seconds": round(seconds, 3),
            "rows": sum(len(t.rows) for t in tables),
        }
        if args.per_definition:
            per_definition: dict[str, float] = {}
            alone = []
            for code in codes:
                began = time.perf_counter()
                alone.append(report_generate(actor=None, definition=code, as_of=as_of, **scope))
                per_definition[code] = round(time.perf_counter() - began, 3)
            figures["per_definition_seconds"] = per_definition
            figures["per_definition_total_seconds"] = round(sum(per_definition.values()), 3)
            figures["same_tables"] = [t.as_dict() for t in alone] == [t.as_dict() for t in tables]
        if args.exports:
            began = time.perf_counter()
            sizes = [len(table_xlsx(t)) + len(table_pdf(t)) for t in tables]
            figures["exports_seconds"] = round(time.perf_counter() - began, 3)
            figures["exports_bytes"] = sum(sizes)
        return figures

    runs = [run_set(authority=authority) for _ in range(max(1, args.repeat))]
    result["authority_set"] = {
        **runs[-1],
        "seconds_runs": [r["seconds"] for r in runs],
        "seconds_median": statistics.median(r["seconds"] for r in runs),
    }
    if school is not None:
        runs = [run_set(schools=[school]) for _ in range(max(1, args.repeat))]
        result["school_set"] = {
            **runs[-1],
            "seconds_runs": [r["seconds"] for r in runs],
            "seconds_median": statistics.median(r["seconds"] for r in runs),
        }
    result["targets"] = {
        "authority_set_3500_schools_2_5M_pupils_postgresql_seconds": 30,
        "school_set_seconds": 1,
    }
    result["load_average"]["end"] = [round(n, 2) for n in os.getloadavg()]
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
