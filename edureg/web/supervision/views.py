"""Supervision screens (giám sát) for the principal and authority officers: parse the filters,
call the supervision selectors, render. Each screen is scoped and itself audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from edureg.audit.actions import Kind
from edureg.web.supervision import selectors
from edureg.web.supervision.forms import ChangeFilterForm, DayForm, FilterForm, SchoolForm

Crumb = tuple[Any, str | None]


def _crumbs(title: str | None = None) -> list[Crumb]:
    crumbs: list[Crumb] = [(gettext_lazy("Trang chủ"), reverse("web:home"))]
    if title is None:
        return [*crumbs, (gettext_lazy("Giám sát"), None)]
    return [*crumbs, (gettext_lazy("Giám sát"), reverse("web:supervision")), (title, None)]


def _school_id(request: HttpRequest) -> int | None:
    """The chosen school, read as the filter forms read it; None when absent or not a number
    (the form then says what is wrong)."""
    try:
        value = FilterForm.base_fields["truong"].clean(request.GET.get("truong"))
    except ValidationError:
        return None
    return value if isinstance(value, int) else None


def _next_url(request: HttpRequest, before: int | None) -> str | None:
    if before is None:
        return None
    query: QueryDict = request.GET.copy()
    query["truoc"] = str(before)
    return f"{request.path}?{query.urlencode()}"


def _event_screen(request: HttpRequest, *, view: str, kind: Kind, title: str,
                  template: str, form_class: type[FilterForm]) -> HttpResponse:
    where = selectors.supervision_scope(request.user, _school_id(request))
    form = form_class(request.GET or None, schools=where.choices)
    rows: list[selectors.EventRow] = []
    next_url = None
    filters: dict[str, Any] = {}
    if form.is_bound and not form.is_valid():
        pass  # the form shows what to correct; nothing is looked up
    else:
        filters = form.cleaned_data if form.is_bound else {}
        page = selectors.page_of(where, kind, filters)
        if kind is Kind.WRITE:
            rows = selectors.change_rows(request.user, page.events)
        elif kind is Kind.READ:
            rows = selectors.read_rows(request.user, page.events)
        else:
            rows = selectors.denied_rows(page.events)
        next_url = _next_url(request, page.next_before)
        selectors.record_supervision_read(request.user, view, where, filters)
    return render(request, template, {
        "title": title, "form": form, "rows": rows, "next_url": next_url,
        "first_page": not filters.get("truoc"), "where": where,
        "breadcrumbs": _crumbs(title),
    })


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    where = selectors.supervision_scope(request.user)
    return render(request, "web/supervision/index.html", {
        "where": where, "breadcrumbs": _crumbs(),
    })


@login_required
@require_GET
def changes(request: HttpRequest) -> HttpResponse:
    return _event_screen(request, view="changes", kind=Kind.WRITE,
                         title=_("Ai đã sửa gì"), template="web/supervision/changes.html",
                         form_class=ChangeFilterForm)


@login_required
@require_GET
def reads(request: HttpRequest) -> HttpResponse:
    return _event_screen(request, view="reads", kind=Kind.READ,
                         title=_("Ai đã xem hồ sơ nào"), template="web/supervision/reads.html",
                         form_class=FilterForm)


@login_required
@require_GET
def denied(request: HttpRequest) -> HttpResponse:
    return _event_screen(request, view="denied", kind=Kind.DENIED,
                         title=_("Truy cập bị từ chối"), template="web/supervision/denied.html",
                         form_class=FilterForm)


@login_required
@require_GET
def unusual(request: HttpRequest) -> HttpResponse:
    where = selectors.supervision_scope(request.user, _school_id(request))
    form = DayForm(request.GET or None, schools=where.choices)
    rows: list[selectors.UnusualRow] = []
    day = timezone.localdate()
    if not form.is_bound or form.is_valid():
        day = (form.cleaned_data.get("ngay") if form.is_bound else None) or day
        rows = selectors.unusual_rows(where, day)
        selectors.record_supervision_read(request.user, "unusual", where, {"ngay": day})
    title = _("Truy cập bất thường")
    return render(request, "web/supervision/unusual.html", {
        "title": title, "form": form, "rows": rows, "day": day,
        "limits": selectors.thresholds(), "breadcrumbs": _crumbs(title),
    })


@login_required
@require_GET
def accounts(request: HttpRequest) -> HttpResponse:
    where = selectors.supervision_scope(request.user, _school_id(request))
    form = SchoolForm(request.GET or None, schools=where.choices)
    attention = selectors.accounts_attention(where)
    selectors.record_supervision_read(request.user, "accounts", where, {})
    title = _("Tài khoản cần chú ý")
    return render(request, "web/supervision/accounts.html", {
        "title": title, "form": form, "attention": attention, "breadcrumbs": _crumbs(title),
    })
