"""Graduation hand-over (chuyển cấp): grade-5 leavers of a primary school, once its promotion is
committed, are assigned to a lower-secondary school of the authority and accepted there on the
same pupil record."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import Http404
from django.test import Client
from django.urls import reverse

from edureg.access.models import User
from edureg.access.roles import Role
from edureg.audit.models import AuditEvent
from edureg.registry.models import (
    Enrolment,
    EnrolmentStatusChange,
    Guardian,
    SchoolClass,
    Student,
)
from edureg.registry.services import STUDENT_CHANGE_ACTIONS
from edureg.schools.models import School, SchoolYear
from edureg.yearly.handover import (
    handover_accept,
    handover_assign,
    handover_claim,
    handover_decline,
    handover_incoming,
    handover_leavers,
    handover_pool,
)
from edureg.yearly.models import ClassProposal, Handover, HandoverStatus
from edureg.yearly.services import promotion_commit, promotion_undo, year_open
from tests import factories as f
from tests.conftest import Cast

COMPLETED_PRIMARY = "10"  # "Hoàn thành chương trình"


@dataclasses.dataclass
class World:
    cast: Cast
    class_5a: SchoolClass
    pupils: list[Student]
    thcs: School  # the receiving lower-secondary school
    thcs_other: School
    class_6a: SchoolClass  # grade 6 of the next year at ``thcs``
    class_6_other: SchoolClass  # grade 6 of the next year at ``thcs_other``
    son: User  # principal of ``thcs``
    lan: User  # principal of ``thcs_other``


def _next_year(school: School) -> SchoolYear:
    return SchoolYear.objects.create(
        school=school, start_year=2027, starts_on=dt.date(2027, 9, 5), ends_on=dt.date(2028, 5, 31)
    )


@pytest.fixture
def world(cast: Cast) -> World:
    authority = cast.school_a.authority
    class_5a = f.make_class(cast.school_a, "5A", grade=5)
    pupils = [
        f.make_student(class_5a, name, date_of_birth=dt.date(2016, 3, day), sex="F")
        for name, day in (("Đỗ Thị Hà", 1), ("Vũ Minh Khôi", 2), ("Lý Gia Hân", 3))
    ]
    # They live in the commune of the lower-secondary schools below (their catchment area).
    Student.objects.filter(pk__in=[p.pk for p in pupils]).update(current_commune="26734")
    f.make_guardian(pupils[0], "Đỗ Văn Hùng")
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    promotion_commit(actor=cast.alice, proposal=ClassProposal.objects.get(from_class=class_5a))
    thcs = f.make_school(authority, code="C0001", name="Trường THCS Nguyễn Du", level="thcs")
    other = f.make_school(authority, code="C0002", name="Trường THCS Lê Quý Đôn", level="thcs")
    class_6a = SchoolClass.objects.create(
        school=thcs, school_year=_next_year(thcs), name="6A", grade=6
    )
    class_6_other = SchoolClass.objects.create(
        school=other, school_year=_next_year(other), name="6A", grade=6
    )
    return World(
        cast=cast,
        class_5a=class_5a,
        pupils=pupils,
        thcs=thcs,
        thcs_other=other,
        class_6a=class_6a,
        class_6_other=class_6_other,
        son=f.make_user("son", Role.PRINCIPAL, thcs),
        lan=f.make_user("lan", Role.PRINCIPAL, other),
    )


def _enrolment_ids(w: World, *pupils: Student) -> list[int]:
    return list(
        Enrolment.objects.filter(
            student__in=pupils or w.pupils, school=w.cast.school_a, grade=5
        ).values_list("pk", flat=True)
    )


def _assign(w: World, *pupils: Student, to: School | None = None) -> list[Handover]:
    result = handover_assign(
        actor=w.cast.erin,
        school=w.cast.school_a,
        start_year=2026,
        enrolment_ids=_enrolment_ids(w, *pupils),
        to_school=to or w.thcs,
    )
    return list(result.handovers)


def _snapshot() -> dict[str, object]:
    return {
        "students": list(Student.objects.order_by("pk").values()),
        "enrolments": list(Enrolment.objects.order_by("pk").values()),
        "handovers": list(Handover.objects.order_by("pk").values()),
        "guardians": list(Guardian.objects.order_by("pk").values()),
    }


def test_leavers_are_the_pupils_who_completed_grade_5(world: World) -> None:
    listed = handover_leavers(
        actor=world.cast.erin, school_id=world.cast.school_a.pk, start_year=2026
    )
    assert {row.student_id for row in listed.rows} == {p.pk for p in world.pupils}
    assert {row.status for row in listed.rows} == {""}
    # Only lower-secondary schools can take grade-5 leavers; school B is a primary school.
    assert {s.pk for s in listed.destinations} == {world.thcs.pk, world.thcs_other.pk}
    read = AuditEvent.objects.filter(action="student.read").last()
    assert read is not None
    assert read.data["view"] == "handover_leavers"
    assert read.school_id == world.cast.school_a.pk


def test_accepted_pupil_is_the_same_person_now_at_the_receiving_school(world: World) -> None:
    students_before = Student.objects.count()
    handovers = _assign(world)
    incoming = handover_incoming(actor=world.son, school_id=world.thcs.pk)
    assert {row.full_name for row in incoming.rows} == {p.full_name for p in world.pupils}
    assert list(incoming.classes) == [world.class_6a]
    seen = AuditEvent.objects.filter(action="student.read").last()
    assert seen is not None
    assert seen.school_id == world.cast.school_a.pk

    accepted = handover_accept(
        actor=world.son,
        to_school=world.thcs,
        handover_ids=[h.pk for h in handovers],
        school_class=world.class_6a,
    )

    assert Student.objects.count() == students_before  # never a new person
    assert {h.student_id for h in accepted} == {p.pk for p in world.pupils}
    for pupil in world.pupils:
        pupil.refresh_from_db()
        assert (pupil.school_id, pupil.current_class_id) == (world.thcs.pk, world.class_6a.pk)
        history = list(Enrolment.objects.filter(student=pupil).order_by("started_on", "pk"))
        ended, started = history[-2], history[-1]
        assert (ended.school_id, ended.is_current, ended.status_code) == (
            world.cast.school_a.pk,
            False,
            COMPLETED_PRIMARY,
        )
        assert (started.school_id, started.grade, started.is_current, started.status_code) == (
            world.thcs.pk,
            6,
            True,
            "01",
        )
        assert started.started_on == dt.date(2027, 9, 5)
        assert EnrolmentStatusChange.objects.filter(enrolment=started).count() == 1
    # The guardian follows the only child held by the old school.
    assert Guardian.objects.get(full_name="Đỗ Văn Hùng").school_id == world.thcs.pk
    moved = AuditEvent.objects.filter(action="student.transferred")
    assert "student.transferred" in STUDENT_CHANGE_ACTIONS  # what the sync sends upward
    assert moved.count() == 2 * len(world.pupils)  # under the sending and the receiving school
    assert {e.school_id for e in moved} == {world.cast.school_a.pk, world.thcs.pk}
    assert {e.data["handover_id"] for e in moved} == {h.pk for h in handovers}
    assert AuditEvent.objects.filter(action="student.handover_assigned").count() == 3
    assert set(Handover.objects.values_list("status", flat=True)) == {HandoverStatus.ACCEPTED}
    # No longer leavers of the primary school; listed as accepted there.
    rows = handover_leavers(
        actor=world.cast.erin, school_id=world.cast.school_a.pk, start_year=2026
    ).rows
    assert {(row.status, row.to_school) for row in rows} == {
        (HandoverStatus.ACCEPTED, world.thcs.name)
    }


def test_accepting_twice_is_refused_and_changes_nothing(world: World) -> None:
    handovers = _assign(world)
    ids = [h.pk for h in handovers]
    handover_accept(
        actor=world.son, to_school=world.thcs, handover_ids=ids, school_class=world.class_6a
    )
    before, events = _snapshot(), AuditEvent.objects.count()
    with pytest.raises(ValidationError, match="đã được xử lý trước đó") as raised:
        handover_accept(
            actor=world.son, to_school=world.thcs, handover_ids=ids, school_class=world.class_6a
        )
    assert "handovers" in raised.value.message_dict
    assert _snapshot() == before
    assert AuditEvent.objects.count() == events


def test_assigning_twice_changes_nothing(world: World) -> None:
    _assign(world)
    before, events = _snapshot(), AuditEvent.objects.count()
    again = handover_assign(
        actor=world.cast.erin,
        school=world.cast.school_a,
        start_year=2026,
        enrolment_ids=_enrolment_ids(world),
        to_school=world.thcs,
    )
    assert (again.changed, again.unchanged) == (0, 3)
    assert _snapshot() == before
    assert AuditEvent.objects.count() == events


def test_class_of_another_school_is_refused(world: World) -> None:
    handovers = _assign(world)
    before = _snapshot()
    with pytest.raises(ValidationError) as raised:
        handover_accept(
            actor=world.son,
            to_school=world.thcs,
            handover_ids=[h.pk for h in handovers],
            school_class=world.class_6_other,
        )
    assert "thuộc trường khác" in raised.value.message_dict["school_class"][0]
    assert _snapshot() == before


def test_class_of_the_wrong_grade_or_year_is_refused(world: World) -> None:
    handovers = _assign(world)
    this_year_6 = SchoolClass.objects.create(
        school=world.thcs, name="6B", grade=6, school_year=f.current_year(world.thcs)
    )
    next_year_7 = SchoolClass.objects.create(
        school=world.thcs, name="7A", grade=7, school_year=world.class_6a.school_year
    )
    before = _snapshot()
    for wrong in (this_year_6, next_year_7):
        with pytest.raises(ValidationError) as raised:
            handover_accept(
                actor=world.son,
                to_school=world.thcs,
                handover_ids=[h.pk for h in handovers],
                school_class=wrong,
            )
        assert "năm học 2027–2028" in raised.value.message_dict["school_class"][0]
    assert _snapshot() == before


def test_pupil_back_in_class_after_an_undo_is_refused_as_a_whole(world: World) -> None:
    handovers = _assign(world)
    promotion_undo(
        actor=world.cast.alice, proposal=ClassProposal.objects.get(from_class=world.class_5a)
    )
    before = _snapshot()
    with pytest.raises(ValidationError) as raised:
        handover_accept(
            actor=world.son,
            to_school=world.thcs,
            handover_ids=[h.pk for h in handovers],
            school_class=world.class_6a,
        )
    assert "đang có quá trình học" in raised.value.message_dict["handovers"][0]
    assert _snapshot() == before
    listed = handover_leavers(
        actor=world.cast.erin, school_id=world.cast.school_a.pk, start_year=2026
    )
    assert listed.rows == []


def test_pupil_enrolled_elsewhere_cannot_be_assigned(world: World) -> None:
    pupil = world.pupils[0]
    Enrolment.objects.create(
        student=pupil,
        school=world.cast.school_b,
        school_year=f.current_year(world.cast.school_b),
        school_class=world.cast.class_b,
        grade=1,
        status_code="01",
        status_since=f.START,
        started_on=f.START,
    )
    with pytest.raises(ValidationError) as raised:
        _assign(world, pupil)
    assert "students" in raised.value.message_dict
    assert not Handover.objects.exists()


def test_a_year_that_does_not_exist_is_refused(world: World) -> None:
    with pytest.raises(ValidationError) as raised:
        handover_assign(
            actor=world.cast.erin,
            school=world.cast.school_a,
            start_year=2030,
            enrolment_ids=_enrolment_ids(world),
            to_school=world.thcs,
        )
    assert "không có năm học 2030–2031" in raised.value.message_dict["school_year"][0]
    with pytest.raises(Http404):
        handover_leavers(actor=world.cast.erin, school_id=world.cast.school_a.pk, start_year=2030)


def test_primary_school_cannot_receive_grade_5_leavers(world: World) -> None:
    with pytest.raises(ValidationError) as raised:
        _assign(world, to=world.cast.school_b)
    assert "không có lớp 6" in raised.value.message_dict["to_school"][0]
    assert not Handover.objects.exists()


def test_other_schools_and_missing_permission(world: World) -> None:
    handovers = _assign(world)
    ids = [h.pk for h in handovers]
    # Another school's principal: the leavers, the incoming list and a decision are not found.
    with pytest.raises(Http404):
        handover_leavers(actor=world.cast.dave, school_id=world.cast.school_a.pk, start_year=2026)
    with pytest.raises(Http404):
        handover_incoming(actor=world.lan, school_id=world.thcs.pk)
    with pytest.raises(Http404):
        handover_accept(
            actor=world.lan, to_school=world.thcs, handover_ids=ids, school_class=world.class_6a
        )
    # Hand-overs addressed to another school are not found either, even by their own principal.
    with pytest.raises(Http404):
        handover_accept(
            actor=world.lan,
            to_school=world.thcs_other,
            handover_ids=ids,
            school_class=world.class_6_other,
        )
    # A homeroom teacher may not decide; the sending principal may not assign elsewhere.
    with pytest.raises(PermissionDenied):
        handover_incoming(actor=world.cast.bob, school_id=world.cast.school_a.pk)
    with pytest.raises(Http404):
        _assign_as(world, world.cast.alice, world.thcs_other)
    assert set(Handover.objects.values_list("status", "to_school_id")) == {
        (HandoverStatus.ASSIGNED, world.thcs.pk)
    }


def _assign_as(w: World, actor: User, to_school: School) -> object:
    return handover_assign(
        actor=actor,
        school=w.cast.school_a,
        start_year=2026,
        enrolment_ids=_enrolment_ids(w),
        to_school=to_school,
    )


def test_receiving_school_claims_leavers_nobody_has_taken(world: World) -> None:
    first, *others = world.pupils
    _assign(world, first, to=world.thcs_other)
    with pytest.raises(ValidationError, match="đã được phân về trường khác"):
        _assign_as(world, world.son, world.thcs)
    claimed = handover_assign(
        actor=world.son,
        school=world.cast.school_a,
        start_year=2026,
        enrolment_ids=_enrolment_ids(world, *others),
        to_school=world.thcs,
    )
    assert claimed.changed == 2
    assert Handover.objects.get(student=first).to_school_id == world.thcs_other.pk
    # The authority officer may move a pupil to another receiving school.
    _assign(world, first, to=world.thcs)
    assert Handover.objects.get(student=first).to_school_id == world.thcs.pk


def test_declined_pupils_wait_for_another_school(world: World) -> None:
    handovers = _assign(world)
    with pytest.raises(ValidationError) as raised:
        handover_decline(
            actor=world.son, to_school=world.thcs, handover_ids=[handovers[0].pk], note=""
        )
    assert "decision_note" in raised.value.message_dict
    assert (
        handover_decline(
            actor=world.son,
            to_school=world.thcs,
            handover_ids=[handovers[0].pk],
            note="Ngoài địa bàn tuyển sinh",
        )
        == 1
    )
    row = next(
        r
        for r in handover_leavers(
            actor=world.cast.erin, school_id=world.cast.school_a.pk, start_year=2026
        ).rows
        if r.student_id == handovers[0].student_id
    )
    assert (row.status, row.decision_note) == (HandoverStatus.DECLINED, "Ngoài địa bàn tuyển sinh")
    _assign(world, world.pupils[0], to=world.thcs_other)  # may go elsewhere now
    assert Handover.objects.filter(student=world.pupils[0]).count() == 2


def test_command_assigns_and_accepts(world: World) -> None:
    out = StringIO()
    call_command(
        "year",
        "handover",
        "assign",
        "--school",
        "A0001",
        "--year",
        "2026",
        "--to",
        "C0001",
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue()) == {"assigned": 3, "unchanged": 0}
    out = StringIO()
    call_command(
        "year", "handover", "list", "--school", "A0001", "--year", "2026", "--json", stdout=out
    )
    assert json.loads(out.getvalue()) == {"without_school": 0, "assigned": 3, "accepted": 0}
    out = StringIO()
    call_command(
        "year",
        "handover",
        "accept",
        "--school",
        "C0001",
        "--year",
        "2027",
        "--class",
        "6A",
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue()) == {"accepted": 3}
    assert set(
        Student.objects.filter(pk__in=[p.pk for p in world.pupils]).values_list(
            "school_id", flat=True
        )
    ) == {world.thcs.pk}
    with pytest.raises(CommandError, match="không có năm học 2031"):
        call_command("year", "handover", "list", "--school", "A0001", "--year", "2031")


def test_receiving_school_accepts_through_its_screen_once(world: World) -> None:
    handovers = _assign(world)
    client = Client()
    client.force_login(world.son)
    url = reverse("web:handover_incoming", args=[world.thcs.pk])
    page = client.get(url).content.decode()
    assert "Học sinh chuyển cấp đến trường" in page
    assert all(p.full_name in page for p in world.pupils)
    data = {"handovers": [h.pk for h in handovers], "school_class": world.class_6a.pk}
    response = client.post(reverse("web:handover_accept", args=[world.thcs.pk]), data, follow=True)
    assert "Đã nhận 3 học sinh vào lớp 6A." in response.content.decode()
    before = _snapshot()
    again = client.post(reverse("web:handover_accept", args=[world.thcs.pk]), data)
    assert again.status_code == 200
    assert "Có học sinh không còn chờ nhận" in again.content.decode()
    assert _snapshot() == before


def test_authority_officer_assigns_through_the_screen(world: World) -> None:
    client = Client()
    client.force_login(world.cast.erin)
    url = reverse("web:handover_leavers", args=[world.cast.school_a.pk, 2026])
    assert "Trường THCS Nguyễn Du" in client.get(url).content.decode()
    response = client.post(
        reverse("web:handover_assign", args=[world.cast.school_a.pk, 2026]),
        {"students": _enrolment_ids(world), "to_school": ""},
    )
    assert "Hãy chọn trường nhận." in response.content.decode()
    assert not Handover.objects.exists()
    response = client.post(
        reverse("web:handover_assign", args=[world.cast.school_a.pk, 2026]),
        {"students": _enrolment_ids(world), "to_school": world.thcs.pk},
        follow=True,
    )
    assert "Đã phân 3 học sinh về Trường THCS Nguyễn Du." in response.content.decode()
    assert Handover.objects.filter(to_school=world.thcs).count() == 3


def test_receiving_school_claims_from_its_pool_through_the_screen(world: World) -> None:
    first, *_others = world.pupils
    _assign(world, first, to=world.thcs_other)
    pool = handover_pool(actor=world.son, school_id=world.thcs.pk, start_year=2026)
    assert {row.full_name for row in pool.rows} == {p.full_name for p in world.pupils[1:]}
    with pytest.raises(Http404):  # a primary school's principal has no such school
        handover_pool(actor=world.son, school_id=world.cast.school_a.pk, start_year=2026)
    with pytest.raises(Http404):  # no school year 2031 to take them into
        handover_pool(actor=world.son, school_id=world.thcs.pk, start_year=2030)
    client = Client()
    client.force_login(world.son)
    url = reverse("web:handover_pool", args=[world.thcs.pk, 2026])
    taken = _enrolment_ids(world, first)
    refused = client.post(url, {"students": taken})
    assert "Có học sinh không còn chờ phân trường" in refused.content.decode()
    response = client.post(url, {"students": _enrolment_ids(world, *world.pupils[1:])}, follow=True)
    assert "Đã phân 2 học sinh về trường" in response.content.decode()
    assert Handover.objects.filter(to_school=world.thcs).count() == 2
    assert handover_pool(actor=world.son, school_id=world.thcs.pk, start_year=2026).rows == []


def test_the_pool_shows_only_leavers_of_the_schools_catchment(world: World) -> None:
    """A receiving school is shown, and may claim, only the leavers living in its commune;
    the authority officer assigns the others."""
    far, *near = world.pupils
    Student.objects.filter(pk=far.pk).update(current_commune="00001", permanent_commune="00001")
    pool = handover_pool(actor=world.son, school_id=world.thcs.pk, start_year=2026)
    assert {row.full_name for row in pool.rows} == {p.full_name for p in near}
    with pytest.raises(ValidationError):
        handover_claim(actor=world.son, to_school=world.thcs, start_year=2026,
                       enrolment_ids=_enrolment_ids(world, far))
    assert not Handover.objects.filter(student=far).exists()
    Student.objects.filter(pk=far.pk).update(permanent_commune="26734")  # registered here
    pool = handover_pool(actor=world.son, school_id=world.thcs.pk, start_year=2026)
    assert far.full_name in {row.full_name for row in pool.rows}


def test_grade_9_leavers_graduate_and_go_on_to_an_upper_secondary_school(cast: Cast) -> None:
    """The same hand-over one level up: grade 9 of a lower-secondary school ends with
    "Tốt nghiệp", only upper-secondary schools are offered, and the pupil starts grade 10 there
    on the same record."""
    authority = cast.school_a.authority
    thcs = f.make_school(authority, code="C0009", name="Trường THCS Chu Văn An", level="thcs")
    principal = f.make_user("hoa", Role.PRINCIPAL, thcs)
    class_9a = f.make_class(thcs, "9A", grade=9)
    pupil = f.make_student(class_9a, "Trần Bảo Ngọc", date_of_birth=dt.date(2012, 4, 2))
    Student.objects.filter(pk=pupil.pk).update(current_commune="26734")
    year_open(actor=principal, school=thcs, from_start_year=2026)
    result = promotion_commit(actor=principal,
                              proposal=ClassProposal.objects.get(from_class=class_9a))
    assert result.outcomes == {"completed": 1}
    ended = Enrolment.objects.get(student=pupil)
    assert ended.status_code == "09"  # "Tốt nghiệp"
    thpt = f.make_school(authority, code="D0001", name="Trường THPT Lê Hồng Phong", level="thpt")
    class_10 = SchoolClass.objects.create(school=thpt, school_year=_next_year(thpt), name="10A1",
                                          grade=10)
    listed = handover_leavers(actor=cast.erin, school_id=thcs.pk, start_year=2026)
    assert [row.student_id for row in listed.rows] == [pupil.pk]
    assert [s.pk for s in listed.destinations] == [thpt.pk]  # the THCS schools are not offered
    assigned = handover_assign(actor=cast.erin, school=thcs, start_year=2026,
                               enrolment_ids=[ended.pk], to_school=thpt)
    students_before = Student.objects.count()
    handover_accept(actor=f.make_user("tam", Role.PRINCIPAL, thpt), to_school=thpt,
                    handover_ids=[h.pk for h in assigned.handovers], school_class=class_10)
    assert Student.objects.count() == students_before
    pupil.refresh_from_db()
    assert (pupil.school_id, pupil.current_class_id) == (thpt.pk, class_10.pk)
    started = Enrolment.objects.get(student=pupil, is_current=True)
    assert (started.school_id, started.grade, started.status_code) == (thpt.pk, 10, "01")
