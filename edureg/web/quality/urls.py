from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.quality import views

urlpatterns: list[URLPattern] = [
    path("viec-can-lam/", views.todo, name="quality_todo"),
    path("chat-luong/", views.authority, name="quality"),
    path("truong/<int:school_id>/chat-luong/", views.school, name="quality_school"),
    path("truong/<int:school_id>/chat-luong/ky-xac-nhan/", views.sign_off,
         name="quality_sign_off"),
    path("lop/<int:class_id>/chat-luong/", views.class_quality, name="quality_class"),
    path("lop/<int:class_id>/xac-nhan/", views.class_confirm, name="quality_class_confirm"),
    path("hoc-sinh/<int:student_id>/chat-luong/", views.student_quality,
         name="quality_student"),
    path("hoc-sinh/<int:student_id>/doi-chieu/", views.attest, name="quality_attest"),
]
