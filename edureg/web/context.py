"""Template context for every page: which sections the signed-in account may open, for the
navigation. Asked lazily (only pages that draw the navigation ask, from the grants the policy
has already read for the request)."""

from __future__ import annotations

from functools import cached_property

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from edureg.access.policy import Actor, has_perm
from edureg.access.roles import Perm


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


def navigation(request: HttpRequest) -> dict[str, Navigation]:
    return {"nav": Navigation(getattr(request, "user", AnonymousUser()))}
