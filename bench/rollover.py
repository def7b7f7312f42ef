"""Benchmark the turn of the school year on seeded data; print one JSON object.

    .venv/bin/python bench/rollover.py [--schools 20] [--students-per-school 1000]
                                       [--interrupt-after SECONDS]

Seeds a fresh database (``DATABASE_URL``, empty, or a temporary SQLite file) with the seeding
of ``edureg seed``, then runs ``edureg year rollover --authority SGD79 --from YEAR
--promote-all --json`` as its own process and reports its wall time, pupils promoted per
second, peak memory of that process and what it did; then runs the same command again and
reports that it moved nobody (the restart path). With ``--interrupt-after SECONDS`` the first
run is killed (SIGKILL) that long after its start and run again to the end; the report then
counts the pupils enrolled twice in the new year and those left behind in the old one (both
must be 0). Preschools are rolled over by age group; their pupils are also counted apart.
Target of issue 10: 500 schools / 500,000 pupils ≤ 300 s in bounded memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from procmem import TreeMemory  # noqa: E402 - bench/ is the script's own folder


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _command(start_year: int) -> list[str]:
    return [sys.executable, "-m", "edureg.cli.main", "year", "rollover", "--authority", "SGD79",
            "--from", str(start_year), "--promote-all", "--json"]


def _rollover(start_year: int) -> tuple[dict[str, Any], float, int | None]:
    """The command's report, its wall seconds and the peak memory (MiB) of its process tree,
    sampled from /proc (its ``ru_maxrss`` would count the seeding's size, shared at fork)."""
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        _command(start_year), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT)
    peak = TreeMemory(process.pid)
    peak.start()
    stdout, stderr = process.communicate()
    peak.stop()
    seconds = time.perf_counter() - started
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, process.args, stdout, stderr)
    return json.loads(stdout), seconds, peak.mib


def _killed_after(start_year: int, seconds: float) -> bool:
    """The rollover started and killed (SIGKILL) ``seconds`` later; False if it ended first."""
    process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        _command(start_year), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True
    return False


def _year_invariants(start_year: int) -> dict[str, int]:
    """Pupils enrolled twice in the new year, and pupils still current in the old one (a pupil
    skipped); both must be 0 after a complete rollover."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT e.student_id FROM registry_enrolment e "
            "JOIN schools_schoolyear y ON y.id = e.school_year_id WHERE y.start_year = %s "
            "GROUP BY e.student_id HAVING COUNT(*) > 1) twice", [start_year + 1])
        twice = cursor.fetchone()[0]
        cursor.execute(
            "SELECT COUNT(*) FROM registry_enrolment e "
            "JOIN schools_schoolyear y ON y.id = e.school_year_id "
            "WHERE e.is_current AND y.start_year = %s", [start_year])
        behind = cursor.fetchone()[0]
        cursor.execute(
            "SELECT COUNT(*) FROM registry_enrolment e "
            "JOIN schools_schoolyear y ON y.id = e.school_year_id WHERE y.start_year = %s",
            [start_year + 1])
        enrolled = cursor.fetchone()[0]
    return {"pupils_enrolled_twice": twice, "pupils_left_behind": behind,
            "new_year_enrolments": enrolled}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=20)
    parser.add_argument("--students-per-school", type=int, default=1000)
    parser.add_argument("--interrupt-after", type=float, default=None, metavar="SECONDS",
                        help="kill the first run this long after its start, then resume it")
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

    if args.interrupt_after is not None:
        killed = _killed_after(start_year, args.interrupt_after)
        resumed, seconds, _ = _rollover(start_year)
        result["interrupted"] = {"killed_after_seconds": args.interrupt_after, "killed": killed,
                                 "resumed_seconds": round(seconds, 1),
                                 "resumed_pupils_moved": resumed["pupils_moved"],
                                 **_year_invariants(start_year)}
        connection.close()
        print(json.dumps(result, ensure_ascii=False))
        return 0

    cpu = _children_cpu()
    first, seconds, peak_mib = _rollover(start_year)
    first_cpu, cpu = _children_cpu() - cpu, _children_cpu()
    result["rollover"] = {
        "seconds": round(seconds, 1),
        "schools_opened": first["schools_opened"],
        "classes_committed": first["classes_committed"],
        "pupils_moved": first["pupils_moved"],
        "pupils_per_second": round(first["pupils_moved"] / seconds, 1),
        # Processor time of the command: what a busy machine does not distort.
        "cpu_seconds": round(first_cpu, 1),
        "peak_tree_rss_mib": peak_mib,
        "problems": len(first["problems"]),
        "problem_sample": first["problems"][:2],
    }
    again, seconds, _ = _rollover(start_year)
    result["rerun"] = {"seconds": round(seconds, 1), "cpu_seconds": round(_children_cpu() - cpu, 1),
                       "pupils_moved": again["pupils_moved"],
                       "classes_committed": again["classes_committed"]}
    result["invariants"] = _year_invariants(start_year)
    result["projection_500k_seconds"] = round(500_000 / result["rollover"]["pupils_per_second"])
    result["targets"] = {"rollover_500k_seconds": 300}
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
