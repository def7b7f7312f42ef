"""Vietnamese personal names for demo data: family names with their real frequencies,
sex-appropriate middle and given names, and the variants people actually mistype.

Frequencies: Nguyễn ≈ 38%, Trần ≈ 11%, Lê ≈ 9.5%, Phạm ≈ 7%, Hoàng/Huỳnh ≈ 5% (Huỳnh is the
southern form, so it outweighs Hoàng in HCMC), Phan ≈ 4.5%, Vũ/Võ ≈ 4% … (widely cited survey
figures; good enough for demo data, not for statistics).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from edureg.core.text import fold_diacritics

__all__ = [
    "HOA_FAMILY_NAMES",
    "KHMER_FAMILY_NAMES",
    "NamePicker",
    "WeightedChoice",
    "misspell",
    "typo",
]


class WeightedChoice:
    """``random.choices`` for one item, with the cumulative weights computed once."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, pairs: Sequence[tuple[str, float]]) -> None:
        self._items = tuple(item for item, _ in pairs)
        self._cumulative = tuple(itertools.accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> str:
        return self._items[bisect.bisect_right(self._cumulative, rng.random() * self._total)]


FAMILY_NAMES: Final = WeightedChoice([
    ("Nguyễn", 38.0), ("Trần", 11.0), ("Lê", 9.5), ("Phạm", 7.0), ("Huỳnh", 2.9),
    ("Hoàng", 2.1), ("Phan", 4.5), ("Võ", 2.4), ("Vũ", 1.6), ("Đặng", 2.1), ("Bùi", 2.0),
    ("Đỗ", 1.4), ("Hồ", 1.3), ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5), ("Đinh", 0.6),
    ("Trương", 0.6), ("Lâm", 0.5), ("Mai", 0.4), ("Đoàn", 0.5), ("Cao", 0.4), ("Lưu", 0.3),
    ("Tạ", 0.2), ("Châu", 0.3), ("Quách", 0.2), ("Thái", 0.2), ("Tô", 0.2), ("Hà", 0.3),
    ("Lương", 0.3), ("Từ", 0.1), ("Kiều", 0.1), ("La", 0.1), ("Triệu", 0.2), ("Đào", 0.4),
    ("Trịnh", 0.4), ("Phùng", 0.2), ("Tăng", 0.1), ("Tôn", 0.1), ("Văn", 0.1),
])
HOA_FAMILY_NAMES: Final = WeightedChoice([
    ("Lâm", 3), ("Trương", 3), ("Quách", 2), ("Lý", 3), ("Hứa", 2), ("Tăng", 2), ("Lưu", 2),
    ("Mạch", 1), ("Diệp", 1), ("Thái", 1), ("Trần", 2), ("Hoàng", 1), ("Châu", 1), ("Vương", 1),
])
KHMER_FAMILY_NAMES: Final = WeightedChoice([
    ("Thạch", 4), ("Danh", 3), ("Sơn", 3), ("Kim", 2), ("Lâm", 1), ("Châu", 1), ("Lý", 1),
])

# Older generations (parents, grandparents, staff) carry Văn/Thị far more often than children.
_MALE_MIDDLE_OLD: Final = WeightedChoice([
    ("Văn", 40), ("Minh", 8), ("Quang", 6), ("Đức", 6), ("Hữu", 6), ("Thanh", 6), ("Công", 5),
    ("Hoàng", 4), ("Ngọc", 3), ("Quốc", 4), ("Tấn", 4), ("Anh", 3), ("Trung", 3), ("Xuân", 2),
])
_MALE_MIDDLE_YOUNG: Final = WeightedChoice([
    ("Văn", 8), ("Minh", 12), ("Gia", 12), ("Hoàng", 8), ("Đức", 8), ("Quang", 6), ("Anh", 6),
    ("Bảo", 7), ("Nhật", 5), ("Đăng", 5), ("Thiên", 4), ("Khánh", 4), ("Tuấn", 4), ("Duy", 4),
    ("Quốc", 4), ("Trung", 3), ("Phúc", 3), ("Hữu", 3), ("Thành", 3), ("Tấn", 3),
])
_FEMALE_MIDDLE_OLD: Final = WeightedChoice([
    ("Thị", 55), ("Ngọc", 9), ("Thu", 6), ("Thanh", 6), ("Kim", 5), ("Mỹ", 4), ("Hồng", 4),
    ("Phương", 3), ("Bích", 3), ("Minh", 2), ("Hoài", 2), ("Diễm", 1),
])
_FEMALE_MIDDLE_YOUNG: Final = WeightedChoice([
    ("Thị", 9), ("Ngọc", 12), ("Bảo", 10), ("Gia", 8), ("Khánh", 7), ("Minh", 7), ("Thanh", 5),
    ("Thu", 4), ("Phương", 5), ("Hoài", 3), ("Kim", 3), ("Mỹ", 4), ("Quỳnh", 4), ("Tường", 3),
    ("Hà", 3), ("Diệu", 3), ("Thảo", 3), ("An", 3), ("Yến", 2), ("Tuệ", 2),
])
# A share of modern children's names carry two middle names ("Nguyễn Ngọc Bảo Trâm").
_FEMALE_SECOND_MIDDLE: Final = ("Bảo", "Ngọc", "Khánh", "Gia", "Minh", "Phương", "Thảo", "Như")
_MALE_SECOND_MIDDLE: Final = ("Gia", "Minh", "Hoàng", "Bảo", "Đăng", "Nhật", "Thiên", "Anh")

_MALE_GIVEN: Final = (
    "An", "Bảo", "Bình", "Cường", "Dũng", "Duy", "Đạt", "Đức", "Hải", "Hào", "Hiếu", "Hoàng",
    "Huy", "Hùng", "Hưng", "Khang", "Khoa", "Khôi", "Khải", "Kiên", "Kiệt", "Lâm", "Long",
    "Lộc", "Minh", "Nam", "Nghĩa", "Nguyên", "Nhân", "Phát", "Phong", "Phúc", "Quân", "Quang",
    "Sơn", "Tài", "Tâm", "Thành", "Thiện", "Thịnh", "Tiến", "Tín", "Toàn", "Trí", "Trọng",
    "Trung", "Tuấn", "Tú", "Vinh", "Vũ", "Hậu", "Luân", "Thắng", "Khiêm", "Hiển", "Đông",
)
_FEMALE_GIVEN: Final = (
    "An", "Anh", "Ánh", "Châu", "Chi", "Dung", "Duyên", "Giang", "Hà", "Hạnh", "Hằng", "Hân",
    "Hiền", "Hoa", "Hồng", "Hương", "Huyền", "Khuê", "Lan", "Linh", "Loan", "Mai", "My", "Nga",
    "Ngân", "Ngọc", "Nhi", "Nhiên", "Nhung", "Như", "Oanh", "Phương", "Quyên", "Quỳnh", "Tâm",
    "Thảo", "Thư", "Thủy", "Tiên", "Trang", "Trâm", "Trinh", "Uyên", "Vân", "Vy", "Xuân",
    "Yến", "Diệp", "Thy", "Ngân", "Hậu", "Lụa",
)
_KHMER_MALE_GIVEN: Final = ("Sa Rết", "Sô Phal", "Ra Đa", "Chanh Đa", "Sóc", "Thươl", "Kha")
_KHMER_FEMALE_GIVEN: Final = ("Sô Phia", "Srây Nít", "Sa Ry", "Chanh Thu", "Ni Ta", "Pha Ly")

# Spellings that differ between a school record and the population register for the same
# person: old/new tone placement, i/y, and the usual keyboard slips.
_SPELLING_VARIANTS: Final = {
    "Thủy": "Thuỷ", "Thuỷ": "Thủy", "Hòa": "Hoà", "Hoà": "Hòa", "Thúy": "Thuý",
    "Vy": "Vi", "Vi": "Vy", "Thy": "Thi", "My": "Mi", "Huỳnh": "Huình", "Hoàng": "Huỳnh",
    "Duy": "Dui", "Ngọc": "Ngoc", "Thị": "Thi", "Văn": "Vân", "Khôi": "Khoi",
    "Nguyễn": "Nguyển", "Trần": "Tràn", "Phạm": "Pham", "Lê": "Lế",
}


@dataclass(frozen=True, slots=True)
class PersonName:
    family: str
    middle: str
    given: str

    @property
    def full(self) -> str:
        return " ".join(part for part in (self.family, self.middle, self.given) if part)


class NamePicker:
    """Draws names from one ``random.Random``; every choice goes through it (determinism)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def family(self, ethnicity: str) -> str:
        if ethnicity == "06":
            return HOA_FAMILY_NAMES.pick(self._rng)
        if ethnicity == "05":
            return KHMER_FAMILY_NAMES.pick(self._rng)
        return FAMILY_NAMES.pick(self._rng)

    def person(self, *, sex: str, family: str, young: bool, ethnicity: str = "01") -> PersonName:
        rng = self._rng
        male = sex == "M"
        if ethnicity == "05":
            given = rng.choice(_KHMER_MALE_GIVEN if male else _KHMER_FEMALE_GIVEN)
            return PersonName(family, "" if male else "Thị", given)
        if male:
            middle = (_MALE_MIDDLE_YOUNG if young else _MALE_MIDDLE_OLD).pick(rng)
            given = rng.choice(_MALE_GIVEN)
            second = _MALE_SECOND_MIDDLE
        else:
            middle = (_FEMALE_MIDDLE_YOUNG if young else _FEMALE_MIDDLE_OLD).pick(rng)
            given = rng.choice(_FEMALE_GIVEN)
            second = _FEMALE_SECOND_MIDDLE
        if young and rng.random() < 0.15:
            extra = rng.choice(second)
            if extra not in (middle, given):
                middle = f"{middle} {extra}"
        if middle.split()[-1] == given:
            # "Nguyễn Gia Gia" does not happen; the draw is simply repeated once.
            given = rng.choice(_MALE_GIVEN if male else _FEMALE_GIVEN)
        return PersonName(family, middle, given)


def misspell(full_name: str, rng: random.Random) -> str:
    """The same name as another office spells it (tone placement, i/y, a lost diacritic)."""
    words = full_name.split()
    candidates = [index for index, word in enumerate(words) if word in _SPELLING_VARIANTS
                  and _SPELLING_VARIANTS[word] != word]
    if candidates:
        index = rng.choice(candidates)
        words[index] = _SPELLING_VARIANTS[words[index]]
        return " ".join(words)
    index = rng.randrange(len(words))
    folded = fold_diacritics(words[index])
    if folded != words[index]:
        words[index] = folded
        return " ".join(words)
    return typo(full_name, rng)


_TYPO_LETTERS: Final = "aăâeêioôơuưynhtgcm"


def typo(full_name: str, rng: random.Random) -> str:
    """One-letter slip in the given name: a letter replaced, doubled or dropped."""
    words = full_name.split()
    given = words[-1]
    position = rng.randrange(len(given))
    action = rng.randrange(3)
    if action == 0 or len(given) < 3:
        replacement = rng.choice(_TYPO_LETTERS)
        if replacement == given[position].lower():
            replacement = "o" if replacement != "o" else "a"
        changed = given[:position] + replacement + given[position + 1:]
    elif action == 1:
        changed = given[:position] + given[position] + given[position:]
    else:
        changed = given[:position] + given[position + 1:]
    if position == 0:
        changed = changed[:1].upper() + changed[1:]
    words[-1] = changed
    return " ".join(words)
