from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.sync import views

urlpatterns: list[URLPattern] = [
    path("truong/<int:school_id>/dong-bo/", views.school_sync, name="sync_school"),
    path("truong/<int:school_id>/dong-bo/<int:change_id>/gui-lai/", views.replay,
         name="sync_replay"),
]
