"""Helpers for tests that run edureg commands in processes of their own."""

from __future__ import annotations

from django.db import connection

from edureg.audit.chain import open_database_name


def database_url() -> str:
    """A DATABASE_URL for a child process: the database this test's connection has open."""
    db = connection.settings_dict
    name = open_database_name()
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{name}"
