"""The registry's batch writes the commit uses (``registry.services``): the same steps as the
single-record services, for many pupils — cleaning agrees with the single call, a refused item
names its index and writes nothing, places and statuses move the enrolment, parents are created
once for siblings and linked."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from edureg.access.roles import Perm, Role
from edureg.audit.models import AuditEvent
from edureg.registry.models import (
    Enrolment,
    EnrolmentStatusChange,
    Guardian,
    SchoolClass,
    Student,
    StudentGuardian,
)
from edureg.registry.services import (
    GuardianWrite,
    ItemRejected,
    NewStudent,
    Placement,
    StudentChange,
    _Cleaner,
    students_create_many,
    students_place_many,
    students_update_many,
)
from edureg.registry.validation import (
    STUDENT_CLEANERS,
    STUDENT_CODED,
    STUDENT_PARENTS,
    clean_person_values,
)
from edureg.schools.models import SchoolYear
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("data", [
    {"full_name": " nguyễn  văn an ", "ethnicity_code": "Khơ-me", "sex": "Nam",
     "permanent_province": "79", "permanent_commune": "25747"},
    {"full_name": "Lê Văn Tư", "permanent_province": "01", "permanent_commune": "25747"},
    {"permanent_commune": "25747"},
    {"permanent_commune": "00004", "hometown_province": "79"},
    {"ethnicity_code": "Người sao Hoả", "religion_code": "Không", "phone": "12345"},
    {"personal_id_number": "079320001234", "sex": "M", "date_of_birth": "01/03/2020"},
    {"hometown_legacy_province": "74", "hometown_legacy_district": "718",
     "hometown_legacy_ward": "25747"},
    {"no_such_field": "1", "full_name": ""},
])
def test_batch_cleaning_agrees_with_the_single_call(cast: Cast, data: dict[str, Any]) -> None:
    an = cast.an
    Student.objects.filter(pk=an.pk).update(permanent_province="79", hometown_province="01")
    an.refresh_from_db()
    for current in (None, an):
        single = clean_person_values(Student, data, cleaners=STUDENT_CLEANERS,
                                     coded=STUDENT_CODED, parents=STUDENT_PARENTS,
                                     current=current)
        batch = _Cleaner()
        for _ in range(2):  # the second time from the memo
            cleaned = batch.clean(data, current=current)
            assert cleaned.values == single.values
            assert list(cleaned.values) == list(single.values)
            assert cleaned.errors == single.errors
            assert cleaned.warnings == single.warnings
            assert cleaned.code_versions == single.code_versions


def test_a_refused_item_names_its_index_and_nothing_is_written(cast: Cast) -> None:
    count = Student.objects.count()
    with pytest.raises(ItemRejected) as rejected:
        students_create_many(actor=cast.alice, items=[
            NewStudent(school_class=cast.class_1a, data={"full_name": "Võ Thị Mai"}),
            NewStudent(school_class=cast.class_1a, data={"full_name": "Lê Văn Tư",
                                                         "date_of_birth": "31/02/2020"})])
    assert rejected.value.index == 1
    assert "date_of_birth" in rejected.value.error.message_dict
    assert Student.objects.count() == count
    with pytest.raises(ItemRejected) as taken:
        students_create_many(actor=cast.alice, items=[
            NewStudent(school_class=cast.class_1a, data={"full_name": "Võ Thị Mai",
                                                         "education_id": "7911110000"}),
            NewStudent(school_class=cast.class_1b, data={"full_name": "Lê Văn Tư",
                                                         "education_id": "7911110000"})])
    assert taken.value.index == 1
    assert Student.objects.count() == count


def test_many_pupils_one_policy_check_per_class_and_scope(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        students_create_many(actor=cast.carol, items=[
            NewStudent(school_class=cast.class_1a, data={"full_name": "Võ Thị Mai"})])
    with pytest.raises(Http404):
        students_create_many(actor=cast.alice, items=[
            NewStudent(school_class=cast.class_1a, data={"full_name": "Võ Thị Mai"}),
            NewStudent(school_class=cast.class_b, data={"full_name": "Lê Văn Tư"})])
    with pytest.raises(Http404):
        students_update_many(actor=cast.bob, items=[
            StudentChange(student=cast.an, data={"phone": "0912345678"}),
            StudentChange(student=cast.binh, data={"phone": "0912345678"})])
    # The intake's own permission: the IT officer has it, not the right to edit by hand.
    ivan = f.make_user("ivan", Role.IT_OFFICER, cast.school_a)
    created = students_create_many(actor=ivan, perm=Perm.INTAKE_RUN, items=[
        NewStudent(school_class=cast.class_1a, data={"full_name": "Võ Thị Mai"})])
    assert created[0].student.pk


def test_siblings_get_one_new_parent_and_a_known_parent_is_linked(cast: Cast) -> None:
    father = f.make_guardian(cast.an, "Nguyễn Văn Bố", relation="01", birth_year=1985)
    mother = {"full_name": "Trần Thị Mẹ", "birth_year": 1988, "phone": "0912345678"}
    results = students_create_many(actor=cast.alice, items=[
        NewStudent(school_class=cast.class_1a, data={"full_name": "Nguyễn Thị Em"},
                   guardians=(GuardianWrite("02", mother, new_key="me"),
                              GuardianWrite("01", {}, guardian_id=father.pk))),
        NewStudent(school_class=cast.class_1b, data={"full_name": "Nguyễn Văn Út"},
                   guardians=(GuardianWrite("02", mother, new_key="me"),)),
    ])
    first, second = (result.student for result in results)
    new_mother = Guardian.objects.get(full_name="Trần Thị Mẹ")
    assert new_mother.name_match_key == "tran thi me"
    assert set(StudentGuardian.objects.filter(guardian=new_mother)
               .values_list("student_id", flat=True)) == {first.pk, second.pk}
    assert StudentGuardian.objects.filter(student=first, guardian=father,
                                          relation_code="01").exists()
    event = AuditEvent.objects.get(action="student.create", entity_id=str(first.pk))
    assert [(g["relation"], g["created"]) for g in event.data["guardians"]] == [
        ("02", True), ("01", False)]
    assert "0912345678" not in str(event.data)


def test_a_parent_s_id_number_held_by_another_guardian_is_refused(cast: Cast) -> None:
    f.make_guardian(cast.an, "Nguyễn Văn Bố", personal_id_number="079085004321")
    with pytest.raises(ItemRejected) as rejected:
        students_update_many(actor=cast.alice, items=[StudentChange(
            student=cast.binh, data={}, guardians=(GuardianWrite("01", {
                "full_name": "Trần Văn Khác", "personal_id_number": "079085004321"}),))])
    assert "guardian_personal_id_number" in rejected.value.error.message_dict


def test_placing_in_a_class_of_the_year_moves_the_current_enrolment(cast: Cast) -> None:
    changed = students_place_many(actor=cast.alice, items=[
        Placement(student=cast.an, school_class=cast.class_1b),
        Placement(student=cast.binh, status_code="05", effective_on=dt.date(2026, 11, 2))])
    assert changed == [cast.an.pk, cast.binh.pk]
    enrolment = Enrolment.objects.get(student=cast.an, is_current=True)
    assert enrolment.school_class == cast.class_1b
    cast.an.refresh_from_db()
    assert cast.an.current_class == cast.class_1b
    binh = Enrolment.objects.get(student=cast.binh, is_current=True)
    assert (binh.status_code, binh.status_since) == ("05", dt.date(2026, 11, 2))
    assert EnrolmentStatusChange.objects.filter(enrolment=binh, status_code="05").exists()
    events = AuditEvent.objects.filter(action="student.update").order_by("seq")
    assert [e.data["changes"] for e in events] == [
        {"current_class": [cast.class_1a.pk, cast.class_1b.pk]}, {"status_code": ["01", "05"]}]


def test_placing_in_next_year_s_class_opens_a_new_enrolment(cast: Cast) -> None:
    year = SchoolYear.objects.create(school=cast.school_a, start_year=2027,
                                     starts_on=dt.date(2027, 9, 5), ends_on=dt.date(2028, 5, 31))
    class_2a = SchoolClass.objects.create(school=cast.school_a, school_year=year, name="2A",
                                          grade=2)
    students_place_many(actor=cast.alice, items=[
        Placement(student=cast.an, school_class=class_2a)])
    old, new = Enrolment.objects.filter(student=cast.an).order_by("pk")
    assert (old.is_current, new.is_current, new.school_class, new.grade) == (
        False, True, class_2a, 2)


def test_moving_school_is_not_a_placement(cast: Cast) -> None:
    with pytest.raises(ItemRejected) as other_school:
        students_place_many(actor=cast.alice, items=[
            Placement(student=cast.an, school_class=cast.class_1b),
            Placement(student=cast.binh, status_code="03")])
    assert other_school.value.index == 1
    assert Enrolment.objects.get(student=cast.an, is_current=True).school_class == cast.class_1a
    with pytest.raises(Http404):
        students_place_many(actor=cast.alice, items=[
            Placement(student=cast.an, school_class=cast.class_b)])


def test_an_update_of_many_audits_each_pupil_and_skips_the_unchanged(cast: Cast) -> None:
    results = students_update_many(actor=cast.alice, items=[
        StudentChange(student=cast.an, data={"phone": "0912345678"}),
        StudentChange(student=cast.binh, data={"full_name": "Trần Thị Bình"})],
        audit_data={"intake_run": 7})
    assert [r.changed for r in results] == [("phone",), ()]
    (event,) = AuditEvent.objects.filter(action="student.update")
    assert (event.entity_id, event.data["intake_run"]) == (str(cast.an.pk), 7)


def test_the_single_services_raise_what_they_always_did(cast: Cast) -> None:
    from edureg.registry.services import student_create

    with pytest.raises(ValidationError) as error:
        student_create(actor=cast.alice, school_class=cast.class_1a,
                       data={"full_name": "Võ Thị Mai", "date_of_birth": "31/02/2020"})
    assert not isinstance(error.value, ItemRejected)
    assert "date_of_birth" in error.value.message_dict
