"""Upward synchronisation of one school: the lag promise (commit to acknowledgement), the
backlog, and — for the IT officer — the changes the national database refused, with their
field errors and a "send again" button once the record is fixed."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from edureg.access.policy import get_scoped_or_404, has_perm_at
from edureg.access.roles import Perm
from edureg.core.catalogue import active_catalogue
from edureg.schools.models import School
from edureg.sync.models import SyncChange, SyncStatus
from edureg.sync.relay import sync_lag, sync_replay

_PARKED_SHOWN = 200


@login_required
@require_GET
def school_sync(request: HttpRequest, school_id: int) -> HttpResponse:
    actor = request.user
    school = get_scoped_or_404(School.objects.all(), actor, Perm.SYNC_VIEW, pk=school_id)
    lag = sync_lag(school_ids=[school.pk])
    may_manage = has_perm_at(actor, Perm.SYNC_MANAGE, school.pk)
    parked: list[dict[str, object]] = []
    if may_manage:
        labels = {f.name: f.label for f in active_catalogue().for_entity("student")}
        for change in (SyncChange.objects.filter(school_id=school.pk, status=SyncStatus.PARKED)
                       .order_by("-seq")[:_PARKED_SHOWN]):
            parked.append({
                "change": change,
                "errors": [(labels.get(name, name), reason)
                           for name, reason in sorted(change.field_errors.items())],
                "student_url": reverse("web:student", args=[change.record_id])
                if change.entity == "student" and has_perm_at(actor, Perm.STUDENT_VIEW,
                                                              school.pk) else "",
            })
    title = _("Đồng bộ lên CSDL ngành")
    return render(request, "web/sync/school.html", {
        "title": title, "school": school, "lag": lag, "may_manage": may_manage,
        "parked": parked,
        "breadcrumbs": [(school.name, reverse("web:school", args=[school.pk])), (title, None)],
    })


@login_required
@require_POST
def replay(request: HttpRequest, school_id: int, change_id: int) -> HttpResponse:
    school = get_scoped_or_404(School.objects.all(), request.user, Perm.SYNC_MANAGE,
                               pk=school_id)
    if not SyncChange.objects.filter(pk=change_id, school_id=school.pk).exists():
        raise Http404
    sync_replay(actor=request.user, change_id=change_id)
    messages.success(request, _("Đã đưa thay đổi vào hàng đợi để gửi lại."))
    return redirect("web:sync_school", school_id=school.pk)
