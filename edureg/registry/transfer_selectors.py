"""Reads for moving school (chuyển trường), always through the policy.

The receiving school decides about pupils it does not hold yet: it is shown what it needs to
decide (name, date of birth, sex, sending school, date, note) and nothing else of the record,
and that read is audited under the sending school, whose pupils they still are, so the sending
school's supervision sees who looked at them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import Http404

from edureg.access.policy import Actor, get_scoped_or_404, require, scope
from edureg.access.roles import Perm
from edureg.audit.services import audit_read
from edureg.registry.models import SchoolClass, Student, Transfer, TransferStatus
from edureg.schools.models import School, SchoolYearStatus

OUTGOING_SHOWN = 100


def transfer_student_get(*, actor: Actor, student_id: int) -> Student:
    """The pupil whose move the actor may ask for (403 without the permission, 404 out of
    scope). No read is audited: nothing of the record is shown by the caller."""
    return get_scoped_or_404(Student.objects.select_related("school"), actor,
                             Perm.STUDENT_TRANSFER, pk=student_id)


def transfer_destinations(*, student: Student) -> QuerySet[School]:
    """The schools a pupil may move to: the other active schools of the same authority."""
    return (School.objects.filter(authority_id=student.school.authority_id, is_active=True)
            .exclude(pk=student.school_id).order_by("name", "pk"))


def transfers_of_student(*, student: Student) -> list[Transfer]:
    """The pupil's transfers, newest first (the caller has fetched the pupil in scope)."""
    return list(Transfer.objects.filter(student=student)
                .select_related("from_school", "to_school")
                .order_by("-requested_at", "-pk"))


def placement_classes(*, school: School) -> list[SchoolClass]:
    """The classes of ``school`` in its open school year, by grade and name."""
    return list(SchoolClass.objects.filter(school=school,
                                           school_year__status=SchoolYearStatus.OPEN)
                .order_by("grade", "name", "pk"))


def incoming_count(*, actor: Actor, school: School) -> int:
    """How many requests wait for ``school``'s decision (a counter: no personal data)."""
    require(actor, Perm.STUDENT_TRANSFER, school)
    return Transfer.objects.filter(to_school=school, status=TransferStatus.REQUESTED).count()


@dataclasses.dataclass(frozen=True)
class IncomingRow:
    """What the receiving school is shown of a pupil it does not hold yet."""

    transfer_id: int
    full_name: str
    date_of_birth: dt.date | None
    sex_label: str
    from_school: str
    effective_on: dt.date
    note: str
    requested_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Incoming:
    school: School
    rows: Sequence[IncomingRow]


def incoming_for_school(*, actor: Actor, school_id: int) -> Incoming:
    """The open requests to move a pupil to ``school_id``, oldest first. The read is audited:
    one event per sending school (usually one), under that school."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.STUDENT_TRANSFER, pk=school_id)
    transfers = list(
        Transfer.objects.filter(to_school=school, status=TransferStatus.REQUESTED)
        .select_related("student", "from_school")
        .only("pk", "effective_on", "note", "requested_at", "from_school_id", "student_id",
              "student__full_name", "student__date_of_birth", "student__sex",
              "from_school__name")
        .order_by("requested_at", "pk"))
    rows = [IncomingRow(transfer_id=t.pk, full_name=t.student.full_name,
                        date_of_birth=t.student.date_of_birth,
                        sex_label=str(t.student.get_sex_display()),
                        from_school=t.from_school.name, effective_on=t.effective_on,
                        note=t.note, requested_at=t.requested_at)
            for t in transfers]
    by_school: dict[int, list[int]] = defaultdict(list)
    for transfer in transfers:
        by_school[transfer.from_school_id].append(transfer.student_id)
    for from_school_id, student_ids in sorted(by_school.items()):
        audit_read(actor=actor, entity="student", ids=student_ids, school_id=from_school_id,
                   view="transfer_incoming", extra={"to_school_id": school.pk})
    return Incoming(school=school, rows=rows)


def transfer_incoming_get(*, actor: Actor, transfer_id: int) -> Transfer:
    """A request addressed to a school where the actor may decide on transfers (403 without
    the permission, 404 for another school's or a missing one)."""
    require(actor, Perm.STUDENT_TRANSFER)
    schools = scope(School.objects.all(), actor, Perm.STUDENT_TRANSFER)
    transfer = (Transfer.objects.select_related("student", "to_school")
                .filter(pk=transfer_id, to_school__in=schools).first())
    if transfer is None:
        raise Http404
    return transfer


def transfer_outgoing_get(*, actor: Actor, transfer_id: int) -> Transfer:
    """A request about a pupil the actor may move (403 without the permission, 404 for another
    school's pupil or a missing one)."""
    require(actor, Perm.STUDENT_TRANSFER)
    students = scope(Student.objects.all(), actor, Perm.STUDENT_TRANSFER)
    transfer = (Transfer.objects.select_related("student", "to_school")
                .filter(pk=transfer_id, student__in=students).first())
    if transfer is None:
        raise Http404
    return transfer


@dataclasses.dataclass(frozen=True)
class OutgoingRow:
    transfer_id: int
    student_id: int
    full_name: str
    still_here: bool  # the pupil is still at the sending school (their page can be opened)
    to_school: str
    effective_on: dt.date
    status: str
    status_label: str
    decision_note: str
    requested_at: dt.datetime
    decided_at: dt.datetime | None

    @property
    def is_open(self) -> bool:
        return self.status == TransferStatus.REQUESTED


@dataclasses.dataclass(frozen=True)
class Outgoing:
    school: School
    rows: Sequence[OutgoingRow]
    open_count: int


def outgoing_for_school(*, actor: Actor, school_id: int,
                        limit: int = OUTGOING_SHOWN) -> Outgoing:
    """The school's requests to move its pupils elsewhere: open ones first, then the latest
    decided. The read (pupils' names) is audited."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.STUDENT_TRANSFER, pk=school_id)
    open_first = Case(When(status=TransferStatus.REQUESTED, then=Value(0)), default=Value(1),
                      output_field=IntegerField())
    transfers = list(
        Transfer.objects.filter(from_school=school)
        .select_related("student", "to_school")
        .only("pk", "effective_on", "status", "decision_note", "requested_at", "decided_at",
              "student_id", "student__full_name", "student__school_id", "to_school__name")
        .order_by(open_first, "-requested_at", "-pk")[:limit])
    rows = [OutgoingRow(transfer_id=t.pk, student_id=t.student_id,
                        full_name=t.student.full_name,
                        still_here=t.student.school_id == school.pk,
                        to_school=t.to_school.name, effective_on=t.effective_on,
                        status=t.status, status_label=str(TransferStatus(t.status).label),
                        decision_note=t.decision_note, requested_at=t.requested_at,
                        decided_at=t.decided_at)
            for t in transfers]
    if rows:
        audit_read(actor=actor, entity="student", ids=[row.student_id for row in rows],
                   school_id=school.pk, view="transfer_outgoing")
    return Outgoing(school=school, rows=rows,
                    open_count=sum(1 for row in rows if row.is_open))
