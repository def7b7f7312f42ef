"""Intake screens: upload an export workbook, review its dry run (counts, problems with their
sheet, row and column, look-alikes, quality findings), then commit it or cancel; the school's
history of intakes. Parse, call a service or selector, render or redirect; the services and
selectors decide who may (out of scope 404, no permission 403)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from edureg.intake import selectors
from edureg.intake.models import IntakeRun, RunStatus
from edureg.intake.plan import ACTIONS, PlanRefused
from edureg.intake.services import intake_cancel, intake_commit, intake_dry_run, intake_review_again
from edureg.intake.source import Kind, WorkbookRefused
from edureg.privacy.policy import PolicyNotAcknowledged
from edureg.schools.models import School
from edureg.web.intake.forms import CommitForm, UploadForm
from edureg.web.intake.uploads import InMemoryLimited

COUNT_LABELS = {
    "new": gettext_lazy("Học sinh mới"), "updated": gettext_lazy("Cập nhật"),
    "unchanged": gettext_lazy("Không đổi"), "moved": gettext_lazy("Chuyển lớp"),
    "transferred_in": gettext_lazy("Chuyển đến"),
    "held": gettext_lazy("Chưa ghi (xem cảnh báo)"), "rejected": gettext_lazy("Có lỗi"),
}


def _crumbs(school: School, *extra: tuple[Any, str | None]) -> list[tuple[Any, str | None]]:
    return [(gettext_lazy("Trang chủ"), reverse("web:home")),
            (school.name, reverse("web:school", args=[school.pk])), *extra]


def _to_policy(request: HttpRequest, error: PolicyNotAcknowledged, back: str) -> HttpResponse:
    messages.error(request, error.message)
    return redirect(reverse("web:privacy_policy") + "?next=" + back)


# --- Upload ------------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "POST"])
@csrf_exempt
def upload(request: HttpRequest, school_id: int) -> HttpResponse:
    """The school is checked before the body is read; the file is then read into memory only,
    up to the size limit (CSRF is checked by ``_upload``, after the upload handler is set)."""
    selectors.intake_school_get(actor=request.user, school_id=school_id)
    handler = InMemoryLimited(request, settings.EDUREG_INTAKE_MAX_BYTES)
    request.upload_handlers = [handler]
    return _upload(request, school_id, handler)


@csrf_protect
def _upload(request: HttpRequest, school_id: int, handler: InMemoryLimited) -> HttpResponse:
    actor = request.user
    school = selectors.intake_school_get(actor=actor, school_id=school_id)
    here = reverse("web:intake_upload", args=[school.pk])
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES, too_big=handler.too_big)
        if form.is_valid():
            upload_file = form.cleaned_data["file"]
            try:
                dry = intake_dry_run(actor=actor, school=school,
                                     kind=Kind(form.cleaned_data["kind"]),
                                     data=upload_file.read(), filename=upload_file.name or "")
            except (WorkbookRefused, PlanRefused) as refused:
                form.add_error("file", refused.message)
            except PolicyNotAcknowledged as error:
                return _to_policy(request, error, here)
            else:
                return redirect("web:intake_run", run_id=dry.run.pk)
    else:
        form = UploadForm()
    title = _("Nhập tệp xuất từ CSDL")
    return render(request, "web/intake/upload.html", {
        "title": title, "school": school, "form": form,
        "breadcrumbs": _crumbs(school, (title, None)),
    })


# --- The dry run and its result ----------------------------------------------------------------

STAFF_COUNT_LABELS = {**COUNT_LABELS, "new": gettext_lazy("Cán bộ mới")}
# Pupils only: staff are not placed in classes nor transferred by a file.
_PUPIL_ONLY = frozenset({"moved", "transferred_in"})


def _counts(summary: dict[str, int], kind: str = Kind.STUDENT.value
            ) -> list[tuple[str, Any, int]]:
    if kind == Kind.STAFF.value:
        return [(action.value, STAFF_COUNT_LABELS[action.value], summary.get(action.value, 0))
                for action in ACTIONS if action.value not in _PUPIL_ONLY]
    return [(action.value, COUNT_LABELS[action.value], summary.get(action.value, 0))
            for action in ACTIONS]


def _page(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 7 else 1


@login_required
@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    actor = request.user
    run = selectors.intake_run_get(actor=actor, run_id=run_id)
    report = selectors.intake_report(actor=actor, run=run, page=_page(request.GET.get("trang")))\
        if run.is_open else None
    title = _("Soi thử tệp nhập (lần %(number)d)") % {"number": run.pk} if run.is_open \
        else _("Kết quả nhập tệp (lần %(number)d)") % {"number": run.pk}
    return render(request, "web/intake/run.html", {
        "title": title, "school": run.school, "run": run, "report": report,
        "counts": _counts(run.summary, run.kind), "summary": run.summary,
        "commit_form": CommitForm(),
        "statuses": RunStatus,
        "breadcrumbs": _crumbs(run.school, (_("Nhập tệp"), reverse(
            "web:intake_history", args=[run.school_id])), (title, None)),
    })


def _run_for_post(request: HttpRequest, run_id: int) -> IntakeRun:
    return selectors.intake_run_get(actor=request.user, run_id=run_id)


@login_required
@require_POST
def commit(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_for_post(request, run_id)
    back = reverse("web:intake_run", args=[run.pk])
    form = CommitForm(request.POST)
    reason = form.cleaned_data["not_duplicate_reason"] if form.is_valid() else ""
    try:
        done = intake_commit(actor=request.user, run=run, not_duplicate_reason=reason)
    except PolicyNotAcknowledged as error:
        return _to_policy(request, error, back)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        summary = done.plan.summary()
        if run.kind == Kind.STAFF.value:
            messages.success(request, _(
                "Đã ghi vào CSDL: %(new)d cán bộ mới, %(updated)d cập nhật.") % {
                "new": summary["new"], "updated": summary["updated"]})
            return redirect(back)
        messages.success(request, _(
            "Đã ghi vào CSDL: %(new)d học sinh mới, %(updated)d cập nhật, %(moved)d chuyển "
            "lớp, %(transferred)d chuyển đến.") % {
            "new": summary["new"], "updated": summary["updated"], "moved": summary["moved"],
            "transferred": summary["transferred_in"]})
    return redirect(back)


@login_required
@require_POST
def review_again(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_for_post(request, run_id)
    back = reverse("web:intake_run", args=[run.pk])
    try:
        intake_review_again(actor=request.user, run=run)
    except PolicyNotAcknowledged as error:
        return _to_policy(request, error, back)
    except (ValidationError, WorkbookRefused, PlanRefused) as error:
        text = error.messages if isinstance(error, ValidationError) else [error.message]
        for message in text:
            messages.error(request, message)
    else:
        messages.info(request, _("Đã soi thử lại với dữ liệu hiện tại."))
    return redirect(back)


@login_required
@require_POST
def cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _run_for_post(request, run_id)
    try:
        intake_cancel(actor=request.user, run=run)
    except PolicyNotAcknowledged as error:
        return _to_policy(request, error, reverse("web:intake_run", args=[run.pk]))
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.info(request, _("Đã huỷ lần nhập này; tệp đã được xoá, không có gì được ghi."))
    return redirect("web:intake_history", school_id=run.school_id)


@login_required
@require_GET
def history(request: HttpRequest, school_id: int) -> HttpResponse:
    school, runs = selectors.intake_runs(actor=request.user, school_id=school_id)
    title = _("Nhập tệp")
    return render(request, "web/intake/history.html", {
        "title": title, "school": school,
        "rows": [(run, _counts(run.summary, run.kind), run.summary) for run in runs],
        "breadcrumbs": _crumbs(school, (title, None)),
    })
