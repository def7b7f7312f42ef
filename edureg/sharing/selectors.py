"""Reading sharing agreements for the authority officer's screens (no personal data)."""

from __future__ import annotations

import dataclasses

from django.utils import timezone

from edureg.access.policy import Actor, scope
from edureg.access.roles import Perm
from edureg.core.catalogue import active_catalogue
from edureg.privacy.purposes import purposes_in_force
from edureg.schools.models import Authority
from edureg.sharing.models import AgreementStatus, SharingAgreement
from edureg.sharing.services import sharing_authority


@dataclasses.dataclass(frozen=True)
class AgreementRow:
    agreement: SharingAgreement
    status: AgreementStatus
    purpose_name: str
    field_labels: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class AgreementList:
    authority: Authority
    rows: tuple[AgreementRow, ...]


def agreement_list(*, actor: Actor, authority_id: int) -> AgreementList:
    """The authority's agreements, newest first, each with its status today."""
    authority = sharing_authority(actor, authority_id)
    today = timezone.localdate()
    purposes = purposes_in_force()
    labels = {f.name: f.label for f in active_catalogue().for_entity("student")}
    agreements = scope(SharingAgreement.objects.filter(authority=authority), actor,
                       Perm.SHARING_MANAGE).select_related("agency", "application",
                                                           "revoked_by").order_by("-created_at",
                                                                                  "-pk")
    rows = []
    for agreement in agreements:
        purpose = purposes.get(agreement.purpose)
        rows.append(AgreementRow(
            agreement=agreement, status=agreement.status(today),
            purpose_name=purpose.name if purpose is not None else agreement.purpose,
            field_labels=tuple(labels.get(name, name) for name in agreement.allowed_fields)))
    return AgreementList(authority=authority, rows=tuple(rows))
