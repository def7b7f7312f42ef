"""Sharing agreements with agencies, for the authority officer: the list with each one's
status, the form that creates one (its client secret shown once, never again), and revoking
one with a reason. Parse, call a service or selector, render or redirect; the services decide
who may (another authority 404, no permission 403)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from edureg.core.catalogue import active_catalogue
from edureg.privacy.purposes import purposes_in_force
from edureg.schools.models import Authority
from edureg.sharing.selectors import agreement_list
from edureg.sharing.services import (
    AgreementData,
    agreement_create,
    agreement_revoke,
    sharing_authority,
)
from edureg.web.sharing.forms import AgreementForm, RevokeForm


def _crumbs(authority: Authority, *current: str) -> list[tuple[str, str | None]]:
    crumbs: list[tuple[str, str | None]] = [(_("Trang chủ"), reverse("web:home"))]
    if current:
        crumbs.append((_("Chia sẻ dữ liệu với cơ quan khác"),
                       reverse("web:sharing_agreements", args=[authority.pk])))
        crumbs += [(label, None) for label in current]
    else:
        crumbs.append((_("Chia sẻ dữ liệu với cơ quan khác"), None))
    return crumbs


def _agreement_form(data: object = None) -> AgreementForm:
    return AgreementForm(data, purposes=purposes_in_force().for_entity("student"),
                         fields=active_catalogue().for_entity("student"))


@login_required
@require_GET
def agreements(request: HttpRequest, authority_id: int) -> HttpResponse:
    listing = agreement_list(actor=request.user, authority_id=authority_id)
    return render(request, "web/sharing/agreements.html", {
        "listing": listing, "authority": listing.authority,
        "breadcrumbs": _crumbs(listing.authority)})


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def agreement_create_view(request: HttpRequest, authority_id: int) -> HttpResponse:
    authority = sharing_authority(request.user, authority_id)
    form = _agreement_form(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        try:
            issued = agreement_create(actor=request.user, authority_id=authority.pk,
                                      data=AgreementData(
                agency_code=values["agency_code"], agency_name=values["agency_name"],
                reference=values["reference"], legal_basis=values["legal_basis"],
                purpose=values["purpose"], allowed_fields=values["allowed_fields"],
                allowed_lookups=values["allowed_lookups"], kind=values["kind"],
                change_feed_legal_basis=values["change_feed_legal_basis"],
                valid_from=values["valid_from"], expires_on=values["expires_on"],
                rate_limit_per_minute=values["rate_limit_per_minute"]))
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            # The secret is on this page only: it is not kept (only its hash) and the page is
            # not cached, so it cannot be shown again.
            return render(request, "web/sharing/agreement_created.html", {
                "authority": authority, "issued": issued,
                "token_url": request.build_absolute_uri(reverse("oauth2_token")),
                "breadcrumbs": _crumbs(authority, _("Thoả thuận mới"))})
    return render(request, "web/sharing/agreement_create.html", {
        "authority": authority, "form": form,
        "breadcrumbs": _crumbs(authority, _("Thoả thuận mới"))})


@login_required
@require_POST
def agreement_revoke_view(request: HttpRequest, authority_id: int,
                          agreement_id: int) -> HttpResponse:
    form = RevokeForm(request.POST)
    form.is_valid()
    try:
        agreement = agreement_revoke(actor=request.user, authority_id=authority_id,
                                     agreement_id=agreement_id,
                                     reason=form.cleaned_data.get("reason", ""))
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Đã thu hồi thoả thuận %(reference)s. Cơ quan nhận dữ liệu "
                                    "không còn tra cứu được.")
                         % {"reference": agreement.reference})
    return redirect(reverse("web:sharing_agreements", args=[authority_id])
                    + f"#thoa-thuan-{agreement_id}")
