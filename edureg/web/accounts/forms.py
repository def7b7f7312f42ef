"""Account forms: parse and check input only; the services in ``edureg.access`` do the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import ValidationError
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from edureg.access.accounts import SCHOOL_ROLES, USERNAME_MAX_LENGTH
from edureg.access.authentication import (
    client_of,
    locked_until_local,
    lockout_check,
    login_failed,
)
from edureg.access.lockout import Lockout
from edureg.schools.models import School

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

PASSWORD_MAX_LENGTH = 128
TOKEN_MAX_LENGTH = 20


def lockout_message(found: Lockout) -> str:
    until = locked_until_local(found)
    return _(
        "Đăng nhập tạm thời bị khoá vì nhập sai quá nhiều lần. Hãy thử lại sau %(time)s "
        "ngày %(date)s. Nếu bạn quên mật khẩu, hãy nhờ cán bộ quản trị CNTT của trường đặt lại."
    ) % {"time": formats.time_format(until, "H:i"), "date": formats.date_format(until, "d/m/Y")}


def _password_field(label: StrOrPromise, autocomplete: str) -> forms.CharField:
    return forms.CharField(
        label=label, strip=False, max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


class SignInForm(AuthenticationForm):
    """Django's sign-in form, with the lockout checked before the password and every failure
    counted and audited."""

    password = _password_field(gettext_lazy("Mật khẩu"), "current-password")

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not username or password is None or self.request is None:
            return self.cleaned_data
        client = client_of(self.request)
        found = lockout_check(username=username, client=client)
        if found is not None:
            raise ValidationError(lockout_message(found), code="locked")
        try:
            return super().clean()
        except ValidationError:
            started = login_failed(username=username, client=client)
            if started is not None:
                raise ValidationError(lockout_message(started), code="locked") from None
            raise


class OwnPasswordChangeForm(PasswordChangeForm):
    old_password = _password_field(gettext_lazy("Mật khẩu hiện tại"), "current-password")
    new_password1 = _password_field(gettext_lazy("Mật khẩu mới"), "new-password")
    new_password2 = _password_field(gettext_lazy("Nhập lại mật khẩu mới"), "new-password")


class SecondFactorForm(forms.Form):
    token = forms.CharField(
        label=gettext_lazy("Mã xác thực"), max_length=TOKEN_MAX_LENGTH,
        help_text=gettext_lazy("6 chữ số trong ứng dụng xác thực, hoặc một mã khôi phục."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text",
                                      "autofocus": True}),
    )


def _role_choices() -> list[tuple[str, str]]:
    return [(role.value, str(role.label)) for role in SCHOOL_ROLES]


class AccountCreateForm(forms.Form):
    username = forms.CharField(
        label=gettext_lazy("Tên đăng nhập"), max_length=USERNAME_MAX_LENGTH,
        help_text=gettext_lazy("Chữ thường không dấu, chữ số và . _ -; đề xuất theo họ tên."),
    )
    role = forms.ChoiceField(label=gettext_lazy("Vai trò tại trường"), choices=_role_choices)


class MembershipGrantForm(forms.Form):
    school = forms.ModelChoiceField(label=gettext_lazy("Trường"), queryset=School.objects.none(),
                                    empty_label=None)
    role = forms.ChoiceField(label=gettext_lazy("Vai trò"), choices=_role_choices)

    def __init__(self, *args: Any, schools: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["school"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = schools


class DeactivateForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Lý do"), max_length=200, required=False)
