"""The agencies' API (/api/v1/sharing/…): one pupil per request, under the agreement bound to
the caller's OAuth2 client. Authenticated by the bearer token only: staff sessions are not
accepted here. ``edureg.sharing.disclosure`` decides and audits every answer."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router, Schema
from ninja.security import HttpBearer

from edureg.api.schemas import ErrorOut
from edureg.sharing.disclosure import SharingRefused, agreement_for_token, student_disclose
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
                                   403: ErrorOut, 404: ErrorOut, 429: ErrorOut},
            url_name="sharing_student")
def sharing_student(request: HttpRequest, response: HttpResponse,
                    education_id: str | None = None,
                    personal_id_number: str | None = None, fields: str | None = None) -> Any:
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


__all__ = ["SharingRefused", "refused", "router"]
