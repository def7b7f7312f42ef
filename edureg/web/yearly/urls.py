from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.yearly import views

urlpatterns: list[URLPattern] = [
    path("truong/<int:school_id>/nam-hoc/", views.years, name="yearly_years"),
    path("nam-hoc/<int:year_id>/", views.year, name="yearly_year"),
    path("nam-hoc/<int:year_id>/mo-nam-hoc-tiep/", views.open_next, name="yearly_open"),
    path("nam-hoc/<int:year_id>/khoa/", views.close, name="yearly_close"),
    path("nam-hoc/len-lop/<int:proposal_id>/", views.proposal, name="yearly_proposal"),
    path("nam-hoc/len-lop/<int:proposal_id>/chot/", views.commit, name="yearly_commit"),
    path("nam-hoc/len-lop/<int:proposal_id>/hoan-tac/", views.undo, name="yearly_undo"),
    path(
        "nam-hoc/chu-nhiem/<int:proposal_id>/xac-nhan/",
        views.confirm_homeroom,
        name="yearly_homeroom_confirm",
    ),
]
