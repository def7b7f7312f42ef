from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.intake import views

urlpatterns: list[URLPattern] = [
    path("truong/<int:school_id>/nhap-tep/", views.upload, name="intake_upload"),
    path("truong/<int:school_id>/nhap-tep/lich-su/", views.history, name="intake_history"),
    path("nhap-tep/<int:run_id>/", views.run_detail, name="intake_run"),
    path("nhap-tep/<int:run_id>/ghi/", views.commit, name="intake_commit"),
    path("nhap-tep/<int:run_id>/soi-lai/", views.review_again, name="intake_review"),
    path("nhap-tep/<int:run_id>/huy/", views.cancel, name="intake_cancel"),
]
