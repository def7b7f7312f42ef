from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("edureg.api.urls")),
    path("", include("edureg.web.urls")),
]
