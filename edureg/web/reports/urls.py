from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.reports import views

urlpatterns: list[URLPattern] = [
    path("bao-cao/", views.rounds, name="reports_rounds"),
    path("bao-cao/mo-ky/", views.round_open, name="reports_round_open"),
    path("bao-cao/ky/<int:round_id>/", views.round_detail, name="reports_round"),
    path("bao-cao/ky/<int:round_id>/khoa/", views.round_close, name="reports_round_close"),
    path("bao-cao/ky/<int:round_id>/bang/", views.tables, name="reports_tables"),
    path(
        "bao-cao/ky/<int:round_id>/tai/<slug:code>.<slug:file_format>",
        views.download,
        name="reports_download",
    ),
    path("bao-cao/ky/<int:round_id>/bieu-do/", views.charts, name="reports_charts"),
    path(
        "bao-cao/ky/<int:round_id>/truong/<int:school_id>/",
        views.school_round,
        name="reports_school_round",
    ),
    path(
        "bao-cao/ky/<int:round_id>/truong/<int:school_id>/ky-xac-nhan/",
        views.sign_off,
        name="reports_sign_off",
    ),
]
