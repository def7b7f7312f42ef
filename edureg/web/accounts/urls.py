from __future__ import annotations

from django.urls import URLPattern, path

from edureg.web.accounts import views

urlpatterns: list[URLPattern] = [
    path("dang-nhap/xac-thuc/", views.otp_verify, name="otp_verify"),
    path("tai-khoan/", views.my_account, name="my_account"),
    path("tai-khoan/doi-mat-khau/", views.password_change, name="password_change"),
    path("tai-khoan/xac-thuc-hai-buoc/", views.two_factor_enrol, name="two_factor_enrol"),
    path("tai-khoan/ma-khoi-phuc/", views.recovery_codes_renew, name="recovery_codes_renew"),
    path("tai-khoan/phien/<slug:key_hash>/ket-thuc/", views.session_end, name="session_end"),
    path("truong/<int:school_id>/tai-khoan/", views.account_list, name="accounts"),
    path("can-bo/<int:staff_id>/tao-tai-khoan/", views.account_create, name="account_create"),
    path("quan-ly-tai-khoan/<int:user_id>/", views.account_detail, name="account"),
    path("quan-ly-tai-khoan/<int:user_id>/dat-lai-mat-khau/", views.account_password_reset,
         name="account_password_reset"),
    path("quan-ly-tai-khoan/<int:user_id>/khoa/", views.account_deactivate,
         name="account_deactivate"),
    path("quan-ly-tai-khoan/<int:user_id>/mo-khoa/", views.account_reactivate,
         name="account_reactivate"),
    path("quan-ly-tai-khoan/<int:user_id>/dat-lai-xac-thuc-hai-buoc/",
         views.account_two_factor_reset, name="account_two_factor_reset"),
    path("quan-ly-tai-khoan/<int:user_id>/vai-tro/", views.account_membership_grant,
         name="account_membership_grant"),
    path("quan-ly-tai-khoan/<int:user_id>/vai-tro/<int:membership_id>/ket-thuc/",
         views.account_membership_end, name="account_membership_end"),
]
