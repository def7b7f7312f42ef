"""The processing inventory (danh mục hoạt động xử lý dữ liệu cá nhân): a page and the same
inventory as a CSV download. It names data categories, fields, purposes, recipients and
security measures, never a person, so it may leave the system as a file (``inventory.view``:
principals, IT officers, authority officers)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from edureg.access.policy import require
from edureg.access.roles import Perm
from edureg.privacy.inventory import inventory_csv, inventory_in_force

CSV_FILENAME = "danh-muc-xu-ly-du-lieu-ca-nhan.csv"


@login_required
@require_GET
def inventory(request: HttpRequest) -> HttpResponse:
    require(request.user, Perm.INVENTORY_VIEW)
    title = _("Danh mục hoạt động xử lý dữ liệu cá nhân")
    return render(request, "web/privacy/inventory.html", {
        "title": title, "inventory": inventory_in_force(),
        "breadcrumbs": [(gettext_lazy("Trang chủ"), reverse("web:home")), (title, None)],
    })


@login_required
@require_GET
def inventory_download(request: HttpRequest) -> HttpResponse:
    """The inventory as CSV, UTF-8 with a byte-order mark so that Excel reads the Vietnamese."""
    require(request.user, Perm.INVENTORY_VIEW)
    body = "\ufeff" + inventory_csv(inventory_in_force())
    response = HttpResponse(body.encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{CSV_FILENAME}"'
    return response
