"""Loading and reading the field catalogue (see ``edureg.core.models``)."""

from __future__ import annotations

import dataclasses
import threading
import time
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.db import transaction

from edureg.core.models import FieldCatalogue, FieldSpec, Sensitivity, UpdateGroup

DEFAULT_FILE = Path(__file__).with_name("field_catalogue_2025.1.toml")
ENTITIES = ("student", "guardian", "staff")
_FIELD_KEYS = {
    "entity", "name", "label", "category", "sensitivity", "identifying", "legal_basis",
    "code_list", "required", "required_levels", "required_statuses", "update_group",
}


class CatalogueError(ValueError):
    """A catalogue file that cannot be loaded; the message says where and why, in Vietnamese."""


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    entity: str
    name: str
    label: str
    category: str
    sensitivity: str
    identifying: bool
    legal_basis: str
    code_list: str
    required: bool
    required_levels: tuple[str, ...]
    required_statuses: tuple[str, ...]
    update_group: str

    @property
    def is_sensitive(self) -> bool:
        return self.sensitivity == Sensitivity.SENSITIVE

    def is_required(self, *, level: str | None, status: str | None) -> bool:
        if not self.required:
            return False
        if self.required_levels and level not in self.required_levels:
            return False
        return not (self.required_statuses and status not in self.required_statuses)


@dataclasses.dataclass(frozen=True)
class UpdateGroupInfo:
    code: str
    label: str
    max_age_days: int | None


@dataclasses.dataclass(frozen=True)
class Catalogue:
    version: str
    source: str
    fields: tuple[FieldInfo, ...]
    update_groups: dict[str, UpdateGroupInfo]

    def for_entity(self, entity: str) -> tuple[FieldInfo, ...]:
        return tuple(f for f in self.fields if f.entity == entity)

    def get(self, entity: str, name: str) -> FieldInfo | None:
        for info in self.fields:
            if info.entity == entity and info.name == name:
                return info
        return None

    def required(self, entity: str, *, level: str | None, status: str | None
                 ) -> tuple[FieldInfo, ...]:
        return tuple(f for f in self.for_entity(entity) if f.is_required(level=level,
                                                                          status=status))

    def sensitive_names(self, entity: str) -> frozenset[str]:
        return frozenset(f.name for f in self.for_entity(entity) if f.is_sensitive)

    def identifying_names(self, entity: str) -> frozenset[str]:
        return frozenset(f.name for f in self.for_entity(entity) if f.identifying)


def parse_catalogue(text: str) -> Catalogue:
    """Check a catalogue file and return it; raise CatalogueError naming the bad entry."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"Tệp danh mục trường không đúng định dạng TOML: {exc}") from exc
    version = raw.get("version")
    if not isinstance(version, str) or not version.strip():
        raise CatalogueError("Thiếu 'version' (phiên bản danh mục).")
    groups: dict[str, UpdateGroupInfo] = {}
    for group in raw.get("update_groups", []):
        if "code" not in group or "label" not in group:
            raise CatalogueError("Mỗi nhóm cập nhật cần 'code' và 'label'.")
        groups[group["code"]] = UpdateGroupInfo(
            code=group["code"], label=group["label"], max_age_days=group.get("max_age_days")
        )
    default_basis = str(raw.get("defaults", {}).get("legal_basis", ""))
    fields: list[FieldInfo] = []
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(raw.get("fields", []), start=1):
        where = f"Trường thứ {index} ({entry.get('entity', '?')}.{entry.get('name', '?')})"
        unknown = set(entry) - _FIELD_KEYS
        if unknown:
            raise CatalogueError(f"{where}: khoá không hợp lệ {sorted(unknown)}.")
        for key in ("entity", "name", "label", "category", "sensitivity", "update_group"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise CatalogueError(f"{where}: thiếu '{key}'.")
        if entry["entity"] not in ENTITIES:
            raise CatalogueError(f"{where}: đối tượng phải là một trong {list(ENTITIES)}.")
        if entry["sensitivity"] not in Sensitivity.values:
            raise CatalogueError(f"{where}: mức nhạy cảm phải là một trong {Sensitivity.values}.")
        if entry["update_group"] not in groups:
            raise CatalogueError(f"{where}: nhóm cập nhật '{entry['update_group']}' chưa khai báo.")
        entity_field = (entry["entity"], entry["name"])
        if entity_field in seen:
            raise CatalogueError(f"{where}: khai báo trùng.")
        seen.add(entity_field)
        fields.append(FieldInfo(
            entity=entry["entity"], name=entry["name"], label=entry["label"],
            category=entry["category"], sensitivity=entry["sensitivity"],
            identifying=bool(entry.get("identifying", False)),
            legal_basis=str(entry.get("legal_basis", default_basis)),
            code_list=str(entry.get("code_list", "")), required=bool(entry.get("required")),
            required_levels=tuple(entry.get("required_levels", ())),
            required_statuses=tuple(entry.get("required_statuses", ())),
            update_group=entry["update_group"],
        ))
    return Catalogue(version=version.strip(), source=str(raw.get("source", "")),
                     fields=tuple(fields), update_groups=groups)


def catalogue_load(text: str, *, activate: bool = True) -> FieldCatalogue:
    """Store a catalogue version (all or nothing) and optionally make it the active one."""
    parsed = parse_catalogue(text)
    with transaction.atomic():
        if FieldCatalogue.objects.filter(version=parsed.version).exists():
            raise CatalogueError(
                f"Phiên bản {parsed.version} đã có; hãy đặt phiên bản mới cho tệp đã sửa."
            )
        if activate:
            FieldCatalogue.objects.filter(is_active=True).update(is_active=False)
        stored = FieldCatalogue.objects.create(
            version=parsed.version, source=parsed.source[:300], is_active=activate
        )
        UpdateGroup.objects.bulk_create(
            UpdateGroup(catalogue=stored, code=g.code, label=g.label, max_age_days=g.max_age_days)
            for g in parsed.update_groups.values()
        )
        FieldSpec.objects.bulk_create(_specs(stored, parsed.fields))
    _cache.clear()
    return stored


def _specs(stored: FieldCatalogue, fields: Iterable[FieldInfo]) -> list[FieldSpec]:
    return [
        FieldSpec(
            catalogue=stored, entity=f.entity, name=f.name, label=f.label, category=f.category,
            sensitivity=f.sensitivity, identifying=f.identifying, legal_basis=f.legal_basis,
            code_list=f.code_list, required=f.required, required_levels=list(f.required_levels),
            required_statuses=list(f.required_statuses), update_group=f.update_group,
        )
        for f in fields
    ]


def catalogue_activate(version: str) -> None:
    with transaction.atomic():
        target = FieldCatalogue.objects.select_for_update().filter(version=version).first()
        if target is None:
            raise CatalogueError(f"Không có danh mục trường phiên bản {version}.")
        FieldCatalogue.objects.filter(is_active=True).update(is_active=False)
        FieldCatalogue.objects.filter(pk=target.pk).update(is_active=True)
    _cache.clear()


class _Cache:
    """The active catalogue, re-read at most every ``ttl`` seconds per process."""

    ttl = 30.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: Catalogue | None = None
        self._read_at = 0.0

    def clear(self) -> None:
        with self._lock:
            self._value = None

    def get(self) -> Catalogue:
        with self._lock:
            if self._value is not None and time.monotonic() - self._read_at < self.ttl:
                return self._value
        value = _read_active()
        with self._lock:
            self._value, self._read_at = value, time.monotonic()
        return value


def _read_active() -> Catalogue:
    stored = FieldCatalogue.objects.filter(is_active=True).first()
    if stored is None:
        raise CatalogueError("Chưa có danh mục trường nào được kích hoạt; hãy chạy migrate.")
    specs: list[dict[str, Any]] = [
        dict(row) for row in FieldSpec.objects.filter(catalogue=stored).order_by("id").values()
    ]
    groups = {
        code: UpdateGroupInfo(code=code, label=label, max_age_days=days)
        for code, label, days in UpdateGroup.objects.filter(catalogue=stored).values_list(
            "code", "label", "max_age_days"
        )
    }
    return Catalogue(
        version=stored.version, source=stored.source, update_groups=groups,
        fields=tuple(
            FieldInfo(
                entity=s["entity"], name=s["name"], label=s["label"], category=s["category"],
                sensitivity=s["sensitivity"], identifying=s["identifying"],
                legal_basis=s["legal_basis"], code_list=s["code_list"], required=s["required"],
                required_levels=tuple(s["required_levels"]),
                required_statuses=tuple(s["required_statuses"]),
                update_group=s["update_group"],
            )
            for s in specs
        ),
    )


_cache = _Cache()


def active_catalogue() -> Catalogue:
    return _cache.get()


def clear_catalogue_cache() -> None:
    """Forget the cached active catalogue (the next call reads it again)."""
    _cache.clear()
