from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web import views
from edureg.web.accounts import urls as accounts_urls
from edureg.web.accounts import views as accounts_views
from edureg.web.duplicates import urls as duplicates_urls
from edureg.web.handover import urls as handover_urls
from edureg.web.identity import urls as identity_urls
from edureg.web.intake import urls as intake_urls
from edureg.web.portal import urls as portal_urls
from edureg.web.privacy import urls as privacy_urls
from edureg.web.quality import urls as quality_urls
from edureg.web.reports import urls as reports_urls
from edureg.web.sharing import urls as sharing_urls
from edureg.web.supervision import urls as supervision_urls
from edureg.web.sync import urls as sync_urls
from edureg.web.transfers import urls as transfers_urls
from edureg.web.yearly import urls as yearly_urls

app_name = "web"
urlpatterns: list[URLPattern] = [
    path("dang-nhap/", accounts_views.SignInView.as_view(), name="login"),
    path("dang-xuat/", accounts_views.SignOutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("truong/<int:school_id>/", views.school, name="school"),
    path("truong/<int:school_id>/can-bo/", views.staff, name="staff"),
    path("lop/<int:class_id>/", views.class_detail, name="class"),
    path("hoc-sinh/<int:student_id>/", views.student_detail, name="student"),
    path("hoc-sinh/<int:student_id>/sua/", views.student_edit, name="student_edit"),
    path("hoc-sinh/<int:student_id>/sua/kiem-tra/", views.student_check_field,
         name="student_check_field"),
    path("danh-muc/xa-phuong/", views.communes, name="communes"),
    path("danh-muc/quan-huyen-cu/", views.legacy_districts, name="legacy_districts"),
    path("danh-muc/phuong-xa-cu/", views.legacy_wards, name="legacy_wards"),
]
urlpatterns += (accounts_urls.urlpatterns + supervision_urls.urlpatterns
                + quality_urls.urlpatterns + identity_urls.urlpatterns
                + transfers_urls.urlpatterns + duplicates_urls.urlpatterns
                + privacy_urls.urlpatterns + portal_urls.urlpatterns
                + sharing_urls.urlpatterns + sync_urls.urlpatterns + intake_urls.urlpatterns
                + yearly_urls.urlpatterns)
urlpatterns += handover_urls.urlpatterns
urlpatterns += reports_urls.urlpatterns
