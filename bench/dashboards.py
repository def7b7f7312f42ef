"""Server time of the quality dashboards (target ≤ 300 ms): the principal's school dashboard of a
2,000-pupil school (50 classes with their homeroom teachers, 30 days of snapshots) and the
Department officer's ranking of 3,500 schools (their totals and 30 days of snapshots each).

Runs the pages in-process through Django's handler (middleware, session, second factor, policy,
render) and prints one JSON object. The officer's trend reads the authority's daily sums (30
rows); ``trend_not_cached`` times the page with the cache emptied before every request (the
first visit of the day), which now costs the same.

    .venv/bin/python bench/dashboards.py [--requests 100] [--schools 3500] [--pupils 2000]

DATABASE_URL selects the engine (default: a fresh SQLite file under /tmp; a PostgreSQL database
must be empty). The data is built cheaply: the dashboards read stored quality state only, so the
school of the principal gets its pupils' record states (and totals summed from them) without
pupil records, and the other schools get a total and snapshots each — no millions of pupils.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLASS_SIZE = 40
DAYS = 30


def _counters(rng: random.Random, records: int, quality: float) -> dict[str, int]:
    """Plausible counters for ``records`` pupils of a school doing ``quality`` (0–1) well."""
    def share(low: float, high: float) -> int:
        return int(records * min(1.0, max(0.0, quality * rng.uniform(low, high))))

    required = records * 19
    return {"records": records, "required_total": required,
            "required_filled": int(required * min(1.0, 0.5 + quality / 2)),
            "errors": share(0.0, 0.2), "warnings": records * 3 - share(0.5, 2.0),
            "correct_ok": share(0.2, 0.8), "complete_ok": share(0.5, 1.0),
            "clean_ok": share(0.1, 0.6), "live_ok": share(0.6, 1.0)}


def build(schools: int, pupils: int, seed: int) -> tuple[Any, Any, int]:
    from django.db import transaction
    from django.utils import timezone

    from edureg.access.models import Membership, User
    from edureg.access.roles import Role
    from edureg.core.text import name_match_key, vietnamese_sort_key
    from edureg.quality.models import COUNTER_FIELDS, DailySnapshot, QualityTotal, RecordState
    from edureg.registry.attestation import authority_snapshots_take
    from edureg.registry.models import Assignment, Duty, SchoolClass, Staff
    from edureg.schools.models import Authority, School, SchoolYear

    rng = random.Random(seed)
    today = timezone.localdate()
    now = timezone.now()
    with transaction.atomic():
        authority = Authority.objects.create(code="SGD79", name="Sở GDĐT TP. Hồ Chí Minh",
                                             province_code="79",
                                             admin_units_version="2025-07-01")
        School.objects.bulk_create([
            School(authority=authority, code=f"T{n:05d}", name=f"Trường Tiểu học Số {n}",
                   level="tieu_hoc", ownership="public", commune_code="26734",
                   admin_units_version="2025-07-01") for n in range(schools)],
            batch_size=2000)
        school_ids = list(School.objects.order_by("pk").values_list("pk", flat=True))
        big = School.objects.get(pk=school_ids[0])
        year = SchoolYear.objects.create(school=big, start_year=2026,
                                         starts_on=dt.date(2026, 9, 5),
                                         ends_on=dt.date(2027, 5, 31))
        families = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ"]
        given = ["An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Khánh", "Linh", "Minh", "Ngọc"]
        classes = []
        for n in range(-(-pupils // CLASS_SIZE)):
            grade = 1 + n % 5
            name = f"Cô Thầy {families[n % 9]} Thị {given[n % 10]} {n}"
            teacher = Staff.objects.create(school=big, full_name=name,
                                           name_sort_key=vietnamese_sort_key(name),
                                           name_match_key=name_match_key(name))
            school_class = SchoolClass.objects.create(school=big, school_year=year,
                                                      name=f"{grade}A{n}", grade=grade,
                                                      homeroom_teacher=teacher)
            Assignment.objects.create(staff=teacher, school=big, school_year=year,
                                      duty=Duty.HOMEROOM, school_class=school_class,
                                      starts_on=dt.date(2026, 9, 5))
            classes.append(school_class)
        states = []
        for pupil in range(pupils):
            school_class = classes[pupil // CLASS_SIZE]
            filled = rng.randint(10, 19)
            states.append(RecordState(
                entity="student", record_id=10_000_000 + pupil, school_id=big.pk,
                class_id=school_class.pk, required_total=19, required_filled=filled,
                errors=int(rng.random() < 0.05), warnings=19 - filled,
                correct_ok=rng.random() < 0.4, complete_ok=filled == 19,
                clean_ok=rng.random() < 0.3, live_ok=rng.random() < 0.8,
                status_bits=rng.randint(0, 15), rule_set="bench", computed_at=now))
        RecordState.objects.bulk_create(states, batch_size=2000)
        totals = []
        per_class: dict[int | None, dict[str, int]] = {}
        for state in states:
            for key in (None, state.class_id):
                counters = per_class.setdefault(key, dict.fromkeys(COUNTER_FIELDS, 0))
                counters["records"] += 1
                for name in COUNTER_FIELDS[1:]:
                    counters[name] += int(getattr(state, name))
        for class_id, counters in per_class.items():
            totals.append(QualityTotal(school_id=big.pk, class_id=class_id, entity="student",
                                       **counters))
        quality = {pk: rng.uniform(0.3, 1.0) for pk in school_ids}
        sizes = {pk: rng.randint(150, 2000) for pk in school_ids}
        totals += [QualityTotal(school_id=pk, class_id=None, entity="student",
                                **_counters(rng, sizes[pk], quality[pk]))
                   for pk in school_ids[1:]]
        QualityTotal.objects.bulk_create(totals, batch_size=2000)
        snapshots = [
            DailySnapshot(school_id=pk, entity="student", day=today - dt.timedelta(days=back),
                          **_counters(rng, sizes[pk], quality[pk] * (1 - back / 100)))
            for pk in school_ids for back in range(DAYS)]
        DailySnapshot.objects.bulk_create(snapshots, batch_size=5000)
        for back in range(DAYS):  # what the daily job derives from them
            authority_snapshots_take(today - dt.timedelta(days=back))
        principal = User.objects.create(username="hieutruong", full_name="Trần Văn Hiệu")
        Membership.objects.create(user=principal, role=Role.PRINCIPAL, authority=authority,
                                  school=big, starts_on=dt.date(2020, 1, 1))
        officer = User.objects.create(username="canboso", full_name="Lê Thị Sở")
        Membership.objects.create(user=officer, role=Role.AUTHORITY_OFFICER,
                                  authority=authority, starts_on=dt.date(2020, 1, 1))
    return principal, officer, big.pk


def signed_in(user: Any) -> Any:
    """A client signed in with the second factor done (both roles require it)."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--schools", type=int, default=3500)
    parser.add_argument("--pupils", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="edureg-bench-dashboards-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
    os.environ.setdefault("EDUREG_VAR_DIR", workdir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "edureg.settings"
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    principal, officer, school_id = build(args.schools, args.pupils, args.seed)
    built_seconds = time.perf_counter() - started

    def measure(client: Any, url: str, check: str, *, cold_trend: bool = False,
                requests: int = args.requests) -> dict[str, float | int]:
        """Server time of ``requests`` requests; with ``cold_trend`` the cache is emptied
        before each one, so the authority's trend is summed from the snapshots every time."""
        for _ in range(5):  # warm caches: catalogue, rule set, session
            response = client.get(url)
            assert response.status_code == 200, response.status_code
        assert check in response.content.decode()
        timings = []
        for _ in range(requests):
            if cold_trend:
                cache.clear()
            began = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200
        if cold_trend:
            cache.clear()
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        timings.sort()
        return {
            "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 2),
            "max_ms": round(timings[-1], 2),
            "queries": len(queries.captured_queries),
            "html_kb": round(len(response.content) / 1024, 1),
        }

    result = {
        "benchmark": "dashboards",
        "engine": connection.vendor,
        "requests_each": args.requests,
        "build_seconds": round(built_seconds, 1),
        "school_dashboard": {
            "pupils": args.pupils, "classes": -(-args.pupils // CLASS_SIZE), "days": DAYS,
            **measure(signed_in(principal), f"/truong/{school_id}/chat-luong/", "<svg"),
        },
        "authority_dashboard": {
            "schools": args.schools, "days": DAYS,
            **measure(signed_in(officer), "/chat-luong/", "<svg"),
            "last_page": measure(signed_in(officer),
                                 "/chat-luong/?tieu_chi=dung&thu_tu=thap&trang=70", "<svg"),
            "trend_not_cached": measure(signed_in(officer), "/chat-luong/", "<svg",
                                        cold_trend=True,
                                        requests=max(10, args.requests // 5)),
        },
        "target_ms": 300,
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
