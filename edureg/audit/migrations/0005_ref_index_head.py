"""Record references become a projection of the events (``refs_catch_up``). Until now they were
written with each event, so the projection starts at the current end of the chain."""

from django.db import migrations, models


def start_at_chain_end(apps, schema_editor):
    event = apps.get_model("audit", "AuditEvent")
    head = apps.get_model("audit", "RefIndexHead")
    last = event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    head.objects.create(name="main", seq=last)


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0004_append_only_triggers"),
    ]

    operations = [
        migrations.CreateModel(
            name="RefIndexHead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("name", models.CharField(max_length=50, unique=True)),
                ("seq", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(start_at_chain_end, migrations.RunPython.noop),
    ]
