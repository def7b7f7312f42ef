from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.privacy import inventory, views

urlpatterns: list[URLPattern] = [
    path("hoc-sinh/<int:student_id>/dong-y/", views.consent_give_view, name="consent_give"),
    path("hoc-sinh/<int:student_id>/dong-y/<slug:purpose>/rut-lai/", views.consent_withdraw_view,
         name="consent_withdraw"),
    path("bao-ve-du-lieu/quy-che/", views.policy, name="privacy_policy"),
    path("bao-ve-du-lieu/danh-muc-xu-ly/", inventory.inventory, name="privacy_inventory"),
    path("bao-ve-du-lieu/danh-muc-xu-ly/tai-ve.csv", inventory.inventory_download,
         name="privacy_inventory_csv"),
    path("truong/<int:school_id>/bao-ve-du-lieu/xac-nhan-quy-che/", views.acknowledgements,
         name="privacy_acknowledgements"),
    path("truong/<int:school_id>/bao-ve-du-lieu/su-co/", views.incidents,
         name="privacy_incidents"),
    path("truong/<int:school_id>/bao-ve-du-lieu/su-co/<int:incident_id>/", views.incident_edit,
         name="privacy_incident_edit"),
    path("truong/<int:school_id>/bao-ve-du-lieu/su-co/<int:incident_id>/thong-bao/",
         views.incident_notify_view, name="privacy_incident_notify"),
    path("truong/<int:school_id>/bao-ve-du-lieu/yeu-cau/", views.subject_requests,
         name="privacy_subject_requests"),
    path("truong/<int:school_id>/bao-ve-du-lieu/yeu-cau/<int:request_id>/",
         views.subject_request, name="privacy_subject_request"),
    path("truong/<int:school_id>/bao-ve-du-lieu/yeu-cau/<int:request_id>/<slug:action>/",
         views.subject_request_action, name="privacy_subject_request_action"),
]
