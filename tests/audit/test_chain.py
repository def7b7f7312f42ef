from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from edureg.audit import actions
from edureg.audit.actions import Kind, kind_of
from edureg.audit.models import AuditEvent, AuditRecordRef, ChainHead
from edureg.audit.services import (
    audit_read,
    audit_record,
    audit_verify,
    audit_verify_chain,
    changes_for_audit,
    refs_catch_up,
)
from tests.audit.tampering import guard_lifted
from tests.conftest import Cast
from tests.processes import database_url


def _record(cast: Cast, n: int) -> list[AuditEvent]:
    events = []
    for i in range(n):
        with transaction.atomic():
            events.append(audit_record(
                actor=cast.alice, action="student.update", entity="student", entity_id=i,
                school_id=cast.school_a.pk, data={"changes": {"x": [i, 1]}}))
    return events


def _system_event() -> None:
    with transaction.atomic():  # no record references: the delete reaches the database
        audit_record(actor=None, action=actions.SEED_BULK_LOAD, entity="schools.authority")


def _delete(**lookup: Any) -> None:
    with guard_lifted():
        AuditRecordRef.objects.filter(**lookup).delete()
        AuditEvent.objects.filter(**lookup).delete()


def _tamper(seq: int, **values: Any) -> None:
    with guard_lifted():
        AuditEvent.objects.filter(seq=seq).update(**values)


def test_chain_verifies(cast: Cast) -> None:
    _record(cast, 5)
    assert audit_verify_chain() is None
    result = audit_verify()
    assert (result.events, result.head_seq, result.broken) == (5, 5, None)


@pytest.mark.parametrize(("column", "value"), [
    ("data", {"changes": {"x": [99, 1]}}),
    ("actor_label", "mallory"),
    ("actor_id", None),
    ("action", "student.create"),
    ("kind", "read"),
    ("entity", "staff"),
    ("entity_id", "999"),
    ("school_id", None),
    ("occurred_at", dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
    ("prev_hash", "f" * 64),
    ("hash", "e" * 64),
])
def test_changing_any_column_of_an_event_is_detected(cast: Cast, column: str,
                                                     value: object) -> None:
    _record(cast, 5)
    _tamper(3, **{column: value})
    broken = audit_verify().broken
    assert broken is not None
    assert broken.seq == 3


def test_a_deleted_event_is_detected(cast: Cast) -> None:
    _record(cast, 4)
    _delete(seq=2)
    broken = audit_verify().broken
    assert broken is not None
    assert broken.seq == 2
    assert broken.reason == "sự kiện bị xoá"


def test_deleting_the_last_events_is_detected_against_the_chain_head(cast: Cast) -> None:
    _record(cast, 4)
    _delete(seq__gte=3)
    assert audit_verify_chain() == 3


def test_reordered_events_are_detected(cast: Cast) -> None:
    _record(cast, 4)
    with guard_lifted():
        AuditEvent.objects.filter(seq=2).update(seq=-2)
        AuditEvent.objects.filter(seq=3).update(seq=2)
        AuditEvent.objects.filter(seq=-2).update(seq=3)
    assert audit_verify_chain() == 2


def test_a_rebuilt_chain_head_does_not_hide_a_change(cast: Cast) -> None:
    _record(cast, 3)
    _tamper(3, actor_label="mallory")
    ChainHead.objects.update(last_hash="a" * 64)
    assert audit_verify_chain() == 3


@pytest.mark.parametrize("chunks", [1, 2, 3, 7])
def test_chunked_verification_finds_the_same_first_break(cast: Cast, chunks: int) -> None:
    _record(cast, 7)
    assert audit_verify(chunks=chunks).broken is None
    _tamper(5, entity_id="x")
    _tamper(6, entity_id="y")
    broken = audit_verify(chunks=chunks).broken
    assert broken is not None
    assert broken.seq == 5


@pytest.mark.django_db(transaction=True)
def test_parallel_verification_in_two_processes(cast: Cast) -> None:
    # As in production: `edureg audit verify` in a process of its own, with two workers
    # reading the committed log through connections of their own.
    _record(cast, 9)
    command = [sys.executable, "-m", "edureg.cli.main", "audit", "verify", "--workers", "2"]
    env = {**os.environ, "DATABASE_URL": database_url()}
    passed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    assert passed.returncode == 0, passed.stderr
    assert "toàn vẹn" in passed.stdout
    _tamper(8, actor_label="mallory")
    failed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    assert failed.returncode != 0
    assert "sự kiện số 8" in failed.stderr


def test_verify_command_names_the_first_broken_event(cast: Cast) -> None:
    _record(cast, 3)
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    assert "toàn vẹn: 3 sự kiện" in out.getvalue()
    _tamper(2, data={"changes": {}})
    with pytest.raises(CommandError, match="sự kiện số 2"):
        call_command("audit", "verify")


@pytest.mark.parametrize("statement", [
    "UPDATE audit_auditevent SET actor_label = 'mallory'",
    "DELETE FROM audit_auditevent",
    "UPDATE audit_auditrecordref SET entity_id = '0'",
    "DELETE FROM audit_auditrecordref",
])
def test_the_database_refuses_to_change_the_log(cast: Cast, statement: str) -> None:
    _record(cast, 2)
    with transaction.atomic():
        audit_read(actor=cast.alice, entity="student", ids=[cast.an.pk])
    refs_catch_up()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute(statement)
    assert audit_verify_chain() is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL trigger function")
def test_postgresql_trigger_function_refuses_update_and_delete(db: None) -> None:
    _system_event()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_auditevent'::regclass "
            "AND NOT tgisinternal")
        assert [row[0] for row in cursor.fetchall()] == ["audit_auditevent_append_only"]
    with pytest.raises(DatabaseError, match="UPDATE on audit_auditevent refused"), \
            transaction.atomic():
        AuditEvent.objects.update(actor_label="mallory")
    with pytest.raises(DatabaseError, match="DELETE on audit_auditevent refused"), \
            transaction.atomic():
        AuditEvent.objects.all().delete()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite triggers")
def test_sqlite_triggers_refuse_update_and_delete(db: None) -> None:
    _system_event()
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                       "AND tbl_name = 'audit_auditevent' ORDER BY name")
        assert [row[0] for row in cursor.fetchall()] == [
            "audit_auditevent_no_delete", "audit_auditevent_no_update"]
    with pytest.raises(DatabaseError, match="UPDATE on audit_auditevent refused"), \
            transaction.atomic():
        AuditEvent.objects.update(actor_label="mallory")
    with pytest.raises(DatabaseError, match="DELETE on audit_auditevent refused"), \
            transaction.atomic():
        AuditEvent.objects.all().delete()


def test_record_outside_a_transaction_is_refused(transactional_db: None) -> None:
    with pytest.raises(RuntimeError):
        audit_record(actor=None, action="x", entity="student")
    assert not AuditEvent.objects.exists()


def test_a_read_indexes_the_records_it_showed(cast: Cast) -> None:
    event = audit_read(actor=cast.bob, entity="student", ids=[cast.an.pk, cast.binh.pk],
                       school_id=cast.school_a.pk, view="class_list")
    assert event.kind == Kind.READ
    assert refs_catch_up() == 1
    refs = AuditRecordRef.objects.filter(event=event).order_by("entity_id")
    assert [(r.entity, r.entity_id, r.actor_id, r.seq) for r in refs] == sorted([
        ("student", str(cast.an.pk), cast.bob.pk, event.seq),
        ("student", str(cast.binh.pk), cast.bob.pk, event.seq)])


def test_a_write_indexes_the_fields_it_changed(cast: Cast) -> None:
    with transaction.atomic():
        event = audit_record(actor=cast.alice, action="student.update", entity="student",
                             entity_id=cast.an.pk, school_id=cast.school_a.pk,
                             data={"changes": {"phone": ["***", "***"], "full_name": ["A", "B"]}})
    refs_catch_up()
    assert sorted(AuditRecordRef.objects.filter(event=event).values_list("field", flat=True)) \
        == ["full_name", "phone"]


def test_references_are_derived_once_in_batches_from_where_the_index_stopped(cast: Cast) -> None:
    for n in range(7):
        audit_read(actor=cast.bob, entity="student", ids=[cast.an.pk, n + 1000],
                   school_id=cast.school_a.pk, view="class_list")
    assert refs_catch_up(batch=3) == 7
    assert refs_catch_up() == 0  # nothing new: nothing indexed twice
    audit_read(actor=cast.bob, entity="student", ids=[cast.binh.pk],
               school_id=cast.school_a.pk, view="student_detail")
    assert refs_catch_up() == 1
    shown = AuditRecordRef.objects.filter(entity="student", entity_id=str(cast.an.pk))
    assert shown.count() == 7
    assert AuditRecordRef.objects.filter(entity_id=str(cast.binh.pk)).count() == 1
    assert AuditRecordRef.objects.count() == 15


def test_times_never_go_backwards_along_the_chain(cast: Cast) -> None:
    ChainHead.objects.update_or_create(name="main", defaults={
        "last_occurred_at": dt.datetime(2999, 1, 1, tzinfo=dt.UTC)})
    with transaction.atomic():
        event = audit_record(actor=None, action="seed.bulk_load", entity="x")
    assert event.occurred_at == dt.datetime(2999, 1, 1, tzinfo=dt.UTC)


def test_anonymous_and_system_actors_are_labelled(db: None) -> None:
    from django.contrib.auth.models import AnonymousUser

    with transaction.atomic():
        anonymous = audit_record(actor=AnonymousUser(), action=actions.ACCESS_DENIED,
                                 entity="request")
        system = audit_record(actor=None, action=actions.SEED_BULK_LOAD, entity="x")
    assert (anonymous.actor_label, system.actor_label) == ("anonymous", "system")


def test_control_characters_cannot_blur_the_hashed_line(cast: Cast) -> None:
    with transaction.atomic():
        event = audit_record(actor=cast.alice, action="student.update", entity="stu\x1fdent",
                             entity_id="1\x1e2", data={"note": "a\x1fb"})
    assert event.entity == "stu dent"
    assert event.entity_id == "1 2"
    assert audit_verify_chain() is None


@pytest.mark.parametrize(("action", "kind"), [
    ("student.read", Kind.READ),
    ("staff.read", Kind.READ),
    (actions.AUDIT_READ, Kind.READ),
    ("student.update", Kind.WRITE),
    ("student.create", Kind.WRITE),
    (actions.IMPORT, Kind.WRITE),
    (actions.CONSENT_WITHDRAWN, Kind.WRITE),
    (actions.ACCESS_DENIED, Kind.DENIED),
    (actions.SHARING_REFUSED, Kind.DENIED),
    (actions.AUTH_LOGIN, Kind.ACCOUNT),
    (actions.AUTH_LOCKOUT, Kind.ACCOUNT),
    (actions.ACCOUNT_DEACTIVATED, Kind.ACCOUNT),
    (actions.MEMBERSHIP_GRANTED, Kind.ACCOUNT),
    (actions.SECURITY_CSRF_REFUSED, Kind.DENIED),
    (actions.EXPORT, Kind.DISCLOSURE),
    (actions.SHARING_DISCLOSED, Kind.DISCLOSURE),
    (actions.SEED_BULK_LOAD, Kind.SYSTEM),
    (actions.SYNC_PUSHED, Kind.SYSTEM),
])
def test_every_action_has_a_kind(action: str, kind: Kind) -> None:
    assert kind_of(action) is kind


def test_sensitive_values_are_masked() -> None:
    masked = changes_for_audit({"ethnicity_code": ("01", "05"), "phone": ("", "0912345678"),
                                "full_name": ("A", "B")}, masked={"ethnicity_code", "phone"})
    assert masked == {"ethnicity_code": ["***", "***"], "phone": ["***", "***"],
                      "full_name": ["A", "B"]}


def test_index_command_derives_the_pending_references(cast: Cast) -> None:
    audit_read(actor=cast.bob, entity="student", ids=[cast.an.pk, cast.binh.pk],
               school_id=cast.school_a.pk, view="class_list")
    out = io.StringIO()
    call_command("audit", "index", stdout=out)
    assert "Đã lập chỉ mục 1 sự kiện" in out.getvalue()
    assert set(AuditRecordRef.objects.values_list("entity_id", flat=True)) == {
        str(cast.an.pk), str(cast.binh.pk)}
