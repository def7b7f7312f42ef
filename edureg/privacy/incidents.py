"""The register of personal-data breaches (sự cố): record, update, notify the authority (A05),
and the principal's / IT officer's list with the 72-hour clock. Every write authorises
(``incident.manage``), checks its input, and leaves its audit event in the same transaction.

The texts describe what happened, never who: no names, ID numbers or phones of the people
affected (the form says so; only their count is kept)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from typing import Final, cast

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, get_scoped_or_404, require
from edureg.access.roles import Perm
from edureg.audit.services import audit_record
from edureg.core.text import TextValueError, clean_text
from edureg.privacy.deadlines import Deadlines, deadlines_in_force, notification_deadline
from edureg.privacy.models import Incident
from edureg.schools.models import School

# Audit actions of the register (``<entity>.<verb>``: writes).
INCIDENT_RECORDED: Final = "incident.recorded"
INCIDENT_UPDATED: Final = "incident.updated"
INCIDENT_NOTIFIED: Final = "incident.notified"

_TITLE_MAX = 200
_TEXT_MAX = 4000
_REFERENCE_MAX = 200
_COUNT_MAX = 10_000_000


@dataclasses.dataclass(frozen=True)
class IncidentData:
    detected_at: dt.datetime | None
    title: str
    description: str
    affected_count: int | None
    actions_taken: str


def _line(value: str, field: str, label: str, limit: int, errors: dict[str, list[str]],
          *, required: bool = True) -> str:
    try:
        cleaned = clean_text(value or "", max_length=limit)
    except TextValueError as error:
        errors[field] = [f"{label}: {error.message}"]
        return ""
    if required and not cleaned:
        errors[field] = [_("Hãy nhập %(field)s.") % {"field": label}]
    return cleaned


def multiline_text(value: str, field: str, label: str, errors: dict[str, list[str]],
          *, required: bool) -> str:
    """A multi-line text: NFC, line breaks kept (\\n), other control characters refused."""
    cleaned = unicodedata.normalize("NFC", value or "").replace("\r\n", "\n").strip()
    if any(unicodedata.category(c) in {"Cc", "Cf"} and c != "\n" for c in cleaned):
        errors[field] = [_("%(field)s chứa ký tự không hợp lệ.") % {"field": label}]
    elif len(cleaned) > _TEXT_MAX:
        errors[field] = [_("%(field)s dài quá %(limit)d ký tự.") % {
            "field": label, "limit": _TEXT_MAX}]
    elif required and not cleaned:
        errors[field] = [_("Hãy nhập %(field)s.") % {"field": label}]
    return cleaned


def _check(data: IncidentData, errors: dict[str, list[str]]) -> tuple[str, str, str]:
    if data.detected_at is None:
        errors["detected_at"] = [_("Hãy nhập thời điểm phát hiện sự cố.")]
    elif data.detected_at > timezone.now():
        errors["detected_at"] = [_("Thời điểm phát hiện không được sau hiện tại.")]
    if data.affected_count is None or not 0 <= data.affected_count <= _COUNT_MAX:
        errors["affected_count"] = [_("Số người bị ảnh hưởng phải là số nguyên từ 0 đến "
                                      "%(max)d.") % {"max": _COUNT_MAX}]
    title = _line(data.title, "title", _("tiêu đề"), _TITLE_MAX, errors)
    description = multiline_text(data.description, "description", _("mô tả sự cố"), errors,
                        required=True)
    actions_taken = multiline_text(data.actions_taken, "actions_taken", _("biện pháp đã thực hiện"),
                          errors, required=False)
    return title, description, actions_taken


def incident_record(*, actor: Actor, school: School, data: IncidentData) -> Incident:
    """Record a breach detected at ``school``."""
    require(actor, Perm.INCIDENT_MANAGE, school)
    errors: dict[str, list[str]] = {}
    title, description, actions_taken = _check(data, errors)
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        incident = Incident.objects.create(
            authority_id=school.authority_id, school=school,
            detected_at=cast(dt.datetime, data.detected_at), title=title,
            description=description, affected_count=cast(int, data.affected_count),
            actions_taken=actions_taken, recorded_at=now, recorded_by_id=cast(int, actor.pk),
            updated_at=now)
        audit_record(actor=actor, action=INCIDENT_RECORDED, entity="incident",
                     entity_id=incident.pk, school_id=school.pk, data={
                         "detected_at": incident.detected_at.isoformat(),
                         "affected_count": incident.affected_count})
    return incident


def incident_get(*, actor: Actor, school_id: int, incident_id: int) -> Incident:
    """One incident of the school, through the actor's scope (elsewhere or missing: 404)."""
    return get_scoped_or_404(Incident.objects.all(), actor, Perm.INCIDENT_MANAGE,
                             pk=incident_id, school_id=school_id)


def incident_update(*, actor: Actor, school_id: int, incident_id: int,
                    data: IncidentData) -> Incident:
    """Correct an incident's facts and the actions taken (the count may grow as it is
    investigated)."""
    incident = incident_get(actor=actor, school_id=school_id, incident_id=incident_id)
    errors: dict[str, list[str]] = {}
    title, description, actions_taken = _check(data, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        before = {"detected_at": incident.detected_at.isoformat(),
                  "affected_count": incident.affected_count}
        incident.detected_at = cast(dt.datetime, data.detected_at)
        incident.title, incident.description = title, description
        incident.affected_count = cast(int, data.affected_count)
        incident.actions_taken = actions_taken
        incident.updated_at = timezone.now()
        incident.save(update_fields=["detected_at", "title", "description", "affected_count",
                                     "actions_taken", "updated_at"])
        audit_record(actor=actor, action=INCIDENT_UPDATED, entity="incident",
                     entity_id=incident.pk, school_id=incident.school_id, data={
                         "before": before,
                         "after": {"detected_at": incident.detected_at.isoformat(),
                                   "affected_count": incident.affected_count}})
    return incident


def incident_notify(*, actor: Actor, school_id: int, incident_id: int,
                    notified_at: dt.datetime | None, reference: str) -> Incident:
    """Record that the authority (A05) was notified, when, and the reference of the notice."""
    incident = incident_get(actor=actor, school_id=school_id, incident_id=incident_id)
    errors: dict[str, list[str]] = {}
    when = notified_at or timezone.now()
    if when > timezone.now():
        errors["notified_at"] = [_("Thời điểm thông báo không được sau hiện tại.")]
    elif when < incident.detected_at:
        errors["notified_at"] = [_("Thời điểm thông báo không được trước thời điểm phát hiện "
                                   "sự cố.")]
    cleaned = _line(reference, "notification_reference", _("số văn bản thông báo"),
                    _REFERENCE_MAX, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        if incident.notified_at is not None:
            raise ValidationError({"notified_at": [_(
                "Sự cố này đã được ghi nhận thông báo cho cơ quan chức năng.")]})
        incident.notified_at, incident.notification_reference = when, cleaned
        incident.updated_at = timezone.now()
        incident.save(update_fields=["notified_at", "notification_reference", "updated_at"])
        audit_record(actor=actor, action=INCIDENT_NOTIFIED, entity="incident",
                     entity_id=incident.pk, school_id=incident.school_id, data={
                         "notified_at": when.isoformat(), "reference": cleaned})
    return incident


# --- The register with its clock ------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class IncidentRow:
    incident: Incident
    deadline: dt.datetime
    overdue: bool  # not notified and the deadline has passed, or notified after it
    hours_left: int | None  # whole hours until the deadline while not notified; None after


def incident_row(incident: Incident, *, now: dt.datetime, hours: int) -> IncidentRow:
    deadline = notification_deadline(incident.detected_at, hours)
    if incident.notified_at is not None:
        return IncidentRow(incident=incident, deadline=deadline,
                           overdue=incident.notified_at > deadline, hours_left=None)
    left = (deadline - now).total_seconds() / 3600
    return IncidentRow(incident=incident, deadline=deadline, overdue=now > deadline,
                       hours_left=max(int(left), 0))


@dataclasses.dataclass(frozen=True)
class IncidentRegister:
    school: School
    deadlines: Deadlines
    rows: list[IncidentRow]

    @property
    def overdue(self) -> list[IncidentRow]:
        return [row for row in self.rows if row.overdue]


def incident_register(*, actor: Actor, school_id: int) -> IncidentRegister:
    """The school's incidents, newest first, each with its notification deadline. They hold
    no personal data, so reading them is not a read of personal data to audit."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.INCIDENT_MANAGE, pk=school_id)
    deadlines = deadlines_in_force()
    now = timezone.now()
    incidents = list(Incident.objects.filter(school=school)
                     .select_related("recorded_by").order_by("-detected_at", "-pk"))
    return IncidentRegister(school=school, deadlines=deadlines, rows=[
        incident_row(i, now=now, hours=deadlines.breach_notification_hours) for i in incidents])
