from __future__ import annotations

import pytest
from django.db import transaction

from edureg.audit.models import AuditEvent
from edureg.audit.services import audit_record, audit_verify_chain, changes_for_audit
from tests.conftest import Cast


def _record(cast: Cast, n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            audit_record(actor=cast.alice, action="student.update", entity="student",
                         entity_id=i, school_id=cast.school_a.pk, data={"changes": {"x": [i, 1]}})


def test_chain_verifies_and_detects_a_changed_event(cast: Cast) -> None:
    _record(cast, 5)
    assert audit_verify_chain() is None
    third = AuditEvent.objects.order_by("seq")[2]
    AuditEvent.objects.filter(pk=third.pk).update(data={"changes": {"x": [99, 1]}})
    assert audit_verify_chain() == third.seq


def test_chain_detects_a_deleted_event(cast: Cast) -> None:
    _record(cast, 4)
    second = AuditEvent.objects.order_by("seq")[1]
    AuditEvent.objects.filter(pk=second.pk).delete()
    assert audit_verify_chain() == second.seq + 1


def test_record_outside_a_transaction_is_refused(transactional_db: None) -> None:
    with pytest.raises(RuntimeError):
        audit_record(actor=None, action="x", entity="student")
    assert not AuditEvent.objects.exists()


def test_sensitive_values_are_masked() -> None:
    masked = changes_for_audit({"ethnicity_code": ("01", "05"), "phone": ("", "0912345678"),
                                "full_name": ("A", "B")}, masked={"ethnicity_code", "phone"})
    assert masked == {"ethnicity_code": ["***", "***"], "phone": ["***", "***"],
                      "full_name": ["A", "B"]}
