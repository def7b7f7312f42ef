"""Appending to the audit chain. Call inside the caller's transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from edureg.audit.models import AuditEvent, ChainHead

CHAIN = "main"
MASK = "***"


def _digest(prev_hash: str, payload: Mapping[str, Any]) -> str:
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}|{body}".encode()).hexdigest()


def _payload(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "entity": event.entity,
        "entity_id": event.entity_id,
        "school_id": event.school_id,
        "data": event.data,
    }


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    entity: str,
    entity_id: object = "",
    school_id: int | None = None,
    data: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Must run inside the transaction of the change it records."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change")
    head, _ = ChainHead.objects.select_for_update().get_or_create(name=CHAIN)
    user = actor if isinstance(actor, AbstractBaseUser) else None
    event = AuditEvent(
        seq=head.seq + 1,
        occurred_at=timezone.now(),
        actor_id=user.pk if user is not None else None,
        actor_label=user.get_username() if user is not None else "system",
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        school_id=school_id,
        data=dict(data or {}),
        prev_hash=head.last_hash,
    )
    # Round-trip the payload through JSON so the hash is computed over what is stored.
    event.data = json.loads(json.dumps(event.data, ensure_ascii=False, default=str))
    event.hash = _digest(head.last_hash, _payload(event))
    event.save(force_insert=True)
    head.seq = event.seq
    head.last_hash = event.hash
    head.save(update_fields=["seq", "last_hash"])
    return event


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


def audit_verify_chain(*, batch_size: int = 5000) -> int | None:
    """Return the seq of the first broken link, or None when the whole chain verifies."""
    prev = "0" * 64
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=batch_size):
        if event.prev_hash != prev or _digest(prev, _payload(event)) != event.hash:
            return event.seq
        prev = event.hash
    return None


def audit_read(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    entity: str,
    ids: Iterable[object],
    school_id: int | None = None,
    view: str = "",
    extra: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """One "read" event per request, listing the ids of the personal records shown."""
    with transaction.atomic():
        return audit_record(
            actor=actor, action=f"{entity}.read", entity=entity, school_id=school_id,
            data={"ids": [str(i) for i in ids], "view": view, **(extra or {})},
        )
