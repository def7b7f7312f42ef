"""Web pages: parse, call a selector or service, render. Authorisation is the policy's and the
selectors': out of scope → 404, missing permission → 403."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from edureg.access.policy import get_scoped_or_404, has_perm_at, may, scope
from edureg.access.roles import Perm
from edureg.core.codelists import get_list
from edureg.identity import selectors as identity_selectors
from edureg.identity.models import IdentityStatus
from edureg.identity.services import may_verify_school
from edureg.privacy.policy import sensitive_withheld, visibility_for
from edureg.registry import duplicate_selectors
from edureg.registry.duplicates import Candidate, DuplicateSuspected
from edureg.registry.models import SchoolClass, Student
from edureg.registry.quality_selectors import current_attestations
from edureg.registry.selectors import (
    class_list,
    school_overview,
    schools_visible,
    staff_list,
    student_get,
)
from edureg.registry.services import identity_locked, student_update
from edureg.registry.validation import (
    STUDENT_CLEANERS,
    STUDENT_CODED,
    STUDENT_PARENTS,
    clean_person_values,
)
from edureg.schools.models import School, SchoolYear
from edureg.web import display
from edureg.web.forms import StudentEditForm, check_context
from edureg.web.identity.forms import NoIdForm
from edureg.web.privacy import display as privacy_display
from edureg.web.quality import display as quality_display
from edureg.web.quality.forms import AttestForm, attest_forms
from edureg.web.transfers import display as transfer_display
from edureg.web.transfers.forms import TransferRequestForm
from edureg.yearly.handover import RECEIVING_LEVELS

Crumb = tuple[Any, str | None]


def _school_crumbs(school: School) -> list[Crumb]:
    return [(gettext_lazy("Trang chủ"), reverse("web:home")),
            (school.name, reverse("web:school", args=[school.pk]))]


def _class_crumbs(school_class: SchoolClass, school: School, *, link: bool = True
                  ) -> list[Crumb]:
    url = reverse("web:class", args=[school_class.pk]) if link else None
    label = _("Lớp %(name)s") % {"name": school_class.name}
    return [*_school_crumbs(school), (label, url)]


def _student_crumbs(student: Student) -> list[Crumb]:
    crumbs: list[Crumb] = (
        _class_crumbs(student.current_class, student.school)
        if student.current_class is not None
        else _school_crumbs(student.school)
    )
    return [*crumbs, (student.full_name, reverse("web:student", args=[student.pk]))]


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    schools = list(schools_visible(request.user))
    if len(schools) == 1:
        return redirect("web:school", schools[0].pk)
    return render(request, "web/home.html", {"schools": schools, "breadcrumbs": [],
                                             "may_view_inventory": may(request.user,
                                                                       Perm.INVENTORY_VIEW)})


@login_required
@require_GET
def school(request: HttpRequest, school_id: int) -> HttpResponse:
    overview = school_overview(actor=request.user, school_id=school_id)
    years = [overview.school_year.label] if overview.school_year else []
    actor = request.user
    return render(request, "web/school.html", {
        "overview": overview,
        "school": overview.school,
        "years": years,
        "may_view_staff": may(actor, Perm.STAFF_VIEW, overview.school),
        "may_view_quality": has_perm_at(actor, Perm.QUALITY_VIEW, overview.school.pk),
        "may_review_acknowledgements": has_perm_at(actor, Perm.POLICY_ACK_REVIEW,
                                                   overview.school.pk),
        "may_manage_incidents": has_perm_at(actor, Perm.INCIDENT_MANAGE, overview.school.pk),
        "may_manage_subject_requests": has_perm_at(actor, Perm.SUBJECT_REQUEST_MANAGE,
                                                   overview.school.pk),
        "may_view_inventory": has_perm_at(actor, Perm.INVENTORY_VIEW, overview.school.pk),
        "may_view_sync": has_perm_at(actor, Perm.SYNC_VIEW, overview.school.pk),
        "may_run_intake": has_perm_at(actor, Perm.INTAKE_RUN, overview.school.pk),
        "may_manage_years": has_perm_at(actor, Perm.YEAR_MANAGE, overview.school.pk),
        "handover": _handover_links(actor, overview.school),
        "identity": _school_identity(request, overview.school),
        "transfers": transfer_display.school_links(actor, overview.school),
        "duplicates": {"open_count": duplicate_selectors.open_count(actor=actor,
                                                                    school=overview.school)}
        if has_perm_at(actor, Perm.DUPLICATE_REVIEW, overview.school.pk) else None,
        "breadcrumbs": [*_school_crumbs(overview.school)[:1], (overview.school.name, None)],
    })


def _handover_links(actor: Any, school: School) -> dict[str, Any]:
    """The turn-of-year hand-over screens the actor may open, for the school's newest year
    (its new intake) and the year before (its leavers, and the leavers it may claim)."""
    newest = (SchoolYear.objects.filter(school=school).order_by("-start_year")
              .values_list("start_year", flat=True).first())
    if newest is None:
        return {}
    return {
        "leaving_year": newest - 1,
        "newest_year": newest,
        "assign": has_perm_at(actor, Perm.HANDOVER_ASSIGN, school.pk),
        "receives": any(school.level in levels for levels in RECEIVING_LEVELS.values()),
        "incoming": has_perm_at(actor, Perm.STUDENT_TRANSFER, school.pk),
        "intake": has_perm_at(actor, Perm.YEAR_INTAKE, school.pk),
    }


def _school_identity(request: HttpRequest, school: School) -> dict[str, Any] | None:
    """The school page's verification block, for the people who verify or resolve."""
    actor = request.user
    may_verify = may_verify_school(actor, school)
    may_resolve = has_perm_at(actor, Perm.IDENTITY_RESOLVE, school.pk)
    if not (may_verify or may_resolve):
        return None
    return {
        "counts": identity_selectors.school_counts(actor=actor, school_id=school.pk),
        "jobs": identity_selectors.jobs_for_school(actor=actor, school_id=school.pk)
        if may_verify else None,
        "may_verify": may_verify,
        "may_resolve": may_resolve,
    }


def _class_identity(request: HttpRequest, school_class: SchoolClass,
                    rows: list[display.ClassRow]
                    ) -> tuple[list[display.ClassRow], dict[str, Any] | None]:
    """The class page's verification block (counts, a status per pupil), for the people who
    verify or resolve; the rows as given to the others."""
    actor = request.user
    school_id = school_class.school_id
    if not (has_perm_at(actor, Perm.IDENTITY_VERIFY, school_id)
            or has_perm_at(actor, Perm.IDENTITY_RESOLVE, school_id)):
        return rows, None
    statuses = identity_selectors.class_statuses(actor=actor, class_id=school_class.pk)
    marked = []
    for row in rows:
        status = IdentityStatus(statuses.get(row.student.pk, IdentityStatus.UNVERIFIED))
        marked.append(dataclasses.replace(row, identity_label=str(status.label),
                                          identity_tone=identity_selectors.STATUS_TONE[status]))
    counts = identity_selectors.StatusCounts.of(
        (statuses[row.student.pk] for row in rows if row.student.pk in statuses), len(rows))
    return marked, {
        "counts": counts,
        "may_verify": has_perm_at(actor, Perm.IDENTITY_VERIFY, school_id)
        and may(actor, Perm.IDENTITY_VERIFY, school_class),
    }


@login_required
@require_GET
def class_detail(request: HttpRequest, class_id: int) -> HttpResponse:
    actor = request.user
    result = class_list(actor=actor, class_id=class_id)
    school_class = result.school_class
    rows = display.class_rows(result.students, visibility_for(
        actor, "student", school_id=school_class.school_id))
    may_attest = (has_perm_at(actor, Perm.QUALITY_ATTEST, school_class.school_id)
                  and may(actor, Perm.QUALITY_ATTEST, school_class))
    rows, identity = _class_identity(request, school_class, rows)
    return render(request, "web/class_list.html", {
        "school_class": school_class,
        "school": school_class.school,
        "rows": rows,
        "may_attest": may_attest,
        "identity": identity,
        "breadcrumbs": _class_crumbs(school_class, school_class.school, link=False),
    })


@login_required
@require_GET
def student_detail(request: HttpRequest, student_id: int) -> HttpResponse:
    student = student_get(actor=request.user, student_id=student_id)
    return student_detail_page(request, student)


def student_detail_page(request: HttpRequest, student: Student,
                        forms: dict[str, AttestForm] | None = None, *,
                        no_id_form: NoIdForm | None = None,
                        transfer_form: TransferRequestForm | None = None,
                        consent_forms: privacy_display.Bound | None = None) -> HttpResponse:
    """The pupil's page, fetched (and its read audited) by the caller; ``forms`` are the
    attestation forms as posted, when one came back with errors, ``no_id_form`` the "no ID
    number" declaration likewise, ``transfer_form`` the transfer request likewise,
    ``consent_forms`` a consent or withdrawal form likewise."""
    actor = request.user
    student_visibility = visibility_for(actor, "student", school_id=student.school_id)
    guardians: list[display.GuardianRow] | None = None
    if may(actor, Perm.GUARDIAN_VIEW, student):
        guardians = display.guardian_rows(list(student.guardian_links.all()),
                                          visibility_for(actor, "guardian",
                                                     school_id=student.school_id))
    attestations = None
    if has_perm_at(actor, Perm.QUALITY_ATTEST, student.school_id) and may(
            actor, Perm.QUALITY_ATTEST, student):
        attestations = quality_display.attestation_rows(
            current_attestations(student), forms if forms is not None else attest_forms())
    identity = None
    if (has_perm_at(actor, Perm.IDENTITY_VERIFY, student.school_id)
            or has_perm_at(actor, Perm.IDENTITY_RESOLVE, student.school_id)):
        identity = identity_selectors.identity_state_for(actor=actor, entity="student",
                                                         record_id=student.pk)
    crumbs = _student_crumbs(student)
    return render(request, "web/student_detail.html", {
        "student": student,
        "school": student.school,
        "sections": display.student_sections(student, student_visibility),
        "guardians": guardians,
        "enrolments": display.enrolment_rows(list(student.enrolments.all())),
        "attestations": attestations,
        "may_edit": may(actor, Perm.STUDENT_EDIT, student),
        "may_supervise": has_perm_at(actor, Perm.AUDIT_VIEW, student.school_id),
        "identity": identity,
        "no_id_form": no_id_form if no_id_form is not None else NoIdForm(),
        "transfer": transfer_display.student_panel(actor, student, transfer_form),
        "consent": privacy_display.student_panel(actor, student, consent_forms),
        "sensitive_withheld": bool(sensitive_withheld(actor, "student",
                                                      school_id=student.school_id)),
        "breadcrumbs": [*crumbs[:-1], (student.full_name, None)],
    })


@login_required
@require_http_methods(["GET", "POST"])
def student_edit(request: HttpRequest, student_id: int) -> HttpResponse:
    actor = request.user
    student = student_get(actor=actor, student_id=student_id, perm=Perm.STUDENT_EDIT,
                          audit_view="student_edit")
    student_visibility = visibility_for(actor, "student", school_id=student.school_id)
    locked = identity_locked("student", student.pk)
    duplicates: list[dict[str, Any]] = []
    if request.method == "POST":
        form = StudentEditForm(request.POST, student=student, visibility=student_visibility,
                               identity_locked=locked)
        if form.is_valid():
            try:
                result = student_update(actor=actor, student=student, data=form.changes(),
                                        identity_change_reason=form.change_reason(),
                                        not_duplicate_reason=form.not_duplicate_reason(),
                                        shown=student_visibility)
            except DuplicateSuspected as error:
                form.add_service_errors(error)
                duplicates = _look_alikes(actor, error.candidates)
            except ValidationError as error:
                form.add_service_errors(error)
            else:
                if result.changed:
                    messages.success(request, _("Đã lưu thay đổi hồ sơ học sinh %(name)s.")
                                     % {"name": result.student.full_name})
                else:
                    messages.info(request, _("Không có thay đổi nào để lưu."))
                for warning in result.warnings:
                    messages.warning(request, warning.message)
                return HttpResponseRedirect(reverse("web:student", args=[student.pk]))
    else:
        form = StudentEditForm(student=student, visibility=student_visibility,
                               identity_locked=locked)
    return render(request, "web/student_edit.html", {
        "student": student,
        "school": student.school,
        "form": form,
        "duplicates": duplicates,
        "breadcrumbs": [*_student_crumbs(student), (_("Sửa hồ sơ"), None)],
    })


def _look_alikes(actor: Any, candidates: list[Candidate]) -> list[dict[str, Any]]:
    """The look-alike pupils as the actor may see them: name, birth date and a link inside
    their scope; outside it only the school, so the check never shows another school's child."""
    ids = [c.record_id for c in candidates]
    visible = set(scope(Student.objects.filter(pk__in=ids), actor, Perm.STUDENT_VIEW)
                  .values_list("pk", flat=True))
    schools = dict(School.objects.filter(pk__in={c.school_id for c in candidates})
                   .values_list("pk", "name"))
    return [{"visible": c.record_id in visible,
             "name": c.full_name if c.record_id in visible else "",
             "born": c.date_of_birth if c.record_id in visible else None,
             "url": reverse("web:student", args=[c.record_id]) if c.record_id in visible
             else "",
             "school": schools.get(c.school_id, ""), "reasons": c.reasons}
            for c in candidates]


@login_required
@require_POST
def student_check_field(request: HttpRequest, student_id: int) -> JsonResponse:
    """Check one field of the edit form as the user leaves it; nothing is written."""
    actor = request.user
    student = get_scoped_or_404(Student.objects.all(), actor, Perm.STUDENT_EDIT, pk=student_id)
    form = StudentEditForm(request.POST, student=student,
                           visibility=visibility_for(actor, "student", school_id=student.school_id))
    field = request.POST.get("field", "")
    editable = [name for name, f in form.fields.items() if not f.disabled]
    if field not in editable:
        return JsonResponse({"error": _("Trường không hợp lệ.")}, status=400)
    raw = {name: request.POST.get(name, "") for name in check_context(field, editable)}
    cleaned = clean_person_values(Student, raw, cleaners=STUDENT_CLEANERS, coded=STUDENT_CODED,
                                  parents=STUDENT_PARENTS, current=student)
    return JsonResponse({
        "field": field,
        "errors": cleaned.errors.get(field, []),
        "warnings": [{"field": w.field, "code": w.code, "message": w.message}
                     for w in cleaned.warnings],
    })


def _children(list_name: str, parameter: str, request: HttpRequest) -> HttpResponse:
    parent = request.GET.get(parameter, "").strip()
    if not parent:
        return HttpResponseBadRequest(_("Thiếu tham số “%(name)s”.") % {"name": parameter})
    code_list = get_list(list_name)
    response = JsonResponse({
        "list": list_name,
        "version": code_list.version,
        "parent": parent,
        "items": [{"code": e.code, "name": e.name} for e in code_list.children(parent)],
    })
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def communes(request: HttpRequest) -> HttpResponse:
    return _children("commune", "tinh", request)


@login_required
@require_GET
def legacy_districts(request: HttpRequest) -> HttpResponse:
    return _children("legacy_district", "tinh", request)


@login_required
@require_GET
def legacy_wards(request: HttpRequest) -> HttpResponse:
    return _children("legacy_ward", "huyen", request)


@login_required
@require_GET
def staff(request: HttpRequest, school_id: int) -> HttpResponse:
    school, members = staff_list(actor=request.user, school_id=school_id)
    rows = display.staff_rows(members, visibility_for(request.user, "staff", school_id=school.pk))
    return render(request, "web/staff_list.html", {
        "school": school,
        "rows": rows,
        "breadcrumbs": [*_school_crumbs(school), (_("Cán bộ, giáo viên, nhân viên"), None)],
    })
