"""Write the shipped code-list files in edureg/core/codelists/data/.

Administrative units come from the PyPI package ``vietnam-provinces`` and nationalities from
``pycountry``. Both are build-time inputs only: we extract facts into our own JSON and never
import them at run time (vietnam-provinces is GPL). Install them in a throwaway venv:

    python3 -m venv /tmp/vp
    /tmp/vp/bin/pip install --ignore-requires-python vietnam-provinces pycountry
    /tmp/vp/bin/python scripts/build_code_lists.py

The curated lists (ethnicity, religion, statuses…) are defined below and need no package:
``python scripts/build_code_lists.py --lists ethnicity,religion``.

A version file, once written, is immutable: the script refuses to change an existing file's
content and asks for a new version instead (``--force`` only while a version is unreleased).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "edureg" / "core" / "codelists" / "data"
EDUREG_DEFAULT = "edureg default, configurable — official list not found"


@dataclass
class Entry:
    code: str
    name: str
    aliases: list[str] = field(default_factory=list)
    parent: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "aliases": self.aliases,
            "parent": self.parent,
            "extra": self.extra,
        }


@dataclass
class ListFile:
    name: str
    version: str
    valid_from: str
    source: str
    entries: list[Entry]
    compact: bool = False

    def render(self) -> str:
        document = {
            "name": self.name,
            "version": self.version,
            "valid_from": self.valid_from,
            "source": self.source,
            "entries": [entry.as_json() for entry in self.entries],
        }
        if self.compact:
            return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"
        return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def simple(code: str, name: str, *aliases: str, **extra: Any) -> Entry:
    return Entry(code=code, name=name, aliases=list(aliases), extra=dict(extra))


# --- Administrative units (vietnam-provinces) -----------------------------------------------

_UNIT_PREFIXES = (
    "Thành phố ",
    "Tỉnh ",
    "Quận ",
    "Huyện ",
    "Thị xã ",
    "Thị trấn ",
    "Phường ",
    "Xã ",
    "Đặc khu ",
)


def short_name(full_name: str) -> str | None:
    """ "Tỉnh Cà Mau" -> "Cà Mau"; None when the rest is only a number ("Phường 1")."""
    for prefix in _UNIT_PREFIXES:
        if full_name.startswith(prefix):
            rest = full_name[len(prefix) :]
            return None if rest.replace(" ", "").isdigit() else rest
    return None


def unit_aliases(full_name: str, *more: str) -> list[str]:
    aliases = [alias for alias in (short_name(full_name), *more) if alias]
    return list(dict.fromkeys(alias for alias in aliases if alias != full_name))


def administrative_lists() -> list[ListFile]:
    import vietnam_provinces
    from vietnam_provinces import Province, Ward, legacy
    from vietnam_provinces._province_conversion_2025 import NEW_TO_OLD as PROVINCE_NEW_TO_OLD
    from vietnam_provinces._ward_conversion_2025 import OLD_TO_NEW as WARD_OLD_TO_NEW

    package = f"vietnam-provinces {vietnam_provinces.__version__}"
    data_date = vietnam_provinces.__data_version__
    new_source = (
        f"PyPI {package} (data retrieved {data_date}); units since Resolution 202/2025/QH15, "
        "in force 2025-07-01"
    )
    legacy_source = (
        f"PyPI {package}, legacy (pre-2025-07-01) lists; old→new mapping from its 2025 "
        "conversion table; id_prefix = GSO province code, checked against Circular 07/2016/TT-BCA"
    )

    province_legacy_sources = {
        new_code: sorted(f"{ref.code:02d}" for ref in entry.old_provinces)
        for new_code, entry in PROVINCE_NEW_TO_OLD.items()
    }
    provinces = [
        Entry(
            code=f"{province.code.value:02d}",
            name=province.name,
            aliases=unit_aliases(province.name),
            extra={
                "division_type": str(province.division_type.value),
                "legacy_provinces": province_legacy_sources.get(province.code.value, []),
            },
        )
        for province in sorted(Province.iter_all(), key=lambda item: item.code.value)
    ]
    communes = [
        Entry(
            code=f"{ward.code.value:05d}",
            name=ward.name,
            aliases=unit_aliases(ward.name),
            parent=f"{ward.province_code.value:02d}",
            extra={"division_type": str(ward.division_type.value)},
        )
        for ward in sorted(Ward.iter_all(), key=lambda item: item.code.value)
    ]

    # Which new province each old province went to: most of its wards decide (the package
    # conversion table sends a stray ward of Tiền Giang to Tây Ninh).
    wards_per_target: dict[int, Counter[int]] = {}
    for mapping in WARD_OLD_TO_NEW.values():
        counter = wards_per_target.setdefault(mapping.old_ward.province_code, Counter())
        for new_ward in mapping.new_wards:
            counter[new_ward.province_code] += 1
    legacy_provinces = []
    for province in sorted(legacy.Province.iter_all(), key=lambda item: item.code.value):
        code = province.code.value
        target = wards_per_target[code].most_common(1)[0][0]
        more = ("Thừa Thiên Huế", "Tỉnh Thừa Thiên Huế") if code == 46 else ()
        legacy_provinces.append(
            Entry(
                code=f"{code:02d}",
                name=province.name,
                aliases=unit_aliases(province.name, *more),
                extra={
                    "division_type": str(province.division_type.value),
                    "id_prefix": f"{code:03d}",
                    "province": f"{target:02d}",
                },
            )
        )
    legacy_districts = [
        Entry(
            code=f"{district.code.value:03d}",
            name=district.name,
            aliases=unit_aliases(district.name),
            parent=f"{district.province_code.value:02d}",
            extra={"division_type": str(district.division_type.value)},
        )
        for district in sorted(legacy.District.iter_all(), key=lambda item: item.code.value)
    ]
    legacy_wards = []
    for ward in sorted(legacy.Ward.iter_all(), key=lambda item: item.code.value):
        extra: dict[str, Any] = {"division_type": str(ward.division_type.value)}
        mapping = WARD_OLD_TO_NEW.get(ward.code.value)
        if mapping is not None:
            targets = [f"{new_ward.code:05d}" for new_ward in mapping.new_wards]
            if len(targets) == 1:
                extra["commune"] = targets[0]
            else:
                extra["communes"] = targets
        legacy_wards.append(
            Entry(
                code=f"{ward.code.value:05d}",
                name=ward.name,
                aliases=unit_aliases(ward.name),
                parent=f"{ward.district_code.value:03d}",
                extra=extra,
            )
        )

    new_version = data_date
    return [
        ListFile("province", new_version, "2025-07-01", new_source, provinces),
        ListFile("commune", new_version, "2025-07-01", new_source, communes, compact=True),
        ListFile("legacy_province", "2025-06-30", "2025-01-01", legacy_source, legacy_provinces),
        ListFile(
            "legacy_district",
            "2025-06-30",
            "2025-01-01",
            legacy_source,
            legacy_districts,
            compact=True,
        ),
        ListFile(
            "legacy_ward", "2025-06-30", "2025-01-01", legacy_source, legacy_wards, compact=True
        ),
    ]


# --- Nationality (pycountry) ------------------------------------------------------------------

# Vietnamese names in common official use; other countries keep their English ISO name.
VIETNAMESE_COUNTRY_NAMES: dict[str, tuple[str, ...]] = {
    "VN": ("Việt Nam",),
    "LA": ("Lào",),
    "KH": ("Campuchia", "Cam-pu-chia"),
    "CN": ("Trung Quốc",),
    "TH": ("Thái Lan",),
    "MM": ("Myanmar", "Miến Điện"),
    "MY": ("Malaysia",),
    "SG": ("Singapore",),
    "ID": ("Indonesia",),
    "PH": ("Philippines",),
    "BN": ("Brunei",),
    "TL": ("Timor-Leste", "Đông Timor"),
    "JP": ("Nhật Bản",),
    "KR": ("Hàn Quốc",),
    "KP": ("Triều Tiên",),
    "TW": ("Đài Loan (Trung Quốc)", "Đài Loan"),
    "HK": ("Hồng Kông (Trung Quốc)", "Hồng Kông"),
    "MO": ("Ma Cao (Trung Quốc)", "Ma Cao"),
    "IN": ("Ấn Độ",),
    "MN": ("Mông Cổ",),
    "US": ("Hoa Kỳ", "Mỹ"),
    "CA": ("Canada",),
    "AU": ("Australia", "Úc"),
    "NZ": ("New Zealand",),
    "GB": ("Vương quốc Anh", "Anh"),
    "FR": ("Pháp",),
    "DE": ("Đức",),
    "IT": ("Italia", "Ý"),
    "ES": ("Tây Ban Nha",),
    "PT": ("Bồ Đào Nha",),
    "NL": ("Hà Lan",),
    "BE": ("Bỉ",),
    "CH": ("Thụy Sĩ",),
    "AT": ("Áo",),
    "SE": ("Thụy Điển",),
    "NO": ("Na Uy",),
    "DK": ("Đan Mạch",),
    "FI": ("Phần Lan",),
    "PL": ("Ba Lan",),
    "CZ": ("Séc", "Cộng hòa Séc"),
    "HU": ("Hungary",),
    "RU": ("Nga", "Liên bang Nga"),
    "UA": ("Ukraina",),
    "GR": ("Hy Lạp",),
    "TR": ("Thổ Nhĩ Kỳ",),
    "EG": ("Ai Cập",),
    "ZA": ("Nam Phi",),
    "CU": ("Cuba",),
    "BR": ("Brazil",),
    "SA": ("Ả Rập Xê Út",),
}


def nationality_list() -> ListFile:
    import pycountry

    entries = []
    for country in sorted(pycountry.countries, key=lambda item: item.alpha_2):
        english = [country.name]
        for attribute in ("official_name", "common_name"):
            value = getattr(country, attribute, None)
            if value and value not in english:
                english.append(value)
        vietnamese = VIETNAMESE_COUNTRY_NAMES.get(country.alpha_2, ())
        name = vietnamese[0] if vietnamese else country.name
        aliases = [*vietnamese[1:], country.alpha_3, *english]
        entries.append(
            Entry(
                code=country.alpha_2,
                name=name,
                aliases=[alias for alias in dict.fromkeys(aliases) if alias != name],
                extra={
                    "alpha_3": country.alpha_3,
                    "numeric": country.numeric,
                    "name_en": country.name,
                    "name_vi_verified": bool(vietnamese),
                },
            )
        )
    version = package_version("pycountry")
    return ListFile(
        "nationality",
        f"iso3166-{version}",
        "2025-01-01",
        f"ISO 3166-1 via PyPI pycountry {version}; Vietnamese names: edureg "
        "(name_vi_verified=false keeps the English ISO name); MOET QUOC_TICH sheet not found",
        entries,
    )


# --- Curated lists ------------------------------------------------------------------------------

ETHNIC_GROUPS: list[tuple[str, str, tuple[str, ...]]] = [
    ("01", "Kinh", ("Việt",)),
    ("02", "Tày", ()),
    ("03", "Thái", ()),
    ("04", "Mường", ()),
    ("05", "Khmer", ("Khơ-me", "Khơ me", "Khơme", "Khmer Krom")),
    ("06", "Hoa", ("Hán",)),
    ("07", "Nùng", ()),
    ("08", "Mông", ("H'Mông", "Hmông", "Hmong", "Mèo")),
    ("09", "Dao", ("Mán",)),
    ("10", "Gia Rai", ("Jrai", "Giarai", "Gia-rai")),
    ("11", "Ê Đê", ("Êđê", "Ê-đê", "Ede", "Rhade")),
    ("12", "Ba Na", ("Bahnar", "Ba-na")),
    ("13", "Sán Chay", ("Cao Lan", "Sán Chỉ")),
    ("14", "Chăm", ("Chàm", "Champa")),
    ("15", "Cơ Ho", ("Koho", "K'Ho", "Cơ-ho")),
    ("16", "Xơ Đăng", ("Sedang", "Xê Đăng")),
    ("17", "Sán Dìu", ("Sán Déo",)),
    ("18", "Hrê", ("H're", "Hre")),
    ("19", "Ra Glai", ("Raglai", "Ra-glai")),
    ("20", "Mnông", ("M'Nông", "Mơ Nông")),
    ("21", "Thổ", ()),
    ("22", "Xtiêng", ("Stiêng", "X'Tiêng")),
    ("23", "Khơ mú", ("Khmú", "Khơ Mú", "Kmhmu", "Xá Cẩu")),
    ("24", "Bru Vân Kiều", ("Bru-Vân Kiều", "Vân Kiều", "Bru")),
    ("25", "Cơ Tu", ("Katu", "Ca Tu")),
    ("26", "Giáy", ("Nhắng",)),
    ("27", "Tà Ôi", ("Tà-ôi", "Taoih", "Pa Cô")),
    ("28", "Mạ", ()),
    ("29", "Giẻ-Triêng", ("Giẻ Triêng", "Gié Triêng")),
    ("30", "Co", ("Cor", "Cua")),
    ("31", "Chơ Ro", ("Chơro", "Châu Ro")),
    ("32", "Xinh Mun", ("Puộc",)),
    ("33", "Hà Nhì", ()),
    ("34", "Chu Ru", ("Churu", "Chu-ru")),
    ("35", "Lào", ()),
    ("36", "La Chí", ()),
    ("37", "Kháng", ()),
    ("38", "Phù Lá", ()),
    ("39", "La Hủ", ()),
    ("40", "La Ha", ()),
    ("41", "Pà Thẻn", ("Pà Hưng",)),
    ("42", "Lự", ()),
    ("43", "Ngái", ()),
    ("44", "Chứt", ()),
    ("45", "Lô Lô", ()),
    ("46", "Mảng", ()),
    ("47", "Cơ Lao", ()),
    ("48", "Bố Y", ()),
    ("49", "Cống", ()),
    ("50", "Si La", ()),
    ("51", "Pu Péo", ()),
    ("52", "Rơ Măm", ()),
    ("53", "Brâu", ()),
    ("54", "Ơ Đu", ()),
]


def ethnicity_list() -> ListFile:
    entries = [simple(code, name, *aliases, official=True) for code, name, aliases in ETHNIC_GROUPS]
    entries.append(
        simple(
            "55",
            "Người nước ngoài",
            "Nước ngoài",
            official=False,
            note="Used by some MOET lists for foreign learners; not an ethnic group of Vietnam",
        )
    )
    return ListFile(
        "ethnicity",
        "1979-03-02",
        "1979-03-02",
        "GSO list of Vietnam's ethnic groups (Decision 121-TCTK/PPCĐ, 02/03/1979); codes 01–20 "
        "confirmed, 21–54 from public code [S]; aliases (spelling variants) by edureg; "
        "55 is not an official group",
        entries,
    )


def religion_list() -> ListFile:
    return ListFile(
        "religion",
        "2025.1",
        "2025-01-01",
        f"{EDUREG_DEFAULT}: the 16 religions recognised by the State as reported by secondary "
        "sources [S] (GSO 2008 list of 14 codes is out of date); codes are edureg's",
        [
            simple("00", "Không", "Không tôn giáo", "Không có", "Không theo tôn giáo nào"),
            simple("01", "Phật giáo", "Đạo Phật", "Buddhism"),
            simple("02", "Công giáo", "Thiên Chúa giáo", "Đạo Thiên Chúa", "Catholic"),
            simple("03", "Tin lành", "Đạo Tin lành", "Protestant"),
            simple("04", "Cao Đài", "Đạo Cao Đài"),
            simple("05", "Phật giáo Hòa Hảo", "Hòa Hảo"),
            simple("06", "Hồi giáo", "Đạo Hồi", "Islam"),
            simple("07", "Tôn giáo Baha'i", "Baha'i", "Bahá'í"),
            simple("08", "Tịnh độ Cư sĩ Phật hội Việt Nam", "Tịnh độ Cư sĩ"),
            simple("09", "Cơ đốc Phục lâm", "Cơ đốc Phục lâm Việt Nam", "Phục lâm"),
            simple("10", "Phật giáo Tứ Ân Hiếu Nghĩa", "Tứ Ân Hiếu Nghĩa"),
            simple("11", "Minh Sư đạo", "Giáo hội Phật đường Nam Tông Minh Sư đạo"),
            simple("12", "Minh Lý đạo", "Minh Lý đạo - Tam Tông Miếu"),
            simple("13", "Bửu Sơn Kỳ Hương"),
            simple("14", "Bà-la-môn", "Bà-la-môn giáo", "Bà La Môn"),
            simple("15", "Mặc Môn", "Giáo hội Các Thánh hữu Ngày sau của Chúa Giê-su Ky-tô"),
            simple("16", "Phật giáo Hiếu Nghĩa Tà Lơn", "Hiếu Nghĩa Tà Lơn"),
            simple("99", "Tôn giáo khác", "Khác"),
        ],
    )


def curated_small_lists() -> list[ListFile]:
    version, valid_from = "2025.1", "2025-01-01"

    def default(name: str, entries: list[Entry], source: str = EDUREG_DEFAULT) -> ListFile:
        return ListFile(name, version, valid_from, source, entries)

    return [
        default(
            "sex",
            [simple("M", "Nam", "Male", "Trai"), simple("F", "Nữ", "Female", "Gái")],
            "edureg default (M/F as in ISO/IEC 5218 letters; Nam/Nữ as in MOET templates)",
        ),
        default(
            "disability",
            [
                simple("00", "Không", "Không khuyết tật"),
                simple("01", "Khuyết tật vận động", "Vận động"),
                simple("02", "Khuyết tật nghe, nói", "Nghe, nói", "Khiếm thính"),
                simple("03", "Khuyết tật nhìn", "Nhìn", "Khiếm thị"),
                simple("04", "Khuyết tật thần kinh, tâm thần", "Thần kinh, tâm thần"),
                simple("05", "Khuyết tật trí tuệ", "Trí tuệ"),
                simple("06", "Khuyết tật khác", "Khác"),
            ],
            f"Types per Law on Persons with Disabilities 51/2010/QH12 Art. 3 [S]; codes: "
            f"{EDUREG_DEFAULT}",
        ),
        default(
            "policy_group",
            [
                simple("00", "Không"),
                simple("01", "Con liệt sĩ"),
                simple("02", "Con thương binh"),
                simple("03", "Con bệnh binh"),
                simple("04", "Con của người được hưởng chính sách như thương binh"),
                simple("05", "Con của người hoạt động kháng chiến bị nhiễm chất độc hóa học"),
                simple("06", "Con của Anh hùng Lực lượng vũ trang nhân dân, Anh hùng Lao động"),
                simple("07", "Thuộc hộ nghèo", "Hộ nghèo"),
                simple("08", "Thuộc hộ cận nghèo", "Hộ cận nghèo"),
                simple(
                    "09",
                    "Người dân tộc thiểu số ở vùng có điều kiện kinh tế - xã hội đặc biệt khó khăn",
                    "Dân tộc thiểu số vùng đặc biệt khó khăn",
                ),
                simple("10", "Mồ côi cả cha lẫn mẹ", "Mồ côi cả cha và mẹ"),
                simple("11", "Mồ côi cha hoặc mẹ"),
                simple("12", "Người khuyết tật", "Khuyết tật"),
                simple("99", "Đối tượng chính sách khác", "Khác"),
            ],
        ),
        default(
            "enrolment_status",
            [
                simple("01", "Đang học", active=True),
                # ``transfer`` marks the statuses a move between schools writes (edureg's own
                # metadata, not in the MOET export).
                simple("02", "Chuyển đến", active=True, transfer="in"),
                simple("03", "Chuyển đi", active=False, transfer="out"),
                simple("04", "Thôi học", "Bỏ học", active=False),
                simple("05", "Nghỉ học", active=False),
                simple("06", "Xin học lại", "Học lại", "Nghỉ học xin học lại", active=True),
                simple("07", "Lưu ban", "Ở lại lớp", active=True),
                simple("08", "Bảo lưu kết quả", "Bảo lưu", active=False),
                simple("09", "Tốt nghiệp", active=False),
                simple(
                    "10",
                    "Hoàn thành chương trình",
                    "Hoàn thành chương trình tiểu học",
                    active=False,
                ),
                simple("11", "Đã mất", "Qua đời", active=False),
                simple("99", "Khác", active=False),
            ],
            f"{EDUREG_DEFAULT} (values modelled on the MOET student export's 12 statuses)",
        ),
        default(
            "guardian_relation",
            [
                simple("01", "Cha", "Bố", "Cha đẻ", parent_of_child=True),
                simple("02", "Mẹ", "Má", "Mẹ đẻ", parent_of_child=True),
                simple("03", "Ông", "Ông nội", "Ông ngoại", parent_of_child=False),
                simple("04", "Bà", "Bà nội", "Bà ngoại", parent_of_child=False),
                simple(
                    "05", "Anh, chị", "Anh", "Chị", "Anh ruột", "Chị ruột", parent_of_child=False
                ),
                simple("06", "Người giám hộ khác", "Người giám hộ", "Khác", parent_of_child=False),
            ],
        ),
        default(
            "school_level",
            [
                simple("mam_non", "Mầm non", "MN", grades=[]),
                simple("tieu_hoc", "Tiểu học", "TH", "Cấp 1", grades=[1, 2, 3, 4, 5]),
                simple("thcs", "Trung học cơ sở", "THCS", "Cấp 2", grades=[6, 7, 8, 9]),
                simple("thpt", "Trung học phổ thông", "THPT", "Cấp 3", grades=[10, 11, 12]),
                simple("lien_cap", "Liên cấp", "Trường liên cấp", grades=list(range(1, 13))),
            ],
        ),
        default(
            "preschool_age_group",
            [
                # In order, youngest first. ``next``: the group a class moves up to at the turn
                # of the year (none: its children complete preschool and go on to grade 1);
                # ``word``: the word a class of the group is named by ("Mầm 1" → "Chồi 1");
                # ``age``: the age the children turn in the calendar year the school year starts.
                simple("nt_3_12", "Nhà trẻ 3–12 tháng", "Nhóm trẻ 3–12 tháng",
                       age=0, word="", next="nt_13_24"),
                simple("nt_13_24", "Nhà trẻ 13–24 tháng", "Nhóm trẻ 13–24 tháng",
                       age=1, word="", next="nt_25_36"),
                simple("nt_25_36", "Nhà trẻ 25–36 tháng", "Nhóm trẻ 25–36 tháng",
                       age=2, word="", next="mg_3_4"),
                simple("mg_3_4", "Mẫu giáo 3–4 tuổi", "Mẫu giáo bé", "Mầm",
                       age=3, word="Mầm", next="mg_4_5"),
                simple("mg_4_5", "Mẫu giáo 4–5 tuổi", "Mẫu giáo nhỡ", "Chồi",
                       age=4, word="Chồi", next="mg_5_6"),
                simple("mg_5_6", "Mẫu giáo 5–6 tuổi", "Mẫu giáo lớn", "Lá",
                       age=5, word="Lá", next=None),
            ],
            f"{EDUREG_DEFAULT}: age groups of the preschool programme (nhà trẻ by months, "
            "mẫu giáo by years) [S]; codes and class-name words are edureg's",
        ),
        default(
            "position_group",
            [
                simple("can_bo_quan_ly", "Cán bộ quản lý", "CBQL"),
                simple("giao_vien", "Giáo viên", "GV"),
                simple("nhan_vien", "Nhân viên", "NV"),
            ],
        ),
        default(
            "job_position",
            [
                simple("hieu_truong", "Hiệu trưởng", position_group="can_bo_quan_ly"),
                simple("pho_hieu_truong", "Phó hiệu trưởng", position_group="can_bo_quan_ly"),
                simple("giao_vien", "Giáo viên", position_group="giao_vien"),
                simple(
                    "tong_phu_trach_doi",
                    "Giáo viên làm Tổng phụ trách Đội",
                    "Tổng phụ trách Đội",
                    position_group="giao_vien",
                ),
                simple("van_thu", "Nhân viên văn thư", "Văn thư", position_group="nhan_vien"),
                simple("ke_toan", "Kế toán", position_group="nhan_vien"),
                simple("thu_quy", "Thủ quỹ", position_group="nhan_vien"),
                simple("y_te", "Nhân viên y tế", "Y tế học đường", position_group="nhan_vien"),
                simple("thu_vien", "Nhân viên thư viện", "Thư viện", position_group="nhan_vien"),
                simple(
                    "thiet_bi",
                    "Nhân viên thiết bị, thí nghiệm",
                    "Thiết bị",
                    position_group="nhan_vien",
                ),
                simple(
                    "cong_nghe_thong_tin",
                    "Nhân viên công nghệ thông tin",
                    "CNTT",
                    position_group="nhan_vien",
                ),
                simple("giao_vu", "Nhân viên giáo vụ", "Giáo vụ", position_group="nhan_vien"),
                simple(
                    "ho_tro_khuyet_tat",
                    "Nhân viên hỗ trợ giáo dục người khuyết tật",
                    position_group="nhan_vien",
                ),
                simple("bao_ve", "Nhân viên bảo vệ", "Bảo vệ", position_group="nhan_vien"),
                simple("phuc_vu", "Nhân viên phục vụ", "Phục vụ", position_group="nhan_vien"),
                simple("nau_an", "Nhân viên nấu ăn", "Cấp dưỡng", position_group="nhan_vien"),
                simple("khac", "Vị trí khác", "Khác", position_group="nhan_vien"),
            ],
        ),
        default(
            "employment_status",
            [
                simple("01", "Đang làm việc", "Đang công tác", active=True),
                simple("02", "Tạm nghỉ", "Nghỉ thai sản", "Nghỉ ốm dài ngày", active=True),
                simple("03", "Đi học dài hạn", "Đi học", active=True),
                simple("04", "Chuyển công tác", "Chuyển đi", active=False),
                simple("05", "Nghỉ hưu", active=False),
                simple("06", "Nghỉ việc", "Thôi việc", active=False),
                simple("07", "Đã mất", "Qua đời", active=False),
                simple("99", "Khác", active=False),
            ],
        ),
        default(
            "qualification",
            [
                simple("trung_cap", "Trung cấp", rank=1),
                simple("cao_dang", "Cao đẳng", rank=2),
                simple("dai_hoc", "Đại học", "Cử nhân", "Kỹ sư", rank=3),
                simple("thac_si", "Thạc sĩ", "Thạc sỹ", rank=4),
                simple("tien_si", "Tiến sĩ", "Tiến sỹ", rank=5),
                simple("khac", "Khác"),
            ],
        ),
        default(
            "subject",
            [
                simple("toan", "Toán", "Toán học", levels=["tieu_hoc", "thcs", "thpt"]),
                simple("tieng_viet", "Tiếng Việt", levels=["tieu_hoc"]),
                simple("ngu_van", "Ngữ văn", "Văn", levels=["thcs", "thpt"]),
                simple(
                    "tieng_anh",
                    "Tiếng Anh",
                    "Anh văn",
                    "Ngoại ngữ 1",
                    levels=["tieu_hoc", "thcs", "thpt"],
                ),
                simple("ngoai_ngu_khac", "Ngoại ngữ khác", levels=["tieu_hoc", "thcs", "thpt"]),
                simple(
                    "tieng_dan_toc", "Tiếng dân tộc thiểu số", levels=["tieu_hoc", "thcs", "thpt"]
                ),
                simple("dao_duc", "Đạo đức", levels=["tieu_hoc"]),
                simple("tu_nhien_xa_hoi", "Tự nhiên và Xã hội", "TN&XH", levels=["tieu_hoc"]),
                simple("khoa_hoc", "Khoa học", levels=["tieu_hoc"]),
                simple(
                    "lich_su_dia_li",
                    "Lịch sử và Địa lí",
                    "Lịch sử và Địa lý",
                    levels=["tieu_hoc", "thcs"],
                ),
                simple("khoa_hoc_tu_nhien", "Khoa học tự nhiên", "KHTN", levels=["thcs"]),
                simple("giao_duc_cong_dan", "Giáo dục công dân", "GDCD", levels=["thcs"]),
                simple(
                    "giao_duc_kinh_te_phap_luat",
                    "Giáo dục kinh tế và pháp luật",
                    "GDKT&PL",
                    levels=["thpt"],
                ),
                simple("vat_li", "Vật lí", "Vật lý", levels=["thpt"]),
                simple("hoa_hoc", "Hóa học", "Hoá học", levels=["thpt"]),
                simple("sinh_hoc", "Sinh học", levels=["thpt"]),
                simple("lich_su", "Lịch sử", levels=["thpt"]),
                simple("dia_li", "Địa lí", "Địa lý", levels=["thpt"]),
                simple("cong_nghe", "Công nghệ", levels=["tieu_hoc", "thcs", "thpt"]),
                simple("tin_hoc", "Tin học", levels=["tieu_hoc", "thcs", "thpt"]),
                simple(
                    "giao_duc_the_chat",
                    "Giáo dục thể chất",
                    "Thể dục",
                    "GDTC",
                    levels=["tieu_hoc", "thcs", "thpt"],
                ),
                simple("am_nhac", "Âm nhạc", levels=["tieu_hoc", "thcs", "thpt"]),
                simple("mi_thuat", "Mĩ thuật", "Mỹ thuật", levels=["tieu_hoc", "thcs", "thpt"]),
                simple(
                    "hoat_dong_trai_nghiem",
                    "Hoạt động trải nghiệm",
                    "Hoạt động trải nghiệm, hướng nghiệp",
                    "HĐTN",
                    levels=["tieu_hoc", "thcs", "thpt"],
                ),
                simple(
                    "quoc_phong_an_ninh",
                    "Giáo dục quốc phòng và an ninh",
                    "GDQP-AN",
                    levels=["thpt"],
                ),
                simple(
                    "giao_duc_dia_phuong",
                    "Nội dung giáo dục của địa phương",
                    "Giáo dục địa phương",
                    levels=["thcs", "thpt"],
                ),
            ],
            f"{EDUREG_DEFAULT}; subjects of the 2018 general education programme "
            "(Circular 32/2018/TT-BGDĐT) [S]",
        ),
    ]


BUILDERS: dict[str, Callable[[], Iterable[ListFile]]] = {
    "administrative": administrative_lists,
    "nationality": lambda: [nationality_list()],
    "ethnicity": lambda: [ethnicity_list()],
    "religion": lambda: [religion_list()],
    "small": curated_small_lists,
}


def write(list_file: ListFile, *, force: bool) -> str:
    path = DATA_DIR / list_file.name / f"{list_file.version}.json"
    content = list_file.render()
    if path.exists():
        if path.read_text(encoding="utf-8") == content:
            return f"unchanged {path.relative_to(DATA_DIR)}"
        if not force:
            raise SystemExit(
                f"{path} exists with different content; versions are immutable: "
                "give the list a new version (or --force for an unreleased one)"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return f"wrote {path.relative_to(DATA_DIR)} ({len(list_file.entries)} entries)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--lists",
        default=",".join(BUILDERS),
        help=f"comma-separated groups among: {', '.join(BUILDERS)}",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing version")
    arguments = parser.parse_args(argv)
    groups = [group.strip() for group in arguments.lists.split(",") if group.strip()]
    unknown = [group for group in groups if group not in BUILDERS]
    if unknown:
        parser.error(f"unknown groups: {', '.join(unknown)}")
    for group in groups:
        for list_file in BUILDERS[group]():
            sys.stdout.write(write(list_file, force=arguments.force) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
