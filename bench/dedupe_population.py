"""The batch duplicate run on a seeded Vietnamese population; prints one JSON object.

    .venv/bin/python bench/dedupe_population.py [--schools 100] [--students-per-school 1000]
        [--duplicate-rate 0.02] [--database-url URL --register-db PATH] [--setups edureg,splink]

Seeds a database (SQLite in a temporary directory) with ``edureg seed``, whose planted
duplicates are a child typed in again at another class or school without ID number, with
dropped diacritics, swapped day and month and typos. Runs ``edureg dedupe run --json`` in its
own process (seconds and peak memory are its own) and scores the stored pairs against the
planted ones (every pair within a planted group counts as true). With ``--database-url`` and
``--register-db`` it uses an already seeded database instead (e.g. 2.5 M pupils).

The ``splink`` setup is the reference: Splink 4 on DuckDB (``pip install -e '.[bench]'``), in
its own process, over the same pupils with the person fields edureg's matcher derives (folded
name parts, date, ID number, sex, birth province, commune), tuned blocking on name parts with
the date, u by random sampling and m by EM, match = probability ≥ 0.5. It is given no
parents' data: that is the setup the issue's reference figures describe.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


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


def score(found: set[tuple[int, int]], truth: set[tuple[int, int]]) -> dict[str, Any]:
    true_positives = len(found & truth)
    precision = true_positives / len(found) if found else 0.0
    recall = true_positives / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pairs_stored": len(found), "true_positives": true_positives,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def splink_frame(database: str) -> Any:
    """The pupils with edureg's person features, as a pandas frame for Splink."""
    import polars as pl

    from edureg.dedupe.features import prepare_person_frame

    query = ("SELECT id, full_name, CAST(date_of_birth AS TEXT) AS date_of_birth, "
             "personal_id_number, sex, birthplace_legacy_province, permanent_commune "
             "FROM registry_student")
    if database.startswith("sqlite:///"):
        with sqlite3.connect(database.removeprefix("sqlite:///")) as db:
            cursor = db.execute(query)
            names = [column[0] for column in cursor.description]
            raw = pl.DataFrame(cursor.fetchall(), schema=names, orient="row",
                               infer_schema_length=None)
    else:
        import psycopg

        with psycopg.connect(database) as db:
            cursor = db.execute(query)
            names = [column.name for column in cursor.description or ()]
            raw = pl.DataFrame(cursor.fetchall(), schema=names, orient="row",
                               infer_schema_length=None)
    extra = ("sex", "birthplace_legacy_province", "permanent_commune")
    prepared = prepare_person_frame(
        raw.with_columns(*(pl.when(pl.col(name) == "").then(None).otherwise(pl.col(name))
                           .alias(name) for name in extra)),
        id_column="id", full_name_column="full_name", date_of_birth_column="date_of_birth",
        id_number_column="personal_id_number", extra_columns=extra)
    return prepared.rename({"id": "unique_id"}).to_pandas()


def run_splink(database: str) -> dict[str, Any]:
    """The reference setup, in this process (``--splink-only`` runs it alone)."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    frame = splink_frame(database)
    started = time.perf_counter()
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("id_number"),
            block_on("given", "dob"),
            block_on("family", "middle", "dob"),
            block_on("full_key", "substr(dob, 1, 6)"),
            block_on("full_key", "substr(dob, 5, 4)"),
        ],
        comparisons=[
            cl.NameComparison("given").configure(term_frequency_adjustments=True),
            cl.NameComparison("middle").configure(term_frequency_adjustments=True),
            cl.NameComparison("family").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("dob", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("id_number", [1, 2]),
            cl.ExactMatch("sex"),
            cl.ExactMatch("birthplace_legacy_province"),
            cl.ExactMatch("permanent_commune"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(frame, settings, db_api=DuckDBAPI())
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given", "dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("full_key", "substr(dob, 1, 6)"))
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    pairs = predictions.as_duckdbpyrelation().select("unique_id_l, unique_id_r").fetchall()
    seconds = time.perf_counter() - started
    found = {(min(int(a), int(b)), max(int(a), int(b))) for a, b in pairs}
    return {"seconds": round(seconds, 1), "found": sorted(found),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=100)
    parser.add_argument("--students-per-school", type=int, default=1000)
    parser.add_argument("--duplicate-rate", type=float, default=0.02)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--register-db", default=None)
    parser.add_argument("--setups", default="edureg",
                        help="comma-separated: edureg, splink (the reference)")
    parser.add_argument("--splink-only", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.splink_only:
        print(json.dumps(run_splink(args.splink_only)))
        return
    setups = args.setups.split(",")
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
    database = env["DATABASE_URL"]
    truth = planted_pairs(register)
    result: dict[str, Any] = {"benchmark": "dedupe_population", "seed_seconds": seed_seconds,
                              "planted_pairs": len(truth)}
    if "edureg" in setups:
        report = json.loads(edureg("dedupe", "run", "--json", env=env).strip().splitlines()[-1])
        result["persons"] = report["persons"]
        result["edureg"] = {"run_seconds": report["seconds"],
                            "peak_rss_mib": report["max_rss_mib"],
                            **score(stored_pairs(database), truth)}
    if "splink" in setups:
        done = subprocess.run([sys.executable, __file__, "--splink-only", database],  # noqa: S603
                              check=True, env=env, cwd=ROOT, capture_output=True, text=True)
        splink = json.loads(done.stdout.strip().splitlines()[-1])
        found = {(a, b) for a, b in splink.pop("found")}
        result["splink_reference"] = {**splink, **score(found, truth)}
    print(json.dumps(result))


def stored_pairs(database: str) -> set[tuple[int, int]]:
    if database.startswith("sqlite:///"):
        with sqlite3.connect(database.removeprefix("sqlite:///")) as db:
            return set(db.execute("SELECT left_id, right_id FROM dedupe_duplicatepair "
                                  "WHERE entity = 'student'").fetchall())
    import psycopg

    with psycopg.connect(database) as db:
        return {(row[0], row[1]) for row in db.execute(
            "SELECT left_id, right_id FROM dedupe_duplicatepair WHERE entity = 'student'")}


if __name__ == "__main__":
    main()
