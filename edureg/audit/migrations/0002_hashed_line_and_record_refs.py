"""Events store their data as canonical JSON text and a kind; indexes for the supervision
screens; the record-reference index table; the chain head remembers the last event's time."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import edureg.audit.models


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="chainhead",
            name="last_occurred_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="kind",
            field=models.CharField(default="write", max_length=12),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="data",
            field=edureg.audit.models.CanonicalJSONField(default=dict),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(max_length=60, verbose_name="hành động"),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="school_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(blank=True, db_index=False, null=True,
                                    on_delete=django.db.models.deletion.PROTECT,
                                    related_name="+", to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["kind", "seq"], name="audit_event_kind_seq"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["school_id", "kind", "seq"],
                               name="audit_event_school_kind_seq"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["actor", "kind", "seq"], name="audit_event_actor_kind_seq"),
        ),
        migrations.CreateModel(
            name="AuditRecordRef",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("seq", models.BigIntegerField()),
                ("kind", models.CharField(max_length=12)),
                ("school_id", models.BigIntegerField(blank=True, null=True)),
                ("entity", models.CharField(max_length=60)),
                ("entity_id", models.CharField(max_length=40)),
                ("field", models.CharField(blank=True, max_length=60)),
                ("actor", models.ForeignKey(blank=True, db_index=False, null=True,
                                            on_delete=django.db.models.deletion.PROTECT,
                                            related_name="+", to=settings.AUTH_USER_MODEL)),
                ("event", models.ForeignKey(db_index=False,
                                            on_delete=django.db.models.deletion.PROTECT,
                                            related_name="refs", to="audit.auditevent")),
            ],
            options={
                "indexes": [
                    models.Index(fields=["entity", "entity_id", "seq"],
                                 name="audit_ref_record_seq"),
                    models.Index(fields=["school_id", "kind", "field", "seq"],
                                 name="audit_ref_school_kind_field"),
                ],
            },
        ),
    ]
