"""Recording consent given and withdrawn, per person × purpose. Each write authorises, checks
the parties the law requires, stores the proof (``Consent``), moves the indexed state
(``ConsentState``) and leaves its audit event — all in one transaction, so a withdrawal blocks
the purpose for every later check, in the same request too.

Only pupils' consents are recorded here for now; the tables also name guardians and staff."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import cast

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, require
from edureg.access.roles import Perm
from edureg.audit import actions
from edureg.audit.services import audit_record
from edureg.core.text import TextValueError, clean_text
from edureg.privacy.models import Consent, ConsentState, ConsentStatus, SubjectEntity
from edureg.privacy.policy import require_acknowledged
from edureg.privacy.purposes import Purpose, Purposes, purposes_in_force, required_parties
from edureg.privacy.selectors import latest_states
from edureg.registry.models import Guardian, Student, StudentGuardian

_EVIDENCE_MAX = 200
_STUDENT = SubjectEntity.STUDENT.value


@dataclasses.dataclass(frozen=True)
class ConsentGiven:
    """What the form recorded: the purpose, who agreed, how, the proof kept, the notice shown.
    Nothing here has a default that means "agreed"."""

    purpose: str
    notice_version: str
    guardian: Guardian | None
    subject_agreed: bool
    channel: str
    evidence_reference: str
    given_on: dt.date | None = None


@dataclasses.dataclass(frozen=True)
class ConsentWithdrawal:
    purpose: str
    withdrawn_by_guardian: Guardian | None
    withdrawn_by_subject: bool
    channel: str
    evidence_reference: str
    withdrawn_on: dt.date | None = None


def _purpose(purposes: Purposes, code: str, errors: dict[str, list[str]]) -> Purpose | None:
    purpose = purposes.get(code)
    if purpose is None or _STUDENT not in purpose.entities:
        errors["purpose"] = [_("Hãy chọn một mục đích trong danh sách.")]
        return None
    if not purpose.requires_consent:
        errors["purpose"] = [_("Mục đích “%(name)s” được xử lý theo quy định của pháp luật, "
                               "không cần ghi nhận sự đồng ý.") % {"name": purpose.name}]
        return None
    return purpose


def _evidence(value: str, field: str, errors: dict[str, list[str]]) -> str:
    try:
        cleaned = clean_text(value or "", max_length=_EVIDENCE_MAX)
    except TextValueError as error:
        errors[field] = [error.message]
        return ""
    if not cleaned:
        errors[field] = [_("Hãy ghi chứng cứ được lưu (ví dụ: số phiếu đồng ý có chữ ký, nơi "
                           "lưu).")]
    return cleaned


def _day(value: dt.date | None, field: str, errors: dict[str, list[str]]) -> dt.date:
    today = timezone.localdate()
    day = value or today
    if day > today:
        errors[field] = [_("Ngày không được sau hôm nay.")]
    return day


def _channel(purposes: Purposes, code: str, field: str, errors: dict[str, list[str]]) -> None:
    if purposes.channel(code) is None:
        errors[field] = [_("Hãy chọn hình thức trong danh sách.")]


def _own_guardian(student: Student, guardian: Guardian | None) -> bool:
    return guardian is not None and StudentGuardian.objects.filter(
        student=student, guardian=guardian).exists()


def consent_give(*, actor: Actor, student: Student, data: ConsentGiven) -> Consent:
    """Record that the pupil's consent for ``data.purpose`` was given, by every party the
    rules require (a parent or guardian; the pupil too from the rules' age)."""
    require(actor, Perm.CONSENT_RECORD, student)
    require_acknowledged(actor)
    purposes = purposes_in_force()
    errors: dict[str, list[str]] = {}
    purpose = _purpose(purposes, data.purpose, errors)
    if purpose is not None and data.notice_version != purpose.notice_version:
        errors["notice_version"] = [_(
            "Nội dung thông báo của mục đích này đã được cập nhật (phiên bản %(version)s); hãy "
            "cho gia đình xem nội dung mới rồi ghi nhận lại.") % {
                "version": purpose.notice_version}]
    _channel(purposes, data.channel, "channel", errors)
    evidence = _evidence(data.evidence_reference, "evidence_reference", errors)
    day = _day(data.given_on, "given_on", errors)
    parties = required_parties(entity=_STUDENT, date_of_birth=student.date_of_birth, on=day,
                               rules=purposes.rules)
    if data.guardian is not None and not _own_guardian(student, data.guardian):
        errors["guardian"] = [_("Người được chọn không phải cha mẹ/người giám hộ của học sinh "
                                "này.")]
    elif parties.guardian and data.guardian is None:
        errors["guardian"] = [_("Thiếu sự đồng ý của cha mẹ/người giám hộ: học sinh chưa đủ "
                                "%(age)d tuổi, cha mẹ/người giám hộ phải đồng ý.") % {
                                    "age": purposes.rules.guardian_consent_until_age}]
    if parties.subject and not data.subject_agreed:
        if parties.age is None:
            errors["subject_agreed"] = [_(
                "Thiếu sự đồng ý của chính học sinh: hồ sơ chưa có ngày sinh nên phải có cả sự "
                "đồng ý của học sinh (như với học sinh từ đủ %(age)d tuổi).") % {
                    "age": purposes.rules.child_own_consent_from_age}]
        else:
            errors["subject_agreed"] = [_(
                "Thiếu sự đồng ý của chính học sinh: học sinh %(years)d tuổi (từ đủ %(age)d "
                "tuổi) phải cùng đồng ý với cha mẹ/người giám hộ.") % {
                    "years": parties.age, "age": purposes.rules.child_own_consent_from_age}]
    if not (data.subject_agreed or data.guardian is not None) and not errors:
        errors["guardian"] = [_("Chưa có ai đồng ý: hãy ghi người đã đồng ý.")]
    if errors or purpose is None:
        raise ValidationError(errors)
    now = timezone.now()
    try:
        with transaction.atomic():
            state = ConsentState.objects.select_for_update().filter(
                purpose=purpose.code, subject_entity=_STUDENT, subject_id=student.pk).first()
            latest = latest_states(_STUDENT, purpose.code, [student.pk]).get(student.pk)
            if latest is not None and latest.status == ConsentStatus.GIVEN:
                raise ValidationError({"purpose": [_(
                    "Học sinh đã có sự đồng ý còn hiệu lực cho mục đích “%(name)s”.") % {
                        "name": purpose.name}]})
            consent = Consent.objects.create(
                subject_entity=_STUDENT, subject_id=student.pk, school_id=student.school_id,
                purpose=purpose.code, purposes_version=purposes.version,
                notice_version=purpose.notice_version, guardian=data.guardian,
                subject_agreed=data.subject_agreed, subject_age=parties.age,
                channel=data.channel, evidence_reference=evidence, given_on=day,
                recorded_at=now, recorded_by_id=cast(int, actor.pk))
            if state is None:
                ConsentState.objects.create(
                    purpose=purpose.code, subject_entity=_STUDENT, subject_id=student.pk,
                    status=ConsentStatus.GIVEN, consent=consent, changed_at=now)
            else:
                state.status, state.consent, state.changed_at = ConsentStatus.GIVEN, consent, now
                state.save(update_fields=["status", "consent", "changed_at"])
            audit_record(actor=actor, action=actions.CONSENT_GIVEN, entity=_STUDENT,
                         entity_id=student.pk, school_id=student.school_id, data={
                             "consent_id": consent.pk, "purpose": purpose.code,
                             "purposes_version": purposes.version,
                             "notice_version": purpose.notice_version,
                             "guardian_id": data.guardian.pk if data.guardian else None,
                             "subject_agreed": data.subject_agreed, "channel": data.channel,
                             "given_on": day.isoformat()})
    except IntegrityError:  # recorded twice at once: the first stands
        raise ValidationError({"purpose": [_(
            "Học sinh đã có sự đồng ý còn hiệu lực cho mục đích “%(name)s”.") % {
                "name": purpose.name}]}) from None
    return consent


def consent_withdraw(*, actor: Actor, student: Student, data: ConsentWithdrawal) -> Consent:
    """Record that the pupil's consent for ``data.purpose`` was withdrawn — by the parent or
    guardian or by the pupil: either one ends it. From the commit on, every check refuses the
    purpose for this pupil."""
    require(actor, Perm.CONSENT_RECORD, student)
    require_acknowledged(actor)
    purposes = purposes_in_force()
    errors: dict[str, list[str]] = {}
    _channel(purposes, data.channel, "withdrawal_channel", errors)
    evidence = _evidence(data.evidence_reference, "withdrawal_evidence", errors)
    day = _day(data.withdrawn_on, "withdrawn_on", errors)
    guardian = data.withdrawn_by_guardian
    if guardian is not None and not _own_guardian(student, guardian):
        errors["withdrawn_by"] = [_("Người được chọn không phải cha mẹ/người giám hộ của học "
                                    "sinh này.")]
    elif guardian is None and not data.withdrawn_by_subject:
        errors["withdrawn_by"] = [_("Hãy chọn người rút lại sự đồng ý.")]
    if errors:
        raise ValidationError(errors)
    return consent_withdrawal_record(
        student=student, purpose=data.purpose, guardian=guardian,
        by_subject=data.withdrawn_by_subject, channel=data.channel, evidence=evidence, day=day,
        recorded_by_id=cast(int, actor.pk), actor=actor)


def consent_withdrawal_record(*, student: Student, purpose: str, guardian: Guardian | None,
                              by_subject: bool, channel: str, evidence: str, day: dt.date,
                              recorded_by_id: int | None, actor: Actor | None,
                              actor_label: str | None = None) -> Consent:
    """Store a withdrawal already authorised and checked by the caller (staff through
    ``consent_withdraw``, a verified guardian through the portal): the proof, the state and
    the audit event in one transaction."""
    now = timezone.now()
    with transaction.atomic():
        # The consent in force may have been recorded on a record since merged into this one.
        latest = latest_states(_STUDENT, purpose, [student.pk]).get(student.pk)
        state = (ConsentState.objects.select_for_update().filter(pk=latest.pk).first()
                 if latest is not None else None)
        if state is None or state.status != ConsentStatus.GIVEN:
            raise ValidationError({"purpose": [_(
                "Học sinh không có sự đồng ý còn hiệu lực cho mục đích này để rút lại.")]})
        consent = Consent.objects.select_for_update().get(pk=state.consent_id)
        consent.withdrawn_at, consent.withdrawn_on = now, day
        consent.withdrawn_by_guardian = guardian
        consent.withdrawn_by_subject = by_subject
        consent.withdrawal_channel, consent.withdrawal_evidence = channel, evidence
        consent.withdrawal_recorded_by_id = recorded_by_id
        consent.save(update_fields=[
            "withdrawn_at", "withdrawn_on", "withdrawn_by_guardian", "withdrawn_by_subject",
            "withdrawal_channel", "withdrawal_evidence", "withdrawal_recorded_by"])
        state.status, state.changed_at = ConsentStatus.WITHDRAWN, now
        state.save(update_fields=["status", "changed_at"])
        audit_record(actor=actor, action=actions.CONSENT_WITHDRAWN, entity=_STUDENT,
                     entity_id=student.pk, school_id=student.school_id, data={
                         "consent_id": consent.pk, "purpose": purpose,
                         "guardian_id": guardian.pk if guardian else None,
                         "subject": by_subject, "channel": channel,
                         "withdrawn_on": day.isoformat()}, actor_label=actor_label)
    return consent
