"""The processing inventory (issue 7, part 8): built from the field catalogue, the purposes and
the security measures; every category shows, sensitive fields are marked; the page and the CSV
are for principals, IT officers and authority officers, and the CSV holds no personal data."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.test import Client
from django.urls import reverse

from edureg.access.models import User
from edureg.access.roles import Role
from edureg.core.catalogue import Catalogue, FieldInfo, active_catalogue
from edureg.privacy.datafiles import PrivacyDataError
from edureg.privacy.inventory import (
    CATEGORY_LABELS,
    OTHER_DATA_CATEGORY,
    SecurityMeasures,
    build_inventory,
    inventory_csv,
    inventory_in_force,
    parse_security,
    security_in_force,
)
from edureg.privacy.purposes import purposes_in_force
from edureg.registry.models import Staff, Student
from tests import factories as f
from tests.access.test_no_files import personal_values
from tests.conftest import Cast

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _field(entity: str, name: str, category: str, sensitivity: str = "basic") -> FieldInfo:
    return FieldInfo(entity=entity, name=name, label=name.title(), category=category,
                     sensitivity=sensitivity, identifying=False, legal_basis="TT 42/2021",
                     code_list="", required=False, required_levels=(), required_statuses=(),
                     update_group="yearly")


# --- The builder -------------------------------------------------------------------------------

def test_every_catalogue_category_appears_with_a_vietnamese_name() -> None:
    catalogue = active_catalogue()
    inventory = inventory_in_force()
    categories = {info.category for info in catalogue.fields}
    rows = {row.category: row for row in inventory.rows}
    assert categories <= set(rows)
    assert set(rows) - categories <= {OTHER_DATA_CATEGORY}
    assert categories <= set(CATEGORY_LABELS)
    for category in categories:
        listed = {(f.entity, f.name) for f in rows[category].fields}
        assert listed == {(i.entity, i.name) for i in catalogue.fields if i.category == category}
    assert inventory.catalogue_version == catalogue.version


def test_sensitive_fields_and_categories_are_marked() -> None:
    catalogue = active_catalogue()
    inventory = inventory_in_force()
    sensitive = {(i.entity, i.name) for i in catalogue.fields if i.is_sensitive}
    assert sensitive  # ethnicity, religion, health…
    marked = {(f.entity, f.name) for row in inventory.rows for f in row.fields if f.is_sensitive}
    assert marked == sensitive
    for row in inventory.rows:
        assert row.is_sensitive is any(f.is_sensitive for f in row.fields)
    rows = {row.category: row for row in inventory.rows}
    assert rows["health"].is_sensitive
    assert rows["health"].sensitivity_label == "Nhạy cảm"
    assert not rows["residence"].is_sensitive
    text = inventory_csv(inventory)
    for info in catalogue.fields:
        if info.is_sensitive:
            assert f"{info.label} (nhạy cảm)" in text


def test_purposes_recipients_and_retention_follow_the_purposes_in_force() -> None:
    purposes = purposes_in_force()
    rows = {row.category: row for row in inventory_in_force().rows}
    health = [use.code for use in rows["health"].purposes]
    assert health == ["quan_ly_giao_duc", "theo_doi_suc_khoe"]
    follow_up = purposes.get("theo_doi_suc_khoe")
    assert follow_up is not None
    use = rows["health"].purposes[1]
    assert use.requires_consent
    assert use.retention == follow_up.retention.label
    assert "Nhân viên y tế của trường" in rows["health"].recipients
    assert follow_up.legal_basis in rows["health"].legal_bases
    other = rows[OTHER_DATA_CATEGORY]
    assert [u.code for u in other.purposes] == ["anh_truyen_thong"]
    assert other.other_data


def test_a_purpose_uses_a_category_only_for_its_own_data_subjects() -> None:
    catalogue = Catalogue(version="t", source="test", update_groups={}, fields=(
        _field("staff", "employer", "employment"),
        _field("student", "allergy", "health", "sensitive"),
        _field("guardian", "job", "occupation"),
    ))
    purposes = purposes_in_force()
    security = SecurityMeasures(version="s", valid_from=dt.date(2026, 1, 1), source="t",
                                measures=())
    rows = {row.category: row for row in build_inventory(catalogue, purposes, security).rows}
    assert list(rows)[:3] == ["employment", "health", "occupation"]
    # health follow-up is for pupils: it uses the pupils' health category
    assert "theo_doi_suc_khoe" in [u.code for u in rows["health"].purposes]
    assert [u.entities for u in rows["employment"].purposes] == [("staff",)]
    assert rows["health"].fields[0].is_sensitive


def test_a_category_no_purpose_names_is_shown_without_a_purpose() -> None:
    catalogue = Catalogue(version="t", source="test", update_groups={},
                          fields=(_field("student", "shoe_size", "wardrobe"),))
    security = SecurityMeasures(version="s", valid_from=dt.date(2026, 1, 1), source="t",
                                measures=())
    inventory = build_inventory(catalogue, purposes_in_force(), security)
    row = inventory.rows[0]
    assert (row.category, row.label, row.purposes) == ("wardrobe", "wardrobe", ())
    assert "Chưa có mục đích" in inventory_csv(inventory)


def test_the_security_measures_are_data() -> None:
    measures = security_in_force()
    codes = [m.code for m in measures.measures]
    assert codes == ["tai_khoan_ca_nhan", "mat_khau_argon2", "quyen_toi_thieu",
                     "nhat_ky_chuoi_bam", "khong_xuat_tep", "an_o_nho", "ma_hoa_duong_truyen"]
    assert all(m.name and m.description for m in measures.measures)
    for bad in ({}, {"measures": []}, {"measures": [{"code": "x", "name": "y"}]},
                {"measures": [{"code": "x", "name": "y", "description": "z"}] * 2}):
        with pytest.raises(PrivacyDataError):
            parse_security(bad, version="bad", valid_from=dt.date(2026, 1, 1), source="t")


# --- The page and the download -----------------------------------------------------------------

def _seed_personal_values(cast: Cast) -> None:
    Student.objects.filter(pk=cast.an.pk).update(
        date_of_birth=dt.date(2019, 3, 14), personal_id_number="079219001234",
        phone="0903127845")
    f.make_guardian(cast.an, "Nguyễn Văn Cha", phone="0912345678",
                    personal_id_number="079085004321")
    staff = f.make_staff(cast.school_a, "Nguyễn Thị Lan")
    Staff.objects.filter(pk=staff.pk).update(date_of_birth=dt.date(1985, 5, 20),
                                             personal_id_number="079185002468",
                                             phone="0935111222")


def test_the_csv_is_utf8_with_bom_and_carries_no_personal_value(cast: Cast) -> None:
    _seed_personal_values(cast)
    response = _client(cast.alice).get(reverse("web:privacy_inventory_csv"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    body = response.content
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    personal = personal_values()
    assert {"Nguyễn Văn An", "079219001234", "0912345678", "20/05/1985"} <= personal
    assert [value for value in personal if value in text] == []
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[2][:4] == ["Nhóm dữ liệu", "Loại dữ liệu", "Trường thông tin", "Mục đích xử lý"]
    labels = {row[0] for row in rows[3:] if row}
    assert {CATEGORY_LABELS[c] for c in {i.category for i in active_catalogue().fields}} \
        <= labels
    assert "Mật khẩu lưu bằng argon2" in labels


def test_the_page_lists_categories_sensitive_fields_and_measures(cast: Cast) -> None:
    response = _client(cast.erin).get(reverse("web:privacy_inventory"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Danh mục hoạt động xử lý dữ liệu cá nhân" in page
    for label in ("Sức khoẻ", "Dân tộc", "Tôn giáo", "Biện pháp bảo vệ dữ liệu",
                  "Nhật ký truy cập và thay đổi nối chuỗi băm"):
        assert label in page
    assert reverse("web:privacy_inventory_csv") in page


@pytest.mark.parametrize(("role", "status"), [
    (Role.PRINCIPAL, 200), (Role.IT_OFFICER, 200), (Role.AUTHORITY_OFFICER, 200),
    (Role.VICE_PRINCIPAL, 403), (Role.HOMEROOM_TEACHER, 403), (Role.SUBJECT_TEACHER, 403),
    (Role.RECORDS_CLERK, 403), (Role.SCHOOL_NURSE, 403), (Role.SYSTEM_ADMIN, 403),
])
def test_who_may_see_and_download_it(cast: Cast, role: Role, status: int) -> None:
    if role in (Role.AUTHORITY_OFFICER, Role.SYSTEM_ADMIN):
        user = f.make_user(role.value, role, authority=cast.school_a.authority)
    else:
        user = f.make_user(role.value, role, cast.school_a)
    client = _client(user)
    for name in ("web:privacy_inventory", "web:privacy_inventory_csv"):
        assert client.get(reverse(name)).status_code == status
    assert Client().get(reverse("web:privacy_inventory")).status_code == 302


def test_the_home_page_links_to_it_for_who_may_see_it(cast: Cast) -> None:
    link = reverse("web:privacy_inventory")
    sam = f.make_user("sam", Role.SYSTEM_ADMIN, authority=cast.school_a.authority)
    pages = {user: _client(user).get(reverse("web:home")) for user in (cast.erin, sam)}
    assert [page.status_code for page in pages.values()] == [200, 200]
    assert link in pages[cast.erin].content.decode()
    assert link not in pages[sam].content.decode()


def test_the_school_page_links_to_it_for_the_principal(cast: Cast) -> None:
    link = reverse("web:privacy_inventory")
    school = reverse("web:school", args=[cast.school_a.pk])
    assert link in _client(cast.alice).get(school).content.decode()
    assert link not in _client(cast.bob).get(school).content.decode()
