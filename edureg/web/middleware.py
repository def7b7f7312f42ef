"""Every refused request leaves an ``access.denied`` audit event: 401 (the API without a
signed-in session), 403 from any source (the policy, CSRF), and 404 raised by a view, which is
how the policy answers for a record outside the actor's scope (missing records answer the same,
on purpose). Unknown URLs (no view) are not access attempts and are not recorded. Only the
method, path (ids, never the query string) and status are kept.

Register after ``AuthenticationMiddleware`` in ``settings.MIDDLEWARE``."""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponseBase

from edureg.access.policy import grants
from edureg.audit.services import audit_access_denied

_DENIED_404 = "_edureg_denied_404"
_API_PREFIX = "/api/"


class AccessDeniedAuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        status = response.status_code
        if getattr(request, "edureg_denial_audited", False):
            return response
        if status in (401, 403) or (status == 404 and self._view_said_not_found(request)):
            user = getattr(request, "user", None)
            audit_access_denied(
                actor=user, method=request.method or "", path=request.path, status=status,
                school_ids=[grant.school_id for grant in grants(user)] if user else [],
            )
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, Http404):
            setattr(request, _DENIED_404, True)

    @staticmethod
    def _view_said_not_found(request: HttpRequest) -> bool:
        if getattr(request, _DENIED_404, False):
            return True
        # The API turns Http404 into its own JSON answer inside the view, so the exception never
        # reaches middleware: a 404 from a resolved API route is a refused look-up.
        match = getattr(request, "resolver_match", None)
        user = getattr(request, "user", None)
        return (match is not None and request.path.startswith(_API_PREFIX)
                and user is not None and user.is_authenticated)
