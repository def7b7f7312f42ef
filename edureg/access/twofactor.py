"""TOTP two-factor authentication (django-otp): who must use it, enrolment with recovery codes,
verification at sign-in, and reset by an account manager. Each change is audited."""

from __future__ import annotations

import base64
import re

import segno
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from edureg.access import policy
from edureg.access.authentication import Client
from edureg.access.models import User, UserSession
from edureg.access.policy import Actor
from edureg.access.roles import ROLES_REQUIRING_2FA, Perm
from edureg.audit.services import audit_record

RECOVERY_CODE_COUNT = 10
DEVICE_NAME = "edureg"
_TOTP_TOKEN = re.compile(r"^\d{6}$")


def requires_two_factor(user: Actor) -> bool:
    """Whether the account holds a role that must pass a second factor."""
    return bool(policy.roles(user) & ROLES_REQUIRING_2FA)


def confirmed_totp(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_two_factor(user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def enrolment_device(user: User) -> TOTPDevice:
    """The pending (unconfirmed) device the holder is setting up; made on first use."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def secret_text(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four, for typing into an app by hand."""
    secret = base64.b32encode(device.bin_key).decode()
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The provisioning URI as an inline SVG QR code, drawn here (no outside service)."""
    return str(segno.make(device.config_url, error="m").svg_inline(
        scale=5, border=2, title=_("Mã QR để thêm tài khoản vào ứng dụng xác thực")))


def normalise_token(token: str) -> str:
    return re.sub(r"[\s-]", "", token).lower()


def _recovery_codes_new(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def enrolment_confirm(*, user: User, device: TOTPDevice, token: str, client: Client
                      ) -> list[str] | None:
    """Confirm the pending device with a code from the app. Returns the new recovery codes
    (shown once), or None when the code is wrong. Replaces any earlier device and codes."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
        if not device.verify_token(normalise_token(token)):
            return None
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _recovery_codes_new(user)
        audit_record(actor=user, action="auth.2fa_enrolled", entity="user", entity_id=user.pk,
                     data={"ip": client.address, "recovery_codes": len(codes)})
    return codes


def recovery_codes_regenerate(*, user: User, client: Client) -> list[str]:
    with transaction.atomic():
        codes = _recovery_codes_new(user)
        audit_record(actor=user, action="auth.recovery_codes_renewed", entity="user",
                     entity_id=user.pk, data={"ip": client.address})
    return codes


def recovery_codes_left(user: User) -> int:
    return int(StaticToken.objects.filter(device__user=user).count())


def second_factor_verify(*, user: User, token: str, client: Client) -> Device | None:
    """Check a TOTP code, or a recovery code (which is then used up). Audited either way;
    a wrong code also counts towards the sign-in lockout (by the caller)."""
    token = normalise_token(token)
    with transaction.atomic():
        verified: Device | None = None
        if _TOTP_TOKEN.match(token):
            for totp in TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True):
                if totp.verify_token(token):
                    verified = totp
                    break
            action = "auth.2fa_verified"
        else:
            for static in StaticDevice.objects.select_for_update().filter(user=user,
                                                                         confirmed=True):
                if static.verify_token(token):
                    verified = static
                    break
            action = "auth.recovery_code_used"
        if verified is not None:
            data: dict[str, object] = {"ip": client.address}
            if action == "auth.recovery_code_used":
                data["recovery_codes_left"] = recovery_codes_left(user)
            audit_record(actor=user, action=action, entity="user", entity_id=user.pk, data=data)
    return verified


def two_factor_reset(*, actor: Actor, user: User) -> None:
    """Remove the account's second factor (lost phone): the holder enrols again at the next
    sign-in. Their sessions end, so nobody keeps a session verified by the old device."""
    policy.require(actor, Perm.ACCOUNT_MANAGE, user)
    if actor.pk == user.pk:
        raise ValidationError(_("Không thể tự đặt lại xác thực hai bước của chính mình; hãy "
                                "nhờ một quản trị khác."))
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        UserSession.objects.filter(user=user).delete()
        audit_record(actor=actor, action="auth.2fa_reset", entity="user", entity_id=user.pk,
                     data={"username": user.username})
