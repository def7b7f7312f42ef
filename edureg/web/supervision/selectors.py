"""What the supervision screens show, composed from the audit log, the access policy and the
registry. ``audit`` sits below ``access`` and ``registry`` in the layers, so the audit queries
take plain school ids and this module (the first layer that may see all three) joins them:
scope first (``Perm.AUDIT_VIEW``: the principal's school, an authority officer's schools), then
one audit query per page, then names for the ids on that page only.

Every screen leaves its own ``audit.read`` event listing the filters used."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from edureg.access.models import Membership, User
from edureg.access.policy import Actor, grants, require, scope
from edureg.access.roles import ROLE_PERMS, ROLE_SCOPE, ROLES_REQUIRING_2FA, Perm, Role, Scope
from edureg.audit import actions
from edureg.audit.actions import Kind
from edureg.audit.models import AuditEvent
from edureg.audit.selectors import (
    EventFilter,
    EventPage,
    events_page,
    records_read_by_actor,
    seq_range,
    students_read_by,
)
from edureg.audit.services import audit_record
from edureg.audit.unusual import (
    Flag,
    Rule,
    Thresholds,
    night_flag,
    night_windows,
    outside_classes,
    outside_classes_flag,
    volume_flag,
)
from edureg.core.catalogue import active_catalogue
from edureg.core.codelists import get_list
from edureg.registry.models import Assignment, Staff, Student
from edureg.schools.models import School

ENTITY_LABELS: Mapping[str, Any] = {
    "student": _("Học sinh"), "staff": _("Cán bộ"), "guardian": _("Cha mẹ, người giám hộ"),
}
RULE_LABELS: Mapping[Rule, Any] = {
    Rule.NIGHT: _("Xem hồ sơ ban đêm"),
    Rule.VOLUME: _("Xem nhiều hơn hẳn thường ngày"),
    Rule.OUTSIDE_CLASSES: _("Xem hồ sơ ngoài lớp được phân công"),
}
INACTIVE_DAYS_DEFAULT = 60


@dataclasses.dataclass(frozen=True)
class SupervisionScope:
    schools: Sequence[School]  # all the actor may supervise
    school_ids: Sequence[int]  # those this page covers (one when a school is chosen)
    covers_authority: bool

    @property
    def choices(self) -> list[tuple[int, str]]:
        return [(school.pk, school.name) for school in self.schools]


def supervision_scope(actor: Actor, school_id: int | None = None) -> SupervisionScope:
    """403 without ``AUDIT_VIEW``; 404 for a school outside the actor's reach."""
    require(actor, Perm.AUDIT_VIEW)
    schools = list(scope(School.objects.all(), actor, Perm.AUDIT_VIEW).order_by("name"))
    chosen = schools if school_id is None else [s for s in schools if s.pk == school_id]
    if school_id is not None and not chosen:
        raise Http404
    covers_authority = any(grant.scope is Scope.AUTHORITY and Perm.AUDIT_VIEW in
                           ROLE_PERMS[grant.role] for grant in grants(actor))
    return SupervisionScope(schools=schools, school_ids=[s.pk for s in chosen],
                            covers_authority=covers_authority)


def record_supervision_read(actor: Actor, view: str, where: SupervisionScope,
                            filters: Mapping[str, object]) -> None:
    """The supervision screens are themselves audited: which screen, which filters."""
    ids = list(where.school_ids)
    shown = {name: str(value) for name, value in filters.items()
             if value not in (None, "") and name != "truong"}
    with transaction.atomic():
        audit_record(actor=actor, action=actions.AUDIT_READ, entity="audit",
                     school_id=ids[0] if len(ids) == 1 else None,
                     data={"view": view, "filters": shown, "school_ids": ids})


def _local(moment: dt.date, *, end: bool = False) -> dt.datetime:
    day = moment + dt.timedelta(days=1) if end else moment
    return dt.datetime.combine(day, dt.time(0), timezone.get_current_timezone())


def actor_id_for(username: str) -> int | None:
    """The account with this username; -1 (matches nothing) when there is none."""
    if not username:
        return None
    found = User.objects.filter(username=username).values_list("pk", flat=True).first()
    return -1 if found is None else found


def page_of(where: SupervisionScope, kind: Kind, filters: Mapping[str, Any]) -> EventPage:
    start, end = filters.get("tu_ngay"), filters.get("den_ngay")
    spec = EventFilter(
        school_ids=where.school_ids, kind=kind,
        actor_id=actor_id_for(filters.get("nguoi") or ""),
        entity=filters.get("doi_tuong") or None,
        entity_id=filters.get("ma") or None,
        field=filters.get("truong_du_lieu") or None,
        start=_local(start) if start else None,
        end=_local(end, end=True) if end else None,
    )
    return events_page(spec, before=filters.get("truoc"))


# Rows ---------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Record:
    entity: str
    entity_id: str
    name: str
    url: str | None


@dataclasses.dataclass(frozen=True)
class Change:
    field: str
    label: str
    old: object
    new: object


@dataclasses.dataclass(frozen=True)
class EventRow:
    seq: int
    occurred_at: dt.datetime
    actor_name: str
    actor_username: str
    action: str
    records: Sequence[Record]
    changes: Sequence[Change] = ()
    created_fields: Sequence[str] = ()
    view: str = ""
    method: str = ""
    path: str = ""
    status: int | None = None


def _actor_name(event: AuditEvent) -> tuple[str, str]:
    if event.actor is not None:
        return str(event.actor), event.actor.username
    return event.actor_label, event.actor_label


def _record_names(actor: Actor, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Names of the students and staff on this page, through the actor's own scope."""
    by_entity: dict[str, set[int]] = {}
    for entity, entity_id in wanted:
        if entity_id.isdigit():
            by_entity.setdefault(entity, set()).add(int(entity_id))
    names: dict[tuple[str, str], str] = {}
    for entity, model, perm in (("student", Student, Perm.STUDENT_VIEW),
                                ("staff", Staff, Perm.STAFF_VIEW)):
        ids = by_entity.get(entity)
        if ids:
            rows = scope(model.objects.filter(pk__in=ids), actor, perm).values_list(
                "pk", "full_name")
            names.update({(entity, str(pk)): name for pk, name in rows})
    return names


def _record(entity: str, entity_id: str, names: Mapping[tuple[str, str], str]) -> Record:
    name = names.get((entity, entity_id))
    label = ENTITY_LABELS.get(entity, entity)
    url = reverse("web:student", args=[entity_id]) if entity == "student" and name else None
    return Record(entity, entity_id, name or f"{label} #{entity_id}", url)


def change_rows(actor: Actor, events: Sequence[AuditEvent]) -> list[EventRow]:
    names = _record_names(actor, ((e.entity, e.entity_id) for e in events))
    catalogue = active_catalogue()
    rows = []
    for event in events:
        changes = event.data.get("changes") if isinstance(event.data, dict) else None
        listed = []
        if isinstance(changes, dict):
            for field, values in sorted(changes.items()):
                info = catalogue.get(event.entity, field)
                old, new = [*values, None, None][:2] if isinstance(values, list) else (None, None)
                listed.append(Change(field, info.label if info else field, old, new))
        created = event.data.get("fields", []) if isinstance(event.data, dict) else []
        actor_name, username = _actor_name(event)
        rows.append(EventRow(
            seq=event.seq, occurred_at=event.occurred_at, actor_name=actor_name,
            actor_username=username, action=event.action,
            records=[_record(event.entity, event.entity_id, names)] if event.entity_id else [],
            changes=listed, created_fields=[str(f) for f in created] if not listed else [],
        ))
    return rows


def read_rows(actor: Actor, events: Sequence[AuditEvent]) -> list[EventRow]:
    wanted = [(e.entity, str(i)) for e in events for i in (e.data.get("ids") or [])]
    names = _record_names(actor, wanted)
    rows = []
    for event in events:
        actor_name, username = _actor_name(event)
        if event.action == actions.AUDIT_READ:
            filters = event.data.get("filters") or {}
            view = f"{event.data.get('view', '')} " + ", ".join(
                f"{k}={v}" for k, v in sorted(filters.items()))
            records: list[Record] = []
        else:
            view = str(event.data.get("view", ""))
            records = [_record(event.entity, str(i), names) for i in event.data.get("ids") or []]
        rows.append(EventRow(seq=event.seq, occurred_at=event.occurred_at,
                             actor_name=actor_name, actor_username=username,
                             action=event.action, records=records, view=view.strip()))
    return rows


def denied_rows(events: Sequence[AuditEvent]) -> list[EventRow]:
    rows = []
    for event in events:
        actor_name, username = _actor_name(event)
        rows.append(EventRow(
            seq=event.seq, occurred_at=event.occurred_at, actor_name=actor_name,
            actor_username=username, action=event.action, records=[],
            method=str(event.data.get("method", "")), path=str(event.data.get("path", "")),
            status=event.data.get("status"),
        ))
    return rows


# Unusual access -----------------------------------------------------------------------------

def thresholds() -> Thresholds:
    return Thresholds.from_mapping(getattr(settings, "EDUREG_UNUSUAL_ACCESS", {}))


@dataclasses.dataclass(frozen=True)
class UnusualRow:
    actor_name: str
    actor_username: str
    rule: Rule
    rule_label: str
    records: int
    baseline: float | None


def _bounds(day: dt.date) -> tuple[int, int] | None:
    return seq_range(_local(day), _local(day, end=True))


def _class_scoped_users(user_ids: Iterable[int], school_ids: Sequence[int]) -> set[int]:
    """Users whose access at these schools comes only from their classes (teachers)."""
    roles: dict[int, set[Scope]] = {}
    for user_id, role in (Membership.objects.current()
                          .filter(user_id__in=list(user_ids))
                          .filter(Q(school_id__in=school_ids) | Q(school__isnull=True))
                          .values_list("user_id", "role")):
        roles.setdefault(user_id, set()).add(ROLE_SCOPE[Role(role)])
    return {user_id for user_id, scopes in roles.items() if scopes == {Scope.OWN_CLASSES}}


def _class_students(user_ids: Iterable[int]) -> dict[int, set[str]]:
    """User id → ids of the pupils now in the classes they are assigned to."""
    classes: dict[int, set[int]] = {}
    for user_id, class_id in (Assignment.objects.current()
                              .filter(staff__user_id__in=list(user_ids),
                                      school_class__isnull=False)
                              .values_list("staff__user_id", "school_class_id")):
        classes.setdefault(user_id, set()).add(class_id)
    every_class = {c for ids in classes.values() for c in ids}
    pupils: dict[int, set[str]] = {}
    for class_id, pk in Student.objects.filter(current_class_id__in=every_class).values_list(
            "current_class_id", "pk"):
        pupils.setdefault(class_id, set()).add(str(pk))
    return {user_id: {p for c in ids for p in pupils.get(c, set())}
            for user_id, ids in classes.items()}


def unusual_flags(where: SupervisionScope, day: dt.date, limits: Thresholds) -> list[Flag]:
    ids = where.school_ids
    bounds = _bounds(day)
    if bounds is None:
        return []
    today = records_read_by_actor(ids, [bounds])
    flags: list[Flag] = []
    history: list[dict[int, int]] = []
    for back in range(1, limits.history_days + 1):
        previous = _bounds(day - dt.timedelta(days=back))
        history.append(records_read_by_actor(ids, [previous]) if previous else {})
    for actor_id, count in sorted(today.items()):
        past = [day_counts.get(actor_id, 0) for day_counts in history]
        if volume_flag(count, past, limits):
            past_sorted = sorted(past)
            flags.append(Flag(actor_id, Rule.VOLUME, count,
                              float(past_sorted[len(past_sorted) // 2]) if past else 0.0))
    night_bounds = [b for b in (seq_range(start, end) for start, end in
                                night_windows(day, limits, timezone.get_current_timezone()))
                    if b is not None]
    for actor_id, count in sorted(records_read_by_actor(ids, night_bounds).items()):
        if night_flag(count, limits):
            flags.append(Flag(actor_id, Rule.NIGHT, count))
    teachers = _class_scoped_users(today, ids)
    if teachers:
        read = students_read_by(ids, teachers, bounds)
        allowed = _class_students(teachers)
        for actor_id in sorted(teachers):
            outside = outside_classes(read.get(actor_id, set()), allowed.get(actor_id, set()))
            if outside_classes_flag(outside, limits):
                flags.append(Flag(actor_id, Rule.OUTSIDE_CLASSES, outside))
    return flags


def unusual_rows(where: SupervisionScope, day: dt.date) -> list[UnusualRow]:
    flags = unusual_flags(where, day, thresholds())
    users = {u.pk: u for u in User.objects.filter(pk__in={f.actor_id for f in flags})}
    return [UnusualRow(actor_name=str(users[f.actor_id]), actor_username=users[f.actor_id].username,
                       rule=f.rule, rule_label=str(RULE_LABELS[f.rule]), records=f.records,
                       baseline=f.baseline)
            for f in flags if f.actor_id in users]


# Accounts needing attention -----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class AccountRow:
    user: User
    roles: Sequence[str]
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class AccountsAttention:
    two_factor_known: bool
    without_two_factor: Sequence[AccountRow]
    inactive_enabled: Sequence[AccountRow]
    departed_staff: Sequence[AccountRow]
    inactive_days: int


def _members(where: SupervisionScope) -> dict[int, list[str]]:
    q = Q(school_id__in=list(where.school_ids))
    if where.covers_authority and len(where.school_ids) == len(where.schools):
        authorities = {s.authority_id for s in where.schools}
        q |= Q(school__isnull=True, authority_id__in=authorities)
    roles: dict[int, list[str]] = {}
    for user_id, role in Membership.objects.current().filter(q).values_list("user_id", "role"):
        roles.setdefault(user_id, []).append(role)
    return roles


def _confirmed_two_factor(user_ids: Iterable[int]) -> set[int] | None:
    """Users with a confirmed TOTP device; None when two-factor devices are not installed."""
    if not apps.is_installed("django_otp.plugins.otp_totp"):
        return None
    device = apps.get_model("otp_totp", "TOTPDevice")
    return set(device.objects.filter(user_id__in=list(user_ids), confirmed=True)
               .values_list("user_id", flat=True))


def accounts_attention(where: SupervisionScope) -> AccountsAttention:
    members = _members(where)
    users = {u.pk: u for u in User.objects.filter(pk__in=members, is_active=True)
             .order_by("username")}
    labels = dict(Role.choices)

    def row(user: User, detail: str = "") -> AccountRow:
        return AccountRow(user, sorted({str(labels[r]) for r in members[user.pk]}), detail)

    must = {r.value for r in ROLES_REQUIRING_2FA}
    needing = [u for u in users.values() if set(members[u.pk]) & must]
    confirmed = _confirmed_two_factor(u.pk for u in needing)
    without = [] if confirmed is None else [row(u) for u in needing if u.pk not in confirmed]
    days = int(getattr(settings, "EDUREG_INACTIVE_ACCOUNT_DAYS", INACTIVE_DAYS_DEFAULT))
    cutoff = timezone.now() - dt.timedelta(days=days)
    stale = [row(u, str(timezone.localtime(u.last_login).date()) if u.last_login else "")
             for u in users.values()
             if (u.last_login or u.date_joined) < cutoff]
    active_codes = {e.code for e in get_list("employment_status").entries
                    if e.extra.get("active")}
    statuses = {entry.code: entry.name for entry in get_list("employment_status").entries}
    departed = [
        AccountRow(staff.user, sorted({str(labels[r]) for r in members.get(staff.user.pk, [])}),
                   statuses.get(staff.employment_status_code, staff.employment_status_code))
        for staff in Staff.objects.filter(school_id__in=list(where.school_ids),
                                          user__is_active=True)
        .exclude(employment_status_code="").exclude(employment_status_code__in=active_codes)
        .select_related("user").order_by("name_sort_key")
        if staff.user is not None
    ]
    return AccountsAttention(two_factor_known=confirmed is not None, without_two_factor=without,
                             inactive_enabled=stale, departed_staff=departed,
                             inactive_days=days)
