"""The data-protection policy staff must read, versioned as data (``data/policy/``), and the
acknowledgement hook: sensitive actions (recording consents, handling requests and incidents)
are refused, and sensitive fields stay hidden (``visibility_for``), until the actor has
acknowledged the version in force."""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.models import Membership
from edureg.access.policy import Actor, get_scoped_or_404
from edureg.access.roles import Perm, Role
from edureg.access.visibility import Visibility, visibility
from edureg.audit import actions
from edureg.audit.services import audit_read, audit_record
from edureg.core.catalogue import active_catalogue
from edureg.privacy.datafiles import PrivacyDataError, document
from edureg.privacy.models import PolicyAcknowledgement
from edureg.schools.models import School

DATA_SET = "policy"


@dataclasses.dataclass(frozen=True)
class PolicySection:
    heading: str
    text: str


@dataclasses.dataclass(frozen=True)
class PolicyVersion:
    version: str
    valid_from: dt.date
    title: str
    sections: tuple[PolicySection, ...]


class PolicyNotAcknowledged(Exception):
    """The actor has not acknowledged the policy in force; ``message`` says so in Vietnamese."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.message = _(
            "Bạn cần đọc và xác nhận Quy chế bảo vệ dữ liệu cá nhân (phiên bản %(version)s) "
            "trước khi thực hiện thao tác này.") % {"version": version}
        super().__init__(self.message)


@lru_cache(maxsize=8)
def _parsed(version: str) -> PolicyVersion:
    file, data = document(DATA_SET, version)
    title = data.get("title")
    sections = data.get("sections")
    if not isinstance(title, str) or not title or not isinstance(sections, list) or not sections:
        raise PrivacyDataError(f"policy/{version}: needs a 'title' and a list of 'sections'")
    parsed: list[PolicySection] = []
    for raw in sections:
        if not (isinstance(raw, dict) and isinstance(raw.get("heading"), str)
                and isinstance(raw.get("text"), str)):
            raise PrivacyDataError(f"policy/{version}: each section needs 'heading' and 'text'")
        parsed.append(PolicySection(heading=raw["heading"], text=raw["text"]))
    return PolicyVersion(version=file.version, valid_from=file.valid_from, title=title,
                         sections=tuple(parsed))


def policy_in_force(*, on: dt.date | None = None) -> PolicyVersion:
    file, _data = document(DATA_SET, on=on)
    return _parsed(file.version)


_ACKNOWLEDGED = "_edureg_policy_acknowledged"  # per-request memo on the user object


def has_acknowledged(actor: Actor, version: str | None = None) -> bool:
    if not actor.is_authenticated:
        return False
    wanted = version or policy_in_force().version
    memo: dict[str, bool] = actor.__dict__.setdefault(_ACKNOWLEDGED, {})
    if wanted not in memo:
        memo[wanted] = PolicyAcknowledgement.objects.filter(user_id=actor.pk,
                                                            policy_version=wanted).exists()
    return memo[wanted]


def sensitive_withheld(actor: Actor, entity: str, *, school_id: int | None = None
                       ) -> frozenset[str]:
    """The sensitive fields the actor's job position may see but that stay hidden until they
    acknowledge the policy in force (empty once they have)."""
    seen = visibility(actor, entity, school_id=school_id)
    pending = active_catalogue().sensitive_names(entity) - seen.hidden
    if not pending or has_acknowledged(actor):
        return frozenset()
    return pending


def visibility_for(actor: Actor, entity: str, *, school_id: int | None = None) -> Visibility:
    """What the actor may see of ``entity`` records: the job position's visibility
    (``access.visibility``), with the sensitive fields (ethnicity, religion, health,
    disability…) hidden — so neither shown nor editable — until the actor has acknowledged the
    data-protection policy in force."""
    seen = visibility(actor, entity, school_id=school_id)
    pending = active_catalogue().sensitive_names(entity) - seen.hidden
    if pending and not has_acknowledged(actor):
        return Visibility(hidden=seen.hidden | pending, masked=seen.masked)
    return seen


def require_acknowledged(actor: Actor) -> None:
    """The hook in front of sensitive actions."""
    version = policy_in_force().version
    if not has_acknowledged(actor, version):
        raise PolicyNotAcknowledged(version)


def policy_acknowledge(*, actor: Actor, version: str) -> PolicyAcknowledgement:
    """The actor read ``version`` (the one shown to them, which must still be in force)."""
    current = policy_in_force().version
    if version != current:
        raise ValidationError({"version": [_(
            "Quy chế vừa được cập nhật lên phiên bản %(version)s; hãy đọc lại trước khi xác "
            "nhận.") % {"version": current}]})
    if not actor.is_authenticated:
        raise PolicyNotAcknowledged(current)
    actor.__dict__.pop(_ACKNOWLEDGED, None)
    existing = PolicyAcknowledgement.objects.filter(user_id=actor.pk,
                                                    policy_version=current).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            acknowledgement = PolicyAcknowledgement.objects.create(
                user_id=actor.pk, policy_version=current, acknowledged_at=timezone.now())
            audit_record(actor=actor, action=actions.POLICY_ACKNOWLEDGED, entity="user",
                         entity_id=actor.pk, data={"policy_version": current})
    except IntegrityError:  # acknowledged twice at once: the first stands
        return PolicyAcknowledgement.objects.get(user_id=actor.pk, policy_version=current)
    return acknowledgement


@dataclasses.dataclass(frozen=True)
class AcknowledgementRow:
    user_id: int
    name: str
    roles: tuple[str, ...]
    acknowledged_at: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class AcknowledgementOverview:
    school: School
    policy: PolicyVersion
    pending: list[AcknowledgementRow]
    done: list[AcknowledgementRow]


def acknowledgement_overview(*, actor: Actor, school_id: int) -> AcknowledgementOverview:
    """Who among the school's current staff accounts has (not) acknowledged the policy in
    force; for the principal (``policy.ack_review``). The accounts listed are audited."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.POLICY_ACK_REVIEW, pk=school_id)
    current = policy_in_force()
    memberships = (Membership.objects.current().filter(school=school, user__is_active=True)
                   .select_related("user").order_by("user__full_name", "user_id"))
    roles: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    for membership in memberships:
        names[membership.user_id] = str(membership.user)
        roles.setdefault(membership.user_id, []).append(str(Role(membership.role).label))
    acknowledged = dict(PolicyAcknowledgement.objects.filter(
        user_id__in=list(names), policy_version=current.version,
    ).values_list("user_id", "acknowledged_at"))
    rows = [AcknowledgementRow(user_id=user_id, name=name, roles=tuple(roles[user_id]),
                               acknowledged_at=acknowledged.get(user_id))
            for user_id, name in names.items()]
    audit_read(actor=actor, entity="user", ids=list(names), school_id=school.pk,
               view="policy_acknowledgements")
    return AcknowledgementOverview(
        school=school, policy=current,
        pending=[row for row in rows if row.acknowledged_at is None],
        done=[row for row in rows if row.acknowledged_at is not None])
