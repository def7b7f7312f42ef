"""The transfer blocks of the pupil's page and the school's page, for the people who may ask
for or decide on a move (``student.transfer``); ``None`` for everyone else."""

from __future__ import annotations

from typing import Any

from edureg.access.policy import Actor, has_perm_at, may
from edureg.access.roles import Perm
from edureg.registry import transfer_selectors
from edureg.registry.models import Student, TransferStatus
from edureg.schools.models import School
from edureg.web.transfers.forms import TransferRequestForm


def student_panel(actor: Actor, student: Student,
                  form: TransferRequestForm | None = None) -> dict[str, Any] | None:
    """The "Chuyển trường" card: the open request (with its cancel button) or the request form
    (``form`` as posted, when it came back with errors), and the pupil's past transfers."""
    if not (has_perm_at(actor, Perm.STUDENT_TRANSFER, student.school_id)
            and may(actor, Perm.STUDENT_TRANSFER, student)):
        return None
    transfers = transfer_selectors.transfers_of_student(student=student)
    pending = next((t for t in transfers if t.status == TransferStatus.REQUESTED), None)
    if pending is None and form is None:
        form = TransferRequestForm(
            schools=transfer_selectors.transfer_destinations(student=student))
    return {
        "pending": pending,
        "form": form if pending is None else None,
        "past": [t for t in transfers if t.status != TransferStatus.REQUESTED],
    }


def school_links(actor: Actor, school: School) -> dict[str, Any] | None:
    """The school page's links to the incoming and outgoing requests, with the number waiting."""
    if not has_perm_at(actor, Perm.STUDENT_TRANSFER, school.pk):
        return None
    return {"incoming_count": transfer_selectors.incoming_count(actor=actor, school=school)}
