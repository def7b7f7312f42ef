from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.sharing import views

urlpatterns: list[URLPattern] = [
    path("so/<int:authority_id>/chia-se-du-lieu/", views.agreements,
         name="sharing_agreements"),
    path("so/<int:authority_id>/chia-se-du-lieu/tao/", views.agreement_create_view,
         name="sharing_agreement_create"),
    path("so/<int:authority_id>/chia-se-du-lieu/<int:agreement_id>/thu-hoi/",
         views.agreement_revoke_view, name="sharing_agreement_revoke"),
]
