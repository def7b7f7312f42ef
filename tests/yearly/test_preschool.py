"""The turn of the year at a preschool: classes move up by age group (Mầm → Chồi → Lá), the
youngest group starts again, the 5–6 group completes preschool, and those children are handed
over to a primary school of the authority on the same record."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from edureg.access.models import User
from edureg.access.roles import Role
from edureg.registry.models import Enrolment, SchoolClass, Student
from edureg.schools.models import School, SchoolYear, SchoolYearStatus
from edureg.yearly.handover import handover_accept, handover_assign, handover_leavers
from edureg.yearly.models import ClassProposal, Outcome, RolloverRun
from edureg.yearly.new_intake import IntakeRow, intake_commit
from edureg.yearly.services import (
    carried_preschool_name,
    promotion_commit,
    proposal_exceptions_set,
    rollover_run,
    year_close,
    year_open,
)
from tests import factories as f
from tests.conftest import Cast

COMPLETED = "10"  # "Hoàn thành chương trình"
REPEATING = "07"  # "Lưu ban"


@dataclasses.dataclass
class Preschool:
    school: School
    principal: User
    mam: SchoolClass
    choi: SchoolClass
    la: SchoolClass
    mixed: SchoolClass
    children: dict[str, Student]


@pytest.fixture
def preschool(cast: Cast) -> Preschool:
    school = f.make_school(cast.school_a.authority, code="M0001",
                           name="Trường Mầm non Hoa Sen", level="mam_non")
    mam = f.make_class(school, "Mầm 1", grade=0, age_group="mg_3_4")
    choi = f.make_class(school, "Chồi 1", grade=0, age_group="mg_4_5")
    la = f.make_class(school, "Lá 1", grade=0, age_group="mg_5_6")
    mixed = f.make_class(school, "Lớp ghép Bản Khe", grade=0)
    children = {
        "mam": f.make_student(mam, "Hà Bảo Ngọc", date_of_birth=dt.date(2023, 2, 1)),
        "choi": f.make_student(choi, "Lò Văn Tài", date_of_birth=dt.date(2022, 5, 9)),
        "la": f.make_student(la, "Tạ Minh Châu", date_of_birth=dt.date(2021, 7, 3)),
        "la_repeat": f.make_student(la, "Kiều Anh Thư", date_of_birth=dt.date(2021, 1, 20)),
        "mixed": f.make_student(mixed, "Sùng Thị Mỷ", date_of_birth=dt.date(2022, 8, 8)),
    }
    principal = f.make_user("hoa", Role.PRINCIPAL, school)
    return Preschool(school=school, principal=principal, mam=mam, choi=choi, la=la,
                     mixed=mixed, children=children)


def _current(student: Student) -> Enrolment:
    return Enrolment.objects.select_related("school_class").get(student=student, is_current=True)


@pytest.mark.parametrize(("name", "word", "next_word", "expected"), [
    ("Mầm 1", "Mầm", "Chồi", "Chồi 1"),
    ("Chồi", "Chồi", "Lá", "Lá"),
    ("Mầmnon", "Mầm", "Chồi", "Mầmnon"),  # not the group's word: the name stays
    ("Hoa Mai", "Mầm", "Chồi", "Hoa Mai"),
    ("Nhóm 25–36 tháng", "", "Mầm", "Nhóm 25–36 tháng"),
])
def test_carried_preschool_name(name: str, word: str, next_word: str, expected: str) -> None:
    assert carried_preschool_name(name, word, next_word) == expected


def test_opening_moves_each_group_up_and_starts_the_youngest_again(preschool: Preschool) -> None:
    opened = year_open(actor=preschool.principal, school=preschool.school, from_start_year=2026)
    new_classes = set(SchoolClass.objects.filter(school_year=opened.year)
                      .values_list("name", "grade", "age_group"))
    assert new_classes == {
        ("Chồi 1", 0, "mg_4_5"),  # from Mầm 1
        ("Lá 1", 0, "mg_5_6"),  # from Chồi 1
        ("Lớp ghép Bản Khe", 0, ""),  # a mixed-age class goes on as it is
        ("Mầm 1", 0, "mg_3_4"),  # started again, empty, for the new intake
    }
    assert (opened.classes_carried, opened.classes_started) == (3, 1)
    proposals = {p.from_class_id: p.to_class for p in ClassProposal.objects.filter(
        school=preschool.school)}
    assert proposals[preschool.la.pk] is None  # the 5–6 group completes preschool
    assert proposals[preschool.mam.pk].name == "Chồi 1"


def test_the_year_turns_and_closes_at_a_preschool(preschool: Preschool) -> None:
    year_open(actor=preschool.principal, school=preschool.school, from_start_year=2026)
    kids = preschool.children
    proposal_exceptions_set(actor=preschool.principal,
                            proposal=ClassProposal.objects.get(from_class=preschool.la),
                            outcomes={kids["la_repeat"].pk: Outcome.REPEAT})
    run = RolloverRun.objects.create(authority=preschool.school.authority, from_start_year=2026,
                                     promote_all=True, started_at=kids["mam"].created_at)
    assert rollover_run(actor=None, schools=[preschool.school], run=run) == []

    moved = _current(kids["mam"])
    assert (moved.school_class.name, moved.school_class.age_group, moved.grade) == (
        "Chồi 1", "mg_4_5", 0)
    assert _current(kids["choi"]).school_class.name == "Lá 1"
    assert _current(kids["mixed"]).school_class.name == "Lớp ghép Bản Khe"
    repeated = _current(kids["la_repeat"])
    assert (repeated.school_class.name, repeated.school_class.school_year.start_year,
            repeated.status_code) == ("Lá 1", 2027, REPEATING)
    completed = Enrolment.objects.get(student=kids["la"])
    assert (completed.is_current, completed.status_code) == (False, COMPLETED)

    old_year = SchoolYear.objects.get(school=preschool.school, start_year=2026)
    year_close(actor=preschool.principal, year=old_year)
    old_year.refresh_from_db()
    assert old_year.status == SchoolYearStatus.CLOSED


def test_a_repeat_needs_a_class_of_the_same_age_group(preschool: Preschool) -> None:
    opened = year_open(actor=preschool.principal, school=preschool.school, from_start_year=2026)
    # Only the new Lá 1 (from Chồi 1) is of the 5–6 group; made a mixed-age class, a repeat of
    # the 5–6 group has nowhere to go.
    SchoolClass.objects.filter(school_year=opened.year, age_group="mg_5_6").update(age_group="")
    proposal = ClassProposal.objects.get(from_class=preschool.la)
    proposal_exceptions_set(actor=preschool.principal, proposal=proposal,
                            outcomes={preschool.children["la_repeat"].pk: Outcome.REPEAT})
    before = list(Enrolment.objects.order_by("pk").values())
    with pytest.raises(ValidationError, match="chưa có lớp nhóm Mẫu giáo 5–6 tuổi"):
        promotion_commit(actor=preschool.principal, proposal=proposal)
    assert list(Enrolment.objects.order_by("pk").values()) == before


def test_children_who_completed_preschool_go_on_to_grade_1_as_the_same_person(
        cast: Cast, preschool: Preschool) -> None:
    year_open(actor=preschool.principal, school=preschool.school, from_start_year=2026)
    promotion_commit(actor=preschool.principal,
                     proposal=ClassProposal.objects.get(from_class=preschool.la))
    primary = cast.school_a
    year_open(actor=cast.alice, school=primary, from_start_year=2026)
    grade_1 = SchoolClass.objects.get(school=primary, school_year__start_year=2027, name="1A")

    listed = handover_leavers(actor=cast.erin, school_id=preschool.school.pk, start_year=2026)
    leaving = {preschool.children["la"].pk, preschool.children["la_repeat"].pk}
    assert {row.student_id for row in listed.rows} == leaving
    # Primary schools receive them (school A and B of the cast), not another preschool.
    assert primary.pk in {school.pk for school in listed.destinations}
    assert all(school.level in ("tieu_hoc", "lien_cap") for school in listed.destinations)

    students_before = Student.objects.count()
    assigned = handover_assign(actor=cast.erin, school=preschool.school, start_year=2026,
                               enrolment_ids=[row.enrolment_id for row in listed.rows],
                               to_school=primary)
    handover_accept(actor=cast.alice, to_school=primary,
                    handover_ids=[h.pk for h in assigned.handovers], school_class=grade_1)
    assert Student.objects.count() == students_before  # never a new person
    for student_id in leaving:
        started = Enrolment.objects.get(student_id=student_id, is_current=True)
        assert (started.school_id, started.school_class_id, started.grade) == (
            primary.pk, grade_1.pk, 1)
        ended = Enrolment.objects.get(student_id=student_id, school=preschool.school)
        assert ended.status_code == COMPLETED


def test_a_preschool_takes_new_children_into_its_youngest_group(preschool: Preschool) -> None:
    opened = year_open(actor=preschool.principal, school=preschool.school, from_start_year=2026)
    mam = SchoolClass.objects.get(school_year=opened.year, name="Mầm 1")
    result = intake_commit(actor=preschool.principal, school=preschool.school, start_year=2027,
                           rows=[IntakeRow(line=1, class_id=mam.pk,
                                           data={"full_name": "Vi Thị Hằng",
                                                 "date_of_birth": "14/06/2024", "sex": "Nữ"},
                                           link_to=None, not_duplicate_reason="")])
    assert len(result.created) == 1
    enrolment = Enrolment.objects.get(student__full_name="Vi Thị Hằng", is_current=True)
    assert (enrolment.school_class_id, enrolment.grade) == (mam.pk, 0)
