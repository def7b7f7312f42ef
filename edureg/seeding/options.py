"""What a seed run is asked to do, checked before anything is written."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_DEMO_PASSWORD",
    "DEFAULT_RATES",
    "MAX_SCHOOLS",
    "MAX_STUDENTS_PER_SCHOOL",
    "ProblemRates",
    "SeedOptionError",
    "SeedOptions",
]

# Satisfies the project's validators (length ≥ 10, not common, not numeric); printed on purpose.
DEFAULT_DEMO_PASSWORD: Final = "Demo@edureg2026"  # noqa: S105
MAX_SCHOOLS: Final = 100_000
MAX_STUDENTS_PER_SCHOOL: Final = 20_000


class SeedOptionError(ValueError):
    """An option the run cannot use; ``option`` is its command-line spelling."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option
        self.message = message


@dataclass(frozen=True, slots=True)
class ProblemRates:
    """Share of students that carry each kind of planted problem (one problem per student)."""

    missing_field: float = 0.02
    junk_value: float = 0.01
    id_structure: float = 0.01
    duplicate: float = 0.01
    identity_mismatch: float = 0.015

    @property
    def total(self) -> float:
        return float(sum(self.as_dict().values()))

    def scaled_to(self, total: float) -> ProblemRates:
        """The same mix of kinds, adding up to ``total``."""
        factor = total / self.total if self.total else 0.0
        return ProblemRates(**{item.name: getattr(self, item.name) * factor
                               for item in fields(self)})

    def as_dict(self) -> dict[str, float]:
        return {item.name: getattr(self, item.name) for item in fields(self)}


DEFAULT_RATES: Final = ProblemRates()

RATE_OPTIONS: Final = {
    "missing_field": "--missing-rate",
    "junk_value": "--junk-rate",
    "id_structure": "--id-structure-rate",
    "duplicate": "--duplicate-rate",
    "identity_mismatch": "--identity-mismatch-rate",
}


@dataclass(frozen=True, slots=True)
class SeedOptions:
    schools: int
    students_per_school: int
    seed: int
    register_path: Path
    demo_password: str = DEFAULT_DEMO_PASSWORD
    rates: ProblemRates = field(default_factory=ProblemRates)
    reset: bool = False
    # None: a generator process when the run is large enough to pay for it.
    parallel: bool | None = None
    chunk_students: int = 25_000

    def validate(self) -> None:
        if not 1 <= self.schools <= MAX_SCHOOLS:
            raise SeedOptionError(
                "--schools",
                f"--schools phải là số nguyên từ 1 đến {MAX_SCHOOLS} (đã nhận: {self.schools}); "
                "hãy chọn số trường lớn hơn 0.",
            )
        if not 1 <= self.students_per_school <= MAX_STUDENTS_PER_SCHOOL:
            raise SeedOptionError(
                "--students-per-school",
                f"--students-per-school phải là số nguyên từ 1 đến {MAX_STUDENTS_PER_SCHOOL} "
                f"(đã nhận: {self.students_per_school}); hãy chọn số học sinh mỗi trường lớn "
                "hơn 0.",
            )
        if self.seed < 0:
            raise SeedOptionError(
                "--seed", f"--seed phải là số nguyên không âm (đã nhận: {self.seed})."
            )
        for name, option in RATE_OPTIONS.items():
            value = getattr(self.rates, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise SeedOptionError(
                    option,
                    f"{option} phải là tỉ lệ từ 0 đến 1 (đã nhận: {value}); ví dụ 0.01 là 1% "
                    "học sinh.",
                )
        if self.rates.total > 1.0:
            raise SeedOptionError(
                "--problem-rate",
                f"Tổng các tỉ lệ lỗi cài sẵn là {self.rates.total:.3f}, vượt quá 1; hãy giảm "
                "các tỉ lệ --…-rate.",
            )
        if len(self.demo_password) < 10 or self.demo_password.isdigit():
            raise SeedOptionError(
                "--demo-password",
                "--demo-password phải dài ít nhất 10 ký tự và không chỉ gồm chữ số; hãy chọn "
                "mật khẩu khác (hoặc bỏ tuỳ chọn để dùng mật khẩu demo mặc định).",
            )
