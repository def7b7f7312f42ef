from __future__ import annotations

from django.db import migrations

# The status of an enrolment on a past date is its last status change effective on or before
# it: one index probe per enrolment whose current status is newer than the reporting date.
# The index is on the registry's table (no model field changes, so it is plain SQL here).


class Migration(migrations.Migration):
    dependencies = [("reports", "0002_load_shipped_definitions"),
                    ("registry", "0005_student_merge")]
    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS reports_status_change_as_of "
            "ON registry_enrolmentstatuschange (enrolment_id, effective_on)",
            "DROP INDEX IF EXISTS reports_status_change_as_of",
        ),
    ]
