"""Benchmark the turn of the school year on seeded data; print one JSON object.

    .venv/bin/python bench/rollover.py [--schools 20] [--students-per-school 1000]

Seeds a fresh database (``DATABASE_URL``, empty, or a temporary SQLite file) with the seeding
of ``edureg seed``, then runs ``edureg year rollover --authority SGD79 --from YEAR
--promote-all --json`` as its own process and reports its wall time, pupils promoted per
second, peak memory of that process and what it did; then runs the same command again and
reports that it moved nobody (the restart path). Preschools are not rolled over (no grades):
their pupils are counted apart. Target of issue 10: 500 schools / 500,000 pupils ≤ 300 s in
bounded memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _rollover(start_year: int) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own command, fixed arguments
        [sys.executable, "-m", "edureg.cli.main", "year", "rollover", "--authority", "SGD79",
         "--from", str(start_year), "--promote-all", "--json"],
        check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=20)
    parser.add_argument("--students-per-school", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="edureg-bench-rollover-", dir="/tmp"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ.setdefault("EDUREG_REGISTER_SIM_DB", str(workdir / "register.sqlite3"))
    os.environ.setdefault("EDUREG_VAR_DIR", str(workdir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edureg.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from edureg.registry.models import Enrolment
    from edureg.schools.models import SchoolYear
    from edureg.seeding.options import SeedOptions
    from edureg.seeding.services import seed_database

    result: dict[str, Any] = {"benchmark": "rollover", "engine": connection.vendor,
                              "cpus": os.cpu_count()}
    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    seeded = seed_database(SeedOptions(schools=args.schools,
                                       students_per_school=args.students_per_school, seed=1,
                                       register_path=Path(settings.EDUREG_REGISTER_SIM_DB)))
    result["seed_seconds"] = round(time.perf_counter() - started, 1)
    if not seeded.created:
        print(json.dumps({"error": seeded.message}, ensure_ascii=False))
        return 1
    start_year = max(SchoolYear.objects.values_list("start_year", flat=True))
    current = Enrolment.objects.filter(is_current=True, school_year__start_year=start_year)
    result["pupils"] = current.count()
    result["preschool_pupils"] = current.filter(school__level="mam_non").count()
    connection.close()

    cpu = _children_cpu()
    first, seconds = _rollover(start_year)
    first_cpu, cpu = _children_cpu() - cpu, _children_cpu()
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result["rollover"] = {
        "seconds": round(seconds, 1),
        "schools_opened": first["schools_opened"],
        "classes_committed": first["classes_committed"],
        "pupils_moved": first["pupils_moved"],
        "pupils_per_second": round(first["pupils_moved"] / seconds, 1),
        # Processor time of the command: what a busy machine does not distort.
        "cpu_seconds": round(first_cpu, 1),
        "max_rss_mib": round(peak_kib / 1024, 1),
        "problems": len(first["problems"]),
        "problem_sample": first["problems"][:2],
    }
    again, seconds = _rollover(start_year)
    result["rerun"] = {"seconds": round(seconds, 1), "cpu_seconds": round(_children_cpu() - cpu, 1),
                       "pupils_moved": again["pupils_moved"],
                       "classes_committed": again["classes_committed"]}
    result["projection_500k_seconds"] = round(500_000 / result["rollover"]["pupils_per_second"])
    result["targets"] = {"rollover_500k_seconds": 300}
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
