"""What an attacker with the database owner's rights would do: lift the append-only triggers,
change the log, put the triggers back. Tests use it to prove that verification still notices."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper


def _triggers() -> ModuleType:
    return importlib.import_module("edureg.audit.migrations.0004_append_only_triggers")


def _run(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


@contextmanager
def guard_lifted(using: str = "default") -> Iterator[None]:
    connection = connections[using]
    module = _triggers()
    _run(connection, module.remove_statements(connection.vendor))
    try:
        yield
    finally:
        _run(connection, module.install_statements(connection.vendor))
