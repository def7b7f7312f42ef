"""Consents and merged records: a consent recorded on a duplicate record counts for the pupil it
was merged into, a withdrawal on either stops the purpose, and an undo puts things back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from edureg.privacy.purposes import purposes_in_force
from edureg.privacy.selectors import consent_rows, consent_valid, consents_valid
from edureg.privacy.services import (
    ConsentGiven,
    ConsentWithdrawal,
    consent_give,
    consent_withdraw,
)
from edureg.registry.merge import student_merge, student_unmerge
from edureg.registry.models import Guardian, Student
from tests import factories as f
from tests.conftest import Cast

PHOTOS = "anh_truyen_thong"
BORN = dt.date(2021, 3, 1)  # under 7: the parent's consent alone


def _given(guardian: Guardian) -> ConsentGiven:
    notice = purposes_in_force().get(PHOTOS)
    assert notice is not None
    return ConsentGiven(purpose=PHOTOS, notice_version=notice.notice_version, guardian=guardian,
                        subject_agreed=False, channel="phieu_giay",
                        evidence_reference="Phiếu số 7")


@pytest.fixture
def twins(cast: Cast) -> tuple[Student, Student, Guardian, Guardian]:
    """The same pupil recorded twice at school A, each record with the mother linked."""
    Student.objects.filter(pk=cast.an.pk).update(date_of_birth=BORN)
    kept = Student.objects.get(pk=cast.an.pk)
    duplicate = f.make_student(cast.class_1a, "Nguyễn Văn An", sex="M", date_of_birth=BORN)
    mother = f.make_guardian(kept, "Trần Thị Mai", relation="02")
    mother_again = f.make_guardian(duplicate, "Trần Thị Mai", relation="02")
    return kept, duplicate, mother, mother_again


def _valid(student: Student) -> bool:
    single = consent_valid(subject_entity="student", subject_id=student.pk, purpose=PHOTOS)
    batch = student.pk in consents_valid(subject_entity="student", subject_ids=[student.pk],
                                         purpose=PHOTOS)
    assert single == batch, "the single and the batch check agree"
    return single


def test_a_consent_on_the_merged_record_counts_for_the_kept_one_until_undone(
        cast: Cast, twins: tuple[Student, Student, Guardian, Guardian]) -> None:
    kept, duplicate, _mother, mother_again = twins
    consent_give(actor=cast.alice, student=duplicate, data=_given(mother_again))
    assert not _valid(kept)
    merge = student_merge(actor=cast.alice, kept=kept, merged=duplicate,
                          reason="Cùng một học sinh, nhập trùng")
    assert _valid(kept)
    rows, _consents = consent_rows(kept)
    photos = next(row for row in rows if row.purpose.code == PHOTOS)
    assert photos.current is not None, "the pupil page shows the consent in force"
    student_unmerge(actor=cast.erin, merge=merge, reason="Gộp nhầm hai học sinh khác nhau")
    assert not _valid(kept)
    assert _valid(Student.objects.get(pk=duplicate.pk))


def test_withdrawing_on_the_kept_record_stops_the_merged_records_consent(
        cast: Cast, twins: tuple[Student, Student, Guardian, Guardian]) -> None:
    kept, duplicate, mother, mother_again = twins
    consent_give(actor=cast.alice, student=duplicate, data=_given(mother_again))
    student_merge(actor=cast.alice, kept=kept, merged=duplicate,
                  reason="Cùng giấy khai sinh, nhập trùng")
    with pytest.raises(ValidationError) as raised:
        consent_give(actor=cast.alice, student=kept, data=_given(mother))
    assert "còn hiệu lực" in str(raised.value.message_dict["purpose"])
    consent_withdraw(actor=cast.alice, student=kept, data=ConsentWithdrawal(
        purpose=PHOTOS, withdrawn_by_guardian=mother, withdrawn_by_subject=False,
        channel="phieu_giay", evidence_reference="Đơn rút lại"))
    assert not _valid(kept)
    consent_give(actor=cast.alice, student=kept, data=_given(mother))
    assert _valid(kept), "given again after the withdrawal: the latest decides"


def test_a_later_withdrawal_on_either_record_wins(
        cast: Cast, twins: tuple[Student, Student, Guardian, Guardian]) -> None:
    kept, duplicate, mother, mother_again = twins
    consent_give(actor=cast.alice, student=kept, data=_given(mother))
    consent_give(actor=cast.alice, student=duplicate, data=_given(mother_again))
    consent_withdraw(actor=cast.alice, student=duplicate, data=ConsentWithdrawal(
        purpose=PHOTOS, withdrawn_by_guardian=mother_again, withdrawn_by_subject=False,
        channel="phieu_giay", evidence_reference="Đơn rút lại"))
    student_merge(actor=cast.alice, kept=kept, merged=duplicate,
                  reason="Cùng giấy khai sinh, nhập trùng")
    assert not _valid(kept)
