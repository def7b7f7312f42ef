"""Identity verification: sending persons to the population register and storing its answers.

Requests (one person, a class, a school, the whole authority, or the persons whose identity
fields changed) mark the persons ``sent`` in a job, in one transaction with its audit event,
and enqueue the job on commit. ``job_run`` works a job from any worker process: threads lease
up to ``MAX_BATCH`` persons at a time, call the register outside any transaction, and store
the answers — only for persons whose lease is still theirs and whose values are still those
sent — with the ``register`` field-group check that the quality rules read as "sạch". A
killed worker's leases run out and the persons are taken up again; answered persons are never
sent again by the same job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import (
    DatabaseError,
    close_old_connections,
    connection,
    connections,
    transaction,
)
from django.db.models import F, Field, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from edureg.access.policy import Actor, grants, require, scope
from edureg.access.roles import ROLE_PERMS, Perm, Scope
from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.audit.services import audit_record
from edureg.core.personal_id import PersonalIdFormatError, parse_personal_id
from edureg.core.text import TextValueError, clean_text
from edureg.identity.models import (
    ANSWERED,
    CannotSend,
    FeedHead,
    IdentityState,
    IdentityStatus,
    JobKind,
    JobStatus,
    NoIdReason,
    QueueStatus,
    VerificationJob,
)
from edureg.identity.register.http_adapter import get_register
from edureg.identity.register.port import (
    MAX_BATCH,
    PersonQuery,
    PersonResult,
    PopulationRegister,
    RegisterError,
)
from edureg.quality.models import CheckKind, FieldGroupCheck
from edureg.registry.models import IDENTITY_FIELDS, SchoolClass, Staff, Student
from edureg.registry.quality import IDENTITY_GROUP, register_checks_changed
from edureg.schools.models import Authority, School

logger = logging.getLogger("edureg.identity")

ENTITIES: dict[str, Any] = {"student": Student, "staff": Staff}  # the person models
# A running job whose worker has not been heard of for this long is enqueued again.
STALE_JOB_SECONDS = 90.0
_CHUNK = 2000  # persons marked per statement when a job is created
# Statuses a batch request sends; a verified person is sent again only after a change.
_BATCH_SENDS = (IdentityStatus.UNVERIFIED, IdentityStatus.MISMATCH, IdentityStatus.NOT_FOUND)
_NOTE_MAX = 300
_CHANGE_ACTIONS = {"student.update": "student", "student.create": "student",
                   "staff.update": "staff", "staff.create": "staff"}
_FEED = "identity"
_MOVED = "student.transferred"
# A merge retires the merged record's state (the record is gone from every list; its answers
# stay in the audit log); the kept record's state stays as it is, its identity fields being
# unchanged. An undo sends the restored record to be verified again, as a new person is.
_MERGED = "student.merged"
_UNMERGED = "student.unmerged"


# -- persons as the register sees them ------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Person:
    entity: str
    record_id: int
    school_id: int
    personal_id_number: str | None
    full_name: str
    date_of_birth: dt.date | None
    sex: str
    birth_registration_place: str | None

    @property
    def fingerprint(self) -> str:
        values = (self.personal_id_number or "", self.full_name,
                  self.date_of_birth.isoformat() if self.date_of_birth else "", self.sex,
                  self.birth_registration_place or "")
        return hashlib.sha256("\x1f".join(values).encode()).hexdigest()

    def cannot_send(self) -> CannotSend | None:
        """Why this person cannot be sent, found before any call; None when sendable."""
        if not self.personal_id_number:
            return CannotSend.NO_ID_NUMBER
        try:
            parsed = parse_personal_id(self.personal_id_number)
        except PersonalIdFormatError:
            return CannotSend.MALFORMED_ID
        if parsed.place_name is None or parsed.sex is None:
            return CannotSend.MALFORMED_ID
        if not self.full_name.strip() or self.date_of_birth is None or self.sex not in "MF" \
                or not self.sex:
            return CannotSend.MISSING_FIELDS
        return None

    def query(self, ref: str) -> PersonQuery:
        if not self.personal_id_number or self.date_of_birth is None:
            raise ValueError("not sendable: check cannot_send() first")
        return PersonQuery(ref=ref, personal_id_number=self.personal_id_number,
                           full_name=self.full_name, date_of_birth=self.date_of_birth,
                           sex=self.sex, birth_registration_place=self.birth_registration_place
                           or None)


def persons_read(entity: str, ids: Iterable[int]) -> dict[int, Person]:
    model = ENTITIES[entity]
    columns = ["id", "school_id", *IDENTITY_FIELDS[entity]]
    found = {}
    for row in model.objects.filter(pk__in=list(ids)).values(*columns):
        found[row["id"]] = Person(
            entity=entity, record_id=row["id"], school_id=row["school_id"],
            personal_id_number=row["personal_id_number"], full_name=row["full_name"] or "",
            date_of_birth=row["date_of_birth"], sex=row["sex"] or "",
            birth_registration_place=row.get("birthplace_legacy_province") or None)
    return found


# -- requests ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Target:
    """What to verify: ``kind`` one of person / class / school / authority."""

    kind: JobKind
    entity: str = "student"
    record_id: int | None = None  # person
    class_id: int | None = None
    school_id: int | None = None
    authority_id: int | None = None


def _authority_grant(actor: Actor, perm: Perm, authority_id: int) -> bool:
    return any(perm in ROLE_PERMS[g.role] and g.scope is Scope.AUTHORITY
               and g.authority_id == authority_id for g in grants(actor))


def _targets(actor: Actor, target: Target) -> tuple[dict[str, list[int]], int | None, int | None]:
    """The persons the request covers (per entity), its scope id and school; raises 403/404."""
    perm = Perm.IDENTITY_VERIFY
    kind = JobKind(target.kind)
    if kind == JobKind.PERSON:
        model = ENTITIES.get(target.entity)
        if model is None:
            raise Http404
        if not _has(actor, perm):
            raise PermissionDenied
        found = scope(model.objects.all(), actor, perm).filter(
            pk=target.record_id or 0).values_list("pk", "school_id").first()
        if found is None:
            raise Http404
        return {target.entity: [found[0]]}, found[0], found[1]
    if kind == JobKind.CLASS:
        school_class = SchoolClass.objects.filter(pk=target.class_id or 0).first()
        if school_class is None:
            raise Http404
        require(actor, perm, school_class)
        ids = scope(Student.objects.filter(current_class=school_class), actor, perm)
        return ({"student": list(ids.values_list("pk", flat=True))}, school_class.pk,
                school_class.school_id)
    if kind == JobKind.SCHOOL:
        school = School.objects.filter(pk=target.school_id or 0).first()
        if school is None:
            raise Http404
        require(actor, perm, school)
        if not may_verify_school(actor, school):
            raise PermissionDenied
        return ({"student": list(Student.objects.live().filter(school=school)
                                 .values_list("pk", flat=True)),
                 "staff": list(Staff.objects.filter(school=school).values_list("pk", flat=True))},
                school.pk, school.pk)
    if kind == JobKind.AUTHORITY:
        if not _has(actor, perm):
            raise PermissionDenied
        authority = Authority.objects.filter(pk=target.authority_id or 0).first()
        if authority is None or not _authority_grant(actor, perm, authority.pk):
            raise Http404
        return ({"student": list(Student.objects.live().filter(school__authority=authority)
                                 .values_list("pk", flat=True)),
                 "staff": list(Staff.objects.filter(school__authority=authority)
                               .values_list("pk", flat=True))},
                authority.pk, None)
    raise ValueError(f"unknown target kind {target.kind}")


def may_verify_school(actor: Actor, school: School) -> bool:
    """A whole school is sent only by someone whose job position covers the whole school (or
    its authority): a homeroom teacher verifies their own classes, not the school."""
    return any(Perm.IDENTITY_VERIFY in ROLE_PERMS[g.role]
               and ((g.scope is Scope.SCHOOL and g.school_id == school.pk)
                    or (g.scope is Scope.AUTHORITY and g.authority_id == school.authority_id))
               for g in grants(actor))


def _has(actor: Actor, perm: Perm) -> bool:
    return any(perm in ROLE_PERMS[g.role] for g in grants(actor))


def verification_request(*, actor: Actor, target: Target) -> VerificationJob:
    """Send the persons ``target`` covers to be verified; returns the job (enqueued on
    commit). A person already verified (and unchanged since) or declared without ID number is
    not sent by a class, school or authority request; one person is always sent."""
    persons, scope_id, school_id = _targets(actor, target)
    now = timezone.now()
    with transaction.atomic():
        job = VerificationJob.objects.create(
            kind=target.kind, scope_id=scope_id, school_id=school_id,
            created_by_id=_user_id(actor), created_at=now)
        sent = 0
        for entity, ids in persons.items():
            sent += _mark_sent(job, entity, ids, requested_by=_user_id(actor), now=now,
                               only=None if target.kind == JobKind.PERSON else _BATCH_SENDS)
        _job_opened(job, sent)
        audit_record(actor=actor, action=actions.IDENTITY_REQUESTED, entity="verification_job",
                     entity_id=job.pk, school_id=school_id,
                     data={"kind": str(target.kind), "scope_id": scope_id, "persons": sent})
    return job


def _user_id(actor: Actor | None) -> int | None:
    return int(actor.pk) if actor is not None and actor.is_authenticated else None


def _job_opened(job: VerificationJob, sent: int) -> None:
    job.persons = sent
    if sent:
        job.save(update_fields=["persons"])
        transaction.on_commit(lambda: job_run_task.enqueue(job.pk))
    else:
        job.status, job.finished_at = JobStatus.DONE, job.created_at
        job.save(update_fields=["persons", "status", "finished_at"])


def _mark_sent(job: VerificationJob, entity: str, ids: Sequence[int], *,
               requested_by: int | None, now: dt.datetime,
               only: Sequence[str] | None) -> int:
    """Mark these persons ``sent`` in ``job`` (states created where missing); returns how
    many. ``only``: the statuses that may be sent (None: any). Clearing the lease makes an
    answer in flight for older values land nowhere."""
    model = ENTITIES[entity]
    marked = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start:start + _CHUNK])
        schools = dict(model.objects.filter(pk__in=chunk).values_list("pk", "school_id"))
        IdentityState.objects.bulk_create(
            [IdentityState(entity=entity, record_id=pk, school_id=school, updated_at=now)
             for pk, school in schools.items()], ignore_conflicts=True)
        states = IdentityState.objects.filter(entity=entity, record_id__in=list(schools))
        if only is not None:
            states = states.filter(status__in=list(only))
        marked += states.update(
            status=IdentityStatus.SENT, job=job, lease_owner="", lease_until=None,
            requested_by_id=requested_by, requested_at=now, cannot_send="", updated_at=now)
    return marked


# -- identity-field changes, read from the audit log (the outbox) ---------------------------

def changes_catch_up(*, batch: int = 2000) -> int:
    """Send again every person whose identity fields changed since the last run (new persons
    included); returns how many. One job per run; safe from several processes (the feed head
    is locked while a batch is read and marked)."""
    sent = 0
    while True:
        with transaction.atomic():
            FeedHead.objects.get_or_create(name=_FEED)
            head = FeedHead.objects.select_for_update().get(name=_FEED)
            events = list(AuditEvent.objects.filter(seq__gt=head.seq,
                                                    action__in=[*_CHANGE_ACTIONS, _MOVED,
                                                                _MERGED, _UNMERGED])
                          .order_by("seq").values("seq", "action", "entity_id", "actor_id",
                                                  "data")[:batch])
            if not events:
                return sent
            wanted: dict[str, dict[int, int | None]] = defaultdict(dict)
            for event in events:
                data: dict[str, Any] = event["data"] if isinstance(event["data"], dict) else {}
                if event["action"] == _MOVED:  # the person's state follows them (the queue)
                    IdentityState.objects.filter(
                        entity="student", record_id=int(event["entity_id"])).update(
                        school_id=int(data["to_school_id"]))
                    continue
                if event["action"] == _MERGED:  # written once per record: idempotent
                    IdentityState.objects.filter(
                        entity="student", record_id=int(data["merged_id"])).delete()
                    wanted["student"].pop(int(data["merged_id"]), None)
                    continue
                if event["action"] == _UNMERGED:
                    wanted["student"][int(data["merged_id"])] = event["actor_id"]
                    continue
                entity = _CHANGE_ACTIONS[event["action"]]
                fields = set(data.get("changes") or {}) | set(data.get("fields") or ())
                if fields & set(IDENTITY_FIELDS[entity]) and str(event["entity_id"]).isdigit():
                    wanted[entity][int(event["entity_id"])] = event["actor_id"]
            if wanted:
                now = timezone.now()
                job = VerificationJob.objects.create(kind=JobKind.CHANGE, created_at=now)
                count = 0
                for entity, by_person in wanted.items():
                    by_actor: dict[int | None, list[int]] = defaultdict(list)
                    for pk, actor_id in by_person.items():
                        by_actor[actor_id].append(pk)
                    for actor_id, pks in by_actor.items():
                        count += _mark_sent(job, entity, _changed_since_answer(entity, pks),
                                            requested_by=actor_id, now=now, only=None)
                _job_opened(job, count)
                sent += count
            head.seq = events[-1]["seq"]
            head.save(update_fields=["seq"])
        if len(events) < batch:
            return sent


def _changed_since_answer(entity: str, ids: Sequence[int]) -> list[int]:
    """The persons whose values differ from those of their last answer (a job may already
    have sent the new values: no need to send them twice)."""
    answered = dict(IdentityState.objects.filter(
        entity=entity, record_id__in=list(ids), status__in=list(ANSWERED)).values_list(
        "record_id", "fingerprint"))
    if not answered:
        return list(ids)
    current = persons_read(entity, list(answered))
    return [pk for pk in ids if pk not in answered or pk not in current
            or current[pk].fingerprint != answered[pk]]


# -- working a job ---------------------------------------------------------------------------

@dataclasses.dataclass
class RunReport:
    job_id: int
    batches: int = 0
    answered: int = 0
    not_sendable: int = 0
    discarded: int = 0  # answers about values changed meanwhile, or leases lost
    failed_calls: int = 0
    finished: bool = False


def job_run(job_id: int, *, register: PopulationRegister | None = None,
            threads: int | None = None, time_budget: float | None = None,
            worker_id: str | None = None) -> RunReport:
    """Work ``job_id`` until every person in it is answered (or ``time_budget`` seconds pass);
    several workers may run the same job. Returns what this worker did."""
    owner = worker_id or f"{uuid.uuid4().hex[:12]}"
    threads = threads or settings.EDUREG_REGISTER_MAX_CONCURRENCY
    own_register = register is None
    exchange = register if register is not None else get_register()
    report = RunReport(job_id=job_id)
    lock = threading.Lock()
    stop = threading.Event()
    deadline = time.monotonic() + time_budget if time_budget else None
    renewer = threading.Thread(target=_renew_leases, args=(job_id, owner, stop), daemon=True)
    renewer.start()

    def work(inline: bool = False) -> None:
        """One thread's loop; ``inline`` runs in the caller's thread (and connection)."""
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                claimed = _claim(job_id, owner)
                if claimed is None:
                    return
                if not claimed:
                    time.sleep(0.5)  # others hold the rest; wait for answers or expiry
                    continue
                outcome = _process(job_id, owner, claimed, exchange)
                with lock:
                    report.batches += 1
                    for name, value in dataclasses.asdict(outcome).items():
                        if name in ("answered", "not_sendable", "discarded", "failed_calls"):
                            setattr(report, name, getattr(report, name) + value)
        finally:
            if not inline:
                connections.close_all()

    try:
        if threads == 1:
            work(inline=True)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                for future in [pool.submit(work) for _ in range(threads)]:
                    future.result()
    finally:
        stop.set()
        renewer.join()
        if own_register:
            close = getattr(exchange, "close", None)
            if callable(close):
                close()
    report.finished = _job_finish(job_id)
    return report


@task()
def job_run_task(job_id: int) -> dict[str, Any]:
    """Background form of ``job_run`` (``edureg db_worker``)."""
    return dataclasses.asdict(job_run(job_id))


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.EDUREG_IDENTITY_LEASE_SECONDS)


def _renew_leases(job_id: int, owner: str, stop: threading.Event) -> None:
    try:
        while not stop.wait(settings.EDUREG_IDENTITY_LEASE_SECONDS / 4):
            now = timezone.now()
            try:
                IdentityState.objects.filter(lease_owner=owner, status=IdentityStatus.SENT
                                             ).update(lease_until=now + _lease())
                VerificationJob.objects.filter(pk=job_id).update(heartbeat_at=now)
            except DatabaseError as error:  # a busy database: the next turn renews
                logger.warning("lease renewal failed: %s", type(error).__name__)
    finally:
        close_old_connections()
        connection.close()


def _claim(job_id: int, owner: str) -> list[tuple[int, str, int]] | None:
    """Lease up to ``EDUREG_IDENTITY_BATCH_SIZE`` unleased persons of the job: [(state id,
    entity, record id)]; [] when the rest are leased by others, None when nothing is left."""
    size = max(1, min(settings.EDUREG_IDENTITY_BATCH_SIZE, MAX_BATCH))
    now = timezone.now()
    with transaction.atomic():
        open_states = IdentityState.objects.filter(job_id=job_id, status=IdentityStatus.SENT)
        free = open_states.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        if connection.features.has_select_for_update_skip_locked:
            free = free.select_for_update(skip_locked=True)
        rows = list(free.order_by("pk").values_list("pk", "entity", "record_id")[:size])
        if not rows:
            return [] if open_states.exists() else None
        IdentityState.objects.filter(pk__in=[r[0] for r in rows]).update(
            lease_owner=owner, lease_until=now + _lease())
        VerificationJob.objects.filter(pk=job_id).update(heartbeat_at=now)
    return rows


@dataclasses.dataclass
class _Outcome:
    answered: int = 0
    not_sendable: int = 0
    discarded: int = 0
    failed_calls: int = 0


def _process(job_id: int, owner: str, claimed: list[tuple[int, str, int]],
             register: PopulationRegister) -> _Outcome:
    outcome = _Outcome()
    by_entity: dict[str, list[int]] = defaultdict(list)
    for _pk, entity, record_id in claimed:
        by_entity[entity].append(record_id)
    people: dict[tuple[str, int], Person] = {}
    for entity, ids in by_entity.items():
        for pk, person in persons_read(entity, ids).items():
            people[(entity, pk)] = person
    sendable: list[tuple[int, Person]] = []
    unsendable: list[tuple[int, CannotSend | None]] = []
    for state_id, entity, record_id in claimed:
        found = people.get((entity, record_id))
        reason = found.cannot_send() if found is not None else None
        if found is None or reason is not None:
            unsendable.append((state_id, reason))
        else:
            sendable.append((state_id, found))
    if unsendable:
        outcome.not_sendable += _store_unsendable(job_id, owner, unsendable)
    for part in _split_call(job_id, register, sendable, outcome):
        answers, request_id = part
        _store_answers(job_id, owner, answers, request_id, register, outcome)
    return outcome


def _split_call(job_id: int, register: PopulationRegister,
                sendable: list[tuple[int, Person]], outcome: _Outcome
                ) -> Iterator[tuple[list[tuple[int, Person, PersonResult]], str]]:
    """Call the register; a permanent refusal of a batch is narrowed down by halves so that one
    person the register refuses does not hold back the others. A transient failure releases
    the persons for a later try."""
    if not sendable:
        return
    queries = [person.query(str(state_id)) for state_id, person in sendable]
    try:
        response = register.verify(queries)
    except RegisterError as error:
        outcome.failed_calls += 1
        VerificationJob.objects.filter(pk=job_id).update(failed_calls=F("failed_calls") + 1)
        if error.permanent and len(sendable) > 1:
            middle = len(sendable) // 2
            yield from _split_call(job_id, register, sendable[:middle], outcome)
            yield from _split_call(job_id, register, sendable[middle:], outcome)
        elif error.permanent:
            _refused(sendable[0][0])
        else:
            IdentityState.objects.filter(pk__in=[s for s, _p in sendable]).update(
                lease_owner="", lease_until=None)
        return
    by_ref = {result.ref: result for result in response.results}
    answers = [(state_id, person, by_ref[str(state_id)]) for state_id, person in sendable
               if str(state_id) in by_ref]
    yield answers, response.request_id


def _refused(state_id: int) -> None:
    IdentityState.objects.filter(pk=state_id, status=IdentityStatus.SENT).update(
        status=IdentityStatus.UNVERIFIED, cannot_send=CannotSend.REFUSED, lease_owner="",
        lease_until=None, updated_at=timezone.now())


def _store_unsendable(job_id: int, owner: str,
                      items: list[tuple[int, CannotSend | None]]) -> int:
    """Persons caught before any call: back to "chưa xác thực" with the reason, into the
    queue — or "không có số định danh" when declared so and the number is still empty."""
    now = timezone.now()
    stored = 0
    with transaction.atomic():
        for reason in {reason for _s, reason in items}:
            ids = [s for s, r in items if r == reason]
            mine = IdentityState.objects.filter(pk__in=ids, lease_owner=owner,
                                                status=IdentityStatus.SENT)
            released = {"lease_owner": "", "lease_until": None, "updated_at": now}
            if reason is None:  # the person no longer exists
                stored += mine.delete()[0]
                continue
            if reason is CannotSend.NO_ID_NUMBER:
                stored += mine.exclude(no_id_reason="").update(
                    status=IdentityStatus.NO_ID, cannot_send=reason, queue_status="",
                    **released)
            stored += mine.update(status=IdentityStatus.UNVERIFIED, cannot_send=reason,
                                  queue_status=QueueStatus.OPEN, **released)
        VerificationJob.objects.filter(pk=job_id).update(
            not_sendable=F("not_sendable") + stored)
    return stored


def _register_name(register: PopulationRegister) -> str:
    """Which register answered: the exchange's host, or the adapter's name without one."""
    url = getattr(register, "url", "")
    host = urlsplit(url).netloc if isinstance(url, str) else ""
    return (host or type(register).__name__)[:60]


def _store_answers(job_id: int, owner: str, answers: list[tuple[int, Person, PersonResult]],
                   request_id: str, register: PopulationRegister, outcome: _Outcome) -> None:
    """Store the answers of one call in one transaction, for the persons still leased by this
    worker whose values are still those sent; the others are discarded (a change sent them
    again in another job, or the lease ran out and another worker has them)."""
    now = timezone.now()
    name = _register_name(register)
    with transaction.atomic():
        state_ids = [state_id for state_id, _p, _r in answers]
        states = {s.pk: s for s in IdentityState.objects.select_for_update().filter(
            pk__in=state_ids, lease_owner=owner, status=IdentityStatus.SENT, job_id=job_id)}
        by_entity: dict[str, list[tuple[IdentityState, Person, PersonResult]]] = defaultdict(list)
        for state_id, person, result in answers:
            if state_id in states:
                by_entity[person.entity].append((states[state_id], person, result))
        stored = 0
        for entity, items in by_entity.items():
            current = persons_read(entity, [person.record_id for _s, person, _r in items])
            kept = [(s, p, r) for s, p, r in items
                    if p.record_id in current and current[p.record_id].fingerprint
                    == p.fingerprint]
            stored += len(kept)
            # Values changed while the call was in flight: released, the job sends the new
            # values (unless a change request has moved the person to its own job).
            kept_ids = {s.pk for s, _p, _r in kept}
            stale = [s.pk for s, _p, _r in items if s.pk not in kept_ids]
            if stale:
                IdentityState.objects.filter(pk__in=stale).update(lease_owner="",
                                                                  lease_until=None)
            _apply_answers(entity, kept, request_id=request_id, register=name, now=now)
        outcome.discarded += len(answers) - stored
        outcome.answered += stored
        VerificationJob.objects.filter(pk=job_id).update(answered=F("answered") + stored,
                                                          calls=F("calls") + 1)


def _apply_answers(entity: str, items: list[tuple[IdentityState, Person, PersonResult]], *,
                   request_id: str, register: str, now: dt.datetime) -> None:
    if not items:
        return
    for state, person, result in items:
        status = (IdentityStatus.VERIFIED if result.verified else IdentityStatus.MISMATCH
                  if result.found else IdentityStatus.NOT_FOUND)
        state.status = status
        state.fields = {field: {"outcome": str(value.outcome),
                                "register_value": value.register_value}
                        for field, value in result.fields.items()}
        state.mismatched = sorted(field for field, value in result.fields.items()
                                  if value.outcome == "mismatch")
        state.fingerprint = person.fingerprint
        state.cannot_send = ""
        state.queue_status = "" if status == IdentityStatus.VERIFIED else (
            state.queue_status if state.queue_status == QueueStatus.CORRECTION_REQUESTED
            else QueueStatus.OPEN)
        state.lease_owner, state.lease_until = "", None
        state.register, state.request_id, state.answered_at = register, request_id[:100], now
        state.answers += 1
        state.updated_at = now
    _states_save(items)
    record_ids = [person.record_id for _s, person, _r in items]
    FieldGroupCheck.objects.filter(entity=entity, record_id__in=record_ids, group=IDENTITY_GROUP,
                                   kind=CheckKind.REGISTER, ended_at__isnull=True
                                   ).update(ended_at=now)
    checked_at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.executemany(_CHECK_INSERT, [
            (entity, person.record_id, person.school_id, IDENTITY_GROUP, CheckKind.REGISTER.value,
             "population_register", request_id[:60], state.requested_by_id, checked_at)
            for state, person, _r in items if state.status == IdentityStatus.VERIFIED])
    by_school: dict[int, dict[str, str]] = defaultdict(dict)
    for state, person, _r in items:
        by_school[person.school_id][str(person.record_id)] = state.status
    for school_id, results in by_school.items():
        audit_record(actor=None, action=actions.IDENTITY_ANSWERED, entity=entity,
                     school_id=school_id,
                     data={"register": register, "request_id": request_id[:100],
                           "results": results})
    register_checks_changed(entity, record_ids)


_CHECK_INSERT = (
    "INSERT INTO quality_fieldgroupcheck (entity, record_id, school_id, \"group\", kind, "
    "document_type, document_number, document_date, checked_by_id, checked_at, ended_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, NULL, %s, %s, NULL)")
_STATE_SAVED = ("status", "fields", "mismatched", "fingerprint", "cannot_send", "queue_status",
                "lease_owner", "lease_until", "register", "request_id", "answered_at",
                "answers", "updated_at")


def _states_save(items: list[tuple[IdentityState, Person, PersonResult]]) -> None:
    """The answered states, one prepared UPDATE run for all (an ORM ``bulk_update`` builds a
    CASE per column and row: a second per call of 100)."""
    fields = [field for name in _STATE_SAVED
              if isinstance(field := IdentityState._meta.get_field(name), Field)]
    sets = ", ".join(f"{connection.ops.quote_name(f.column or f.name)} = %s" for f in fields)
    rows = [[field.get_db_prep_save(getattr(state, field.attname), connection)
             for field in fields] + [state.pk] for state, _p, _r in items]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE identity_identitystate SET {sets} WHERE id = %s",  # noqa: S608 - fixed names
                           rows)


def _job_finish(job_id: int) -> bool:
    """Close the job when nobody in it waits for an answer; returns whether it is done."""
    with transaction.atomic():
        if IdentityState.objects.filter(job_id=job_id, status=IdentityStatus.SENT).exists():
            return False
        now = timezone.now()
        VerificationJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
            status=JobStatus.DONE, finished_at=now, heartbeat_at=now)
    return True


def jobs_resume(*, stale_seconds: float = STALE_JOB_SECONDS) -> list[int]:
    """Enqueue again the running jobs no worker has been heard of lately (a worker killed, a
    task lost): the persons it had leased are taken up once their leases run out."""
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=stale_seconds)
    resumed = []
    for job_id in VerificationJob.objects.filter(status=JobStatus.RUNNING).filter(
            Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    ).values_list("pk", flat=True):
        if _job_finish(job_id):
            continue
        # Claimed before enqueueing: a second scheduler sees the fresh heartbeat and skips.
        if VerificationJob.objects.filter(pk=job_id).filter(
                Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)).update(
                heartbeat_at=now):
            job_run_task.enqueue(job_id)
            resumed.append(job_id)
    return resumed


def jobs_run_pending(*, register: PopulationRegister | None = None, threads: int | None = None,
                     worker_id: str | None = None) -> list[RunReport]:
    """Work every running job, oldest first, until none is left (``edureg identity run``)."""
    reports: list[RunReport] = []
    own_register = register is None
    exchange = register if register is not None else get_register()
    try:
        while True:
            pending = list(VerificationJob.objects.filter(status=JobStatus.RUNNING)
                           .order_by("pk").values_list("pk", flat=True))
            if not pending:
                return reports
            for job_id in pending:
                reports.append(job_run(job_id, register=exchange, threads=threads,
                                       worker_id=worker_id))
    finally:
        if own_register:
            close = getattr(exchange, "close", None)
            if callable(close):
                close()


# -- the mismatch queue and "no ID number" -------------------------------------------------

def _person_for_action(actor: Actor, entity: str, record_id: int) -> Person:
    """The person, through the actor's scope: 403 without the permission, 404 outside."""
    model = ENTITIES.get(entity)
    if model is None:
        raise Http404
    require(actor, Perm.IDENTITY_RESOLVE)
    if not scope(model.objects.all(), actor, Perm.IDENTITY_RESOLVE).filter(
            pk=record_id).exists():
        raise Http404
    return persons_read(entity, [record_id])[record_id]


def no_id_declare(*, actor: Actor, entity: str, record_id: int, reason: str,
                  note: str = "") -> IdentityState:
    """Record that a person has no personal ID number, and why (no birth certificate, a
    foreign national…). Refused while the record carries a number."""
    person = _person_for_action(actor, entity, record_id)
    errors: dict[str, list[str]] = {}
    if person.personal_id_number:
        errors["personal_id_number"] = [_("Hồ sơ đã có số định danh cá nhân; hãy xác thực số "
                                          "đó thay vì khai báo không có số.")]
    if reason not in NoIdReason.values:
        errors["no_id_reason"] = [_("Hãy chọn lý do không có số định danh.")]
    try:
        cleaned = clean_text(note or "", max_length=_NOTE_MAX)
    except TextValueError as error:
        errors["no_id_note"] = [error.message]
        cleaned = ""
    if reason == NoIdReason.OTHER and len(cleaned) < 5:
        errors["no_id_note"] = [_("Với lý do khác, hãy ghi rõ lý do (ít nhất 5 ký tự).")]
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        IdentityState.objects.get_or_create(entity=entity, record_id=record_id, defaults={
            "school_id": person.school_id, "updated_at": now})
        state = IdentityState.objects.select_for_update().get(entity=entity, record_id=record_id)
        state.status, state.no_id_reason, state.no_id_note = IdentityStatus.NO_ID, reason, cleaned
        state.cannot_send, state.queue_status = CannotSend.NO_ID_NUMBER, ""
        state.job, state.lease_owner, state.lease_until = None, "", None
        state.updated_at = now
        state.save()
        audit_record(actor=actor, action=actions.IDENTITY_NO_ID, entity=entity,
                     entity_id=record_id, school_id=person.school_id,
                     data={"reason": reason})
    return state


class QueueAction:
    CORRECTION_REQUESTED = "correction_requested"
    REVERIFY = "reverify"


def queue_update(*, actor: Actor, entity: str, record_id: int, action: str,
                 note: str = "") -> IdentityState | VerificationJob:
    """Act on a mismatch: ``correction_requested`` (the dossier agrees with our record, so the
    register is wrong: the family was asked to have it corrected), or ``reverify`` (send the
    person again — after the record was corrected, or the register was)."""
    person = _person_for_action(actor, entity, record_id)
    if action == QueueAction.REVERIFY:
        return verification_request(actor=actor, target=Target(
            kind=JobKind.PERSON, entity=entity, record_id=record_id))
    if action != QueueAction.CORRECTION_REQUESTED:
        raise ValidationError({"action": [_("Thao tác không hợp lệ.")]})
    state = IdentityState.objects.filter(entity=entity, record_id=record_id).first()
    if state is None or state.status not in (IdentityStatus.MISMATCH, IdentityStatus.NOT_FOUND):
        raise ValidationError({"action": [_("Chỉ đánh dấu đề nghị đính chính cho người đang "
                                            "sai lệch hoặc không tìm thấy.")]})
    try:
        cleaned = clean_text(note or "", max_length=_NOTE_MAX)
    except TextValueError as error:
        raise ValidationError({"queue_note": [error.message]}) from None
    with transaction.atomic():
        IdentityState.objects.filter(pk=state.pk).update(
            queue_status=QueueStatus.CORRECTION_REQUESTED, queue_note=cleaned,
            updated_at=timezone.now())
        audit_record(actor=actor, action=actions.IDENTITY_QUEUE_UPDATED, entity=entity,
                     entity_id=record_id, school_id=person.school_id,
                     data={"queue_status": QueueStatus.CORRECTION_REQUESTED})
    state.refresh_from_db()
    return state


def counts_by_status(states: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for row in states:
        counts[row["status"]] += row["n"]
    return dict(counts)
