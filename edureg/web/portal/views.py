"""The parents' look-up portal (``privacy.portal``): no staff account; a parent or guardian
proves who they are with the pupil's education id, birth date and a one-time code sent to
their phone on file, then sees that one pupil's record. Pages are never cached."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from edureg.access.authentication import client_of
from edureg.access.visibility import Visibility
from edureg.core.catalogue import active_catalogue
from edureg.privacy import portal
from edureg.privacy.purposes import purposes_in_force
from edureg.web import display
from edureg.web.portal.forms import CodeForm, CorrectionForm, LookupForm

_TOKEN = "portal_token"  # noqa: S105 - the session key's name


def _address(request: HttpRequest) -> str:
    return client_of(request).address or "unknown"


def _session(request: HttpRequest) -> portal.PortalSession | None:
    return portal.portal_session(str(request.session.get(_TOKEN, "")))


def _to_lookup(request: HttpRequest) -> HttpResponseRedirect:
    messages.info(request, _("Phiên tra cứu đã kết thúc hoặc chưa xác thực. Hãy tra cứu lại."))
    return redirect("web:portal")


@never_cache
@require_http_methods(["GET", "POST"])
def lookup(request: HttpRequest) -> HttpResponse:
    form = LookupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            token = portal.portal_lookup_start(
                education_id=form.cleaned_data["education_id"] or "",
                date_of_birth=form.cleaned_data["date_of_birth"], address=_address(request))
        except ValidationError as error:
            form.add_service_errors(error)
        except portal.PortalRefused as refused:
            form.add_error(None, refused.message)
        else:
            request.session.cycle_key()
            request.session[_TOKEN] = token
            return redirect("web:portal_code")
    return render(request, "web/portal/lookup.html", {
        "title": _("Tra cứu hồ sơ học sinh"), "form": form,
        "minutes": portal.portal_limits().code_minutes})


@never_cache
@require_http_methods(["GET", "POST"])
def code(request: HttpRequest) -> HttpResponse:
    token = str(request.session.get(_TOKEN, ""))
    if not token:
        return _to_lookup(request)
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            portal.portal_code_check(token=token, code=form.cleaned_data["code"] or "",
                                     address=_address(request))
        except portal.PortalRefused as refused:
            form.add_error(refused.field if refused.field in form.fields else None,
                           refused.message)
        else:
            request.session.cycle_key()
            return redirect("web:portal_record")
    return render(request, "web/portal/code.html", {
        "title": _("Nhập mã xác thực"), "form": form,
        "minutes": portal.portal_limits().code_minutes})


def _record_page(request: HttpRequest, session: portal.PortalSession,
                 correction_form: CorrectionForm | None = None,
                 status: int = 200) -> HttpResponse:
    page = portal.portal_page(session)
    student = session.student
    everything = Visibility(hidden=frozenset(), masked=frozenset())
    others = Visibility(hidden=active_catalogue().sensitive_names("guardian"),
                        masked=active_catalogue().identifying_names("guardian"))
    links = list(student.guardian_links.select_related("guardian").all())
    return render(request, "web/portal/record.html", {
        "title": _("Hồ sơ học sinh"),
        "student": student,
        "portal_school": student.school,
        "guardian": session.guardian,
        "sections": display.student_sections(student, everything),
        "guardians": display.guardian_rows(links, others),
        "enrolments": display.enrolment_rows(list(student.enrolments.all())),
        "consents": page.consents,
        "withdrawable": {row.purpose.code for row in portal.withdrawable(page.consents)},
        "history": page.history,
        "requests": page.requests,
        "correction_form": correction_form or CorrectionForm(),
        "session_ends_at": session.lookup.session_ends_at,
        "purposes_version": purposes_in_force().version,
    }, status=status)


@never_cache
@require_http_methods(["GET"])
def record(request: HttpRequest) -> HttpResponse:
    session = _session(request)
    if session is None:
        return _to_lookup(request)
    return _record_page(request, session)


@never_cache
@require_POST
def correction(request: HttpRequest) -> HttpResponse:
    session = _session(request)
    if session is None:
        return _to_lookup(request)
    form = CorrectionForm(request.POST)
    if form.is_valid():
        try:
            portal.portal_correction_request(session, form.cleaned_data["details"] or "")
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("Đã gửi yêu cầu sửa thông tin tới nhà trường. Nhà "
                                        "trường sẽ xác nhận trong 2 ngày làm việc."))
            return HttpResponseRedirect(reverse("web:portal_record") + "#yeu-cau")
    return _record_page(request, session, correction_form=form, status=400)


@never_cache
@require_POST
def withdraw(request: HttpRequest, purpose: str) -> HttpResponse:
    session = _session(request)
    if session is None:
        return _to_lookup(request)
    try:
        portal.portal_consent_withdraw(session, purpose)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Đã rút lại sự đồng ý. Nhà trường dừng xử lý dữ liệu cho "
                                    "mục đích này từ bây giờ."))
    return HttpResponseRedirect(reverse("web:portal_record") + "#dong-y")


@require_POST
def end(request: HttpRequest) -> HttpResponse:
    portal.portal_end(str(request.session.get(_TOKEN, "")))
    request.session.pop(_TOKEN, None)
    request.session.cycle_key()
    messages.info(request, _("Đã kết thúc phiên tra cứu."))
    return redirect("web:portal")
