"""Enrolment moves at the turn of a school year: a pupil's current enrolment ends with a status
(promoted, repeating, left, transferred, completed) and, unless they leave, one in a class of the
next year starts. Many pupils at once, inside the caller's transaction; audited per pupil (the
audit event is the outbox of the upward sync) and the quality state refreshed in one batch.

The callers (``edureg.yearly``) authorise; this module checks what the registry itself guards:
the same school, an open year, the pupil still where the caller believes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor
from edureg.audit.services import AuditItem, audit_record_many
from edureg.registry.bulk import insert_rows
from edureg.registry.models import Enrolment, EnrolmentStatusChange, SchoolClass, Student
from edureg.registry.quality import records_refresh
from edureg.schools.models import SchoolYear, SchoolYearStatus

PROMOTED_ACTION = "student.promoted"
PROMOTION_UNDONE_ACTION = "student.promotion_undone"
_CHUNK = 500


@dataclasses.dataclass(frozen=True)
class EnrolmentMove:
    """End ``enrolment`` (the pupil's current one), with ``end_status`` or keeping its status
    (``None``: the year simply ended); then, with a ``target`` class, start an enrolment there
    with ``start_status``."""

    enrolment: Enrolment
    end_status: str | None
    target: SchoolClass | None = None
    start_status: str = ""
    outcome: str = ""


@dataclasses.dataclass(frozen=True)
class MovedEnrolment:
    student_id: int
    ended_id: int
    ended_status: str  # the status the ended enrolment had before (for the undo)
    ended_status_since: dt.date
    ended_change_id: int | None  # the status change the ending recorded, if any
    started_id: int | None
    started_class_id: int | None


def _actor_id(actor: Actor | None) -> int | None:
    return int(actor.pk) if actor is not None and actor.is_authenticated else None


def year_writable(year: SchoolYear) -> None:
    """Closed years are read-only: refuse any enrolment write in one."""
    if year.status != SchoolYearStatus.OPEN:
        raise ValidationError(_("Năm học %(year)s đã khoá: không thay đổi được quá trình học "
                                "của năm này.") % {"year": year.label})


def _names(student_ids: Sequence[int]) -> str:
    names = Student.objects.filter(pk__in=list(student_ids)[:3]).values_list("full_name",
                                                                             flat=True)
    more = len(student_ids) - 3
    return ", ".join(names) + (_(" và %(count)d học sinh khác") % {"count": more}
                               if more > 0 else "")


def enrolments_move(*, actor: Actor | None, moves: Sequence[EnrolmentMove], ended_on: dt.date,
                    started_on: dt.date, audit_data: Mapping[str, object] | None = None,
                    refresh_quality: bool = True) -> list[MovedEnrolment]:
    """Apply ``moves`` in one transaction; refuse all of them (nothing written) when a pupil is
    no longer in the enrolment given, or a target class is of another school or a closed year.
    ``refresh_quality`` False: the caller recomputes the pupils' quality state itself, by the
    schools' batch rescan once the whole run is committed (the bulk rollover)."""
    if not moves:
        return []
    targets = {move.target.pk: move.target for move in moves if move.target is not None}
    for target in targets.values():
        year_writable(target.school_year)
    for move in moves:
        if move.target is not None and move.target.school_id != move.enrolment.school_id:
            raise ValidationError(_("Lớp %(name)s thuộc trường khác: học sinh chỉ lên lớp trong "
                                    "trường đang học.") % {"name": move.target.name})
    recorded_by = _actor_id(actor)
    with transaction.atomic():
        wanted = {move.enrolment.pk: move for move in moves}
        current: dict[int, Enrolment] = {}
        ids = sorted(wanted)
        for start in range(0, len(ids), _CHUNK):
            current.update(Enrolment.objects.select_for_update(of=("self",))
                           .select_related("school_year")
                           .filter(pk__in=ids[start:start + _CHUNK], is_current=True)
                           .in_bulk())
        gone = [move.enrolment.student_id for pk, move in wanted.items() if pk not in current]
        if gone:
            raise ValidationError(_("Học sinh không còn học ở lớp này (đã chuyển lớp, chuyển "
                                    "trường hoặc đã lên lớp): %(names)s. Hãy tải lại danh sách.")
                                  % {"names": _names(gone)})
        for enrolment in current.values():
            year_writable(enrolment.school_year)
        started: list[Enrolment] = []
        endings: dict[int, EnrolmentStatusChange] = {}
        previous: dict[int, tuple[str, dt.date]] = {}
        # One UPDATE per kind of ending (not a per-row CASE): a class is a few statements.
        by_ending: dict[str | None, list[int]] = defaultdict(list)
        for pk, move in wanted.items():
            enrolment = current[pk]
            previous[pk] = (enrolment.status_code, enrolment.status_since)
            enrolment.is_current, enrolment.ended_on = False, ended_on
            end_status = move.end_status
            if end_status is not None and end_status != enrolment.status_code:
                enrolment.status_code, enrolment.status_since = end_status, ended_on
                endings[pk] = EnrolmentStatusChange(enrolment=enrolment, status_code=end_status,
                                                    effective_on=ended_on,
                                                    recorded_by_id=recorded_by)
            else:
                end_status = None
            by_ending[end_status].append(pk)
        for end_status, pks in by_ending.items():
            values: dict[str, object] = {"is_current": False, "ended_on": ended_on}
            if end_status is not None:
                values |= {"status_code": end_status, "status_since": ended_on}
            Enrolment.objects.filter(pk__in=pks).update(**values)
        for move in wanted.values():
            if move.target is None:
                continue
            started.append(Enrolment(
                student_id=move.enrolment.student_id, school_id=move.target.school_id,
                school_year_id=move.target.school_year_id, school_class=move.target,
                grade=move.target.grade, status_code=move.start_status, status_since=started_on,
                started_on=started_on, is_current=True))
        # Rows without model instances' placeholders per value (``insert_rows``): for a
        # rollover of the whole authority bulk_create cost more than the database.
        for enrolment, pk in zip(started, insert_rows(Enrolment, [
                {"student_id": e.student_id, "school_id": e.school_id,
                 "school_year_id": e.school_year_id, "school_class_id": e.school_class_id,
                 "grade": e.grade, "status_code": e.status_code, "status_since": started_on,
                 "started_on": started_on, "is_current": True} for e in started]), strict=True):
            enrolment.pk = pk
        change_ids = insert_rows(EnrolmentStatusChange, [
            *({"enrolment_id": change.enrolment_id, "status_code": change.status_code,
               "effective_on": ended_on, "recorded_by_id": recorded_by}
              for change in endings.values()),
            *({"enrolment_id": enrolment.pk, "status_code": enrolment.status_code,
               "effective_on": started_on, "recorded_by_id": recorded_by}
              for enrolment in started)])
        for change, pk in zip(endings.values(), change_ids, strict=False):
            change.pk = pk
        new_by_student = {enrolment.student_id: enrolment for enrolment in started}
        now = timezone.now()
        by_class: dict[int | None, list[int]] = defaultdict(list)
        for move in wanted.values():
            by_class[move.target.pk if move.target else None].append(move.enrolment.student_id)
        for class_id, student_ids in by_class.items():
            Student.objects.filter(pk__in=student_ids).update(current_class_id=class_id,
                                                              updated_at=now)
        moved: list[MovedEnrolment] = []
        events: list[AuditItem] = []
        for pk, move in wanted.items():
            student_id = move.enrolment.student_id
            new = new_by_student.get(student_id)
            events.append(AuditItem(entity_id=student_id, school_id=move.enrolment.school_id,
                                    data={"outcome": move.outcome,
                                          "changes": {
                                              "current_class": [move.enrolment.school_class_id,
                                                                move.target.pk if move.target
                                                                else None],
                                              "status_code": [previous[pk][0],
                                                              current[pk].status_code]},
                                          **(audit_data or {})}))
            ending = endings.get(pk)
            moved.append(MovedEnrolment(student_id=student_id, ended_id=pk,
                                        ended_status=previous[pk][0],
                                        ended_status_since=previous[pk][1],
                                        ended_change_id=ending.pk if ending else None,
                                        started_id=new.pk if new is not None else None,
                                        started_class_id=new.school_class_id if new else None))
        audit_record_many(actor=actor, action=PROMOTED_ACTION, entity="student", items=events)
        if refresh_quality:
            _refresh([m.student_id for m in moved])
    return moved


def enrolments_restore(*, actor: Actor | None, moved: Sequence[MovedEnrolment],
                       audit_data: Mapping[str, object] | None = None) -> None:
    """Undo ``enrolments_move``: the enrolments it started are removed and the ones it ended
    are current again, with their former status. Refused (nothing written) when the year of an
    ended enrolment is closed, or a pupil has changed since (another class, status or school)."""
    if not moved:
        return
    with transaction.atomic():
        ended = (Enrolment.objects.select_for_update(of=("self",)).select_related("school_year")
                 .in_bulk([m.ended_id for m in moved]))
        started_ids = [m.started_id for m in moved if m.started_id is not None]
        started = Enrolment.objects.select_for_update().in_bulk(started_ids)
        for enrolment in ended.values():
            year_writable(enrolment.school_year)
        counts = dict(EnrolmentStatusChange.objects.filter(enrolment_id__in=started_ids)
                      .values("enrolment_id").annotate(n=Count("id"))
                      .values_list("enrolment_id", "n"))
        still_current = set(Enrolment.objects.filter(
            student_id__in=[m.student_id for m in moved if m.started_id is None],
            is_current=True).values_list("student_id", flat=True))
        changed = []
        for m in moved:
            old = ended.get(m.ended_id)
            if old is None or old.is_current:
                changed.append(m.student_id)
            elif m.started_id is None:
                if m.student_id in still_current:
                    changed.append(m.student_id)  # enrolled again since (elsewhere)
            else:
                new = started.get(m.started_id)
                if new is None or not new.is_current or new.school_class_id != m.started_class_id \
                        or counts.get(m.started_id) != 1:
                    changed.append(m.student_id)  # moved class, status or school since
        if changed:
            raise ValidationError(_("Không hoàn tác được: quá trình học của học sinh đã thay đổi "
                                    "sau khi chốt lên lớp: %(names)s.")
                                  % {"names": _names(changed)})
        new_classes = {m.student_id: started[m.started_id].school_class_id
                       for m in moved if m.started_id is not None}
        Enrolment.objects.filter(pk__in=started_ids).delete()
        # The ending's status change goes with the undo: the history reads as before.
        EnrolmentStatusChange.objects.filter(
            pk__in=[m.ended_change_id for m in moved if m.ended_change_id is not None]).delete()
        by_former: dict[tuple[str, dt.date], list[int]] = defaultdict(list)
        by_class: dict[int | None, list[int]] = defaultdict(list)
        for m in moved:
            by_former[(m.ended_status, m.ended_status_since)].append(m.ended_id)
            by_class[ended[m.ended_id].school_class_id].append(m.student_id)
        for (status, since), pks in by_former.items():
            Enrolment.objects.filter(pk__in=pks).update(is_current=True, ended_on=None,
                                                        status_code=status, status_since=since)
        now = timezone.now()
        for class_id, student_ids in by_class.items():
            Student.objects.filter(pk__in=student_ids).update(current_class_id=class_id,
                                                              updated_at=now)
        audit_record_many(actor=actor, action=PROMOTION_UNDONE_ACTION, entity="student", items=[
            AuditItem(entity_id=m.student_id, school_id=ended[m.ended_id].school_id,
                      data={"changes": {"current_class": [new_classes.get(m.student_id),
                                                          ended[m.ended_id].school_class_id]},
                            **(audit_data or {})})
            for m in moved])
        _refresh([m.student_id for m in moved])


def _refresh(ids: Sequence[int]) -> None:
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CHUNK):
        records_refresh("student", wanted[start:start + _CHUNK])
