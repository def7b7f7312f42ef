"""Seeding a database with demo data: one authority, its schools, staff, pupils and families.

A run writes raw bulk inserts, one transaction per chunk of schools, and leaves a single audit
event (``seed.bulk_load``) with the counts. Only an empty database is seeded: when the demo
authority already exists the run changes nothing, unless ``reset`` is asked for.

``reset`` deletes the demo data in dependency order, and only when the database holds nothing
else that matters: no other authority, and no audit events except those of earlier seed runs
(after real use the chain must not lose the events that refer to seeded people). The audit
chain itself is never rewritten; the reset appends a ``seed.reset`` event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from pathlib import Path
from queue import Full
from typing import Final

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from edureg.access.models import Membership, User
from edureg.audit.models import AuditEvent
from edureg.audit.services import audit_record
from edureg.core.codelists import get_list
from edureg.registry.models import (
    Assignment,
    Enrolment,
    EnrolmentStatusChange,
    Guardian,
    SchoolClass,
    Staff,
    Student,
    StudentGuardian,
)
from edureg.schools.models import Authority, School, SchoolYear
from edureg.seeding.generator import Batch, CodeLists, DemoLogin, GenerationPlan, generate
from edureg.seeding.loader import id_bases, make_writer, table_specs, timestamp_value
from edureg.seeding.options import SeedOptionError, SeedOptions
from edureg.seeding.register import RegisterWriter

__all__ = [
    "AUTHORITY_CODE",
    "SeedRefusedError",
    "SeedResult",
    "current_start_year",
    "seed_database",
]

AUTHORITY_CODE: Final = "SGD79"
AUTHORITY_NAME: Final = "Sở Giáo dục và Đào tạo Thành phố Hồ Chí Minh"
AUTHORITY_PROVINCE_NAME: Final = "Hồ Chí Minh"
# Below this many pupils a separate generator process costs more than it saves.
_PARALLEL_THRESHOLD: Final = 50_000
_CODE_LISTS: Final = (
    "province", "commune", "legacy_province", "legacy_district", "legacy_ward",
    "school_level", "subject", "job_position", "enrolment_status", "guardian_relation",
    "sex", "ethnicity", "religion", "nationality", "disability", "policy_group",
    "position_group", "employment_status", "qualification", "preschool_age_group",
)


class SeedRefusedError(Exception):
    """The database is not one the seed may change; ``message`` says why, in Vietnamese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class SeedResult:
    created: bool
    message: str
    counts: dict[str, int] = field(default_factory=dict)
    demo_logins: tuple[DemoLogin, ...] = ()
    demo_password: str = ""
    seconds: float = 0.0
    engine: str = ""


def current_start_year(today: dt.date) -> int:
    """School years start in September; from August the coming year is the current one."""
    return today.year if today.month >= 8 else today.year - 1


def _code_lists() -> CodeLists:
    loaded = {name: get_list(name) for name in _CODE_LISTS}
    return CodeLists(
        province=loaded["province"], commune=loaded["commune"],
        legacy_province=loaded["legacy_province"], legacy_district=loaded["legacy_district"],
        legacy_ward=loaded["legacy_ward"], school_level=loaded["school_level"],
        subject=loaded["subject"], job_position=loaded["job_position"],
        enrolment_status=loaded["enrolment_status"],
        guardian_relation=loaded["guardian_relation"],
        preschool_age_group=loaded["preschool_age_group"],
        versions={name: code_list.version for name, code_list in loaded.items()},
    )


def _demo_password_hash(password: str, seed: int) -> str:
    # One argon2 hash for every demo account (hashing per account would take hours). The salt
    # comes from the seed so that a run is reproducible row for row; the password is printed
    # for anyone to use, so a predictable salt hides nothing.
    salt = hashlib.sha256(f"edureg-seed-{seed}".encode()).hexdigest()[:22]
    return make_password(password, salt=salt)


def _check_demo_password(password: str) -> None:
    try:
        validate_password(password)
    except ValidationError as error:
        raise SeedOptionError(
            "--demo-password",
            "--demo-password không đạt yêu cầu mật khẩu: " + " ".join(error.messages)
            + " Hãy chọn mật khẩu khác.",
        ) from error


def seed_database(options: SeedOptions,
                  *, progress: Callable[[str], None] | None = None) -> SeedResult:
    """Seed an empty database (or, with ``reset``, a database holding only demo data)."""
    options.validate()
    _check_demo_password(options.demo_password)
    report = progress or (lambda _message: None)
    engine = connection.vendor
    existing = Authority.objects.filter(code=AUTHORITY_CODE).first()
    if existing is not None and not options.reset:
        return SeedResult(
            created=False, engine=engine,
            message=(f"Đã có dữ liệu mẫu ({existing.name}); không thay đổi gì. "
                     "Dùng --reset để xoá và tạo lại."),
        )
    started = time.perf_counter()
    if existing is not None:
        deleted = _reset(existing)
        report(f"Đã xoá dữ liệu mẫu cũ: {deleted} dòng.")
    lists = _code_lists()
    province = lists.province.match(AUTHORITY_PROVINCE_NAME)
    if province is None:
        raise SeedRefusedError("Không tìm thấy Thành phố Hồ Chí Minh trong danh mục tỉnh.")
    today = timezone.localdate()
    start_year = current_start_year(today)
    specs = table_specs()
    vietnam = dt.timezone(dt.timedelta(hours=7))
    plan = GenerationPlan(
        seed=options.seed, schools=options.schools,
        students_per_school=options.students_per_school, rates=options.rates,
        start_year=start_year, province_code=province.code, authority_code=AUTHORITY_CODE,
        authority_name=AUTHORITY_NAME, id_bases=id_bases(specs),
        demo_password_hash=_demo_password_hash(options.demo_password, options.seed),
        timestamp=timestamp_value(dt.datetime(start_year, 8, 1, 8, 0, tzinfo=vietnam)),
        chunk_students=options.chunk_students,
        subject_code_max_length=Assignment._meta.get_field("subject_code").max_length or 20,
    )
    total_students = options.schools * options.students_per_school
    parallel = (options.parallel if options.parallel is not None
                else total_students >= _PARALLEL_THRESHOLD)
    writer = make_writer(specs)
    counts: dict[str, int] = {}
    logins: list[DemoLogin] = []
    run_info = {
        "seed": options.seed, "schools": options.schools,
        "students_per_school": options.students_per_school, "start_year": start_year,
        "rates": options.rates.as_dict(), "code_versions": lists.versions,
    }
    source = _Source(plan, lists, options.register_path, run_info)
    writer.prepare()
    try:
        for batch in _batches(source, parallel=parallel):
            with transaction.atomic():
                writer.write(batch.rows)
            _add_counts(counts, batch)
            logins.extend(batch.demo_logins)
            report(f"… {counts.get('registry.Student', 0):,} học sinh "
                   f"({time.perf_counter() - started:.0f} giây)")
    except BaseException:
        writer.abort()
        raise
    writer.finish()
    authority_id = plan.id_bases["schools.Authority"]
    with transaction.atomic():
        audit_record(
            actor=None, action="seed.bulk_load", entity="schools.authority",
            entity_id=authority_id,
            data={"seed": options.seed, "schools": options.schools,
                  "students_per_school": options.students_per_school,
                  "start_year": start_year, "rates": options.rates.as_dict(),
                  "counts": counts, "code_versions": lists.versions},
        )
    return SeedResult(
        created=True, engine=engine, counts=counts, demo_logins=tuple(logins),
        demo_password=options.demo_password, seconds=time.perf_counter() - started,
        message=f"Đã tạo dữ liệu mẫu cho {AUTHORITY_NAME}.",
    )


def _add_counts(counts: dict[str, int], batch: Batch) -> None:
    for label, rows in batch.rows.items():
        counts[label] = counts.get(label, 0) + len(rows)
    for key, value in batch.register_counts.items():
        counts[key] = counts.get(key, 0) + value


@dataclass(frozen=True, slots=True)
class _Source:
    """Generation plus the register file: the half of the work that runs beside the writer."""

    plan: GenerationPlan
    lists: CodeLists
    register_path: Path
    run_info: dict[str, object]

    def batches(self) -> Iterator[Batch]:
        register = RegisterWriter(self.register_path)
        totals: dict[str, int] = {}
        try:
            for batch in generate(self.plan, self.lists):
                register.write(batch.persons, batch.problems)
                tally = {"register.person": len(batch.persons),
                         "register.planted_problem": len(batch.problems)}
                for kind, *_rest in batch.problems:
                    tally[f"problem.{kind}"] = tally.get(f"problem.{kind}", 0) + 1
                # The writer needs only the counts; not shipping the rows saves pickling.
                batch.register_counts = tally
                batch.persons = []
                batch.problems = []
                _add_counts(totals, batch)
                yield batch
        except BaseException:
            register.abort()
            raise
        register.finish({**self.run_info, "counts": totals})


def _batches(source: _Source, *, parallel: bool) -> Iterator[Batch]:
    """Generated batches; with ``parallel``, generated in a child process while we write.

    The generator is one sequential stream either way, so the rows do not depend on it.
    """
    if not parallel:
        yield from source.batches()
        return
    context = multiprocessing.get_context("fork")
    queue: Queue[Batch | str | None] = context.Queue(maxsize=2)
    process = context.Process(target=_produce, args=(source, queue, os.getpid()), daemon=True)
    process.start()
    try:
        while True:
            item = queue.get()
            if item is None:
                break
            if isinstance(item, str):
                raise RuntimeError(f"seed generator failed:\n{item}")
            yield item
        process.join()
    finally:
        if process.is_alive():
            process.terminate()
            process.join()


def _produce(source: _Source, queue: Queue[Batch | str | None], parent: int) -> None:
    def put(item: Batch | str | None) -> bool:
        # A writer killed without cleanup must not leave this process blocked forever.
        while os.getppid() == parent:
            try:
                queue.put(item, timeout=5)
            except Full:
                continue
            return True
        return False

    try:
        for batch in source.batches():
            if not put(batch):
                return
    except Exception:
        put(traceback.format_exc())
        return
    put(None)


# Children before parents. Users are deleted separately: only those the seed created.
_RESET_ORDER: Final = (
    EnrolmentStatusChange, Enrolment, StudentGuardian, Guardian, Student, Assignment,
    Membership, SchoolClass, Staff, SchoolYear, School, Authority,
)


def _reset(authority: Authority) -> int:
    others = Authority.objects.exclude(pk=authority.pk).exists()
    foreign_events = AuditEvent.objects.exclude(action__startswith="seed.").exists()
    if others or foreign_events:
        raise SeedRefusedError(
            "Không thể --reset: cơ sở dữ liệu có dữ liệu ngoài dữ liệu mẫu "
            "(đơn vị khác hoặc nhật ký hoạt động). Hãy dùng một cơ sở dữ liệu mới."
        )
    quote = connection.ops.quote_name
    deleted = 0
    with transaction.atomic():
        user_ids = sorted(
            set(Membership.objects.values_list("user_id", flat=True))
            | set(Staff.objects.filter(user__isnull=False).values_list("user_id", flat=True))
        )
        with connection.cursor() as cursor:
            for model in _RESET_ORDER:
                cursor.execute(f"DELETE FROM {quote(model._meta.db_table)}")  # noqa: S608
                deleted += max(cursor.rowcount, 0)
            for start in range(0, len(user_ids), 5000):
                chunk = user_ids[start:start + 5000]
                deleted += User.objects.filter(pk__in=chunk).delete()[0]
        audit_record(actor=None, action="seed.reset", entity="schools.authority",
                     entity_id=authority.pk, data={"deleted_rows": deleted})
    return deleted
