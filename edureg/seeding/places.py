"""Administrative units for demo data, drawn from the shipped code lists.

Births and hometowns cite the pre-2025 units (63 provinces, districts, wards) with the
post-2025 province/commune they became; residences and schools use the current communes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Final

from edureg.core.codelists import CodeList
from edureg.seeding.names import WeightedChoice

__all__ = ["LegacyPlace", "PlacePicker"]

# Where HCMC pupils' births were registered: mostly the three provinces merged into HCMC in 2025,
# then the neighbouring Mekong and south-east provinces and the usual migrant origins.
_CHILD_BIRTH_PROVINCES: Final = (
    ("79", 70.0), ("74", 10.0), ("77", 7.0), ("80", 2.0), ("75", 2.0), ("87", 0.8),
    ("89", 0.8), ("82", 0.8), ("83", 0.6), ("84", 0.4), ("86", 0.5), ("94", 0.4), ("96", 0.4),
    ("91", 0.4), ("92", 0.5), ("52", 0.4), ("51", 0.4), ("40", 0.5), ("38", 0.4), ("42", 0.3),
    ("01", 0.5),
)
# Parents and staff more often came from elsewhere.
_ADULT_BIRTH_PROVINCES: Final = (
    ("79", 45.0), ("74", 6.0), ("77", 4.0), ("80", 3.0), ("75", 3.0), ("87", 2.0), ("89", 2.0),
    ("82", 2.0), ("83", 2.0), ("84", 1.5), ("86", 1.5), ("94", 1.5), ("96", 1.5), ("91", 1.5),
    ("92", 1.5), ("52", 2.0), ("51", 2.0), ("49", 1.5), ("40", 2.5), ("38", 2.0), ("42", 1.5),
    ("36", 1.5), ("34", 1.5), ("01", 2.0), ("31", 1.0), ("45", 1.0), ("46", 1.0), ("54", 1.0),
    ("56", 1.0), ("66", 1.0),
)
_STREETS: Final = (
    "Nguyễn Trãi", "Lê Lợi", "Trần Hưng Đạo", "Hai Bà Trưng", "Nguyễn Thị Minh Khai",
    "Điện Biên Phủ", "Cách Mạng Tháng Tám", "Lý Thường Kiệt", "Nguyễn Văn Cừ", "Phan Đăng Lưu",
    "Lê Văn Sỹ", "Huỳnh Tấn Phát", "Quang Trung", "Nguyễn Oanh", "Phạm Văn Đồng", "Lê Văn Việt",
    "Tô Ký", "Nguyễn Ảnh Thủ", "Kinh Dương Vương", "Hậu Giang", "Âu Cơ", "Lũy Bán Bích",
    "Tân Kỳ Tân Quý", "Phan Văn Trị", "Nguyễn Duy Trinh", "Đỗ Xuân Hợp", "Bình Dương",
    "Yersin", "30 Tháng 4", "Võ Văn Kiệt", "Nguyễn Hữu Thọ", "Tỉnh lộ 10", "Quốc lộ 22",
    "Lê Trọng Tấn", "Bà Hom", "Xô Viết Nghệ Tĩnh", "Trường Chinh", "Hoàng Văn Thụ",
)
_HOSPITALS: Final = (
    "Bệnh viện Từ Dũ", "Bệnh viện Hùng Vương", "Bệnh viện Nhi Đồng 1",
    "Bệnh viện Phụ sản Mê Kông", "Trung tâm Y tế",
)


@dataclass(frozen=True, slots=True)
class LegacyPlace:
    legacy_province: str
    legacy_district: str
    legacy_ward: str
    province: str
    commune: str
    text: str


@dataclass(frozen=True, slots=True)
class _Ward:
    code: str
    name: str
    district_code: str
    district_name: str
    commune: str


class PlacePicker:
    def __init__(
        self,
        *,
        province_code: str,
        communes: CodeList,
        legacy_provinces: CodeList,
        legacy_districts: CodeList,
        legacy_wards: CodeList,
    ) -> None:
        self.province_code = province_code
        self.communes = tuple(
            (entry.code, entry.name) for entry in communes.entries if entry.parent == province_code
        )
        if not self.communes:
            raise ValueError(f"no communes for province {province_code}")
        self._legacy_provinces = legacy_provinces
        districts = {entry.code: entry.name for entry in legacy_districts.entries}
        district_province = {entry.code: entry.parent for entry in legacy_districts.entries}
        wards: dict[str, list[_Ward]] = {}
        for entry in legacy_wards.entries:
            province = district_province.get(entry.parent or "")
            if province is None or entry.parent is None:
                continue
            split = entry.extra_strs("communes")
            commune = entry.extra_str("commune") or (split[0] if split else "")
            wards.setdefault(province, []).append(
                _Ward(entry.code, entry.name, entry.parent, districts[entry.parent], commune)
            )
        self._wards = {code: tuple(items) for code, items in wards.items()}
        self._new_province = {
            entry.code: entry.extra_str("province") or "" for entry in legacy_provinces.entries
        }
        # Built once: pupils and parents draw millions of places from these.
        self._places = {
            code: tuple(
                LegacyPlace(
                    legacy_province=code, legacy_district=ward.district_code,
                    legacy_ward=ward.code,
                    province=self._new_province.get(code, ""),
                    commune=ward.commune,
                    text=f"{ward.name}, {ward.district_name}, {legacy_provinces.name_of(code)}",
                )
                for ward in items
            )
            for code, items in self._wards.items()
        }
        known = [
            (code, weight) for code, weight in _CHILD_BIRTH_PROVINCES if code in self._wards
        ]
        self._child_birth = WeightedChoice(known)
        self._adult_birth = WeightedChoice(
            [(code, weight) for code, weight in _ADULT_BIRTH_PROVINCES if code in self._wards]
        )
        self.id_prefix = {
            entry.code: entry.extra_str("id_prefix") or "" for entry in legacy_provinces.entries
        }

    def birth_province(self, rng: random.Random, *, adult: bool) -> str:
        """Legacy province code where a birth was registered."""
        return (self._adult_birth if adult else self._child_birth).pick(rng)

    def legacy_place(self, rng: random.Random, legacy_province: str,
                     *, hospital: bool = False) -> LegacyPlace:
        places = self._places[legacy_province]
        index = int(rng.random() * len(places))
        place = places[index]
        if not hospital:
            return place
        ward = self._wards[legacy_province][index]
        province_name = self._legacy_provinces.name_of(legacy_province)
        return replace(
            place, text=f"{rng.choice(_HOSPITALS)}, {ward.district_name}, {province_name}"
        )

    def commune(self, rng: random.Random) -> str:
        return rng.choice(self.communes)[0]

    def commune_name(self, code: str) -> str:
        for commune_code, name in self.communes:
            if commune_code == code:
                return name
        return code

    @staticmethod
    def street_address(rng: random.Random) -> str:
        number = rng.randint(1, 480)
        street = rng.choice(_STREETS)
        roll = rng.random()
        if roll < 0.45:
            return f"{number}/{rng.randint(1, 60)} đường {street}, Khu phố {rng.randint(1, 12)}"
        if roll < 0.85:
            return f"Số {number} đường {street}, Tổ {rng.randint(1, 40)}"
        return f"Tổ {rng.randint(1, 40)}, Ấp {rng.randint(1, 9)}"
