from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edureg.core.codelists import (
    CODE_LIST_DIRS_ENV,
    CodeEntry,
    CodeListError,
    UnknownCodeListError,
    available_versions,
    clear_cache,
    current_version,
    get_list,
    legacy_province_for_id_prefix,
    legacy_province_to_province,
    legacy_ward_to_commune,
    legacy_ward_to_communes,
    list_names,
    match_key,
)

# DOMAIN.md §2.1, copied verbatim: the 63 personal-ID prefixes (Circular 07/2016/TT-BCA annex).
DOMAIN_ID_PREFIXES = """
001 Hà Nội, 002 Hà Giang, 004 Cao Bằng, 006 Bắc Kạn, 008 Tuyên Quang, 010 Lào Cai, 011 Điện Biên,
012 Lai Châu, 014 Sơn La, 015 Yên Bái, 017 Hòa Bình, 019 Thái Nguyên, 020 Lạng Sơn, 022 Quảng Ninh,
024 Bắc Giang, 025 Phú Thọ, 026 Vĩnh Phúc, 027 Bắc Ninh, 030 Hải Dương, 031 Hải Phòng, 033 Hưng Yên,
034 Thái Bình, 035 Hà Nam, 036 Nam Định, 037 Ninh Bình, 038 Thanh Hóa, 040 Nghệ An, 042 Hà Tĩnh,
044 Quảng Bình, 045 Quảng Trị, 046 Thừa Thiên Huế, 048 Đà Nẵng, 049 Quảng Nam, 051 Quảng Ngãi,
052 Bình Định, 054 Phú Yên, 056 Khánh Hòa, 058 Ninh Thuận, 060 Bình Thuận, 062 Kon Tum, 064 Gia Lai,
066 Đắk Lắk, 067 Đắk Nông, 068 Lâm Đồng, 070 Bình Phước, 072 Tây Ninh, 074 Bình Dương, 075 Đồng Nai,
077 Bà Rịa–Vũng Tàu, 079 Hồ Chí Minh, 080 Long An, 082 Tiền Giang, 083 Bến Tre, 084 Trà Vinh,
086 Vĩnh Long, 087 Đồng Tháp, 089 An Giang, 091 Kiên Giang, 092 Cần Thơ, 093 Hậu Giang,
094 Sóc Trăng, 095 Bạc Liêu, 096 Cà Mau
"""

# DOMAIN.md §4: GSO ethnic-group codes 01–54.
DOMAIN_ETHNIC_GROUPS = """
01 Kinh, 02 Tày, 03 Thái, 04 Mường, 05 Khmer, 06 Hoa, 07 Nùng, 08 Mông, 09 Dao, 10 Gia Rai, 11 Ê Đê,
12 Ba Na, 13 Sán Chay, 14 Chăm, 15 Cơ Ho, 16 Xơ Đăng, 17 Sán Dìu, 18 Hrê, 19 Ra Glai, 20 Mnông,
21 Thổ, 22 Xtiêng, 23 Khơ mú, 24 Bru Vân Kiều, 25 Cơ Tu, 26 Giáy, 27 Tà Ôi, 28 Mạ, 29 Giẻ-Triêng,
30 Co, 31 Chơ Ro, 32 Xinh Mun, 33 Hà Nhì, 34 Chu Ru, 35 Lào, 36 La Chí, 37 Kháng, 38 Phù Lá,
39 La Hủ, 40 La Ha, 41 Pà Thẻn, 42 Lự, 43 Ngái, 44 Chứt, 45 Lô Lô, 46 Mảng, 47 Cơ Lao, 48 Bố Y,
49 Cống, 50 Si La, 51 Pu Péo, 52 Rơ Măm, 53 Brâu, 54 Ơ Đu
"""

ALL_LISTS = [
    "commune",
    "disability",
    "employment_status",
    "enrolment_status",
    "ethnicity",
    "guardian_relation",
    "job_position",
    "legacy_district",
    "legacy_province",
    "legacy_ward",
    "nationality",
    "policy_group",
    "position_group",
    "preschool_age_group",
    "province",
    "qualification",
    "religion",
    "school_level",
    "sex",
    "subject",
]


def parse_code_table(text: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for item in text.replace("\n", " ").split(","):
        code, name = item.strip().split(" ", 1)
        table[code] = name
    return table


@pytest.fixture(autouse=True)
def _fresh_code_list_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(CODE_LIST_DIRS_ENV, raising=False)
    clear_cache()
    yield
    clear_cache()


def write_list(
    directory: Path,
    name: str,
    version: str,
    valid_from: str,
    overrides: dict[str, object] | None = None,
) -> Path:
    document: dict[str, object] = {
        "name": name,
        "version": version,
        "valid_from": valid_from,
        "source": "test",
        "entries": [{"code": "M", "name": "Nam"}, {"code": "F", "name": "Nữ"}],
    }
    document.update(overrides or {})
    path = directory / name / f"{version}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


# --- shipped data -------------------------------------------------------------------------------


def test_all_shipped_lists_are_found_and_load() -> None:
    assert list_names() == ALL_LISTS
    for name in ALL_LISTS:
        code_list = get_list(name)
        assert code_list.name == name
        assert code_list.entries
        assert code_list.source
        assert code_list.valid_from <= date(2026, 1, 1)
        assert all(entry.code and entry.name for entry in code_list.entries)


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("province", 34),
        ("commune", 3321),
        ("legacy_province", 63),
        ("legacy_district", 696),
        ("legacy_ward", 10051),
        ("ethnicity", 55),
        ("religion", 18),
        ("sex", 2),
        ("nationality", 249),
    ],
)
def test_list_sizes(name: str, count: int) -> None:
    assert len(get_list(name)) == count


def test_ho_chi_minh_city_has_168_communes() -> None:
    communes = get_list("commune").children("79")
    assert len(communes) == 168
    assert "Phường Bến Thành" in {entry.name for entry in communes}


def test_every_parent_exists() -> None:
    pairs = [
        ("commune", "province"),
        ("legacy_district", "legacy_province"),
        ("legacy_ward", "legacy_district"),
    ]
    for child_name, parent_name in pairs:
        parents = get_list(parent_name)
        assert all(entry.parent in parents for entry in get_list(child_name).entries), child_name


def test_personal_id_prefixes_agree_with_domain_table_for_all_63_provinces() -> None:
    expected = parse_code_table(DOMAIN_ID_PREFIXES)
    assert len(expected) == 63
    legacy = get_list("legacy_province")
    actual = {entry.extra_str("id_prefix"): entry for entry in legacy.entries}
    assert set(actual) == set(expected)
    for prefix, domain_name in expected.items():
        assert legacy.match(domain_name) == actual[prefix], (prefix, domain_name)
        assert legacy_province_for_id_prefix(prefix) == actual[prefix]


def test_ethnic_groups_have_gso_codes_of_domain_table() -> None:
    expected = parse_code_table(DOMAIN_ETHNIC_GROUPS)
    ethnicity = get_list("ethnicity")
    official = {entry.code: entry.name for entry in ethnicity.entries if entry.flag("official")}
    assert official == expected
    foreign = ethnicity.get("55")
    assert foreign is not None
    assert not foreign.flag("official")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Khơ-me", "05"),
        ("khome", "05"),
        ("Khmer", "05"),
        ("KHƠ ME", "05"),
        ("H'Mông", "08"),
        ("Hmông", "08"),
        ("Mèo", "08"),
        ("H’Mông", "08"),
        ("Ê Đê", "11"),
        ("Êđê", "11"),
        ("Ede", "11"),
        ("Jrai", "10"),
        ("Giarai", "10"),
        ("Bahnar", "12"),
        ("M'Nông", "20"),
        ("Stiêng", "22"),
        ("Bru-Vân Kiều", "24"),
        ("Tà-ôi", "27"),
        ("Giẻ Triêng", "29"),
        ("Hán", "06"),
        ("Việt", "01"),
        (" kinh ", "01"),
        ("5", "05"),
        ("05", "05"),
        ("Cao Lan", "13"),
        ("Pà Hưng", "41"),
    ],
)
def test_ethnicity_matches_spelling_variants(text: str, code: str) -> None:
    entry = get_list("ethnicity").match(text)
    assert entry is not None
    assert entry.code == code


@pytest.mark.parametrize("text", ["", "   ", "Người Sao Hỏa", "99", "Kinh Mông"])
def test_ethnicity_does_not_guess(text: str) -> None:
    assert get_list("ethnicity").match(text) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("VN", "VN"),
        ("vn", "VN"),
        ("VNM", "VN"),
        ("Viet Nam", "VN"),
        ("Việt Nam", "VN"),
        ("Mỹ", "US"),
        ("MY", "MY"),
        ("Nga", "RU"),
        ("NGA", "NG"),  # alpha-3 of Nigeria, written as a code
        ("Áo", "AT"),
        ("AO", "AO"),
        ("Korea, Republic of", "KR"),
        ("Hàn Quốc", "KR"),
    ],
)
def test_nationality_matches_codes_and_names(text: str, code: str) -> None:
    entry = get_list("nationality").match(text)
    assert entry is not None
    assert entry.code == code


def test_nationality_keeps_english_name_when_vietnamese_is_not_verified() -> None:
    nationality = get_list("nationality")
    vietnam = nationality.get("VN")
    assert vietnam is not None
    assert vietnam.name == "Việt Nam"
    assert vietnam.extra_str("alpha_3") == "VNM"
    angola = nationality.get("AO")
    assert angola is not None
    assert angola.name == angola.extra_str("name_en") == "Angola"
    assert not angola.flag("name_vi_verified")


def test_name_shared_by_several_communes_needs_the_province() -> None:
    communes = get_list("commune")
    assert communes.match("Xã Tân Thành") is None
    in_thanh_hoa = communes.match("Xã Tân Thành", parent="38")
    assert in_thanh_hoa is not None
    assert in_thanh_hoa.parent == "38"
    ben_thanh = communes.match("phuong ben thanh")
    assert ben_thanh is not None
    assert ben_thanh.parent == "79"


@pytest.mark.parametrize(
    ("legacy_code", "new_code"),
    [
        ("79", "79"),  # Hồ Chí Minh
        ("74", "79"),  # Bình Dương merged into Hồ Chí Minh
        ("77", "79"),  # Bà Rịa–Vũng Tàu merged into Hồ Chí Minh
        ("02", "08"),  # Hà Giang into Tuyên Quang
        ("46", "46"),  # Huế
        ("80", "80"),  # Long An into Tây Ninh (code 80)
        ("82", "82"),  # Tiền Giang into Đồng Tháp (code 82)
        ("01", "01"),
    ],
)
def test_legacy_province_to_province(legacy_code: str, new_code: str) -> None:
    province = legacy_province_to_province(legacy_code)
    assert province is not None
    assert province.code == new_code


def test_every_legacy_province_maps_to_a_new_province() -> None:
    new_codes = set()
    for entry in get_list("legacy_province").entries:
        province = legacy_province_to_province(entry.code)
        assert province is not None, entry.code
        new_codes.add(province.code)
    assert len(new_codes) == 34


def test_legacy_ward_to_commune() -> None:
    # Phường Trúc Bạch (Ba Đình district) went whole into the new Phường Ba Đình.
    ba_dinh = legacy_ward_to_commune("00004")
    assert ba_dinh is not None
    assert (ba_dinh.code, ba_dinh.name) == ("00004", "Phường Ba Đình")
    # A ward split between several communes has no single successor.
    split = legacy_ward_to_communes("00016")
    assert len(split) > 1
    assert legacy_ward_to_commune("00016") is None
    assert legacy_ward_to_commune("99999") is None
    assert legacy_province_to_province("99") is None


def test_legacy_ward_successors_exist() -> None:
    communes = get_list("commune")
    mapped = 0
    for entry in get_list("legacy_ward").entries:
        targets = entry.extra_strs("communes") or (entry.extra_str("commune") or "",)
        if targets != ("",):
            mapped += 1
            assert all(code in communes for code in targets), entry.code
    assert mapped > 10000


@pytest.mark.parametrize(
    ("code", "active"),
    [
        ("01", True),
        ("02", True),
        ("06", True),
        ("07", True),
        ("03", False),
        ("04", False),
        ("09", False),
        ("11", False),
    ],
)
def test_enrolment_status_says_who_is_at_school(code: str, active: bool) -> None:
    entry = get_list("enrolment_status").get(code)
    assert entry is not None
    assert entry.flag("active") is active


def test_every_job_position_belongs_to_a_position_group() -> None:
    groups = get_list("position_group")
    for entry in get_list("job_position").entries:
        assert entry.extra_str("position_group") in groups


# Place names repeat (matching those needs a parent); country names meet alpha-3 codes.
LISTS_WITH_UNIQUE_NAMES = [
    name
    for name in ALL_LISTS
    if name not in {"commune", "legacy_district", "legacy_ward", "nationality"}
]


@pytest.mark.parametrize("name", LISTS_WITH_UNIQUE_NAMES)
def test_no_two_entries_share_a_name_or_alias_key(name: str) -> None:
    code_list = get_list(name)
    owners: dict[str, str] = {}
    for entry in code_list.entries:
        for text in {match_key(text) for text in (entry.name, *entry.aliases)}:
            assert owners.setdefault(text, entry.code) == entry.code, (text, entry.code)


def test_codes_are_short_stable_ascii() -> None:
    for name in ALL_LISTS:
        for entry in get_list(name).entries:
            assert entry.code.isascii(), (name, entry.code)
            assert entry.code.replace("_", "").isalnum(), (name, entry.code)


# --- CodeList behaviour -------------------------------------------------------------------------


def test_code_list_lookups() -> None:
    sex = get_list("sex")
    assert sex.choices() == [("M", "Nam"), ("F", "Nữ")]
    assert sex.name_of("F") == "Nữ"
    assert sex.name_of("X") == "X"  # an unknown code is shown as stored
    assert sex.get("X") is None
    assert "M" in sex
    assert sex.match("nu") == sex.get("F")
    assert sex.children("M") == ()


def test_code_list_entries_are_immutable() -> None:
    entry = get_list("legacy_province").get("79")
    assert isinstance(entry, CodeEntry)
    with pytest.raises(TypeError):
        entry.extra["id_prefix"] = "000"  # type: ignore[index]
    with pytest.raises(AttributeError):
        entry.name = "Sài Gòn"  # type: ignore[misc]
    assert isinstance(get_list("province").entries, tuple)
    assert isinstance(get_list("province").get("79").extra["legacy_provinces"], tuple)  # type: ignore[union-attr]


def test_get_list_is_cached() -> None:
    assert get_list("commune") is get_list("commune")


@given(st.text(max_size=40))
def test_match_never_crashes(text: str) -> None:
    for name in ("ethnicity", "nationality", "sex"):
        entry = get_list(name).match(text)
        assert entry is None or isinstance(entry, CodeEntry)


@given(st.sampled_from(get_list("ethnicity").entries), st.booleans())
def test_every_ethnic_group_matches_its_own_name_and_aliases(
    entry: CodeEntry, decomposed: bool
) -> None:
    form: Literal["NFC", "NFD"] = "NFD" if decomposed else "NFC"
    ethnicity = get_list("ethnicity")
    for text in (entry.code, entry.name, *entry.aliases):
        assert ethnicity.match(unicodedata.normalize(form, text)) == entry
        assert ethnicity.match(text.upper()) == entry


# --- versions and extra directories -------------------------------------------------------------


def test_versions_of_a_shipped_list() -> None:
    assert available_versions("sex") == ["2025.1"]
    assert get_list("sex", "2025.1").version == "2025.1"
    with pytest.raises(UnknownCodeListError):
        get_list("sex", "1999.1")
    with pytest.raises(UnknownCodeListError):
        get_list("no_such_list")
    with pytest.raises(LookupError):
        available_versions("no_such_list")


def test_extra_directory_adds_a_version_in_force_from_its_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_list(tmp_path, "sex", "2030.1", "2030-01-01")
    other = tmp_path / "other"
    write_list(other, "sex", "2031.1", "2031-09-05")
    monkeypatch.setenv(CODE_LIST_DIRS_ENV, os.pathsep.join([str(tmp_path), str(other)]))
    clear_cache()
    assert available_versions("sex") == ["2025.1", "2030.1", "2031.1"]
    assert current_version("sex", on=date(2029, 12, 31)) == "2025.1"
    assert current_version("sex", on=date(2030, 1, 1)) == "2030.1"
    assert get_list("sex", on=date(2031, 9, 5)).version == "2031.1"
    assert get_list("sex", "2025.1").version == "2025.1"
    assert current_version("sex", on=date(2026, 1, 1)) == "2025.1"
    with pytest.raises(UnknownCodeListError):
        current_version("sex", on=date(2000, 1, 1))


def test_extra_directory_adds_a_new_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_list(tmp_path, "local_sex_codes", "1", "2020-01-01")
    monkeypatch.setenv(CODE_LIST_DIRS_ENV, str(tmp_path))
    clear_cache()
    assert "local_sex_codes" in list_names()
    assert get_list("local_sex_codes").name_of("F") == "Nữ"


def test_a_version_cannot_be_changed_by_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_list(tmp_path, "sex", "2025.1", "2025-01-01")
    monkeypatch.setenv(CODE_LIST_DIRS_ENV, str(tmp_path))
    clear_cache()
    with pytest.raises(CodeListError, match="immutable"):
        get_list("sex")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "gender"}, "path says"),
        ({"valid_from": "01/01/2030"}, "YYYY-MM-DD"),
        ({"entries": {"M": "Nam"}}, "'entries' must be a list"),
        ({"entries": [{"code": "M", "name": "Nam"}, {"code": "M", "name": "Nữ"}]}, "duplicate"),
        ({"entries": [{"code": "M"}]}, "'name'"),
        ({"entries": [{"code": "M", "name": "Nam", "aliases": "Trai"}]}, "aliases"),
        ({"entries": [{"code": "M", "name": "Nam", "parent": 1}]}, "parent"),
        ({"source": ""}, "'source'"),
    ],
)
def test_malformed_files_are_refused_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: dict[str, object], message: str
) -> None:
    write_list(tmp_path, "sex", "2030.1", "2030-01-01", overrides)
    monkeypatch.setenv(CODE_LIST_DIRS_ENV, str(tmp_path))
    clear_cache()
    with pytest.raises(CodeListError, match=message):
        get_list("sex", "2030.1")


def test_unreadable_json_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "sex" / "2030.1.json"
    path.parent.mkdir()
    path.write_text("{not json", encoding="utf-8")
    monkeypatch.setenv(CODE_LIST_DIRS_ENV, str(tmp_path))
    clear_cache()
    with pytest.raises(CodeListError, match="cannot read"):
        list_names()


def test_missing_extra_directory_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CODE_LIST_DIRS_ENV, str(tmp_path / "missing"))
    clear_cache()
    assert list_names() == ALL_LISTS
