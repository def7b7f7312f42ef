"""School-year screens (năm học) for the principal: the school's years and opening the next
one; one year's promotion proposals, carried classes with their homeroom proposals, the
start-of-year confirmation progress and closing the year; one class's promotion proposal
(exceptions, commit, undo). Parse, call a service or selector, render or redirect; the services
and selectors decide who may (out of scope 404, no permission 403) and what is refused (their
messages shown as they are)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from edureg.schools.models import School, SchoolYear
from edureg.web.yearly import selectors
from edureg.web.yearly.forms import CloseYearForm, ProposalForm
from edureg.yearly.models import ClassProposal
from edureg.yearly.services import (
    homeroom_confirm,
    promotion_commit,
    promotion_undo,
    proposal_exceptions_set,
    year_close,
    year_open,
)

Crumbs = list[tuple[Any, str | None]]


def _crumbs(school: School, *extra: tuple[Any, str | None]) -> Crumbs:
    return [
        (gettext_lazy("Trang chủ"), reverse("web:home")),
        (school.name, reverse("web:school", args=[school.pk])),
        *extra,
    ]


def _years_crumb(school: School) -> tuple[Any, str]:
    return (gettext_lazy("Năm học"), reverse("web:yearly_years", args=[school.pk]))


def _year_crumb(year: SchoolYear) -> tuple[Any, str]:
    return (
        _("Năm học %(year)s") % {"year": year.label},
        reverse("web:yearly_year", args=[year.pk]),
    )


def _refused(request: HttpRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


# --- The school's years --------------------------------------------------------------------------


@login_required
@require_GET
def years(request: HttpRequest, school_id: int) -> HttpResponse:
    result = selectors.school_years(actor=request.user, school_id=school_id)
    title = _("Năm học")
    return render(
        request,
        "web/yearly/years.html",
        {
            "title": title,
            "school": result.school,
            "result": result,
            "next_label": f"{result.open_from.start_year + 1}–{result.open_from.start_year + 2}"
            if result.open_from
            else "",
            "breadcrumbs": _crumbs(result.school, (title, None)),
        },
    )


@login_required
@require_POST
def open_next(request: HttpRequest, year_id: int) -> HttpResponse:
    year = selectors.year_get(actor=request.user, year_id=year_id)
    try:
        opened = year_open(actor=request.user, school=year.school, from_start_year=year.start_year)
    except ValidationError as error:
        _refused(request, error)
        return redirect("web:yearly_years", year.school_id)
    if opened.created:
        messages.success(
            request,
            _(
                "Đã mở năm học %(year)s: %(classes)d lớp được chuyển sang, %(started)d lớp đầu "
                "cấp mới (chưa có học sinh), %(proposals)d lớp của năm học %(old)s chờ xét lên "
                "lớp."
            )
            % {
                "year": opened.year.label,
                "classes": opened.classes_carried,
                "started": opened.classes_started,
                "proposals": opened.proposals_created,
                "old": year.label,
            },
        )
    elif opened.proposals_created or opened.classes_carried or opened.classes_started:
        messages.success(
            request,
            _(
                "Năm học %(year)s đã mở từ trước; đã bổ sung phần còn thiếu: %(classes)d lớp, "
                "%(proposals)d đề xuất lên lớp."
            )
            % {
                "year": opened.year.label,
                "classes": opened.classes_carried + opened.classes_started,
                "proposals": opened.proposals_created,
            },
        )
    else:
        messages.info(
            request,
            _("Năm học %(year)s đã được mở từ trước; không có gì thay đổi.")
            % {"year": opened.year.label},
        )
    return redirect("web:yearly_year", opened.year.pk)


# --- One year ------------------------------------------------------------------------------------


def _year_page(
    request: HttpRequest, year_id: int, *, close_form: CloseYearForm | None = None
) -> HttpResponse:
    page = selectors.year_page(actor=request.user, year_id=year_id)
    title = _("Năm học %(year)s") % {"year": page.year.label}
    return render(
        request,
        "web/yearly/year.html",
        {
            "title": title,
            "school": page.school,
            "page": page,
            "close_form": close_form or CloseYearForm(auto_id="khoa-%s"),
            "breadcrumbs": _crumbs(page.school, _years_crumb(page.school), (title, None)),
        },
    )


@login_required
@require_GET
def year(request: HttpRequest, year_id: int) -> HttpResponse:
    return _year_page(request, year_id)


@login_required
@require_POST
def close(request: HttpRequest, year_id: int) -> HttpResponse:
    school_year = selectors.year_get(actor=request.user, year_id=year_id)
    form = CloseYearForm(request.POST, auto_id="khoa-%s")
    if not form.is_valid():
        return _year_page(request, school_year.pk, close_form=form)
    try:
        year_close(actor=request.user, year=school_year)
    except ValidationError as error:
        _refused(request, error)
    else:
        messages.success(
            request,
            _("Đã khoá năm học %(year)s: từ nay chỉ xem, không sửa được nữa.")
            % {"year": school_year.label},
        )
    return redirect("web:yearly_year", school_year.pk)


@login_required
@require_POST
def confirm_homeroom(request: HttpRequest, proposal_id: int) -> HttpResponse:
    proposal = selectors.homeroom_proposal_get(actor=request.user, proposal_id=proposal_id)
    school_class = proposal.school_class
    try:
        homeroom_confirm(actor=request.user, proposal=proposal)
    except ValidationError as error:
        _refused(request, error)
    else:
        messages.success(
            request,
            _("Đã xác nhận %(teacher)s làm giáo viên chủ nhiệm lớp %(name)s.")
            % {"teacher": proposal.staff.full_name, "name": school_class.name},
        )
    return redirect(reverse("web:yearly_year", args=[school_class.school_year_id]) + "#lop")


# --- One class's proposal ---------------------------------------------------------------------


def _proposal_page(
    request: HttpRequest, proposal_id: int, *, form: ProposalForm | None = None
) -> HttpResponse:
    page = selectors.proposal_page(actor=request.user, proposal_id=proposal_id)
    proposal = page.proposal
    old_year = proposal.from_class.school_year
    title = _("Lên lớp: lớp %(name)s") % {"name": proposal.from_class.name}
    return render(
        request,
        "web/yearly/proposal.html",
        {
            "title": title,
            "school": proposal.school,
            "page": page,
            "old_year": old_year,
            "form": form or ProposalForm(pupils=page.pupils, default=page.default),
            "breadcrumbs": _crumbs(
                proposal.school,
                _years_crumb(proposal.school),
                _year_crumb(old_year),
                (title, None),
            ),
        },
    )


def _bound(request: HttpRequest, proposal_id: int) -> tuple[ClassProposal, ProposalForm]:
    page = selectors.proposal_page(actor=request.user, proposal_id=proposal_id)
    return page.proposal, ProposalForm(request.POST, pupils=page.pupils, default=page.default)


def _save_exceptions(request: HttpRequest, proposal: ClassProposal, form: ProposalForm) -> None:
    stored = dict(proposal.exceptions.values_list("student_id", "outcome"))
    outcomes = form.outcomes(stored)
    if outcomes != stored:
        proposal_exceptions_set(actor=request.user, proposal=proposal, outcomes=outcomes)


@login_required
@require_http_methods(["GET", "POST"])
def proposal(request: HttpRequest, proposal_id: int) -> HttpResponse:
    if request.method == "GET":
        return _proposal_page(request, proposal_id)
    class_proposal, form = _bound(request, proposal_id)
    if not form.is_valid():
        return _proposal_page(request, class_proposal.pk, form=form)
    try:
        _save_exceptions(request, class_proposal, form)
    except ValidationError as error:
        form.add_service_errors(error)
        return _proposal_page(request, class_proposal.pk, form=form)
    messages.success(
        request,
        _("Đã lưu đề xuất lên lớp của lớp %(name)s. Đề xuất chỉ có hiệu lực khi chốt.")
        % {"name": class_proposal.from_class.name},
    )
    return redirect("web:yearly_proposal", class_proposal.pk)


@login_required
@require_POST
def commit(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """The exceptions as posted are stored and the class committed, together; a second
    submission is refused by the services (the proposal is no longer a draft)."""
    class_proposal, form = _bound(request, proposal_id)
    if not form.is_valid():
        return _proposal_page(request, class_proposal.pk, form=form)
    try:
        # The exceptions stand or fall with the commit: a refused commit stores nothing, and
        # the page comes back with the choices as posted.
        with transaction.atomic():
            _save_exceptions(request, class_proposal, form)
            result = promotion_commit(actor=request.user, proposal=class_proposal)
    except ValidationError as error:
        _refused(request, error)
        return _proposal_page(request, class_proposal.pk, form=form)
    moved = sum(result.outcomes.values())
    messages.success(
        request,
        ngettext(
            "Đã chốt lên lớp lớp %(name)s: %(count)d học sinh.",
            "Đã chốt lên lớp lớp %(name)s: %(count)d học sinh.",
            moved,
        )
        % {"name": class_proposal.from_class.name, "count": moved},
    )
    return redirect("web:yearly_proposal", class_proposal.pk)


@login_required
@require_POST
def undo(request: HttpRequest, proposal_id: int) -> HttpResponse:
    class_proposal = selectors.proposal_get(actor=request.user, proposal_id=proposal_id)
    try:
        promotion_undo(actor=request.user, proposal=class_proposal)
    except ValidationError as error:
        _refused(request, error)
    else:
        messages.success(
            request,
            _(
                "Đã hoàn tác việc lên lớp của lớp %(name)s: học sinh trở lại lớp cũ, đề xuất "
                "chờ chốt lại."
            )
            % {"name": class_proposal.from_class.name},
        )
    return redirect("web:yearly_proposal", class_proposal.pk)
