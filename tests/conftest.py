"""The standing cast: two schools of one authority.

- alice: principal of school A;  bob: homeroom teacher of class 1A at school A;
- carol: subject teacher with no class;  dave: principal of school B;
- erin: authority officer.
"""

from __future__ import annotations

import dataclasses

import pytest

from edureg.access.models import User
from edureg.access.roles import Role
from edureg.registry.models import SchoolClass, Student
from edureg.schools.models import School
from tests import factories as f


@dataclasses.dataclass
class Cast:
    school_a: School
    school_b: School
    class_1a: SchoolClass
    class_1b: SchoolClass
    class_b: SchoolClass
    an: Student
    binh: Student
    other_school_student: Student
    alice: User
    bob: User
    carol: User
    dave: User
    erin: User


@pytest.fixture
def cast(db: None) -> Cast:
    authority = f.make_authority()
    school_a = f.make_school(authority, code="A0001", name="Trường Tiểu học Hoà Bình")
    school_b = f.make_school(authority, code="B0001", name="Trường Tiểu học Lê Lợi")
    class_1a = f.make_class(school_a, "1A")
    class_1b = f.make_class(school_a, "1B")
    class_b = f.make_class(school_b, "1A")
    alice = f.make_user("alice", Role.PRINCIPAL, school_a)
    bob = f.make_user("bob", Role.HOMEROOM_TEACHER, school_a)
    carol = f.make_user("carol", Role.SUBJECT_TEACHER, school_a)
    dave = f.make_user("dave", Role.PRINCIPAL, school_b)
    erin = f.make_user("erin", Role.AUTHORITY_OFFICER, authority=authority)
    bob_staff = f.make_staff(school_a, "Phạm Văn Bảo", user=bob)
    f.make_staff(school_a, "Lê Thị Cúc", user=carol)
    f.assign(bob_staff, class_1a)
    an = f.make_student(class_1a, "Nguyễn Văn An", sex="M")
    binh = f.make_student(class_1b, "Trần Thị Bình", sex="F")
    other = f.make_student(class_b, "Lê Văn Cường", sex="M")
    return Cast(school_a=school_a, school_b=school_b, class_1a=class_1a, class_1b=class_1b,
                class_b=class_b, an=an, binh=binh, other_school_student=other, alice=alice,
                bob=bob, carol=carol, dave=dave, erin=erin)
