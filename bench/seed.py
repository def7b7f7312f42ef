"""Benchmark: seed a fresh database with demo data and print one JSON object.

    .venv/bin/python bench/seed.py [--students 2500000] [--students-per-school 1000]

The database is ``DATABASE_URL`` (it must be empty; it is migrated first), or a temporary SQLite
file under /tmp. The register-simulator file goes next to the temporary database unless
``EDUREG_REGISTER_SIM_DB`` is set.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=2_500_000)
    parser.add_argument("--students-per-school", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="edureg-bench-seed-", dir="/tmp"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ.setdefault("EDUREG_REGISTER_SIM_DB", str(workdir / "register.sqlite3"))
    os.environ.setdefault("EDUREG_VAR_DIR", str(workdir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edureg.settings")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from edureg.seeding.options import SeedOptions
    from edureg.seeding.services import seed_database

    call_command("migrate", verbosity=0, interactive=False)
    schools = max(1, args.students // args.students_per_school)
    started = time.perf_counter()
    result = seed_database(SeedOptions(
        schools=schools, students_per_school=args.students_per_school, seed=args.seed,
        register_path=Path(settings.EDUREG_REGISTER_SIM_DB),
    ))
    seconds = time.perf_counter() - started
    if not result.created:
        print(json.dumps({"error": result.message}, ensure_ascii=False))
        return 1
    counts = result.counts
    students = counts["registry.Student"]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({
        "engine": connection.vendor,
        "students": students,
        "guardians": counts["registry.Guardian"],
        "student_guardian_links": counts["registry.StudentGuardian"],
        "enrolments": counts["registry.Enrolment"],
        "staff": counts["registry.Staff"],
        "schools": counts["schools.School"],
        "register_persons": counts["register.person"],
        "planted_problems": counts["register.planted_problem"],
        "seconds": round(seconds, 1),
        "students_per_second": round(students / seconds),
        "peak_rss_mb": round(max(own, children)),
        "writer_peak_rss_mb": round(own),
        "generator_peak_rss_mb": round(children),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
