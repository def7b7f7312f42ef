"""Pre- and post-2025 administrative units: mapping old codes to the units that replaced them.

Historical fields (birthplace, hometown, old addresses, ID prefixes) cite the 63 provinces,
their districts and wards as they were before 1 July 2025. Their entries carry the new units
they became: ``extra.province`` on a legacy province, ``extra.commune`` on a legacy ward that
went whole into one commune, ``extra.communes`` on one that was split between several.
"""

from __future__ import annotations

from edureg.core.codelists.base import CodeEntry
from edureg.core.codelists.loader import get_list

__all__ = [
    "legacy_province_for_id_prefix",
    "legacy_province_to_province",
    "legacy_ward_to_commune",
    "legacy_ward_to_communes",
]


def legacy_province_to_province(code: str) -> CodeEntry | None:
    """The post-2025 province that a pre-2025 province (e.g. "77" Bà Rịa–Vũng Tàu) became."""
    legacy = get_list("legacy_province").get(code)
    new_code = legacy.extra_str("province") if legacy is not None else None
    return get_list("province").get(new_code) if new_code is not None else None


def legacy_ward_to_communes(ward_code: str) -> tuple[CodeEntry, ...]:
    """Every commune that took in part of a pre-2025 ward (one for most wards)."""
    legacy = get_list("legacy_ward").get(ward_code)
    if legacy is None:
        return ()
    communes = get_list("commune")
    codes = legacy.extra_strs("communes") or tuple(
        code for code in (legacy.extra_str("commune"),) if code is not None
    )
    return tuple(entry for code in codes if (entry := communes.get(code)) is not None)


def legacy_ward_to_commune(ward_code: str) -> CodeEntry | None:
    """The commune a pre-2025 ward became; None if unknown or split between several communes."""
    communes = legacy_ward_to_communes(ward_code)
    return communes[0] if len(communes) == 1 else None


def legacy_province_for_id_prefix(prefix: str) -> CodeEntry | None:
    """The pre-2025 province whose 3-digit personal-ID prefix is ``prefix`` (e.g. "079")."""
    return get_list("legacy_province").find_by_extra("id_prefix", prefix)
