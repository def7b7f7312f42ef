"""The agencies' API (/api/v1/sharing/…): one pupil per request, or the change feed of a
change-feed agreement, under the agreement bound to the caller's OAuth2 client. Authenticated
by the bearer token only: staff sessions are not accepted here. ``edureg.sharing.disclosure``
and ``edureg.sharing.feed`` decide and audit every answer."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router, Schema
from ninja.security import HttpBearer

from edureg.api.schemas import ErrorOut, QueryText, ValidationErrorOut
from edureg.sharing.disclosure import SharingRefused, agreement_for_token, student_disclose
from edureg.sharing.feed import changes_disclose
from edureg.sharing.models import SharingAgreement


class AgencyToken(HttpBearer):
    """An access token from /o/token/ (client credentials). Unknown, forged or expired tokens
    are refused with 401, tokens of an agreement that is not in force with 403."""

    def authenticate(self, request: HttpRequest, token: str) -> SharingAgreement:
        return agreement_for_token(token)


def refused(request: HttpRequest, exc: SharingRefused | type[SharingRefused]) -> HttpResponse:
    """The answer to a refusal, already audited (so the generic ``access.denied`` event is
    not written again)."""
    assert isinstance(exc, SharingRefused)
    request.edureg_denial_audited = True  # type: ignore[attr-defined]
    response = JsonResponse({"detail": exc.message, "reason": exc.reason}, status=exc.status)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    response["Cache-Control"] = "no-store"
    return response


class SharedStudentOut(Schema):
    agreement: str
    purpose: str
    # Only the agreement's fields (or the subset asked for), as stored: codes of the shared
    # code lists, dates as YYYY-MM-DD, null when empty.
    record: dict[str, str | None]


router = Router(auth=AgencyToken(), tags=["chia sẻ dữ liệu"])


@router.get("/students", response={200: SharedStudentOut, 400: ErrorOut, 401: ErrorOut,
                                   403: ErrorOut, 404: ErrorOut, 422: ValidationErrorOut,
                                   429: ErrorOut},
            url_name="sharing_student")
def sharing_student(request: HttpRequest, response: HttpResponse,
                    education_id: QueryText = None, personal_id_number: QueryText = None,
                    fields: QueryText = None) -> Any:
    """One pupil, found by exactly one key the agreement allows (``education_id`` or
    ``personal_id_number``), with only the fields the agreement allows (``fields``: a
    comma-separated subset). No lists."""
    agreement = request.auth  # type: ignore[attr-defined]
    assert isinstance(agreement, SharingAgreement)
    wanted = [name.strip() for name in fields.split(",") if name.strip()] if fields else None
    shown = student_disclose(
        agreement=agreement, fields=wanted,
        lookups={"education_id": education_id, "personal_id_number": personal_id_number})
    response["Cache-Control"] = "no-store"
    return SharedStudentOut(agreement=agreement.reference, purpose=agreement.purpose,
                            record=shown.record)


class SharedChangeOut(Schema):
    seq: int  # the change's place in the log: pass the page's ``next``, not this, as ``after``
    action: str  # student.create, student.update, student.transferred, student.merged, …
    education_id: str
    merged_into: str | None  # the education id of the record this one was merged into
    record: dict[str, str | None]  # the pupil's current values, the agreement's fields only


class SharedChangesOut(Schema):
    agreement: str
    purpose: str
    after: int
    next: int  # ask from here next time (it never skips a change, nor repeats one)
    more: bool  # changes already wait after ``next``: ask again at once
    changes: list[SharedChangeOut]


@router.get("/changes", response={200: SharedChangesOut, 400: ErrorOut, 401: ErrorOut,
                                  403: ErrorOut, 429: ErrorOut},
            url_name="sharing_changes")
def sharing_changes(request: HttpRequest, response: HttpResponse, after: str | None = None,
                    limit: str | None = None) -> Any:
    """The change feed, for agreements of kind ``change_feed`` with their own legal basis:
    the authority's pupils whose records changed after the cursor ``after`` (the ``next`` of
    the previous page; none at first: from when the agreement was recorded), oldest first, at
    most ``limit`` changes per page (default 100, at most 500). Each pupil appears once per
    page, with their current values in the agreement's fields; pupils without a valid consent
    for the agreement's purpose are left out. No other parameter is accepted."""
    agreement = request.auth  # type: ignore[attr-defined]
    assert isinstance(agreement, SharingAgreement)
    del after, limit  # read with every value and every other parameter, to refuse extras
    page = changes_disclose(agreement=agreement, query={
        name: request.GET.getlist(name) for name in request.GET})
    response["Cache-Control"] = "no-store"
    return SharedChangesOut(
        agreement=agreement.reference, purpose=agreement.purpose, after=page.after,
        next=page.next, more=page.more, changes=[SharedChangeOut(
            seq=item.seq, action=item.action, education_id=item.education_id,
            merged_into=item.merged_into, record=item.record) for item in page.items])


__all__ = ["SharingRefused", "refused", "router"]
