"""A new installation's first data: the Department (Sở GDĐT), its list of schools and its first
administrator.

The school list is the CSV the Department keeps (one row per school: ``ma_truong``,
``ten_truong``, ``cap_hoc``, ``loai_hinh``, ``ma_xa``, ``dia_chi``). Every row is checked before
anything is written: an error names the line, the column and what to do, and the whole list is
refused. Loading the list again updates the schools it names (by code) and creates the new ones;
a school is never deleted here.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.accounts import clean_username, password_generate
from edureg.access.models import Membership, User
from edureg.access.roles import Role
from edureg.audit.services import audit_record
from edureg.core.codelists import get_list
from edureg.schools.models import Authority, Ownership, School, SchoolLevel

SCHOOL_COLUMNS = ("ma_truong", "ten_truong", "cap_hoc", "loai_hinh", "ma_xa", "dia_chi")
_CODE = re.compile(r"[0-9A-Za-z]{1,20}")
# A level or ownership may be written as stored or as shown ("Tiểu học", "Công lập").
_LEVELS = {**{value: value for value in SchoolLevel.values},
           **{str(label).casefold(): value for value, label in SchoolLevel.choices}}
_OWNERSHIPS = {**{value: value for value in Ownership.values},
               **{str(label).casefold(): value for value, label in Ownership.choices}}
MAX_ERRORS = 50


@dataclasses.dataclass(frozen=True)
class SchoolsLoaded:
    created: int
    updated: int


def authority_set_up(*, code: str, name: str, province_code: str) -> tuple[Authority, bool]:
    """Create the Department, or correct its name or province; True when created."""
    code, name, province_code = code.strip(), " ".join(name.split()), province_code.strip()
    errors: dict[str, list[str]] = {}
    if not _CODE.fullmatch(code):
        errors["code"] = [_("Mã cơ quan gồm 1–20 chữ cái không dấu hoặc chữ số (ví dụ SGD79).")]
    if not name:
        errors["name"] = [_("Hãy nhập tên cơ quan, ví dụ “Sở Giáo dục và Đào tạo …”.")]
    if province_code not in get_list("province"):
        errors["province"] = [_("Mã tỉnh/thành phố %(code)s không có trong danh mục đơn vị hành "
                                "chính; hãy dùng mã 2 chữ số, ví dụ 79.") % {"code": province_code}]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        authority, created = Authority.objects.update_or_create(
            code=code, defaults={"name": name, "province_code": province_code,
                                 "admin_units_version": get_list("commune").version})
        audit_record(actor=None, action="authority.set_up", entity="authority",
                     entity_id=authority.pk, data={"code": code, "created": created})
    return authority, created


def _school_row(line: int, row: Mapping[str, str | None], authority: Authority,
                errors: list[str]) -> dict[str, str] | None:
    values = {column: " ".join((row.get(column) or "").split()) for column in SCHOOL_COLUMNS}
    found: list[str] = []
    if not _CODE.fullmatch(values["ma_truong"]):
        found.append(_("cột ma_truong: mã trường gồm 1–20 chữ cái không dấu hoặc chữ số"))
    if not values["ten_truong"]:
        found.append(_("cột ten_truong: hãy điền tên trường"))
    level = _LEVELS.get(values["cap_hoc"].casefold())
    if level is None:
        found.append(_("cột cap_hoc: “%(value)s” không phải cấp học; dùng Mầm non, Tiểu học, "
                       "THCS, THPT hoặc Liên cấp") % {"value": values["cap_hoc"]})
    ownership = _OWNERSHIPS.get(values["loai_hinh"].casefold())
    if ownership is None:
        found.append(_("cột loai_hinh: “%(value)s” không phải loại hình; dùng Công lập hoặc "
                       "Ngoài công lập") % {"value": values["loai_hinh"]})
    commune = get_list("commune").get(values["ma_xa"])
    if commune is None:
        found.append(_("cột ma_xa: mã xã/phường “%(value)s” không có trong danh mục")
                     % {"value": values["ma_xa"]})
    elif commune.parent != authority.province_code:
        found.append(_("cột ma_xa: %(name)s không thuộc tỉnh/thành phố của Sở")
                     % {"name": commune.name})
    if found:
        errors.append(_("Dòng %(line)d: %(problems)s.") % {"line": line,
                                                           "problems": "; ".join(found)})
        return None
    assert level is not None and ownership is not None  # noqa: PT018 - checked above
    return {**values, "cap_hoc": level, "loai_hinh": ownership}


def schools_load(*, authority: Authority, rows: Iterable[Mapping[str, str | None]]
                 ) -> SchoolsLoaded:
    """Create or update the Department's schools from the list's rows, all or none."""
    errors: list[str] = []
    parsed: list[dict[str, str]] = []
    first_line: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        school = _school_row(line, row, authority, errors)
        if school is None:
            continue
        code = school["ma_truong"]
        if code in first_line:
            errors.append(_("Dòng %(line)d: mã trường %(code)s đã có ở dòng %(first)d; mỗi "
                            "trường một dòng.") % {"line": line, "code": code,
                                                   "first": first_line[code]})
            continue
        first_line[code] = line
        parsed.append(school)
    elsewhere = set(School.objects.filter(code__in=first_line).exclude(authority=authority)
                    .values_list("code", flat=True))
    errors += [_("Dòng %(line)d: mã trường %(code)s đã thuộc một Sở khác.")
               % {"line": first_line[code], "code": code} for code in sorted(elsewhere)]
    if not parsed and not errors:
        errors.append(_("Danh sách không có trường nào."))
    if errors:
        raise ValidationError(errors[:MAX_ERRORS])
    existing = {school.code: school for school in School.objects.filter(code__in=first_line)}
    created = updated = 0
    version = get_list("commune").version
    with transaction.atomic():
        for row in parsed:
            fields = {"name": row["ten_truong"], "level": row["cap_hoc"],
                      "ownership": row["loai_hinh"], "commune_code": row["ma_xa"],
                      "address": row["dia_chi"], "admin_units_version": version}
            stored = existing.get(row["ma_truong"])
            if stored is None:
                School.objects.create(authority=authority, code=row["ma_truong"], **fields)
                created += 1
            elif any(getattr(stored, name) != value for name, value in fields.items()):
                School.objects.filter(pk=stored.pk).update(**fields)
                updated += 1
        audit_record(actor=None, action="schools.loaded", entity="authority",
                     entity_id=authority.pk, data={"created": created, "updated": updated})
    return SchoolsLoaded(created=created, updated=updated)


def schools_csv_rows(text: str) -> list[dict[str, str | None]]:
    """The rows of the school list as read from its CSV text (UTF-8, comma-separated, header
    row with the column names); a header without every column is refused."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [column for column in SCHOOL_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(_("Dòng tiêu đề thiếu cột %(columns)s. Các cột cần có: "
                                "%(all)s.") % {"columns": ", ".join(missing),
                                               "all": ", ".join(SCHOOL_COLUMNS)})
    return list(reader)


def first_admin_create(*, authority: Authority, username: str, full_name: str,
                       email: str = "") -> tuple[User, str]:
    """The Department's first system administrator (Quản trị hệ thống): an individual account
    with a generated password to change at first sign-in and a second factor to enrol, who then
    creates every other account in the web interface. Refused once the Department has an
    administrator: further ones are created there, by name, with the audit trail."""
    if Membership.objects.current().filter(authority=authority,
                                           role=Role.SYSTEM_ADMIN).exists():
        raise ValidationError(_("Sở %(authority)s đã có tài khoản quản trị hệ thống. Tài khoản "
                                "khác do quản trị viên tạo trong mục Tài khoản của giao diện "
                                "web.") % {"authority": authority.name})
    full_name = " ".join(full_name.split())
    if not full_name:
        raise ValidationError({"full_name": [_("Hãy nhập họ và tên của quản trị viên.")]})
    username = clean_username(username)
    with transaction.atomic():
        user = User(username=username, full_name=full_name[:100], email=email.strip(),
                    must_change_password=True)
        password = password_generate(user)
        user.set_password(password)
        user.save()
        Membership.objects.create(user=user, role=Role.SYSTEM_ADMIN, authority=authority,
                                  school=None, starts_on=timezone.localdate())
        audit_record(actor=None, action="account.created", entity="user", entity_id=user.pk,
                     data={"username": username, "role": Role.SYSTEM_ADMIN.value,
                           "first_admin": True})
    return user, password
