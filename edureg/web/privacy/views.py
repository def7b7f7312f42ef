"""Consent (đồng ý xử lý dữ liệu) on the pupil's page, and the data-protection policy staff
acknowledge. Parse, call a service or selector, render or redirect; the services and selectors
decide who may (out of scope 404, no permission 403)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from edureg.access.policy import get_scoped_or_404
from edureg.access.roles import Perm
from edureg.privacy.incidents import (
    IncidentData,
    incident_get,
    incident_notify,
    incident_record,
    incident_register,
    incident_update,
)
from edureg.privacy.policy import (
    PolicyNotAcknowledged,
    acknowledgement_overview,
    has_acknowledged,
    policy_acknowledge,
    policy_in_force,
)
from edureg.privacy.purposes import purposes_in_force
from edureg.privacy.services import (
    ConsentGiven,
    ConsentWithdrawal,
    consent_give,
    consent_withdraw,
)
from edureg.registry.models import Student
from edureg.registry.selectors import student_get
from edureg.schools.models import School
from edureg.web import views as web_views
from edureg.web.privacy.forms import (
    AcknowledgeForm,
    ConsentGiveForm,
    ConsentWithdrawForm,
    IncidentForm,
    IncidentNotifyForm,
)

_ANCHOR = "#dong-y"


def _student(request: HttpRequest, student_id: int, view: str) -> Student:
    return student_get(actor=request.user, student_id=student_id, perm=Perm.CONSENT_RECORD,
                       audit_view=view)


def _to_policy(request: HttpRequest, error: PolicyNotAcknowledged, back: str) -> HttpResponse:
    messages.error(request, error.message)
    return redirect(reverse("web:privacy_policy") + "?next=" + back)


@login_required
@require_POST
def consent_give_view(request: HttpRequest, student_id: int) -> HttpResponse:
    actor = request.user
    student = _student(request, student_id, "consent_give")
    back = reverse("web:student", args=[student.pk])
    purposes = purposes_in_force()
    purpose = purposes.get(request.POST.get("purpose", ""))
    if purpose is None or not purpose.requires_consent:
        messages.error(request, _("Hãy chọn một mục đích cần sự đồng ý trong danh sách."))
        return redirect(back + _ANCHOR)
    guardians = [link.guardian for link in student.guardian_links.all()]
    form = ConsentGiveForm(request.POST, purpose=purpose, guardians=guardians,
                           channels=purposes.channels)
    if form.is_valid():
        values = form.cleaned_data
        try:
            consent_give(actor=actor, student=student, data=ConsentGiven(
                purpose=purpose.code, notice_version=values["notice_version"],
                guardian=form.chosen_guardian(), subject_agreed=values["subject_agreed"],
                channel=values["channel"], evidence_reference=values["evidence_reference"],
                given_on=values["given_on"]))
        except PolicyNotAcknowledged as error:
            return _to_policy(request, error, back)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("Đã ghi nhận sự đồng ý cho mục đích “%(purpose)s” của "
                                        "học sinh %(name)s.")
                             % {"purpose": purpose.name, "name": student.full_name})
            return redirect(back + _ANCHOR)
    return web_views.student_detail_page(request, student,
                                         consent_forms={("give", purpose.code): form})


@login_required
@require_POST
def consent_withdraw_view(request: HttpRequest, student_id: int, purpose: str) -> HttpResponse:
    actor = request.user
    student = _student(request, student_id, "consent_withdraw")
    back = reverse("web:student", args=[student.pk])
    purposes = purposes_in_force()
    found = purposes.get(purpose)
    if found is None or not found.requires_consent:
        messages.error(request, _("Không có mục đích này trong danh sách mục đích cần sự đồng "
                                  "ý."))
        return redirect(back + _ANCHOR)
    guardians = [link.guardian for link in student.guardian_links.all()]
    form = ConsentWithdrawForm(request.POST, purpose=found, guardians=guardians,
                               channels=purposes.channels)
    if form.is_valid():
        values = form.cleaned_data
        try:
            consent_withdraw(actor=actor, student=student, data=ConsentWithdrawal(
                purpose=found.code, withdrawn_by_guardian=form.chosen_guardian(),
                withdrawn_by_subject=form.by_subject(),
                channel=values["withdrawal_channel"],
                evidence_reference=values["withdrawal_evidence"],
                withdrawn_on=values["withdrawn_on"]))
        except PolicyNotAcknowledged as error:
            return _to_policy(request, error, back)
        except ValidationError as error:
            if "purpose" in getattr(error, "error_dict", {}):
                for message in error.messages:
                    messages.error(request, message)
                return redirect(back + _ANCHOR)
            form.add_service_errors(error)
        else:
            messages.success(request, _("Đã ghi nhận việc rút lại sự đồng ý cho mục đích "
                                        "“%(purpose)s” của học sinh %(name)s; từ nay không xử "
                                        "lý dữ liệu cho mục đích này.")
                             % {"purpose": found.name, "name": student.full_name})
            return redirect(back + _ANCHOR)
    return web_views.student_detail_page(request, student,
                                         consent_forms={("withdraw", found.code): form})


def _next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return None


@login_required
@require_http_methods(["GET", "POST"])
def policy(request: HttpRequest) -> HttpResponse:
    """The policy in force, to read and acknowledge (any signed-in account)."""
    current = policy_in_force()
    if request.method == "POST":
        form = AcknowledgeForm(request.POST)
        if form.is_valid():
            try:
                policy_acknowledge(actor=request.user, version=form.cleaned_data["version"])
            except ValidationError as error:
                for message in error.messages:
                    form.add_error(None, message)
            else:
                messages.success(request, _("Đã ghi nhận bạn đã đọc Quy chế bảo vệ dữ liệu cá "
                                            "nhân phiên bản %(version)s.")
                                 % {"version": current.version})
                return redirect(_next(request) or reverse("web:privacy_policy"))
    else:
        form = AcknowledgeForm(initial={"version": current.version})
    title = _("Quy chế bảo vệ dữ liệu cá nhân")
    return render(request, "web/privacy/policy.html", {
        "title": title, "policy": current, "form": form,
        "acknowledged": has_acknowledged(request.user, current.version),
        "next": _next(request) or "",
        "breadcrumbs": [(gettext_lazy("Trang chủ"), reverse("web:home")), (title, None)],
    })


@login_required
@require_GET
def acknowledgements(request: HttpRequest, school_id: int) -> HttpResponse:
    overview = acknowledgement_overview(actor=request.user, school_id=school_id)
    title = _("Xác nhận quy chế bảo vệ dữ liệu")
    return render(request, "web/privacy/acknowledgements.html", {
        "title": title, "overview": overview, "school": overview.school,
        "breadcrumbs": [(gettext_lazy("Trang chủ"), reverse("web:home")),
                        (overview.school.name, reverse("web:school", args=[overview.school.pk])),
                        (title, None)],
    })


# --- Incidents (sự cố dữ liệu cá nhân) ---------------------------------------------------------

def _incident_data(values: dict[str, object]) -> IncidentData:
    return IncidentData(
        detected_at=values.get("detected_at"),  # type: ignore[arg-type]
        title=str(values.get("title") or ""), description=str(values.get("description") or ""),
        affected_count=values.get("affected_count"),  # type: ignore[arg-type]
        actions_taken=str(values.get("actions_taken") or ""))


def _incidents_page(request: HttpRequest, school_id: int, *, new_form: IncidentForm | None = None,
                    forms: dict[tuple[str, int], Form] | None = None,
                    status: int = 200) -> HttpResponse:
    register = incident_register(actor=request.user, school_id=school_id)
    bound = forms or {}
    rows = [{
        "row": row,
        "edit": bound.get(("edit", row.incident.pk)) or IncidentForm(
            initial={"detected_at": timezone.localtime(row.incident.detected_at),
                     "title": row.incident.title, "description": row.incident.description,
                     "affected_count": row.incident.affected_count,
                     "actions_taken": row.incident.actions_taken},
            auto_id=f"su-co-{row.incident.pk}-%s"),
        "notify": bound.get(("notify", row.incident.pk)) or IncidentNotifyForm(
            auto_id=f"thong-bao-{row.incident.pk}-%s"),
    } for row in register.rows]
    title = _("Sự cố dữ liệu cá nhân")
    return render(request, "web/privacy/incidents.html", {
        "title": title, "register": register, "school": register.school, "rows": rows,
        "form": new_form or IncidentForm(auto_id="su-co-moi-%s"),
        "breadcrumbs": [(gettext_lazy("Trang chủ"), reverse("web:home")),
                        (register.school.name, reverse("web:school",
                                                       args=[register.school.pk])),
                        (title, None)],
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def incidents(request: HttpRequest, school_id: int) -> HttpResponse:
    """The school's breach register with the notification clock, and the form to record one."""
    if request.method != "POST":
        return _incidents_page(request, school_id)
    school = get_scoped_or_404(School.objects.all(), request.user, Perm.INCIDENT_MANAGE,
                               pk=school_id)
    form = IncidentForm(request.POST, auto_id="su-co-moi-%s")
    if form.is_valid():
        try:
            incident_record(actor=request.user, school=school,
                            data=_incident_data(form.cleaned_data))
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("Đã ghi nhận sự cố. Hãy thông báo cho cơ quan chức năng "
                                        "trong thời hạn quy định."))
            return redirect(reverse("web:privacy_incidents", args=[school.pk]))
    return _incidents_page(request, school_id, new_form=form)


@login_required
@require_POST
def incident_edit(request: HttpRequest, school_id: int, incident_id: int) -> HttpResponse:
    incident_get(actor=request.user, school_id=school_id, incident_id=incident_id)
    form = IncidentForm(request.POST, auto_id=f"su-co-{incident_id}-%s")
    if form.is_valid():
        try:
            incident_update(actor=request.user, school_id=school_id, incident_id=incident_id,
                            data=_incident_data(form.cleaned_data))
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("Đã cập nhật sự cố."))
            return redirect(reverse("web:privacy_incidents", args=[school_id]))
    return _incidents_page(request, school_id, forms={("edit", incident_id): form})


@login_required
@require_POST
def incident_notify_view(request: HttpRequest, school_id: int, incident_id: int
                         ) -> HttpResponse:
    incident_get(actor=request.user, school_id=school_id, incident_id=incident_id)
    form = IncidentNotifyForm(request.POST, auto_id=f"thong-bao-{incident_id}-%s")
    if form.is_valid():
        try:
            incident_notify(actor=request.user, school_id=school_id, incident_id=incident_id,
                            notified_at=form.cleaned_data["notified_at"],
                            reference=form.cleaned_data["notification_reference"])
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("Đã ghi nhận việc thông báo sự cố cho cơ quan chức "
                                        "năng."))
            return redirect(reverse("web:privacy_incidents", args=[school_id]))
    return _incidents_page(request, school_id, forms={("notify", incident_id): form})
