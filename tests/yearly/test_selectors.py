"""The proposals list of a school: scoped, counted."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from edureg.yearly.models import ClassProposal, Outcome
from edureg.yearly.selectors import class_proposals, proposals_waiting
from edureg.yearly.services import promotion_commit, proposal_exceptions_set, year_open
from tests import factories as f
from tests.conftest import Cast


def test_principal_sees_the_proposals_with_counts(cast: Cast) -> None:
    f.make_student(cast.class_1a, "Lê Thị Hà")
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    proposal = ClassProposal.objects.get(from_class=cast.class_1a)
    proposal_exceptions_set(actor=cast.alice, proposal=proposal,
                            outcomes={cast.an.pk: Outcome.REPEAT})
    rows = class_proposals(actor=cast.alice, school_id=cast.school_a.pk, from_start_year=2026)
    assert [(r.proposal.from_class.name, r.pupils, r.exceptions) for r in rows] == [
        ("1A", 2, 1), ("1B", 1, 0)]
    promotion_commit(actor=cast.alice,
                     proposal=ClassProposal.objects.get(from_class=cast.class_1b))
    assert proposals_waiting(actor=cast.alice, school_id=cast.school_a.pk,
                             from_start_year=2026) == 1


def test_other_school_and_missing_permission(cast: Cast) -> None:
    year_open(actor=cast.alice, school=cast.school_a, from_start_year=2026)
    with pytest.raises(Http404):
        class_proposals(actor=cast.dave, school_id=cast.school_a.pk, from_start_year=2026)
    with pytest.raises(PermissionDenied):
        class_proposals(actor=cast.bob, school_id=cast.school_a.pk, from_start_year=2026)
