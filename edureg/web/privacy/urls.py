from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.privacy import views

urlpatterns: list[URLPattern] = [
    path("hoc-sinh/<int:student_id>/dong-y/", views.consent_give_view, name="consent_give"),
    path("hoc-sinh/<int:student_id>/dong-y/<slug:purpose>/rut-lai/", views.consent_withdraw_view,
         name="consent_withdraw"),
    path("bao-ve-du-lieu/quy-che/", views.policy, name="privacy_policy"),
    path("truong/<int:school_id>/bao-ve-du-lieu/xac-nhan-quy-che/", views.acknowledgements,
         name="privacy_acknowledgements"),
]
