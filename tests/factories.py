"""Test data builders that keep a student, its class and its enrolment in one school.

Setup only: the code under test is never called from here, so tests exercise services, selectors
and views on ordinary rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from edureg.access.models import Membership, User
from edureg.access.roles import Role
from edureg.core.text import name_match_key, vietnamese_sort_key
from edureg.registry.models import (
    Assignment,
    Duty,
    Enrolment,
    Guardian,
    SchoolClass,
    Staff,
    Student,
    StudentGuardian,
)
from edureg.schools.models import Authority, School, SchoolYear

_seq = itertools.count(1)
START = dt.date(2026, 9, 5)


def make_authority(code: str = "SGD79") -> Authority:
    return Authority.objects.get_or_create(
        code=code,
        defaults={"name": "Sở GDĐT Thành phố Hồ Chí Minh", "province_code": "79",
                  "admin_units_version": "2025-07-01"},
    )[0]


def make_school(authority: Authority | None = None, *, code: str | None = None,
                name: str | None = None, level: str = "tieu_hoc") -> School:
    authority = authority or make_authority()
    n = next(_seq)
    school = School.objects.create(
        authority=authority, code=code or f"T{n:05d}", name=name or f"Trường Tiểu học Số {n}",
        level=level, ownership="public", commune_code="26734",
        admin_units_version="2025-07-01",
    )
    SchoolYear.objects.create(school=school, start_year=2026, starts_on=START,
                              ends_on=dt.date(2027, 5, 31))
    return school


def current_year(school: School) -> SchoolYear:
    return SchoolYear.objects.get(school=school, start_year=2026)


def make_class(school: School, name: str = "1A", grade: int = 1,
               age_group: str = "") -> SchoolClass:
    return SchoolClass.objects.create(school=school, school_year=current_year(school),
                                      name=name, grade=grade, age_group=age_group)


def make_student(school_class: SchoolClass, full_name: str = "Nguyễn Văn An",
                 **fields: Any) -> Student:
    n = next(_seq)
    fields.setdefault("education_id", f"79{n:08d}")
    student = Student.objects.create(
        school_id=school_class.school_id, current_class=school_class, full_name=full_name,
        name_sort_key=vietnamese_sort_key(full_name), name_match_key=name_match_key(full_name),
        **fields,
    )
    Enrolment.objects.create(
        student=student, school_id=school_class.school_id,
        school_year_id=school_class.school_year_id, school_class=school_class,
        grade=school_class.grade, status_code="01", status_since=START, started_on=START,
    )
    return student


def make_guardian(student: Student, full_name: str = "Nguyễn Văn Bình", relation: str = "01",
                  **fields: Any) -> Guardian:
    guardian = Guardian.objects.create(
        school_id=student.school_id, full_name=full_name,
        name_sort_key=vietnamese_sort_key(full_name), name_match_key=name_match_key(full_name),
        **fields,
    )
    StudentGuardian.objects.create(student=student, guardian=guardian, relation_code=relation,
                                   is_primary_contact=True)
    return guardian


def make_user(username: str, role: Role | None = None, school: School | None = None,
              *, authority: Authority | None = None, password: str | None = None) -> User:
    user = User.objects.create(username=username, full_name=username.capitalize())
    if password:
        user.set_password(password)
        user.save(update_fields=["password"])
    if role is not None:
        Membership.objects.create(
            user=user, role=role, authority=authority or (school.authority if school else
                                                          make_authority()),
            school=school, starts_on=dt.date(2020, 1, 1),
        )
    return user


def make_staff(school: School, full_name: str = "Trần Thị Hoa", *, user: User | None = None,
               **fields: Any) -> Staff:
    return Staff.objects.create(
        school=school, user=user, full_name=full_name,
        name_sort_key=vietnamese_sort_key(full_name), name_match_key=name_match_key(full_name),
        **fields,
    )


def assign(staff: Staff, school_class: SchoolClass, duty: Duty = Duty.HOMEROOM,
           *, ends_on: dt.date | None = None) -> Assignment:
    if duty == Duty.HOMEROOM:
        school_class.homeroom_teacher = staff
        school_class.save(update_fields=["homeroom_teacher"])
    return Assignment.objects.create(
        staff=staff, school_id=school_class.school_id, school_year_id=school_class.school_year_id,
        duty=duty, school_class=school_class, starts_on=dt.date(2020, 1, 1), ends_on=ends_on,
    )
