"""``audit_record_many``: many events of one action chained under one lock, as valid as the
same events recorded one by one."""

from __future__ import annotations

from django.db import transaction

from edureg.audit.models import AuditEvent
from edureg.audit.services import AuditItem, audit_record, audit_record_many, audit_verify_chain
from tests.conftest import Cast


def test_events_recorded_together_keep_the_chain_valid(cast: Cast) -> None:
    with transaction.atomic():
        audit_record(actor=cast.alice, action="student.update", entity="student",
                     entity_id=cast.an.pk, school_id=cast.school_a.pk, data={})
        count = audit_record_many(actor=cast.alice, action="student.promoted", entity="student",
                                  items=[AuditItem(entity_id=pupil.pk, school_id=pupil.school_id,
                                                   data={"outcome": "promoted"})
                                         for pupil in (cast.an, cast.binh)])
        audit_record(actor=None, action="student.update", entity="student",
                     entity_id=cast.binh.pk, school_id=cast.school_a.pk, data={})
    assert count == 2
    events = list(AuditEvent.objects.filter(action="student.promoted").order_by("seq"))
    assert [e.entity_id for e in events] == [str(cast.an.pk), str(cast.binh.pk)]
    assert events[0].kind == "write"
    assert events[1].data == {"outcome": "promoted"}
    assert events[1].prev_hash == events[0].hash
    assert audit_verify_chain() is None

