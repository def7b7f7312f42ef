"""The database refuses UPDATE and DELETE on audit events and their record references.

PostgreSQL: one trigger function raising an exception, a row trigger per table. SQLite: BEFORE
UPDATE/DELETE triggers with RAISE(ABORT). Only someone who can drop triggers (a database
owner) can still change the log, and ``edureg audit verify`` detects what they change."""

from django.db import migrations

TABLES = ("audit_auditevent", "audit_auditrecordref")
MESSAGE = "audit log is append-only"

POSTGRES_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '{MESSAGE}: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def postgres_install(table):
    return (f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();")


def postgres_remove(table):
    return f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};"


def sqlite_install(table):
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: UPDATE on {table} refused'); END;",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: DELETE on {table} refused'); END;",
    ]


def sqlite_remove(table):
    return [f"DROP TRIGGER IF EXISTS {table}_no_update;",
            f"DROP TRIGGER IF EXISTS {table}_no_delete;"]


def install_statements(vendor):
    if vendor == "postgresql":
        return [POSTGRES_FUNCTION, *(postgres_install(t) for t in TABLES)]
    if vendor == "sqlite":
        return [sql for t in TABLES for sql in sqlite_install(t)]
    return []


def remove_statements(vendor):
    if vendor == "postgresql":
        return [*(postgres_remove(t) for t in TABLES),
                "DROP FUNCTION IF EXISTS audit_refuse_change();"]
    if vendor == "sqlite":
        return [sql for t in TABLES for sql in sqlite_remove(t)]
    return []


def install(apps, schema_editor):
    for sql in install_statements(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


def remove(apps, schema_editor):
    for sql in remove_statements(schema_editor.connection.vendor):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):

    dependencies = [("audit", "0003_relink_chain")]

    operations = [migrations.RunPython(install, remove)]
