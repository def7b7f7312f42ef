"""Template context for every page: which sections the signed-in account may open, for the
navigation. Asked lazily (only pages that draw the navigation ask, from the grants the policy
has already read for the request)."""

from __future__ import annotations

from functools import cached_property

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from edureg.access.policy import Actor, grants, has_perm
from edureg.access.roles import ROLE_PERMS, Perm, Scope


class Navigation:
    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    @cached_property
    def todo(self) -> bool:
        return has_perm(self.actor, Perm.QUALITY_VIEW) and has_perm(self.actor,
                                                                   Perm.QUALITY_ATTEST)

    @cached_property
    def quality(self) -> bool:
        return has_perm(self.actor, Perm.QUALITY_VIEW)

    @cached_property
    def reports(self) -> bool:
        return has_perm(self.actor, Perm.REPORT_VIEW)

    @cached_property
    def duplicate_authorities(self) -> list[int]:
        """The authorities whose whole duplicate queue the account reviews."""
        return sorted({g.authority_id for g in grants(self.actor) if g.scope is Scope.AUTHORITY
                       and Perm.DUPLICATE_REVIEW in ROLE_PERMS[g.role]})


def navigation(request: HttpRequest) -> dict[str, Navigation]:
    return {"nav": Navigation(getattr(request, "user", AnonymousUser()))}
