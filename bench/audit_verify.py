"""How long ``edureg audit verify`` takes over a long audit log (target: 10 M events ≤ 60 s).

Bulk-loads N valid chained events (a mix of class-list reads, student-detail reads and field
changes, hashed exactly as ``audit_record`` hashes them) into a fresh database, then runs the
verifier and prints one JSON object. Usage:

    .venv/bin/python bench/audit_verify.py [--events 10000000] [--workers N]

DATABASE_URL selects the engine (default: a fresh SQLite file under /tmp). The record-reference
index (audit_auditrecordref) is not loaded: verification does not read it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BATCH = 50_000
COLUMNS = ("seq", "occurred_at", "actor_id", "actor_label", "action", "kind", "entity",
           "entity_id", "school_id", "data", "prev_hash", "hash")


def _data_texts() -> list[tuple[str, str, str, str]]:
    """A pool of (action, kind, entity_id, data text): 7 in 10 class-list reads of 20 pupils,
    2 in 10 student-detail reads, 1 in 10 field changes (masked values stay masked)."""
    from edureg.audit.models import canonical_json

    pool = []
    for n in range(1000):
        pick = n % 10
        if pick < 7:
            data: dict[str, object] = {"ids": [str(n * 20 + i) for i in range(20)],
                                       "view": "class_list"}
            pool.append(("student.read", "read", "", canonical_json(data)))
        elif pick < 9:
            data = {"ids": [str(n)], "view": "student_detail",
                    "guardian_ids": [str(2 * n), str(2 * n + 1)]}
            pool.append(("student.read", "read", "", canonical_json(data)))
        else:
            data = {"changes": {"full_name": ["Nguyễn Văn An", "Nguyễn Văn Ân"],
                                "phone": ["***", "***"]}, "warnings": []}
            pool.append(("student.update", "write", str(n), canonical_json(data)))
    return pool


def rows(count: int, actor_id: int) -> Iterator[tuple[object, ...]]:
    from edureg.audit.chain import GENESIS, event_line, link_hash

    pool = _data_texts()
    start = dt.datetime(2026, 9, 5, 0, 0, tzinfo=dt.UTC).replace(tzinfo=None)  # stored as UTC
    step = dt.timedelta(milliseconds=5)
    moment = start
    prev = GENESIS
    for seq in range(1, count + 1):
        moment += step
        when = moment.isoformat(sep=" ", timespec="microseconds")
        school = 1 + seq % 40
        action, kind, entity_id, text = pool[seq % 1000]
        line = event_line(seq=seq, occurred_at=when, actor_id=actor_id, actor_label="bench",
                          action=action, kind=kind, entity="student", entity_id=entity_id,
                          school_id=school, data_text=text)
        digest = link_hash(prev, line)
        yield (seq, when, actor_id, "bench", action, kind, "student", entity_id, school, text,
               prev, digest)
        prev = digest


def load(count: int) -> tuple[int, str]:
    from django.db import connection, transaction

    from edureg.access.models import User

    actor = User.objects.create(username="bench")
    last: tuple[object, ...] = ()
    generated = rows(count, actor.pk)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(  # psycopg 3 COPY
                f"COPY audit_auditevent ({', '.join(COLUMNS)}) FROM STDIN"
            ) as copy:
                for row in generated:
                    copy.write_row(row)
                    last = row
        else:
            sql = (f"INSERT INTO audit_auditevent ({', '.join(COLUMNS)}) "  # noqa: S608
                   f"VALUES ({', '.join(['%s'] * len(COLUMNS))})")
            batch: list[tuple[object, ...]] = []
            for row in generated:
                batch.append(row)
                if len(batch) == BATCH:
                    cursor.executemany(sql, batch)
                    last = batch[-1]
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
                last = batch[-1]
    return count, str(last[-1])


def _secondary_indexes() -> list[tuple[str, str]]:
    """(name, CREATE statement) of the event table's indexes other than the unique seq."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                           "'audit_auditevent' AND indexdef NOT LIKE 'CREATE UNIQUE%%'")
        else:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                           "tbl_name = 'audit_auditevent' AND sql IS NOT NULL AND "
                           "sql NOT LIKE 'CREATE UNIQUE%'")
        return [(name, sql) for name, sql in cursor.fetchall()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="edureg-bench-audit-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
    os.environ.setdefault("EDUREG_VAR_DIR", workdir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "edureg.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from edureg.audit.models import ChainHead
    from edureg.audit.services import CHAIN, audit_verify

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    # Loading into an indexed table costs random index writes; build the indexes afterwards.
    indexes = _secondary_indexes()
    with connection.cursor() as cursor:
        for name, _sql in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    head_seq, head_hash = load(args.events)
    with connection.cursor() as cursor:
        for _name, sql in indexes:
            cursor.execute(sql)
    ChainHead.objects.update_or_create(name=CHAIN, defaults={"seq": head_seq,
                                                              "last_hash": head_hash})
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE audit_auditevent")
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = audit_verify(workers=args.workers)
    seconds = time.perf_counter() - started
    assert result.broken is None, result.broken
    assert result.events == args.events, result
    print(json.dumps({
        "benchmark": "audit_verify",
        "engine": connection.vendor,
        "events": result.events,
        "seconds": round(seconds, 2),
        "events_per_second": round(result.events / seconds),
        "workers": args.workers or "auto",
        "load_seconds": round(load_seconds, 1),
        "target_seconds": 60,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
