"""What may go up to the national sector database, as data (``data/upward/<version>.json``): the
purpose the sending serves and, per entity, the fields allowed upward. Every listed field must
be in the field catalogue; the purpose must be in force and cover the entity."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import lru_cache

from edureg.core.catalogue import active_catalogue
from edureg.privacy.datafiles import PrivacyDataError, document
from edureg.privacy.purposes import purposes_in_force

DATA_SET = "upward"


@dataclasses.dataclass(frozen=True)
class UpwardRules:
    version: str
    purpose: str
    fields: Mapping[str, tuple[str, ...]]  # entity → fields allowed upward

    def allowed(self, entity: str) -> tuple[str, ...]:
        return self.fields.get(entity, ())


@lru_cache(maxsize=8)
def _parsed(version: str) -> UpwardRules:
    file, data = document(DATA_SET, version)
    where = f"{DATA_SET}/{file.version}"
    purpose = data.get("purpose")
    entities = data.get("entities")
    if not isinstance(purpose, str) or not isinstance(entities, dict) or not entities:
        raise PrivacyDataError(f"{where}: needs 'purpose' and a non-empty 'entities' object")
    found = purposes_in_force().get(purpose)
    if found is None:
        raise PrivacyDataError(f"{where}: purpose {purpose!r} is not in the purposes in force")
    catalogue = active_catalogue()
    fields: dict[str, tuple[str, ...]] = {}
    for entity, names in entities.items():
        if entity not in found.entities:
            raise PrivacyDataError(f"{where}: purpose {purpose!r} does not cover {entity!r}")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise PrivacyDataError(f"{where}: {entity!r} must list field names")
        unknown = [n for n in names if catalogue.get(entity, n) is None]
        if unknown:
            raise PrivacyDataError(f"{where}: not in the field catalogue: {unknown}")
        fields[entity] = tuple(names)
    return UpwardRules(version=file.version, purpose=purpose, fields=fields)


def upward_rules() -> UpwardRules:
    file, _data = document(DATA_SET)
    return _parsed(file.version)
