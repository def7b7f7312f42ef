"""The one access policy: ``may`` / ``require`` answer "may this actor do X (to this object)?",
``scope`` answers "which rows may this actor see?". Web, API, CLI and reports all ask it.

Roles come from current memberships (``access.Membership``); what a role reaches is its scope
(authority, school, own classes, own record). Models that hold tenant data say how a scope maps
onto their rows through a ``scope_q(grant, actor_id)`` classmethod, so this module never imports
them. Out-of-scope objects are reported as missing (404), a missing permission as 403.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar, cast

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.http import Http404

from edureg.access.models import Membership
from edureg.access.roles import ROLE_PERMS, ROLE_SCOPE, Perm, Role, Scope
from edureg.schools.models import School, SchoolYear

Actor = AbstractBaseUser | AnonymousUser


@dataclasses.dataclass(frozen=True)
class Grant:
    role: Role
    scope: Scope
    authority_id: int
    school_id: int | None


class Scoped(Protocol):
    @classmethod
    def scope_q(cls, grant: Grant, actor_id: int) -> Q: ...


M = TypeVar("M", bound=models.Model)

_CACHE_ATTR = "_edureg_grants"


def grants(actor: Actor) -> tuple[Grant, ...]:
    """The actor's current grants, read once per actor object (one query)."""
    if not actor.is_authenticated or not actor.is_active:
        return ()
    cached = getattr(actor, _CACHE_ATTR, None)
    if cached is not None:
        return cast(tuple[Grant, ...], cached)
    rows = Membership.objects.current().filter(user_id=actor.pk).values_list(
        "role", "authority_id", "school_id"
    )
    result = tuple(
        Grant(role=Role(role), scope=ROLE_SCOPE[Role(role)], authority_id=authority_id,
              school_id=school_id)
        for role, authority_id, school_id in rows
    )
    setattr(actor, _CACHE_ATTR, result)
    return result


def forget_grants(actor: Actor) -> None:
    """Drop the cached grants (after a membership change in the same request)."""
    if hasattr(actor, _CACHE_ATTR):
        delattr(actor, _CACHE_ATTR)


def has_perm(actor: Actor, perm: Perm) -> bool:
    return any(perm in ROLE_PERMS[grant.role] for grant in grants(actor))


def has_perm_at(actor: Actor, perm: Perm, school_id: int) -> bool:
    """``perm`` through a grant that covers this school (its own, or the whole authority)."""
    return any(
        perm in ROLE_PERMS[grant.role]
        and (grant.scope is Scope.AUTHORITY or grant.school_id == school_id)
        for grant in grants(actor)
    )


def works_at(actor: Actor, school_id: int) -> bool:
    """A current grant of the actor's is at this school itself, not the whole authority: the
    school's own staff, who see its figures exactly; to anyone else the school is outside, and
    small counts of its persons are suppressed (``core.suppression``)."""
    return any(grant.school_id == school_id for grant in grants(actor))


def roles(actor: Actor) -> frozenset[Role]:
    return frozenset(grant.role for grant in grants(actor))


def _grants_for(actor: Actor, perm: Perm) -> list[Grant]:
    return [grant for grant in grants(actor) if perm in ROLE_PERMS[grant.role]]


def _school_q(grant: Grant, *, school: str, authority: str) -> Q:
    if grant.scope is Scope.AUTHORITY:
        return Q(**{authority: grant.authority_id})
    return Q(**{school: grant.school_id})


def _scope_q(model: type[models.Model], actor: Actor, relevant: Iterable[Grant]) -> Q | None:
    if model is School:
        parts = [_school_q(g, school="id", authority="authority_id") for g in relevant]
    elif model is SchoolYear:
        parts = [_school_q(g, school="school_id", authority="school__authority_id")
                 for g in relevant]
    else:
        scoped = cast(type[Scoped], model)
        parts = [scoped.scope_q(grant, cast(int, actor.pk)) for grant in relevant]
    if not parts:
        return None
    return functools.reduce(operator.or_, parts)


def scope(queryset: models.QuerySet[M], actor: Actor, perm: Perm) -> models.QuerySet[M]:
    """The rows of ``queryset`` that ``actor`` may reach with ``perm``."""
    q = _scope_q(queryset.model, actor, _grants_for(actor, perm))
    if q is None:
        return queryset.none()
    return queryset.filter(q)


def may(actor: Actor, perm: Perm, obj: models.Model | None = None) -> bool:
    relevant = _grants_for(actor, perm)
    if not relevant:
        return False
    if obj is None:
        return True
    q = _scope_q(type(obj), actor, relevant)
    return q is not None and type(obj)._default_manager.filter(q, pk=obj.pk).exists()


def require(actor: Actor, perm: Perm, obj: models.Model | None = None) -> None:
    """403 when the actor's roles lack ``perm``; 404 when ``obj`` lies outside their scope."""
    if not _grants_for(actor, perm):
        raise PermissionDenied
    if obj is not None and not may(actor, perm, obj):
        raise Http404


def get_scoped_or_404(
    queryset: models.QuerySet[M], actor: Actor, perm: Perm, **lookup: Any
) -> M:
    """Fetch one object through the actor's scope: missing and forbidden look the same (404)."""
    if not _grants_for(actor, perm):
        raise PermissionDenied
    obj = scope(queryset, actor, perm).filter(**lookup).first()
    if obj is None:
        raise Http404
    return obj
