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
    # Added to this pupil's audit event (a school's classes promoted together: the proposal).
    audit_data: Mapping[str, object] | None = None


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
        # The enrolments locked and read as plain values (a model instance each cost more than
        # the rest of the move): pk → (status, status since, year).
        current: dict[int, tuple[str, dt.date, int]] = {}
        ids = sorted(wanted)
        for start in range(0, len(ids), _CHUNK):
            current.update((pk, (status, since, year)) for pk, status, since, year in (
                Enrolment.objects.select_for_update()
                .filter(pk__in=ids[start:start + _CHUNK], is_current=True)
                .values_list("pk", "status_code", "status_since", "school_year_id")))
        gone = [move.enrolment.student_id for pk, move in wanted.items() if pk not in current]
        if gone:
            raise ValidationError(_("Học sinh không còn học ở lớp này (đã chuyển lớp, chuyển "
                                    "trường hoặc đã lên lớp): %(names)s. Hãy tải lại danh sách.")
                                  % {"names": _names(gone)})
        for year in SchoolYear.objects.filter(pk__in={row[2] for row in current.values()}):
            year_writable(year)
        endings: dict[int, str] = {}  # enrolment → the status its ending records
        ended_status: dict[int, str] = {}
        # One UPDATE per kind of ending (not a per-row CASE): a class is a few statements.
        by_ending: dict[str | None, list[int]] = defaultdict(list)
        for pk, move in wanted.items():
            status = current[pk][0]
            end_status = move.end_status
            if end_status is not None and end_status != status:
                endings[pk] = end_status
            else:
                end_status = None
            ended_status[pk] = end_status or status
            by_ending[end_status].append(pk)
        for end_status, pks in by_ending.items():
            for start in range(0, len(pks), _CHUNK):
                values: dict[str, object] = {"is_current": False, "ended_on": ended_on}
                if end_status is not None:
                    values |= {"status_code": end_status, "status_since": ended_on}
                Enrolment.objects.filter(pk__in=pks[start:start + _CHUNK]).update(**values)
        starting = [move for move in wanted.values() if move.target is not None]
        # Rows without model instances' placeholders per value (``insert_rows``): for a
        # rollover of the whole authority bulk_create cost more than the database.
        started_ids = insert_rows(Enrolment, [
            {"student_id": move.enrolment.student_id, "school_id": move.target.school_id,
             "school_year_id": move.target.school_year_id, "school_class_id": move.target.pk,
             "grade": move.target.grade, "status_code": move.start_status,
             "status_since": started_on, "started_on": started_on, "is_current": True}
            for move in starting if move.target is not None])
        change_ids = insert_rows(EnrolmentStatusChange, [
            *({"enrolment_id": pk, "status_code": status, "effective_on": ended_on,
               "recorded_by_id": recorded_by} for pk, status in endings.items()),
            *({"enrolment_id": pk, "status_code": move.start_status,
               "effective_on": started_on, "recorded_by_id": recorded_by}
              for move, pk in zip(starting, started_ids, strict=True))])
        ending_change = dict(zip(endings, change_ids, strict=False))
        new_by_student = {move.enrolment.student_id: (pk, move.target.pk if move.target else None)
                          for move, pk in zip(starting, started_ids, strict=True)}
        now = timezone.now()
        by_class: dict[int | None, list[int]] = defaultdict(list)
        for move in wanted.values():
            by_class[move.target.pk if move.target else None].append(move.enrolment.student_id)
        for class_id, student_ids in by_class.items():
            for start in range(0, len(student_ids), _CHUNK):
                Student.objects.filter(pk__in=student_ids[start:start + _CHUNK]).update(
                    current_class_id=class_id, updated_at=now)
        moved: list[MovedEnrolment] = []
        events: list[AuditItem] = []
        for pk, move in wanted.items():
            student_id = move.enrolment.student_id
            started_id, started_class_id = new_by_student.get(student_id, (None, None))
            events.append(AuditItem(entity_id=student_id, school_id=move.enrolment.school_id,
                                    data={"outcome": move.outcome,
                                          "changes": {
                                              "current_class": [move.enrolment.school_class_id,
                                                                move.target.pk if move.target
                                                                else None],
                                              "status_code": [current[pk][0],
                                                              ended_status[pk]]},
                                          **(audit_data or {}), **(move.audit_data or {})}))
            moved.append(MovedEnrolment(student_id=student_id, ended_id=pk,
                                        ended_status=current[pk][0],
                                        ended_status_since=current[pk][1],
                                        ended_change_id=ending_change.get(pk),
                                        started_id=started_id,
                                        started_class_id=started_class_id))
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
