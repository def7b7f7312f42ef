"""The access sweep: every URL pattern of the site and of the API, one row each in ``ENDPOINTS``.

For each endpoint and each method it accepts: anonymous callers are sent to the sign-in page
(web) or refused with 401 (API); the actor it is meant for gets the page; another school's
object (or another class's, another person's, a missing one) is not found (404); a signed-in
account whose roles lack the permission is refused (403); every refusal leaves exactly one
``access.denied`` audit event, records no write and changes nothing; a form post without its
CSRF token is refused (403) and changes nothing; methods the view does not accept answer 405.

A URL pattern added without a row here fails ``test_every_url_pattern_is_classified``; a
pattern that takes an object id must come with at least one not-found case, and one that needs
a permission with at least one account lacking it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db.models import Q
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from edureg.access import policy
from edureg.access.models import LoginFailure, Membership, User, UserSession
from edureg.access.roles import Perm, Role
from edureg.access.sessions import session_key_hash
from edureg.api.views import api
from edureg.audit import actions
from edureg.audit.actions import Kind
from edureg.audit.models import AuditEvent
from edureg.dedupe.models import DuplicateDecision, DuplicatePair
from edureg.identity.models import IdentityState, VerificationJob
from edureg.intake.models import IntakeRun
from edureg.privacy.incidents import IncidentData, incident_record
from edureg.privacy.models import (
    Consent,
    ConsentState,
    Incident,
    PolicyAcknowledgement,
    SubjectRequest,
)
from edureg.privacy.policy import policy_acknowledge, policy_in_force
from edureg.privacy.services import ConsentGiven, consent_give
from edureg.privacy.subject_requests import SubjectRequestData, subject_request_record
from edureg.quality.models import FieldGroupCheck, RecordState, SignOff
from edureg.registry.merge import student_merge
from edureg.registry.models import (
    Enrolment,
    Guardian,
    SchoolClass,
    Staff,
    Student,
    StudentMerge,
    Transfer,
    TransferStatus,
)
from edureg.reports.models import ReportingRound
from edureg.schools.models import School, SchoolYear
from edureg.sharing.models import SharingAgreement
from edureg.sharing.services import AgreementData, agreement_create
from edureg.sync.models import SyncChange, SyncStatus
from edureg.yearly.models import (
    ClassProposal,
    Handover,
    HomeroomProposal,
    IntakeBatch,
    PupilException,
)
from edureg.yearly.services import promotion_commit, year_open
from tests import factories as f
from tests.conftest import Cast
from tests.web.conftest import edit_form_data

LOGIN_PATH = reverse(settings.LOGIN_URL)
MISSING_ID = 999_999_999
HUGE_ID = 2**63  # one past the largest 64-bit integer column value


# --- The world the sweep runs in -------------------------------------------------------------

@dataclasses.dataclass
class World:
    """The standing cast plus the accounts and records the sweep needs.

    Users by name: alice (principal A), bob (homeroom 1A), carol (subject teacher A, no class),
    dave (principal B), erin (authority officer), ivan (IT officer A), sam (system
    administrator, authority), lam (former principal of A: only an ended membership),
    khoa (principal of A who also teaches at B, no class there), iris (IT officer of A and
    principal of B), tuan (subject teacher at A and at B)."""

    cast: Cast
    users: dict[str, User]
    staff_a: Staff  # school A staff member without an account
    staff_b: Staff  # school B staff member without an account
    bob_membership: Membership
    dave_membership: Membership
    tuan_membership_b: Membership
    alice_other_session: str  # key hash of another open session of alice's
    dave_session: str  # key hash of an open session of dave's


def _membership(user: User, role: Role, school: Any) -> Membership:
    return Membership.objects.create(user=user, role=role, authority=school.authority,
                                     school=school, starts_on=dt.date(2020, 1, 1))


def _open_session(user: User) -> str:
    other = Client()
    other.force_login(user)
    key = other.session.session_key
    assert key is not None
    return session_key_hash(key)


@pytest.fixture
def world(cast: Cast) -> World:
    return make_world(cast)


def make_world(cast: Cast) -> World:
    """The sweep's world on top of the standing cast (also used by test_no_files.py)."""
    authority = cast.school_a.authority
    users = {name: getattr(cast, name) for name in ("alice", "bob", "carol", "dave", "erin")}
    users["ivan"] = f.make_user("ivan", Role.IT_OFFICER, cast.school_a)
    users["sam"] = f.make_user("sam", Role.SYSTEM_ADMIN, authority=authority)
    users["lam"] = f.make_user("lam", Role.PRINCIPAL, cast.school_a)
    Membership.objects.filter(user=users["lam"]).update(
        ends_on=timezone.localdate() - dt.timedelta(days=1))
    users["khoa"] = f.make_user("khoa", Role.PRINCIPAL, cast.school_a)
    _membership(users["khoa"], Role.SUBJECT_TEACHER, cast.school_b)
    users["iris"] = f.make_user("iris", Role.IT_OFFICER, cast.school_a)
    _membership(users["iris"], Role.PRINCIPAL, cast.school_b)
    users["tuan"] = f.make_user("tuan", Role.SUBJECT_TEACHER, cast.school_a)
    tuan_b = _membership(users["tuan"], Role.SUBJECT_TEACHER, cast.school_b)
    return World(
        cast=cast, users=users,
        staff_a=f.make_staff(cast.school_a, "Nguyễn Thị Lan"),
        staff_b=f.make_staff(cast.school_b, "Hoàng Thị Mai"),
        bob_membership=Membership.objects.get(user=cast.bob),
        dave_membership=Membership.objects.get(user=cast.dave),
        tuan_membership_b=tuan_b,
        alice_other_session=_open_session(cast.alice),
        dave_session=_open_session(cast.dave),
    )


# --- URL builders ----------------------------------------------------------------------------

Url = Callable[[World], str]


def _web(name: str, *args: Callable[[World], object], query: str = "") -> Url:
    return lambda w: reverse(f"web:{name}", args=[arg(w) for arg in args]) + query


def _id(value: int) -> Callable[[World], int]:
    return lambda w: value


def _pk(path: str) -> Callable[[World], int]:
    """The primary key of ``world.<path>`` (dotted; ``users.bob`` looks up a user by name)."""

    def pk(w: World) -> int:
        target: Any = w
        for part in path.split("."):
            target = target[part] if isinstance(target, dict) else getattr(target, part)
        return int(target.pk)

    return pk


SCHOOL_A, SCHOOL_B = _pk("cast.school_a"), _pk("cast.school_b")
CLASS_1A, CLASS_1B, CLASS_B = _pk("cast.class_1a"), _pk("cast.class_1b"), _pk("cast.class_b")
AN, BINH, CUONG = _pk("cast.an"), _pk("cast.binh"), _pk("cast.other_school_student")
BOB, DAVE = _pk("users.bob"), _pk("users.dave")


def _api(path: str) -> Url:
    return lambda w: "/api/v1" + path.format(
        an=AN(w), binh=BINH(w), cuong=CUONG(w), class_1a=CLASS_1A(w), class_1b=CLASS_1B(w),
        class_b=CLASS_B(w), missing=MISSING_ID, huge=HUGE_ID)


# --- The table -------------------------------------------------------------------------------

class Access(enum.Enum):
    PUBLIC = "public"  # anyone, signed in or not
    SIGNED_IN = "signed_in"  # any signed-in account: its own account pages, code-list look-ups
    PERMISSION = "permission"  # a permission of access.roles, within the actor's scope
    AGENCY = "agency"  # an agency's OAuth2 bearer token (edureg.sharing); no staff session


@dataclasses.dataclass(frozen=True)
class Case:
    """``actor`` asks for ``url`` and must be told it does not exist (404)."""

    label: str
    actor: str
    url: Url


@dataclasses.dataclass(frozen=True)
class Endpoint:
    access: Access
    ok: dict[str, int]  # method → status for ``actor`` at ``url`` (the methods the view takes)
    url: Url  # an object within ``actor``'s reach (or the page itself)
    actor: str = "alice"
    perm: Perm | None = None
    lacking: tuple[str, ...] = ()  # signed-in accounts whose roles lack ``perm`` → 403
    not_found: tuple[Case, ...] = ()  # another school's / class's / person's object, a missing one
    anonymous: int = 302  # 302: sent to the sign-in page
    data: Callable[[World], dict[str, Any]] | None = None  # the POST body
    prepare: Callable[[World], None] | None = None  # state that makes a wrongful write visible
    other_methods_refused: bool = True  # methods outside ``ok`` answer 405
    csrf_exempt: bool = False  # a machine-to-machine endpoint without cookies (OAuth2 token)

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.ok)


def _missing(actor: str, build: Callable[[int], Url]) -> tuple[Case, ...]:
    return (Case("missing", actor, build(MISSING_ID)), Case("huge_id", actor, build(HUGE_ID)))


def _student_cases(actor: str, name: str) -> tuple[Case, ...]:
    """A student (or its edit pages) of another school, another class, and one the mixed-role
    principal reaches only as a subject teacher without a class."""
    return (
        Case("other_school", actor, _web(name, CUONG)),
        Case("other_class", "bob", _web(name, BINH)),
        Case("other_school_other_role", "khoa", _web(name, CUONG)),
        *_missing(actor, lambda i: _web(name, _id(i))),
    )


def _class_cases(actor: str, name: str) -> tuple[Case, ...]:
    """A class of another school, another class of the teacher's school, one the mixed-role
    principal reaches only as a subject teacher without a class, a missing one."""
    return (
        Case("other_school", actor, _web(name, CLASS_B)),
        Case("other_class", "bob", _web(name, CLASS_1B)),
        Case("other_school_other_role", "khoa", _web(name, CLASS_B)),
        *_missing(actor, lambda i: _web(name, _id(i))),
    )


def _todo_class(school_class: Callable[[World], int]) -> Url:
    return lambda w: reverse("web:quality_todo") + f"?lop={school_class(w)}"


def _account_cases(name: str, *extra: Callable[[World], object]) -> tuple[Case, ...]:
    return (
        Case("other_school", "ivan", _web(name, DAVE, *extra)),
        Case("other_school_other_role", "iris", _web(name, DAVE, *extra)),
        Case("authority_account", "ivan", _web(name, _pk("users.erin"), *extra)),
        *_missing("ivan", lambda i: _web(name, _id(i), *extra)),
    )


def _school_filter(name: str, school: Callable[[World], int]) -> Url:
    return lambda w: reverse(f"web:{name}") + f"?truong={school(w)}"


def _supervision(name: str, *, filtered: bool = True) -> Endpoint:
    """A supervision screen; those with a school filter (``?truong=``) must not open another
    school's events."""
    cases = (
        Case("other_school", "alice", _school_filter(name, SCHOOL_B)),
        Case("other_school_other_role", "khoa", _school_filter(name, SCHOOL_B)),
        Case("missing", "alice", _school_filter(name, _id(MISSING_ID))),
    ) if filtered else ()
    return Endpoint(Access.PERMISSION, {"GET": 200}, _web(name), perm=Perm.AUDIT_VIEW,
                    lacking=("bob", "carol", "ivan"), not_found=cases)


def _student_edit_data(w: World) -> dict[str, Any]:
    """Alice's complete, valid edit form for An with a new name: what a wrongful post would
    write wherever it is sent."""
    principal = Client()
    principal.force_login(w.cast.alice)
    data = edit_form_data(principal, w.cast.an)
    data["full_name"] = "Nguyễn Văn Ân"
    return data


def _deactivate(*names: str) -> Callable[[World], None]:
    def prepare(w: World) -> None:
        User.objects.filter(username__in=names).update(is_active=False)
    return prepare


def _enrol(*names: str) -> Callable[[World], None]:
    def prepare(w: World) -> None:
        for name in names:
            TOTPDevice.objects.create(user=w.users[name], name="app", confirmed=True)
    return prepare


def _person(name: str, entity: str, person: Callable[[World], int]) -> Url:
    """An identity queue action on a person: ``entity`` is the URL's ("hoc-sinh", "can-bo")."""
    return lambda w: reverse(f"web:{name}", args=[entity, person(w)])


def _queue_action_cases(name: str) -> tuple[Case, ...]:
    """A pupil or staff member of another school, a pupil of another class, one the mixed-role
    principal reaches only as a subject teacher without a class, an unknown kind of person,
    a missing one."""
    return (
        Case("other_school", "alice", _person(name, "hoc-sinh", CUONG)),
        Case("other_school_staff", "alice", _person(name, "can-bo", _pk("staff_b"))),
        Case("other_class", "bob", _person(name, "hoc-sinh", BINH)),
        Case("other_school_other_role", "khoa", _person(name, "hoc-sinh", CUONG)),
        Case("unknown_entity", "alice", _person(name, "nguoi-la", AN)),
        *_missing("alice", lambda i: _person(name, "hoc-sinh", _id(i))),
    )


def _mismatched(w: World) -> None:
    """Every person differs from the register: a wrongful queue action would change a state."""
    now = timezone.now()
    people = [("student", p) for p in (w.cast.an, w.cast.binh, w.cast.other_school_student)]
    people += [("staff", w.staff_a), ("staff", w.staff_b)]
    IdentityState.objects.bulk_create([
        IdentityState(entity=entity, record_id=person.pk, school_id=person.school_id,
                      status="mismatch", mismatched=["full_name"], queue_status="open",
                      fields={"full_name": {"outcome": "mismatch",
                                            "register_value": "Nguyễn Văn Ân"}},
                      updated_at=now)
        for entity, person in people])


def _identity_school(name: str) -> tuple[Case, ...]:
    """Another school (by its principal, a class teacher, the mixed-role principal; the IT
    officer who is principal elsewhere, at their own school), a missing one."""
    return (
        Case("other_school", "alice", _web(name, SCHOOL_B)),
        Case("other_school_class_teacher", "bob", _web(name, SCHOOL_B)),
        Case("other_school_other_role", "khoa", _web(name, SCHOOL_B)),
        Case("other_school_other_role", "iris", _web(name, SCHOOL_A)),
        *_missing("alice", lambda i: _web(name, _id(i))),
    )


def _open_transfers(w: World) -> None:
    """An open request for An (A → B, asked by alice) and one for Cường (B → A, asked by dave),
    so a list shows them and a wrongful decision or withdrawal would show in the state."""
    for pupil, to_school, asker in ((w.cast.an, w.cast.school_b, w.cast.alice),
                                    (w.cast.other_school_student, w.cast.school_a,
                                     w.cast.dave)):
        Transfer.objects.get_or_create(
            student=pupil, status=TransferStatus.REQUESTED,
            defaults={"from_school_id": pupil.school_id, "to_school": to_school,
                      "effective_on": timezone.localdate(), "requested_by": asker,
                      "requested_at": timezone.now()})


def _open_transfer(student: str) -> Callable[[World], int]:
    """The open transfer of ``cast.<student>`` (made by ``_open_transfers``; a missing id
    before that, for the checks that send no body and need no object)."""

    def pk(w: World) -> int:
        found = Transfer.objects.filter(student=getattr(w.cast, student),
                                        status=TransferStatus.REQUESTED).first()
        return found.pk if found is not None else MISSING_ID

    return pk


AN_TRANSFER, CUONG_TRANSFER = _open_transfer("an"), _open_transfer("other_school_student")


def _transfer_school(name: str) -> tuple[Case, ...]:
    """Another school's transfer list (by its principal, the mixed-role principal who only
    teaches there, the IT officer who is principal elsewhere, at their own school), a missing
    one."""
    return (
        Case("other_school", "alice", _web(name, SCHOOL_B)),
        Case("other_school_other_role", "khoa", _web(name, SCHOOL_B)),
        Case("other_school_other_role", "iris", _web(name, SCHOOL_A)),
        *_missing("alice", lambda i: _web(name, _id(i))),
    )


def _receiving_cases(name: str) -> tuple[Case, ...]:
    """A request addressed to another school (the sending principal may not decide it; nor may
    the mixed-role principal who only teaches at the receiving school), a missing one."""
    return (
        Case("sending_school", "alice", _web(name, AN_TRANSFER)),
        Case("other_school", "dave", _web(name, CUONG_TRANSFER)),
        Case("other_school_other_role", "khoa", _web(name, AN_TRANSFER)),
        *_missing("dave", lambda i: _web(name, _id(i))),
    )


TWIN_NAME = "Nguyen Van An"  # An typed again without diacritics, in class 1B


def _pairs(w: World) -> None:
    """An open duplicate pair of two pupils of school A (An and her look-alike in 1B), and one
    across the two schools (Bình and Cường), so a queue shows them and a wrongful decision or
    merge would show in the state."""
    twin = Student.objects.filter(full_name=TWIN_NAME).first() \
        or f.make_student(w.cast.class_1b, TWIN_NAME)
    for one, other in ((w.cast.an, twin), (w.cast.binh, w.cast.other_school_student)):
        low, high = sorted((one, other), key=lambda s: s.pk)
        DuplicatePair.objects.get_or_create(
            entity="student", left_id=low.pk, right_id=high.pk,
            defaults={"left_school_id": low.school_id, "right_school_id": high.school_id,
                      "match_probability": 0.95, "explanation": "agreed: given, dob",
                      "found_at": timezone.now()})


def _pair_of(student: str) -> Callable[[World], int]:
    """The pair of ``cast.<student>`` (made by ``_pairs``; a missing id before that)."""

    def pk(w: World) -> int:
        person = getattr(w.cast, student)
        found = DuplicatePair.objects.filter(Q(left_id=person.pk) | Q(right_id=person.pk)).first()
        return found.pk if found is not None else MISSING_ID

    return pk


PAIR_A, PAIR_ACROSS = _pair_of("an"), _pair_of("other_school_student")


def _merged(w: World) -> None:
    """An and her look-alike merged by the principal (for the undo)."""
    if StudentMerge.objects.exists():
        return
    twin = f.make_student(w.cast.class_1b, TWIN_NAME)
    student_merge(actor=w.cast.alice, kept=w.cast.an, merged=twin,
                  reason="Cùng giấy khai sinh, nhập trùng đầu năm")


def _merge_id(w: World) -> int:
    found = StudentMerge.objects.first()
    return found.pk if found is not None else MISSING_ID


def _pair_cases(name: str) -> tuple[Case, ...]:
    """A pair of two pupils of school A (by the principal of B, by the IT officer of A who is
    principal of B), a missing one."""
    return (
        Case("other_school", "dave", _web(name, PAIR_A)),
        Case("other_school_other_role", "iris", _web(name, PAIR_A)),
        *_missing("alice", lambda i: _web(name, _id(i))),
    )


PHOTOS = "anh_truyen_thong"  # a purpose that needs consent


def _guardian_of(student: Student) -> Guardian:
    link = student.guardian_links.select_related("guardian").first()
    if link is not None:
        return link.guardian
    return f.make_guardian(student, f"Mẹ của {student.full_name}", relation="02")


def _consent_ready(w: World) -> None:
    """The principals and the homeroom teacher acknowledged the policy; An and Cường each have
    a guardian on file."""
    for name in ("alice", "bob", "dave", "khoa", "iris"):
        policy_acknowledge(actor=w.users[name], version=policy_in_force().version)
    for pupil in (w.cast.an, w.cast.other_school_student):
        _guardian_of(pupil)


def _consents_given(w: World) -> None:
    """Consent for photos in force for An (recorded by alice) and Cường (by dave), so a
    wrongful withdrawal would show in the state."""
    _consent_ready(w)
    for pupil, actor in ((w.cast.an, w.cast.alice), (w.cast.other_school_student, w.cast.dave)):
        if not ConsentState.objects.filter(subject_id=pupil.pk, purpose=PHOTOS).exists():
            consent_give(actor=actor, student=pupil, data=ConsentGiven(
                purpose=PHOTOS, notice_version="TB-ANH-2026.1", guardian=_guardian_of(pupil),
                subject_agreed=True, channel="phieu_giay", evidence_reference="Phiếu số 1"))


def _consent_data(w: World) -> dict[str, Any]:
    return {"purpose": PHOTOS, "notice_version": "TB-ANH-2026.1",
            "guardian": _guardian_of(w.cast.an).pk, "subject_agreed": "on",
            "channel": "phieu_giay", "evidence_reference": "Phiếu đồng ý số 12"}


def _withdraw(student: Callable[[World], int]) -> Url:
    return lambda w: reverse("web:consent_withdraw", args=[student(w), PHOTOS])


def _policy_ack_school(school: Callable[[World], int]) -> Url:
    return _web("privacy_acknowledgements", school)


def _incidents(w: World) -> None:
    """One incident recorded at each school (by its principal), not yet notified."""
    for school, actor in ((w.cast.school_a, w.cast.alice), (w.cast.school_b, w.cast.dave)):
        if not Incident.objects.filter(school=school).exists():
            incident_record(actor=actor, school=school, data=IncidentData(
                detected_at=timezone.now() - dt.timedelta(hours=3), title="Gửi nhầm email",
                description="Gửi nhầm danh sách lớp.", affected_count=30, actions_taken=""))


def _incident_of(school: str) -> Callable[[World], int]:
    def pk(w: World) -> int:
        found = Incident.objects.filter(school=getattr(w.cast, school)).first()
        return found.pk if found is not None else MISSING_ID

    return pk


INCIDENT_A, INCIDENT_B = _incident_of("school_a"), _incident_of("school_b")


def _parked_changes(w: World) -> None:
    """A change of each school that the national database refused (upward sync)."""
    for offset, (school, pupil) in enumerate(((w.cast.school_a, w.cast.an),
                                              (w.cast.school_b, w.cast.other_school_student))):
        SyncChange.objects.get_or_create(seq=10**9 + offset, defaults={
            "action": "student.update", "entity": "student", "record_id": pupil.pk,
            "school_id": school.pk, "committed_at": timezone.now(),
            "status": SyncStatus.PARKED, "next_attempt_at": timezone.now()})


def _parked_of(offset: int) -> Callable[[World], int]:
    """The refused change of school A (0) or B (1); a missing id before ``_parked_changes``."""
    return lambda w: SyncChange.objects.filter(seq=10**9 + offset).values_list(
        "pk", flat=True).first() or MISSING_ID


def _incident_cases(name: str) -> tuple[Case, ...]:
    """Another school's incident (by its own school id and under school A's id), an incident
    of a school where the actor has another role, a missing one."""
    return (
        Case("other_school", "alice", _web(name, SCHOOL_B, INCIDENT_B)),
        Case("other_school_under_own_id", "alice", _web(name, SCHOOL_A, INCIDENT_B)),
        Case("other_school_other_role", "khoa", _web(name, SCHOOL_B, INCIDENT_B)),
        *_missing("alice", lambda i: _web(name, SCHOOL_A, _id(i))),
    )


_INCIDENT_POST = {"detected_at": "", "title": "Gửi nhầm email",
                  "description": "Gửi nhầm danh sách lớp.", "affected_count": "31",
                  "actions_taken": "Thu hồi thư"}


def _subject_requests(w: World) -> None:
    """One access request recorded at each school (by its principal) about one of its pupils."""
    for school, actor, pupil in ((w.cast.school_a, w.cast.alice, w.cast.an),
                                 (w.cast.school_b, w.cast.dave, w.cast.other_school_student)):
        if not SubjectRequest.objects.filter(school=school).exists():
            subject_request_record(actor=actor, school=school, data=SubjectRequestData(
                kind="access", student_code=str(pupil.education_id), received_at=None,
                channel="don_giay", requester_relation="guardian", details=""))


def _subject_request_of(school: str) -> Callable[[World], int]:
    def pk(w: World) -> int:
        found = SubjectRequest.objects.filter(school=getattr(w.cast, school)).first()
        return found.pk if found is not None else MISSING_ID

    return pk


REQUEST_A, REQUEST_B = _subject_request_of("school_a"), _subject_request_of("school_b")


def _subject_request_url(name: str, school: Callable[[World], int],
                         request: Callable[[World], int]) -> Url:
    if name == "privacy_subject_request_action":
        return lambda w: reverse(f"web:{name}", args=[school(w), request(w), "xac-nhan"])
    return _web(name, school, request)


def _subject_request_cases(name: str) -> tuple[Case, ...]:
    """Another school's request (by its own school id and under school A's id), a request of
    a school where the actor has another role, a missing one."""
    return (
        Case("other_school", "alice", _subject_request_url(name, SCHOOL_B, REQUEST_B)),
        Case("other_school_under_own_id", "alice",
             _subject_request_url(name, SCHOOL_A, REQUEST_B)),
        Case("other_school_other_role", "khoa", _subject_request_url(name, SCHOOL_B, REQUEST_B)),
        *_missing("alice", lambda i: _subject_request_url(name, SCHOOL_A, _id(i))),
    )


_SUBJECT_REQUEST_LACKING = ("bob", "carol", "ivan", "lam", "sam")


def _account_action(name: str, ok: int, **extra: Any) -> Endpoint:
    return Endpoint(
        Access.PERMISSION, {"POST": ok}, _web(name, BOB), actor="ivan", perm=Perm.ACCOUNT_MANAGE,
        lacking=("alice", "erin", "carol"), not_found=_account_cases(name), **extra,
    )


def _agreement_data() -> AgreementData:
    today = timezone.localdate()
    return AgreementData(
        agency_code="TYT-26734", agency_name="Trạm Y tế phường", reference="01/2026/TTCS",
        legal_basis="Thoả thuận đã ký", purpose="quan_ly_giao_duc",
        allowed_fields=("full_name",), allowed_lookups=("education_id",), kind="lookup",
        change_feed_legal_basis="", valid_from=today, expires_on=today + dt.timedelta(days=30),
        rate_limit_per_minute=10)


def _agreement(w: World) -> None:
    """An agreement of the authority in force (by erin), so a wrongful revoke would show."""
    if not SharingAgreement.objects.exists():
        agreement_create(actor=w.cast.erin, authority_id=w.cast.school_a.authority_id,
                         data=_agreement_data())


def _agreement_id(w: World) -> int:
    found = SharingAgreement.objects.first()
    return found.pk if found is not None else MISSING_ID


AUTHORITY = _pk("cast.school_a.authority")
_SHARING_LACKING = ("alice", "bob", "ivan", "sam", "lam")
_AGREEMENT_POST = {
    "agency_code": "TYT-26734", "agency_name": "Trạm Y tế phường", "reference": "02/2026/TTCS",
    "legal_basis": "Thoả thuận đã ký", "purpose": "quan_ly_giao_duc",
    "allowed_fields": ["full_name"], "allowed_lookups": ["education_id"], "kind": "lookup",
    "change_feed_legal_basis": "", "valid_from": "01/01/2026", "expires_on": "31/12/2099",
    "rate_limit_per_minute": "10"}


def _intake_runs(w: World) -> None:
    """A reviewed intake at each school (its file already gone), and the IT officer of A has
    read the data-protection policy (the intake asks for it)."""
    policy_acknowledge(actor=w.users["ivan"], version=policy_in_force().version)
    now = timezone.now()
    for school in (w.cast.school_a, w.cast.school_b):
        IntakeRun.objects.get_or_create(school=school, defaults={
            "kind": "student", "sha256": "0" * 64, "size": 1, "summary": {"new": 1},
            "plan_fingerprint": "0" * 64, "created_at": now, "reviewed_at": now})


def _intake_run_of(school: str) -> Callable[[World], int]:
    def pk(w: World) -> int:
        found = IntakeRun.objects.filter(school=getattr(w.cast, school)).first()
        return found.pk if found is not None else MISSING_ID

    return pk


INTAKE_A, INTAKE_B = _intake_run_of("school_a"), _intake_run_of("school_b")
_INTAKE_LACKING = ("alice", "bob", "carol", "erin", "sam", "lam")


def _intake_school(name: str, **extra: Any) -> Endpoint:
    """An intake page of a school: the IT officer's own; another school (by the IT officer
    who is principal there), a missing one."""
    return Endpoint(
        Access.PERMISSION, extra.pop("ok", {"GET": 200}), _web(name, SCHOOL_A), actor="ivan",
        perm=Perm.INTAKE_RUN, lacking=_INTAKE_LACKING, prepare=_intake_runs,
        not_found=(Case("other_school_other_role", "iris", _web(name, SCHOOL_B)),
                   *_missing("ivan", lambda i: _web(name, _id(i)))), **extra)


def _intake_run(name: str, ok: dict[str, int]) -> Endpoint:
    """One intake run: the IT officer's school's; another school's (by the IT officer who is
    principal there), a missing one."""
    return Endpoint(
        Access.PERMISSION, ok, _web(name, INTAKE_A), actor="ivan", perm=Perm.INTAKE_RUN,
        lacking=_INTAKE_LACKING, prepare=_intake_runs,
        not_found=(Case("other_school_other_role", "iris", _web(name, INTAKE_B)),
                   *_missing("ivan", lambda i: _web(name, _id(i)))))


def _years_opened(w: World) -> None:
    """The next year opened at both schools (by the system), each with a homeroom proposal, a
    committed class (A's 1A, B's 1A) and a draft one (A's 1B, B's 1C with Dũng): a wrongful
    commit, undo, exception, confirmation or close would show in the state."""
    if ClassProposal.objects.exists():
        return
    f.assign(w.staff_b, w.cast.class_b)
    f.make_student(f.make_class(w.cast.school_b, "1C"), "Đặng Văn Dũng")
    for school, committed in ((w.cast.school_a, w.cast.class_1a),
                              (w.cast.school_b, w.cast.class_b)):
        year_open(actor=None, school=school, from_start_year=2026)
        promotion_commit(actor=None, proposal=ClassProposal.objects.get(from_class=committed))


def _year_of(school: str) -> Callable[[World], int]:
    def pk(w: World) -> int:
        return SchoolYear.objects.get(school=getattr(w.cast, school), start_year=2026).pk

    return pk


def _class_proposal(school: str, name: str) -> Callable[[World], int]:
    """The promotion proposal of a class of 2026 (made by ``_years_opened``; a missing id
    before that)."""

    def pk(w: World) -> int:
        found = ClassProposal.objects.filter(from_class__school=getattr(w.cast, school),
                                             from_class__name=name).first()
        return found.pk if found is not None else MISSING_ID

    return pk


def _homeroom_proposal(school: str) -> Callable[[World], int]:
    def pk(w: World) -> int:
        found = HomeroomProposal.objects.filter(school=getattr(w.cast, school)).first()
        return found.pk if found is not None else MISSING_ID

    return pk


def _exceptions(w: World) -> dict[str, Any]:
    """Bình (A's 1B) and Dũng (B's 1C) marked as leaving."""
    dung = Student.objects.filter(full_name="Đặng Văn Dũng").first()
    return {f"hs_{w.cast.binh.pk}": "left", **({f"hs_{dung.pk}": "left"} if dung else {})}


_YEAR_LACKING = ("bob", "carol", "ivan", "erin", "sam", "lam")


def _yearly(name: str, ok: dict[str, int], a: Callable[[World], int],
            b: Callable[[World], int], **extra: Any) -> Endpoint:
    """A school-year screen on an object of school A: the principal's own; school B's (by A's
    principal, by the mixed-role principal who only teaches at B), A's by the IT officer who is
    principal at B, a missing one."""
    return Endpoint(
        Access.PERMISSION, ok, _web(name, a), perm=Perm.YEAR_MANAGE, lacking=_YEAR_LACKING,
        prepare=extra.pop("prepare", _years_opened),
        not_found=(Case("other_school", "alice", _web(name, b)),
                   Case("other_school_other_role", "khoa", _web(name, b)),
                   Case("other_school_other_role", "iris", _web(name, a)),
                   *_missing("alice", lambda i: _web(name, _id(i)))), **extra)


def _handover_ready(w: World) -> None:
    """Two grade-5 leavers of school A (2026 completed): Hà handed over to school B, which has
    a grade-6 class in 2027, and Khôi with no receiving school yet; and a lower-secondary
    school the authority officer may send Khôi to. A wrongful assignment, acceptance or
    refusal would show in the state."""
    if Handover.objects.exists():
        return
    leavers = f.make_class(w.cast.school_a, "5A", grade=5)
    ha = f.make_student(leavers, "Đỗ Thị Hà")
    f.make_student(leavers, "Vũ Minh Khôi")
    Enrolment.objects.filter(school_class=leavers).update(is_current=False, status_code="10")
    next_b, _created = SchoolYear.objects.get_or_create(
        school=w.cast.school_b, start_year=2027,
        defaults={"starts_on": dt.date(2027, 9, 5), "ends_on": dt.date(2028, 5, 31)})
    SchoolClass.objects.create(school=w.cast.school_b, school_year=next_b, name="6A", grade=6)
    f.make_school(w.cast.school_a.authority, code="C0001", name="Trường THCS Nguyễn Du",
                  level="thcs")
    Handover.objects.create(student=ha, from_enrolment=Enrolment.objects.get(student=ha),
                            from_school=w.cast.school_a, to_school=w.cast.school_b,
                            assigned_at=timezone.now())


def _handover_of(name: str) -> Callable[[World], int]:
    def pk(w: World) -> int:
        found = Handover.objects.filter(student__full_name=name).first()
        return found.pk if found is not None else MISSING_ID

    return pk


def _assign_data(w: World) -> dict[str, Any]:
    return {"students": list(Enrolment.objects.filter(student__full_name="Vũ Minh Khôi")
                             .values_list("pk", flat=True)),
            "to_school": School.objects.get(code="C0001").pk}


def _accept_data(w: World) -> dict[str, Any]:
    return {"handovers": [_handover_of("Đỗ Thị Hà")(w)],
            "school_class": SchoolClass.objects.get(school=w.cast.school_b, grade=6).pk}


_YEAR_2026, _YEAR_2030 = _id(2026), _id(2030)


def _handover_sending(name: str, ok: dict[str, int], **extra: Any) -> Endpoint:
    """A school's leavers (year.handover_assign): the authority officer's; school B's by A's
    principal and by the mixed-role principal who only teaches at B, A's by the IT officer who
    is principal at B, a missing school, a year the school does not have."""
    return Endpoint(
        Access.PERMISSION, ok, _web(name, SCHOOL_A, _YEAR_2026), actor="erin",
        perm=Perm.HANDOVER_ASSIGN, lacking=("bob", "carol", "ivan", "sam", "lam"),
        prepare=_handover_ready,
        not_found=(Case("other_school", "alice", _web(name, SCHOOL_B, _YEAR_2026)),
                   Case("other_school_other_role", "khoa", _web(name, SCHOOL_B, _YEAR_2026)),
                   Case("other_school_other_role", "iris", _web(name, SCHOOL_A, _YEAR_2026)),
                   Case("missing_year", "erin", _web(name, SCHOOL_A, _YEAR_2030)),
                   *_missing("erin", lambda i: _web(name, _id(i), _YEAR_2026))), **extra)


def _handover_receiving(name: str, ok: dict[str, int], **extra: Any) -> Endpoint:
    """The pupils handed over to school B (student.transfer there): its principal's; by A's
    principal, by the mixed-role principal who only teaches at B, A's by the IT officer who is
    principal at B, a missing school."""
    return Endpoint(
        Access.PERMISSION, ok, _web(name, SCHOOL_B), actor="dave", perm=Perm.STUDENT_TRANSFER,
        lacking=("bob", "carol", "erin", "ivan", "lam"), prepare=_handover_ready,
        not_found=(Case("other_school", "alice", _web(name, SCHOOL_B)),
                   Case("other_school_other_role", "khoa", _web(name, SCHOOL_B)),
                   Case("other_school_other_role", "iris", _web(name, SCHOOL_A)),
                   *_missing("dave", lambda i: _web(name, _id(i)))), **extra)


def _round_opened(w: World) -> None:
    """A reporting round of the authority, open, as of a day with data (a wrongful close or
    sign-off would show in the state)."""
    ReportingRound.objects.get_or_create(
        authority=w.cast.school_a.authority, name="Đầu năm học 2026–2027",
        defaults={"kind": "dau_nam", "as_of": dt.date(2026, 10, 1), "opened_at": timezone.now()})


def _round_id(w: World) -> int:
    found = ReportingRound.objects.first()
    return found.pk if found is not None else MISSING_ID


_REPORT_LACKING = ("bob", "carol", "ivan", "sam", "lam")
_ROUND_DEFINE_LACKING = ("alice", "bob", "ivan", "sam")


def _round_screen(name: str, ok: dict[str, int], *extra: Callable[[World], object],
                  perm: Perm = Perm.REPORT_VIEW, **options: Any) -> Endpoint:
    """An authority officer's screen of a round: a principal (whose reach is their school) is
    told a report.view screen does not exist (report.define ones refuse them: 403), as is a
    missing round."""
    return Endpoint(
        Access.PERMISSION, ok, _web(name, _round_id, *extra), actor="erin", perm=perm,
        lacking=_REPORT_LACKING if perm is Perm.REPORT_VIEW else _ROUND_DEFINE_LACKING,
        prepare=_round_opened,
        not_found=(*((Case("school_wide_only", "alice", _web(name, _round_id, *extra)),)
                     if perm is Perm.REPORT_VIEW else ()),
                   *_missing("erin", lambda i: _web(name, _id(i), *extra))), **options)


def _school_round(name: str, ok: dict[str, int], perm: Perm, lacking: tuple[str, ...],
                  **options: Any) -> Endpoint:
    """The principal's page of a round: school B's (by A's principal, by the mixed-role
    principal who only teaches at B), A's by the IT officer who is principal at B, a missing
    round, a missing school."""
    return Endpoint(
        Access.PERMISSION, ok, _web(name, _round_id, SCHOOL_A), perm=perm, lacking=lacking,
        prepare=_round_opened,
        not_found=(Case("other_school", "alice", _web(name, _round_id, SCHOOL_B)),
                   Case("other_school_other_role", "khoa", _web(name, _round_id, SCHOOL_B)),
                   Case("other_school_other_role", "iris", _web(name, _round_id, SCHOOL_A)),
                   Case("missing_round", "alice", _web(name, _id(MISSING_ID), SCHOOL_A)),
                   *_missing("alice", lambda i: _web(name, _round_id, _id(i)))), **options)


def _report(code: str) -> Callable[[World], str]:
    return lambda w: code


ENDPOINTS: dict[str, Endpoint] = {
    # Sign-in and sign-out: public.
    "web:login": Endpoint(
        Access.PUBLIC, {"GET": 302, "POST": 302}, _web("login"), anonymous=200,
        data=lambda w: {"username": "alice", "password": "sai-mật-khẩu"}),
    "web:logout": Endpoint(Access.PUBLIC, {"POST": 302}, _web("logout")),
    # Code-list look-ups for the edit form: any signed-in account (master data, no person).
    "web:communes": Endpoint(Access.SIGNED_IN, {"GET": 200}, _web("communes", query="?tinh=79"),
                             actor="lam"),
    "web:legacy_districts": Endpoint(Access.SIGNED_IN, {"GET": 200},
                                     _web("legacy_districts", query="?tinh=79"), actor="lam"),
    "web:legacy_wards": Endpoint(Access.SIGNED_IN, {"GET": 200},
                                 _web("legacy_wards", query="?huyen=760"), actor="lam"),
    # The home page lists what the account may see (nothing, for an account without a role).
    "web:home": Endpoint(Access.SIGNED_IN, {"GET": 200}, _web("home"), actor="erin"),
    # The holder's own account.
    "web:otp_verify": Endpoint(Access.SIGNED_IN, {"GET": 302, "POST": 302}, _web("otp_verify"),
                               data=lambda w: {"token": "000000"}),
    "web:my_account": Endpoint(Access.SIGNED_IN, {"GET": 200}, _web("my_account")),
    "web:password_change": Endpoint(
        Access.SIGNED_IN, {"GET": 200, "POST": 200}, _web("password_change"),
        data=lambda w: {"old_password": "sai", "new_password1": "Sen-trắng-giữa-hồ-2027",
                        "new_password2": "Sen-trắng-giữa-hồ-2027"}),
    "web:two_factor_enrol": Endpoint(Access.SIGNED_IN, {"GET": 200, "POST": 200},
                                     _web("two_factor_enrol"),
                                     data=lambda w: {"token": "000000"}),
    "web:recovery_codes_renew": Endpoint(Access.SIGNED_IN, {"POST": 200},
                                         _web("recovery_codes_renew")),
    "web:session_end": Endpoint(
        Access.SIGNED_IN, {"POST": 302}, lambda w: reverse("web:session_end",
                                                           args=[w.alice_other_session]),
        not_found=(
            Case("other_person", "alice",
                 lambda w: reverse("web:session_end", args=[w.dave_session])),
            Case("missing", "alice", lambda w: reverse("web:session_end", args=["0" * 64])),
        )),
    # Registry pages.
    "web:school": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("school", SCHOOL_A), perm=Perm.SCHOOL_VIEW,
        lacking=("lam",),
        not_found=(Case("other_school", "alice", _web("school", SCHOOL_B)),
                   Case("other_school_class_teacher", "bob", _web("school", SCHOOL_B)),
                   *_missing("alice", lambda i: _web("school", _id(i))))),
    "web:staff": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("staff", SCHOOL_A), perm=Perm.STAFF_VIEW,
        lacking=("bob", "carol", "lam"),
        not_found=(Case("other_school", "alice", _web("staff", SCHOOL_B)),
                   Case("other_school_other_role", "khoa", _web("staff", SCHOOL_B)),
                   *_missing("alice", lambda i: _web("staff", _id(i))))),
    "web:class": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("class", CLASS_1A), perm=Perm.CLASS_VIEW,
        lacking=("sam", "lam"), not_found=(
            Case("other_school", "alice", _web("class", CLASS_B)),
            Case("other_class", "bob", _web("class", CLASS_1B)),
            Case("other_school_other_role", "khoa", _web("class", CLASS_B)),
            *_missing("alice", lambda i: _web("class", _id(i))))),
    "web:student": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("student", AN), perm=Perm.STUDENT_VIEW,
        lacking=("ivan", "sam", "lam"), not_found=_student_cases("alice", "student")),
    "web:student_edit": Endpoint(
        Access.PERMISSION, {"GET": 200, "POST": 302}, _web("student_edit", AN),
        perm=Perm.STUDENT_EDIT, lacking=("carol", "erin", "ivan"),
        not_found=_student_cases("alice", "student_edit"), data=_student_edit_data),
    "web:student_check_field": Endpoint(
        Access.PERMISSION, {"POST": 200}, _web("student_check_field", AN),
        perm=Perm.STUDENT_EDIT, lacking=("carol", "erin", "ivan"),
        not_found=_student_cases("alice", "student_check_field"),
        data=lambda w: {"field": "full_name", "full_name": "Nguyễn Văn Ân"}),
    # Account management.
    "web:accounts": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("accounts", SCHOOL_A), actor="ivan",
        perm=Perm.ACCOUNT_VIEW, lacking=("alice", "bob", "erin"), not_found=(
            Case("other_school", "ivan", _web("accounts", SCHOOL_B)),
            Case("other_school_other_role", "iris", _web("accounts", SCHOOL_B)),
            *_missing("ivan", lambda i: _web("accounts", _id(i))))),
    "web:account_create": Endpoint(
        Access.PERMISSION, {"GET": 200, "POST": 200}, _web("account_create", _pk("staff_a")),
        actor="ivan", perm=Perm.ACCOUNT_MANAGE, lacking=("alice", "erin"), not_found=(
            Case("other_school", "ivan", _web("account_create", _pk("staff_b"))),
            Case("other_school_other_role", "iris", _web("account_create", _pk("staff_b"))),
            *_missing("ivan", lambda i: _web("account_create", _id(i)))),
        data=lambda w: {"username": "taikhoanmoi", "role": Role.SUBJECT_TEACHER.value}),
    "web:account": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("account", BOB), actor="ivan",
        perm=Perm.ACCOUNT_VIEW, lacking=("alice", "erin", "bob"),
        not_found=_account_cases("account")),
    "web:account_password_reset": _account_action("account_password_reset", 200),
    "web:account_deactivate": _account_action("account_deactivate", 302,
                                              data=lambda w: {"reason": "nghỉ việc"}),
    "web:account_reactivate": _account_action("account_reactivate", 302,
                                              prepare=_deactivate("bob", "dave")),
    "web:account_two_factor_reset": _account_action("account_two_factor_reset", 302,
                                                    prepare=_enrol("bob", "dave", "erin")),
    "web:account_membership_grant": _account_action(
        "account_membership_grant", 302,
        data=lambda w: {"school": SCHOOL_A(w), "role": Role.SUBJECT_TEACHER.value}),
    "web:account_membership_end": Endpoint(
        Access.PERMISSION, {"POST": 302},
        _web("account_membership_end", BOB, _pk("bob_membership")), actor="ivan",
        perm=Perm.ACCOUNT_MANAGE, lacking=("alice", "erin"), not_found=(
            *_account_cases("account_membership_end", _pk("dave_membership")),
            Case("membership_of_someone_else", "ivan",
                 _web("account_membership_end", BOB, _pk("dave_membership"))),
            Case("other_school_membership", "ivan",
                 _web("account_membership_end", _pk("users.tuan"), _pk("tuan_membership_b"))),
            Case("missing_membership", "ivan",
                 _web("account_membership_end", BOB, _id(MISSING_ID))),
        )),
    # Supervision (giám sát).
    "web:supervision": _supervision("supervision", filtered=False),
    "web:supervision_changes": _supervision("supervision_changes"),
    "web:supervision_reads": _supervision("supervision_reads"),
    "web:supervision_denied": _supervision("supervision_denied"),
    "web:supervision_unusual": _supervision("supervision_unusual"),
    "web:supervision_accounts": _supervision("supervision_accounts"),
    # Quality (chất lượng dữ liệu): the to-do and the pupil-level drill-down need quality.attest
    # as well as quality.view (the Department officer has only the latter: counters only).
    "web:quality_todo": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("quality_todo"), actor="bob",
        perm=Perm.QUALITY_ATTEST, lacking=("carol", "erin", "ivan", "lam"), not_found=(
            Case("other_school", "alice", _todo_class(CLASS_B)),
            Case("other_class", "bob", _todo_class(CLASS_1B)),
            Case("other_school_other_role", "khoa", _todo_class(CLASS_B)),
            Case("missing", "alice", _todo_class(_id(MISSING_ID))))),
    "web:quality": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("quality"), actor="erin",
        perm=Perm.QUALITY_VIEW, lacking=("carol", "ivan", "sam", "lam")),
    "web:quality_school": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("quality_school", SCHOOL_A),
        perm=Perm.QUALITY_VIEW, lacking=("carol", "ivan", "sam", "lam"), not_found=(
            Case("other_school", "alice", _web("quality_school", SCHOOL_B)),
            Case("other_school_class_teacher", "bob", _web("quality_school", SCHOOL_B)),
            Case("other_school_other_role", "khoa", _web("quality_school", SCHOOL_B)),
            *_missing("alice", lambda i: _web("quality_school", _id(i))))),
    "web:quality_sign_off": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("quality_sign_off", SCHOOL_A),
        perm=Perm.QUALITY_SIGN_OFF, lacking=("bob", "carol", "erin", "ivan"), not_found=(
            Case("other_school", "alice", _web("quality_sign_off", SCHOOL_B)),
            Case("other_school_other_role", "khoa", _web("quality_sign_off", SCHOOL_B)),
            Case("other_school_other_role", "iris", _web("quality_sign_off", SCHOOL_A)),
            *_missing("alice", lambda i: _web("quality_sign_off", _id(i)))),
        data=lambda w: {"round_label": "Đầu năm học 2026–2027", "note": ""}),
    "web:quality_class": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("quality_class", CLASS_1A),
        perm=Perm.QUALITY_ATTEST, lacking=("carol", "erin", "ivan"),
        not_found=_class_cases("alice", "quality_class")),
    "web:quality_class_confirm": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("quality_class_confirm", CLASS_1A),
        perm=Perm.QUALITY_ATTEST, lacking=("carol", "erin", "ivan"),
        not_found=_class_cases("alice", "quality_class_confirm")),
    "web:quality_student": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("quality_student", AN),
        perm=Perm.QUALITY_ATTEST, lacking=("carol", "erin", "ivan"),
        not_found=_student_cases("alice", "quality_student")),
    "web:quality_attest": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("quality_attest", AN),
        perm=Perm.QUALITY_ATTEST, lacking=("carol", "erin", "ivan"),
        not_found=_student_cases("alice", "quality_attest"),
        data=lambda w: {"group": "identity", "identity-document_type": "giay_khai_sinh",
                        "identity-document_number": "123/2019",
                        "identity-document_date": "20/03/2019"}),
    # Identity verification (xác thực danh tính): requests need identity.verify, the mismatch
    # queue and its actions identity.resolve.
    "web:identity_verify_student": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("identity_verify_student", AN),
        perm=Perm.IDENTITY_VERIFY, lacking=("carol", "ivan", "sam"),
        not_found=_student_cases("alice", "identity_verify_student")),
    "web:identity_no_id": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("identity_no_id", AN),
        perm=Perm.IDENTITY_RESOLVE, lacking=("carol", "erin", "ivan"),
        not_found=_student_cases("alice", "identity_no_id"),
        data=lambda w: {"no_id_reason": "no_birth_certificate", "no_id_note": ""}),
    "web:identity_verify_class": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("identity_verify_class", CLASS_1A),
        perm=Perm.IDENTITY_VERIFY, lacking=("carol", "ivan", "sam"),
        not_found=_class_cases("alice", "identity_verify_class")),
    "web:identity_queue": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("identity_queue", SCHOOL_A),
        perm=Perm.IDENTITY_RESOLVE, lacking=("carol", "erin", "ivan", "lam"),
        not_found=_identity_school("identity_queue"), prepare=_mismatched),
    "web:identity_verify_school": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("identity_verify_school", SCHOOL_A),
        perm=Perm.IDENTITY_VERIFY, lacking=("carol", "ivan", "sam"),
        not_found=_identity_school("identity_verify_school")),
    "web:identity_verify_authority": Endpoint(
        Access.PERMISSION, {"POST": 302},
        _web("identity_verify_authority", _pk("cast.school_a.authority")), actor="erin",
        perm=Perm.IDENTITY_VERIFY, lacking=("carol", "ivan", "sam"), not_found=(
            Case("school_wide_only", "alice",
                 _web("identity_verify_authority", _pk("cast.school_a.authority"))),
            *_missing("erin", lambda i: _web("identity_verify_authority", _id(i))))),
    "web:identity_correction_requested": Endpoint(
        Access.PERMISSION, {"POST": 302},
        _person("identity_correction_requested", "hoc-sinh", AN),
        perm=Perm.IDENTITY_RESOLVE, lacking=("carol", "erin", "ivan"),
        not_found=_queue_action_cases("identity_correction_requested"),
        data=lambda w: {"queue_note": "Đã hướng dẫn gia đình đề nghị đính chính"},
        prepare=_mismatched),
    "web:identity_reverify": Endpoint(
        Access.PERMISSION, {"POST": 302}, _person("identity_reverify", "hoc-sinh", AN),
        perm=Perm.IDENTITY_RESOLVE, lacking=("carol", "erin", "ivan"),
        not_found=_queue_action_cases("identity_reverify"), prepare=_mismatched),
    # Transfers (chuyển trường): the sending school asks and withdraws, the receiving school
    # sees its incoming requests and decides; all need student.transfer.
    "web:transfer_request": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("transfer_request", AN),
        perm=Perm.STUDENT_TRANSFER, lacking=("bob", "carol", "erin", "ivan"), not_found=(
            Case("other_school", "alice", _web("transfer_request", CUONG)),
            Case("other_school_other_role", "khoa", _web("transfer_request", CUONG)),
            Case("other_school_other_role", "iris", _web("transfer_request", AN)),
            *_missing("alice", lambda i: _web("transfer_request", _id(i)))),
        data=lambda w: {"to_school": SCHOOL_B(w), "effective_on": "",
                        "note": "Gia đình chuyển nhà"}),
    "web:transfer_cancel": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("transfer_cancel", AN_TRANSFER),
        perm=Perm.STUDENT_TRANSFER, lacking=("bob", "carol", "erin", "ivan"), not_found=(
            Case("receiving_school", "dave", _web("transfer_cancel", AN_TRANSFER)),
            Case("other_school", "alice", _web("transfer_cancel", CUONG_TRANSFER)),
            Case("other_school_other_role", "khoa", _web("transfer_cancel", CUONG_TRANSFER)),
            *_missing("alice", lambda i: _web("transfer_cancel", _id(i)))),
        prepare=_open_transfers),
    "web:transfer_accept": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("transfer_accept", AN_TRANSFER), actor="dave",
        perm=Perm.STUDENT_TRANSFER, lacking=("bob", "carol", "erin", "ivan"),
        not_found=_receiving_cases("transfer_accept"),
        data=lambda w: {"school_class": CLASS_B(w)},
        prepare=_open_transfers),
    "web:transfer_refuse": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("transfer_refuse", AN_TRANSFER), actor="dave",
        perm=Perm.STUDENT_TRANSFER, lacking=("bob", "carol", "erin", "ivan"),
        not_found=_receiving_cases("transfer_refuse"),
        data=lambda w: {"decision_note": "Lớp 1 đã đủ sĩ số"},
        prepare=_open_transfers),
    "web:transfers_incoming": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("transfers_incoming", SCHOOL_B), actor="dave",
        perm=Perm.STUDENT_TRANSFER, lacking=("bob", "carol", "erin", "ivan", "lam"),
        not_found=_transfer_school("transfers_incoming"),
        prepare=_open_transfers),
    "web:transfers_outgoing": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("transfers_outgoing", SCHOOL_A),
        perm=Perm.STUDENT_TRANSFER, lacking=("bob", "carol", "erin", "ivan", "lam"),
        not_found=_transfer_school("transfers_outgoing"),
        prepare=_open_transfers),
    # Duplicate review (hồ sơ nghi trùng): a school's queue for its principal, vice-principal
    # and clerk, the authority's for its officers; "not the same person" with duplicate.review,
    # a merge with duplicate.merge reaching both pupils, an undo only by the authority.
    "web:duplicates_school": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("duplicates_school", SCHOOL_A),
        perm=Perm.DUPLICATE_REVIEW, lacking=("bob", "carol", "ivan", "lam"),
        not_found=(
            Case("other_school", "alice", _web("duplicates_school", SCHOOL_B)),
            Case("other_school_other_role", "khoa", _web("duplicates_school", SCHOOL_B)),
            Case("other_school_other_role", "iris", _web("duplicates_school", SCHOOL_A)),
            *_missing("alice", lambda i: _web("duplicates_school", _id(i)))),
        prepare=_pairs),
    "web:duplicates_authority": Endpoint(
        Access.PERMISSION, {"GET": 200},
        _web("duplicates_authority", _pk("cast.school_a.authority")), actor="erin",
        perm=Perm.DUPLICATE_REVIEW, lacking=("bob", "carol", "ivan", "sam"), not_found=(
            Case("school_wide_only", "alice",
                 _web("duplicates_authority", _pk("cast.school_a.authority"))),
            *_missing("erin", lambda i: _web("duplicates_authority", _id(i)))),
        prepare=_pairs),
    "web:duplicates_merges": Endpoint(
        Access.PERMISSION, {"GET": 200},
        _web("duplicates_merges", _pk("cast.school_a.authority")), actor="erin",
        perm=Perm.DUPLICATE_UNMERGE, lacking=("alice", "bob", "dave", "ivan"),
        not_found=_missing("erin", lambda i: _web("duplicates_merges", _id(i))),
        prepare=_merged),
    "web:duplicate_not_same": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("duplicate_not_same", PAIR_A),
        perm=Perm.DUPLICATE_REVIEW, lacking=("bob", "carol", "ivan"),
        not_found=_pair_cases("duplicate_not_same"),
        data=lambda w: {"reason": "Khác cha mẹ, khác nơi sinh"}, prepare=_pairs),
    "web:duplicate_merge": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("duplicate_merge", PAIR_A),
        perm=Perm.DUPLICATE_MERGE, lacking=("bob", "carol", "ivan"),
        not_found=_pair_cases("duplicate_merge"),
        data=lambda w: {"kept": AN(w), "reason": "Cùng giấy khai sinh, nhập trùng đầu năm"},
        prepare=_pairs),
    "web:merge_undo": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("merge_undo", _merge_id), actor="erin",
        perm=Perm.DUPLICATE_UNMERGE, lacking=("alice", "bob", "dave", "ivan"),
        not_found=_missing("erin", lambda i: _web("merge_undo", _id(i))),
        data=lambda w: {"reason": "Gộp nhầm hai học sinh khác nhau"}, prepare=_merged),
    # Personal-data protection (issue 7): consents on the pupil's page need consent.record;
    # the policy is for every account to read and acknowledge, the list of who has not for
    # the principal (policy.ack_review).
    "web:consent_give": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("consent_give", AN),
        perm=Perm.CONSENT_RECORD, lacking=("carol", "erin", "ivan"),
        not_found=_student_cases("alice", "consent_give"), data=_consent_data,
        prepare=_consent_ready),
    "web:consent_withdraw": Endpoint(
        Access.PERMISSION, {"POST": 302}, _withdraw(AN),
        perm=Perm.CONSENT_RECORD, lacking=("carol", "erin", "ivan"), not_found=(
            Case("other_school", "alice", _withdraw(CUONG)),
            Case("other_class", "bob", _withdraw(BINH)),
            Case("other_school_other_role", "khoa", _withdraw(CUONG)),
            *_missing("alice", lambda i: _withdraw(_id(i)))),
        data=lambda w: {"withdrawn_by": "hoc-sinh", "withdrawal_channel": "phieu_giay",
                        "withdrawal_evidence": "Đơn rút lại ngày 10/10"},
        prepare=_consents_given),
    "web:privacy_policy": Endpoint(
        Access.SIGNED_IN, {"GET": 200, "POST": 302}, _web("privacy_policy"), actor="lam",
        data=lambda w: {"version": policy_in_force().version, "read": "on"}),
    # The parents' look-up portal: public (no staff account); without a verified look-up in
    # the session every step but the first sends back to the first (tests/privacy/test_portal).
    "web:portal": Endpoint(
        Access.PUBLIC, {"GET": 200, "POST": 200}, _web("portal"), anonymous=200,
        data=lambda w: {"education_id": "", "date_of_birth": ""}),
    "web:portal_code": Endpoint(Access.PUBLIC, {"GET": 302, "POST": 302}, _web("portal_code"),
                                data=lambda w: {"code": "123456"}),
    "web:portal_record": Endpoint(Access.PUBLIC, {"GET": 302}, _web("portal_record")),
    "web:portal_correction": Endpoint(Access.PUBLIC, {"POST": 302}, _web("portal_correction"),
                                      data=lambda w: {"details": "Sửa ngày sinh"}),
    "web:portal_withdraw": Endpoint(Access.PUBLIC, {"POST": 302},
                                    _web("portal_withdraw", lambda w: "anh_truyen_thong")),
    "web:portal_end": Endpoint(Access.PUBLIC, {"POST": 302}, _web("portal_end")),
    # The processing inventory (inventory.view: principal, IT officer, authority officer) and
    # its CSV, which holds no personal data (allow-listed in test_no_files.py).
    "web:privacy_inventory": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("privacy_inventory"), actor="ivan",
        perm=Perm.INVENTORY_VIEW, lacking=("bob", "carol", "lam", "sam")),
    "web:privacy_inventory_csv": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("privacy_inventory_csv"), actor="erin",
        perm=Perm.INVENTORY_VIEW, lacking=("bob", "carol", "lam", "sam")),
    "web:privacy_acknowledgements": Endpoint(
        Access.PERMISSION, {"GET": 200}, _policy_ack_school(SCHOOL_A),
        perm=Perm.POLICY_ACK_REVIEW, lacking=("bob", "carol", "erin", "ivan", "lam"),
        not_found=(
            Case("other_school", "alice", _policy_ack_school(SCHOOL_B)),
            Case("other_school_other_role", "khoa", _policy_ack_school(SCHOOL_B)),
            Case("other_school_other_role", "iris", _policy_ack_school(SCHOOL_A)),
            *_missing("alice", lambda i: _policy_ack_school(_id(i))))),
    # The breach register (incident.manage): principal and IT officer of the school, the
    # authority officer across the authority.
    # Upward sync of a school: lag and backlog (sync.view: principal, vice-principal, IT
    # officer, authority officer); refused changes and their replay (sync.manage: IT officer,
    # authority officer).
    "web:sync_school": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("sync_school", SCHOOL_A),
        perm=Perm.SYNC_VIEW, lacking=("bob", "carol", "lam", "sam"),
        not_found=(Case("other_school", "alice", _web("sync_school", SCHOOL_B)),
                   *_missing("alice", lambda i: _web("sync_school", _id(i))))),
    "web:sync_replay": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("sync_replay", SCHOOL_A, _parked_of(0)),
        actor="ivan", perm=Perm.SYNC_MANAGE, lacking=("alice", "bob", "carol", "lam", "sam"),
        not_found=(
            Case("other_school", "ivan", _web("sync_replay", SCHOOL_B, _parked_of(1))),
            Case("other_school_under_own_id", "ivan",
                 _web("sync_replay", SCHOOL_A, _parked_of(1))),
            *_missing("ivan", lambda i: _web("sync_replay", SCHOOL_A, _id(i)))),
        prepare=_parked_changes),
    "web:privacy_incidents": Endpoint(
        Access.PERMISSION, {"GET": 200, "POST": 302}, _web("privacy_incidents", SCHOOL_A),
        perm=Perm.INCIDENT_MANAGE, lacking=("bob", "carol", "lam", "sam"),
        not_found=(
            Case("other_school", "alice", _web("privacy_incidents", SCHOOL_B)),
            Case("other_school_other_role", "khoa", _web("privacy_incidents", SCHOOL_B)),
            *_missing("alice", lambda i: _web("privacy_incidents", _id(i)))),
        data=lambda w: {**_INCIDENT_POST,
                        "detected_at": timezone.localtime().strftime("%d/%m/%Y %H:%M")},
        prepare=_incidents),
    "web:privacy_incident_edit": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("privacy_incident_edit", SCHOOL_A, INCIDENT_A),
        actor="ivan", perm=Perm.INCIDENT_MANAGE, lacking=("bob", "carol", "lam", "sam"),
        not_found=_incident_cases("privacy_incident_edit"),
        data=lambda w: {**_INCIDENT_POST, "detected_at": (
            timezone.localtime() - dt.timedelta(hours=4)).strftime("%d/%m/%Y %H:%M")},
        prepare=_incidents),
    "web:privacy_incident_notify": Endpoint(
        Access.PERMISSION, {"POST": 302},
        _web("privacy_incident_notify", SCHOOL_A, INCIDENT_A), actor="erin",
        perm=Perm.INCIDENT_MANAGE, lacking=("bob", "carol", "lam", "sam"),
        not_found=_incident_cases("privacy_incident_notify"),
        data=lambda w: {"notified_at": "", "notification_reference": "CV 5/THHB"},
        prepare=_incidents),
    # Data-subject requests (subject_request.manage): principal, vice-principal and records
    # clerk of the school, the authority officer across the authority.
    "web:privacy_subject_requests": Endpoint(
        Access.PERMISSION, {"GET": 200, "POST": 302}, _web("privacy_subject_requests", SCHOOL_A),
        perm=Perm.SUBJECT_REQUEST_MANAGE, lacking=_SUBJECT_REQUEST_LACKING,
        not_found=(
            Case("other_school", "alice", _web("privacy_subject_requests", SCHOOL_B)),
            Case("other_school_other_role", "khoa", _web("privacy_subject_requests", SCHOOL_B)),
            Case("other_school_other_role", "iris", _web("privacy_subject_requests", SCHOOL_A)),
            *_missing("alice", lambda i: _web("privacy_subject_requests", _id(i)))),
        data=lambda w: {"kind": "correction", "student_code": w.cast.an.education_id,
                        "requester_relation": "guardian", "channel": "don_giay",
                        "received_at": "", "details": "Sửa ngày sinh"},
        prepare=_subject_requests),
    "web:privacy_subject_request": Endpoint(
        Access.PERMISSION, {"GET": 200},
        _subject_request_url("privacy_subject_request", SCHOOL_A, REQUEST_A), actor="erin",
        perm=Perm.SUBJECT_REQUEST_MANAGE, lacking=_SUBJECT_REQUEST_LACKING,
        not_found=_subject_request_cases("privacy_subject_request"),
        prepare=_subject_requests),
    "web:privacy_subject_request_action": Endpoint(
        Access.PERMISSION, {"POST": 302},
        _subject_request_url("privacy_subject_request_action", SCHOOL_A, REQUEST_A),
        perm=Perm.SUBJECT_REQUEST_MANAGE, lacking=_SUBJECT_REQUEST_LACKING,
        not_found=_subject_request_cases("privacy_subject_request_action"),
        prepare=_subject_requests),
    # Sharing agreements with agencies (sharing.manage: the authority officer, over the
    # authority); the create page shows the new client's secret once (200).
    "web:sharing_agreements": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("sharing_agreements", AUTHORITY), actor="erin",
        perm=Perm.SHARING_MANAGE, lacking=_SHARING_LACKING,
        not_found=_missing("erin", lambda i: _web("sharing_agreements", _id(i))),
        prepare=_agreement),
    "web:sharing_agreement_create": Endpoint(
        Access.PERMISSION, {"GET": 200, "POST": 200}, _web("sharing_agreement_create", AUTHORITY),
        actor="erin", perm=Perm.SHARING_MANAGE, lacking=_SHARING_LACKING,
        not_found=_missing("erin", lambda i: _web("sharing_agreement_create", _id(i))),
        data=lambda w: dict(_AGREEMENT_POST)),
    "web:sharing_agreement_revoke": Endpoint(
        Access.PERMISSION, {"POST": 302},
        _web("sharing_agreement_revoke", AUTHORITY, _agreement_id), actor="erin",
        perm=Perm.SHARING_MANAGE, lacking=_SHARING_LACKING, not_found=(
            Case("missing_authority", "erin",
                 _web("sharing_agreement_revoke", _id(MISSING_ID), _agreement_id)),
            *_missing("erin", lambda i: _web("sharing_agreement_revoke", AUTHORITY, _id(i)))),
        data=lambda w: {"reason": "Hết nhu cầu"}, prepare=_agreement),
    # The agencies' OAuth2 token endpoint (client credentials; no cookies, so no CSRF): a
    # client that is not on record is refused (401).
    "oauth2_token": Endpoint(
        Access.PUBLIC, {"POST": 401}, lambda w: reverse("oauth2_token"), anonymous=401,
        data=lambda w: {"grant_type": "client_credentials", "client_id": "khong-co",
                        "client_secret": "sai"}, csrf_exempt=True),
    # API: public master data and documents.
    "api:code_lists": Endpoint(Access.PUBLIC, {"GET": 200}, _api("/code-lists"), anonymous=200),
    "api:code_list": Endpoint(Access.PUBLIC, {"GET": 200}, _api("/code-lists/province"),
                              anonymous=200),
    "api:openapi-json": Endpoint(Access.PUBLIC, {"GET": 200}, _api("/openapi.json"),
                                 anonymous=200, other_methods_refused=False),
    "api:openapi-view": Endpoint(Access.PUBLIC, {"GET": 200}, _api("/docs"), anonymous=200,
                                 other_methods_refused=False),
    # django-ninja's placeholder for the API root: always "not found".
    "api:api-root": Endpoint(Access.PUBLIC, {"GET": 404}, _api("/"), anonymous=404,
                             other_methods_refused=False),
    # API: people records.
    "api:student_detail": Endpoint(
        Access.PERMISSION, {"GET": 200}, _api("/students/{an}"), perm=Perm.STUDENT_VIEW,
        lacking=("ivan", "sam", "lam"), anonymous=401, not_found=(
            Case("other_school", "alice", _api("/students/{cuong}")),
            Case("other_class", "bob", _api("/students/{binh}")),
            Case("other_school_other_role", "khoa", _api("/students/{cuong}")),
            Case("missing", "alice", _api("/students/{missing}")),
            Case("huge_id", "alice", _api("/students/{huge}")))),
    "api:class_students": Endpoint(
        Access.PERMISSION, {"GET": 200}, _api("/classes/{class_1a}/students"),
        perm=Perm.CLASS_VIEW, lacking=("sam", "lam"), anonymous=401, not_found=(
            Case("other_school", "alice", _api("/classes/{class_b}/students")),
            Case("other_class", "bob", _api("/classes/{class_1b}/students")),
            Case("other_school_other_role", "khoa", _api("/classes/{class_b}/students")),
            Case("missing", "alice", _api("/classes/{missing}/students")),
            Case("huge_id", "alice", _api("/classes/{huge}/students")))),
    # API: agencies' look-ups (OAuth2 bearer token of a sharing agreement, tests/sharing/);
    # a staff session is not a token: refused like anonymous callers (401).
    "api:sharing_student": Endpoint(
        Access.AGENCY, {"GET": 401}, lambda w: _api("/sharing/students")(w)
        + f"?education_id={w.cast.an.education_id}", actor="erin", anonymous=401,
        prepare=_agreement),
    "api:sharing_changes": Endpoint(
        Access.AGENCY, {"GET": 401}, _api("/sharing/changes?after=0"), actor="erin",
        anonymous=401, prepare=_agreement),
    # Intake of export workbooks (the post carries no file: the form is shown again).
    "web:intake_upload": _intake_school("intake_upload", ok={"GET": 200, "POST": 200},
                                        data=lambda w: {"kind": "student"}),
    "web:intake_history": _intake_school("intake_history"),
    "web:intake_run": _intake_run("intake_run", {"GET": 200}),
    "web:intake_commit": _intake_run("intake_commit", {"POST": 302}),
    "web:intake_review": _intake_run("intake_review", {"POST": 302}),
    "web:intake_cancel": _intake_run("intake_cancel", {"POST": 302}),
    # The school year (năm học): the principal's.
    "web:yearly_years": _yearly("yearly_years", {"GET": 200}, SCHOOL_A, SCHOOL_B),
    "web:yearly_year": _yearly("yearly_year", {"GET": 200}, _year_of("school_a"),
                               _year_of("school_b")),
    "web:yearly_open": _yearly("yearly_open", {"POST": 302}, _year_of("school_a"),
                               _year_of("school_b"), prepare=None),
    "web:yearly_close": _yearly("yearly_close", {"POST": 302}, _year_of("school_a"),
                                _year_of("school_b"), data=lambda w: {"confirm": "on"}),
    "web:yearly_proposal": _yearly("yearly_proposal", {"GET": 200, "POST": 302},
                                   _class_proposal("school_a", "1B"),
                                   _class_proposal("school_b", "1C"), data=_exceptions),
    "web:yearly_commit": _yearly("yearly_commit", {"POST": 302},
                                 _class_proposal("school_a", "1B"),
                                 _class_proposal("school_b", "1C"), data=_exceptions),
    "web:yearly_undo": _yearly("yearly_undo", {"POST": 302}, _class_proposal("school_a", "1A"),
                               _class_proposal("school_b", "1A")),
    "web:yearly_homeroom_confirm": _yearly("yearly_homeroom_confirm", {"POST": 302},
                                           _homeroom_proposal("school_a"),
                                           _homeroom_proposal("school_b")),
    # Graduation hand-over (chuyển cấp) and the new intake list (issue 10).
    "web:handover_leavers": _handover_sending("handover_leavers", {"GET": 200}),
    "web:handover_assign": _handover_sending("handover_assign", {"POST": 302},
                                             data=_assign_data),
    # The receiving school's pool (year.handover_assign there): B is a primary school, so its
    # pool is empty and a post of another school's leaver is refused by the form.
    "web:handover_pool": Endpoint(
        Access.PERMISSION, {"GET": 200, "POST": 200}, _web("handover_pool", SCHOOL_B, _YEAR_2026),
        actor="dave", perm=Perm.HANDOVER_ASSIGN, lacking=("bob", "carol", "ivan", "sam", "lam"),
        prepare=_handover_ready, data=lambda w: {"students": _assign_data(w)["students"]},
        not_found=(
            Case("other_school", "alice", _web("handover_pool", SCHOOL_B, _YEAR_2026)),
            Case("other_school_other_role", "khoa", _web("handover_pool", SCHOOL_B, _YEAR_2026)),
            Case("other_school_other_role", "iris", _web("handover_pool", SCHOOL_A, _YEAR_2026)),
            Case("missing_year", "dave", _web("handover_pool", SCHOOL_B, _YEAR_2030)),
            *_missing("dave", lambda i: _web("handover_pool", _id(i), _YEAR_2026)))),
    "web:handover_incoming": _handover_receiving("handover_incoming", {"GET": 200}),
    "web:handover_accept": _handover_receiving("handover_accept", {"POST": 302},
                                               data=_accept_data),
    "web:handover_decline": _handover_receiving(
        "handover_decline", {"POST": 302},
        data=lambda w: {"handovers": [_handover_of("Đỗ Thị Hà")(w)],
                        "decision_note": "Ngoài địa bàn tuyển sinh"}),
    "web:handover_intake": Endpoint(
        Access.PERMISSION, {"GET": 200, "POST": 200}, _web("handover_intake", SCHOOL_A,
                                                           _YEAR_2026),
        perm=Perm.YEAR_INTAKE, lacking=("bob", "carol", "erin", "ivan", "sam"),
        data=lambda w: {"rows": "Phan Thị Mai; 12/04/2020; Nữ; ; 1A", "action": "check"},
        not_found=(
            Case("other_school", "dave", _web("handover_intake", SCHOOL_A, _YEAR_2026)),
            Case("other_school_other_role", "khoa", _web("handover_intake", SCHOOL_B,
                                                         _YEAR_2026)),
            Case("other_school_other_role", "iris", _web("handover_intake", SCHOOL_A,
                                                         _YEAR_2026)),
            Case("missing_year", "alice", _web("handover_intake", SCHOOL_A, _YEAR_2030)),
            *_missing("alice", lambda i: _web("handover_intake", _id(i), _YEAR_2026)))),
    # Statistical reports (issue 11): the authority officer's rounds (report.define to open
    # and close), consolidated tables, charts and XLSX/PDF downloads (report.view over the
    # whole authority); the principal's page of a round and its sign-off (quality.sign_off).
    "web:reports_rounds": Endpoint(
        Access.PERMISSION, {"GET": 200}, _web("reports_rounds"), actor="erin",
        perm=Perm.REPORT_VIEW, lacking=_REPORT_LACKING, prepare=_round_opened),
    "web:reports_round_open": Endpoint(
        Access.PERMISSION, {"POST": 302}, _web("reports_round_open"), actor="erin",
        perm=Perm.REPORT_DEFINE, lacking=_ROUND_DEFINE_LACKING,
        data=lambda w: {"authority": w.cast.school_a.authority_id,
                        "name": "Giữa năm học 2026–2027", "kind": "giua_nam",
                        "as_of": "01/10/2026"}),
    "web:reports_round": _round_screen("reports_round", {"GET": 200}),
    "web:reports_round_close": _round_screen("reports_round_close", {"POST": 302},
                                             perm=Perm.REPORT_DEFINE),
    "web:reports_tables": _round_screen("reports_tables", {"GET": 200}),
    "web:reports_download": Endpoint(
        Access.PERMISSION, {"GET": 200},
        _web("reports_download", _round_id, _report("hoc_sinh_khoi_gioi_tinh"), _report("xlsx")),
        actor="erin", perm=Perm.REPORT_VIEW, lacking=_REPORT_LACKING, prepare=_round_opened,
        not_found=(
            Case("school_wide_only", "alice", _web("reports_download", _round_id,
                                                   _report("hoc_sinh_khoi_gioi_tinh"),
                                                   _report("xlsx"))),
            Case("unknown_format", "erin", _web("reports_download", _round_id,
                                                _report("hoc_sinh_khoi_gioi_tinh"),
                                                _report("csv"))),
            *_missing("erin", lambda i: _web("reports_download", _id(i),
                                             _report("hoc_sinh_khoi_gioi_tinh"),
                                             _report("pdf"))))),
    "web:reports_charts": _round_screen("reports_charts", {"GET": 200}),
    "web:reports_school_round": _school_round(
        "reports_school_round", {"GET": 200}, Perm.REPORT_VIEW, _REPORT_LACKING),
    "web:reports_sign_off": _school_round(
        "reports_sign_off", {"POST": 302}, Perm.QUALITY_SIGN_OFF,
        ("bob", "carol", "erin", "ivan"), data=lambda w: {"note": "Đã rà soát"}),
}


# --- What the URL configuration holds ---------------------------------------------------------

def _patterns(resolver: URLResolver, namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _patterns(entry, inner)
        else:
            yield namespace, entry


def _url_names() -> dict[str, URLPattern]:
    found: dict[str, URLPattern] = {}
    for namespace, pattern in _patterns(get_resolver()):
        assert pattern.name, f"unnamed URL pattern {pattern.pattern}: name it and classify it"
        name = f"{namespace}:{pattern.name}" if namespace else pattern.name
        assert name not in found, f"two URL patterns named {name}"
        found[name] = pattern
    return found


def _api_operations() -> set[tuple[str, str]]:
    """(URL name, method) of every operation of every router of the API."""
    found: set[tuple[str, str]] = set()
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                name = getattr(operation, "url_name", None) or api.get_operation_url_name(
                    operation, router=router)
                found |= {(f"api:{name}", method) for method in operation.methods}
    return found


def test_every_url_pattern_is_classified() -> None:
    patterns = _url_names()
    assert set(patterns) == set(ENDPOINTS), (
        "classify new URL patterns in ENDPOINTS (and drop removed ones)")
    operations = _api_operations()
    operation_names = {name for name, _method in operations}
    assert operations == {(name, method) for name in operation_names
                          for method in ENDPOINTS[name].methods}
    for name, pattern in patterns.items():
        entry = ENDPOINTS[name]
        takes_object = bool(pattern.pattern.converters) or "<" in str(pattern.pattern)
        if takes_object and entry.access is not Access.PUBLIC:
            assert entry.not_found, f"{name} takes an object id: give it not-found cases"
        if entry.access is Access.PERMISSION:
            assert entry.perm is not None, f"{name} needs a permission: name it"
            assert entry.lacking, f"{name} needs a permission: name accounts that lack it"
        else:
            assert entry.perm is None, name
            assert not entry.lacking, name


# --- Helpers -----------------------------------------------------------------------------------

def _params(cases: Callable[[str, Endpoint], Iterator[tuple[Any, ...]]]) -> list[Any]:
    return [pytest.param(name, *rest, id="-".join([name, *map(str, rest)]))
            for name, entry in ENDPOINTS.items() for rest in cases(name, entry)]


def _state() -> dict[str, list[Any]]:
    """Everything a request of this site might write, apart from the audit log."""
    return {
        "students": list(Student.objects.order_by("pk").values()),
        "guardians": list(Guardian.objects.order_by("pk").values()),
        "staff": list(Staff.objects.order_by("pk").values()),
        "classes": list(SchoolClass.objects.order_by("pk").values()),
        "users": list(User.objects.order_by("pk").values(
            "pk", "username", "password", "full_name", "email", "is_active",
            "must_change_password")),
        "memberships": list(Membership.objects.order_by("pk").values()),
        "devices": list(TOTPDevice.objects.order_by("pk").values("pk", "user_id", "key",
                                                                   "confirmed")),
        "recovery_codes": list(StaticToken.objects.order_by("pk").values("pk", "token")),
        "sessions": sorted(UserSession.objects.values_list("key_hash", flat=True)),
        "login_failures": list(LoginFailure.objects.order_by("pk").values("pk")),
        "field_group_checks": list(FieldGroupCheck.objects.order_by("pk").values()),
        "sign_offs": list(SignOff.objects.order_by("pk").values()),
        "quality_states": list(RecordState.objects.order_by("pk").values()),
        "identity_states": list(IdentityState.objects.order_by("pk").values()),
        "verification_jobs": list(VerificationJob.objects.order_by("pk").values()),
        "transfers": list(Transfer.objects.order_by("pk").values()),
        "enrolments": list(Enrolment.objects.order_by("pk").values()),
        "duplicate_pairs": list(DuplicatePair.objects.order_by("pk").values()),
        "duplicate_decisions": list(DuplicateDecision.objects.order_by("pk").values()),
        "merges": list(StudentMerge.objects.order_by("pk").values()),
        "consents": list(Consent.objects.order_by("pk").values()),
        "consent_states": list(ConsentState.objects.order_by("pk").values()),
        "policy_acknowledgements": list(PolicyAcknowledgement.objects.order_by("pk").values()),
        "incidents": list(Incident.objects.order_by("pk").values()),
        "subject_requests": list(SubjectRequest.objects.order_by("pk").values()),
        "sharing_agreements": list(SharingAgreement.objects.order_by("pk").values()),
        "intake_runs": list(IntakeRun.objects.order_by("pk").values()),
        "handovers": list(Handover.objects.order_by("pk").values()),
        "intake_batches": list(IntakeBatch.objects.order_by("pk").values()),
        "school_years": list(SchoolYear.objects.order_by("pk").values()),
        "class_proposals": list(ClassProposal.objects.order_by("pk").values()),
        "pupil_exceptions": list(PupilException.objects.order_by("pk").values()),
        "homeroom_proposals": list(HomeroomProposal.objects.order_by("pk").values()),
        "reporting_rounds": list(ReportingRound.objects.order_by("pk").values()),
    }


def _last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def _events_since(seq: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq"))


def _request(client: Client, method: str, url: str, data: dict[str, Any] | None) -> HttpResponse:
    if method == "GET":
        return client.get(url)  # type: ignore[return-value]
    return client.post(url, data or {})  # type: ignore[return-value]


def _signed_in(world: World, name: str, **options: Any) -> Client:
    client = Client(**options)
    client.force_login(world.users[name])
    return client


def _setup(world: World, entry: Endpoint) -> dict[str, Any] | None:
    if entry.prepare is not None:
        entry.prepare(world)
    return entry.data(world) if entry.data is not None else None


def _assert_refusal_recorded(events: list[AuditEvent], *, actor: User, method: str, url: str,
                             status: int) -> None:
    """One ``access.denied`` event for the request; anything else recorded is a read (an
    account management view reads the account before it finds the membership out of reach)."""
    denied = [e for e in events if e.action == actions.ACCESS_DENIED]
    assert [(e.actor_id, e.data) for e in denied] == [
        (actor.pk, {"method": method, "path": urlsplit(url).path, "status": status})]
    assert {e.kind for e in events if e not in denied} <= {Kind.READ}


# --- The sweep ---------------------------------------------------------------------------------

def _each_method(name: str, entry: Endpoint) -> Iterator[tuple[Any, ...]]:
    for method in entry.methods:
        yield (method,)


@pytest.mark.parametrize(("name", "method"), _params(_each_method))
def test_anonymous(world: World, name: str, method: str) -> None:
    entry = ENDPOINTS[name]
    data = _setup(world, entry)
    url = entry.url(world)
    before = _state()
    response = _request(Client(), method, url, data)
    assert response.status_code == entry.anonymous
    if entry.access is Access.PUBLIC:
        return
    assert response.status_code != 200
    if name.startswith("web:"):
        assert urlsplit(response["Location"]).path == LOGIN_PATH
        if method == "GET":
            assert response["Location"].startswith(f"{LOGIN_PATH}?next=")
    else:  # the API refuses with 401, and the attempt is on record
        denied = AuditEvent.objects.filter(action=actions.ACCESS_DENIED).last()
        assert denied is not None
        assert denied.actor_id is None
        assert (denied.data["status"], denied.data["path"]) == (401, urlsplit(url).path)
    assert _state() == before


@pytest.mark.parametrize(("name", "method"), _params(_each_method))
def test_the_actor_it_is_meant_for_gets_it(world: World, name: str, method: str) -> None:
    entry = ENDPOINTS[name]
    data = _setup(world, entry)
    actor = world.users[entry.actor]
    if entry.perm is not None:
        assert policy.has_perm(actor, entry.perm)
    response = _request(_signed_in(world, entry.actor), method, entry.url(world), data)
    assert response.status_code == entry.ok[method]
    if response.status_code == 302:
        assert urlsplit(response["Location"]).path != LOGIN_PATH or name == "web:logout"


def _each_not_found(name: str, entry: Endpoint) -> Iterator[tuple[Any, ...]]:
    for method in entry.methods:
        for case in entry.not_found:
            yield method, case.label, case.actor


@pytest.mark.parametrize(("name", "method", "label", "actor"), _params(_each_not_found))
def test_out_of_scope_or_missing_is_not_found(world: World, name: str, method: str, label: str,
                                              actor: str) -> None:
    entry = ENDPOINTS[name]
    case = next(c for c in entry.not_found if c.label == label and c.actor == actor)
    data = _setup(world, entry)
    url = case.url(world)
    client = _signed_in(world, actor)
    before, seq = _state(), _last_seq()
    response = _request(client, method, url, data)
    assert response.status_code == 404
    body = response.content.decode()
    for hidden in (world.cast.other_school_student, world.cast.binh, world.staff_b):
        assert hidden.full_name not in body
    assert _state() == before
    _assert_refusal_recorded(_events_since(seq), actor=world.users[actor], method=method,
                             url=url, status=404)


def _each_lacking(name: str, entry: Endpoint) -> Iterator[tuple[Any, ...]]:
    for method in entry.methods:
        for actor in entry.lacking:
            yield method, actor


@pytest.mark.parametrize(("name", "method", "actor"), _params(_each_lacking))
def test_missing_permission_is_forbidden(world: World, name: str, method: str,
                                         actor: str) -> None:
    entry = ENDPOINTS[name]
    assert entry.perm is not None
    assert not policy.has_perm(world.users[actor], entry.perm)
    data = _setup(world, entry)
    url = entry.url(world)
    client = _signed_in(world, actor)
    before, seq = _state(), _last_seq()
    response = _request(client, method, url, data)
    assert response.status_code == 403
    assert _state() == before
    _assert_refusal_recorded(_events_since(seq), actor=world.users[actor], method=method,
                             url=url, status=403)


def _each_post(name: str, entry: Endpoint) -> Iterator[tuple[Any, ...]]:
    if "POST" in entry.methods and not entry.csrf_exempt:
        yield ()


@pytest.mark.parametrize("name", _params(_each_post))
def test_post_without_csrf_token_is_refused(world: World, name: str) -> None:
    entry = ENDPOINTS[name]
    data = _setup(world, entry)
    actor = world.users[entry.actor]
    client = _signed_in(world, entry.actor, enforce_csrf_checks=True)
    url = entry.url(world)
    before, seq = _state(), _last_seq()
    response = client.post(url, data or {})
    assert response.status_code == 403
    assert _state() == before
    events = _events_since(seq)
    expected = actions.SECURITY_CSRF_REFUSED if name.startswith("web:") \
        else actions.ACCESS_DENIED
    assert [(e.action, e.actor_id) for e in events] == [(expected, actor.pk)]
    assert client.session.get("_auth_user_id") == str(actor.pk)


def _each_refused_method(name: str, entry: Endpoint) -> Iterator[tuple[Any, ...]]:
    if entry.other_methods_refused:
        for method in ("GET", "POST"):
            if method not in entry.methods:
                yield (method,)


@pytest.mark.parametrize(("name", "method"), _params(_each_refused_method))
def test_methods_the_view_does_not_take_are_refused(world: World, name: str,
                                                    method: str) -> None:
    entry = ENDPOINTS[name]
    client = _signed_in(world, entry.actor)
    before = _state()
    assert _request(client, method, entry.url(world), {}).status_code == 405
    assert _state() == before


SUPERVISION_SCREENS = [name for name in ENDPOINTS if name.startswith("web:supervision")]


@pytest.mark.parametrize("name", SUPERVISION_SCREENS)
@pytest.mark.parametrize("school", ["²", "-1", "0", "1e3", "1.5", "x"])
def test_odd_school_filter_is_refused_by_the_form_not_a_server_error(
        world: World, name: str, school: str) -> None:
    client = _signed_in(world, "alice")
    response = client.get(reverse(name), {"truong": school})
    assert response.status_code == 200
    form = response.context.get("form")
    assert form is None or "truong" in form.errors
