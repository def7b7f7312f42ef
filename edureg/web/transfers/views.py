"""Transfer screens (chuyển trường): the sending school asks from the pupil's page and may
withdraw; the receiving school sees its incoming requests and accepts (placing the pupil in a
class) or refuses. Parse, call a service or selector, render or redirect; the services and
selectors decide who may (out of scope 404, no permission 403)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from edureg.registry import transfer_selectors as selectors
from edureg.registry.models import SchoolClass, Transfer
from edureg.registry.selectors import student_get
from edureg.registry.transfers import (
    transfer_accept,
    transfer_cancel,
    transfer_refuse,
    transfer_request,
)
from edureg.schools.models import School
from edureg.web import views as web_views
from edureg.web.transfers.forms import (
    TransferAcceptForm,
    TransferRefuseForm,
    TransferRequestForm,
)

_Forms = tuple[TransferAcceptForm, TransferRefuseForm]


def _back(request: HttpRequest, default: str) -> str:
    """The page the form was posted from (``next``, a path on this site), else ``default``."""
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _crumbs(school: School, title: str) -> list[tuple[object, str | None]]:
    return [(gettext_lazy("Trang chủ"), reverse("web:home")),
            (school.name, reverse("web:school", args=[school.pk])), (title, None)]


# --- The sending school ----------------------------------------------------------------------

@login_required
@require_POST
def request_transfer(request: HttpRequest, student_id: int) -> HttpResponse:
    actor = request.user
    student = selectors.transfer_student_get(actor=actor, student_id=student_id)
    form = TransferRequestForm(request.POST,
                               schools=selectors.transfer_destinations(student=student))
    if form.is_valid():
        values = form.cleaned_data
        try:
            transfer = transfer_request(actor=actor, student=student,
                                        to_school=values["to_school"],
                                        effective_on=values["effective_on"],
                                        note=values["note"])
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _(
                "Đã gửi đề nghị chuyển học sinh %(name)s sang %(school)s. Học sinh vẫn thuộc "
                "trường cho đến khi trường nhận đồng ý.")
                % {"name": student.full_name, "school": transfer.to_school.name})
            return redirect(reverse("web:student", args=[student.pk]) + "#chuyen-truong")
    shown = student_get(actor=actor, student_id=student.pk)
    return web_views.student_detail_page(request, shown, transfer_form=form)


@login_required
@require_POST
def cancel(request: HttpRequest, transfer_id: int) -> HttpResponse:
    transfer = selectors.transfer_outgoing_get(actor=request.user, transfer_id=transfer_id)
    default = reverse("web:student", args=[transfer.student_id]) + "#chuyen-truong"
    try:
        transfer_cancel(actor=request.user, transfer=transfer)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Đã huỷ đề nghị chuyển trường của học sinh %(name)s.")
                         % {"name": transfer.student.full_name})
    return redirect(_back(request, default))


@login_required
@require_GET
def outgoing(request: HttpRequest, school_id: int) -> HttpResponse:
    result = selectors.outgoing_for_school(actor=request.user, school_id=school_id)
    title = _("Học sinh chuyển đi")
    return render(request, "web/transfers/outgoing.html", {
        "title": title, "school": result.school, "outgoing": result,
        "here": request.get_full_path(),
        "breadcrumbs": _crumbs(result.school, title),
    })


# --- The receiving school --------------------------------------------------------------------

def _incoming_page(request: HttpRequest, school_id: int, *,
                   bound: dict[int, _Forms] | None = None) -> HttpResponse:
    result = selectors.incoming_for_school(actor=request.user, school_id=school_id)
    classes = selectors.placement_classes(school=result.school)
    bound = bound or {}
    rows = [(row, *bound.get(row.transfer_id, (
        TransferAcceptForm(transfer_id=row.transfer_id, classes=classes),
        TransferRefuseForm(transfer_id=row.transfer_id))))
        for row in result.rows]
    title = _("Học sinh chuyển đến")
    return render(request, "web/transfers/incoming.html", {
        "title": title, "school": result.school, "rows": rows, "has_classes": bool(classes),
        "breadcrumbs": _crumbs(result.school, title),
    })


@login_required
@require_GET
def incoming(request: HttpRequest, school_id: int) -> HttpResponse:
    return _incoming_page(request, school_id)


def _closed(request: HttpRequest, transfer: Transfer, error: ValidationError) -> bool:
    """A request decided meanwhile is no longer on the page: say so at the top."""
    if "transfer" not in getattr(error, "error_dict", {}):
        return False
    for message in error.messages:
        messages.error(request, message)
    return True


@login_required
@require_POST
def accept(request: HttpRequest, transfer_id: int) -> HttpResponse:
    actor = request.user
    transfer = selectors.transfer_incoming_get(actor=actor, transfer_id=transfer_id)
    classes = selectors.placement_classes(school=transfer.to_school)
    form = TransferAcceptForm(request.POST, transfer_id=transfer.pk, classes=classes)
    if form.is_valid():
        school_class: SchoolClass = form.chosen_class()
        try:
            transfer_accept(actor=actor, transfer=transfer, school_class=school_class,
                            note=form.cleaned_data["decision_note"])
        except ValidationError as error:
            if _closed(request, transfer, error):
                return redirect("web:transfers_incoming", transfer.to_school_id)
            form.add_service_errors(error)
        else:
            messages.success(request, _("Đã nhận học sinh %(name)s vào lớp %(class_name)s.")
                             % {"name": transfer.student.full_name,
                                "class_name": school_class.name})
            return redirect("web:student", transfer.student_id)
    return _incoming_page(request, transfer.to_school_id, bound={
        transfer.pk: (form, TransferRefuseForm(transfer_id=transfer.pk))})


@login_required
@require_POST
def refuse(request: HttpRequest, transfer_id: int) -> HttpResponse:
    actor = request.user
    transfer = selectors.transfer_incoming_get(actor=actor, transfer_id=transfer_id)
    form = TransferRefuseForm(request.POST, transfer_id=transfer.pk)
    form.is_valid()
    try:
        transfer_refuse(actor=actor, transfer=transfer,
                        note=form.cleaned_data.get("decision_note") or "")
    except ValidationError as error:
        if _closed(request, transfer, error):
            return redirect("web:transfers_incoming", transfer.to_school_id)
        form.add_service_errors(error)
        classes = selectors.placement_classes(school=transfer.to_school)
        return _incoming_page(request, transfer.to_school_id, bound={
            transfer.pk: (TransferAcceptForm(transfer_id=transfer.pk, classes=classes), form)})
    messages.success(request, _("Đã từ chối nhận học sinh %(name)s; trường gửi sẽ thấy lý do.")
                     % {"name": transfer.student.full_name})
    return redirect("web:transfers_incoming", transfer.to_school_id)
