"""Server time and query count of the class-list page (45 pupils) and the student-detail page.

Runs the pages in-process through Django's handler (the full middleware stack, session, policy,
audit write) against a seeded database, and prints one JSON object. Usage:

    .venv/bin/python bench/pages.py [--requests 200]

DATABASE_URL selects the engine (default: a fresh SQLite file under /tmp).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="edureg-bench-pages-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
    os.environ.setdefault("EDUREG_VAR_DIR", workdir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "edureg.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from edureg.access.models import Membership
    from edureg.access.roles import Role
    from edureg.registry.models import SchoolClass, Student

    call_command("migrate", verbosity=0)
    call_command("seed", schools=2, students_per_school=600, seed=7, verbosity=0,
                 stdout=open(os.devnull, "w"))  # noqa: SIM115
    school_class = (
        SchoolClass.objects.annotate(size=Count("students")).order_by("-size", "id").first()
    )
    assert school_class is not None
    # Fill the largest class up to 45 pupils from a sibling class of the same grade.
    missing = 45 - Student.objects.filter(current_class=school_class).count()
    if missing > 0:
        donors = Student.objects.filter(
            school=school_class.school, current_class__grade=school_class.grade
        ).exclude(current_class=school_class).values_list("pk", flat=True)[:missing]
        Student.objects.filter(pk__in=list(donors)).update(current_class=school_class)
    class_size = Student.objects.filter(current_class=school_class).count()
    # The records clerk sees the whole school (identifiers included) and has no second factor
    # to complete, so the bench measures the pages rather than the 2FA gate.
    principal = Membership.objects.filter(role=Role.RECORDS_CLERK,
                                          school=school_class.school).first()
    assert principal is not None
    student = Student.objects.filter(current_class=school_class).order_by("pk").first()
    assert student is not None
    client = Client()
    client.force_login(principal.user)

    def measure(url: str) -> dict[str, float | int]:
        for _ in range(5):  # warm caches: code lists, catalogue, session
            assert client.get(url).status_code == 200
        timings = []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        timings.sort()
        return {
            "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
            "max_ms": round(timings[-1], 2),
            "queries": len(queries.captured_queries),
        }

    result = {
        "benchmark": "pages",
        "engine": connection.vendor,
        "requests_each": args.requests,
        "class_size": class_size,
        "class_list": measure(f"/lop/{school_class.pk}/"),
        "student_detail": measure(f"/hoc-sinh/{student.pk}/"),
        "target_ms": 50,
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
