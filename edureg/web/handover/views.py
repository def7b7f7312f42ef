"""Hand-over (chuyển cấp) and new-intake screens. The authority officer gives a school's
grade-5/9 leavers a receiving school; the receiving school sees the pupils waiting for it
and takes them into a class (or gives them back); a school writes its intake list after
checking it against the pupils the authority knows. Parse, call a service or selector,
render or redirect; the services decide who may (out of scope 404, no permission 403)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from edureg.access.policy import get_scoped_or_404
from edureg.access.roles import Perm
from edureg.registry.models import SchoolClass
from edureg.schools.models import School, SchoolYear
from edureg.web.handover.forms import (
    AcceptForm,
    AssignForm,
    ClaimForm,
    DeclineForm,
    IntakeForm,
    decision_choices,
    intake_rows,
)
from edureg.yearly import handover as services
from edureg.yearly.new_intake import IntakeCheck, RowState, intake_check, intake_commit


def _crumbs(school: School, title: str) -> list[tuple[object, str | None]]:
    return [
        (gettext_lazy("Trang chủ"), reverse("web:home")),
        (school.name, reverse("web:school", args=[school.pk])),
        (title, None),
    ]


# --- The sending school's leavers (the authority officer assigns) ------------------------------


def _leavers_page(
    request: HttpRequest, school_id: int, start_year: int, form: AssignForm | None = None
) -> HttpResponse:
    listed = services.handover_leavers(
        actor=request.user, school_id=school_id, start_year=start_year
    )
    open_rows = [(row.enrolment_id, row.full_name) for row in listed.rows if row.open]
    form = form or AssignForm(students=open_rows, schools=listed.destinations)
    title = _("Bàn giao học sinh hoàn thành cấp học")
    return render(
        request,
        "handover/leavers.html",
        {
            "title": title,
            "school": listed.school,
            "year": listed.year,
            "rows": listed.rows,
            "form": form,
            "can_assign": bool(open_rows and listed.destinations),
            "breadcrumbs": _crumbs(listed.school, title),
        },
    )


@login_required
@require_GET
def leavers(request: HttpRequest, school_id: int, start_year: int) -> HttpResponse:
    return _leavers_page(request, school_id, start_year)


@login_required
@require_POST
def assign(request: HttpRequest, school_id: int, start_year: int) -> HttpResponse:
    listed = services.handover_leavers(
        actor=request.user, school_id=school_id, start_year=start_year
    )
    form = AssignForm(
        request.POST,
        schools=listed.destinations,
        students=[(row.enrolment_id, row.full_name) for row in listed.rows if row.open],
    )
    if form.is_valid():
        try:
            result = services.handover_assign(
                actor=request.user,
                school=listed.school,
                start_year=start_year,
                enrolment_ids=form.cleaned_data["students"],
                to_school=form.chosen_school(),
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            if result.changed:
                messages.success(
                    request,
                    _("Đã phân %(count)d học sinh về %(school)s.")
                    % {"count": result.changed, "school": form.chosen_school().name},
                )
            else:
                messages.info(
                    request,
                    _("Không có thay đổi: các học sinh đã chọn đã được phân về %(school)s.")
                    % {"school": form.chosen_school().name},
                )
            return redirect("web:handover_leavers", listed.school.pk, start_year)
    return _leavers_page(request, school_id, start_year, form)


# --- The receiving school claims leavers nobody has been assigned -----------------------------


def _pool_page(
    request: HttpRequest, school_id: int, start_year: int, form: ClaimForm | None = None
) -> HttpResponse:
    pool = services.handover_pool(actor=request.user, school_id=school_id, start_year=start_year)
    form = form or ClaimForm(students=[(row.enrolment_id, row.full_name) for row in pool.rows])
    title = _("Nhận học sinh chuyển cấp chưa có trường")
    return render(
        request,
        "handover/pool.html",
        {
            "title": title,
            "school": pool.school,
            "start_year": start_year,
            "rows": pool.rows,
            "form": form,
            "breadcrumbs": _crumbs(pool.school, title),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def pool(request: HttpRequest, school_id: int, start_year: int) -> HttpResponse:
    if request.method == "GET":
        return _pool_page(request, school_id, start_year)
    waiting = services.handover_pool(actor=request.user, school_id=school_id, start_year=start_year)
    form = ClaimForm(
        request.POST, students=[(row.enrolment_id, row.full_name) for row in waiting.rows]
    )
    if form.is_valid():
        try:
            result = services.handover_claim(
                actor=request.user,
                to_school=waiting.school,
                start_year=start_year,
                enrolment_ids=form.cleaned_data["students"],
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(
                request,
                _(
                    "Đã phân %(count)d học sinh về trường; hãy xếp lớp ở "
                    "trang «Học sinh chuyển cấp đến trường»."
                )
                % {"count": result.changed},
            )
            return redirect("web:handover_incoming", waiting.school.pk)
    return _pool_page(request, school_id, start_year, form)


# --- The receiving school -------------------------------------------------------------------


def _incoming_page(
    request: HttpRequest,
    school_id: int,
    *,
    accept_form: AcceptForm | None = None,
    decline_form: DeclineForm | None = None,
) -> HttpResponse:
    incoming = services.handover_incoming(actor=request.user, school_id=school_id)
    pupils = [(row.handover_id, row.full_name) for row in incoming.rows]
    title = _("Học sinh chuyển cấp đến trường")
    return render(
        request,
        "handover/incoming.html",
        {
            "title": title,
            "school": incoming.school,
            "rows": incoming.rows,
            "accept_form": accept_form or AcceptForm(pupils=pupils, classes=incoming.classes),
            "decline_form": decline_form or DeclineForm(pupils=pupils),
            "has_classes": bool(incoming.classes),
            "forms_with_errors": [
                f for f in (accept_form, decline_form) if f is not None and f.errors
            ],
            "breadcrumbs": _crumbs(incoming.school, title),
        },
    )


@login_required
@require_GET
def incoming(request: HttpRequest, school_id: int) -> HttpResponse:
    return _incoming_page(request, school_id)


@login_required
@require_POST
def accept(request: HttpRequest, school_id: int) -> HttpResponse:
    waiting = services.handover_incoming(actor=request.user, school_id=school_id)
    form = AcceptForm(
        request.POST,
        classes=waiting.classes,
        pupils=[(row.handover_id, row.full_name) for row in waiting.rows],
    )
    if form.is_valid():
        school_class = form.chosen_class()
        try:
            accepted = services.handover_accept(
                actor=request.user,
                to_school=waiting.school,
                handover_ids=form.cleaned_data["handovers"],
                school_class=school_class,
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(
                request,
                _("Đã nhận %(count)d học sinh vào lớp %(name)s.")
                % {"count": len(accepted), "name": school_class.name},
            )
            return redirect("web:handover_incoming", waiting.school.pk)
    return _incoming_page(request, school_id, accept_form=form)


@login_required
@require_POST
def decline(request: HttpRequest, school_id: int) -> HttpResponse:
    waiting = services.handover_incoming(actor=request.user, school_id=school_id)
    form = DeclineForm(
        request.POST, pupils=[(row.handover_id, row.full_name) for row in waiting.rows]
    )
    if form.is_valid():
        try:
            count = services.handover_decline(
                actor=request.user,
                to_school=waiting.school,
                handover_ids=form.cleaned_data["handovers"],
                note=form.cleaned_data["decision_note"],
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(
                request,
                _("Đã trả lại %(count)d học sinh; Sở sẽ phân trường khác.") % {"count": count},
            )
            return redirect("web:handover_incoming", waiting.school.pk)
    return _incoming_page(request, school_id, decline_form=form)


# --- The new intake list --------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def intake(request: HttpRequest, school_id: int, start_year: int) -> HttpResponse:
    school = get_scoped_or_404(School.objects.all(), request.user, Perm.YEAR_INTAKE, pk=school_id)
    year = SchoolYear.objects.filter(school=school, start_year=start_year).first()
    if year is None:
        raise Http404
    classes = dict(SchoolClass.objects.filter(school_year=year).values_list("name", "pk"))
    form = IntakeForm(request.POST or None)
    check: IntakeCheck | None = None
    if request.method == "POST" and form.is_valid():
        rows = intake_rows(form.cleaned_data["rows"], classes, request.POST)
        try:
            if request.POST.get("action") == "commit":
                result = intake_commit(
                    actor=request.user, school=school, start_year=start_year, rows=rows
                )
                messages.success(
                    request,
                    _(
                        "Đã ghi danh sách tuyển mới: %(created)d học sinh mới (đã cấp mã tạm và "
                        "gửi xác thực định danh), %(linked)d học sinh đã có hồ sơ được liên kết."
                    )
                    % {"created": len(result.created), "linked": len(result.linked)},
                )
                return redirect("web:handover_intake", school.pk, start_year)
            check = intake_check(
                actor=request.user, school=school, start_year=start_year, rows=rows
            )
        except ValidationError as error:
            form.add_service_errors(error)
            try:
                check = intake_check(
                    actor=request.user, school=school, start_year=start_year, rows=rows
                )
            except ValidationError:
                check = None  # the year itself is refused: its message is on the form
    title = _("Danh sách tuyển mới")
    plans = [
        (
            row,
            decision_choices(row) if row.look_alikes and row.state != RowState.LINK else [],
            request.POST.get(f"lien_ket_{row.line}", ""),
            request.POST.get(f"ly_do_{row.line}", ""),
        )
        for row in (check.rows if check else [])
    ]
    return render(
        request,
        "handover/intake.html",
        {
            "title": title,
            "school": school,
            "year": year,
            "form": form,
            "check": check,
            "plans": plans,
            "breadcrumbs": _crumbs(school, title),
        },
    )
