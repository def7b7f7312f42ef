"""Moving school on the same person: asked by the sending school, confirmed by the receiving
one; the pupil record, its history, guardians and checks move, and no new person appears."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from edureg.access.roles import Role
from edureg.audit.models import AuditEvent
from edureg.quality.models import CheckKind, FieldGroupCheck, QualityTotal, RecordState
from edureg.registry.models import (
    Enrolment,
    Guardian,
    Student,
    StudentGuardian,
    Transfer,
    TransferStatus,
)
from edureg.registry.quality import records_refresh
from edureg.registry.transfers import (
    transfer_accept,
    transfer_cancel,
    transfer_refuse,
    transfer_request,
)
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 20)


def test_a_transfer_moves_the_same_pupil_with_history_guardians_and_checks(
        cast: Cast) -> None:
    guardian = f.make_guardian(cast.an)
    FieldGroupCheck.objects.create(entity="student", record_id=cast.an.pk,
                                   school_id=cast.school_a.pk, group="identity",
                                   kind=CheckKind.REGISTER, checked_at=dt.datetime(
                                       2026, 11, 1, tzinfo=dt.UTC))
    records_refresh("student", [cast.an.pk])
    pupils_before = Student.objects.count()
    transfer = transfer_request(actor=cast.alice, student=cast.an, to_school=cast.school_b,
                                effective_on=DAY, note="Gia đình chuyển nhà")
    assert Student.objects.get(pk=cast.an.pk).school_id == cast.school_a.pk, "not before"

    done = transfer_accept(actor=cast.dave, transfer=transfer, school_class=cast.class_b)

    assert done.status == TransferStatus.ACCEPTED
    assert Student.objects.count() == pupils_before, "never a new person"
    moved = Student.objects.get(pk=cast.an.pk)
    assert (moved.school_id, moved.current_class_id) == (cast.school_b.pk, cast.class_b.pk)
    enrolments = list(Enrolment.objects.filter(student=moved).order_by("started_on", "pk"))
    assert [(e.school_id, e.is_current, e.status_code) for e in enrolments] == [
        (cast.school_a.pk, False, "03"), (cast.school_b.pk, True, "02")]
    assert enrolments[0].ended_on == DAY
    assert enrolments[1].started_on == DAY
    assert Guardian.objects.get(pk=guardian.pk).school_id == cast.school_b.pk
    assert set(FieldGroupCheck.objects.filter(record_id=moved.pk)
               .values_list("school_id", flat=True)) == {cast.school_b.pk}
    state = RecordState.objects.get(entity="student", record_id=moved.pk)
    assert (state.school_id, state.class_id) == (cast.school_b.pk, cast.class_b.pk)
    totals = {t.school_id: t.records for t in QualityTotal.objects.filter(
        class_id=None, entity="student")}
    assert totals[cast.school_b.pk] >= 1
    events = AuditEvent.objects.filter(action="student.transferred")
    assert set(events.values_list("school_id", flat=True)) == {cast.school_a.pk,
                                                              cast.school_b.pk}


def test_a_guardian_with_a_child_left_behind_stays(cast: Cast) -> None:
    guardian = f.make_guardian(cast.an)
    StudentGuardian.objects.create(student=cast.binh, guardian=guardian, relation_code="01")
    transfer = transfer_request(actor=cast.alice, student=cast.an, to_school=cast.school_b,
                                effective_on=DAY)
    transfer_accept(actor=cast.dave, transfer=transfer, school_class=cast.class_b)
    assert Guardian.objects.get(pk=guardian.pk).school_id == cast.school_a.pk


@pytest.mark.parametrize(("change", "field"), [
    ({"to_school": "same"}, "to_school"),
    ({"effective_on": dt.date(2000, 1, 1)}, "effective_on"),
    ({"effective_on": dt.date(2099, 1, 1)}, "effective_on"),
])
def test_bad_requests_name_the_field_and_write_nothing(cast: Cast, change: dict[str, object],
                                                       field: str) -> None:
    arguments: dict[str, object] = {"to_school": cast.school_b, "effective_on": DAY}
    arguments.update(change)
    if arguments["to_school"] == "same":
        arguments["to_school"] = cast.school_a
    with pytest.raises(ValidationError) as refused:
        transfer_request(actor=cast.alice, student=cast.an, **arguments)  # type: ignore[arg-type]
    assert field in refused.value.message_dict
    assert not Transfer.objects.exists()


def test_one_open_request_per_pupil(cast: Cast) -> None:
    transfer_request(actor=cast.alice, student=cast.an, to_school=cast.school_b,
                     effective_on=DAY)
    with pytest.raises(ValidationError) as refused:
        transfer_request(actor=cast.alice, student=cast.an, to_school=cast.school_b,
                         effective_on=DAY)
    assert "student" in refused.value.message_dict


def test_only_the_schools_concerned_act_and_in_their_role(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):  # a homeroom teacher does not move pupils
        transfer_request(actor=cast.bob, student=cast.an, to_school=cast.school_b)
    with pytest.raises(Http404):  # another school's pupil
        transfer_request(actor=cast.dave, student=cast.an, to_school=cast.school_b)
    transfer = transfer_request(actor=cast.alice, student=cast.an, to_school=cast.school_b,
                                effective_on=DAY)
    with pytest.raises(Http404):  # the sending school cannot accept for the receiving one
        transfer_accept(actor=cast.alice, transfer=transfer, school_class=cast.class_b)
    with pytest.raises(ValidationError) as wrong_class:
        transfer_accept(actor=cast.dave, transfer=transfer, school_class=cast.class_1a)
    assert "school_class" in wrong_class.value.message_dict
    assert Student.objects.get(pk=cast.an.pk).school_id == cast.school_a.pk


def test_refused_and_cancelled_requests_leave_the_pupil_where_they_are(cast: Cast) -> None:
    transfer = transfer_request(actor=cast.alice, student=cast.an, to_school=cast.school_b,
                                effective_on=DAY)
    with pytest.raises(ValidationError):
        transfer_refuse(actor=cast.dave, transfer=transfer, note="")
    refused = transfer_refuse(actor=cast.dave, transfer=transfer, note="Trường đã đủ sĩ số")
    assert refused.status == TransferStatus.REFUSED
    with pytest.raises(ValidationError):
        transfer_accept(actor=cast.dave, transfer=refused, school_class=cast.class_b)
    again = transfer_request(actor=cast.alice, student=cast.an, to_school=cast.school_b,
                             effective_on=DAY)
    assert transfer_cancel(actor=cast.alice, transfer=again).status == TransferStatus.CANCELLED
    assert Student.objects.get(pk=cast.an.pk).school_id == cast.school_a.pk
    assert Enrolment.objects.filter(student=cast.an, is_current=True).get().school_id \
        == cast.school_a.pk


def test_the_clerk_may_move_pupils(cast: Cast) -> None:
    clerk = f.make_user("clerk", Role.RECORDS_CLERK, cast.school_a)
    transfer = transfer_request(actor=clerk, student=cast.binh, to_school=cast.school_b,
                                effective_on=DAY)
    assert transfer.requested_by_id == clerk.pk


def test_the_identity_state_follows_the_pupil_to_the_new_school(cast: Cast) -> None:
    from django.utils import timezone

    from edureg.identity.models import IdentityState
    from edureg.identity.services import changes_catch_up

    IdentityState.objects.create(entity="student", record_id=cast.an.pk,
                                 school_id=cast.school_a.pk, updated_at=timezone.now())
    transfer = transfer_request(actor=cast.alice, student=cast.an, to_school=cast.school_b,
                                effective_on=DAY)
    transfer_accept(actor=cast.dave, transfer=transfer, school_class=cast.class_b)
    changes_catch_up()
    assert IdentityState.objects.get(record_id=cast.an.pk).school_id == cast.school_b.pk
