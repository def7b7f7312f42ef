"""Property: what ``policy.scope`` lets an actor reach equals the access rules, over generated
data.

Two authorities (the first with schools 0 and 1, the second with school 2), two classes per
school, a pupil in each class and one without a class per school, guardians linked to any
pupils, a staff member without an account per school and other accounts with memberships. The
probe account gets generated memberships (school roles and authority roles; current, ending
today, ended, not yet started), maybe a staff record, and teaching assignments (current, ended,
not yet started, with or without a class). For every permission, the schools, classes, pupils,
guardians, staff and accounts that ``scope`` returns equal the set computed here in plain
Python from the rules, and ``may`` agrees with ``scope`` row by row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.db import models, transaction
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edureg.access import policy
from edureg.access.models import Membership, User
from edureg.access.roles import ROLE_PERMS, ROLE_SCOPE, Perm, Role, Scope
from edureg.registry.models import (
    Assignment,
    Duty,
    Guardian,
    SchoolClass,
    Staff,
    Student,
    StudentGuardian,
)
from edureg.schools.models import School
from tests import factories as f

SCHOOL_ROLES = [r for r in Role if ROLE_SCOPE[r] is not Scope.AUTHORITY]
AUTHORITY_ROLES = [r for r in Role if ROLE_SCOPE[r] is Scope.AUTHORITY]
SCHOOL_AUTHORITY = (0, 0, 1)  # school index → authority index
CLASSES = [(school, name) for school in range(3) for name in ("1A", "1B")]  # index → (school, name)
# Pupils 0–5 sit in class 0–5; pupils 6–8 belong to school 0–2 without a class.
PUPIL_SCHOOL = [school for school, _name in CLASSES] + [0, 1, 2]
PUPIL_CLASS: list[int | None] = [*range(len(CLASSES)), None, None, None]
STATUSES = ("current", "ends_today", "ended", "future")

Status = str
SchoolGrant = tuple[Role, int, Status]  # role, school index, status
AuthorityGrant = tuple[Role, int, Status]  # role, authority index, status
Teaching = tuple[int | None, Status]  # class index (None: no class), status
GuardianSpec = tuple[int, list[int]]  # guardian's school index, pupils linked


def _period(status: Status) -> tuple[dt.date, dt.date | None]:
    today = timezone.localdate()
    return {
        "current": (dt.date(2020, 1, 1), None),
        "ends_today": (dt.date(2020, 1, 1), today),
        "ended": (dt.date(2020, 1, 1), today - dt.timedelta(days=1)),
        "future": (today + dt.timedelta(days=1), None),
    }[status]


def _is_current(status: Status) -> bool:
    return status in ("current", "ends_today")


@dataclasses.dataclass(frozen=True)
class Spec:
    """The generated situation, in indices; the rules below read only this."""

    school_grants: list[SchoolGrant]
    authority_grants: list[AuthorityGrant]
    teaching: list[Teaching]
    staff_school: int | None  # the probe's own staff record
    guardians: list[GuardianSpec]
    others: list[tuple[int, Status]]  # other accounts: one membership each (school, status)
    active: bool


# --- The rules, in plain Python ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RuleGrant:
    role: Role
    authority: int
    school: int | None


def _grants(spec: Spec) -> list[RuleGrant]:
    if not spec.active:
        return []
    return (
        [RuleGrant(role, SCHOOL_AUTHORITY[school], school)
         for role, school, status in spec.school_grants if _is_current(status)]
        + [RuleGrant(role, authority, None)
           for role, authority, status in spec.authority_grants if _is_current(status)]
    )


def _taught(spec: Spec) -> set[int]:
    """Classes the probe teaches today (assignments hang off its staff record)."""
    if spec.staff_school is None:
        return set()
    return {c for c, status in spec.teaching if c is not None and _is_current(status)}


def _schools_reached(grant: RuleGrant) -> set[int]:
    if ROLE_SCOPE[grant.role] is Scope.AUTHORITY:
        return {s for s in range(3) if SCHOOL_AUTHORITY[s] == grant.authority}
    assert grant.school is not None
    return {grant.school}


Key = tuple[str, int]  # ("school" | "class" | "pupil" | "guardian" | "staff" | "user", index)


def _own_classes(spec: Spec, grant: RuleGrant) -> set[int]:
    return {c for c in _taught(spec) if CLASSES[c][0] == grant.school}


def _reach(spec: Spec, grant: RuleGrant, users: dict[int, list[tuple[int | None, int, bool]]]
           ) -> set[Key]:
    """What one grant reaches, by the rules: the whole authority, the whole school, or (own
    classes) the classes taught there, their pupils and those pupils' guardians, the actor's own
    staff record and account."""
    scope = ROLE_SCOPE[grant.role]
    schools = _schools_reached(grant)
    reached: set[Key] = {("school", s) for s in schools}
    if scope is Scope.OWN_CLASSES:
        mine = _own_classes(spec, grant)
        pupils = {p for p, c in enumerate(PUPIL_CLASS) if c in mine}
        reached |= {("class", c) for c in mine}
        reached |= {("pupil", p) for p in pupils}
        reached |= {("guardian", g) for g, (_s, linked) in enumerate(spec.guardians)
                    if pupils & set(linked)}
        reached |= {("staff", -1)} if spec.staff_school is not None else set()
        reached |= {("user", -1)}
        return reached
    reached |= {("class", c) for c, (s, _name) in enumerate(CLASSES) if s in schools}
    reached |= {("pupil", p) for p, s in enumerate(PUPIL_SCHOOL) if s in schools}
    reached |= {("guardian", g) for g, (s, _linked) in enumerate(spec.guardians) if s in schools}
    reached |= {("staff", s) for s in schools}  # the staff member without an account
    if spec.staff_school in schools:
        reached.add(("staff", -1))
    for user, memberships in users.items():
        # Accounts: a membership not ended at a school reached / in the authority; a leaver
        # (every membership ended) through any membership there.
        leaver = all(ended for _school, _authority, ended in memberships)
        if any(((school in schools) if scope is Scope.SCHOOL else (authority == grant.authority))
               and (leaver or not ended) for school, authority, ended in memberships):
            reached.add(("user", user))
    return reached


def _expected(spec: Spec, perm: Perm, users: dict[int, list[tuple[int | None, int, bool]]]
              ) -> set[Key]:
    expected: set[Key] = set()
    for grant in _grants(spec):
        if perm in ROLE_PERMS[grant.role]:
            expected |= _reach(spec, grant, users)
    return expected


# --- The same situation in the database ----------------------------------------------------------

@dataclasses.dataclass
class Built:
    probe: User
    keys: dict[tuple[type[models.Model], int], Key]  # (model, pk) → key

    def seen(self, model: type[models.Model], perm: Perm) -> set[Key]:
        pks = policy.scope(model._default_manager.all(), self.probe, perm).values_list(
            "pk", flat=True)
        return {self.keys[(model, pk)] for pk in pks}


def _build(spec: Spec) -> tuple[Built, dict[int, list[tuple[int | None, int]]]]:
    authorities = [f.make_authority("SGD79"), f.make_authority("SGD01")]
    schools = [f.make_school(authorities[a], code=f"P{i}") for i, a in enumerate(SCHOOL_AUTHORITY)]
    classes = [f.make_class(schools[s], name) for s, name in CLASSES]
    pupils = []
    for p, s in enumerate(PUPIL_SCHOOL):
        c = PUPIL_CLASS[p]
        pupil = f.make_student(classes[c if c is not None else 2 * s], f"Nguyễn Văn An {p}")
        if c is None:
            Student.objects.filter(pk=pupil.pk).update(current_class=None)
        pupils.append(pupil)
    keys: dict[tuple[type[models.Model], int], Key] = {}
    keys |= {(School, school.pk): ("school", i) for i, school in enumerate(schools)}
    keys |= {(SchoolClass, c.pk): ("class", i) for i, c in enumerate(classes)}
    keys |= {(Student, pupil.pk): ("pupil", i) for i, pupil in enumerate(pupils)}
    for g, (s, linked) in enumerate(spec.guardians):
        guardian = Guardian.objects.create(school=schools[s], full_name=f"Trần Thị Bình {g}",
                                           name_sort_key=str(g), name_match_key=str(g))
        for p in linked:
            StudentGuardian.objects.create(student=pupils[p], guardian=guardian,
                                           relation_code="02")
        keys[(Guardian, guardian.pk)] = ("guardian", g)
    for s, school in enumerate(schools):
        keys[(Staff, f.make_staff(school, f"Lê Văn Cường {s}").pk)] = ("staff", s)

    probe = User.objects.create(username="probe", is_active=spec.active)
    keys[(User, probe.pk)] = ("user", -1)
    users: dict[int, list[tuple[int | None, int, bool]]] = {-1: []}
    for role, s, status in spec.school_grants:
        starts_on, ends_on = _period(status)
        Membership.objects.create(user=probe, role=role, authority=authorities[
            SCHOOL_AUTHORITY[s]], school=schools[s], starts_on=starts_on, ends_on=ends_on)
        users[-1].append((s, SCHOOL_AUTHORITY[s], status == "ended"))
    for role, a, status in spec.authority_grants:
        starts_on, ends_on = _period(status)
        Membership.objects.create(user=probe, role=role, authority=authorities[a],
                                  starts_on=starts_on, ends_on=ends_on)
        users[-1].append((None, a, status == "ended"))
    for u, (s, status) in enumerate(spec.others):
        other = User.objects.create(username=f"other{u}")
        starts_on, ends_on = _period(status)
        Membership.objects.create(user=other, role=Role.SUBJECT_TEACHER,
                                  authority=authorities[SCHOOL_AUTHORITY[s]], school=schools[s],
                                  starts_on=starts_on, ends_on=ends_on)
        keys[(User, other.pk)] = ("user", u)
        users[u] = [(s, SCHOOL_AUTHORITY[s], status == "ended")]

    if spec.staff_school is not None:
        own = f.make_staff(schools[spec.staff_school], "Phạm Văn Thử", user=probe)
        keys[(Staff, own.pk)] = ("staff", -1)
        for c, status in spec.teaching:
            starts_on, ends_on = _period(status)
            target = classes[c] if c is not None else None
            school = target.school if target is not None else schools[spec.staff_school]
            Assignment.objects.create(
                staff=own, school=school, school_year=f.current_year(school),
                duty=Duty.SUBJECT, school_class=target, starts_on=starts_on, ends_on=ends_on)
    return Built(probe=probe, keys=keys), users


# --- The property --------------------------------------------------------------------------------

MODELS: dict[str, type[models.Model]] = {
    "school": School, "class": SchoolClass, "pupil": Student, "guardian": Guardian,
    "staff": Staff, "user": User,
}
# The permission each kind of row is usually read with: ``may`` is checked row by row for it.
NATURAL_PERM = {
    "school": Perm.SCHOOL_VIEW, "class": Perm.CLASS_VIEW, "pupil": Perm.STUDENT_VIEW,
    "guardian": Perm.GUARDIAN_VIEW, "staff": Perm.STAFF_VIEW, "user": Perm.ACCOUNT_VIEW,
}

statuses = st.sampled_from(STATUSES)
specs = st.builds(
    Spec,
    school_grants=st.lists(st.tuples(st.sampled_from(SCHOOL_ROLES), st.integers(0, 2), statuses),
                           max_size=3),
    authority_grants=st.lists(st.tuples(st.sampled_from(AUTHORITY_ROLES), st.integers(0, 1),
                                        statuses), max_size=1),
    teaching=st.lists(st.tuples(st.none() | st.integers(0, len(CLASSES) - 1), statuses),
                      max_size=3),
    staff_school=st.none() | st.integers(0, 2),
    guardians=st.lists(st.tuples(st.integers(0, 2),
                                 st.lists(st.integers(0, len(PUPIL_SCHOOL) - 1), min_size=1,
                                          max_size=2, unique=True)), max_size=3),
    others=st.lists(st.tuples(st.integers(0, 2), statuses), max_size=2),
    active=st.booleans() | st.just(True),
)


def _spec(**changes: object) -> Spec:
    base = Spec(school_grants=[], authority_grants=[], teaching=[], staff_school=None,
                guardians=[], others=[], active=True)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.django_db
@settings(max_examples=75, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=specs)
@example(spec=_spec(school_grants=[(Role.PRINCIPAL, 0, "ended")], others=[(0, "ended")]))
@example(spec=_spec(school_grants=[(Role.HOMEROOM_TEACHER, 0, "current")], staff_school=1,
                    teaching=[(0, "current"), (1, "ended"), (4, "current"), (None, "current")],
                    guardians=[(1, [0, 4]), (0, [1])]))
@example(spec=_spec(school_grants=[(Role.SUBJECT_TEACHER, 1, "current"),
                                   (Role.HOMEROOM_TEACHER, 1, "future")], staff_school=1,
                    teaching=[(2, "future"), (3, "ends_today")], guardians=[(1, [2]), (1, [3])]))
@example(spec=_spec(authority_grants=[(Role.AUTHORITY_OFFICER, 0, "current")],
                    guardians=[(2, [8])], others=[(2, "current"), (1, "future")]))
@example(spec=_spec(school_grants=[(Role.IT_OFFICER, 2, "ends_today")],
                    others=[(2, "ended"), (0, "current")]))
@example(spec=_spec(school_grants=[(Role.PRINCIPAL, 0, "current")], staff_school=0,
                    others=[(0, "current")], active=False))
def test_rows_in_scope_equal_the_rules(spec: Spec) -> None:
    # Each example runs in its own savepoint, rolled back at the end.
    with transaction.atomic():
        _check(spec)
        transaction.set_rollback(True)


def _check(spec: Spec) -> None:
    built, users = _build(spec)
    for kind, model in MODELS.items():
        for perm in Perm:
            expected = {key for key in _expected(spec, perm, users) if key[0] == kind}
            assert built.seen(model, perm) == expected, (kind, perm)
        perm = NATURAL_PERM[kind]
        expected = _expected(spec, perm, users)
        for (row_model, pk), key in built.keys.items():
            if row_model is model:
                row = model._default_manager.get(pk=pk)
                assert policy.may(built.probe, perm, row) is (key in expected), (key, perm)
