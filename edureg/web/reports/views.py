"""Report screens (báo cáo thống kê): the authority officer's reporting rounds (open, close,
who has signed off), the consolidated tables of a round for the authority or a group of its
schools with their XLSX/PDF downloads, charts comparing schools and following a figure across
years, and the principal's page for a round (the school's figures, its quality scores, the
sign-off). Parse, call ``reports.rounds``, render; the services decide who may (out of scope
404, no permission 403). Every figure shows how it was computed, never who is behind it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from edureg.access import policy
from edureg.access.roles import Perm
from edureg.reports import charts as report_charts
from edureg.reports import rounds as services
from edureg.reports.models import ReportingRound
from edureg.reports.services import ReportRefused, definitions_active
from edureg.reports.tables import ReportTable
from edureg.schools.models import School
from edureg.web.reports.forms import RoundForm, SignOffForm, school_ids

Crumb = tuple[Any, str | None]
DEFAULT_CHART = "hoc_sinh_khoi_gioi_tinh"
SCORE_LABELS = (
    ("correct", gettext_lazy("Đúng")),
    ("complete", gettext_lazy("Đủ")),
    ("clean", gettext_lazy("Sạch")),
    ("live", gettext_lazy("Sống")),
)


def _crumbs(*items: Crumb) -> list[Crumb]:
    return [
        (gettext_lazy("Trang chủ"), reverse("web:home")),
        (gettext_lazy("Báo cáo thống kê"), reverse("web:reports_rounds")),
        *items,
    ]


def _round_crumb(found: ReportingRound) -> Crumb:
    return found.name, reverse("web:reports_round", args=[found.pk])


# --- Rounds ------------------------------------------------------------------------------------


def _authority_choices(request: HttpRequest) -> list[tuple[int, str]]:
    return [(a.pk, a.name) for a in services.authorities_managed(request.user)]


def _my_schools(request: HttpRequest, perm: Perm = Perm.REPORT_VIEW) -> list[School]:
    """The schools the account works at itself (the principal's review pages)."""
    return [
        s
        for s in policy.scope(School.objects.order_by("code"), request.user, perm)
        if policy.works_at(request.user, s.pk)
    ]


def _rounds_page(request: HttpRequest, form: RoundForm | None = None) -> HttpResponse:
    listed = services.rounds_list(actor=request.user)
    authorities = _authority_choices(request)
    if authorities and form is None:
        form = RoundForm(authorities=authorities)
    title = _("Báo cáo thống kê")
    return render(
        request,
        "reports/rounds.html",
        {
            "title": title,
            "rounds": listed,
            "form": form if authorities else None,
            "manages": bool(services.authorities_managed(request.user, Perm.REPORT_VIEW)),
            "my_schools": _my_schools(request),
            "breadcrumbs": [(gettext_lazy("Trang chủ"), reverse("web:home")), (title, None)],
        },
    )


@login_required
@require_GET
def rounds(request: HttpRequest) -> HttpResponse:
    policy.require(request.user, Perm.REPORT_VIEW)
    return _rounds_page(request)


@login_required
@require_POST
def round_open(request: HttpRequest) -> HttpResponse:
    policy.require(request.user, Perm.REPORT_DEFINE)
    authorities = _authority_choices(request)
    form = RoundForm(request.POST, authorities=authorities)
    if form.is_valid():
        authority = next(
            a
            for a in services.authorities_managed(request.user)
            if a.pk == form.cleaned_data["authority"]
        )
        try:
            opened = services.round_open(
                actor=request.user,
                authority=authority,
                data=services.RoundData(
                    name=form.cleaned_data["name"],
                    kind=form.cleaned_data["kind"],
                    as_of=form.cleaned_data["as_of"],
                ),
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("Đã mở kỳ báo cáo «%(name)s».") % {"name": opened.name})
            return redirect("web:reports_round", opened.pk)
    return _rounds_page(request, form)


@login_required
@require_GET
def round_detail(request: HttpRequest, round_id: int) -> HttpResponse:
    progress = services.round_progress(actor=request.user, round_id=round_id)
    found = progress.round
    return render(
        request,
        "reports/round.html",
        {
            "title": found.name,
            "round": found,
            "progress": progress,
            "score_labels": SCORE_LABELS,
            "may_close": found.is_open and policy.has_perm(request.user, Perm.REPORT_DEFINE),
            "breadcrumbs": _crumbs((found.name, None)),
        },
    )


@login_required
@require_POST
def round_close(request: HttpRequest, round_id: int) -> HttpResponse:
    try:
        closed = services.round_close(actor=request.user, round_id=round_id)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Đã khoá kỳ báo cáo «%(name)s».") % {"name": closed.name})
    return redirect("web:reports_round", round_id)


# --- Tables, downloads, charts ----------------------------------------------------------------


def _scope_choices(request: HttpRequest, found: ReportingRound) -> dict[str, Any]:
    chosen_raw = request.GET.getlist("truong")
    chosen = school_ids(chosen_raw)
    code = request.GET.get("bao_cao", "")
    schools = list(
        policy.scope(
            School.objects.filter(authority_id=found.authority_id, is_active=True).order_by("code"),
            request.user,
            Perm.REPORT_VIEW,
        )
    )
    return {
        "chosen": chosen,
        "code": code,
        "schools": schools,
        "definitions": definitions_active(),
        "query": request.GET.urlencode(),
    }


@login_required
@require_GET
def tables(request: HttpRequest, round_id: int) -> HttpResponse:
    found = services.round_get(actor=request.user, round_id=round_id)
    context = _scope_choices(request, found)
    refused = ""
    shown: list[ReportTable] = []
    if context["chosen"] is None:
        refused = _("Danh sách trường đã chọn không hợp lệ; hãy chọn lại.")
    else:
        try:
            _found, shown = services.round_tables(
                actor=request.user,
                round_id=found.pk,
                school_ids=context["chosen"] or None,
                definition=context["code"] or None,
            )
        except ReportRefused as error:
            refused = error.message
    title = _("Bảng tổng hợp")
    return render(
        request,
        "reports/tables.html",
        {
            **context,
            "title": title,
            "round": found,
            "tables": shown,
            "refused": refused,
            "breadcrumbs": _crumbs(_round_crumb(found), (title, None)),
        },
    )


@login_required
@require_GET
def download(request: HttpRequest, round_id: int, code: str, file_format: str) -> HttpResponse:
    chosen = school_ids(request.GET.getlist("truong"))
    found = services.round_get(actor=request.user, round_id=round_id)
    back = reverse("web:reports_tables", args=[found.pk])
    if chosen is None:
        messages.error(request, _("Danh sách trường đã chọn không hợp lệ; hãy chọn lại."))
        return redirect(back)
    try:
        made = services.round_table_export(
            actor=request.user,
            round_id=found.pk,
            definition=code,
            file_format=file_format,
            school_ids=chosen or None,
        )
    except ReportRefused as error:
        messages.error(request, error.message)
        return redirect(back)
    response = HttpResponse(made.content, content_type=made.content_type)
    response["Content-Disposition"] = f'attachment; filename="{made.filename}"'
    return response


@login_required
@require_GET
def charts(request: HttpRequest, round_id: int) -> HttpResponse:
    found = services.round_get(actor=request.user, round_id=round_id)
    context = _scope_choices(request, found)
    definitions = context["definitions"]
    codes = [d.code for d in definitions]
    # Pupils by grade and sex (the headline of every round) unless another report is chosen.
    code = context["code"] or (
        DEFAULT_CHART if DEFAULT_CHART in codes else codes[0] if codes else ""
    )
    refused, comparison, trend, stored = "", None, None, None
    try:
        found, stored, points = services.round_trend(
            actor=request.user, round_id=found.pk, definition=code
        )
        trend = report_charts.trend_line(points, title=stored.title)
        chosen = context["chosen"]
        if chosen is None:
            refused = _("Danh sách trường đã chọn không hợp lệ; hãy chọn lại.")
        elif chosen:
            _found, stored, figures = services.round_comparison(
                actor=request.user, round_id=found.pk, school_ids=chosen, definition=code
            )
            comparison = report_charts.comparison_bars(figures, title=stored.title)
    except ReportRefused as error:
        refused = error.message
    title = _("Biểu đồ")
    return render(
        request,
        "reports/charts.html",
        {
            **context,
            "code": code,
            "title": title,
            "round": found,
            "definition": stored,
            "trend": trend,
            "comparison": comparison,
            "refused": refused,
            "breadcrumbs": _crumbs(_round_crumb(found), (title, None)),
        },
    )


# --- The principal's page ----------------------------------------------------------------------


@login_required
@require_GET
def school_round(request: HttpRequest, round_id: int, school_id: int) -> HttpResponse:
    review = services.round_review(actor=request.user, round_id=round_id, school_id=school_id)
    return render(
        request,
        "reports/school_round.html",
        {
            "title": review.round.name,
            "review": review,
            "round": review.round,
            "school": review.school,
            "form": SignOffForm() if review.may_sign_off else None,
            "scores": [(label, review.scores.get(key)) for key, label in SCORE_LABELS],
            "records": review.scores.get("records"),
            "breadcrumbs": _crumbs((review.school.name, None), (review.round.name, None)),
        },
    )


@login_required
@require_POST
def sign_off(request: HttpRequest, round_id: int, school_id: int) -> HttpResponse:
    form = SignOffForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        services.round_sign_off(
            actor=request.user, round_id=round_id, school_id=school_id, note=note
        )
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Đã ký xác nhận số liệu của trường cho kỳ báo cáo."))
    return redirect(
        reverse("web:reports_school_round", args=[round_id, school_id]) + "#ky-xac-nhan"
    )
