"""Reads for the turn of the year, through the policy's scope (out of scope is not found)."""

from __future__ import annotations

import dataclasses

from django.db.models import Count, Q

from edureg.access.policy import Actor, get_scoped_or_404, scope
from edureg.access.roles import Perm
from edureg.schools.models import School
from edureg.yearly.models import ClassProposal, ProposalStatus


@dataclasses.dataclass(frozen=True)
class ProposalRow:
    proposal: ClassProposal
    pupils: int
    exceptions: int


def class_proposals(*, actor: Actor, school_id: int, from_start_year: int) -> list[ProposalRow]:
    """The promotion proposals of a school's classes of ``from_start_year``, by grade and name,
    with how many pupils each class still holds and how many exceptions are marked."""
    school = get_scoped_or_404(School.objects.all(), actor, Perm.YEAR_MANAGE, pk=school_id)
    rows = (scope(ClassProposal.objects.filter(school=school), actor, Perm.YEAR_MANAGE)
            .filter(from_class__school_year__start_year=from_start_year)
            .select_related("from_class", "to_class")
            .annotate(pupils=Count("from_class__enrolments", distinct=True,
                                   filter=Q(from_class__enrolments__is_current=True)),
                      marked=Count("exceptions", distinct=True))
            .order_by("from_class__grade", "from_class__name"))
    return [ProposalRow(proposal=row, pupils=row.pupils, exceptions=row.marked) for row in rows]


def proposals_waiting(*, actor: Actor, school_id: int, from_start_year: int) -> int:
    """How many classes of the year are not yet committed."""
    return sum(1 for row in class_proposals(actor=actor, school_id=school_id,
                                            from_start_year=from_start_year)
               if row.proposal.status == ProposalStatus.DRAFT)
