"""Account middleware: the idle timeout, and the gate that keeps a signed-in account on the
second-factor and forced-password-change pages until it has passed them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from edureg.access.authentication import client_of, logout_recorded
from edureg.access.models import User
from edureg.access.sessions import LAST_SEEN_KEY, STARTED_KEY
from edureg.access.twofactor import has_two_factor, requires_two_factor

# Set at sign-in for an account with a device: the second factor is due even if no role needs it.
SECOND_FACTOR_DUE_KEY = "edureg_second_factor_due"
# Writing the session on every request would cost a query each; a minute's precision is enough.
TOUCH_INTERVAL_SECONDS = 60

_SECOND_FACTOR_PAGES = frozenset({"web:login", "web:logout", "web:otp_verify",
                                  "web:two_factor_enrol"})
_PASSWORD_PAGES = _SECOND_FACTOR_PAGES | {"web:password_change"}

GetResponse = Callable[[HttpRequest], HttpResponse]


class IdleTimeoutMiddleware:
    """Sign out a session that has seen no request for ``EDUREG_IDLE_TIMEOUT_SECONDS``."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if SESSION_KEY in session:
            now = time.time()
            last = session.get(LAST_SEEN_KEY)
            if isinstance(last, int | float) and now - last > settings.EDUREG_IDLE_TIMEOUT_SECONDS:
                user = request.user
                if isinstance(user, User):
                    logout_recorded(user=user, client=client_of(request), reason="idle")
                logout(request)
                minutes = settings.EDUREG_IDLE_TIMEOUT_SECONDS // 60
                messages.info(request, _(
                    "Phiên làm việc đã kết thúc vì không hoạt động quá %(minutes)d phút. "
                    "Hãy đăng nhập lại.") % {"minutes": minutes})
            elif not isinstance(last, int | float) or now - last >= TOUCH_INTERVAL_SECONDS:
                session[LAST_SEEN_KEY] = now
                session.setdefault(STARTED_KEY, now)
        return self.get_response(request)


class AccountGateMiddleware:
    """Until a signed-in account has passed its second factor (when its roles require one, or it
    has a device) and changed a password someone else set, every other page sends it there."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Any, view_args: Any,
                     view_kwargs: Any) -> HttpResponse | None:
        user = request.user
        if not user.is_authenticated:
            return None
        match = request.resolver_match
        page = match.view_name if match is not None else ""
        if (page not in _SECOND_FACTOR_PAGES and not user.is_verified()  # type: ignore[attr-defined]
                and (request.session.get(SECOND_FACTOR_DUE_KEY) or requires_two_factor(user))):
            assert isinstance(user, User)
            target = "web:otp_verify" if has_two_factor(user) else "web:two_factor_enrol"
            return _send_to(request, target, _(
                "Tài khoản của bạn phải xác thực hai bước trước khi làm việc khác."))
        if page not in _PASSWORD_PAGES and getattr(user, "must_change_password", False):
            return _send_to(request, "web:password_change", _(
                "Mật khẩu của bạn do người khác đặt; hãy đổi mật khẩu trước khi làm việc khác."))
        return None


def _send_to(request: HttpRequest, page: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=403)
    url = reverse(page)
    if request.method == "GET":
        url += "?" + urlencode({"next": request.get_full_path()})
    return redirect(url)
