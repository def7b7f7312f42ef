"""Sign-in, second factor, the holder's own account page, and account management for a school's
IT officer. Views parse, call a service or selector from ``edureg.access``, and render."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from edureg.access import accounts, policy, selectors, twofactor
from edureg.access.authentication import (
    client_of,
    lockout_check,
    login_failed,
    login_succeeded,
    logout_recorded,
)
from edureg.access.models import Membership, User
from edureg.access.roles import Perm
from edureg.audit.services import audit_record
from edureg.registry.accounts import (
    staff_account_create,
    staff_for_account,
    staff_without_account,
)
from edureg.schools.models import School
from edureg.web.accounts.forms import (
    AccountCreateForm,
    DeactivateForm,
    MembershipGrantForm,
    OwnPasswordChangeForm,
    SecondFactorForm,
    SignInForm,
    lockout_message,
)
from edureg.web.accounts.middleware import SECOND_FACTOR_DUE_KEY

logger = logging.getLogger(__name__)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("web:home")


# --- Sign-in and sign-out ---------------------------------------------------------------------

class SignInView(auth_views.LoginView):
    form_class = SignInForm
    template_name = "web/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        response = super().form_valid(form)
        due = twofactor.has_two_factor(user)
        if due:
            self.request.session[SECOND_FACTOR_DUE_KEY] = True
        needed = due or twofactor.requires_two_factor(user)
        login_succeeded(request=self.request, user=user, client=client_of(self.request),
                        second_factor="pending" if needed else "none")
        return response


class SignOutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            logout_recorded(user=_user(request), client=client_of(request))
        return super().post(request, *args, **kwargs)


def _end_for_lockout(request: HttpRequest, message: str) -> HttpResponse:
    logout_recorded(user=_user(request), client=client_of(request), reason="locked_out")
    logout(request)
    messages.error(request, message)
    return redirect("web:login")


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    """The second sign-in step: a code from the app, or a recovery code (used once)."""
    user = _user(request)
    if user.is_verified():  # type: ignore[attr-defined]
        return HttpResponseRedirect(_next_url(request))
    if not twofactor.has_two_factor(user):
        return redirect("web:two_factor_enrol")
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        client = client_of(request)
        found = lockout_check(username=user.username, client=client)
        if found is not None:
            return _end_for_lockout(request, lockout_message(found))
        device = twofactor.second_factor_verify(user=user, token=form.cleaned_data["token"],
                                                client=client)
        if device is not None:
            otp_login(request, device)
            request.session.pop(SECOND_FACTOR_DUE_KEY, None)
            left = twofactor.recovery_codes_left(user)
            if device.persistent_id.startswith("otp_static"):
                messages.warning(request, _(
                    "Bạn vừa dùng một mã khôi phục; mã đó không dùng lại được. Còn %(n)d mã.")
                    % {"n": left})
            return HttpResponseRedirect(_next_url(request))
        started = login_failed(username=user.username, client=client, second_factor=True)
        if started is not None:
            return _end_for_lockout(request, lockout_message(started))
        form.add_error("token", _("Mã không đúng, đã dùng hoặc đã hết hạn. Hãy nhập mã mới "
                                  "đang hiện trong ứng dụng (đợi vài giây nếu vừa nhập sai)."))
    return render(request, "web/accounts/otp_verify.html",
                  {"form": form, "next": _next_url(request)})


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_enrol(request: HttpRequest) -> HttpResponse:
    """Set up the authenticator app: QR code (drawn here) and secret, confirm with a code, then
    show the recovery codes once."""
    user = _user(request)
    has_device = twofactor.has_two_factor(user)
    if has_device and not user.is_verified():  # type: ignore[attr-defined]
        return redirect("web:otp_verify")
    device = twofactor.enrolment_device(user)
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = twofactor.enrolment_confirm(user=user, device=device,
                                            token=form.cleaned_data["token"],
                                            client=client_of(request))
        if codes is not None:
            otp_login(request, device)
            request.session.pop(SECOND_FACTOR_DUE_KEY, None)
            return render(request, "web/accounts/recovery_codes.html",
                          {"codes": codes, "next": _next_url(request), "enrolled": True})
        form.add_error("token", _("Mã không đúng. Hãy nhập mã 6 chữ số đang hiện trong ứng "
                                  "dụng (kiểm tra giờ của điện thoại nếu vẫn sai)."))
    return render(request, "web/accounts/enrol.html", {
        "form": form,
        "qr_svg": twofactor.qr_svg(device),
        "secret": twofactor.secret_text(device),
        "required": twofactor.requires_two_factor(user),
        "replacing": has_device,
        "next": _next_url(request),
    })


@login_required
@never_cache
@require_POST
def recovery_codes_renew(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not twofactor.has_two_factor(user):
        return redirect("web:two_factor_enrol")
    codes = twofactor.recovery_codes_regenerate(user=user, client=client_of(request))
    return render(request, "web/accounts/recovery_codes.html",
                  {"codes": codes, "next": reverse("web:my_account"), "enrolled": False})


# --- The holder's own account -----------------------------------------------------------------

@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = OwnPasswordChangeForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        accounts.password_change_own(
            user=user, new_password=form.cleaned_data["new_password1"],
            current_session_key=request.session.session_key, client=client_of(request))
        update_session_auth_hash(request, user)
        messages.success(request, _("Đã đổi mật khẩu. Các phiên đăng nhập khác của bạn đã "
                                    "được đăng xuất."))
        return redirect("web:my_account")
    return render(request, "web/accounts/password_change.html", {
        "form": form,
        "forced": user.must_change_password,
        "breadcrumbs": [(_("Tài khoản của tôi"), reverse("web:my_account")),
                        (_("Đổi mật khẩu"), None)],
    })


@login_required
@never_cache
@require_GET
def my_account(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    current = accounts.current_session_hash(request.session.session_key)
    manageable = policy.scope(School.objects.order_by("name"), user, Perm.ACCOUNT_VIEW)
    return render(request, "web/accounts/my_account.html", {
        "account": user,
        "memberships": selectors.account_memberships(user),
        "two_factor": twofactor.has_two_factor(user),
        "two_factor_required": twofactor.requires_two_factor(user),
        "recovery_codes_left": twofactor.recovery_codes_left(user),
        "sessions": selectors.own_sessions(user),
        "current_session": current,
        "history": selectors.own_login_history(user),
        "manageable_schools": list(manageable),
        "breadcrumbs": [(_("Trang chủ"), reverse("web:home")), (_("Tài khoản của tôi"), None)],
    })


@login_required
@require_POST
def session_end(request: HttpRequest, key_hash: str) -> HttpResponse:
    user = _user(request)
    current = accounts.current_session_hash(request.session.session_key)
    accounts.session_end(user=user, key_hash=key_hash, client=client_of(request))
    if key_hash == current:
        logout(request)
        return redirect("web:login")
    messages.success(request, _("Đã đăng xuất phiên đó."))
    return redirect("web:my_account")


# --- Account management (IT officer, system administrator) -----------------------------------

def _account_crumbs(school: School | None = None) -> list[tuple[Any, str | None]]:
    crumbs: list[tuple[Any, str | None]] = [(_("Trang chủ"), reverse("web:home"))]
    if school is not None:
        crumbs.append((school.name, reverse("web:school", args=[school.pk])))
        crumbs.append((_("Tài khoản"), reverse("web:accounts", args=[school.pk])))
    return crumbs


@login_required
@require_GET
def account_list(request: HttpRequest, school_id: int) -> HttpResponse:
    actor = _user(request)
    result = selectors.school_accounts(actor=actor, school_id=school_id)
    may_manage = policy.may(actor, Perm.ACCOUNT_MANAGE, result.school)
    without = (staff_without_account(actor=actor, school_id=result.school.pk)
               if may_manage else [])
    rows = [(user, [m for m in user.school_memberships  # type: ignore[attr-defined]
                    if m.ends_on is None or m.ends_on >= _today()])
            for user in result.accounts]
    return render(request, "web/accounts/account_list.html", {
        "school": result.school,
        "rows": rows,
        "staff_without_account": without,
        "may_manage": may_manage,
        "breadcrumbs": [*_account_crumbs(result.school)[:-1], (_("Tài khoản"), None)],
    })


def _today() -> dt.date:
    return timezone.localdate()


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest, staff_id: int) -> HttpResponse:
    actor = _user(request)
    staff = staff_for_account(actor=actor, staff_id=staff_id)
    if staff.user_id is not None:
        messages.info(request, _("Cán bộ này đã có tài khoản."))
        return redirect("web:account", staff.user_id)
    initial = {"username": accounts.username_propose(staff.full_name)}
    form = AccountCreateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            created = staff_account_create(actor=actor, staff=staff,
                                           role=form.cleaned_data["role"],
                                           username=form.cleaned_data["username"])
        except ValidationError as error:
            _add_errors(form, error)
        else:
            return render(request, "web/accounts/password_shown.html", {
                "account": created.user, "password": created.password, "created": True,
                "school": staff.school,
                "breadcrumbs": [*_account_crumbs(staff.school), (created.user.username, None)],
            })
    return render(request, "web/accounts/account_create.html", {
        "form": form, "staff": staff, "school": staff.school,
        "breadcrumbs": [*_account_crumbs(staff.school), (_("Tạo tài khoản"), None)],
    })


def _add_errors(form: Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, messages_ in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages_)
    else:
        form.add_error(None, error.messages)


def _manage_schools(actor: User) -> Any:
    return policy.scope(School.objects.order_by("name"), actor, Perm.ACCOUNT_MANAGE)


@login_required
@require_GET
def account_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = _user(request)
    account = selectors.account_get(actor=actor, user_id=user_id)
    memberships = selectors.account_memberships(account)
    school = next((m.school for m in memberships if m.school is not None
                   and policy.may(actor, Perm.ACCOUNT_VIEW, m.school)), None)
    return render(request, "web/accounts/account_detail.html", {
        "account": account,
        "memberships": memberships,
        "today": _today(),
        "may_manage": policy.may(actor, Perm.ACCOUNT_MANAGE, account),
        "is_self": account.pk == actor.pk,
        "grant_form": MembershipGrantForm(schools=_manage_schools(actor)),
        "deactivate_form": DeactivateForm(),
        "breadcrumbs": [*_account_crumbs(school), (account.username, None)],
    })


def _managed_account(request: HttpRequest, user_id: int) -> tuple[User, User]:
    actor = _user(request)
    return actor, selectors.account_get(actor=actor, user_id=user_id, perm=Perm.ACCOUNT_MANAGE)


def _back(user_id: int) -> HttpResponse:
    return redirect("web:account", user_id)


@login_required
@never_cache
@require_POST
def account_password_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    actor, account = _managed_account(request, user_id)
    try:
        password = accounts.account_reset_password(actor=actor, user=account)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _back(account.pk)
    return render(request, "web/accounts/password_shown.html", {
        "account": account, "password": password, "created": False,
        "breadcrumbs": [*_account_crumbs(), (account.username, reverse("web:account",
                                                                      args=[account.pk]))],
    })


@login_required
@require_POST
def account_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    actor, account = _managed_account(request, user_id)
    form = DeactivateForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for e in form.errors.get("reason", [])))
        return _back(account.pk)
    try:
        accounts.account_deactivate(actor=actor, user=account,
                                    reason=form.cleaned_data["reason"] or "manual")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Đã khoá tài khoản %(name)s; các phiên đăng nhập của tài "
                                    "khoản đã kết thúc.") % {"name": account.username})
    return _back(account.pk)


@login_required
@require_POST
def account_reactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    actor, account = _managed_account(request, user_id)
    accounts.account_reactivate(actor=actor, user=account)
    messages.success(request, _("Đã mở lại tài khoản %(name)s.") % {"name": account.username})
    return _back(account.pk)


@login_required
@require_POST
def account_two_factor_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    actor, account = _managed_account(request, user_id)
    try:
        twofactor.two_factor_reset(actor=actor, user=account)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Đã xoá xác thực hai bước của %(name)s; người dùng sẽ cài "
                                    "đặt lại khi đăng nhập.") % {"name": account.username})
    return _back(account.pk)


@login_required
@require_POST
def account_membership_grant(request: HttpRequest, user_id: int) -> HttpResponse:
    actor, account = _managed_account(request, user_id)
    form = MembershipGrantForm(request.POST, schools=_manage_schools(actor))
    if not form.is_valid():
        messages.error(request, _("Trường hoặc vai trò không hợp lệ."))
        return _back(account.pk)
    try:
        accounts.membership_grant(actor=actor, user=account, school=form.cleaned_data["school"],
                                  role=form.cleaned_data["role"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Đã cấp vai trò."))
    return _back(account.pk)


@login_required
@require_POST
def account_membership_end(request: HttpRequest, user_id: int,
                           membership_id: int) -> HttpResponse:
    actor, account = _managed_account(request, user_id)
    membership = Membership.objects.filter(pk=membership_id, user=account).first()
    if membership is None:
        raise Http404
    accounts.membership_end(actor=actor, membership=membership)
    messages.success(request, _("Đã kết thúc vai trò."))
    return _back(account.pk)


# --- Refused form posts ------------------------------------------------------------------------

def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A post without a valid CSRF token: refused (403), nothing changed, logged."""
    user = getattr(request, "user", None)
    actor = user if user is not None and user.is_authenticated else None
    logger.warning("CSRF refused: %s %s", request.method, request.path)
    with transaction.atomic():
        audit_record(actor=actor, action="security.csrf_refused", entity="request",
                     data={"path": request.path[:200], "method": request.method,
                           "ip": client_of(request).address})
    # Already audited here with the reason; the access-denied middleware need not record it again.
    request.edureg_denial_audited = True  # type: ignore[attr-defined]
    return render(request, "web/accounts/csrf_failure.html", status=403)
