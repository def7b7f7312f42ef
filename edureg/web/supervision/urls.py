from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.supervision import views

urlpatterns: list[URLPattern] = [
    path("giam-sat/", views.index, name="supervision"),
    path("giam-sat/thay-doi/", views.changes, name="supervision_changes"),
    path("giam-sat/luot-xem/", views.reads, name="supervision_reads"),
    path("giam-sat/bi-tu-choi/", views.denied, name="supervision_denied"),
    path("giam-sat/bat-thuong/", views.unusual, name="supervision_unusual"),
    path("giam-sat/tai-khoan/", views.accounts, name="supervision_accounts"),
]
