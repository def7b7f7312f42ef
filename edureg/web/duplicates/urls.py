from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.duplicates import views

urlpatterns: list[URLPattern] = [
    path("truong/<int:school_id>/trung-lap/", views.school_queue, name="duplicates_school"),
    path("so/<int:authority_id>/trung-lap/", views.authority_queue,
         name="duplicates_authority"),
    path("so/<int:authority_id>/trung-lap/da-gop/", views.merges, name="duplicates_merges"),
    path("trung-lap/<int:pair_id>/khong-trung/", views.not_same, name="duplicate_not_same"),
    path("trung-lap/<int:pair_id>/gop/", views.merge, name="duplicate_merge"),
    path("gop-ho-so/<int:merge_id>/hoan-tac/", views.unmerge, name="merge_undo"),
]
