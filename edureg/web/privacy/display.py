"""The "Đồng ý xử lý dữ liệu" card of the pupil's page, for those who may see consents
(``consent.view``); ``None`` for everyone else."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from edureg.access.policy import Actor
from edureg.privacy import portal
from edureg.privacy.policy import has_acknowledged
from edureg.privacy.purposes import purposes_in_force, required_parties
from edureg.privacy.selectors import student_consents
from edureg.registry.models import Student
from edureg.web.privacy.forms import ConsentGiveForm, ConsentWithdrawForm

Bound = dict[tuple[str, str], ConsentGiveForm | ConsentWithdrawForm]


def student_panel(actor: Actor, student: Student, bound: Bound | None = None
                  ) -> dict[str, Any] | None:
    """Each purpose that concerns pupils with its status, the consent in force and its history;
    for those who may record, a form to record consent (none given) or its withdrawal (one in
    force) — ``bound`` holds a form as posted, when it came back with errors."""
    overview = student_consents(actor=actor, student=student)
    if overview is None:
        return None
    purposes = purposes_in_force()
    guardians = [link.guardian for link in student.guardian_links.all()]
    acknowledged = overview.may_record and has_acknowledged(actor)
    bound = bound or {}
    channels = {portal.CHANNEL: portal.channel_name(portal.CHANNEL) or portal.CHANNEL,
                **{c.code: c.name for c in purposes.channels}}
    rows = []
    for row in overview.rows:
        code = row.purpose.code
        give: ConsentGiveForm | ConsentWithdrawForm | None = None
        withdraw: ConsentGiveForm | ConsentWithdrawForm | None = None
        if acknowledged and row.purpose.requires_consent:
            if row.current is None:
                give = bound.get(("give", code)) or ConsentGiveForm(
                    purpose=row.purpose, guardians=guardians, channels=purposes.channels)
            else:
                withdraw = bound.get(("withdraw", code)) or ConsentWithdrawForm(
                    purpose=row.purpose, guardians=guardians, channels=purposes.channels)
        channel = row.current.channel if row.current is not None else ""
        rows.append({"row": row, "give": give, "withdraw": withdraw,
                     "channel": channels.get(channel, channel),
                     "open": (("give", code) in bound) or (("withdraw", code) in bound)})
    return {
        "rows": rows,
        "may_record": overview.may_record,
        "acknowledged": acknowledged,
        "parties": required_parties(entity="student", date_of_birth=student.date_of_birth,
                                    on=timezone.localdate(), rules=purposes.rules),
        "rules": purposes.rules,
        "version": purposes.version,
    }
