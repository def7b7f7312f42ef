"""The standing cast: two schools of one authority.

- alice: principal of school A;  bob: homeroom teacher of class 1A at school A;
- carol: subject teacher with no class;  dave: principal of school B;
- erin: authority officer.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management.commands import flush
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import settings as hypothesis_settings

from edureg.access.models import Membership, User
from edureg.access.roles import ROLES_REQUIRING_2FA, Role
from edureg.privacy.models import PolicyAcknowledgement
from edureg.privacy.policy import policy_in_force
from edureg.registry.models import SchoolClass, Student
from edureg.schools.models import School
from tests import factories as f

# Properties assert behaviour, not time: a busy CI machine (or the suite run twice at once) must
# not fail an example for taking longer than Hypothesis's default 200 ms. Speed is measured by
# the programs in bench/.
hypothesis_settings.register_profile("edureg", deadline=None)
hypothesis_settings.load_profile("edureg")


@pytest.fixture(scope="session", autouse=True)
def _no_anchor_file_of_the_checkout() -> Iterator[None]:
    """The checkout's anchor file (var/) belongs to its own database, not to the test database:
    tests (and the processes they start) keep no anchors unless a test names its own file."""
    from django.conf import settings

    previous = settings.EDUREG_AUDIT_ANCHOR_FILE
    os.environ["EDUREG_AUDIT_ANCHOR_FILE"] = ""
    settings.EDUREG_AUDIT_ANCHOR_FILE = ""
    yield
    settings.EDUREG_AUDIT_ANCHOR_FILE = previous


@pytest.fixture(scope="session", autouse=True)
def _flush_passes_the_audit_guard() -> Iterator[None]:
    """Transactional tests end with ``flush``, which on SQLite deletes row by row and so meets
    the audit log's append-only triggers: lift them for the flush only (tests/audit/tampering)."""
    from edureg.core.catalogue import DEFAULT_FILE, catalogue_load
    from tests.audit.tampering import guard_lifted

    original = flush.Command.handle

    def handle(self: flush.Command, *args: Any, **options: Any) -> None:
        with guard_lifted(options.get("database", "default")):
            original(self, *args, **options)
        # The flush also empties what data migrations loaded: put the field catalogue back so
        # the next test does not depend on what an earlier one left in the catalogue cache.
        catalogue_load(DEFAULT_FILE.read_text(encoding="utf-8"))

    flush.Command.handle = handle  # type: ignore[method-assign]
    yield
    flush.Command.handle = original  # type: ignore[method-assign]


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


@pytest.fixture(autouse=True)
def force_login_is_a_complete_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """``client.force_login(user)`` stands for a finished sign-in: for a role that requires two
    factors it also verifies the session with a TOTP device, as the second-factor page would.
    The sign-in pages themselves are tested in tests/accounts/."""
    original = Client.force_login

    def force_login(self: Client, user: Any, backend: str | None = None) -> None:
        original(self, user, backend)
        roles = Membership.objects.current().filter(user_id=user.pk).values_list("role",
                                                                                  flat=True)
        if not set(roles) & {role.value for role in ROLES_REQUIRING_2FA}:
            return
        device = TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).first() \
            or TOTPDevice.objects.create(user_id=user.pk, name="test", confirmed=True)
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()

    monkeypatch.setattr(Client, "force_login", force_login)


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
    # Staff at work have read the data-protection policy in force (tests of the gating itself
    # remove these rows: tests/privacy/test_policy_gate.py).
    version = policy_in_force().version
    PolicyAcknowledgement.objects.bulk_create([
        PolicyAcknowledgement(user=user, policy_version=version, acknowledged_at=timezone.now())
        for user in (alice, bob, carol, dave, erin)])
    return Cast(school_a=school_a, school_b=school_b, class_1a=class_1a, class_1b=class_1b,
                class_b=class_b, an=an, binh=binh, other_school_student=other, alice=alice,
                bob=bob, carol=carol, dave=dave, erin=erin)
