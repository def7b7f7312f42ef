"""Property: no selector-visible row lies outside the actor's scope, over generated data.

For random memberships and teaching assignments across two schools, the students the policy
lets an actor see equal the set computed independently from the rules in plain Python.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edureg.access import policy
from edureg.access.models import Membership, User
from edureg.access.roles import ROLE_PERMS, ROLE_SCOPE, Perm, Role, Scope
from edureg.registry.models import Assignment, Duty, SchoolClass, Staff, Student
from tests import factories as f

SCHOOL_ROLES = [r for r in Role if ROLE_SCOPE[r] is not Scope.AUTHORITY]


@pytest.mark.django_db
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(
    grants=st.lists(st.tuples(st.sampled_from(SCHOOL_ROLES), st.integers(0, 1),
                              st.booleans()), max_size=3),
    taught=st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=3),
    authority_role=st.sampled_from([None, Role.AUTHORITY_OFFICER]),
)
def test_students_seen_equal_the_rules(grants: list[tuple[Role, int, bool]],
                                       taught: list[tuple[int, bool]],
                                       authority_role: Role | None) -> None:
    # Each example runs in its own savepoint, rolled back at the end.
    with transaction.atomic():
        _check(grants, taught, authority_role)
        transaction.set_rollback(True)


def _check(grants: list[tuple[Role, int, bool]], taught: list[tuple[int, bool]],
           authority_role: Role | None) -> None:
    authority = f.make_authority()
    schools = [f.make_school(authority, code=f"P{i}") for i in range(2)]
    classes = [f.make_class(s, name) for s in schools for name in ("1A", "1B")]
    students = {c.pk: f.make_student(c, "Nguyễn Văn An") for c in classes}
    user = User.objects.create(username="probe")
    staff = Staff.objects.create(school=schools[0], user=user, full_name="Lê Văn Thử",
                                 name_sort_key="1", name_match_key="le van thu")
    yesterday = dt.date.today() - dt.timedelta(days=1)
    for role, school_index, ended in grants:
        Membership.objects.create(user=user, role=role, authority=authority,
                                  school=schools[school_index], starts_on=dt.date(2020, 1, 1),
                                  ends_on=yesterday if ended else None)
    if authority_role is not None:
        Membership.objects.create(user=user, role=authority_role, authority=authority,
                                  starts_on=dt.date(2020, 1, 1))
    for class_index, ended in taught:
        Assignment.objects.create(staff=staff, school=classes[class_index].school,
                                  school_year=classes[class_index].school_year,
                                  duty=Duty.SUBJECT, school_class=classes[class_index],
                                  starts_on=dt.date(2020, 1, 1),
                                  ends_on=yesterday if ended else None)
    policy.forget_grants(user)

    expected: set[int] = set()
    active = [(r, s) for r, s, ended in grants if not ended]
    if authority_role is not None and Perm.STUDENT_VIEW in ROLE_PERMS[authority_role]:
        expected |= {s.pk for s in students.values()}
    for role, school_index in active:
        if Perm.STUDENT_VIEW not in ROLE_PERMS[role]:
            continue
        school = schools[school_index]
        if ROLE_SCOPE[role] is Scope.SCHOOL:
            expected |= {s.pk for s in students.values() if s.school_id == school.pk}
        elif ROLE_SCOPE[role] is Scope.OWN_CLASSES:
            mine = {classes[i].pk for i, ended in taught if not ended}
            expected |= {s.pk for c, s in students.items()
                         if c in mine and s.school_id == school.pk}

    seen = set(policy.scope(Student.objects.all(), user, Perm.STUDENT_VIEW)
               .values_list("pk", flat=True))
    assert seen == expected
    for student in Student.objects.all():
        assert policy.may(user, Perm.STUDENT_VIEW, student) is (student.pk in expected)
    visible_classes = set(policy.scope(SchoolClass.objects.all(), user, Perm.CLASS_VIEW)
                          .values_list("pk", flat=True))
    assert {s.current_class_id for s in Student.objects.filter(pk__in=seen)} <= visible_classes \
        or not seen
