"""The turn of the school year: opening the next year, promotion of a class (with the
principal's exceptions), undo, closing the year, the restartable bulk run and its command."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import transaction
from django.http import Http404

from edureg.access import policy
from edureg.access.roles import Perm
from edureg.audit.models import AuditEvent
from edureg.audit.services import audit_verify_chain
from edureg.registry.enrolments import EnrolmentMove, enrolments_move
from edureg.registry.models import Assignment, Enrolment, EnrolmentStatusChange, SchoolClass
from edureg.registry.services import STUDENT_CHANGE_ACTIONS
from edureg.schools.models import SchoolYear, SchoolYearStatus
from edureg.yearly.models import (
    ClassProposal,
    HomeroomProposal,
    Outcome,
    ProposalStatus,
    RolloverRun,
)
from edureg.yearly.services import (
    carried_name,
    homeroom_confirm,
    promotion_commit,
    promotion_undo,
    proposal_exceptions_set,
    rollover_run,
    year_close,
    year_open,
)
from tests import factories as f
from tests.conftest import Cast


@pytest.mark.parametrize(("name", "grade", "expected"), [
    ("3A", 3, "4A"),
    ("1B", 1, "2B"),
    ("9A1", 9, "10A1"),
    ("Lớp 10A1", 10, "Lớp 11A1"),
    ("Hoa Mai", 2, "Hoa Mai"),
    ("3A", 4, "3A"),  # the number is not the grade: the name stays
    ("", 1, ""),
])
def test_carried_name_moves_the_grade_up(name: str, grade: int, expected: str) -> None:
    assert carried_name(name, grade) == expected


def _proposal(school_class: SchoolClass) -> ClassProposal:
    return ClassProposal.objects.get(from_class=school_class)


def _current(student_id: int) -> Enrolment:
    return Enrolment.objects.select_related("school_class").get(student_id=student_id,
                                                                is_current=True)


def test_opening_a_year_carries_classes_to_the_next_grade(cast: Cast) -> None:
    top = f.make_class(cast.school_a, "5A", grade=5)
    opened = year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    assert opened.created
    assert opened.year.start_year == 2027
    assert opened.year.starts_on.year == 2027
    assert opened.year.status == SchoolYearStatus.OPEN
    new_classes = dict(SchoolClass.objects.filter(school_year=opened.year)
                       .values_list("name", "grade"))
    # The top grade's 5A is not carried; grade 1 starts again, empty, for the new intake.
    assert new_classes == {"2A": 2, "2B": 2, "1A": 1, "1B": 1}
    assert opened.classes_carried == 2
    assert opened.classes_started == 2
    assert not Enrolment.objects.filter(school_year=opened.year).exists()
    assert _proposal(cast.class_1a).to_class.name == "2A"
    assert _proposal(top).to_class is None
    assert AuditEvent.objects.filter(action="school_year.opened").count() == 1


def test_opening_again_completes_without_duplicating(cast: Cast) -> None:
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    f.make_class(cast.school_a, "1C")  # a class added to the old year afterwards
    again = year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    assert not again.created
    assert again.proposals_created == 1
    assert again.classes_started == 0  # the new year has its grade-1 classes already
    assert sorted(SchoolClass.objects.filter(school_year=again.year)
                  .values_list("name", flat=True)) == ["1A", "1B", "2A", "2B", "2C"]
    assert ClassProposal.objects.filter(school=cast.school_a).count() == 3


def test_homeroom_teacher_is_carried_as_a_proposal_not_in_force(cast: Cast) -> None:
    opened = year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    class_2a = SchoolClass.objects.get(school_year=opened.year, name="2A")
    proposal = HomeroomProposal.objects.get(school_class=class_2a)
    assert class_2a.homeroom_teacher is None
    assert not policy.scope(SchoolClass.objects.filter(pk=class_2a.pk), cast.bob,
                            Perm.CLASS_VIEW).exists()
    homeroom_confirm(actor=cast.alice, proposal=proposal)
    class_2a.refresh_from_db()
    assert class_2a.homeroom_teacher_id == proposal.staff_id
    assert Assignment.objects.filter(school_class=class_2a, staff_id=proposal.staff_id).exists()
    with pytest.raises(ValidationError):
        homeroom_confirm(actor=cast.alice, proposal=proposal)


def test_opening_needs_the_old_year(cast: Cast) -> None:
    with pytest.raises(ValidationError, match="chưa có năm học 2024–2025"):
        year_open(actor=cast.alice, school=cast.school_a, from_start_year=2024)


def test_opening_refused_while_an_older_year_is_still_open(cast: Cast) -> None:
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    with pytest.raises(ValidationError, match="2026–2027 của trường vẫn đang mở"):
        year_open(actor=cast.alice, school=cast.school_a, from_start_year=2027)
    assert not SchoolYear.objects.filter(school=cast.school_a, start_year=2028).exists()


def test_other_school_principal_cannot_open_the_year(cast: Cast) -> None:
    with pytest.raises(Http404):
        year_open(actor=cast.dave, school=cast.school_a, from_start_year=2026)
    assert not SchoolYear.objects.filter(school=cast.school_a, start_year=2027).exists()


def test_teacher_without_permission_cannot_open_the_year(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        year_open(actor=cast.bob, school=cast.school_a, from_start_year=2026)


def test_promotion_moves_every_pupil_to_the_carried_class(cast: Cast) -> None:
    second = f.make_student(cast.class_1a, "Lê Thị Hà")
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    proposal = _proposal(cast.class_1a)
    result = promotion_commit(actor=cast.alice, proposal=proposal)
    assert result.outcomes == {"promoted": 2}
    assert result.proposal.status == ProposalStatus.COMMITTED
    for pupil_id in (cast.an.pk, second.pk):
        enrolment = _current(pupil_id)
        assert enrolment.school_class.name == "2A"
        assert enrolment.grade == 2
        assert enrolment.status_code == "01"
        ended = Enrolment.objects.get(student_id=pupil_id, school_year__start_year=2026)
        assert not ended.is_current
        assert ended.ended_on == f.current_year(cast.school_a).ends_on
    cast.an.refresh_from_db()
    assert cast.an.current_class_id == proposal.to_class_id
    events = AuditEvent.objects.filter(action="student.promoted")
    assert sorted(events.values_list("entity_id", flat=True)) == sorted(
        [str(cast.an.pk), str(second.pk)])
    assert "student.promoted" in STUDENT_CHANGE_ACTIONS  # the audit event is the sync outbox
    assert _current(cast.binh.pk).school_class == cast.class_1b  # another class: untouched


def test_exceptions_give_each_pupil_their_status(cast: Cast) -> None:
    repeat = f.make_student(cast.class_1a, "Lê Thị Hà")
    left = f.make_student(cast.class_1a, "Võ Văn Khoa")
    moved = f.make_student(cast.class_1a, "Đỗ Thị Lan")
    f.make_class(cast.school_a, "K1", grade=1)
    # Grade 1 starts again under the old names: the repeating pupil goes to the new 1A.
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    proposal = _proposal(cast.class_1a)
    proposal_exceptions_set(actor=cast.alice, proposal=proposal, outcomes={
        repeat.pk: Outcome.REPEAT, left.pk: Outcome.LEFT, moved.pk: Outcome.TRANSFERRED,
        cast.an.pk: Outcome.PROMOTED})
    result = promotion_commit(actor=cast.alice, proposal=proposal)
    assert result.outcomes == {"promoted": 1, "repeat": 1, "left": 1, "transferred": 1}
    again = _current(repeat.pk)
    assert (again.school_class.name, again.grade, again.status_code) == ("1A", 1, "07")
    for pupil, status in ((left, "04"), (moved, "03")):
        assert not Enrolment.objects.filter(student=pupil, is_current=True).exists()
        ended = Enrolment.objects.get(student=pupil)
        assert ended.status_code == status
        assert ended.status_changes.last().status_code == status
        pupil.refresh_from_db()
        assert pupil.current_class_id is None


def test_top_grade_pupils_complete_the_level(cast: Cast) -> None:
    top = f.make_class(cast.school_a, "5A", grade=5)
    pupil = f.make_student(top, "Lê Thị Hà")
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    result = promotion_commit(actor=cast.alice, proposal=_proposal(top))
    assert result.outcomes == {"completed": 1}
    ended = Enrolment.objects.get(student=pupil)
    assert not ended.is_current
    assert ended.status_code == "10"


def test_second_submission_is_refused_and_changes_nothing(cast: Cast) -> None:
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    proposal = _proposal(cast.class_1a)
    promotion_commit(actor=cast.alice, proposal=proposal)
    enrolments = Enrolment.objects.count()
    with pytest.raises(ValidationError, match="đã được chốt lên lớp"):
        promotion_commit(actor=cast.alice, proposal=proposal)
    assert Enrolment.objects.count() == enrolments
    assert AuditEvent.objects.filter(action="student.promoted").count() == 1


def test_pupil_enrolled_elsewhere_is_refused_with_nothing_half_applied(cast: Cast) -> None:
    stays = f.make_student(cast.class_1a, "Lê Thị Hà")
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    proposal = _proposal(cast.class_1a)
    proposal_exceptions_set(actor=cast.alice, proposal=proposal,
                            outcomes={cast.an.pk: Outcome.REPEAT})
    # An is placed in 1B after the exception was set: no longer a pupil of 1A.
    Enrolment.objects.filter(student=cast.an, is_current=True).update(
        school_class=cast.class_1b)
    with pytest.raises(ValidationError, match="Nguyễn Văn An"):
        promotion_commit(actor=cast.alice, proposal=proposal)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.DRAFT
    assert _current(stays.pk).school_class == cast.class_1a
    assert not AuditEvent.objects.filter(action="student.promoted").exists()


def test_class_of_another_school_is_refused(cast: Cast) -> None:
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    year_b = year_open(actor=cast.dave, school=cast.school_b, from_start_year=2026).year
    proposal = _proposal(cast.class_1a)
    proposal.to_class = SchoolClass.objects.get(school_year=year_b, name="2A")
    proposal.save(update_fields=["to_class"])
    with pytest.raises(ValidationError, match="không phải lớp năm học 2027–2028 của trường"):
        promotion_commit(actor=cast.alice, proposal=proposal)
    assert _current(cast.an.pk).school_class == cast.class_1a


def test_registry_refuses_a_target_class_of_another_school(cast: Cast) -> None:
    enrolment = _current(cast.an.pk)
    with pytest.raises(ValidationError, match="thuộc trường khác"):
        enrolments_move(actor=cast.alice, moves=[EnrolmentMove(
            enrolment=enrolment, end_status=None, target=cast.class_b, start_status="01")],
            ended_on=enrolment.started_on, started_on=enrolment.started_on)


def test_registry_refuses_moves_in_a_closed_year(cast: Cast) -> None:
    SchoolYear.objects.filter(pk=cast.class_1a.school_year_id).update(
        status=SchoolYearStatus.CLOSED)
    enrolment = _current(cast.an.pk)
    with pytest.raises(ValidationError, match="đã khoá"):
        enrolments_move(actor=cast.alice, moves=[EnrolmentMove(enrolment=enrolment,
                                                               end_status="04")],
                        ended_on=enrolment.started_on, started_on=enrolment.started_on)
    assert _current(cast.an.pk).status_code == "01"


def test_other_school_principal_cannot_commit(cast: Cast) -> None:
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    with pytest.raises(Http404):
        promotion_commit(actor=cast.dave, proposal=_proposal(cast.class_1a))
    with pytest.raises(Http404):
        proposal_exceptions_set(actor=cast.dave, proposal=_proposal(cast.class_1a),
                                outcomes={cast.an.pk: Outcome.LEFT})


def test_undo_puts_pupils_back_until_the_year_is_closed(cast: Cast) -> None:
    left = f.make_student(cast.class_1a, "Võ Văn Khoa")
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    proposal = _proposal(cast.class_1a)
    proposal_exceptions_set(actor=cast.alice, proposal=proposal,
                            outcomes={left.pk: Outcome.LEFT})
    before = {e.pk: (e.status_code, e.status_since, e.is_current)
              for e in Enrolment.objects.all()}
    changes = EnrolmentStatusChange.objects.count()
    promotion_commit(actor=cast.alice, proposal=proposal)
    undone = promotion_undo(actor=cast.alice, proposal=proposal)
    assert undone.status == ProposalStatus.DRAFT
    assert undone.applied == []
    assert {e.pk: (e.status_code, e.status_since, e.is_current)
            for e in Enrolment.objects.all()} == before
    assert EnrolmentStatusChange.objects.count() == changes
    cast.an.refresh_from_db()
    left.refresh_from_db()
    assert cast.an.current_class_id == left.current_class_id == cast.class_1a.pk
    assert AuditEvent.objects.filter(action="student.promotion_undone").count() == 2
    # Committed again, then the old year closed: no more undo.
    promotion_commit(actor=cast.alice, proposal=proposal)
    promotion_commit(actor=cast.alice, proposal=_proposal(cast.class_1b))
    year_close(actor=cast.alice, year=f.current_year(cast.school_a))
    with pytest.raises(ValidationError, match="đã khoá"):
        promotion_undo(actor=cast.alice, proposal=proposal)
    assert _current(cast.an.pk).school_class.name == "2A"


def test_undo_refused_when_a_pupil_changed_since(cast: Cast) -> None:
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    proposal = _proposal(cast.class_1a)
    promotion_commit(actor=cast.alice, proposal=proposal)
    Enrolment.objects.filter(student=cast.an, is_current=True).update(is_current=False)
    with pytest.raises(ValidationError, match="Nguyễn Văn An"):
        promotion_undo(actor=cast.alice, proposal=proposal)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.COMMITTED


def test_closing_refused_while_pupils_wait(cast: Cast) -> None:
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    promotion_commit(actor=cast.alice, proposal=_proposal(cast.class_1a))
    with pytest.raises(ValidationError, match="1B"):
        year_close(actor=cast.alice, year=f.current_year(cast.school_a))
    assert f.current_year(cast.school_a).status == SchoolYearStatus.OPEN


def test_rollover_run_resumes_without_promoting_twice(cast: Cast) -> None:
    f.make_student(cast.class_1b, "Lê Thị Hà")
    # An earlier, interrupted run: school A opened and 1A committed, nothing else.
    year_open(actor=None, school=cast.school_a, from_start_year=2026)
    promotion_commit(actor=None, proposal=_proposal(cast.class_1a))
    run = RolloverRun.objects.create(authority=cast.school_a.authority, from_start_year=2026,
                                     promote_all=True, started_at=cast.an.created_at)
    skipped = rollover_run(actor=None, schools=[cast.school_a, cast.school_b], run=run)
    assert skipped == []
    assert (run.schools_opened, run.classes_committed, run.pupils_moved) == (1, 2, 3)
    assert Enrolment.objects.filter(is_current=True, school_year__start_year=2027).count() == 4
    promoted = AuditEvent.objects.filter(action="student.promoted")
    assert promoted.count() == promoted.values("entity_id").distinct().count() == 4


def test_year_command_rolls_over_an_authority_and_closes(cast: Cast) -> None:
    out = StringIO()
    call_command("year", "rollover", "--authority", cast.school_a.authority.code, "--from",
                 "2026", "--promote-all", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert (result["schools_opened"], result["classes_committed"],
            result["pupils_moved"]) == (2, 3, 3)
    out = StringIO()
    call_command("year", "rollover", "--school", cast.school_a.code, "--from", "2026",
                 "--promote-all", "--json", stdout=out)
    assert json.loads(out.getvalue())["pupils_moved"] == 0  # run again: nothing twice
    out = StringIO()
    call_command("year", "close", "--authority", cast.school_a.authority.code, "--year", "2026",
                 "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"closed": 2, "problems": []}
    assert not SchoolYear.objects.filter(start_year=2026, status=SchoolYearStatus.OPEN).exists()


def test_year_command_reports_a_school_without_the_year(cast: Cast) -> None:
    out = StringIO()
    call_command("year", "rollover", "--school", cast.school_a.code, "--from", "2020",
                 stdout=out)
    assert "chưa có năm học 2020–2021" in out.getvalue()


def _school_outcome(cast: Cast) -> list[tuple[str, int, str, str | None, bool]]:
    """Every enrolment of school A (pupil, grade, status, class name, current), in order."""
    return sorted(
        (e.student.full_name, e.grade, e.status_code,
         e.school_class.name if e.school_class else None, e.is_current)
        for e in Enrolment.objects.filter(school=cast.school_a).select_related(
            "student", "school_class"))


def _with_exceptions(cast: Cast) -> None:
    """School A: 1A with a pupil repeating and one leaving, 1B plain, a top-grade 5A."""
    repeat = f.make_student(cast.class_1a, "Lê Thị Hà")
    left = f.make_student(cast.class_1a, "Võ Văn Khoa")
    f.make_student(f.make_class(cast.school_a, "5A", grade=5), "Đỗ Thị Lan")
    year_open(actor=None, school=cast.school_a, from_start_year=2026)  # with a new, empty 1A
    proposal_exceptions_set(actor=None, proposal=_proposal(cast.class_1a), outcomes={
        repeat.pk: Outcome.REPEAT, left.pk: Outcome.LEFT})


def test_bulk_rollover_writes_what_class_by_class_commits_write(cast: Cast) -> None:
    """The rollover commits a school's classes in one batch: the enrolments, status changes,
    proposals' undo records and audit events are those of committing each class alone."""
    _with_exceptions(cast)
    by_class = {}
    with transaction.atomic():
        for proposal in ClassProposal.objects.filter(school=cast.school_a).order_by("pk"):
            by_class[proposal.from_class.name] = promotion_commit(
                actor=None, proposal=proposal).outcomes
        expected = (_school_outcome(cast), EnrolmentStatusChange.objects.count(),
                    AuditEvent.objects.filter(action="student.promoted").count())
        transaction.set_rollback(True)
    run = RolloverRun.objects.create(authority=cast.school_a.authority, from_start_year=2026,
                                     promote_all=True, started_at=cast.an.created_at)
    assert rollover_run(actor=None, schools=[cast.school_a], run=run) == []
    assert (_school_outcome(cast), EnrolmentStatusChange.objects.count(),
            AuditEvent.objects.filter(action="student.promoted").count()) == expected
    assert (run.classes_committed, run.pupils_moved) == (3, 5)
    committed = {e.data["proposal"]: e.data["outcomes"] for e in AuditEvent.objects.filter(
        action="class_promotion.committed")}
    proposals = {p.pk: p for p in ClassProposal.objects.filter(school=cast.school_a)}
    assert {proposals[pk].from_class.name: outcomes
            for pk, outcomes in committed.items()} == by_class
    for event in AuditEvent.objects.filter(action="student.promoted"):
        applied = {m["student_id"] for m in proposals[event.data["proposal"]].applied}
        assert int(event.entity_id) in applied  # each pupil's event names their class's proposal


def test_bulk_rollover_leaves_a_refused_class_in_draft_and_commits_the_others(
        cast: Cast) -> None:
    _with_exceptions(cast)
    # The pupil marked as leaving 1A left it since (their enrolment ended elsewhere): 1A's
    # proposal no longer fits and cannot be committed; 1B and 5A still are.
    Enrolment.objects.filter(student__full_name="Võ Văn Khoa", is_current=True).update(
        is_current=False, status_code="03")
    run = RolloverRun.objects.create(authority=cast.school_a.authority, from_start_year=2026,
                                     promote_all=True, started_at=cast.an.created_at)
    skipped = rollover_run(actor=None, schools=[cast.school_a], run=run)
    assert [s.reason for s in skipped] == [
        "Học sinh không còn học lớp 1A: Võ Văn Khoa. Hãy sửa đề xuất rồi chốt lại."]
    assert _proposal(cast.class_1a).status == ProposalStatus.DRAFT
    assert Enrolment.objects.filter(school_class=cast.class_1a, is_current=True).count() == 2
    assert (run.classes_committed, run.pupils_moved) == (2, 2)


def test_a_class_of_the_bulk_rollover_undoes_alone(cast: Cast) -> None:
    _with_exceptions(cast)
    before = _school_outcome(cast)
    run = RolloverRun.objects.create(authority=cast.school_a.authority, from_start_year=2026,
                                     promote_all=True, started_at=cast.an.created_at)
    rollover_run(actor=None, schools=[cast.school_a], run=run)
    for proposal in ClassProposal.objects.filter(school=cast.school_a):
        promotion_undo(actor=None, proposal=proposal)
    assert _school_outcome(cast) == before  # every pupil back, with their former status
    assert Enrolment.objects.filter(school_year__start_year=2027).count() == 0


@pytest.mark.django_db(transaction=True)
def test_rollover_by_several_threads_moves_each_pupil_once(cast: Cast) -> None:
    """Schools taken by three threads (PostgreSQL; SQLite runs them one by one): every pupil
    moved once, the problems in the schools' order, the audit chain unbroken."""
    schools = [cast.school_a, cast.school_b]
    for n in range(4):
        school = f.make_school(cast.school_a.authority, code=f"W{n:04d}", name=f"Trường số {n}")
        for grade in (1, 3, 5):
            school_class = f.make_class(school, f"{grade}A", grade=grade)
            for k in range(3):
                f.make_student(school_class, f"Học Sinh {n} {grade} {k}")
        schools.append(school)
    # One refused school in the middle: a pupil marked as leaving has left since.
    leaving = f.make_student(f.make_class(schools[3], "2A", grade=2), "Võ Văn Khoa")
    year_open(actor=None, school=schools[3], from_start_year=2026)
    proposal_exceptions_set(actor=None, proposal=_proposal(leaving.current_class),
                            outcomes={leaving.pk: Outcome.LEFT})
    Enrolment.objects.filter(student=leaving, is_current=True).update(is_current=False)
    current = dict(Enrolment.objects.filter(is_current=True).values_list("student_id", "pk"))

    run = RolloverRun.objects.create(authority=cast.school_a.authority, from_start_year=2026,
                                     promote_all=True, started_at=cast.an.created_at)
    skipped = rollover_run(actor=None, schools=schools, run=run, schools_per_rescan=4,
                           workers=3)

    assert [s.school for s in skipped] == [schools[3].code]
    new_year = Enrolment.objects.filter(school_year__start_year=2027)
    assert sorted(new_year.values_list("student_id", flat=True)) == sorted(
        student_id for student_id in current
        if Enrolment.objects.get(pk=current[student_id]).grade != 5)
    assert not Enrolment.objects.filter(school_year__start_year=2026, is_current=True).exists()
    promoted = AuditEvent.objects.filter(action="student.promoted")
    assert sorted(int(e) for e in promoted.values_list("entity_id", flat=True)) == sorted(current)
    assert run.pupils_moved == len(current)
    assert audit_verify_chain() is None
