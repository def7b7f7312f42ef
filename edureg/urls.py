from __future__ import annotations

from django.urls import include, path

from edureg.api.oauth import AgencyTokenView

urlpatterns = [
    path("api/v1/", include("edureg.api.urls")),
    # Agencies' OAuth2 token endpoint (client credentials); no other toolkit view is mounted.
    path("o/token/", AgencyTokenView.as_view(), name="oauth2_token"),
    path("", include("edureg.web.urls")),
]
