"""Re-link the existing events under the new hashed form (edureg.audit.chain).

The old chain is verified first, with the old digest; the outcome (events re-linked, the first
broken seq if any) is itself appended as an ``audit.chain_migrated`` event, so the re-linking is
on the record and an old break is not silently laundered."""

import datetime as dt
import hashlib
import json

from django.db import migrations

from edureg.audit.actions import CHAIN_MIGRATED, Kind, kind_of
from edureg.audit.chain import GENESIS, clean_text, event_line, format_time, link_hash
from edureg.audit.models import canonical_json


def _old_digest(prev_hash, event, data):
    payload = {
        "seq": event.seq, "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id, "actor_label": event.actor_label, "action": event.action,
        "entity": event.entity, "entity_id": event.entity_id, "school_id": event.school_id,
        "data": data,
    }
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}|{body}".encode()).hexdigest()


def _refs(Ref, event, data):
    common = {"event_id": event.pk, "seq": event.seq, "kind": event.kind,
              "school_id": event.school_id, "actor_id": event.actor_id}
    if event.kind == Kind.READ and isinstance(data.get("ids"), list):
        return [Ref(entity=event.entity, entity_id=clean_text(str(i), 40), field="", **common)
                for i in data["ids"]]
    if event.kind == Kind.WRITE and event.entity_id:
        changes = data.get("changes")
        fields = sorted(changes) if isinstance(changes, dict) else [""]
        return [Ref(entity=event.entity, entity_id=event.entity_id, field=str(f)[:60],
                    **common) for f in fields]
    return []


def _append(Event, prev_hash, seq, moment, data):
    text = canonical_json(data)
    line = event_line(seq=seq, occurred_at=format_time(moment), actor_id=None,
                      actor_label="system", action=CHAIN_MIGRATED, kind=Kind.SYSTEM.value,
                      entity="audit", entity_id="", school_id=None, data_text=text)
    event = Event.objects.create(
        seq=seq, occurred_at=moment, actor_id=None, actor_label="system", action=CHAIN_MIGRATED,
        kind=Kind.SYSTEM.value, entity="audit", entity_id="", school_id=None, data=text,
        prev_hash=prev_hash, hash=link_hash(prev_hash, line))
    return event


def relink(apps, schema_editor):
    Event = apps.get_model("audit", "AuditEvent")
    Head = apps.get_model("audit", "ChainHead")
    Ref = apps.get_model("audit", "AuditRecordRef")
    if not Event.objects.exists():
        return
    old_prev = GENESIS
    new_prev = GENESIS
    broken = None
    expected = 1
    count = 0
    last_time = None
    refs = []
    for event in Event.objects.order_by("seq").iterator(chunk_size=2000):
        data = event.data if isinstance(event.data, dict) else json.loads(event.data)
        if broken is None and (event.seq != expected or event.prev_hash != old_prev
                               or _old_digest(old_prev, event, data) != event.hash):
            broken = event.seq
        old_prev = event.hash
        expected = event.seq + 1
        event.kind = kind_of(event.action).value
        text = canonical_json(data)
        moment = event.occurred_at if last_time is None else max(event.occurred_at, last_time)
        line = event_line(seq=event.seq, occurred_at=format_time(moment),
                          actor_id=event.actor_id, actor_label=clean_text(event.actor_label, 150),
                          action=event.action, kind=event.kind, entity=event.entity,
                          entity_id=event.entity_id, school_id=event.school_id, data_text=text)
        Event.objects.filter(pk=event.pk).update(
            occurred_at=moment, actor_label=clean_text(event.actor_label, 150), kind=event.kind,
            data=text, prev_hash=new_prev, hash=link_hash(new_prev, line))
        new_prev = link_hash(new_prev, line)
        refs.extend(_refs(Ref, event, data))
        last_time = moment
        count += 1
    Ref.objects.bulk_create(refs, batch_size=2000)
    moment = max(dt.datetime.now(tz=dt.UTC), last_time)
    marker = _append(Event, new_prev, expected, moment,
                     {"events": count, "old_chain_broken_at": broken, "hashed_form": 2})
    Head.objects.update_or_create(name="main", defaults={
        "seq": marker.seq, "last_hash": marker.hash, "last_occurred_at": moment})


class Migration(migrations.Migration):

    dependencies = [("audit", "0002_hashed_line_and_record_refs")]

    operations = [migrations.RunPython(relink, migrations.RunPython.noop, elidable=False)]
