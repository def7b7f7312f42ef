from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.transfers import views

urlpatterns: list[URLPattern] = [
    path("hoc-sinh/<int:student_id>/chuyen-truong/", views.request_transfer,
         name="transfer_request"),
    path("chuyen-truong/<int:transfer_id>/huy/", views.cancel, name="transfer_cancel"),
    path("chuyen-truong/<int:transfer_id>/nhan/", views.accept, name="transfer_accept"),
    path("chuyen-truong/<int:transfer_id>/tu-choi/", views.refuse, name="transfer_refuse"),
    path("truong/<int:school_id>/chuyen-den/", views.incoming, name="transfers_incoming"),
    path("truong/<int:school_id>/chuyen-di/", views.outgoing, name="transfers_outgoing"),
]
