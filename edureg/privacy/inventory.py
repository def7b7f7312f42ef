"""The processing inventory (danh mục hoạt động xử lý dữ liệu cá nhân) for the impact-assessment
dossier: which data categories are processed, through which fields, how sensitive, for which
purposes, on which legal basis, shared with whom, kept how long, protected how.

``build_inventory`` is pure: it reads only the field catalogue, the purposes and the security
measures it is given. ``inventory_in_force`` gathers the active catalogue, the purposes in force
and the security measures in force (data set ``security``, ``data/security/<version>.json``).
The inventory names fields and categories, never a person: it is safe to download.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Iterable, Mapping

from edureg.core.catalogue import Catalogue, FieldInfo, active_catalogue
from edureg.core.models import Sensitivity
from edureg.privacy.datafiles import PrivacyDataError, document
from edureg.privacy.purposes import Purpose, Purposes, purposes_in_force

SECURITY_DATA_SET = "security"

# Vietnamese names of the field catalogue's categories; a category not listed shows its code.
CATEGORY_LABELS: Mapping[str, str] = {
    "identity": "Thông tin định danh",
    "birthplace": "Nơi sinh",
    "hometown": "Quê quán",
    "residence": "Nơi cư trú",
    "contact": "Thông tin liên lạc",
    "ethnicity": "Dân tộc",
    "religion": "Tôn giáo",
    "health": "Sức khoẻ",
    "family_circumstances": "Hoàn cảnh gia đình",
    "occupation": "Nghề nghiệp",
    "employment": "Thông tin công tác",
}
ENTITY_LABELS: Mapping[str, str] = {
    "student": "Học sinh",
    "guardian": "Cha mẹ/người giám hộ",
    "staff": "Cán bộ, giáo viên, nhân viên",
}
SENSITIVITY_LABELS: Mapping[str, str] = {
    Sensitivity.SENSITIVE: "Nhạy cảm",
    Sensitivity.BASIC: "Cơ bản",
    Sensitivity.NONE: "Không phải dữ liệu cá nhân",
}
OTHER_DATA_CATEGORY = "other"
OTHER_DATA_LABEL = "Dữ liệu ngoài danh mục trường thông tin"


@dataclasses.dataclass(frozen=True)
class SecurityMeasure:
    code: str
    name: str
    description: str


@dataclasses.dataclass(frozen=True)
class SecurityMeasures:
    version: str
    valid_from: dt.date
    source: str
    measures: tuple[SecurityMeasure, ...]


@dataclasses.dataclass(frozen=True)
class InventoryField:
    entity: str
    entity_label: str
    name: str
    label: str
    sensitivity: str
    legal_basis: str

    @property
    def is_sensitive(self) -> bool:
        return self.sensitivity == Sensitivity.SENSITIVE


@dataclasses.dataclass(frozen=True)
class PurposeUse:
    """A purpose that processes a category, for some of the category's data subjects."""

    code: str
    name: str
    legal_basis: str
    requires_consent: bool
    entities: tuple[str, ...]
    recipients: tuple[str, ...]
    retention: str


@dataclasses.dataclass(frozen=True)
class InventoryRow:
    category: str
    label: str
    sensitivity: str  # the highest of its fields': sensitive > basic > none
    fields: tuple[InventoryField, ...]
    other_data: tuple[str, ...]  # data outside the catalogue (the "other" row only)
    purposes: tuple[PurposeUse, ...]
    legal_bases: tuple[str, ...]  # the fields' and the purposes' bases, without repeats

    @property
    def is_sensitive(self) -> bool:
        return self.sensitivity == Sensitivity.SENSITIVE

    @property
    def sensitivity_label(self) -> str:
        return SENSITIVITY_LABELS.get(self.sensitivity, self.sensitivity)

    @property
    def recipients(self) -> tuple[str, ...]:
        return _unique(r for use in self.purposes for r in use.recipients)


@dataclasses.dataclass(frozen=True)
class Inventory:
    catalogue_version: str
    purposes_version: str
    security_version: str
    rows: tuple[InventoryRow, ...]
    measures: tuple[SecurityMeasure, ...]


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _sensitivity(fields: tuple[InventoryField, ...]) -> str:
    found = {f.sensitivity for f in fields}
    for level in (Sensitivity.SENSITIVE, Sensitivity.BASIC):
        if level in found:
            return str(level)
    return str(Sensitivity.NONE)


def _field(info: FieldInfo) -> InventoryField:
    return InventoryField(entity=info.entity, entity_label=ENTITY_LABELS.get(info.entity,
                                                                            info.entity),
                          name=info.name, label=info.label, sensitivity=info.sensitivity,
                          legal_basis=info.legal_basis)


def _use(purpose: Purpose, entities: tuple[str, ...]) -> PurposeUse:
    return PurposeUse(code=purpose.code, name=purpose.name, legal_basis=purpose.legal_basis,
                      requires_consent=purpose.requires_consent, entities=entities,
                      recipients=purpose.recipients, retention=purpose.retention.label)


def build_inventory(catalogue: Catalogue, purposes: Purposes,
                    security: SecurityMeasures) -> Inventory:
    """One row per category of the catalogue (in the catalogue's order), then one for the data
    the purposes name outside the catalogue (photos…), when there is any. A purpose uses a
    category when it lists the category and processes data of a subject that has fields in
    it; a category no purpose uses shows no purpose (a finding for the dossier)."""
    order = _unique(info.category for info in catalogue.fields)
    rows = []
    for category in order:
        fields = tuple(_field(info) for info in catalogue.fields if info.category == category)
        subjects = {f.entity for f in fields}
        uses = tuple(
            _use(purpose, tuple(e for e in purpose.entities if e in subjects))
            for purpose in purposes.purposes
            if category in purpose.categories and subjects & set(purpose.entities))
        rows.append(InventoryRow(
            category=category, label=CATEGORY_LABELS.get(category, category),
            sensitivity=_sensitivity(fields), fields=fields, other_data=(), purposes=uses,
            legal_bases=_unique([*(f.legal_basis for f in fields if f.legal_basis),
                                 *(use.legal_basis for use in uses)])))
    others = tuple(p for p in purposes.purposes if p.other_data)
    if others:
        uses = tuple(_use(p, p.entities) for p in others)
        rows.append(InventoryRow(
            category=OTHER_DATA_CATEGORY, label=OTHER_DATA_LABEL,
            sensitivity=str(Sensitivity.BASIC), fields=(),
            other_data=_unique(item for p in others for item in p.other_data), purposes=uses,
            legal_bases=_unique(use.legal_basis for use in uses)))
    return Inventory(catalogue_version=catalogue.version, purposes_version=purposes.version,
                     security_version=security.version, rows=tuple(rows),
                     measures=security.measures)


# --- The security measures data set ------------------------------------------------------------

def parse_security(data: Mapping[str, object], *, version: str, valid_from: dt.date,
                   source: str) -> SecurityMeasures:
    where = f"{SECURITY_DATA_SET}/{version}"
    raw = data.get("measures")
    if not isinstance(raw, list) or not raw:
        raise PrivacyDataError(f"{where}: 'measures' must be a non-empty list")
    measures = []
    for item in raw:
        if not isinstance(item, dict):
            raise PrivacyDataError(f"{where}: each measure must be an object")
        values = {}
        for key in ("code", "name", "description"):
            value = item.get(key)
            if not isinstance(value, str) or not value.strip():
                raise PrivacyDataError(f"{where} measure: '{key}' must be a non-empty string")
            values[key] = value.strip()
        measures.append(SecurityMeasure(**values))
    codes = [m.code for m in measures]
    if len(set(codes)) != len(codes):
        raise PrivacyDataError(f"{where}: duplicate measure code")
    return SecurityMeasures(version=version, valid_from=valid_from, source=source,
                            measures=tuple(measures))


def security_in_force(*, on: dt.date | None = None) -> SecurityMeasures:
    file, data = document(SECURITY_DATA_SET, on=on)
    return parse_security(data, version=file.version, valid_from=file.valid_from,
                          source=file.source)


def inventory_in_force(*, on: dt.date | None = None) -> Inventory:
    """The inventory from the active catalogue, the purposes and measures in force."""
    return build_inventory(active_catalogue(), purposes_in_force(on=on),
                           security_in_force(on=on))


# --- The CSV download --------------------------------------------------------------------------

CSV_HEADER = ("Nhóm dữ liệu", "Loại dữ liệu", "Trường thông tin", "Mục đích xử lý",
              "Cần sự đồng ý", "Căn cứ pháp lý", "Bên nhận", "Thời hạn lưu trữ")


def _field_list(row: InventoryRow) -> str:
    if not row.fields:
        return "; ".join(row.other_data)
    parts = []
    for entity in _unique(f.entity for f in row.fields):
        labels = [f"{f.label} (nhạy cảm)" if f.is_sensitive else f.label
                  for f in row.fields if f.entity == entity]
        parts.append(f"{ENTITY_LABELS.get(entity, entity)}: {', '.join(labels)}")
    return "; ".join(parts)


def inventory_csv(inventory: Inventory) -> str:
    """The inventory as CSV text: one line per category and purpose (a category no purpose
    uses gets one line without), then the security measures."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("Danh mục hoạt động xử lý dữ liệu cá nhân",))
    writer.writerow((f"Danh mục trường thông tin {inventory.catalogue_version}; "
                     f"mục đích xử lý {inventory.purposes_version}; "
                     f"biện pháp bảo vệ {inventory.security_version}",))
    writer.writerow(CSV_HEADER)
    for row in inventory.rows:
        fields = _field_list(row)
        if not row.purposes:
            writer.writerow((row.label, row.sensitivity_label, fields, "Chưa có mục đích",
                             "", "; ".join(row.legal_bases), "", ""))
        for use in row.purposes:
            writer.writerow((row.label, row.sensitivity_label, fields, use.name,
                             "Có" if use.requires_consent else "Không", use.legal_basis,
                             "; ".join(use.recipients), use.retention))
    writer.writerow(())
    writer.writerow(("Biện pháp bảo vệ", "Mô tả"))
    for measure in inventory.measures:
        writer.writerow((measure.name, measure.description))
    return out.getvalue()
