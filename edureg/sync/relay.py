"""The relay to the national sector database (ARCHITECTURE.md §6).

1. ``sync_intake``: the audit log is the outbox. Every event of a synced action (a pupil created,
   changed, transferred, merged, given an official id…) committed since the cursor becomes a
   ``SyncChange``; the cursor moves in the same transaction, so each event is taken in once.
   Appends to the log are serialised by the chain head, so every event up to the head's seq is
   committed when the head is read.
2. ``sync_push``: the pending changes that are due, oldest first, 500 at a time. Several changes
   of one record in a batch go up as one (its current state, under the newest change's id); the
   others are marked superseded when it is acknowledged. The batch is claimed with a lease
   before the network call (no call inside a transaction); a relay killed mid-call leaves the
   lease to expire and the same change ids go again — the upstream answers "duplicate", so the
   effect is exactly once. Transient errors retry with exponential backoff and jitter; a change
   the upstream refuses for good is parked with its field errors for the IT officer, who
   replays it after the fix (``sync_replay``). An official id issued for a temporary code is set
   on the same record.
3. Only the fields the ``upward`` data file allows go up, for its purpose, and only for persons
   that purpose may be processed for (``privacy.selectors.consents_valid``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from edureg.access.policy import Actor, get_scoped_or_404
from edureg.access.roles import Perm
from edureg.audit import actions
from edureg.audit.models import AuditEvent, ChainHead
from edureg.audit.services import CHAIN, audit_record
from edureg.privacy.selectors import consents_valid
from edureg.privacy.upward import UpwardRules, upward_rules
from edureg.quality.models import UpstreamPending
from edureg.registry.models import Enrolment, Student
from edureg.registry.quality import upstream_changed
from edureg.registry.services import STUDENT_CHANGE_ACTIONS, student_official_ids_set
from edureg.schools.models import School
from edureg.sync.models import SyncChange, SyncCursor, SyncStatus
from edureg.sync.upstream import upstream_sector_db
from edureg.sync.upstream.port import ChangeResult, RecordChange, UpstreamError

logger = logging.getLogger("edureg.sync")

CURSOR = "upstream"
SYNCED_ACTIONS: frozenset[str] = STUDENT_CHANGE_ACTIONS
BATCH = 500
INTAKE_LIMIT = 20_000  # events read per intake transaction
LEASE = dt.timedelta(seconds=60)
BACKOFF_CAP_SECONDS = 300.0
_STUDENT_COLUMNS = ("school_id", "education_id", "temporary_code", "merged_into_id")


# Row-by-row results in one statement each, executed as a batch by the driver: Django's
# ``bulk_update`` builds a CASE expression per field whose compilation alone took 1.2 s for 500
# rows (bench/sync_relay.py). The table name is the model's, never input.
_TABLE = SyncChange._meta.db_table
_ACK_SQL = (f"UPDATE {_TABLE} SET status = 'acked', attempts = %s, acked_at = %s, "  # noqa: S608
            "last_error = '' WHERE id = %s")
_INTAKE_SQL = (
    f"INSERT INTO {_TABLE} (seq, action, entity, record_id, school_id, "  # noqa: S608
    "committed_at, next_attempt_at, status, attempts, last_error, field_errors) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending', 0, '', '{}')")
_PENDING_TABLE = UpstreamPending._meta.db_table
_PENDING_SQL = (f"INSERT INTO {_PENDING_TABLE} (entity, record_id, since) "  # noqa: S608
                "VALUES (%s, %s, %s) ON CONFLICT (entity, record_id) DO NOTHING")
_RETRY_SQL = (f"UPDATE {_TABLE} SET attempts = %s, next_attempt_at = %s, "  # noqa: S608
              "last_error = %s WHERE id = %s")


def _db_time(moment: dt.datetime | None) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _execute_many(sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)


def sync_intake(*, limit: int = INTAKE_LIMIT) -> int:
    """Take in the synced events committed since the cursor; returns how many became changes."""
    head = ChainHead.objects.filter(name=CHAIN).values_list("seq", flat=True).first() or 0
    with transaction.atomic():
        cursor, _created = SyncCursor.objects.get_or_create(name=CURSOR)
        cursor = SyncCursor.objects.select_for_update().get(pk=cursor.pk)
        top = min(head, cursor.seq + limit)
        if top <= cursor.seq:
            return 0
        rows = (AuditEvent.objects
                .filter(seq__gt=cursor.seq, seq__lte=top, action__in=SYNCED_ACTIONS)
                .order_by("seq")
                .values_list("seq", "action", "entity", "entity_id", "school_id",
                             "occurred_at"))
        now = _db_time(timezone.now())
        changes = [
            (seq, action, entity, int(entity_id), school_id, _db_time(occurred_at), now)
            for seq, action, entity, entity_id, school_id, occurred_at in rows
            if entity_id.isdigit()
        ]
        _execute_many(_INTAKE_SQL, changes)
        _pending_mark(changes)
        cursor.seq = top
        cursor.save(update_fields=["seq"])
    return len(changes)


def _pending_mark(changes: Sequence[tuple[Any, ...]]) -> None:
    """The pupils of changes just taken in wait for the upstream: "sống" counts them."""
    first: dict[int, Any] = {}
    for _seq, _action, entity, record_id, _school, committed, _now in changes:
        if entity == "student":
            first.setdefault(record_id, committed)
    _execute_many(_PENDING_SQL, [("student", pk, since) for pk, since in first.items()])
    upstream_changed(dict.fromkeys(first, True))


def _pending_clear(records: Iterable[int]) -> None:
    """Of these pupils, those with no change left waiting or parked are up to date upstream."""
    candidates = set(records)
    if not candidates:
        return
    waiting = set(SyncChange.objects.filter(
        entity="student", record_id__in=candidates,
        status__in=(SyncStatus.PENDING, SyncStatus.PARKED)).values_list("record_id", flat=True))
    cleared = sorted(candidates - waiting)
    if cleared:
        UpstreamPending.objects.filter(entity="student", record_id__in=cleared).delete()
        upstream_changed(dict.fromkeys(cleared, False))


# --- Mapping (pure) ---------------------------------------------------------------------------

def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@dataclasses.dataclass(frozen=True)
class PlaceNow:
    """Where the pupil is now: the current enrolment's year, grade, class and status."""

    school_year: int
    grade: int
    class_name: str | None
    status_code: str


def student_upward(row: Mapping[str, Any], place: PlaceNow | None, school_code: str,
                   allowed: Sequence[str], sequence: int, change_id: str) -> RecordChange:
    """The pupil's current state (``row``: the record's columns) as the upstream receives it:
    the allowed fields, the current class and status, and what it was merged into."""
    fields: dict[str, str | None] = {name: _text(row[name]) for name in allowed}
    if place is not None:
        fields["school_year"] = str(place.school_year)
        fields["grade"] = str(place.grade)
        fields["class_name"] = place.class_name
        fields["status_code"] = place.status_code
    fields["merged_into"] = _text(row["merged_into_id"])
    return RecordChange(change_id=change_id, entity="student", record_id=int(row["id"]),
                        sequence=sequence, school_code=school_code,
                        education_id=row["education_id"] or None,
                        temporary_code=row["temporary_code"] or None, fields=fields)


# --- Pushing ----------------------------------------------------------------------------------

def _backoff(attempts: int) -> dt.timedelta:
    ceiling = min(BACKOFF_CAP_SECONDS, 2.0 ** min(attempts, 20))
    return dt.timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter


@dataclasses.dataclass(frozen=True)
class PushReport:
    sent: int = 0
    acked: int = 0
    superseded: int = 0
    parked: int = 0
    retrying: int = 0
    official_ids: int = 0

    def __add__(self, other: PushReport) -> PushReport:
        return PushReport(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                             for f in dataclasses.fields(self)})


def _claim(now: dt.datetime) -> list[SyncChange]:
    with transaction.atomic():
        due = list(SyncChange.objects.select_for_update()
                   .filter(status=SyncStatus.PENDING, next_attempt_at__lte=now)
                   .order_by("seq")[:BATCH])
        if due:
            SyncChange.objects.filter(pk__in=[c.pk for c in due]).update(
                next_attempt_at=now + LEASE)
    return due


def _current(records: Iterable[int]) -> tuple[dict[int, dict[str, Any]], dict[int, PlaceNow],
                                               dict[int, str]]:
    """The records' columns, current places and school codes, as plain values (no model
    instances: this runs for 500 records per batch)."""
    columns = ("id", *_STUDENT_COLUMNS, *upward_rules().allowed("student"))
    students = {row["id"]: row for row in
                Student.objects.filter(pk__in=list(records)).values(*columns)}
    places: dict[int, PlaceNow] = {}
    for student_id, year, grade, class_name, status in (
            Enrolment.objects.filter(student_id__in=list(students), ended_on__isnull=True)
            .order_by("started_on")
            .values_list("student_id", "school_year__start_year", "grade",
                         "school_class__name", "status_code")):
        places[student_id] = PlaceNow(school_year=year, grade=grade, class_name=class_name,
                                      status_code=status)
    codes = dict(School.objects.filter(pk__in={s["school_id"] for s in students.values()})
                 .values_list("pk", "code"))
    return students, places, codes


def _park(change: SyncChange, reason: str, field_errors: Mapping[str, str], now: dt.datetime,
          ) -> None:
    change.status, change.last_error = SyncStatus.PARKED, reason[:300]
    change.field_errors = dict(field_errors)
    change.save(update_fields=["status", "last_error", "field_errors"])
    audit_record(actor=None, action=actions.SYNC_PARKED, entity=change.entity,
                 entity_id=change.record_id, school_id=change.school_id,
                 data={"change": change.change_id, "fields": sorted(field_errors),
                       "reason": reason[:300]})


def sync_push(*, now: dt.datetime | None = None) -> PushReport:
    """Push one batch of due changes; returns what happened to it."""
    now = now or timezone.now()
    due = _claim(now)
    if not due:
        return PushReport()
    rules = upward_rules()
    newest: dict[tuple[str, int], SyncChange] = {}
    for change in due:
        newest[(change.entity, change.record_id)] = change  # ordered by seq: the last wins
    heads = list(newest.values())
    older = [c for c in due if newest[(c.entity, c.record_id)] is not c]
    students, places, codes = _current(c.record_id for c in heads if c.entity == "student")
    allowed_ids = consents_valid(subject_entity="student", subject_ids=list(students),
                                 purpose=rules.purpose)
    outgoing: list[RecordChange] = []
    sending: list[SyncChange] = []
    refused: list[tuple[SyncChange, str]] = []
    for change in heads:
        student = students.get(change.record_id) if change.entity == "student" else None
        if student is None:
            refused.append((change, _("Không có hồ sơ để gửi (đối tượng chưa được "
                                      "đồng bộ).")))
        elif change.record_id not in allowed_ids:
            refused.append((change, _("Mục đích %(purpose)s không được xử lý cho người này "
                                      "(chưa có hoặc đã rút sự đồng ý).") % {
                                          "purpose": rules.purpose}))
        else:
            outgoing.append(student_upward(
                student, places.get(change.record_id), codes.get(student["school_id"], ""),
                rules.allowed("student"), change.seq, change.change_id))
            sending.append(change)
    results: list[ChangeResult] = []
    error: UpstreamError | None = None
    if outgoing:
        try:
            results = upstream_sector_db().push(outgoing)
        except UpstreamError as failure:
            error = failure
    return _record(now, sending, outgoing, results, error, older, refused, newest, rules)


def _record(now: dt.datetime, sending: list[SyncChange], outgoing: list[RecordChange],
            results: list[ChangeResult], error: UpstreamError | None, older: list[SyncChange],
            refused: list[tuple[SyncChange, str]],
            newest: Mapping[tuple[str, int], SyncChange], rules: UpwardRules) -> PushReport:
    acked = superseded = parked = retrying = official = 0
    issued: list[tuple[int, str]] = []
    with transaction.atomic():
        for change, reason in refused:
            _park(change, reason, {}, now)
            parked += 1
        if error is not None:
            after = timezone.now()  # the adapter's own retries took time: back off from now
            detail = str(getattr(error, "detail", "") or type(error).__name__)[:300]
            for change in [*sending, *older]:
                change.attempts += 1
                change.next_attempt_at = after + _backoff(change.attempts)
                change.last_error = detail
            _execute_many(_RETRY_SQL, [
                (c.attempts, _db_time(c.next_attempt_at), c.last_error, c.pk)
                for c in [*sending, *older]])
            retrying = len(sending) + len(older)
            logger.warning("upstream push failed for %d changes (permanent=%s, status=%s)",
                           len(sending), error.permanent, error.status)
        else:
            done: list[SyncChange] = []
            for change, sent, result in zip(sending, outgoing, results, strict=True):
                change.attempts += 1
                if result.status in ("accepted", "duplicate", "stale"):
                    change.status, change.acked_at = SyncStatus.ACKED, result.acknowledged_at
                    change.last_error = ""
                    done.append(change)
                    if (result.education_id and not sent.education_id
                            and sent.temporary_code):
                        issued.append((change.record_id, result.education_id))
                else:
                    change.save(update_fields=["attempts"])
                    _park(change, _("CSDL ngành từ chối hồ sơ."), result.field_errors, now)
                    parked += 1
            _execute_many(_ACK_SQL, [(c.attempts, _db_time(c.acked_at), c.pk) for c in done])
            acked = len(done)
            # The newest change of a record carried its current state, so the record's older
            # changes in the batch are done whatever its answer (refused, it is what gets
            # replayed); acknowledged, it also settles the record's earlier refused changes
            # (the record was fixed since).
            newest_seq = {(c.entity, c.record_id): c.seq for c in done}
            finished = [c.pk for c in older]
            for pk, entity, record_id, seq in SyncChange.objects.filter(
                    status=SyncStatus.PARKED,
                    record_id__in=[record for _entity, record in newest_seq]).values_list(
                    "pk", "entity", "record_id", "seq"):
                if seq < newest_seq.get((entity, record_id), -1):
                    finished.append(pk)
            superseded = SyncChange.objects.filter(pk__in=finished).update(
                status=SyncStatus.SUPERSEDED, acked_at=now)
            # The audit chain's head is locked before the quality state, the order every
            # edit takes them in (the other order deadlocked with a pupil's edit).
            if acked:
                audit_record(actor=None, action=actions.SYNC_ACKNOWLEDGED, entity="sync",
                             data={"changes": len(sending), "acked": acked,
                                   "rules": rules.version})
            _pending_clear(c.record_id for c in done if c.entity == "student")
    official = len(student_official_ids_set(issued, source="upstream"))
    return PushReport(sent=len(sending), acked=acked, superseded=superseded, parked=parked,
                      retrying=retrying, official_ids=official)


def sync_run_once(*, max_batches: int = 1000) -> PushReport:
    """Take in what is new, then push until nothing is due (or ``max_batches``)."""
    sync_intake()
    report = PushReport()
    for _batch in range(max_batches):
        step = sync_push()
        report = report + step
        if step.sent == 0 and step.parked == 0:
            break
        if step.retrying:
            break
    return report


@task()
def sync_relay_task() -> dict[str, Any]:
    return dataclasses.asdict(sync_run_once())


ENQUEUE_EVERY = dt.timedelta(seconds=2)


def sync_enqueue(*, now: dt.datetime | None = None) -> bool:
    """Take in new synced events, then give the task worker a relay run when changes are due,
    at most every ``ENQUEUE_EVERY`` (``edureg schedule`` asks every turn). A run that finds its
    work taken by another does nothing: changes are claimed under a lease."""
    sync_intake()
    now = now or timezone.now()
    with transaction.atomic():
        cursor, _created = SyncCursor.objects.get_or_create(name=CURSOR)
        cursor = SyncCursor.objects.select_for_update().get(pk=cursor.pk)
        if cursor.enqueued_at is not None and now - cursor.enqueued_at < ENQUEUE_EVERY:
            return False
        if not SyncChange.objects.filter(status=SyncStatus.PENDING,
                                         next_attempt_at__lte=now).exists():
            return False
        cursor.enqueued_at = now
        cursor.save(update_fields=["enqueued_at"])
        sync_relay_task.enqueue()
    return True


# --- The IT officer's replay ------------------------------------------------------------------

def sync_replay(*, actor: Actor, change_id: int) -> SyncChange:
    """Send a parked change again (after the record was fixed): it goes back to pending."""
    change = SyncChange.objects.filter(pk=change_id).first()
    if change is None or change.school_id is None:
        raise Http404
    get_scoped_or_404(School.objects.all(), actor, Perm.SYNC_MANAGE, pk=change.school_id)
    with transaction.atomic():
        locked = SyncChange.objects.select_for_update().get(pk=change.pk)
        if locked.status != SyncStatus.PARKED:
            return locked
        now = timezone.now()
        locked.status, locked.next_attempt_at = SyncStatus.PENDING, now
        locked.replayed_at, locked.replayed_by_id = now, actor.pk
        locked.save(update_fields=["status", "next_attempt_at", "replayed_at", "replayed_by"])
        audit_record(actor=actor, action=actions.SYNC_PUSHED, entity=locked.entity,
                     entity_id=locked.record_id, school_id=locked.school_id,
                     data={"change": locked.change_id, "replay": True})
    return locked


# --- Lag: the "sống" promise ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SyncLag:
    """Commit-to-acknowledgement lag of the changes acknowledged in the window, the backlog,
    and the oldest change still waiting (for a set of schools)."""

    acked: int
    p50_seconds: float | None
    p95_seconds: float | None
    backlog: int
    parked: int
    oldest_pending: dt.datetime | None


def _percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def sync_lag(*, school_ids: Iterable[int], window: dt.timedelta = dt.timedelta(days=1),
             now: dt.datetime | None = None) -> SyncLag:
    now = now or timezone.now()
    schools = list(school_ids)
    changes = SyncChange.objects.filter(school_id__in=schools)
    lags = sorted(
        (acked - committed).total_seconds()
        for committed, acked in changes.filter(status=SyncStatus.ACKED,
                                               acked_at__gte=now - window)
        .values_list("committed_at", "acked_at") if acked is not None)
    pending = changes.filter(status=SyncStatus.PENDING)
    oldest = pending.order_by("committed_at").values_list("committed_at", flat=True).first()
    return SyncLag(acked=len(lags), p50_seconds=_percentile(lags, 0.5),
                   p95_seconds=_percentile(lags, 0.95), backlog=pending.count(),
                   parked=changes.filter(status=SyncStatus.PARKED).count(),
                   oldest_pending=oldest)
