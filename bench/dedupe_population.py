"""The batch duplicate run on a seeded Vietnamese population; prints one JSON object.

    .venv/bin/python bench/dedupe_population.py [--schools 100] [--students-per-school 1000]
        [--duplicate-rate 0.02] [--database-url URL --register-db PATH]

Seeds a database (SQLite in a temporary directory) with ``edureg seed``, whose planted
duplicates are a child typed in again at another class or school without ID number, with
dropped diacritics, swapped day and month and typos. Runs ``edureg dedupe run --json`` in its
own process (seconds and peak memory are its own) and scores the stored pairs against the
planted ones (every pair within a planted group counts as true). With ``--database-url`` and
``--register-db`` it uses an already seeded database instead (e.g. 2.5 M pupils).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def edureg(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "edureg.cli.main", *args], check=True,  # noqa: S603
                          env=env, cwd=ROOT, capture_output=True, text=True)
    return done.stdout


def planted_pairs(register: Path) -> set[tuple[int, int]]:
    with sqlite3.connect(register) as db:
        rows = db.execute("SELECT record_id, other_record_id FROM planted_problem WHERE kind = "
                          "'duplicate' AND entity = 'student'").fetchall()
    groups: dict[int, set[int]] = {}
    for copy, original in rows:
        groups.setdefault(original, {original}).add(copy)
    return {(a, b) for group in groups.values() for a in group for b in group if a < b}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=100)
    parser.add_argument("--students-per-school", type=int, default=1000)
    parser.add_argument("--duplicate-rate", type=float, default=0.02)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--register-db", default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="edureg-bench-dedupe-"))
    register = Path(args.register_db) if args.register_db else workdir / "register.sqlite3"
    env = {**os.environ, "EDUREG_VAR_DIR": str(workdir),
           "DATABASE_URL": args.database_url or f"sqlite:///{workdir / 'edureg.sqlite3'}"}
    seed_seconds = None
    if not args.database_url:
        started = time.perf_counter()
        edureg("migrate", env=env)
        edureg("seed", "--schools", str(args.schools), "--students-per-school",
               str(args.students_per_school), "--duplicate-rate", str(args.duplicate_rate),
               "--register-db", str(register), env=env)
        seed_seconds = round(time.perf_counter() - started, 1)
    report = json.loads(edureg("dedupe", "run", "--json", env=env).strip().splitlines()[-1])
    truth = planted_pairs(register)
    database = env["DATABASE_URL"]
    if database.startswith("sqlite:///"):
        with sqlite3.connect(database.removeprefix("sqlite:///")) as db:
            found = set(db.execute("SELECT left_id, right_id FROM dedupe_duplicatepair "
                                   "WHERE entity = 'student'").fetchall())
    else:
        import psycopg

        with psycopg.connect(database) as db:
            found = {tuple(row) for row in db.execute(
                "SELECT left_id, right_id FROM dedupe_duplicatepair WHERE entity = 'student'")}
    true_positives = len(found & truth)
    precision = true_positives / len(found) if found else 0.0
    recall = true_positives / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(json.dumps({
        "benchmark": "dedupe_population",
        "persons": report["persons"], "seed_seconds": seed_seconds,
        "run_seconds": report["seconds"], "peak_rss_mib": report["max_rss_mib"],
        "planted_pairs": len(truth), "pairs_stored": len(found),
        "true_positives": true_positives, "precision": round(precision, 4),
        "recall": round(recall, 4), "f1": round(f1, 4),
    }))


if __name__ == "__main__":
    main()
