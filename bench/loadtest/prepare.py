"""Django-side set-up of a load test, run by ``run.py`` in a subprocess with the test's
environment (DATABASE_URL, EDUREG_VAR_DIR, …):

    python bench/loadtest/prepare.py seed --schools 5 --students-per-school 1000
    python bench/loadtest/prepare.py accounts --out accounts.json [--teachers 400] …

``seed`` migrates and seeds the database unless it already holds the seeded authority.
``accounts`` makes the accounts the simulated users sign in with usable: seeding gives the
demo password only to the first school's staff (the others get an unusable password and must
change it), so the chosen accounts get the demo password hash and, for roles that need a
second factor, a confirmed TOTP device whose key the load generator knows. The accounts are
spread over all schools. It writes them, with their classes and schools, as JSON, and the
intake workbooks the IT officers upload.

This is bench set-up on a throwaway database, hence plain ORM writes rather than services.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edureg.settings")
T = TypeVar("T")


def totp_key(username: str) -> str:
    """The TOTP key (hex, 20 bytes) of a load-test account; the locust file derives the same."""
    return hashlib.sha1(f"edureg-loadtest:{username}".encode()).hexdigest()  # noqa: S324


def _seed(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from edureg.schools.models import Authority
    from edureg.seeding.options import SeedOptions
    from edureg.seeding.services import AUTHORITY_CODE, seed_database

    call_command("migrate", verbosity=0, interactive=False)
    authority = Authority.objects.filter(code=AUTHORITY_CODE).first()
    if authority is not None:
        print(json.dumps({"seeded": False, "reason": "already seeded",
                          "schools": authority.schools.count()}))
        return 0
    result = seed_database(SeedOptions(
        schools=args.schools, students_per_school=args.students_per_school, seed=args.seed,
        register_path=Path(settings.EDUREG_REGISTER_SIM_DB),
    ))
    if not result.created:
        print(json.dumps({"error": result.message}, ensure_ascii=False))
        return 1
    print(json.dumps({"seeded": True, "students": result.counts["registry.Student"],
                      "schools": result.counts["schools.School"]}))
    return 0


def _spread(items: list[T], count: int) -> list[T]:
    """Up to ``count`` items taken evenly across the list (so across schools, in pk order)."""
    if len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(index * step)] for index in range(count)]


def _accounts(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.db import transaction
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from edureg.access.models import Membership, User
    from edureg.access.roles import Role
    from edureg.registry.models import SchoolClass
    from edureg.schools.models import Authority
    from edureg.seeding.services import AUTHORITY_CODE

    authority = Authority.objects.get(code=AUTHORITY_CODE)
    first_school = authority.schools.order_by("pk").first()
    assert first_school is not None
    demo_hash = (User.objects.filter(memberships__school=first_school)
                 .values_list("password", flat=True).first())
    assert demo_hash is not None
    assert not demo_hash.startswith("!")

    classes = list(
        SchoolClass.objects.filter(school__authority=authority,
                                   homeroom_teacher__user__isnull=False)
        .order_by("school_id", "pk")
        .values("pk", "school_id", "homeroom_teacher__user__username"))
    teachers = [{"username": row["homeroom_teacher__user__username"], "class_id": row["pk"],
                 "school_id": row["school_id"]}
                for row in _spread(classes, args.teachers)]

    def by_role(role: Role, count: int,
                schools: list[int] | None = None) -> list[dict[str, object]]:
        memberships = Membership.objects.filter(authority=authority, role=role,
                                                ends_on__isnull=True)
        if schools is not None:
            memberships = memberships.filter(school_id__in=schools)
        rows = list(memberships.order_by("school_id", "pk")
                    .values("user__username", "school_id", "school__code"))
        return [{"username": row["user__username"], "school_id": row["school_id"],
                 "school_code": row["school__code"]} for row in _spread(rows, count)]

    principals = (by_role(Role.PRINCIPAL, args.principals)
                  + by_role(Role.VICE_PRINCIPAL, args.principals))
    # Imports go to the first school: sample workbooks of a school's own pupils can only be
    # written for the seeded demo school (edureg seed --export-workbook --school).
    it_officers = by_role(Role.IT_OFFICER, 1, schools=[first_school.pk])
    usernames = {row["username"] for row in [*teachers, *principals, *it_officers]}
    two_factor = {row["username"] for row in [*principals, *it_officers]}
    with transaction.atomic():
        User.objects.filter(username__in=usernames).update(
            password=demo_hash, must_change_password=False, is_active=True)
        users = {user.username: user for user in User.objects.filter(username__in=two_factor)}
        TOTPDevice.objects.filter(user__in=users.values()).delete()
        TOTPDevice.objects.bulk_create([
            TOTPDevice(user=user, name="loadtest", confirmed=True, key=totp_key(username),
                       step=30, t0=0, digits=6, tolerance=1)
            for username, user in users.items()])

    workbooks = [str(path) for path in _workbooks(first_school.code, Path(args.out).parent,
                                                  args.workbooks)]
    out = Path(args.out)
    out.write_text(json.dumps({
        "teachers": teachers, "principals": principals, "it_officers": it_officers,
        "workbooks": workbooks, "totp_prefix": "edureg-loadtest:",
    }, ensure_ascii=False, indent=1))
    print(json.dumps({"teachers": len(teachers), "principals": len(principals),
                      "it_officers": len(it_officers), "workbooks": len(workbooks)}))
    return 0


def _workbooks(school_code: str, folder: Path, count: int) -> list[Path]:
    """Exports of the demo school, one grade each (the small file a school sends when a grade's
    lists change), from ``school_export_rows``: its pupils with a few moved, phones edited and
    new pupils. The seeded data carries junk guardian phones on purpose, which the intake
    rightly refuses; here they are blanked, as the IT officer would fix them before uploading,
    so that each dry run can be committed."""
    from django.utils import timezone

    from edureg.core.phone import PhoneError, normalise_phone
    from edureg.intake.source import Kind
    from edureg.seeding.workbook import school_export_rows, write_export_workbook

    today = timezone.localdate()
    paths = []
    for number in range(count):
        path = folder / f"workbook-{number + 1}.xlsx"
        paths.append(path)
        if path.exists():
            continue
        school, rows, _expected = school_export_rows(school_code, kind=Kind.STUDENT,
                                                     seed=1000 + number, today=today)
        grades = sorted({row["grade"] for row in rows if isinstance(row["grade"], int)})
        grade = grades[number % len(grades)]
        chosen = [dict(row) for row in rows if row["grade"] == grade]
        for row in chosen:
            for field in ("phone", "father_phone", "mother_phone"):
                value = row.get(field)
                if value:
                    try:
                        normalise_phone(str(value))
                    except PhoneError:
                        row[field] = None
        write_export_workbook(path, kind=Kind.STUDENT, rows=chosen, school_name=school.name,
                              today=today, seed=1000 + number)
        path.chmod(0o600)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    seed = sub.add_parser("seed")
    seed.add_argument("--schools", type=int, default=5)
    seed.add_argument("--students-per-school", type=int, default=1000)
    seed.add_argument("--seed", type=int, default=1)
    accounts = sub.add_parser("accounts")
    accounts.add_argument("--out", required=True)
    accounts.add_argument("--teachers", type=int, default=400)
    accounts.add_argument("--principals", type=int, default=100)
    accounts.add_argument("--workbooks", type=int, default=3)
    args = parser.parse_args()
    return _seed(args) if args.action == "seed" else _accounts(args)


if __name__ == "__main__":
    raise SystemExit(main())
