"""Consent by purpose: recording it with the parties the law requires, withdrawing it, the
stored state that the enforcement check reads, and the audit trail."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from edureg.access.models import User
from edureg.audit import actions
from edureg.audit.models import AuditEvent
from edureg.privacy.models import Consent, ConsentState, ConsentStatus
from edureg.privacy.policy import PolicyNotAcknowledged, policy_acknowledge, policy_in_force
from edureg.privacy.purposes import purposes_in_force
from edureg.privacy.selectors import (
    ConsentMissing,
    UnknownPurpose,
    consent_require,
    consent_valid,
    consents_valid,
)
from edureg.privacy.services import (
    ConsentGiven,
    ConsentWithdrawal,
    consent_give,
    consent_withdraw,
)
from edureg.registry.models import Guardian, Student
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.django_db

PHOTOS = "anh_truyen_thong"


def _acknowledged(*users: User) -> None:
    for user in users:
        policy_acknowledge(actor=user, version=policy_in_force().version)


def _born(student: Student, years: int) -> Student:
    today = timezone.localdate()
    student.date_of_birth = today.replace(year=today.year - years) - dt.timedelta(days=30)
    student.save(update_fields=["date_of_birth"])
    return student


def _given(guardian: Guardian | None, *, child: bool, purpose: str = PHOTOS,
           **changes: object) -> ConsentGiven:
    notice = purposes_in_force().get(purpose)
    values: dict[str, object] = {
        "purpose": purpose, "notice_version": notice.notice_version if notice else "",
        "guardian": guardian, "subject_agreed": child, "channel": "phieu_giay",
        "evidence_reference": "Phiếu đồng ý số 12, hồ sơ lớp 1A", **changes}
    return ConsentGiven(**values)  # type: ignore[arg-type]


def _withdrawal(guardian: Guardian | None, *, child: bool = False) -> ConsentWithdrawal:
    return ConsentWithdrawal(purpose=PHOTOS, withdrawn_by_guardian=guardian,
                             withdrawn_by_subject=child, channel="phieu_giay",
                             evidence_reference="Đơn rút lại ngày 10/10")


def _errors(raised: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return raised.value.message_dict


@pytest.fixture
def mother(cast: Cast) -> Guardian:
    _acknowledged(cast.alice, cast.bob)
    return f.make_guardian(cast.an, "Trần Thị Mai", relation="02")


def test_both_parent_and_child_of_seven_or_more_give_consent(cast: Cast,
                                                             mother: Guardian) -> None:
    an = _born(cast.an, 8)
    consent = consent_give(actor=cast.bob, student=an, data=_given(mother, child=True))

    assert (consent.guardian_id, consent.subject_agreed, consent.subject_age) == (
        mother.pk, True, 8)
    assert consent.notice_version == "TB-ANH-2026.1"
    state = ConsentState.objects.get(purpose=PHOTOS, subject_entity="student", subject_id=an.pk)
    assert (state.status, state.consent_id) == (ConsentStatus.GIVEN, consent.pk)
    assert consent_valid(subject_entity="student", subject_id=an.pk, purpose=PHOTOS)
    event = AuditEvent.objects.filter(action=actions.CONSENT_GIVEN).get()
    assert (event.entity, event.entity_id, event.actor_id) == ("student", str(an.pk), cast.bob.pk)
    assert event.data["purpose"] == PHOTOS
    assert event.data["guardian_id"] == mother.pk
    assert "Phiếu" not in str(event.data), "the evidence text stays out of the log"


def test_a_child_of_seven_or_more_without_own_consent_is_refused_naming_the_child(
        cast: Cast, mother: Guardian) -> None:
    an = _born(cast.an, 9)
    with pytest.raises(ValidationError) as raised:
        consent_give(actor=cast.alice, student=an, data=_given(mother, child=False))
    message = " ".join(_errors(raised)["subject_agreed"])
    assert "Thiếu sự đồng ý của chính học sinh" in message
    assert "9 tuổi" in message
    assert not Consent.objects.exists()
    assert not ConsentState.objects.exists()
    assert not consent_valid(subject_entity="student", subject_id=an.pk, purpose=PHOTOS)


def test_the_child_alone_is_not_enough_without_a_parent(cast: Cast, mother: Guardian) -> None:
    an = _born(cast.an, 12)
    with pytest.raises(ValidationError) as raised:
        consent_give(actor=cast.alice, student=an, data=_given(None, child=True))
    assert "cha mẹ/người giám hộ" in " ".join(_errors(raised)["guardian"])
    assert not ConsentState.objects.exists()


def test_under_seven_the_parent_alone_suffices(cast: Cast, mother: Guardian) -> None:
    an = _born(cast.an, 5)
    consent_give(actor=cast.alice, student=an, data=_given(mother, child=False))
    assert consent_valid(subject_entity="student", subject_id=an.pk, purpose=PHOTOS)


def test_unknown_birth_date_asks_for_the_child_as_well(cast: Cast, mother: Guardian) -> None:
    assert cast.an.date_of_birth is None
    with pytest.raises(ValidationError) as raised:
        consent_give(actor=cast.alice, student=cast.an, data=_given(mother, child=False))
    assert "chưa có ngày sinh" in " ".join(_errors(raised)["subject_agreed"])


def test_a_guardian_of_another_pupil_cannot_consent(cast: Cast, mother: Guardian) -> None:
    stranger = f.make_guardian(cast.binh, "Lê Văn Tư")
    an = _born(cast.an, 5)
    with pytest.raises(ValidationError) as raised:
        consent_give(actor=cast.alice, student=an, data=_given(stranger, child=False))
    assert "không phải cha mẹ/người giám hộ" in " ".join(_errors(raised)["guardian"])


@pytest.mark.parametrize(("changes", "field"), [
    ({"evidence_reference": "   "}, "evidence_reference"),
    ({"evidence_reference": "x" * 201}, "evidence_reference"),
    ({"evidence_reference": "số\t12"}, "evidence_reference"),
    ({"channel": "zalo"}, "channel"),
    ({"channel": ""}, "channel"),
    ({"notice_version": "TB-ANH-2025.9"}, "notice_version"),
    ({"given_on": dt.date(2999, 1, 1)}, "given_on"),
    ({"purpose": "quan_ly_giao_duc"}, "purpose"),
    ({"purpose": "ban_du_lieu"}, "purpose"),
])
def test_bad_input_is_refused_naming_the_field(cast: Cast, mother: Guardian,
                                               changes: dict[str, object], field: str) -> None:
    an = _born(cast.an, 5)
    with pytest.raises(ValidationError) as raised:
        consent_give(actor=cast.alice, student=an, data=_given(mother, child=False, **changes))
    assert field in _errors(raised)
    assert all(_errors(raised)[field]), "a message in words"
    assert not Consent.objects.exists()


def test_a_consent_in_force_is_not_recorded_twice(cast: Cast, mother: Guardian) -> None:
    an = _born(cast.an, 5)
    consent_give(actor=cast.alice, student=an, data=_given(mother, child=False))
    with pytest.raises(ValidationError) as raised:
        consent_give(actor=cast.alice, student=an, data=_given(mother, child=False))
    assert "còn hiệu lực" in " ".join(_errors(raised)["purpose"])
    assert Consent.objects.count() == 1


def test_withdrawal_blocks_the_purpose_in_the_same_transaction(cast: Cast,
                                                               mother: Guardian) -> None:
    an = _born(cast.an, 10)
    consent_give(actor=cast.alice, student=an, data=_given(mother, child=True))
    consent_require(subject_entity="student", subject_ids=[an.pk], purpose=PHOTOS)
    with transaction.atomic():  # one request: withdraw, then the sharing code asks
        consent_withdraw(actor=cast.bob, student=an, data=_withdrawal(None, child=True))
        with pytest.raises(ConsentMissing) as raised:
            consent_require(subject_entity="student", subject_ids=[an.pk], purpose=PHOTOS)
    assert raised.value.missing == (an.pk,)
    assert "Không được xử lý dữ liệu cho mục đích" in raised.value.message
    assert isinstance(raised.value, PermissionDenied)
    consent = Consent.objects.get()
    assert consent.withdrawn_by_subject
    assert consent.withdrawal_channel == "phieu_giay"
    assert consent.withdrawn_at is not None
    assert ConsentState.objects.get().status == ConsentStatus.WITHDRAWN
    assert AuditEvent.objects.filter(action=actions.CONSENT_WITHDRAWN,
                                     entity_id=str(an.pk)).count() == 1


def test_consent_can_be_given_again_after_a_withdrawal(cast: Cast, mother: Guardian) -> None:
    an = _born(cast.an, 5)
    consent_give(actor=cast.alice, student=an, data=_given(mother, child=False))
    consent_withdraw(actor=cast.alice, student=an, data=_withdrawal(mother))
    again = consent_give(actor=cast.alice, student=an, data=_given(mother, child=False))
    state = ConsentState.objects.get()
    assert (state.status, state.consent_id) == (ConsentStatus.GIVEN, again.pk)
    assert Consent.objects.count() == 2


def test_withdrawal_needs_a_party_and_a_consent_in_force(cast: Cast, mother: Guardian) -> None:
    an = _born(cast.an, 5)
    with pytest.raises(ValidationError) as raised:
        consent_withdraw(actor=cast.alice, student=an, data=_withdrawal(mother))
    assert "purpose" in _errors(raised)
    consent_give(actor=cast.alice, student=an, data=_given(mother, child=False))
    with pytest.raises(ValidationError) as raised:
        consent_withdraw(actor=cast.alice, student=an, data=_withdrawal(None, child=False))
    assert "Hãy chọn người rút lại" in " ".join(_errors(raised)["withdrawn_by"])
    assert ConsentState.objects.get().status == ConsentStatus.GIVEN


def test_statutory_purpose_needs_no_consent_and_unknown_purpose_is_an_error(
        cast: Cast) -> None:
    ids = [cast.an.pk, cast.binh.pk]
    assert consents_valid(subject_entity="student", subject_ids=ids,
                          purpose="quan_ly_giao_duc") == frozenset(ids)
    consent_require(subject_entity="student", subject_ids=ids, purpose="quan_ly_giao_duc")
    assert consents_valid(subject_entity="staff", subject_ids=ids, purpose=PHOTOS) == frozenset()
    with pytest.raises(UnknownPurpose):
        consent_valid(subject_entity="student", subject_id=cast.an.pk, purpose="ban_du_lieu")


def test_bulk_check_returns_exactly_those_with_consent_in_force(cast: Cast,
                                                                mother: Guardian) -> None:
    an = _born(cast.an, 5)
    binh = _born(cast.binh, 5)
    father = f.make_guardian(binh, "Trần Văn Ba")
    consent_give(actor=cast.alice, student=an, data=_given(mother, child=False))
    consent_give(actor=cast.alice, student=binh, data=_given(father, child=False))
    consent_withdraw(actor=cast.alice, student=binh, data=_withdrawal(father))
    many = [an.pk, binh.pk, cast.other_school_student.pk, *range(10_000, 11_200)]
    assert consents_valid(subject_entity="student", subject_ids=many,
                          purpose=PHOTOS) == frozenset({an.pk})
    with pytest.raises(ConsentMissing) as raised:
        consent_require(subject_entity="student", subject_ids=many, purpose=PHOTOS)
    assert len(raised.value.missing) == len(many) - 1


def test_recording_needs_the_permission_and_the_pupil_in_scope(cast: Cast,
                                                               mother: Guardian) -> None:
    an = _born(cast.an, 5)
    _acknowledged(cast.carol, cast.dave)
    with pytest.raises(PermissionDenied):
        consent_give(actor=cast.carol, student=an, data=_given(mother, child=False))
    with pytest.raises(Http404):
        consent_give(actor=cast.dave, student=an, data=_given(mother, child=False))
    binh = _born(cast.binh, 5)
    with pytest.raises(Http404):  # bob's class is 1A, Bình is in 1B
        consent_give(actor=cast.bob, student=binh, data=_given(None, child=False))
    assert not Consent.objects.exists()


def test_recording_is_blocked_until_the_policy_is_acknowledged(cast: Cast) -> None:
    clerk = f.make_user("clerk", cast.alice.memberships.get().role, cast.school_a)
    guardian = f.make_guardian(cast.an, "Trần Thị Mai")
    an = _born(cast.an, 5)
    with pytest.raises(PolicyNotAcknowledged) as raised:
        consent_give(actor=clerk, student=an, data=_given(guardian, child=False))
    assert "Quy chế bảo vệ dữ liệu cá nhân" in raised.value.message
    _acknowledged(clerk)
    consent_give(actor=clerk, student=an, data=_given(guardian, child=False))
