"""Benchmark reading export workbooks (edureg.intake.workbook); print one JSON object.

    .venv/bin/python bench/intake_read.py [--rows 2000 50000] [--repeat 3] [--workdir DIR]

For each size, a student workbook of the full grouped template (``hcm-hocsinh-2025-nhom``: 35
columns, two-row merged header, every writer quirk) is generated with synthetic rows (not
timed; kept in ``--workdir`` and reused when it is there), then read by ``read_workbook`` in a
fresh process per run, so each run's peak memory is its own:

- ``read_seconds``: wall time of ``read_workbook`` (median of ``--repeat`` runs, and all runs);
- ``peak_rss_mb``: the reading process's peak resident memory (VmHWM), and
  ``baseline_rss_mb``, its resident memory just before reading (Python, Django, the libraries
  and the file's bytes loaded): the difference is what reading costs;
- ``file_mb``, ``rows_read``, ``problems``.

``machine`` records the load average and how long a fixed pure-Python loop takes, so figures
taken on a busy machine can be told apart from a slow reader.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TODAY = dt.date(2025, 11, 20)
TEMPLATE = "hcm-hocsinh-2025-nhom"


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edureg.settings")
    import django

    django.setup()


def _memory_mb(field: str) -> float:
    """VmHWM (peak) or VmRSS (now) of this process. Unlike ru_maxrss, VmHWM belongs to the
    process image, so it does not inherit the parent's peak across fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _calibration() -> float:
    started = time.perf_counter()
    total = 0
    for number in range(3_000_000):
        total += number * number
    return round(time.perf_counter() - started, 3)


def child(path: Path) -> None:
    _setup()
    from django.utils.translation import gettext

    from edureg.intake.source import Kind
    from edureg.intake.workbook import header_sets, read_workbook

    # Loaded once per process in real use too: the header data and the message catalogue.
    header_sets()
    gettext("Tệp rỗng")
    data = path.read_bytes()
    baseline = _memory_mb("VmRSS")
    started = time.perf_counter()
    workbook = read_workbook(data, kind=Kind.STUDENT, filename=path.name, today=TODAY)
    seconds = time.perf_counter() - started
    print(json.dumps({
        "seconds": round(seconds, 3), "rows": len(workbook.rows),
        "problems": len(workbook.problems), "peak_rss_mb": round(_memory_mb("VmHWM"), 1),
        "baseline_rss_mb": round(baseline, 1), "template": workbook.template,
    }))


def generate(path: Path, rows: int) -> float:
    _setup()
    from edureg.intake.source import Kind
    from edureg.seeding.workbook import synthetic_rows, write_export_workbook

    started = time.perf_counter()
    data = synthetic_rows(Kind.STUDENT, count=rows, seed=1, today=TODAY)
    write_export_workbook(path, kind=Kind.STUDENT, rows=data, template=TEMPLATE, today=TODAY,
                          school_name="Trường Tiểu học Lê Quý Đôn")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000, 50_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child is not None:
        child(options.child)
        return
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="edureg-intake-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "template": TEMPLATE,
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(),
                    "python_loop_3m_seconds": _calibration()},
        "sizes": {},
    }
    for rows in options.rows:
        path = workdir / f"students-{rows}.xlsx"
        generated = None
        if not path.exists():
            generated = round(generate(path, rows), 1)
        runs = []
        for _ in range(options.repeat):
            output = subprocess.run(  # noqa: S603 - fixed argument list
                [sys.executable, __file__, "--child", str(path)], check=True,
                capture_output=True, text=True, cwd=ROOT,
            ).stdout
            runs.append(json.loads(output.strip().splitlines()[-1]))
        seconds = [run["seconds"] for run in runs]
        results["sizes"][str(rows)] = {
            "file_mb": round(path.stat().st_size / 1024 / 1024, 2),
            "generate_seconds": generated,
            "read_seconds": statistics.median(seconds),
            "read_seconds_runs": seconds,
            "rows_read": runs[0]["rows"],
            "problems": runs[0]["problems"],
            "template_detected": runs[0]["template"],
            "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
            "baseline_rss_mb": min(run["baseline_rss_mb"] for run in runs),
        }
    results["machine"]["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
