"""Field-level visibility: sensitive fields only for roles that need them; identifying fields
(ID numbers, phones) masked unless the role needs them. The field catalogue says which is which."""

from __future__ import annotations

import dataclasses

from edureg.access.policy import Actor, has_perm, has_perm_at
from edureg.access.roles import Perm
from edureg.core.catalogue import active_catalogue

_SENSITIVE_PERM = {"student": Perm.STUDENT_VIEW_SENSITIVE, "staff": Perm.STAFF_VIEW_SENSITIVE,
                   "guardian": Perm.STUDENT_VIEW_SENSITIVE}
_IDENTIFIER_PERM = {"student": Perm.STUDENT_VIEW_IDENTIFIERS,
                    "staff": Perm.STAFF_VIEW_IDENTIFIERS,
                    "guardian": Perm.STUDENT_VIEW_IDENTIFIERS}


@dataclasses.dataclass(frozen=True)
class Visibility:
    hidden: frozenset[str]
    masked: frozenset[str]

    def show(self, name: str, value: object) -> object:
        if name in self.hidden:
            return None
        if name in self.masked and value:
            text = str(value)
            return "•" * max(len(text) - 3, 0) + text[-3:]
        return value


def visibility(actor: Actor, entity: str, *, school_id: int | None = None) -> Visibility:
    """What ``actor`` may see of ``entity`` records; judged per school when ``school_id`` is
    given, so a homeroom teacher at one school is not a homeroom teacher at another."""

    def allowed(perm: Perm) -> bool:
        return has_perm(actor, perm) if school_id is None else has_perm_at(actor, perm, school_id)

    catalogue = active_catalogue()
    hidden = (
        frozenset() if allowed(_SENSITIVE_PERM[entity]) else catalogue.sensitive_names(entity)
    )
    may_see_ids = allowed(_IDENTIFIER_PERM[entity])
    masked = frozenset() if may_see_ids else catalogue.identifying_names(entity)
    return Visibility(hidden=hidden, masked=masked)
