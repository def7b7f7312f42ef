"""Duplicate review screens (hồ sơ nghi trùng): a school's queue and the authority's, where a
pair is decided "not the same person" or merged; the authority's merges, which an officer may
undo. Parse, call a service or selector, render or redirect; the services and selectors decide
who may (out of scope 404, no permission 403)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from edureg.access.policy import has_perm
from edureg.access.roles import Perm
from edureg.registry import duplicate_selectors as selectors
from edureg.registry.duplicate_review import pair_merge, pair_not_same
from edureg.registry.duplicate_selectors import Queue
from edureg.registry.merge import student_unmerge
from edureg.web.duplicates.display import pair_card
from edureg.web.duplicates.forms import MergeForm, NotSameForm, UnmergeForm

_PAGE_MAX = 100_000


def _page(request: HttpRequest) -> int:
    raw = request.GET.get("trang", "")
    return int(raw) if raw.isdigit() and 0 < int(raw) <= _PAGE_MAX else 1


def _with(request: HttpRequest, **changes: object) -> str:
    query: QueryDict = request.GET.copy()
    for name, value in changes.items():
        query[name] = str(value)
    return f"{request.path}?{query.urlencode()}"


def _back(request: HttpRequest, default: str) -> str:
    """The page the form was posted from (``next``, a path on this site), else ``default``."""
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _errors(request: HttpRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


def _queue_page(request: HttpRequest, queue: Queue, title: str,
                crumbs: list[tuple[object, str | None]]) -> HttpResponse:
    actor = request.user
    pairs = queue.pairs
    return render(request, "web/duplicates/queue.html", {
        "title": title, "queue": queue, "school": queue.school,
        "cards": [pair_card(actor, view) for view in pairs.items],
        "here": request.get_full_path(),
        "pager": {
            "paged": pairs,
            "previous_url": _with(request, trang=pairs.previous) if pairs.has_previous
            else None,
            "next_url": _with(request, trang=pairs.next) if pairs.has_next else None,
        },
        "merges_url": reverse("web:duplicates_merges", args=[queue.authority.pk])
        if queue.authority is not None and has_perm(actor, Perm.DUPLICATE_UNMERGE) else "",
        "breadcrumbs": [(gettext_lazy("Trang chủ"), reverse("web:home")), *crumbs,
                        (title, None)],
    })


@login_required
@require_GET
def school_queue(request: HttpRequest, school_id: int) -> HttpResponse:
    queue = selectors.school_queue(actor=request.user, school_id=school_id,
                                   page=_page(request))
    assert queue.school is not None
    return _queue_page(request, queue, _("Hồ sơ nghi trùng"),
                       [(queue.school.name, reverse("web:school", args=[queue.school.pk]))])


@login_required
@require_GET
def authority_queue(request: HttpRequest, authority_id: int) -> HttpResponse:
    queue = selectors.authority_queue(actor=request.user, authority_id=authority_id,
                                      page=_page(request))
    assert queue.authority is not None
    return _queue_page(request, queue, _("Hồ sơ nghi trùng toàn Sở"),
                       [(queue.authority.name, None)])


@login_required
@require_POST
def not_same(request: HttpRequest, pair_id: int) -> HttpResponse:
    pair = selectors.pair_get(actor=request.user, pair_id=pair_id)
    form = NotSameForm(request.POST)
    form.is_valid()
    try:
        pair_not_same(actor=request.user, pair=pair, reason=form.cleaned_data.get("reason") or "")
    except ValidationError as error:
        _errors(request, error)
    else:
        messages.success(request, _("Đã ghi nhận: hai hồ sơ không phải cùng một người. Cặp này "
                                    "sẽ không được đề xuất lại."))
    return redirect(_back(request, reverse("web:home")))


@login_required
@require_POST
def merge(request: HttpRequest, pair_id: int) -> HttpResponse:
    pair = selectors.pair_get(actor=request.user, pair_id=pair_id)
    form = MergeForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, str(message))
        return redirect(_back(request, reverse("web:home")))
    try:
        done = pair_merge(actor=request.user, pair=pair, kept_id=form.cleaned_data["kept"],
                          reason=form.cleaned_data.get("reason") or "")
    except ValidationError as error:
        _errors(request, error)
        return redirect(_back(request, reverse("web:home")))
    messages.success(request, _("Đã gộp hai hồ sơ: giữ hồ sơ %(name)s; quá trình học, cha mẹ và "
                                "lịch sử của hồ sơ kia đã chuyển sang.")
                     % {"name": done.kept.full_name})
    return redirect(_back(request, reverse("web:student", args=[done.kept_id])))


@login_required
@require_GET
def merges(request: HttpRequest, authority_id: int) -> HttpResponse:
    authority, shown = selectors.merges_for_authority(actor=request.user,
                                                      authority_id=authority_id,
                                                      page=_page(request))
    title = _("Các lần gộp hồ sơ")
    return render(request, "web/duplicates/merges.html", {
        "title": title, "authority": authority, "merges": shown,
        "here": request.get_full_path(),
        "pager": {
            "paged": shown,
            "previous_url": _with(request, trang=shown.previous) if shown.has_previous
            else None,
            "next_url": _with(request, trang=shown.next) if shown.has_next else None,
        },
        "breadcrumbs": [(gettext_lazy("Trang chủ"), reverse("web:home")),
                        (_("Hồ sơ nghi trùng toàn Sở"),
                         reverse("web:duplicates_authority", args=[authority.pk])),
                        (title, None)],
    })


@login_required
@require_POST
def unmerge(request: HttpRequest, merge_id: int) -> HttpResponse:
    record = selectors.merge_get(actor=request.user, merge_id=merge_id)
    form = UnmergeForm(request.POST)
    form.is_valid()
    try:
        student_unmerge(actor=request.user, merge=record,
                        reason=form.cleaned_data.get("reason") or "")
    except ValidationError as error:
        _errors(request, error)
    else:
        messages.success(request, _("Đã hoàn tác lần gộp: hồ sơ %(name)s đã được khôi phục như "
                                    "trước khi gộp.") % {"name": record.merged.full_name})
    return redirect(_back(request, reverse("web:home")))
