from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.portal import views

urlpatterns: list[URLPattern] = [
    path("tra-cuu/", views.lookup, name="portal"),
    path("tra-cuu/ma-xac-thuc/", views.code, name="portal_code"),
    path("tra-cuu/ho-so/", views.record, name="portal_record"),
    path("tra-cuu/ho-so/yeu-cau-sua/", views.correction, name="portal_correction"),
    path("tra-cuu/ho-so/rut-dong-y/<slug:purpose>/", views.withdraw, name="portal_withdraw"),
    path("tra-cuu/thoat/", views.end, name="portal_end"),
]
