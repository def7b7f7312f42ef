"""Stored quality state, kept current in the transaction of every write.

``RecordState``: one row per owner record (a student — whose guardians' findings count towards
it — or a staff member): required fields applied/filled, problem counts, the four dimension
flags and the open status rules as bits. ``Finding``: one row per problem found (a field to fix).
``QualityTotal``: the same counters summed per school and per class, changed by deltas on every
write, so dashboards read a few rows instead of aggregating millions. ``DailySnapshot``: the
school totals once a day, for trends; ``AuthoritySnapshot``: their sum per authority that day (an
authority's trend reads 30 rows, not 30 × its thousands of schools). ``FieldGroupCheck``: a
person (or the population register) confirmed a group of fields against a legal dossier, or
confirmed them still current. ``UpstreamPending``: a record has a change the national sector
database has not acknowledged yet (kept by the upward relay; it counts against "sống").

Records are referred to by (entity, id) rather than foreign keys: the registry sits above this
app (its services call it in their transactions).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Counters(models.Model):
    records = models.IntegerField(default=0)
    required_total = models.BigIntegerField(default=0)
    required_filled = models.BigIntegerField(default=0)
    errors = models.IntegerField(default=0)
    warnings = models.IntegerField(default=0)
    correct_ok = models.IntegerField(default=0)
    complete_ok = models.IntegerField(default=0)
    clean_ok = models.IntegerField(default=0)
    live_ok = models.IntegerField(default=0)

    class Meta:
        abstract = True


COUNTER_FIELDS = ("records", "required_total", "required_filled", "errors", "warnings",
                  "correct_ok", "complete_ok", "clean_ok", "live_ok")


class RecordState(models.Model):
    entity = models.CharField(max_length=10)
    record_id = models.BigIntegerField()
    school_id = models.BigIntegerField()
    class_id = models.BigIntegerField(null=True, blank=True)
    required_total = models.SmallIntegerField(default=0)
    required_filled = models.SmallIntegerField(default=0)
    errors = models.SmallIntegerField(default=0)
    warnings = models.SmallIntegerField(default=0)
    correct_ok = models.BooleanField(default=False)
    complete_ok = models.BooleanField(default=False)
    clean_ok = models.BooleanField(default=False)
    live_ok = models.BooleanField(default=False)
    status_bits = models.BigIntegerField(default=0)
    rule_set = models.CharField(max_length=40)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity", "record_id"],
                                               name="quality_state_one_per_record")]
        indexes = [models.Index(fields=["school_id", "entity"], name="quality_state_school"),
                   models.Index(fields=["class_id"], name="quality_state_class")]


class Finding(models.Model):
    owner_entity = models.CharField(max_length=10)
    owner_id = models.BigIntegerField()
    school_id = models.BigIntegerField()
    class_id = models.BigIntegerField(null=True, blank=True)
    entity = models.CharField(max_length=10)
    record_id = models.BigIntegerField()
    rule_code = models.CharField(max_length=80)
    field = models.CharField(max_length=60)
    dimension = models.CharField(max_length=4)
    severity = models.CharField(max_length=7)
    weight = models.SmallIntegerField(default=1)

    class Meta:
        indexes = [
            models.Index(fields=["owner_entity", "owner_id"], name="quality_finding_owner"),
            models.Index(fields=["school_id", "rule_code"], name="quality_finding_school_rule"),
            models.Index(fields=["class_id"], name="quality_finding_class"),
        ]


class QualityTotal(Counters):
    """Counters per school (``class_id`` NULL) or per class, per owner entity."""

    school_id = models.BigIntegerField()
    class_id = models.BigIntegerField(null=True, blank=True)
    entity = models.CharField(max_length=10)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["school_id", "entity"],
                                    condition=models.Q(class_id__isnull=True),
                                    name="quality_total_one_per_school"),
            models.UniqueConstraint(fields=["class_id", "entity"],
                                    condition=models.Q(class_id__isnull=False),
                                    name="quality_total_one_per_class"),
        ]


class DuplicateCounts(models.Model):
    """Duplicate candidates touching the records that day, by where they stand: still open,
    decided "not the same person", merged (a pair across two schools counts at both)."""

    duplicates_open = models.IntegerField(default=0)
    duplicates_not_same = models.IntegerField(default=0)
    duplicates_merged = models.IntegerField(default=0)

    class Meta:
        abstract = True


DUPLICATE_FIELDS = ("duplicates_open", "duplicates_not_same", "duplicates_merged")


class DailySnapshot(Counters, DuplicateCounts):
    school_id = models.BigIntegerField()
    entity = models.CharField(max_length=10)
    day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["school_id", "entity", "day"],
                                               name="quality_snapshot_one_per_day")]
        # The authority trend sums a day range over all its schools.
        indexes = [models.Index(fields=["entity", "day"], name="quality_snapshot_day")]


class AuthoritySnapshot(Counters, DuplicateCounts):
    """The day's snapshots of an authority's active schools, summed."""

    authority_id = models.BigIntegerField()
    entity = models.CharField(max_length=10)
    day = models.DateField()
    schools = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["authority_id", "entity", "day"],
                                               name="quality_authority_snapshot_one_per_day")]


class CheckKind(models.TextChoices):
    ATTEST = "attest", _("Đối chiếu hồ sơ gốc")
    REGISTER = "register", _("Xác thực với CSDL quốc gia về dân cư")
    CONFIRM = "confirm", _("Xác nhận còn đúng")
    CHANGE = "change", _("Cập nhật")


class FieldGroupCheck(models.Model):
    """Someone confirmed a field group of a record. ``ended_at`` is set when a field of the group
    changes afterwards (an attestation then no longer holds)."""

    entity = models.CharField(max_length=10)
    record_id = models.BigIntegerField()
    school_id = models.BigIntegerField()
    group = models.CharField(max_length=30)
    kind = models.CharField(max_length=10, choices=CheckKind.choices)
    document_type = models.CharField(_("loại giấy tờ"), max_length=40, blank=True)
    document_number = models.CharField(_("số giấy tờ"), max_length=60, blank=True)
    document_date = models.DateField(_("ngày cấp"), null=True, blank=True)
    checked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    checked_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["entity", "record_id", "group"],
                                name="quality_check_record_group")]


class SignOff(models.Model):
    """The principal signs off the school's data for a reporting round, with the scores as
    they stood (the round's figures cannot move afterwards)."""

    school_id = models.BigIntegerField()
    round_label = models.CharField(_("kỳ báo cáo"), max_length=60)
    note = models.CharField(_("ghi chú"), max_length=500, blank=True)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  related_name="+")
    signed_at = models.DateTimeField()
    scores = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["school_id", "round_label"],
                                               name="quality_sign_off_one_per_round")]


class UpstreamPending(models.Model):
    """A record with a change not yet acknowledged by the national sector database (waiting,
    retrying or parked). The upward relay adds the row when it takes the change in and removes
    it when the record's newest change is acknowledged; the "sống" status rule reads it."""

    entity = models.CharField(max_length=10)
    record_id = models.BigIntegerField()
    since = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity", "record_id"],
                                               name="quality_upstream_pending_one")]
