"""The demo logins of a seeded database, for ``edureg up`` to print."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from edureg.access.models import Membership
from edureg.access.roles import Role
from edureg.schools.models import Authority
from edureg.seeding.options import DEFAULT_DEMO_PASSWORD

__all__ = ["DemoLoginInfo", "demo_logins"]

_ROLE_ORDER: Final = (
    Role.AUTHORITY_OFFICER, Role.SYSTEM_ADMIN, Role.PRINCIPAL, Role.VICE_PRINCIPAL,
    Role.HOMEROOM_TEACHER, Role.SUBJECT_TEACHER, Role.RECORDS_CLERK, Role.SCHOOL_NURSE,
    Role.IT_OFFICER,
)
_CHOSEN_AT_SEED_NOTE: Final = "(mật khẩu đã chọn khi chạy edureg seed)"


@dataclass(frozen=True, slots=True)
class DemoLoginInfo:
    username: str
    role: str
    school: str
    password: str


def demo_logins() -> list[DemoLoginInfo]:
    """One account per role: the authority's two, then the first school's; [] when not seeded."""
    from edureg.seeding.services import AUTHORITY_CODE

    authority = Authority.objects.filter(code=AUTHORITY_CODE).first()
    if authority is None:
        return []
    first_school = authority.schools.order_by("pk").first()
    memberships = (
        Membership.objects.filter(authority=authority, school__isnull=True)
        | Membership.objects.filter(school=first_school)
    ).select_related("user", "school").order_by("pk")
    chosen: dict[str, Membership] = {}
    for membership in memberships:
        chosen.setdefault(membership.role, membership)
    ordered = [chosen[role] for role in _ROLE_ORDER if role in chosen]
    if not ordered:
        return []
    password = os.environ.get("EDUREG_DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
    # One argon2 check: all demo accounts share one hash, so one answer holds for all.
    if not ordered[0].user.check_password(password):
        password = _CHOSEN_AT_SEED_NOTE
    return [
        DemoLoginInfo(
            username=membership.user.username,
            role=str(Role(membership.role).label),
            school=membership.school.name if membership.school else authority.name,
            password=password,
        )
        for membership in ordered
    ]
