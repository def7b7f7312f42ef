from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from edureg.access import policy
from edureg.access.roles import ROLE_PERMS, ROLE_SCOPE, Perm, Role
from edureg.registry.models import Assignment, Duty, SchoolClass, Staff, Student
from tests import factories as f
from tests.conftest import Cast


def test_every_role_has_a_scope_and_a_permission_set() -> None:
    assert set(ROLE_PERMS) == set(Role) == set(ROLE_SCOPE)


@pytest.mark.parametrize(
    ("role", "perm", "expected"),
    [(role, perm, perm in ROLE_PERMS[role]) for role in Role for perm in Perm],
)
def test_role_permission_matrix(db: None, role: Role, perm: Perm, expected: bool) -> None:
    school = f.make_school()
    user = f.make_user(f"u-{role.value}", role, None if role in (
        Role.AUTHORITY_OFFICER, Role.SYSTEM_ADMIN) else school, authority=school.authority)
    assert policy.has_perm(user, perm) is expected


def test_principal_sees_own_school_only(cast: Cast) -> None:
    visible = set(policy.scope(Student.objects.all(), cast.alice, Perm.STUDENT_VIEW))
    assert visible == {cast.an, cast.binh}


def test_authority_officer_sees_all_schools_of_the_authority(cast: Cast) -> None:
    visible = set(policy.scope(Student.objects.all(), cast.erin, Perm.STUDENT_VIEW))
    assert visible == {cast.an, cast.binh, cast.other_school_student}


def test_homeroom_teacher_sees_own_class_only(cast: Cast) -> None:
    assert list(policy.scope(Student.objects.all(), cast.bob, Perm.STUDENT_VIEW)) == [cast.an]
    assert list(policy.scope(SchoolClass.objects.all(), cast.bob, Perm.CLASS_VIEW)) == [
        cast.class_1a
    ]


def test_teacher_reassigned_sees_new_class_at_once_and_old_one_no_more(cast: Cast) -> None:
    bob_staff = Staff.objects.get(user=cast.bob)
    Assignment.objects.filter(staff=bob_staff).update(
        ends_on=dt.date.today() - dt.timedelta(days=1)
    )
    f.assign(bob_staff, cast.class_1b, Duty.SUBJECT)
    policy.forget_grants(cast.bob)
    assert list(policy.scope(Student.objects.all(), cast.bob, Perm.STUDENT_VIEW)) == [cast.binh]


def test_subject_teacher_without_assignment_sees_no_students(cast: Cast) -> None:
    assert not policy.scope(Student.objects.all(), cast.carol, Perm.STUDENT_VIEW).exists()


def test_require_answers_404_out_of_scope_and_403_without_permission(cast: Cast) -> None:
    with pytest.raises(Http404):
        policy.require(cast.dave, Perm.STUDENT_VIEW, cast.an)
    with pytest.raises(Http404):
        policy.require(cast.bob, Perm.STUDENT_VIEW, cast.binh)
    with pytest.raises(PermissionDenied):
        policy.require(cast.carol, Perm.STUDENT_EDIT, cast.an)
    policy.require(cast.alice, Perm.STUDENT_EDIT, cast.an)


def test_ended_membership_grants_nothing(cast: Cast) -> None:
    cast.alice.memberships.update(ends_on=dt.date.today() - dt.timedelta(days=1))
    policy.forget_grants(cast.alice)
    assert not policy.may(cast.alice, Perm.STUDENT_VIEW)


def test_inactive_account_grants_nothing(cast: Cast) -> None:
    cast.alice.is_active = False
    assert policy.grants(cast.alice) == ()
