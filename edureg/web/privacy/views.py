"""Consent (đồng ý xử lý dữ liệu) on the pupil's page, and the data-protection policy staff
acknowledge. Parse, call a service or selector, render or redirect; the services and selectors
decide who may (out of scope 404, no permission 403)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from edureg.access.policy import get_scoped_or_404
from edureg.access.roles import Perm
from edureg.privacy import portal
from edureg.privacy.deadlines import SubjectRequestDeadlines, deadlines_in_force
from edureg.privacy.incidents import (
    IncidentData,
    incident_get,
    incident_notify,
    incident_record,
    incident_register,
    incident_update,
)
from edureg.privacy.models import RequesterRelation, SubjectRequestKind
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
from edureg.privacy.subject_requests import (
    SubjectRequestData,
    assignable_users,
    deletion_explanation,
    subject_request_acknowledge,
    subject_request_answer,
    subject_request_assign,
    subject_request_close,
    subject_request_detail,
    subject_request_get,
    subject_request_record,
    subject_request_refuse,
    subject_request_register,
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
    SubjectRequestAssignForm,
    SubjectRequestForm,
    SubjectRequestResponseForm,
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


# --- Data-subject requests (yêu cầu của chủ thể dữ liệu) ----------------------------------------

def _request_form(data: object = None) -> SubjectRequestForm:
    rules = subject_request_register_rules()
    return SubjectRequestForm(data, kinds=[(k, str(n)) for k, n in SubjectRequestKind.choices],
                              relations=[(k, str(n)) for k, n in RequesterRelation.choices],
                              channels=[(c.code, c.name) for c in rules.channels],
                              auto_id="yeu-cau-moi-%s")


def subject_request_register_rules() -> SubjectRequestDeadlines:
    rules = deadlines_in_force().subject_requests
    assert rules is not None, "the deadlines in force give no data-subject request deadlines"
    return rules


def _school_crumbs(school: School, title: str, *, list_title: str | None = None
                   ) -> list[tuple[object, str | None]]:
    crumbs: list[tuple[object, str | None]] = [
        (gettext_lazy("Trang chủ"), reverse("web:home")),
        (school.name, reverse("web:school", args=[school.pk]))]
    if list_title is not None:
        crumbs.append((list_title, reverse("web:privacy_subject_requests", args=[school.pk])))
    return [*crumbs, (title, None)]


def _subject_requests_page(request: HttpRequest, school_id: int, *,
                           form: SubjectRequestForm | None = None) -> HttpResponse:
    register = subject_request_register(actor=request.user, school_id=school_id)
    title = _("Yêu cầu của chủ thể dữ liệu")
    return render(request, "web/privacy/subject_requests.html", {
        "title": title, "register": register, "school": register.school,
        "channels": {portal.CHANNEL: portal.channel_name(portal.CHANNEL),
                     **{c.code: c.name for c in register.rules.channels}},
        "form": form or _request_form(),
        "breadcrumbs": _school_crumbs(register.school, title),
    })


@login_required
@require_http_methods(["GET", "POST"])
def subject_requests(request: HttpRequest, school_id: int) -> HttpResponse:
    """The school's data-subject requests with their deadlines (overdue first), and the form to
    record one."""
    if request.method != "POST":
        return _subject_requests_page(request, school_id)
    school = get_scoped_or_404(School.objects.all(), request.user, Perm.SUBJECT_REQUEST_MANAGE,
                               pk=school_id)
    form = _request_form(request.POST)
    if form.is_valid():
        values = form.cleaned_data
        try:
            created = subject_request_record(actor=request.user, school=school,
                                             data=SubjectRequestData(
                kind=values["kind"], student_code=values["student_code"],
                received_at=values["received_at"], channel=values["channel"],
                requester_relation=values["requester_relation"], details=values["details"]))
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("Đã ghi nhận yêu cầu. Hãy xác nhận đã nhận với người "
                                        "yêu cầu trong thời hạn."))
            return redirect(reverse("web:privacy_subject_request", args=[school.pk, created.pk]))
    return _subject_requests_page(request, school_id, form=form)


def _subject_request_page(request: HttpRequest, school_id: int, request_id: int, *,
                          forms: dict[str, Form] | None = None) -> HttpResponse:
    row = subject_request_detail(actor=request.user, school_id=school_id,
                                 request_id=request_id)
    item = row.request
    school = School.objects.get(pk=item.school_id)
    bound = forms or {}
    users = [(u.pk, u.full_name or u.username) for u in assignable_users(school)]
    rules = subject_request_register_rules()
    channel = rules.channel(item.channel)
    title = _("Yêu cầu số %(number)d") % {"number": item.pk}
    return render(request, "web/privacy/subject_request.html", {
        "title": title, "row": row, "item": item, "school": school,
        "channel": channel.name if channel is not None
        else portal.channel_name(item.channel) or item.channel,
        "deletion": deletion_explanation() if item.kind == SubjectRequestKind.DELETION else None,
        "assign": bound.get("phan-cong") or SubjectRequestAssignForm(
            users=users, initial={"assigned_to": item.assigned_to_id},
            auto_id="phan-cong-%s"),
        "answer": bound.get("tra-loi") or SubjectRequestResponseForm(
            label=_("Nội dung trả lời"), auto_id="tra-loi-%s"),
        "refuse": bound.get("tu-choi") or SubjectRequestResponseForm(
            label=_("Lý do từ chối"), auto_id="tu-choi-%s"),
        "breadcrumbs": _school_crumbs(school, title,
                                      list_title=_("Yêu cầu của chủ thể dữ liệu")),
    })


@login_required
@require_GET
def subject_request(request: HttpRequest, school_id: int, request_id: int) -> HttpResponse:
    """One request: its deadlines, what a deletion cannot remove, and the actions."""
    return _subject_request_page(request, school_id, request_id)


_ACTIONS = ("xac-nhan", "phan-cong", "tra-loi", "tu-choi", "dong")


@login_required
@require_POST
def subject_request_action(request: HttpRequest, school_id: int, request_id: int,
                           action: str) -> HttpResponse:
    """Acknowledge (xac-nhan), assign (phan-cong), answer (tra-loi), refuse (tu-choi) or close
    (dong) a request."""
    found = subject_request_get(actor=request.user, school_id=school_id, request_id=request_id)
    if action not in _ACTIONS:
        raise Http404
    actor = request.user
    back = reverse("web:privacy_subject_request", args=[school_id, found.pk])
    form: SubjectRequestAssignForm | SubjectRequestResponseForm
    try:
        if action == "xac-nhan":
            subject_request_acknowledge(actor=actor, school_id=school_id, request_id=found.pk)
            messages.success(request, _("Đã ghi nhận việc xác nhận đã nhận yêu cầu."))
        elif action == "dong":
            subject_request_close(actor=actor, school_id=school_id, request_id=found.pk)
            messages.success(request, _("Đã đóng yêu cầu."))
        elif action == "phan-cong":
            school = School.objects.get(pk=found.school_id)
            users = [(u.pk, u.full_name or u.username) for u in assignable_users(school)]
            form = SubjectRequestAssignForm(request.POST, users=users, auto_id="phan-cong-%s")
            if not form.is_valid():
                return _subject_request_page(request, school_id, found.pk,
                                             forms={action: form})
            subject_request_assign(actor=actor, school_id=school_id, request_id=found.pk,
                                   assignee_id=form.cleaned_data["assigned_to"])
            messages.success(request, _("Đã phân công người xử lý."))
        else:
            label = _("Nội dung trả lời") if action == "tra-loi" else _("Lý do từ chối")
            form = SubjectRequestResponseForm(request.POST, label=label,
                                              auto_id=f"{action}-%s")
            if not form.is_valid():
                return _subject_request_page(request, school_id, found.pk,
                                             forms={action: form})
            if action == "tra-loi":
                subject_request_answer(actor=actor, school_id=school_id, request_id=found.pk,
                                       response=form.cleaned_data["response"])
                messages.success(request, _("Đã ghi nhận câu trả lời."))
            else:
                subject_request_refuse(actor=actor, school_id=school_id, request_id=found.pk,
                                       reason=form.cleaned_data["response"])
                messages.success(request, _("Đã ghi nhận việc từ chối yêu cầu và lý do."))
    except ValidationError as error:
        if action in {"phan-cong", "tra-loi", "tu-choi"} and "status" not in getattr(
                error, "error_dict", {}):
            form.add_service_errors(error)
            return _subject_request_page(request, school_id, found.pk, forms={action: form})
        for message in error.messages:
            messages.error(request, message)
    return redirect(back)
