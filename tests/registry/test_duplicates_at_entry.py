"""Duplicates at entry: creating a pupil or changing their identity looks for the same person
first, names the reason, and goes ahead only when the user says, with a reason, that it is not
the same person — a decision kept, audited and not asked again."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from edureg.audit.models import AuditEvent
from edureg.dedupe.models import Decision, DuplicateDecision
from edureg.registry.duplicates import (
    DuplicateSuspected,
    guardian_candidates,
    staff_candidates,
    student_candidates,
    swapped,
)
from edureg.registry.models import Student
from edureg.registry.services import student_create, student_update
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.django_db

BORN = dt.date(2019, 3, 7)


@pytest.fixture
def an(cast: Cast) -> Student:
    Student.objects.filter(pk=cast.an.pk).update(date_of_birth=BORN,
                                                 personal_id_number="079219001234")
    cast.an.refresh_from_db()
    return cast.an


@pytest.mark.parametrize(("day", "other"), [
    (dt.date(2019, 3, 7), dt.date(2019, 7, 3)),
    (dt.date(2019, 12, 1), dt.date(2019, 1, 12)),
    (dt.date(2019, 3, 13), None),  # no 13th month
    (dt.date(2019, 5, 5), None),  # the same date
    (None, None),
])
def test_day_and_month_swapped(day: dt.date | None, other: dt.date | None) -> None:
    assert swapped(day) == other


@pytest.mark.parametrize(("values", "reason"), [
    ({"full_name": "Nguyễn Văn An", "date_of_birth": BORN}, "Trùng họ tên"),
    ({"full_name": "NGUYEN  VAN AN", "date_of_birth": BORN}, "Trùng họ tên"),
    ({"full_name": "Nguyễn Văn An", "date_of_birth": dt.date(2019, 7, 3)}, "đảo ngày và tháng"),
    ({"full_name": "Trần Thị Bé", "personal_id_number": "079219001234"},
     "Trùng số định danh cá nhân"),
])
def test_a_look_alike_is_found_with_its_reason(an: Student, values: dict[str, object],
                                               reason: str) -> None:
    found = student_candidates(values)
    assert [c.record_id for c in found] == [an.pk]
    assert any(reason in text for text in found[0].reasons)


@pytest.mark.parametrize("values", [
    {"full_name": "Nguyễn Văn An", "date_of_birth": dt.date(2019, 3, 8)},
    {"full_name": "Nguyễn Văn An"},  # no date: a missing value never agrees
    {"full_name": "", "date_of_birth": BORN},
    {"full_name": "Nguyễn Văn Anh", "date_of_birth": BORN},
    {"personal_id_number": None, "full_name": "Nguyễn Văn An", "date_of_birth": None},
])
def test_nothing_is_claimed_on_missing_or_different_values(an: Student,
                                                           values: dict[str, object]) -> None:
    assert student_candidates(values) == []


def test_creating_a_look_alike_stops_until_the_user_says_why_it_is_another_child(
        cast: Cast, an: Student) -> None:
    data = {"full_name": "Nguyễn Văn  An", "date_of_birth": "07/03/2019", "sex": "M"}
    before = Student.objects.count()
    with pytest.raises(DuplicateSuspected) as suspected:
        student_create(actor=cast.bob, school_class=cast.class_1a, data=data)
    assert [c.record_id for c in suspected.value.candidates] == [an.pk]
    assert "not_duplicate_reason" in suspected.value.message_dict
    assert Student.objects.count() == before, "nothing written"

    with pytest.raises(ValidationError) as short:
        student_create(actor=cast.bob, school_class=cast.class_1a, data=data,
                       not_duplicate_reason="khác")
    assert "ít nhất" in short.value.message_dict["not_duplicate_reason"][0]
    assert Student.objects.count() == before

    created = student_create(actor=cast.bob, school_class=cast.class_1a, data=data,
                             not_duplicate_reason="Hai trẻ sinh đôi, khác tên cha mẹ").student
    decision = DuplicateDecision.objects.get()
    assert (decision.left_id, decision.right_id) == (an.pk, created.pk)
    assert decision.decision == Decision.NOT_SAME
    assert decision.decided_by_id == cast.bob.pk
    event = AuditEvent.objects.get(action="dedupe.not_same")
    assert event.data["others"] == [str(an.pk)]
    # Remembered: the same pair is not proposed again when the record changes later.
    assert student_candidates({"full_name": "Nguyễn Văn An", "date_of_birth": BORN},
                              exclude_id=created.pk) == []
    student_update(actor=cast.bob, student=created, data={"date_of_birth": "03/07/2019"})


def test_changing_the_name_into_a_look_alike_is_checked_too(cast: Cast, an: Student) -> None:
    other = f.make_student(cast.class_1a, "Lê Thị Cúc", sex="F", date_of_birth=BORN)
    with pytest.raises(DuplicateSuspected):
        student_update(actor=cast.bob, student=other, data={"full_name": "Nguyễn Văn An"})
    assert Student.objects.get(pk=other.pk).full_name == "Lê Thị Cúc"
    # Fields outside the identity are never held up by a look-alike.
    student_update(actor=cast.bob, student=an, data={"phone": "0912345678"})


def test_an_existing_id_number_is_refused_outright(cast: Cast, an: Student) -> None:
    with pytest.raises(ValidationError) as refused:
        student_create(actor=cast.bob, school_class=cast.class_1a, data={
            "full_name": "Trần Thị Bé", "personal_id_number": "079219001234"},
            not_duplicate_reason="Không phải cùng một người đâu")
    assert "personal_id_number" in refused.value.message_dict


def test_a_pupil_with_the_same_name_birth_year_and_parent_is_found(cast: Cast,
                                                                   an: Student) -> None:
    """The second record's birth day is wrong, so only the parents tie it to the first."""
    f.make_guardian(an, "Lê Thị Hoa", relation="02")
    copy = f.make_student(cast.class_b, "Nguyen Van An", date_of_birth=dt.date(2019, 3, 17))
    mother = f.make_guardian(copy, "LÊ THỊ HOA", relation="02")
    values = {"full_name": copy.full_name, "date_of_birth": copy.date_of_birth}
    found = student_candidates(values, exclude_id=copy.pk)
    assert [c.record_id for c in found] == [an.pk]
    assert found[0].reasons == ("Trùng họ tên, năm sinh và họ tên cha/mẹ",)
    # Another mother: a namesake born the same year is not claimed.
    mother.name_match_key = "le thi hoa2"
    mother.save(update_fields=["name_match_key"])
    assert student_candidates(values, exclude_id=copy.pk) == []


def test_staff_look_alikes(cast: Cast) -> None:
    teacher = f.make_staff(cast.school_a, "Trần Thị Hoa", date_of_birth=dt.date(1985, 4, 9),
                           personal_id_number="079185001111")
    assert [c.record_id for c in staff_candidates(
        {"full_name": "TRAN THI HOA", "date_of_birth": dt.date(1985, 9, 4)})] == [teacher.pk]
    assert staff_candidates({"full_name": "Trần Thị Hoa", "date_of_birth": dt.date(1985, 9, 4)},
                            exclude_id=teacher.pk) == []
    found = staff_candidates({"full_name": "Lê Văn Nam", "personal_id_number": "079185001111"})
    assert [(c.record_id, c.reasons) for c in found] == [
        (teacher.pk, ("Trùng số định danh cá nhân",))]
    assert staff_candidates({"full_name": "Trần Thị Hoa"}) == []  # no date: nothing claimed


def test_guardian_look_alikes(cast: Cast, an: Student) -> None:
    mother = f.make_guardian(an, "Lê Thị Hoa", relation="02", phone="0912345678",
                             birth_year=1988)
    by_phone = guardian_candidates({"full_name": "LE THI HOA", "phone": "+84 912 345 678"},
                                   school_id=cast.school_b.pk)
    assert [(c.record_id, c.reasons) for c in by_phone] == [
        (mother.pk, ("Trùng họ tên và số điện thoại",))]
    same_school = {"full_name": "Lê Thị Hoa", "birth_year": 1988}
    assert [c.record_id for c in guardian_candidates(same_school,
                                                     school_id=cast.school_a.pk)] == [mother.pk]
    # A namesake born the same year at another school is not claimed on that alone.
    assert guardian_candidates(same_school, school_id=cast.school_b.pk) == []
    assert guardian_candidates({"full_name": "Lê Thị Hoa", "phone": "0000000000"},
                               school_id=cast.school_b.pk) == []
