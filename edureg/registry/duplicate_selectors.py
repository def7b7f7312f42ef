"""Reads for the duplicate review queue and the merges, always through the policy.

A school's reviewers see the open pairs touching their pupils; an authority officer sees the
pairs across the authority's schools. Of each pair, a pupil the actor may view is shown (with
the field visibility of their role, the read audited); a pupil of another school only by its
school, as the look-alikes of the edit form are — the queue never shows another school's child.
"""

from __future__ import annotations

import dataclasses

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from edureg.access.policy import Actor, get_scoped_or_404, grants, require, scope
from edureg.access.roles import ROLE_PERMS, Perm, Scope
from edureg.audit.services import audit_read
from edureg.dedupe.models import DuplicatePair, PairStatus
from edureg.registry.merge import merge_allowed
from edureg.registry.models import Student, StudentGuardian, StudentMerge
from edureg.registry.quality_selectors import Paged, paged
from edureg.schools.models import Authority, School

PAGE_SIZE = 20


@dataclasses.dataclass(frozen=True)
class PairView:
    pair: DuplicatePair
    left: Student
    right: Student
    left_visible: bool
    right_visible: bool
    may_merge: bool


@dataclasses.dataclass(frozen=True)
class Queue:
    school: School | None
    authority: Authority | None
    pairs: Paged[PairView]


def _open_pairs(students: QuerySet[Student]) -> QuerySet[DuplicatePair]:
    """The open pairs touching ``students``, neither of whose pupils was merged away."""
    ids = students.filter(merged_into__isnull=True).values("pk")
    merged = Student.objects.filter(merged_into__isnull=False).values("pk")
    return (DuplicatePair.objects.filter(entity="student", status=PairStatus.OPEN)
            .filter(Q(left_id__in=ids) | Q(right_id__in=ids))
            .exclude(left_id__in=merged).exclude(right_id__in=merged)
            .order_by("-match_probability", "pk"))


def _views(actor: Actor, pairs: list[DuplicatePair]) -> list[PairView]:
    ids = {pk for pair in pairs for pk in (pair.left_id, pair.right_id)}
    students = {s.pk: s for s in Student.objects.filter(pk__in=ids).select_related(
        "school", "current_class").prefetch_related(Prefetch(
            "guardian_links", queryset=StudentGuardian.objects.select_related("guardian")
            .order_by("pk")))}
    visible = set(scope(Student.objects.filter(pk__in=ids), actor, Perm.STUDENT_VIEW)
                  .values_list("pk", flat=True))
    views = []
    for pair in pairs:
        left, right = students.get(pair.left_id), students.get(pair.right_id)
        if left is None or right is None:
            continue
        views.append(PairView(pair=pair, left=left, right=right,
                              left_visible=left.pk in visible, right_visible=right.pk in visible,
                              may_merge=merge_allowed(actor, left, right)))
    return views


def _page(actor: Actor, pairs: QuerySet[DuplicatePair], page: int) -> Paged[PairView]:
    found = paged(pairs, page, PAGE_SIZE, lambda pair: pair)
    return Paged(items=_views(actor, found.items), number=found.number, pages=found.pages,
                 count=found.count, size=found.size)


def _shown(actor: Actor, views: list[PairView], school_id: int | None) -> None:
    ids = sorted({side.pk for view in views
                  for side, seen in ((view.left, view.left_visible),
                                     (view.right, view.right_visible)) if seen})
    audit_read(actor=actor, entity="student", ids=ids, school_id=school_id,
               view="duplicate_queue")


def school_queue(*, actor: Actor, school_id: int, page: int = 1) -> Queue:
    """The open pairs touching the school's pupils, likeliest first."""
    require(actor, Perm.DUPLICATE_REVIEW)
    school = get_scoped_or_404(School.objects.all(), actor, Perm.DUPLICATE_REVIEW, pk=school_id)
    pairs = _page(actor, _open_pairs(Student.objects.filter(school=school)), page)
    _shown(actor, pairs.items, school.pk)
    return Queue(school=school, authority=None, pairs=pairs)


def authority_of(actor: Actor, authority_id: int, perm: Perm) -> Authority:
    """The authority, when the actor holds ``perm`` over all of it (403 without ``perm``,
    404 otherwise)."""
    require(actor, perm)
    if not any(perm in ROLE_PERMS[g.role] and g.scope is Scope.AUTHORITY
               and g.authority_id == authority_id for g in grants(actor)):
        raise Http404
    authority = Authority.objects.filter(pk=authority_id).first()
    if authority is None:
        raise Http404
    return authority


def authority_queue(*, actor: Actor, authority_id: int, page: int = 1) -> Queue:
    """The open pairs touching the authority's pupils, likeliest first."""
    authority = authority_of(actor, authority_id, Perm.DUPLICATE_REVIEW)
    pairs = _page(actor, _open_pairs(Student.objects.filter(school__authority=authority)), page)
    _shown(actor, pairs.items, None)
    return Queue(school=None, authority=authority, pairs=pairs)


def open_count(*, actor: Actor, school: School) -> int:
    """How many open pairs touch the school's pupils (a counter: no personal data)."""
    require(actor, Perm.DUPLICATE_REVIEW, school)
    return _open_pairs(Student.objects.filter(school=school)).count()


def pair_get(*, actor: Actor, pair_id: int) -> DuplicatePair:
    """A pair the actor may review: 403 without ``duplicate.review``, 404 when neither pupil
    is in reach (or the pair is missing)."""
    require(actor, Perm.DUPLICATE_REVIEW)
    pair = DuplicatePair.objects.filter(pk=pair_id, entity="student").first()
    if pair is None:
        raise Http404
    reach = scope(Student.objects.filter(pk__in=[pair.left_id, pair.right_id]), actor,
                  Perm.DUPLICATE_REVIEW)
    if not reach.exists():
        raise Http404
    return pair


def merges_for_authority(*, actor: Actor, authority_id: int, page: int = 1
                         ) -> tuple[Authority, Paged[StudentMerge]]:
    """The authority's merges, newest first, for an officer who may undo them."""
    authority = authority_of(actor, authority_id, Perm.DUPLICATE_UNMERGE)
    merges = (scope(StudentMerge.objects.all(), actor, Perm.DUPLICATE_UNMERGE)
              .filter(kept__school__authority=authority)
              .select_related("kept__school", "merged__school", "merged_by", "undone_by")
              .order_by("-merged_at", "-pk"))
    shown = paged(merges, page, PAGE_SIZE, lambda merge: merge)
    audit_read(actor=actor, entity="student",
               ids=sorted({pk for m in shown.items for pk in (m.kept_id, m.merged_id)}),
               view="student_merges")
    return authority, shown


def merge_get(*, actor: Actor, merge_id: int) -> StudentMerge:
    return get_scoped_or_404(StudentMerge.objects.select_related("kept", "merged"), actor,
                             Perm.DUPLICATE_UNMERGE, pk=merge_id)
