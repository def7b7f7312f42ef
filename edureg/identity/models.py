"""Where each person stands against the national population register, and the verification
jobs that move them.

``IdentityState``: one row per person (a student or a staff member) — the state machine
(chưa xác thực → đã gửi → đã xác thực | sai lệch | không tìm thấy | không có số định danh), the
last answer field by field with its provenance (register, time, request id, who asked), and the
mismatch queue's own status. A row in ``sent`` belongs to a job; a worker leases it while the
call is in flight, so a killed worker's persons are taken up again when the lease runs out and
nobody else's are sent twice.

Persons are referred to by (entity, id), like the quality state: the registry's models sit
below this app and must not know of it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IdentityStatus(models.TextChoices):
    UNVERIFIED = "unverified", _("Chưa xác thực")
    SENT = "sent", _("Đã gửi, chờ kết quả")
    VERIFIED = "verified", _("Đã xác thực")
    MISMATCH = "mismatch", _("Sai lệch")
    NOT_FOUND = "not_found", _("Không tìm thấy")
    NO_ID = "no_id", _("Không có số định danh")


# The states a verification answer leaves a person in.
ANSWERED = (IdentityStatus.VERIFIED, IdentityStatus.MISMATCH, IdentityStatus.NOT_FOUND)


class NoIdReason(models.TextChoices):
    NO_BIRTH_CERTIFICATE = "no_birth_certificate", _("Chưa có giấy khai sinh")
    NOT_YET_ISSUED = "not_yet_issued", _("Đã khai sinh nhưng chưa được cấp số định danh")
    FOREIGN_NATIONAL = "foreign_national", _("Người nước ngoài")
    BORN_ABROAD = "born_abroad", _("Sinh ở nước ngoài, chưa ghi vào sổ hộ tịch")
    OTHER = "other", _("Lý do khác (ghi rõ)")


class QueueStatus(models.TextChoices):
    NONE = "", _("Không cần xử lý")
    OPEN = "open", _("Chờ xử lý")
    CORRECTION_REQUESTED = "correction_requested", _("Đã đề nghị đính chính CSDL dân cư")


class CannotSend(models.TextChoices):
    """Why a person was not sent (found before any call, by the quality rules)."""

    NONE = "", ""
    NO_ID_NUMBER = "no_id_number", _("Chưa có số định danh cá nhân")
    MALFORMED_ID = "malformed_id", _("Số định danh cá nhân không đúng cấu trúc")
    MISSING_FIELDS = "missing_fields", _("Thiếu họ tên, ngày sinh hoặc giới tính")
    REFUSED = "refused", _("CSDL dân cư từ chối yêu cầu (dữ liệu gửi đi không hợp lệ)")


class JobKind(models.TextChoices):
    PERSON = "person", _("Một người")
    CLASS = "class", _("Một lớp")
    SCHOOL = "school", _("Một trường")
    AUTHORITY = "authority", _("Toàn Sở")
    CHANGE = "change", _("Sau khi sửa thông tin định danh")


class JobStatus(models.TextChoices):
    RUNNING = "running", _("Đang chạy")
    DONE = "done", _("Đã xong")


class VerificationJob(models.Model):
    kind = models.CharField(max_length=10, choices=JobKind.choices)
    scope_id = models.BigIntegerField(null=True, blank=True)  # the class, school or authority
    school_id = models.BigIntegerField(null=True, blank=True)  # for scoping; NULL: authority
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=JobStatus.choices,
                              default=JobStatus.RUNNING)
    persons = models.IntegerField(default=0)  # sent when the job was created
    not_sendable = models.IntegerField(default=0)  # caught before any call
    answered = models.IntegerField(default=0)
    calls = models.IntegerField(default=0)
    failed_calls = models.IntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a worker is on it
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="identity_job_status")]


class IdentityState(models.Model):
    entity = models.CharField(max_length=10)
    record_id = models.BigIntegerField()
    school_id = models.BigIntegerField()
    status = models.CharField(max_length=12, choices=IdentityStatus.choices,
                              default=IdentityStatus.UNVERIFIED)
    # The last answer, per compared field: {"outcome": ..., "register_value": ...}.
    fields = models.JSONField(default=dict, blank=True)
    mismatched = models.JSONField(default=list, blank=True)  # field names
    # Digest of the identity values the last request carried: an answer about values that have
    # changed since is not stored as a verification.
    fingerprint = models.CharField(max_length=64, blank=True)
    cannot_send = models.CharField(max_length=20, choices=CannotSend.choices, blank=True)
    no_id_reason = models.CharField(_("lý do không có số định danh"), max_length=30,
                                    choices=NoIdReason.choices, blank=True)
    no_id_note = models.CharField(_("ghi chú"), max_length=300, blank=True)
    queue_status = models.CharField(max_length=24, choices=QueueStatus.choices, blank=True)
    queue_note = models.CharField(_("ghi chú xử lý"), max_length=300, blank=True)
    job = models.ForeignKey(VerificationJob, on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="states")
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     null=True, blank=True, related_name="+")
    requested_at = models.DateTimeField(null=True, blank=True)
    # Provenance of the last answer.
    register = models.CharField(max_length=60, blank=True)
    request_id = models.CharField(max_length=100, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answers = models.IntegerField(default=0)  # answers stored for this person, ever
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity", "record_id"],
                                               name="identity_state_one_per_person")]
        indexes = [
            models.Index(fields=["job", "status"], name="identity_state_job"),
            models.Index(fields=["school_id", "status"], name="identity_state_school"),
            models.Index(fields=["lease_owner"], name="identity_state_lease"),
        ]


class FeedHead(models.Model):
    """How far the audit log has been read for identity-field changes (the audit event is the
    outbox: every write leaves one in its transaction)."""

    name = models.CharField(max_length=20, primary_key=True)
    seq = models.BigIntegerField(default=0)
