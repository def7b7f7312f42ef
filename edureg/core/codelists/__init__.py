"""Versioned national and local code lists, shipped as immutable JSON data files."""

from __future__ import annotations

from edureg.core.codelists.administrative import (
    legacy_province_for_id_prefix,
    legacy_province_to_province,
    legacy_ward_to_commune,
    legacy_ward_to_communes,
)
from edureg.core.codelists.base import CodeEntry, CodeList, match_key
from edureg.core.codelists.loader import (
    CODE_LIST_DIRS_ENV,
    CodeListError,
    UnknownCodeListError,
    available_versions,
    clear_cache,
    current_version,
    get_list,
    list_names,
)

__all__ = [
    "CODE_LIST_DIRS_ENV",
    "CodeEntry",
    "CodeList",
    "CodeListError",
    "UnknownCodeListError",
    "available_versions",
    "clear_cache",
    "current_version",
    "get_list",
    "legacy_province_for_id_prefix",
    "legacy_province_to_province",
    "legacy_ward_to_commune",
    "legacy_ward_to_communes",
    "list_names",
    "match_key",
]
