"""The OAuth2 token endpoint for agencies (/o/token/, client credentials only): the toolkit's
view, with refusals audited once (``edureg.sharing.oauth``). No other toolkit view is
mounted: no authorisation, no application management."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from oauth2_provider.views import TokenView

from edureg.sharing.oauth import refusal_recorded, refusal_tracking_start


class AgencyTokenView(TokenView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        started = refusal_tracking_start()
        try:
            response: HttpResponse = super().post(request, *args, **kwargs)
        finally:
            if refusal_recorded(started):
                request.edureg_denial_audited = True  # type: ignore[attr-defined]
        return response
