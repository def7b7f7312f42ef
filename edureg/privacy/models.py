"""Consent by purpose, staff acknowledgements of the data-protection policy, and the register
of personal-data breaches (incidents).

``Consent`` is the proof (who agreed, through which channel, the evidence kept, the notice
version shown, when; and its withdrawal). ``ConsentState`` is one row per person × purpose with
the current status: the indexed look-up that sharing and sync ask on their hot path, kept by the
services in the same transaction as the proof. Persons are named by entity and id (a pupil, a
guardian or a staff member: persons are never deleted), so one table answers for all three.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from edureg.access.policy import Grant
from edureg.access.roles import Scope
from edureg.registry.models import Guardian
from edureg.schools.models import Authority, School


class SubjectEntity(models.TextChoices):
    STUDENT = "student", _("Học sinh")
    GUARDIAN = "guardian", _("Cha mẹ/người giám hộ")
    STAFF = "staff", _("Cán bộ, giáo viên, nhân viên")


class Consent(models.Model):
    """One consent given for one purpose, and its withdrawal. Append-only apart from the
    withdrawal fields, which are written once."""

    subject_entity = models.CharField(max_length=10, choices=SubjectEntity.choices)
    subject_id = models.BigIntegerField()
    # The school that recorded it (the person may move on; the proof stays where it was kept).
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(_("mục đích"), max_length=40)
    purposes_version = models.CharField(max_length=20)
    notice_version = models.CharField(_("phiên bản thông báo"), max_length=40)
    guardian = models.ForeignKey(Guardian, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", verbose_name=_("cha mẹ/người giám hộ"))
    subject_agreed = models.BooleanField(_("chính người được xử lý dữ liệu đồng ý"))
    subject_age = models.PositiveSmallIntegerField(null=True, blank=True)
    channel = models.CharField(_("hình thức"), max_length=30)
    evidence_reference = models.CharField(_("chứng cứ lưu"), max_length=200)
    given_on = models.DateField(_("ngày đồng ý"))
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_on = models.DateField(_("ngày rút lại"), null=True, blank=True)
    withdrawn_by_guardian = models.ForeignKey(Guardian, on_delete=models.PROTECT, null=True,
                                              blank=True, related_name="+")
    withdrawn_by_subject = models.BooleanField(default=False)
    withdrawal_channel = models.CharField(max_length=30, blank=True)
    withdrawal_evidence = models.CharField(max_length=200, blank=True)
    withdrawal_recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL,
                                               on_delete=models.PROTECT, null=True, blank=True,
                                               related_name="+")

    class Meta:
        verbose_name = _("sự đồng ý")
        verbose_name_plural = _("sự đồng ý")
        indexes = [models.Index(fields=["subject_entity", "subject_id", "purpose"],
                                name="consent_subject_purpose")]
        constraints = [
            models.CheckConstraint(condition=Q(subject_agreed=True) | Q(guardian__isnull=False),
                                   name="consent_has_a_party"),
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True) | Q(withdrawn_by_subject=True)
                | Q(withdrawn_by_guardian__isnull=False),
                name="consent_withdrawal_has_a_party"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_entity}:{self.subject_id} {self.purpose}"

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None


class ConsentStatus(models.TextChoices):
    GIVEN = "given", _("Đã đồng ý")
    WITHDRAWN = "withdrawn", _("Đã rút lại")


class ConsentState(models.Model):
    """The current consent of one person for one purpose (no row: never given)."""

    purpose = models.CharField(max_length=40)
    subject_entity = models.CharField(max_length=10, choices=SubjectEntity.choices)
    subject_id = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=ConsentStatus.choices)
    consent = models.ForeignKey(Consent, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Also the index of the check: purpose first, so a batch of ids of one purpose is
            # one range of the index.
            models.UniqueConstraint(fields=["purpose", "subject_entity", "subject_id"],
                                    name="one_consent_state_per_subject_purpose"),
        ]
        indexes = [models.Index(fields=["subject_entity", "subject_id"],
                                name="consent_state_subject")]

    def __str__(self) -> str:
        return f"{self.subject_entity}:{self.subject_id} {self.purpose} {self.status}"


class PolicyAcknowledgement(models.Model):
    """A staff member read and acknowledged one version of the data-protection policy."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                             related_name="policy_acknowledgements")
    policy_version = models.CharField(max_length=20)
    acknowledged_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "policy_version"],
                                    name="one_acknowledgement_per_user_version"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.policy_version}"


class Incident(models.Model):
    """A personal-data breach: when it was detected, what happened (no personal data in the
    text), how many people are affected, what was done, and when the authority (A05) was
    notified. The notification deadline is computed from ``detected_at`` and the hours in the
    ``deadlines`` data file, never stored. A school's incident has ``school``; one of the
    authority as a whole has none."""

    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, related_name="+")
    school = models.ForeignKey(School, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+")
    detected_at = models.DateTimeField(_("thời điểm phát hiện"))
    title = models.CharField(_("tiêu đề"), max_length=200)
    description = models.TextField(_("mô tả"), max_length=4000)
    affected_count = models.PositiveIntegerField(_("số người bị ảnh hưởng"))
    actions_taken = models.TextField(_("biện pháp đã thực hiện"), max_length=4000, blank=True)
    notified_at = models.DateTimeField(_("thời điểm thông báo A05"), null=True, blank=True)
    notification_reference = models.CharField(_("số văn bản thông báo"), max_length=200,
                                              blank=True)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = _("sự cố dữ liệu cá nhân")
        verbose_name_plural = _("sự cố dữ liệu cá nhân")
        indexes = [models.Index(fields=["school", "detected_at"], name="incident_school_time")]

    def __str__(self) -> str:
        return f"{self.pk} {self.title}"

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        if grant.scope is Scope.AUTHORITY:
            return Q(authority_id=grant.authority_id)
        if grant.scope is Scope.SCHOOL:
            return Q(school_id=grant.school_id)
        return Q(pk__in=[])


class SubjectRequestKind(models.TextChoices):
    ACCESS = "access", _("Truy cập dữ liệu")
    CORRECTION = "correction", _("Chỉnh sửa dữ liệu")
    DELETION = "deletion", _("Xoá dữ liệu")
    RESTRICTION = "restriction", _("Hạn chế xử lý")
    OBJECTION = "objection", _("Phản đối xử lý")
    CONSENT_WITHDRAWAL = "consent_withdrawal", _("Rút lại sự đồng ý")


class RequesterRelation(models.TextChoices):
    GUARDIAN = "guardian", _("Cha mẹ/người giám hộ")
    SUBJECT = "subject", _("Chính học sinh")


class SubjectRequestStatus(models.TextChoices):
    RECEIVED = "received", _("Đã tiếp nhận")
    ACKNOWLEDGED = "acknowledged", _("Đã xác nhận đã nhận")
    IN_PROGRESS = "in_progress", _("Đang xử lý")
    ANSWERED = "answered", _("Đã trả lời")
    REFUSED = "refused", _("Từ chối")
    CLOSED = "closed", _("Đã đóng")


class SubjectRequest(models.Model):
    """A data-subject request (yêu cầu của chủ thể dữ liệu) about a pupil: what is asked, by whom
    (the parent/guardian or the pupil), through which channel, who handles it and the answer.
    The deadlines are computed from ``received_at``, the kind and the ``deadlines`` and
    ``holidays`` data files, never stored."""

    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, related_name="+")
    school = models.ForeignKey(School, on_delete=models.PROTECT, related_name="+")
    subject_entity = models.CharField(max_length=10, choices=SubjectEntity.choices,
                                      default=SubjectEntity.STUDENT)
    subject_id = models.BigIntegerField()
    kind = models.CharField(_("loại yêu cầu"), max_length=20,
                            choices=SubjectRequestKind.choices)
    received_at = models.DateTimeField(_("thời điểm tiếp nhận"))
    channel = models.CharField(_("hình thức"), max_length=30)
    requester_relation = models.CharField(_("người yêu cầu"), max_length=10,
                                          choices=RequesterRelation.choices)
    details = models.TextField(_("nội dung yêu cầu"), max_length=4000, blank=True)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+",
                                    verbose_name=_("người xử lý"))
    status = models.CharField(_("tình trạng"), max_length=20,
                              choices=SubjectRequestStatus.choices,
                              default=SubjectRequestStatus.RECEIVED)
    response = models.TextField(_("nội dung trả lời"), max_length=4000, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField()
    # None: sent by a parent through the portal (``channel`` says so), not keyed in by staff.
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+")
    requester_guardian = models.ForeignKey(Guardian, on_delete=models.PROTECT, null=True,
                                           blank=True, related_name="+")

    class Meta:
        verbose_name = _("yêu cầu của chủ thể dữ liệu")
        verbose_name_plural = _("yêu cầu của chủ thể dữ liệu")
        indexes = [
            models.Index(fields=["school", "status"], name="subject_request_school_status"),
            models.Index(fields=["subject_entity", "subject_id"], name="subject_request_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.pk} {self.kind} {self.subject_entity}:{self.subject_id}"

    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q:
        if grant.scope is Scope.AUTHORITY:
            return Q(authority_id=grant.authority_id)
        if grant.scope is Scope.SCHOOL:
            return Q(school_id=grant.school_id)
        return Q(pk__in=[])


class PortalLookup(models.Model):
    """One look-up on the parents' portal (``privacy.portal``): the identity typed, kept as a
    keyed hash for the rate limits; the pupil it matched — none when the education id and birth
    date matched nobody, which the person asking is never told; the codes sent to the guardian
    phones on file; and, once a code is entered, who proved themselves and until when the
    portal session lasts. The codes are derived from ``code_salt`` and the server's key, never
    stored."""

    token_hash = models.CharField(max_length=64, unique=True)
    identity_key = models.CharField(max_length=64)
    address_key = models.CharField(max_length=64)
    student = models.ForeignKey("registry.Student", on_delete=models.PROTECT, null=True,
                                blank=True, related_name="+")
    code_salt = models.CharField(max_length=32)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(null=True, blank=True)
    guardian = models.ForeignKey(Guardian, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+")
    session_ends_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["identity_key", "created_at"], name="portal_lookup_identity"),
            models.Index(fields=["address_key", "created_at"], name="portal_lookup_address"),
        ]

    def __str__(self) -> str:
        return f"portal lookup {self.pk}"


class PortalCode(models.Model):
    """A one-time code delivered for a look-up to one guardian's phone on file (the code itself
    is derived, not stored: see ``PortalLookup``)."""

    lookup = models.ForeignKey(PortalLookup, on_delete=models.PROTECT, related_name="codes")
    guardian = models.ForeignKey(Guardian, on_delete=models.PROTECT, related_name="+")
    sent_at = models.DateTimeField()
    message_id = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lookup", "guardian"],
                                               name="portal_code_once_per_guardian")]

    def __str__(self) -> str:
        return f"portal code {self.lookup_id}/{self.guardian_id}"


class PortalFailure(models.Model):
    """A wrong or expired code, counted per identity typed and per client address (keyed
    hashes) for the portal's lockout."""

    class Kind(models.TextChoices):
        IDENTITY = "identity"
        ADDRESS = "address"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    key_hash = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["kind", "key_hash", "occurred_at"],
                                name="portal_failure_key")]

    def __str__(self) -> str:
        return f"{self.kind} {self.occurred_at:%Y-%m-%d %H:%M}"


class PrivacyAlert(models.Model):
    """A message sent to a person in charge about one overdue item — a data-subject request
    not acknowledged or not answered in time, a breach not notified within the clock — once per
    item, kind and recipient (``privacy.alerts``)."""

    class Kind(models.TextChoices):
        REQUEST_ACKNOWLEDGE = "request_acknowledge"
        REQUEST_RESPOND = "request_respond"
        INCIDENT_DUE_SOON = "incident_due_soon"
        INCIDENT_OVERDUE = "incident_overdue"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    object_id = models.BigIntegerField()
    school = models.ForeignKey(School, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="+")
    sent_at = models.DateTimeField()
    message_id = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id", "recipient"],
                                               name="privacy_alert_once")]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} → {self.recipient_id}"
