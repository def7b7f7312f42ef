"""The consent check on the sharing/sync hot path; prints one JSON object.

    .venv/bin/python bench/consent_check.py [--students 20000] [--checks 5000] [--seed 1]
    DATABASE_URL=sqlite:////path/to/db.sqlite3 .venv/bin/python bench/consent_check.py

Without ``DATABASE_URL`` a temporary SQLite database is migrated and seeded with ``--students``
pupils (``edureg.seeding``); with it, the (migrated, seeded) database is used as it is. When the
database holds no consent yet, consents for photos (``anh_truyen_thong``) are filled in bulk for
60 % of the pupils, a fifth of them withdrawn — proofs and their stored state, as the services
write them, minus the audit events. Then it times ``privacy.selectors.consent_valid`` for
``--checks`` pupils drawn at random (one person at a time: a service's check) and
``consents_valid`` over the same pupils in batches of 1,000 (sync and sharing), and reports
microseconds per person. The target is ≤ 1,000 µs per person.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PURPOSE = "anh_truyen_thong"
BATCH = 1000


def _seed(students: int, seed: int) -> None:
    from django.conf import settings
    from django.core.management import call_command

    from edureg.seeding.options import SeedOptions
    from edureg.seeding.services import seed_database

    call_command("migrate", verbosity=0, interactive=False)
    per_school = min(students, 1000)
    result = seed_database(SeedOptions(
        schools=max(1, students // per_school), students_per_school=per_school, seed=seed,
        register_path=Path(settings.EDUREG_REGISTER_SIM_DB)))
    if not result.created:
        raise SystemExit(json.dumps({"error": result.message}, ensure_ascii=False))


def _fill(rng: random.Random) -> int:
    """Consents for photos for 60 % of the pupils (a fifth withdrawn), with their state."""
    from django.db import transaction
    from django.utils import timezone

    from edureg.access.models import User
    from edureg.privacy.models import Consent, ConsentState, ConsentStatus
    from edureg.privacy.purposes import purposes_in_force
    from edureg.registry.models import Student

    purpose = purposes_in_force().get(PURPOSE)
    assert purpose is not None
    recorder = User.objects.get_or_create(username="bench-consent",
                                          defaults={"full_name": "Bench"})[0]
    now = timezone.now()
    filled = 0
    rows = Student.objects.order_by("pk").values_list("pk", "school_id").iterator(chunk_size=5000)
    chunk: list[tuple[int, int]] = []

    def flush() -> int:
        picked = [(pk, school) for pk, school in chunk if rng.random() < 0.6]
        consents = [Consent(
            subject_entity="student", subject_id=pk, school_id=school, purpose=PURPOSE,
            purposes_version="2026.1", notice_version=purpose.notice_version,
            subject_agreed=True, guardian=None, channel="phieu_giay",
            evidence_reference="bench", given_on=now.date(), recorded_at=now,
            recorded_by=recorder) for pk, school in picked]
        withdrawn = [rng.random() < 0.2 for _ in picked]
        for consent, out in zip(consents, withdrawn, strict=True):
            if out:
                consent.withdrawn_at, consent.withdrawn_on = now, now.date()
                consent.withdrawn_by_subject, consent.withdrawal_channel = True, "phieu_giay"
        with transaction.atomic():
            Consent.objects.bulk_create(consents)
            ConsentState.objects.bulk_create(ConsentState(
                purpose=PURPOSE, subject_entity="student", subject_id=c.subject_id,
                status=ConsentStatus.WITHDRAWN if out else ConsentStatus.GIVEN, consent=c,
                changed_at=now) for c, out in zip(consents, withdrawn, strict=True))
        return len(consents)

    for row in rows:
        chunk.append(row)
        if len(chunk) == 5000:
            filled += flush()
            chunk = []
    if chunk:
        filled += flush()
    return filled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    seeded_here = "DATABASE_URL" not in os.environ
    if seeded_here:
        workdir = Path(tempfile.mkdtemp(prefix="edureg-bench-consent-", dir="/tmp"))
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
        os.environ.setdefault("EDUREG_REGISTER_SIM_DB", str(workdir / "register.sqlite3"))
        os.environ.setdefault("EDUREG_VAR_DIR", str(workdir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edureg.settings")
    import django

    django.setup()
    from django.db import connection

    from edureg.privacy.models import ConsentState, ConsentStatus
    from edureg.privacy.selectors import consent_valid, consents_valid
    from edureg.registry.models import Student

    rng = random.Random(args.seed)
    if seeded_here:
        _seed(args.students, args.seed)
    filled = _fill(rng) if not ConsentState.objects.exists() else 0
    ids = list(Student.objects.values_list("pk", flat=True))
    sample = [rng.choice(ids) for _ in range(args.checks)]
    consent_valid(subject_entity="student", subject_id=sample[0], purpose=PURPOSE)  # warm

    single: list[float] = []
    allowed = 0
    for pk in sample:
        started = time.perf_counter()
        allowed += consent_valid(subject_entity="student", subject_id=pk, purpose=PURPOSE)
        single.append((time.perf_counter() - started) * 1e6)
    started = time.perf_counter()
    bulk_allowed = 0
    for start in range(0, len(sample), BATCH):
        bulk_allowed += len(consents_valid(subject_entity="student",
                                           subject_ids=sample[start:start + BATCH],
                                           purpose=PURPOSE))
    bulk_seconds = time.perf_counter() - started
    single.sort()
    print(json.dumps({
        "benchmark": "consent_check",
        "database": connection.vendor,
        "students": len(ids),
        "consent_states": ConsentState.objects.count(),
        "given": ConsentState.objects.filter(status=ConsentStatus.GIVEN).count(),
        "filled_by_bench": filled,
        "persons_checked": len(sample),
        "allowed": allowed,
        "single_us_per_person_p50": round(statistics.median(single), 1),
        "single_us_per_person_p95": round(single[int(len(single) * 0.95) - 1], 1),
        "single_us_per_person_max": round(single[-1], 1),
        "bulk_batch": BATCH,
        "bulk_us_per_person": round(bulk_seconds * 1e6 / len(sample), 1),
        "bulk_allowed_distinct_per_batch_sum": bulk_allowed,
        "target_us_per_person": 1000,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
