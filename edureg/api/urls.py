from __future__ import annotations

from django.urls import path

from edureg.api.views import api

urlpatterns = [path("", api.urls)]
