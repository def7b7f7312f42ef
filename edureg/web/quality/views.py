"""Quality screens (chất lượng dữ liệu): the to-do of the people who keep records, the school
and Department dashboards with their drill-downs, and the forms that attest a pupil's field
group, confirm a class and sign off a reporting round. Parse, call a selector or service,
render; the policy and the selectors decide who sees what (out of scope 404, no permission 403).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from edureg.access.policy import get_scoped_or_404, works_at
from edureg.access.roles import Perm
from edureg.core.suppression import suppress
from edureg.identity.selectors import verifiable_authorities
from edureg.quality.rules.catalogue import Dimension
from edureg.registry import attestation
from edureg.registry import quality_selectors as selectors
from edureg.registry.models import SchoolClass, Student
from edureg.registry.selectors import student_get
from edureg.schools.models import School
from edureg.web import views as web_views
from edureg.web.quality import charts
from edureg.web.quality.display import Presenter, PupilSteps
from edureg.web.quality.forms import (
    MEAN,
    RankingForm,
    SignOffForm,
    TodoForm,
    attest_forms,
    valid_or_empty,
)

Crumb = tuple[Any, str | None]


def _home() -> Crumb:
    return gettext_lazy("Trang chủ"), reverse("web:home")


def _with(request: HttpRequest, **changes: object) -> str:
    """The current query string with some parameters changed (None drops one)."""
    query: QueryDict = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else request.path


def _pager(request: HttpRequest, paged: selectors.Paged[Any], parameter: str
           ) -> dict[str, Any]:
    return {
        "paged": paged,
        "previous_url": _with(request, **{parameter: paged.previous}) if paged.has_previous
        else None,
        "next_url": _with(request, **{parameter: paged.next}) if paged.has_next else None,
    }


# --- The to-do ---------------------------------------------------------------------------------

@login_required
@require_GET
def todo(request: HttpRequest) -> HttpResponse:
    actor = request.user
    form = TodoForm(request.GET or None, classes=[])
    values = valid_or_empty(form)
    result = selectors.todo(actor=actor, class_id=values.get("lop"),
                            findings_page=values.get("trang") or 1,
                            steps_page=values.get("trang_buoc") or 1)
    form.fields["lop"].widget.choices = [
        ("", _("Tất cả các lớp")),
        *[(c.pk, _("Lớp %(name)s") % {"name": c.name}
           + (f" — {c.school.name}" if len({k.school_id for k in result.classes}) > 1 else ""))
          for c in result.classes]]
    presenter = Presenter(actor)
    findings = [
        presenter.finding(student_id=item.student_id, student_name=item.student_name,
                          class_name=item.class_name, school_id=item.school_id,
                          entity=item.entity, field=item.field, rule_code=item.rule_code,
                          severity=item.severity)
        for item in result.findings.items]
    steps = [PupilSteps(student_id=item.student_id, student_name=item.student_name,
                        class_name=item.class_name, steps=presenter.steps(item.status_bits))
             for item in result.steps.items]
    title = _("Việc cần làm")
    return render(request, "web/quality/todo.html", {
        "title": title, "form": form, "todo": result, "findings": findings, "steps": steps,
        "findings_pager": _pager(request, result.findings, "trang"),
        "steps_pager": _pager(request, result.steps, "trang_buoc"),
        "breadcrumbs": [_home(), (title, None)],
    })


# --- Dashboards --------------------------------------------------------------------------------

def _persons(count: int, *, exact: bool) -> str | int:
    """A count of pupils as shown: exact to the school's own staff, suppressed below the
    small-cell threshold ("<5") to everyone outside the school."""
    return count if exact else suppress(count, settings.EDUREG_SMALL_CELL_THRESHOLD)


def _school_page(request: HttpRequest, school_id: int, form: SignOffForm | None
                 ) -> HttpResponse:
    actor = request.user
    dashboard = selectors.school_dashboard(actor=actor, school_id=school_id,
                                           today=timezone.localdate())
    if dashboard.may_sign_off and form is None:
        form = SignOffForm()
    school = dashboard.school
    exact = works_at(actor, school.pk)
    crumbs: list[Crumb] = [_home(), (school.name, reverse("web:school", args=[school.pk])),
                           (_("Chất lượng dữ liệu"), None)]
    return render(request, "web/quality/school.html", {
        "dashboard": dashboard, "school": school,
        "records": _persons(dashboard.scores.records, exact=exact),
        "class_rows": [(row, _persons(row.scores.records, exact=exact))
                       for row in dashboard.classes],
        "teacher_rows": [(row, _persons(row.scores.records, exact=exact))
                         for row in dashboard.teachers],
        "bars": charts.score_bars(dashboard.scores),
        "trend": charts.trend_chart(dashboard.trend),
        "form": form if dashboard.may_sign_off else None,
        "breadcrumbs": crumbs,
    })


@login_required
@require_GET
def school(request: HttpRequest, school_id: int) -> HttpResponse:
    return _school_page(request, school_id, None)


@login_required
@require_POST
def sign_off(request: HttpRequest, school_id: int) -> HttpResponse:
    actor = request.user
    target = get_scoped_or_404(School.objects.all(), actor, Perm.QUALITY_SIGN_OFF, pk=school_id)
    form = SignOffForm(request.POST)
    if form.is_valid():
        try:
            done = attestation.school_sign_off(actor=actor, school=target,
                                               round_label=form.cleaned_data["round_label"],
                                               note=form.cleaned_data["note"])
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("Đã ký xác nhận số liệu kỳ «%(round)s».")
                             % {"round": done.round_label})
            return redirect(reverse("web:quality_school", args=[target.pk]) + "#ky-xac-nhan")
    return _school_page(request, target.pk, form)


@login_required
@require_GET
def authority(request: HttpRequest) -> HttpResponse:
    form = RankingForm(request.GET or None)
    values = valid_or_empty(form)
    chosen = values.get("tieu_chi") or MEAN
    overview = selectors.authority_overview(
        actor=request.user, today=timezone.localdate(),
        dimension=None if chosen == MEAN else Dimension(chosen),
        lowest_first=values.get("thu_tu") == "thap", page=values.get("trang") or 1)
    if overview.only_school_id is not None:
        return redirect("web:quality_school", overview.only_school_id)
    title = _("Chất lượng dữ liệu các trường")
    actor = request.user
    return render(request, "web/quality/authority.html", {
        "title": title, "form": form, "overview": overview,
        # The total spans several schools: shown as to someone outside them.
        "records": _persons(overview.scores.records, exact=False),
        "ranking": [(row, _persons(row.scores.records, exact=works_at(actor, row.school_id)))
                    for row in overview.ranking.items],
        "chosen": chosen,
        "bars": charts.score_bars(overview.scores),
        "trend": charts.trend_chart(overview.trend),
        "pager": _pager(request, overview.ranking, "trang"),
        "identity_authorities": verifiable_authorities(request.user),
        "breadcrumbs": [_home(), (title, None)],
    })


# --- Drill-down: a class, a pupil ------------------------------------------------------------

@login_required
@require_GET
def class_quality(request: HttpRequest, class_id: int) -> HttpResponse:
    result = selectors.class_quality(actor=request.user, class_id=class_id)
    school_class = result.school_class
    school_url = reverse("web:quality_school", args=[school_class.school_id])
    return render(request, "web/quality/class.html", {
        "result": result, "school_class": school_class, "school": school_class.school,
        "bars": charts.score_bars(result.scores),
        "breadcrumbs": [_home(), (_("Chất lượng dữ liệu"), school_url),
                        (_("Lớp %(name)s") % {"name": school_class.name}, None)],
    })


@login_required
@require_GET
def student_quality(request: HttpRequest, student_id: int) -> HttpResponse:
    actor = request.user
    result = selectors.student_quality(actor=actor, student_id=student_id)
    student = result.student
    presenter = Presenter(actor)
    class_name = student.current_class.name if student.current_class else None
    findings = [
        presenter.finding(student_id=student.pk, student_name=student.full_name,
                          class_name=class_name, school_id=student.school_id,
                          entity=finding.entity, field=finding.field,
                          rule_code=finding.rule_code, severity=finding.severity,
                          guardian_name=result.guardian_names.get(finding.record_id, "")
                          if finding.entity == "guardian" else "")
        for finding in result.findings]
    steps = presenter.steps(result.state.status_bits) if result.state else []
    crumbs: list[Crumb] = [_home(), (_("Chất lượng dữ liệu"),
                                     reverse("web:quality_school", args=[student.school_id]))]
    if student.current_class is not None:
        crumbs.append((_("Lớp %(name)s") % {"name": student.current_class.name},
                       reverse("web:quality_class", args=[student.current_class.pk])))
    crumbs.append((student.full_name, None))
    return render(request, "web/quality/student.html", {
        "result": result, "student": student, "school": student.school,
        "findings": findings, "steps": steps, "breadcrumbs": crumbs,
    })


# --- Forms on the record pages -----------------------------------------------------------------

@login_required
@require_POST
def attest(request: HttpRequest, student_id: int) -> HttpResponse:
    actor = request.user
    student = get_scoped_or_404(Student.objects.all(), actor, Perm.QUALITY_ATTEST,
                                pk=student_id)
    group = request.POST.get("group", "")
    forms = attest_forms(request.POST, group)
    form = forms.get(group)
    if form is None:
        messages.error(request, _("Nhóm thông tin không có trong danh mục đối chiếu; hãy chọn "
                                  "lại."))
        return redirect(reverse("web:student", args=[student.pk]) + "#doi-chieu")
    if form.is_valid():
        try:
            attestation.field_group_attest(
                actor=actor, student=student, group=group,
                document_type=form.cleaned_data["document_type"],
                document_number=form.cleaned_data["document_number"],
                document_date=form.cleaned_data["document_date"])
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("Đã ghi nhận: nhóm «%(group)s» đã được đối chiếu với hồ "
                                        "sơ gốc.") % {"group": form.group.label})
            return redirect(reverse("web:student", args=[student.pk]) + "#doi-chieu")
    shown = student_get(actor=actor, student_id=student.pk)
    return web_views.student_detail_page(request, shown, forms)


@login_required
@require_POST
def class_confirm(request: HttpRequest, class_id: int) -> HttpResponse:
    actor = request.user
    school_class = get_scoped_or_404(SchoolClass.objects.all(), actor, Perm.QUALITY_ATTEST,
                                     pk=class_id)
    count = attestation.class_confirm(actor=actor, school_class=school_class)
    messages.success(request, ngettext(
        "Đã xác nhận thông tin của %(count)d học sinh lớp %(name)s còn đúng.",
        "Đã xác nhận thông tin của %(count)d học sinh lớp %(name)s còn đúng.", count)
        % {"count": count, "name": school_class.name})
    return redirect("web:class", school_class.pk)
