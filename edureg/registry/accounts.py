"""Accounts of staff members: one individual account per staff record, created by the school's
IT officer; accounts of staff no longer employed are deactivated automatically.

This lives in registry because it touches Staff; the account work itself is access's."""

from __future__ import annotations

import dataclasses

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _
from django_tasks import task

from edureg.access import accounts, policy
from edureg.access.models import User
from edureg.access.policy import Actor
from edureg.access.roles import Perm
from edureg.audit.services import audit_record
from edureg.core.codelists import get_list
from edureg.core.codelists.loader import UnknownCodeListError
from edureg.registry.models import Staff

EMPLOYMENT_STATUS_LIST = "employment_status"


def staff_without_account(*, actor: Actor, school_id: int) -> list[Staff]:
    """Staff of the school who have no account yet (for the IT officer's list)."""
    policy.require(actor, Perm.ACCOUNT_MANAGE)
    staff = policy.scope(Staff.objects.all(), actor, Perm.STAFF_VIEW)
    return list(staff.filter(school_id=school_id, user__isnull=True).order_by("name_sort_key"))


def staff_for_account(*, actor: Actor, staff_id: int) -> Staff:
    """A staff record the actor may create an account for: out of scope → 404."""
    policy.require(actor, Perm.ACCOUNT_MANAGE)
    staff = policy.scope(Staff.objects.select_related("school"), actor, Perm.STAFF_VIEW) \
        .filter(pk=staff_id).first()
    if staff is None or not policy.may(actor, Perm.ACCOUNT_MANAGE, staff.school):
        raise Http404
    return staff


@dataclasses.dataclass(frozen=True)
class StaffAccount:
    user: User
    password: str


def staff_account_create(*, actor: Actor, staff: Staff, role: str,
                         username: str | None = None) -> StaffAccount:
    """Create the staff member's individual account with a role at their school."""
    policy.require(actor, Perm.ACCOUNT_MANAGE, staff.school)
    with transaction.atomic():
        locked = Staff.objects.select_for_update().get(pk=staff.pk)
        if locked.user_id is not None:
            raise ValidationError(_("Cán bộ này đã có tài khoản; mỗi người chỉ có một tài "
                                    "khoản."))
        user, password = accounts.account_create(
            actor=actor, school=staff.school,
            username=username if username is not None else accounts.username_propose(
                staff.full_name),
            full_name=staff.full_name, role=role, email=staff.email,
            data={"staff_id": staff.pk},
        )
        locked.user = user
        locked.save(update_fields=["user", "updated_at"])
    staff.user = user
    return StaffAccount(user=user, password=password)


def _inactive_codes() -> frozenset[str]:
    codes: set[str] = set()
    try:
        code_list = get_list(EMPLOYMENT_STATUS_LIST)
    except UnknownCodeListError:
        return frozenset()
    codes.update(entry.code for entry in code_list.entries if not entry.flag("active"))
    return frozenset(codes)


def staff_accounts_deactivate_inactive() -> list[int]:
    """Deactivate the accounts of staff whose employment status is not an active one (code list
    ``employment_status``, ``extra.active``). Returns the ids of the accounts deactivated."""
    inactive = _inactive_codes()
    if not inactive:
        return []
    done: list[int] = []
    candidates = (Staff.objects.filter(employment_status_code__in=inactive,
                                       user__is_active=True)
                  .select_related("user").order_by("pk"))
    for staff in candidates:
        user = staff.user
        assert user is not None
        status = get_list(EMPLOYMENT_STATUS_LIST).name_of(staff.employment_status_code)
        if accounts.account_deactivate_automatically(
            user=user, reason="employment_status",
            data={"staff_id": staff.pk, "school_id": staff.school_id,
                  "employment_status_code": staff.employment_status_code,
                  "employment_status": status},
        ):
            done.append(user.pk)
    if done:
        with transaction.atomic():
            audit_record(actor=None, action="account.deactivation_run", entity="user",
                         data={"deactivated": len(done)})
    return done


@task()
def deactivate_inactive_staff_accounts() -> int:
    """Background form of ``staff_accounts_deactivate_inactive`` (``edureg db_worker``)."""
    return len(staff_accounts_deactivate_inactive())
