from __future__ import annotations

from pathlib import Path

from django.db import migrations

FILE = Path(__file__).resolve().parent.parent / "catalogue" / "field_catalogue_2025.1.toml"


def load(apps, schema_editor):  # type: ignore[no-untyped-def]
    from edureg.core.catalogue import parse_catalogue

    parsed = parse_catalogue(FILE.read_text(encoding="utf-8"))
    FieldCatalogue = apps.get_model("core", "FieldCatalogue")
    FieldSpec = apps.get_model("core", "FieldSpec")
    UpdateGroup = apps.get_model("core", "UpdateGroup")
    if FieldCatalogue.objects.filter(version=parsed.version).exists():
        return
    active = not FieldCatalogue.objects.filter(is_active=True).exists()
    stored = FieldCatalogue.objects.create(
        version=parsed.version, source=parsed.source[:300], is_active=active
    )
    UpdateGroup.objects.bulk_create(
        UpdateGroup(catalogue=stored, code=g.code, label=g.label, max_age_days=g.max_age_days)
        for g in parsed.update_groups.values()
    )
    FieldSpec.objects.bulk_create(
        FieldSpec(
            catalogue=stored, entity=f.entity, name=f.name, label=f.label, category=f.category,
            sensitivity=f.sensitivity, identifying=f.identifying, legal_basis=f.legal_basis,
            code_list=f.code_list, required=f.required, required_levels=list(f.required_levels),
            required_statuses=list(f.required_statuses), update_group=f.update_group,
        )
        for f in parsed.fields
    )


def unload(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("core", "FieldCatalogue").objects.filter(version="2025.1").delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
