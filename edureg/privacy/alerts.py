"""Overdue alerts outside the pages: a text message to the people in charge when a
data-subject request is not acknowledged or not answered by its day, and when a breach is
close to (24 hours before) or past its notification clock without having been notified.

Who is told: the school's principals (current membership), through the phone of their staff
record; for a breach recorded at the authority, the authority officers. Each item is told to
each person once (``PrivacyAlert``, unique per kind, item and recipient); a message that could
not be sent is tried again at the next run. The texts carry numbers and counts, never a
pupil's name.

``edureg schedule`` runs ``privacy_alerts_send`` every ``EDUREG_PRIVACY_ALERT_SECONDS``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.models import Membership
from edureg.access.roles import Role
from edureg.audit import actions
from edureg.audit.services import audit_record
from edureg.core.messages import message_sender
from edureg.core.messages.port import Message, MessageError
from edureg.core.phone import MOBILE, PhoneError, normalise_phone
from edureg.privacy.deadlines import deadlines_in_force, notification_deadline
from edureg.privacy.models import Incident, PrivacyAlert, SubjectRequest
from edureg.privacy.subject_requests import OPEN, request_row
from edureg.privacy.workdays import holidays
from edureg.registry.models import Staff

logger = logging.getLogger("edureg.privacy.alerts")
Kind = PrivacyAlert.Kind
DUE_SOON = dt.timedelta(hours=24)


@dataclasses.dataclass(frozen=True)
class Due:
    kind: str
    object_id: int
    school_id: int | None
    authority_id: int
    text: str


def _requests_due(today: dt.date) -> list[Due]:
    deadlines = deadlines_in_force()
    rules = deadlines.subject_requests
    if rules is None:
        return []
    days_off = holidays()
    due: list[Due] = []
    for request in SubjectRequest.objects.filter(status__in=OPEN).order_by("pk"):
        row = request_row(request, student=None, today=today, rules=rules, days_off=days_off)
        if row.acknowledge_overdue:
            due.append(Due(Kind.REQUEST_ACKNOWLEDGE, request.pk, request.school_id,
                           request.authority_id, _(
                "edureg: yêu cầu số %(number)d của chủ thể dữ liệu chưa được xác nhận đã nhận "
                "(hạn %(day)s). Vui lòng xử lý tại mục Bảo vệ dữ liệu.") % {
                    "number": request.pk, "day": row.clock.acknowledge_by.strftime("%d/%m/%Y")}))
        if row.respond_overdue:
            due.append(Due(Kind.REQUEST_RESPOND, request.pk, request.school_id,
                           request.authority_id, _(
                "edureg: yêu cầu số %(number)d của chủ thể dữ liệu đã quá hạn trả lời (hạn "
                "%(day)s). Vui lòng xử lý tại mục Bảo vệ dữ liệu.") % {
                    "number": request.pk, "day": row.clock.respond_by.strftime("%d/%m/%Y")}))
    return due


def _incidents_due(now: dt.datetime) -> list[Due]:
    hours = deadlines_in_force().breach_notification_hours
    due: list[Due] = []
    for incident in Incident.objects.filter(notified_at__isnull=True).order_by("pk"):
        deadline = notification_deadline(incident.detected_at, hours)
        when = timezone.localtime(deadline).strftime("%H:%M %d/%m/%Y")
        if now > deadline:
            due.append(Due(Kind.INCIDENT_OVERDUE, incident.pk, incident.school_id,
                           incident.authority_id, _(
                "edureg: sự cố dữ liệu số %(number)d đã quá hạn thông báo cho A05 (hạn "
                "%(when)s). Thông báo ngay và ghi nhận tại mục Sự cố.") % {
                    "number": incident.pk, "when": when}))
        elif deadline - now <= DUE_SOON:
            due.append(Due(Kind.INCIDENT_DUE_SOON, incident.pk, incident.school_id,
                           incident.authority_id, _(
                "edureg: sự cố dữ liệu số %(number)d phải được thông báo cho A05 trước "
                "%(when)s.") % {"number": incident.pk, "when": when}))
    return due


def recipients(*, school_id: int | None, authority_id: int,
               on: dt.date) -> list[tuple[int, str]]:
    """(user id, mobile number) of the people in charge: the school's principals, or the
    authority's officers for an item without a school."""
    members = Membership.objects.current(on).filter(authority_id=authority_id)
    if school_id is not None:
        members = members.filter(school_id=school_id, role=Role.PRINCIPAL)
    else:
        members = members.filter(school__isnull=True, role=Role.AUTHORITY_OFFICER)
    user_ids = set(members.values_list("user_id", flat=True))
    found: list[tuple[int, str]] = []
    for user_id, phone in (Staff.objects.filter(user_id__in=user_ids)
                           .values_list("user_id", "phone").order_by("user_id")):
        try:
            number = normalise_phone(phone or "")
        except PhoneError:
            continue
        if MOBILE.fullmatch(number):
            found.append((user_id, number))
    return found


def privacy_alerts_send(*, now: dt.datetime | None = None) -> int:
    """Send the alerts not sent yet; returns how many went out."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    due = [*_requests_due(today), *_incidents_due(now)]
    if not due:
        return 0
    sent_already = set(PrivacyAlert.objects.filter(
        object_id__in={d.object_id for d in due}).values_list("kind", "object_id",
                                                              "recipient_id"))
    sent = 0
    for item in due:
        for user_id, phone in recipients(school_id=item.school_id,
                                         authority_id=item.authority_id, on=today):
            if (item.kind, item.object_id, user_id) in sent_already:
                continue
            reference = f"alert-{item.kind}-{item.object_id}-{user_id}"
            try:
                message_id = message_sender().send(Message(to=phone, text=item.text,
                                                           reference=reference))
            except MessageError as error:
                logger.warning("privacy alert %s not sent (permanent=%s, status=%s)",
                               reference, error.permanent, error.status)
                continue
            try:
                with transaction.atomic():
                    PrivacyAlert.objects.create(
                        kind=item.kind, object_id=item.object_id, school_id=item.school_id,
                        recipient_id=user_id, sent_at=timezone.now(),
                        message_id=message_id[:100])
                    audit_record(actor=None, action=actions.PRIVACY_ALERT_SENT,
                                 entity="privacy_alert", entity_id=item.object_id,
                                 school_id=item.school_id,
                                 data={"kind": item.kind, "recipient": user_id})
            except IntegrityError:  # another scheduler sent it at the same time
                continue
            sent += 1
    return sent

