"""The parents' look-up portal (cổng tra cứu): one pupil's record per look-up, to the parent
or guardian who proves who they are.

1. ``portal_lookup_start``: the education id and birth date typed. A look-up is created whether
   or not they match a pupil, the codes are sent afterwards by the task worker, and the page
   says the same thing either way — the answer (and its timing) tells nothing about which
   pupils exist.
2. ``portal_codes_send`` (a task): a six-digit code to each guardian's mobile number on file,
   through the ``MessageSender`` port. Codes are derived from the look-up's salt and the
   server's key (HMAC), never stored, so a retried send carries the same code under the same
   idempotency reference and the provider delivers it once.
3. ``portal_code_check``: the code typed. A few tries per look-up; wrong codes count against
   the identity typed and the client address (keyed hashes), and either locks the portal for
   a while. The guardian whose code matched is who acts from then on.
4. ``portal_session`` / ``portal_page``: the pupil's data, the consents, and who accessed the
   record and when (from the audit trail, by job position; names only where
   ``EDUREG_PORTAL_SHOW_NAMES`` says so). Each page view is an audited read.
5. ``portal_correction_request`` / ``portal_consent_withdraw``: a correction request for the
   school, and withdrawal of a consent, recorded as coming through the portal.

Every step leaves an audit event under the actor label ``portal``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import secrets
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django_tasks import task

from edureg.access.models import Membership
from edureg.access.roles import Role
from edureg.audit import actions
from edureg.audit.actions import Kind
from edureg.audit.models import AuditEvent, AuditRecordRef
from edureg.audit.services import audit_read, audit_record, refs_catch_up
from edureg.core.catalogue import active_catalogue
from edureg.core.messages import message_sender
from edureg.core.messages.port import Message, MessageError
from edureg.core.phone import MOBILE, PhoneError, normalise_phone
from edureg.core.text import TextValueError, clean_text
from edureg.privacy.incidents import multiline_text
from edureg.privacy.models import (
    Consent,
    PortalCode,
    PortalFailure,
    PortalLookup,
    SubjectEntity,
    SubjectRequest,
    SubjectRequestKind,
    SubjectRequestStatus,
)
from edureg.privacy.purposes import purposes_in_force
from edureg.privacy.selectors import PurposeRow, consent_rows
from edureg.privacy.services import consent_withdrawal_record
from edureg.registry.models import Guardian, Student
from edureg.schools.models import School

ACTOR_LABEL = "portal"
CHANNEL = "cong_tra_cuu"  # requests and withdrawals that came through the portal
CODE_DIGITS = 6
_EDUCATION_ID_MAX = 20


def channel_name(code: str) -> str | None:
    """The portal's name as a channel of requests and withdrawals (None for other codes)."""
    return _("Cổng tra cứu của cha mẹ/người giám hộ") if code == CHANNEL else None


@dataclasses.dataclass(frozen=True)
class PortalLimits:
    code_minutes: int
    tries_per_lookup: int
    lookups_per_identity: int
    lookups_per_address: int
    failures_per_identity: int
    failures_per_address: int
    window: dt.timedelta
    session_minutes: int


def portal_limits() -> PortalLimits:
    return PortalLimits(
        code_minutes=settings.EDUREG_PORTAL_CODE_MINUTES,
        tries_per_lookup=settings.EDUREG_PORTAL_TRIES_PER_LOOKUP,
        lookups_per_identity=settings.EDUREG_PORTAL_LOOKUPS_PER_IDENTITY,
        lookups_per_address=settings.EDUREG_PORTAL_LOOKUPS_PER_ADDRESS,
        failures_per_identity=settings.EDUREG_PORTAL_FAILURES_PER_IDENTITY,
        failures_per_address=settings.EDUREG_PORTAL_FAILURES_PER_ADDRESS,
        window=dt.timedelta(seconds=settings.EDUREG_PORTAL_WINDOW_SECONDS),
        session_minutes=settings.EDUREG_PORTAL_SESSION_MINUTES,
    )


class PortalRefused(Exception):
    """A portal step refused; ``message`` says why and what to do, in Vietnamese."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _key(kind: str, value: str) -> str:
    return salted_hmac(f"edureg.privacy.portal.{kind}", value, algorithm="sha256").hexdigest()


def identity_key(education_id: str) -> str:
    return _key("identity", education_id.strip().upper())


def address_key(address: str) -> str:
    return _key("address", address)


def _token_hash(token: str) -> str:
    return _key("token", token)


def portal_code(lookup: PortalLookup, guardian_id: int) -> str:
    """The code sent for ``lookup`` to one guardian (derived, never stored)."""
    digest = salted_hmac("edureg.privacy.portal.code",
                         f"{lookup.pk}:{lookup.code_salt}:{guardian_id}",
                         algorithm="sha256").digest()
    return str(int.from_bytes(digest[:8], "big") % 10**CODE_DIGITS).zfill(CODE_DIGITS)


def _format_time(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%H:%M")


def _locked_until(identity: str, address: str, limits: PortalLimits,
                  now: dt.datetime) -> dt.datetime | None:
    """When the lockout of this identity or address ends (None: not locked)."""
    ends: list[dt.datetime] = []
    for kind, key, limit in ((PortalFailure.Kind.IDENTITY, identity, limits.failures_per_identity),
                             (PortalFailure.Kind.ADDRESS, address, limits.failures_per_address)):
        recent = list(PortalFailure.objects.filter(
            kind=kind, key_hash=key, occurred_at__gt=now - limits.window)
            .order_by("-occurred_at").values_list("occurred_at", flat=True)[:limit])
        if len(recent) >= limit:
            ends.append(recent[-1] + limits.window)
    return max(ends) if ends else None


def _refuse_locked(until: dt.datetime) -> PortalRefused:
    return PortalRefused(_(
        "Đã nhập sai mã quá nhiều lần. Để bảo vệ hồ sơ của học sinh, cổng tra cứu tạm khoá đến "
        "%(time)s; hãy thử lại sau, hoặc liên hệ nhà trường.") % {"time": _format_time(until)})


def _too_many_lookups(key_field: str, key: str, limit: int, limits: PortalLimits,
                      now: dt.datetime) -> dt.datetime | None:
    recent = list(PortalLookup.objects.filter(
        **{key_field: key, "created_at__gt": now - limits.window})
        .order_by("-created_at").values_list("created_at", flat=True)[:limit])
    return recent[-1] + limits.window if len(recent) >= limit else None


# --- 1. The look-up ---------------------------------------------------------------------------

def portal_lookup_start(*, education_id: str, date_of_birth: dt.date | None,
                        address: str) -> str:
    """Start a look-up and return its token (kept in the browser's session). Raises
    ``ValidationError`` for malformed input and ``PortalRefused`` when rate-limited; never
    says whether a pupil matched."""
    errors: dict[str, list[str]] = {}
    try:
        code = clean_text(education_id or "", max_length=_EDUCATION_ID_MAX).upper()
    except TextValueError as error:
        errors["education_id"] = [_("Mã định danh: %(error)s") % {"error": error.message}]
        code = ""
    else:
        if not code:
            errors["education_id"] = [_("Hãy nhập mã định danh của học sinh (in trên thẻ học "
                                        "sinh hoặc sổ liên lạc).")]
        elif not code.isalnum() or not code.isascii():
            errors["education_id"] = [_("Mã định danh chỉ gồm chữ số và chữ cái không dấu.")]
    if date_of_birth is None:
        errors["date_of_birth"] = [_("Hãy nhập ngày sinh của học sinh.")]
    elif date_of_birth > timezone.localdate():
        errors["date_of_birth"] = [_("Ngày sinh không được sau hôm nay.")]
    if errors:
        raise ValidationError(errors)
    assert date_of_birth is not None
    limits = portal_limits()
    now = timezone.now()
    identity, where = identity_key(code), address_key(address)
    locked = _locked_until(identity, where, limits, now)
    if locked is not None:
        raise _refuse_locked(locked)
    busy = (_too_many_lookups("identity_key", identity, limits.lookups_per_identity, limits, now)
            or _too_many_lookups("address_key", where, limits.lookups_per_address, limits, now))
    if busy is not None:
        raise PortalRefused(_(
            "Đã tra cứu quá nhiều lần trong thời gian ngắn. Hãy thử lại sau %(time)s.") % {
                "time": _format_time(busy)})
    student = (Student.objects.live().filter(education_id=code, date_of_birth=date_of_birth)
               .only("pk", "school_id").first())
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        lookup = PortalLookup.objects.create(
            token_hash=_token_hash(token), identity_key=identity, address_key=where,
            student=student, code_salt=secrets.token_hex(16), created_at=now,
            expires_at=now + dt.timedelta(minutes=limits.code_minutes))
        audit_record(actor=None, actor_label=ACTOR_LABEL, action=actions.PORTAL_LOOKUP,
                     entity="portal_lookup", entity_id=lookup.pk,
                     school_id=student.school_id if student is not None else None,
                     data={"matched": student is not None,
                           "student": student.pk if student is not None else None})
        if student is not None:
            # The task row is written in this transaction (database task backend): the codes
            # are sent if, and only if, the look-up is stored.
            portal_codes_send.enqueue(lookup.pk)
    return token


# --- 2. Sending the codes ---------------------------------------------------------------------

def reachable_guardians(student_id: int) -> list[tuple[Guardian, str]]:
    """The pupil's guardians with a mobile number on file (one code per number)."""
    seen: set[str] = set()
    reachable: list[tuple[Guardian, str]] = []
    guardians = (Guardian.objects.filter(child_links__student_id=student_id)
                 .order_by("-child_links__is_primary_contact", "pk"))
    for guardian in guardians:
        try:
            phone = normalise_phone(guardian.phone)
        except PhoneError:
            continue
        if MOBILE.fullmatch(phone) and phone not in seen:
            seen.add(phone)
            reachable.append((guardian, phone))
    return reachable


def _message_text(code: str, minutes: int) -> str:
    return _("Mã xác thực tra cứu hồ sơ học sinh: %(code)s (hiệu lực %(minutes)d phút). Không "
             "cung cấp mã này cho bất kỳ ai, kể cả người tự xưng là nhà trường.") % {
                 "code": code, "minutes": minutes}


@task()
def portal_codes_send(lookup_id: int) -> int:
    """Send the look-up's codes that were not delivered yet; returns how many went out. Safe to
    run again: a delivered code is not sent twice."""
    lookup = PortalLookup.objects.filter(pk=lookup_id).first()
    now = timezone.now()
    if (lookup is None or lookup.student_id is None or lookup.verified_at is not None
            or lookup.expires_at <= now):
        return 0
    done = set(PortalCode.objects.filter(lookup=lookup).values_list("guardian_id", flat=True))
    minutes = max(1, int((lookup.expires_at - now).total_seconds() // 60))
    sent = 0
    for guardian, phone in reachable_guardians(lookup.student_id):
        if guardian.pk in done:
            continue
        message = Message(to=phone, text=_message_text(portal_code(lookup, guardian.pk), minutes),
                          reference=f"portal-{lookup.pk}-{guardian.pk}")
        try:
            message_id = message_sender().send(message)
        except MessageError as error:
            with transaction.atomic():
                audit_record(actor=None, actor_label=ACTOR_LABEL,
                             action=actions.PORTAL_CODE_UNDELIVERED, entity="portal_lookup",
                             entity_id=lookup.pk, school_id=guardian.school_id,
                             data={"guardian_id": guardian.pk, "permanent": error.permanent,
                                   "status": error.status})
            continue
        with transaction.atomic():
            PortalCode.objects.create(lookup=lookup, guardian=guardian, sent_at=timezone.now(),
                                      message_id=message_id[:100])
            audit_record(actor=None, actor_label=ACTOR_LABEL, action=actions.PORTAL_CODE_SENT,
                         entity="portal_lookup", entity_id=lookup.pk,
                         school_id=guardian.school_id, data={"guardian_id": guardian.pk})
        sent += 1
    return sent


# --- 3. The code ------------------------------------------------------------------------------

def _lookup_for(token: str) -> PortalLookup | None:
    if not token:
        return None
    return PortalLookup.objects.filter(token_hash=_token_hash(token), ended_at__isnull=True).first()


def portal_code_check(*, token: str, code: str, address: str) -> None:
    """Accept the code of a look-up (the portal session starts) or refuse it."""
    limits = portal_limits()
    now = timezone.now()
    lookup = _lookup_for(token)
    if lookup is None:
        raise PortalRefused(_("Phiên tra cứu không còn. Hãy tra cứu lại từ đầu."))
    where = address_key(address)
    locked = _locked_until(lookup.identity_key, where, limits, now)
    if locked is not None:
        raise _refuse_locked(locked)
    typed = "".join(code.split())
    if not (typed.isascii() and typed.isdigit() and len(typed) == CODE_DIGITS):
        raise PortalRefused(_("Mã xác thực gồm %(n)d chữ số, trong tin nhắn gửi tới số điện "
                              "thoại của cha mẹ/người giám hộ.") % {"n": CODE_DIGITS},
                            field="code")
    with transaction.atomic():
        lookup = PortalLookup.objects.select_for_update().get(pk=lookup.pk)
        if lookup.verified_at is not None:
            return
        lookup.attempts += 1
        lookup.save(update_fields=["attempts"])
        usable = lookup.expires_at > now and lookup.attempts <= limits.tries_per_lookup
        matched: int | None = None
        if usable:
            for guardian_id in PortalCode.objects.filter(lookup=lookup).values_list(
                    "guardian_id", flat=True):
                if hmac.compare_digest(portal_code(lookup, guardian_id), typed):
                    matched = guardian_id
        if matched is not None:
            lookup.verified_at, lookup.guardian_id = now, matched
            lookup.session_ends_at = now + dt.timedelta(minutes=limits.session_minutes)
            lookup.save(update_fields=["verified_at", "guardian", "session_ends_at"])
            audit_record(actor=None, actor_label=ACTOR_LABEL, action=actions.PORTAL_VERIFIED,
                         entity="portal_lookup", entity_id=lookup.pk,
                         school_id=lookup.student.school_id if lookup.student else None,
                         data={"guardian_id": matched, "student": lookup.student_id})
            return
        PortalFailure.objects.bulk_create([
            PortalFailure(kind=PortalFailure.Kind.IDENTITY, key_hash=lookup.identity_key,
                          occurred_at=now),
            PortalFailure(kind=PortalFailure.Kind.ADDRESS, key_hash=where, occurred_at=now)])
        audit_record(actor=None, actor_label=ACTOR_LABEL, action=actions.PORTAL_CODE_FAILED,
                     entity="portal_lookup", entity_id=lookup.pk, data={
                         "attempt": lookup.attempts, "expired": lookup.expires_at <= now})
        now_locked = _locked_until(lookup.identity_key, where, limits, now)
        if now_locked is not None:
            audit_record(actor=None, actor_label=ACTOR_LABEL, action=actions.PORTAL_LOCKOUT,
                         entity="portal_lookup", entity_id=lookup.pk,
                         data={"until": now_locked.isoformat()})
    if now_locked is not None:
        raise _refuse_locked(now_locked)
    if lookup.expires_at <= now or lookup.attempts >= limits.tries_per_lookup:
        raise PortalRefused(_("Mã xác thực đã hết hạn hoặc đã nhập sai quá số lần cho phép. "
                              "Hãy tra cứu lại để nhận mã mới."))
    raise PortalRefused(_("Mã xác thực không đúng. Hãy kiểm tra lại tin nhắn (còn %(n)d lần "
                          "thử).") % {"n": limits.tries_per_lookup - lookup.attempts},
                        field="code")


# --- 4. The portal session and its page ------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PortalSession:
    lookup: PortalLookup
    student: Student
    guardian: Guardian


def portal_session(token: str) -> PortalSession | None:
    """The open portal session of ``token`` (None: not verified, ended or timed out)."""
    lookup = _lookup_for(token)
    if (lookup is None or lookup.verified_at is None or lookup.session_ends_at is None
            or lookup.session_ends_at <= timezone.now() or lookup.student_id is None
            or lookup.guardian_id is None):
        return None
    student = (Student.objects.select_related("school", "current_class")
               .filter(pk=lookup.student_id).first())
    guardian = Guardian.objects.filter(pk=lookup.guardian_id).first()
    if student is None or guardian is None or student.merged_into_id is not None:
        return None
    return PortalSession(lookup=lookup, student=student, guardian=guardian)


def portal_end(token: str) -> None:
    lookup = _lookup_for(token)
    if lookup is None:
        return
    with transaction.atomic():
        PortalLookup.objects.filter(pk=lookup.pk).update(ended_at=timezone.now())
        audit_record(actor=None, actor_label=ACTOR_LABEL, action=actions.PORTAL_ENDED,
                     entity="portal_lookup", entity_id=lookup.pk)


@dataclasses.dataclass(frozen=True)
class AccessRow:
    occurred_at: dt.datetime
    who: str  # the job position (and the name where the policy shows names)
    school: str
    what: str  # "Xem hồ sơ" or the fields changed


@dataclasses.dataclass(frozen=True)
class PortalPage:
    session: PortalSession
    consents: list[PurposeRow]
    history: list[AccessRow]
    requests: list[SubjectRequest]


_HISTORY_LIMIT = 100


def _who(event: AuditEvent, roles: dict[tuple[int, int | None], str], show_names: bool) -> str:
    if event.actor_id is None:
        if event.actor_label == ACTOR_LABEL:
            return _("Cha mẹ/người giám hộ (cổng tra cứu)")
        return _("Hệ thống (việc tự động)")
    role = roles.get((event.actor_id, event.school_id)) or roles.get((event.actor_id, None))
    position = role or _("Cán bộ")
    if show_names:
        return f"{position} — {event.actor_label}"
    return position


def access_history(student: Student, *, limit: int = _HISTORY_LIMIT) -> list[AccessRow]:
    """Who read or changed the pupil's record, and which agencies it was disclosed to, newest
    first, by job position."""
    refs_catch_up()
    refs = list(AuditRecordRef.objects.filter(
        entity="student", entity_id=str(student.pk),
        kind__in=[Kind.READ.value, Kind.WRITE.value, Kind.DISCLOSURE.value])
                .order_by("-seq").values_list("seq", "field")[: limit * 10])
    fields_by_seq: dict[int, list[str]] = {}
    for seq, field in refs:
        fields_by_seq.setdefault(seq, [])
        if field:
            fields_by_seq[seq].append(field)
    seqs = sorted(fields_by_seq, reverse=True)[:limit]
    events = list(AuditEvent.objects.filter(seq__in=seqs).order_by("-seq"))
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    roles: dict[tuple[int, int | None], str] = {}
    for user_id, school_id, role in (Membership.objects.filter(user_id__in=actor_ids)
                                     .order_by("starts_on")
                                     .values_list("user_id", "school_id", "role")):
        label = str(Role(role).label)
        roles[(user_id, school_id)] = label
        roles.setdefault((user_id, None), label)
    schools = dict(School.objects.filter(pk__in={e.school_id for e in events if e.school_id})
                   .values_list("pk", "name"))
    labels = {f.name: f.label for f in active_catalogue().for_entity("student")}
    show_names = bool(settings.EDUREG_PORTAL_SHOW_NAMES)
    purposes = purposes_in_force()
    rows: list[AccessRow] = []
    for event in events:
        changed = fields_by_seq.get(event.seq, [])
        if event.kind == Kind.DISCLOSURE.value:
            data = event.data if isinstance(event.data, dict) else {}
            shared = [labels.get(str(name), str(name)) for name in data.get("fields", [])]
            what = _("Được cung cấp: %(fields)s") % {"fields": ", ".join(shared)}
            purpose = purposes.get(str(data.get("purpose", "")))
            if purpose is not None:
                what += "; " + _("mục đích: %(purpose)s") % {"purpose": purpose.name}
            bases = [str(data[key]) for key in ("legal_basis", "feed_legal_basis")
                     if data.get(key)]
            if bases:
                what += "; " + _("căn cứ: %(basis)s") % {"basis": "; ".join(bases)}
            rows.append(AccessRow(
                occurred_at=event.occurred_at,
                who=_("Cơ quan %(agency)s (theo thỏa thuận chia sẻ dữ liệu)") % {
                    "agency": data.get("agency", "")},
                school=schools.get(event.school_id, "") if event.school_id else "",
                what=what))
            continue
        if event.kind == Kind.READ.value:
            what = _("Xem hồ sơ")
        elif changed:
            what = _("Sửa: %(fields)s") % {
                "fields": ", ".join(labels.get(name, name) for name in changed)}
        else:
            what = _("Cập nhật hồ sơ")
        rows.append(AccessRow(occurred_at=event.occurred_at, who=_who(event, roles, show_names),
                              school=schools.get(event.school_id, "") if event.school_id else "",
                              what=what))
    return rows


def portal_page(session: PortalSession) -> PortalPage:
    """What the portal shows the verified guardian; the read is audited."""
    student = session.student
    rows, _consents = consent_rows(student)
    history = access_history(student)
    requests = list(SubjectRequest.objects.filter(
        subject_entity=SubjectEntity.STUDENT, subject_id=student.pk).order_by("-received_at")[:20])
    audit_read(actor=None, actor_label=ACTOR_LABEL, entity="student", ids=[student.pk],
               school_id=student.school_id, view="portal",
               extra={"lookup": session.lookup.pk, "guardian_id": session.guardian.pk})
    return PortalPage(session=session, consents=rows, history=history, requests=requests)


# --- 5. What the guardian can do -------------------------------------------------------------

def portal_correction_request(session: PortalSession, details: str) -> SubjectRequest:
    """A correction request for the pupil's school, from the verified guardian."""
    errors: dict[str, list[str]] = {}
    text = multiline_text(details, "details", _("nội dung cần sửa"), errors, required=True)
    if errors:
        raise ValidationError(errors)
    student = session.student
    now = timezone.now()
    with transaction.atomic():
        request = SubjectRequest.objects.create(
            authority_id=student.school.authority_id, school_id=student.school_id,
            subject_entity=SubjectEntity.STUDENT, subject_id=student.pk,
            kind=SubjectRequestKind.CORRECTION, received_at=now, channel=CHANNEL,
            requester_relation="guardian", requester_guardian=session.guardian, details=text,
            status=SubjectRequestStatus.RECEIVED, recorded_at=now, recorded_by=None)
        audit_record(actor=None, actor_label=ACTOR_LABEL,
                     action="subject_request.recorded", entity="subject_request",
                     entity_id=request.pk, school_id=student.school_id, data={
                         "kind": request.kind, "student": student.pk, "channel": CHANNEL,
                         "requester": "guardian", "guardian_id": session.guardian.pk,
                         "received_at": now.isoformat()})
    return request


def withdrawable(rows: Sequence[PurposeRow]) -> list[PurposeRow]:
    """The purposes whose consent is in force: the guardian may withdraw them here."""
    return [row for row in rows if row.purpose.requires_consent and row.current is not None]


def portal_consent_withdraw(session: PortalSession, purpose: str) -> Consent:
    """Withdraw the pupil's consent for ``purpose`` on the guardian's word; from the commit on,
    every check refuses the purpose."""
    purposes = purposes_in_force()
    found = purposes.get(purpose)
    if found is None or not found.requires_consent:
        raise ValidationError({"purpose": [_("Mục đích này không cần hoặc không có sự đồng ý để "
                                              "rút lại.")]})
    return consent_withdrawal_record(
        student=session.student, purpose=purpose, guardian=session.guardian,
        by_subject=False, channel=CHANNEL,
        evidence=f"Cổng tra cứu, lượt {session.lookup.pk}", day=timezone.localdate(),
        recorded_by_id=None, actor=None, actor_label=ACTOR_LABEL)
