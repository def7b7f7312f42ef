from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.identity import views

urlpatterns: list[URLPattern] = [
    path("hoc-sinh/<int:student_id>/xac-thuc/", views.verify_student,
         name="identity_verify_student"),
    path("hoc-sinh/<int:student_id>/khong-co-so-dinh-danh/", views.no_id, name="identity_no_id"),
    path("lop/<int:class_id>/xac-thuc/", views.verify_class, name="identity_verify_class"),
    path("truong/<int:school_id>/xac-thuc/", views.queue, name="identity_queue"),
    path("truong/<int:school_id>/xac-thuc/toan-truong/", views.verify_school,
         name="identity_verify_school"),
    path("so/<int:authority_id>/xac-thuc/", views.verify_authority,
         name="identity_verify_authority"),
    path("xac-thuc/<str:entity>/<int:record_id>/de-nghi-dinh-chinh/",
         views.correction_requested, name="identity_correction_requested"),
    path("xac-thuc/<str:entity>/<int:record_id>/xac-thuc-lai/", views.reverify,
         name="identity_reverify"),
]
