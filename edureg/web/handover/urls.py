from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.handover import views

urlpatterns: list[URLPattern] = [
    path(
        "ban-giao/truong/<int:school_id>/<int:start_year>/", views.leavers, name="handover_leavers"
    ),
    path(
        "ban-giao/truong/<int:school_id>/<int:start_year>/phan-truong/",
        views.assign,
        name="handover_assign",
    ),
    path(
        "ban-giao/truong/<int:school_id>/<int:start_year>/chua-co-truong/",
        views.pool,
        name="handover_pool",
    ),
    path("ban-giao/truong/<int:school_id>/nhan/", views.incoming, name="handover_incoming"),
    path("ban-giao/truong/<int:school_id>/nhan/xep-lop/", views.accept, name="handover_accept"),
    path("ban-giao/truong/<int:school_id>/nhan/tra-lai/", views.decline, name="handover_decline"),
    path(
        "tuyen-moi/truong/<int:school_id>/<int:start_year>/", views.intake, name="handover_intake"
    ),
]
