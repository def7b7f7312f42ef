"""Appending to the audit chain. Call inside the caller's transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.utils import timezone

from edureg.audit import actions
from edureg.audit.actions import Kind, kind_of
from edureg.audit.anchors import Anchor, anchor_append, anchors_check, anchors_read
from edureg.audit.chain import (
    GENESIS,
    ChainBreak,
    VerifyResult,
    clean_text,
    event_line,
    format_time,
    link_hash,
    verify,
)
from edureg.audit.models import AuditEvent, ChainHead, RefIndexHead, canonical_json

CHAIN = "main"
MASK = "***"
_PATH_LIMIT = 200


def _actor_fields(actor: AbstractBaseUser | AnonymousUser | None) -> tuple[int | None, str]:
    if isinstance(actor, AbstractBaseUser):
        return int(actor.pk), clean_text(actor.get_username(), 150)
    if isinstance(actor, AnonymousUser):
        return None, "anonymous"
    return None, "system"


_REF_COLUMNS = "event_id, seq, kind, school_id, actor_id, entity, entity_id, field"
_REF_INSERT = (
    "INSERT INTO audit_auditrecordref (event_id, seq, kind, school_id, actor_id, entity, "
    "entity_id, field) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
_REF_COPY = f"COPY audit_auditrecordref ({_REF_COLUMNS}) FROM STDIN"


def _insert_refs(cursor: Any, rows: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: COPY (row-by-row INSERTs, or one long multi-row INSERT, spend their time in
    the driver's query handling). SQLite: executemany, which is a loop in C."""
    if connection.vendor == "postgresql":
        with cursor.cursor.copy(_REF_COPY) as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cursor.executemany(_REF_INSERT, rows)


def _refs(row: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The records one event touched: ids a read showed or a disclosure handed to an agency,
    fields a write changed."""
    pk, seq, kind, school_id, actor_id, entity, entity_id, data_text = row
    common = (pk, seq, kind, school_id, actor_id)
    if kind in (Kind.READ, Kind.DISCLOSURE):
        ids = json.loads(data_text).get("ids")
        if not isinstance(ids, list):
            return []
        return [(*common, entity, clean_text(str(i), 40), "") for i in ids]
    if kind == Kind.WRITE and entity_id:
        changes = json.loads(data_text).get("changes")
        fields = sorted(changes) if isinstance(changes, Mapping) else [""]
        return [(*common, entity, entity_id, clean_text(str(name), 60)) for name in fields]
    return []


_INDEX_HEAD_SELECT = {
    False: "SELECT seq FROM audit_refindexhead WHERE name = %s",  # SQLite: BEGIN IMMEDIATE
    True: "SELECT seq FROM audit_refindexhead WHERE name = %s FOR UPDATE",
}
_PENDING_SELECT = (
    "SELECT id, seq, kind, school_id, actor_id, entity, entity_id, data FROM audit_auditevent "
    "WHERE seq > %s ORDER BY seq LIMIT %s"
)


def refs_catch_up(*, batch: int = 2000) -> int:
    """Derive the record references of every event not yet indexed; returns how many events
    were indexed. Safe to run from several processes at once: the index head is locked for each
    batch, and events become visible in seq order (appends are serialised by the chain head and
    commit before the next one starts), so no event is skipped or indexed twice."""
    done = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_INDEX_HEAD_SELECT[connection.features.has_select_for_update],
                           [CHAIN])
            row = cursor.fetchone()
            if row is None:
                RefIndexHead.objects.get_or_create(name=CHAIN)
                continue
            cursor.execute(_PENDING_SELECT, [row[0], batch])
            events = cursor.fetchall()
            if not events:
                return done
            refs = [ref for event in events for ref in _refs(event)]
            if refs:
                _insert_refs(cursor, refs)
            cursor.execute("UPDATE audit_refindexhead SET seq = %s WHERE name = %s",
                           [events[-1][1], CHAIN])
        done += len(events)
        if len(events) < batch:
            return done


_HEAD_SELECT = "SELECT seq, last_hash, last_occurred_at FROM audit_chainhead WHERE name = %s"
_HEAD_UPDATE = ("UPDATE audit_chainhead SET seq = %s, last_hash = %s, last_occurred_at = %s "
                "WHERE name = %s")
_EVENT_INSERT = (
    "INSERT INTO audit_auditevent (seq, occurred_at, actor_id, actor_label, action, kind, entity, "
    "entity_id, school_id, data, prev_hash, hash) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
_EVENT_COPY = ("COPY audit_auditevent (seq, occurred_at, actor_id, actor_label, action, kind, "
               "entity, entity_id, school_id, data, prev_hash, hash) FROM STDIN")


def _locked_head() -> tuple[int, str, dt.datetime | None]:
    """The chain head, locked until the end of the transaction (created on first use)."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(_HEAD_SELECT + lock, [CHAIN])
        row = cursor.fetchone()
    if row is None:
        ChainHead.objects.get_or_create(name=CHAIN)
        return _locked_head()
    seq, last_hash, last_occurred_at = row
    if last_occurred_at is not None and not isinstance(last_occurred_at, dt.datetime):
        last_occurred_at = dt.datetime.fromisoformat(str(last_occurred_at))
    if last_occurred_at is not None and timezone.is_naive(last_occurred_at):
        last_occurred_at = last_occurred_at.replace(tzinfo=dt.UTC)
    return int(seq), str(last_hash), last_occurred_at


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    entity: str,
    entity_id: object = "",
    school_id: int | None = None,
    data: Mapping[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append one event. Must run inside the transaction of the change it records; sensitive
    values must already be masked by the caller (``changes_for_audit``). ``actor_label`` names
    an actor without an account (the parents' portal) instead of "anonymous" / "system".

    Plain SQL, three statements (head, event, head): this runs on every page that shows personal
    data, so it stays clear of per-object ORM work. Record references are derived afterwards
    (``refs_catch_up``)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change")
    head_seq, head_hash, head_time = _locked_head()
    now = timezone.now()
    if head_time is not None and now < head_time:
        now = head_time  # the clock stepped back: keep times ordered along the chain
    actor_id, label = _actor_fields(actor)
    if actor_label is not None and actor_id is None:
        label = clean_text(actor_label, 150)
    data_text = canonical_json(dict(data or {}))
    event = AuditEvent(
        seq=head_seq + 1,
        occurred_at=now,
        actor_id=actor_id,
        actor_label=label,
        action=clean_text(action, 60),
        kind=kind_of(action).value,
        entity=clean_text(entity, 60),
        entity_id=clean_text(str(entity_id), 40),
        school_id=school_id,
        data=json.loads(data_text),
        prev_hash=head_hash,
    )
    event.hash = link_hash(head_hash, event_line(
        seq=event.seq, occurred_at=format_time(now), actor_id=actor_id, actor_label=label,
        action=event.action, kind=event.kind, entity=event.entity, entity_id=event.entity_id,
        school_id=school_id, data_text=data_text,
    ))
    stored_time = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(_EVENT_INSERT, [
            event.seq, stored_time, actor_id, label, event.action, event.kind,
            event.entity, event.entity_id, school_id, data_text, head_hash, event.hash])
        event.pk = cursor.fetchone()[0]
        cursor.execute(_HEAD_UPDATE, [event.seq, event.hash, stored_time, CHAIN])
    event._state.adding = False
    return event


@dataclasses.dataclass(frozen=True)
class AuditItem:
    """One event of ``audit_record_many``: the record it is about and what it says."""

    entity_id: object
    school_id: int | None
    data: Mapping[str, Any]


def audit_record_many(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    entity: str,
    items: Sequence[AuditItem],
) -> int:
    """``audit_record`` for many events of one action (a class promoted: one event per pupil),
    chained in order under one lock of the head: the same rows and hashes as as many
    ``audit_record`` calls, in two statements instead of three per event. Returns the count."""
    if not items:
        return 0
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record_many must run inside the transaction of the change")
    head_seq, head_hash, head_time = _locked_head()
    now = timezone.now()
    if head_time is not None and now < head_time:
        now = head_time
    actor_id, label = _actor_fields(actor)
    action, entity = clean_text(action, 60), clean_text(entity, 60)
    kind = kind_of(action).value
    stored_time = connection.ops.adapt_datetimefield_value(now)
    occurred = format_time(now)
    rows = []
    seq, last_hash = head_seq, head_hash
    for item in items:
        seq += 1
        entity_id = clean_text(str(item.entity_id), 40)
        data_text = canonical_json(dict(item.data))
        event_hash = link_hash(last_hash, event_line(
            seq=seq, occurred_at=occurred, actor_id=actor_id, actor_label=label, action=action,
            kind=kind, entity=entity, entity_id=entity_id, school_id=item.school_id,
            data_text=data_text))
        rows.append((seq, stored_time, actor_id, label, action, kind, entity, entity_id,
                     item.school_id, data_text, last_hash, event_hash))
        last_hash = event_hash
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: a school's promotion is tens of thousands of events, and row-by-row
            # INSERTs cost a fifth of it. The driver's errors are raised as Django's.
            with transaction.get_connection().wrap_database_errors, \
                    cursor.cursor.copy(_EVENT_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(_EVENT_INSERT.removesuffix(" RETURNING id"), rows)
        cursor.execute(_HEAD_UPDATE, [seq, last_hash, stored_time, CHAIN])
    return len(rows)


def changes_for_audit(
    changes: Mapping[str, tuple[object, object]], *, masked: Iterable[str]
) -> dict[str, list[object]]:
    """Field → [old, new], with values of sensitive or identifying fields masked."""
    hidden = set(masked)
    return {
        name: [MASK, MASK] if name in hidden else [_plain(old), _plain(new)]
        for name, (old, new) in changes.items()
    }


def _plain(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def anchor_file() -> Path | None:
    """Where the chain's anchors are kept (``EDUREG_AUDIT_ANCHOR_FILE``); None when off."""
    configured = str(getattr(settings, "EDUREG_AUDIT_ANCHOR_FILE", "") or "")
    return Path(configured) if configured else None


def _hashes_at(seqs: list[int]) -> dict[int, str]:
    return dict(AuditEvent.objects.filter(seq__in=seqs).values_list("seq", "hash"))


def audit_anchor(path: Path | None = None) -> Anchor | None:
    """Copy the chain head to the anchor file (see ``edureg.audit.anchors``); nothing is
    written when the head has not moved since the last anchor or no file is configured."""
    path = path or anchor_file()
    if path is None:
        return None
    head = ChainHead.objects.filter(name=CHAIN).values_list("seq", "last_hash").first()
    if head is None or head[0] == 0:
        return None
    existing = anchors_read(path)
    if existing and existing[-1].seq == head[0]:
        return None
    first = AuditEvent.objects.filter(seq=1).values_list("hash", flat=True).first() or GENESIS
    anchor = Anchor(seq=head[0], hash=head[1], first=first, at=timezone.now().isoformat())
    anchor_append(path, anchor)
    return anchor


def audit_verify(*, workers: int | None = None, chunks: int | None = None,
                 anchors: Path | None = None) -> VerifyResult:
    """Check the whole chain against its head (see ``edureg.audit.chain``), then against the
    anchors kept outside the database (``anchors``, default the configured file)."""
    head = ChainHead.objects.filter(name=CHAIN).values_list("seq", "last_hash").first()
    head_seq, head_hash = head if head is not None else (0, GENESIS)
    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    if last > head_seq:
        # More events than the head knows of is only possible if the head was rewound; the
        # events above it would otherwise escape verification.
        head_seq, head_hash = last, AuditEvent.objects.get(seq=last).hash
    result = verify(head_seq=head_seq, head_hash=head_hash, workers=workers, chunks=chunks)
    path = anchors or anchor_file()
    if path is None:
        return result
    first = AuditEvent.objects.filter(seq=1).values_list("hash", flat=True).first()
    off = anchors_check(anchors_read(path), head_seq=last, first_hash=first,
                        hashes_at=_hashes_at)
    if off is not None and (result.broken is None or off.seq < result.broken.seq):
        return dataclasses.replace(result, broken=off)
    return result


def audit_verify_chain(*, workers: int | None = None) -> int | None:
    """Return the seq of the first broken link, or None when the whole chain verifies."""
    broken: ChainBreak | None = audit_verify(workers=workers).broken
    return None if broken is None else broken.seq


def audit_read(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    entity: str,
    ids: Iterable[object],
    school_id: int | None = None,
    view: str = "",
    extra: Mapping[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """One "read" event per request, listing the ids of the personal records shown. Joins the
    caller's transaction if there is one (no savepoint: a read that cannot be audited fails)."""
    with transaction.atomic(savepoint=False):
        return audit_record(
            actor=actor, action=f"{entity}.read", entity=entity, school_id=school_id,
            data={"ids": [str(i) for i in ids], "view": view, **(extra or {})},
            actor_label=actor_label,
        )


def audit_access_denied(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    method: str,
    path: str,
    status: int,
    school_ids: Iterable[int | None] = (),
) -> AuditEvent:
    """A refused request (403, or 404 for a record outside the actor's scope). Only the path is
    kept (its ids, never the query string); the school is the actor's, when they have one."""
    schools = {school for school in school_ids if school is not None}
    with transaction.atomic(savepoint=False):
        return audit_record(
            actor=actor, action=actions.ACCESS_DENIED, entity="request",
            school_id=schools.pop() if len(schools) == 1 else None,
            data={"method": clean_text(method, 10), "path": clean_text(path, _PATH_LIMIT),
                  "status": status},
        )
