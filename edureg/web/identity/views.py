"""Identity screens (xác thực danh tính với CSDL quốc gia về dân cư): the requests to verify a
pupil, a class, a school or the whole authority, the "no ID number" declaration, and the
school's mismatch queue with its actions. Parse, call a service or selector, render or
redirect; the services and selectors decide who may (out of scope 404, no permission 403).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from edureg.access.policy import has_perm_at
from edureg.access.roles import Perm
from edureg.identity import selectors
from edureg.identity.models import IdentityState, JobKind, VerificationJob
from edureg.identity.services import (
    QueueAction,
    Target,
    no_id_declare,
    queue_update,
    verification_request,
)
from edureg.registry.selectors import student_get
from edureg.web import views as web_views
from edureg.web.identity.forms import CorrectionForm, NoIdForm, QueueFilterForm
from edureg.web.quality.forms import valid_or_empty

# The entity as it appears in the queue's URLs.
ENTITY_SLUGS: dict[str, str] = {"hoc-sinh": "student", "can-bo": "staff"}
SLUG_OF: dict[str, str] = {entity: slug for slug, entity in ENTITY_SLUGS.items()}


def _back(request: HttpRequest, default: str) -> str:
    """The page the form was posted from (``next``, a path on this site), else ``default``."""
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _sent_message(request: HttpRequest, job: VerificationJob) -> None:
    if job.persons:
        messages.success(request, ngettext(
            "Đã gửi %(count)d người đi xác thực với CSDL quốc gia về dân cư. Kết quả thường có "
            "sau ít phút; tải lại trang để xem tiến độ.",
            "Đã gửi %(count)d người đi xác thực với CSDL quốc gia về dân cư. Kết quả thường có "
            "sau ít phút; tải lại trang để xem tiến độ.", job.persons) % {"count": job.persons})
    else:
        messages.info(request, _("Không có ai cần gửi đi xác thực: mọi người đã được xác thực, "
                                 "đang chờ kết quả hoặc đã khai báo không có số định danh."))


def _service_errors(request: HttpRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


# --- Requests --------------------------------------------------------------------------------

@login_required
@require_POST
def verify_student(request: HttpRequest, student_id: int) -> HttpResponse:
    verification_request(actor=request.user, target=Target(
        kind=JobKind.PERSON, entity="student", record_id=student_id))
    messages.success(request, _("Đã gửi yêu cầu xác thực với CSDL quốc gia về dân cư. Kết quả "
                                "thường có sau vài giây; tải lại trang để xem."))
    return redirect(reverse("web:student", args=[student_id]) + "#xac-thuc")


@login_required
@require_POST
def verify_class(request: HttpRequest, class_id: int) -> HttpResponse:
    job = verification_request(actor=request.user,
                               target=Target(kind=JobKind.CLASS, class_id=class_id))
    _sent_message(request, job)
    return redirect(reverse("web:class", args=[class_id]) + "#xac-thuc")


@login_required
@require_POST
def verify_school(request: HttpRequest, school_id: int) -> HttpResponse:
    job = verification_request(actor=request.user,
                               target=Target(kind=JobKind.SCHOOL, school_id=school_id))
    _sent_message(request, job)
    return redirect(reverse("web:school", args=[school_id]) + "#xac-thuc")


@login_required
@require_POST
def verify_authority(request: HttpRequest, authority_id: int) -> HttpResponse:
    job = verification_request(actor=request.user,
                               target=Target(kind=JobKind.AUTHORITY, authority_id=authority_id))
    _sent_message(request, job)
    return redirect(reverse("web:quality") + "#xac-thuc")


# --- A pupil without ID number ---------------------------------------------------------------

@login_required
@require_POST
def no_id(request: HttpRequest, student_id: int) -> HttpResponse:
    actor = request.user
    form = NoIdForm(request.POST)
    form.is_valid()
    values = form.cleaned_data
    try:
        no_id_declare(actor=actor, entity="student", record_id=student_id,
                      reason=values.get("no_id_reason") or "", note=values.get("no_id_note") or "")
    except ValidationError as error:
        form.add_service_errors(error)
        shown = student_get(actor=actor, student_id=student_id)
        return web_views.student_detail_page(request, shown, no_id_form=form)
    messages.success(request, _("Đã ghi nhận: học sinh không có số định danh cá nhân."))
    return redirect(reverse("web:student", args=[student_id]) + "#xac-thuc")


# --- The mismatch queue ----------------------------------------------------------------------

def _with(request: HttpRequest, **changes: object) -> str:
    query: QueryDict = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    encoded = query.urlencode()
    return f"{request.path}?{encoded}" if encoded else request.path


@login_required
@require_GET
def queue(request: HttpRequest, school_id: int) -> HttpResponse:
    actor = request.user
    form = QueueFilterForm(request.GET or None)
    values = valid_or_empty(form)
    result = selectors.queue_for_school(actor=actor, school_id=school_id,
                                        queue_status=values.get("trang_thai") or "",
                                        page=values.get("trang") or 1)
    school = result.school
    title = _("Hàng đợi sai lệch danh tính")
    return render(request, "web/identity/queue.html", {
        "title": title, "form": form, "queue": result, "school": school,
        "rows": [(row, SLUG_OF[row.entity]) for row in result.rows],
        "may_edit": has_perm_at(actor, Perm.STUDENT_EDIT, school.pk),
        "here": request.get_full_path(),
        "pager": {
            "paged": result,
            "previous_url": _with(request, trang=result.previous) if result.has_previous
            else None,
            "next_url": _with(request, trang=result.next) if result.has_next else None,
        },
        "breadcrumbs": [(gettext_lazy("Trang chủ"), reverse("web:home")),
                        (school.name, reverse("web:school", args=[school.pk])), (title, None)],
    })


def _queue_url(result: IdentityState | VerificationJob) -> str:
    school_id = result.school_id
    return reverse("web:identity_queue", args=[school_id]) if school_id else reverse("web:home")


def _entity(slug: str) -> str:
    entity = ENTITY_SLUGS.get(slug)
    if entity is None:
        raise Http404
    return entity


@login_required
@require_POST
def correction_requested(request: HttpRequest, entity: str, record_id: int) -> HttpResponse:
    form = CorrectionForm(request.POST)
    form.is_valid()
    try:
        result = queue_update(actor=request.user, entity=_entity(entity), record_id=record_id,
                              action=QueueAction.CORRECTION_REQUESTED,
                              note=form.cleaned_data.get("queue_note") or "")
    except ValidationError as error:
        _service_errors(request, error)
        return redirect(_back(request, reverse("web:home")))
    messages.success(request, _("Đã ghi nhận: đã đề nghị gia đình đính chính CSDL dân cư."))
    return redirect(_back(request, _queue_url(result)))


@login_required
@require_POST
def reverify(request: HttpRequest, entity: str, record_id: int) -> HttpResponse:
    try:
        result = queue_update(actor=request.user, entity=_entity(entity), record_id=record_id,
                              action=QueueAction.REVERIFY)
    except ValidationError as error:
        _service_errors(request, error)
        return redirect(_back(request, reverse("web:home")))
    messages.success(request, _("Đã gửi xác thực lại với CSDL quốc gia về dân cư; kết quả "
                                "thường có sau vài giây."))
    return redirect(_back(request, _queue_url(result)))
