"""What read auditing costs the class-list (45 pupils) and student-detail pages (target ≤ 10 %).

Times each page in-process through Django's full handler (middleware, session, policy, render)
with the audited read as shipped, and with ``audit_read`` replaced by a no-op — in this program
only — request by request in alternating pairs so that machine noise falls on both alike. Also
reports the time spent inside the audit call itself (``audit_call_ms``; the difference of two
noisy medians can swing by a few per cent on a shared machine). Prints one JSON object:

    .venv/bin/python bench/read_audit_overhead.py [--requests 300] [--rounds 6]

DATABASE_URL selects the engine (default: a fresh SQLite file under /tmp). The data is built
with plain ORM inserts (one school, a class of 45 pupils with two guardians each, a records
clerk) on top of an audit log of ``--history`` earlier read events, so the appends land on a
log that is not empty.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(history: int) -> tuple[Any, int, int]:
    from django.db import transaction

    from edureg.access.models import Membership, User
    from edureg.access.roles import Role
    from edureg.audit.services import audit_read
    from edureg.core.text import name_match_key, vietnamese_sort_key
    from edureg.registry.models import (
        Enrolment,
        Guardian,
        SchoolClass,
        Student,
        StudentGuardian,
    )
    from edureg.schools.models import Authority, School, SchoolYear

    start = dt.date(2026, 9, 5)
    authority = Authority.objects.create(code="SGD79", name="Sở GDĐT TP. Hồ Chí Minh",
                                         province_code="79", admin_units_version="2025-07-01")
    school = School.objects.create(authority=authority, code="B0001",
                                   name="Trường Tiểu học Bến Thành", level="tieu_hoc",
                                   ownership="public", commune_code="26734",
                                   admin_units_version="2025-07-01")
    year = SchoolYear.objects.create(school=school, start_year=2026, starts_on=start,
                                     ends_on=dt.date(2027, 5, 31))
    school_class = SchoolClass.objects.create(school=school, school_year=year, name="3A",
                                              grade=3)
    families = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"]
    given = ["An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Khánh", "Linh", "Minh", "Ngọc",
             "Phúc", "Quân", "Thảo", "Uyên", "Vy"]
    for n in range(45):
        name = f"{families[n % 10]} Văn {given[n % 15]}"
        student = Student.objects.create(
            school=school, current_class=school_class, full_name=name,
            name_sort_key=vietnamese_sort_key(name), name_match_key=name_match_key(name),
            education_id=f"79{n:08d}", phone=f"09120{n:05d}", ethnicity_code="01",
            date_of_birth=dt.date(2017, 1 + n % 12, 1 + n % 28), sex="M" if n % 2 else "F")
        Enrolment.objects.create(student=student, school=school, school_year=year,
                                 school_class=school_class, grade=3, status_code="01",
                                 status_since=start, started_on=start)
        for relation, parent in (("01", "Cha"), ("02", "Mẹ")):
            guardian_name = f"{families[n % 10]} Thị {parent} {n}"
            guardian = Guardian.objects.create(
                school=school, full_name=guardian_name, phone=f"09130{n:05d}",
                name_sort_key=vietnamese_sort_key(guardian_name),
                name_match_key=name_match_key(guardian_name))
            StudentGuardian.objects.create(student=student, guardian=guardian,
                                           relation_code=relation, is_primary_contact=True)
    clerk = User.objects.create(username="giaovu", full_name="Lê Thị Giáo Vụ")
    Membership.objects.create(user=clerk, role=Role.RECORDS_CLERK, authority=authority,
                              school=school, starts_on=dt.date(2020, 1, 1))
    with transaction.atomic():
        for n in range(history):
            audit_read(actor=clerk, entity="student", ids=range(n % 1000, n % 1000 + 45),
                       school_id=school.pk, view="class_list")
    first = Student.objects.filter(current_class=school_class).order_by("pk").first()
    assert first is not None
    return clerk, school_class.pk, first.pk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--history", type=int, default=20_000)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="edureg-bench-read-audit-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
    os.environ.setdefault("EDUREG_VAR_DIR", workdir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "edureg.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    import edureg.registry.selectors as selectors
    from edureg.audit.models import AuditEvent
    from edureg.audit.services import refs_catch_up

    call_command("migrate", verbosity=0)
    clerk, class_id, student_id = build(args.history)
    client = Client()
    client.force_login(clerk)
    shipped = selectors.audit_read
    spent: list[float] = []

    def audited(**kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return shipped(**kwargs)
        finally:
            spent.append((time.perf_counter() - started) * 1000)

    def no_audit(**_: Any) -> None:
        return None

    def one(url: str, reader: Callable[..., Any]) -> float:
        selectors.audit_read = reader  # type: ignore[assignment]
        try:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
        finally:
            selectors.audit_read = shipped
        assert response.status_code == 200, response.status_code
        return elapsed

    def measure(url: str) -> dict[str, float]:
        for _ in range(args.requests):  # warm caches: catalogue, code lists, session
            one(url, audited)
            one(url, no_audit)
        spent.clear()
        with_audit: list[float] = []
        without: list[float] = []
        for n in range(args.requests * args.rounds):
            # Pairs in alternating order, so drift in machine speed falls on both alike.
            order = (audited, no_audit) if n % 2 else (no_audit, audited)
            for reader in order:
                (with_audit if reader is audited else without).append(one(url, reader))
        with_ms = statistics.median(with_audit)
        without_ms = statistics.median(without)
        audit_ms = statistics.median(spent)
        return {"with_ms": round(with_ms, 3), "without_ms": round(without_ms, 3),
                "overhead_pct": round((with_ms - without_ms) / without_ms * 100, 1),
                "audit_call_ms": round(audit_ms, 3),
                "audit_call_pct": round(audit_ms / without_ms * 100, 1)}

    def index_rate() -> dict[str, float]:
        """The deferred part: deriving the record references (``edureg audit index``) of every
        event written above, off the request path."""
        started = time.perf_counter()
        events = refs_catch_up()
        seconds = time.perf_counter() - started
        return {"events": events, "seconds": round(seconds, 2),
                "events_per_s": round(events / seconds)}

    before = AuditEvent.objects.count()
    result = {
        "benchmark": "read_audit_overhead",
        "engine": connection.vendor,
        "requests_each": args.requests * args.rounds,
        "class_list": measure(f"/lop/{class_id}/"),
        "student_detail": measure(f"/hoc-sinh/{student_id}/"),
        "audit_events_written": AuditEvent.objects.count() - before,
        "refs_index": index_rate(),
        "target_overhead_pct": 10,
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
