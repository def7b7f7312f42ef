"""Account services: creation by a school's IT officer (or the system administrator across the
authority), password reset with a forced change, deactivation, role memberships, the holder's own
password change and sessions. Each takes the actor, checks the policy (out of scope → 404,
missing permission → 403), validates, writes and audits in one transaction."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access import policy
from edureg.access.authentication import Client
from edureg.access.models import Membership, User, UserSession
from edureg.access.policy import Actor
from edureg.access.roles import ROLE_SCOPE, Perm, Role, Scope
from edureg.access.sessions import session_key_hash
from edureg.audit.services import audit_record
from edureg.core.text import fold_diacritics, split_name
from edureg.schools.models import School

USERNAME_MAX_LENGTH = 40
# No look-alike characters (0/O, 1/l/I): temporary passwords are read out and typed by hand.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"  # noqa: S105
SCHOOL_ROLES: tuple[Role, ...] = tuple(
    role for role in Role if ROLE_SCOPE[role] is not Scope.AUTHORITY
)


def password_generate(user: User | None = None) -> str:
    """A random password in four groups of four (≈ 90 bits), checked by the password rules."""
    while True:
        password = "-".join(
            "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(4)) for _ in range(4)
        )
        try:
            validate_password(password, user)
        except ValidationError:  # pragma: no cover - astronomically unlikely
            continue
        return password


def username_propose(full_name: str) -> str:
    """The customary school account name: given name plus the initials of the family and middle
    names, without diacritics ("Phạm Văn Bảo" → "baopv"), numbered when already taken."""
    parts = split_name(fold_diacritics(full_name).casefold())
    initials = "".join(word[0] for word in f"{parts.family} {parts.middle}".split())
    base = re.sub(r"[^a-z0-9]", "", parts.given + initials)[:USERNAME_MAX_LENGTH - 3] or "canbo"
    candidate, number = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        number += 1
        candidate = f"{base}{number}"
    return candidate


def clean_username(username: str) -> str:
    username = username.strip()
    if not username:
        raise ValidationError({"username": [_("Hãy nhập tên đăng nhập.")]})
    if len(username) > USERNAME_MAX_LENGTH:
        raise ValidationError({"username": [
            _("Tên đăng nhập dài tối đa %(n)d ký tự.") % {"n": USERNAME_MAX_LENGTH}]})
    if not re.fullmatch(r"[a-z0-9._-]+", username):
        raise ValidationError({"username": [
            _("Tên đăng nhập chỉ gồm chữ thường không dấu, chữ số và các dấu . _ -")]})
    UnicodeUsernameValidator()(username)
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": [
            _("Tên đăng nhập này đã được dùng; hãy chọn tên khác.")]})
    return username


def _school_role(role: str) -> Role:
    try:
        value = Role(role)
    except ValueError:
        raise ValidationError({"role": [_("Vai trò không hợp lệ.")]}) from None
    if value not in SCHOOL_ROLES:
        raise ValidationError({"role": [_("Vai trò này không cấp ở cấp trường.")]})
    return value


def _not_self(actor: Actor, user: User, message: str) -> None:
    if actor.pk == user.pk:
        raise ValidationError(message)


def sessions_end(user: User, *, keep_session_key: str | None = None) -> int:
    """Delete the account's sessions (all, or all but one): their cookies stop working at once."""
    sessions = UserSession.objects.filter(user=user)
    if keep_session_key:
        sessions = sessions.exclude(session_key=keep_session_key)
    deleted, _ = sessions.delete()
    return deleted


def account_create(*, actor: Actor, school: School, username: str, full_name: str, role: str,
                   email: str = "", data: dict[str, object] | None = None) -> tuple[User, str]:
    """A new individual account with a role at ``school`` and a generated password that must be
    changed at first sign-in. Returns the account and the password (to show once)."""
    policy.require(actor, Perm.ACCOUNT_MANAGE, school)
    errors: dict[str, list[str]] = {}
    try:
        username = clean_username(username)
    except ValidationError as error:
        errors.update(error.message_dict)
    try:
        granted = _school_role(role)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        user = User(username=username, full_name=full_name[:100], email=email,
                    must_change_password=True)
        password = password_generate(user)
        user.set_password(password)
        user.save()
        Membership.objects.create(user=user, role=granted, authority_id=school.authority_id,
                                  school=school, starts_on=timezone.localdate())
        audit_record(actor=actor, action="account.created", entity="user", entity_id=user.pk,
                     school_id=school.pk,
                     data={"username": username, "role": granted.value, **(data or {})})
    return user, password


def account_reset_password(*, actor: Actor, user: User) -> str:
    """A new generated password, to be changed at the next sign-in; the account's sessions end.
    Returns the password (to show once)."""
    policy.require(actor, Perm.ACCOUNT_MANAGE, user)
    _not_self(actor, user, _("Hãy đổi mật khẩu của chính mình ở trang “Tài khoản của tôi”."))
    with transaction.atomic():
        password = password_generate(user)
        user.set_password(password)
        user.must_change_password = True
        user.save(update_fields=["password", "must_change_password"])
        ended = sessions_end(user)
        audit_record(actor=actor, action="auth.password_reset", entity="user",
                     entity_id=user.pk, data={"username": user.username, "sessions_ended": ended})
    return password


def _deactivate(user: User, *, actor: Actor | None, reason: str,
                data: dict[str, object] | None = None) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])
    ended = sessions_end(user)
    audit_record(actor=actor, action="account.deactivated", entity="user", entity_id=user.pk,
                 data={"username": user.username, "reason": reason, "sessions_ended": ended,
                       **(data or {})})


def account_deactivate(*, actor: Actor, user: User, reason: str = "manual") -> None:
    """The account can no longer sign in; its open sessions stop working at once."""
    policy.require(actor, Perm.ACCOUNT_MANAGE, user)
    _not_self(actor, user, _("Không thể tự khoá tài khoản của chính mình."))
    if not user.is_active:
        return
    with transaction.atomic():
        _deactivate(user, actor=actor, reason=reason[:200])


def account_deactivate_automatically(*, user: User, reason: str,
                                     data: dict[str, object] | None = None) -> bool:
    """System deactivation (e.g. staff no longer employed); audited with the system as actor."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not locked.is_active:
            return False
        _deactivate(locked, actor=None, reason=reason, data=data)
    user.is_active = False
    return True


def account_reactivate(*, actor: Actor, user: User) -> None:
    policy.require(actor, Perm.ACCOUNT_MANAGE, user)
    if user.is_active:
        return
    with transaction.atomic():
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit_record(actor=actor, action="account.reactivated", entity="user",
                     entity_id=user.pk, data={"username": user.username})


def membership_grant(*, actor: Actor, user: User, school: School, role: str,
                     starts_on: dt.date | None = None) -> Membership:
    """Give the account a job-position role at a school the actor manages."""
    policy.require(actor, Perm.ACCOUNT_MANAGE, user)
    policy.require(actor, Perm.ACCOUNT_MANAGE, school)
    granted = _school_role(role)
    day = starts_on or timezone.localdate()
    if Membership.objects.current(day).filter(user=user, school=school, role=granted).exists():
        raise ValidationError({"role": [_("Tài khoản đã có vai trò này tại trường.")]})
    with transaction.atomic():
        membership = Membership.objects.create(
            user=user, role=granted, authority_id=school.authority_id, school=school,
            starts_on=day,
        )
        audit_record(actor=actor, action="membership.granted", entity="user", entity_id=user.pk,
                     school_id=school.pk,
                     data={"username": user.username, "role": granted.value,
                           "starts_on": day.isoformat()})
    return membership


def membership_end(*, actor: Actor, membership: Membership) -> None:
    """End a role at a school (from yesterday: it no longer applies today)."""
    policy.require(actor, Perm.ACCOUNT_MANAGE, membership.user)
    if membership.school is None:
        raise Http404
    policy.require(actor, Perm.ACCOUNT_MANAGE, membership.school)
    day = timezone.localdate() - dt.timedelta(days=1)
    with transaction.atomic():
        membership.ends_on = max(day, membership.starts_on - dt.timedelta(days=1))
        membership.save(update_fields=["ends_on"])
        audit_record(actor=actor, action="membership.ended", entity="user",
                     entity_id=membership.user_id, school_id=membership.school_id,
                     data={"role": membership.role, "ends_on": membership.ends_on.isoformat()})


def password_change_own(*, user: User, new_password: str, current_session_key: str | None,
                        client: Client) -> None:
    """The holder sets a new password (already checked by the form against the old one and the
    password rules). Every other session of the account ends."""
    validate_password(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.must_change_password = False
        user.save(update_fields=["password", "must_change_password"])
        ended = sessions_end(user, keep_session_key=current_session_key)
        audit_record(actor=user, action="auth.password_changed", entity="user",
                     entity_id=user.pk, data={"ip": client.address, "sessions_ended": ended})


def session_end(*, user: User, key_hash: str, client: Client) -> None:
    """End one of the holder's own sessions; someone else's session is not found (404)."""
    with transaction.atomic():
        session = UserSession.objects.filter(user=user, key_hash=key_hash).first()
        if session is None:
            raise Http404
        session.delete()
        audit_record(actor=user, action="auth.session_ended", entity="user", entity_id=user.pk,
                     data={"ip": client.address, "session": key_hash[:12]})


def current_session_hash(session_key: str | None) -> str:
    return session_key_hash(session_key) if session_key else ""
