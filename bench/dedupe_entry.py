"""The entry-time duplicate check against a large database; prints one JSON object.

    DATABASE_URL=sqlite:////path/to/db.sqlite3 .venv/bin/python bench/dedupe_entry.py \
        [--checks 2000] [--seed 1]

Runs ``registry.duplicates.student_candidates`` — what every pupil create or identity change
runs before saving — for ``--checks`` pupils drawn at random from the database: a third with
the pupil's own values (a duplicate being typed again: must be found), a third with day and
month swapped (found), a third with another birth date (a new child with a common name: the
lookup that must stay cheap under the family-name skew); every fourth check is an edit of the
pupil itself (own record excluded, so the lookup on the parents' names runs too). Reports
p50/p95/max milliseconds per check and how many checks found the pupil. Point it at a seeded
database (e.g. the 2.5 M pupils of ``bench/seed.py``); run ``edureg migrate`` on it first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edureg.settings")
    import django

    django.setup()
    from django.db import connection

    from edureg.registry.duplicates import student_candidates, swapped
    from edureg.registry.models import Student

    rng = random.Random(args.seed)
    total = Student.objects.count()
    highest = Student.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    picked: list[dict[str, object]] = []
    while len(picked) < args.checks:
        ids = [rng.randint(1, highest) for _ in range(args.checks)]
        picked += list(Student.objects.filter(pk__in=ids, date_of_birth__isnull=False)
                       .values("pk", "full_name", "date_of_birth", "personal_id_number"))
    picked = picked[:args.checks]
    timings: list[float] = []
    found = {"same": [0, 0], "swapped": [0, 0], "other_date": [0, 0]}
    edits = 0
    edit_timings: list[float] = []
    for number, row in enumerate(picked):
        if number % 4 == 3:
            born = row["date_of_birth"]
            assert isinstance(born, dt.date)
            values = {"full_name": row["full_name"],
                      "date_of_birth": born + dt.timedelta(days=3)}
            started = time.perf_counter()
            student_candidates(values, exclude_id=int(str(row["pk"])))
            timings.append((time.perf_counter() - started) * 1000)
            edit_timings.append(timings[-1])
            edits += 1
            continue
        kind = ("same", "swapped", "other_date")[number % 3]
        born = row["date_of_birth"]
        assert isinstance(born, dt.date)
        values = {"full_name": row["full_name"], "date_of_birth": born}
        if kind == "swapped":
            values["date_of_birth"] = swapped(born) or born
        elif kind == "other_date":
            values["date_of_birth"] = born + dt.timedelta(days=rng.choice((-400, 400)))
        if kind == "same":
            values["personal_id_number"] = row["personal_id_number"]
        started = time.perf_counter()
        candidates = student_candidates(values)
        timings.append((time.perf_counter() - started) * 1000)
        found[kind][0] += 1
        found[kind][1] += any(c.record_id == row["pk"] for c in candidates)
    timings.sort()
    print(json.dumps({
        "benchmark": "dedupe_entry_check",
        "database": connection.vendor,
        "students": total,
        "checks": len(timings),
        "ms_p50": round(statistics.median(timings), 2),
        "ms_p95": round(timings[int(len(timings) * 0.95) - 1], 2),
        "ms_max": round(timings[-1], 2),
        "edits": edits,
        "edit_ms_p95": round(sorted(edit_timings)[int(len(edit_timings) * 0.95) - 1], 2)
        if edit_timings else None,
        "found_own_record": {kind: f"{hit}/{n}" for kind, (n, hit) in found.items()},
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
