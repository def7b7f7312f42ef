from __future__ import annotations

from pathlib import Path

from django.db import migrations
from django.utils import timezone

DATA = Path(__file__).resolve().parent.parent / "data"


def load(apps, schema_editor):  # type: ignore[no-untyped-def]
    from edureg.reports.spec import parse_toml

    ReportDefinition = apps.get_model("reports", "ReportDefinition")
    for path in sorted(DATA.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        spec = parse_toml(text)
        if ReportDefinition.objects.filter(code=spec.code).exists():
            continue
        ReportDefinition.objects.create(code=spec.code, version=1, title=spec.title,
                                        spec=spec.as_dict(), source_text=text, is_active=True,
                                        loaded_at=timezone.now())


def unload(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("reports", "ReportDefinition").objects.filter(
        version=1, loaded_by__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_report_definition")]
    operations = [migrations.RunPython(load, unload)]
