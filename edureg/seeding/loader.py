"""Bulk writers for generated rows: ``executemany`` on SQLite, ``COPY FROM STDIN`` on PostgreSQL.

Table and column names come from the models' ``_meta``; every concrete field must be in the
generator's column list, so a new model field fails here loudly instead of being left to a
database default that Django never creates.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.apps import apps
from django.core.management.color import no_style
from django.db import connection
from django.db.models import Model

from edureg.seeding.generator import TABLE_FIELDS, TABLE_ORDER

__all__ = ["BulkWriter", "TableSpec", "id_bases", "make_writer", "table_specs", "timestamp_value"]


@dataclass(frozen=True, slots=True)
class TableSpec:
    label: str
    model: type[Model]
    table: str
    columns: tuple[str, ...]


def table_specs() -> dict[str, TableSpec]:
    specs: dict[str, TableSpec] = {}
    for label in TABLE_ORDER:
        model = apps.get_model(label)
        names = TABLE_FIELDS[label]
        concrete = {item.attname for item in model._meta.concrete_fields}
        missing = sorted(concrete - set(names))
        unknown = sorted(set(names) - concrete)
        if missing or unknown:
            raise RuntimeError(
                f"seed columns of {label} are out of date with the model: "
                f"missing {missing}, unknown {unknown}"
            )
        columns = tuple(model._meta.get_field(name).column for name in names)
        specs[label] = TableSpec(label, model, model._meta.db_table, columns)
    return specs


def id_bases(specs: dict[str, TableSpec]) -> dict[str, int]:
    """First free primary key per table, so the generator can assign keys itself."""
    quote = connection.ops.quote_name
    bases = {}
    with connection.cursor() as cursor:
        for label, spec in specs.items():
            pk = spec.model._meta.pk
            assert pk is not None
            cursor.execute(f"SELECT MAX({quote(pk.column)}) FROM {quote(spec.table)}")  # noqa: S608
            row = cursor.fetchone()
            bases[label] = (row[0] or 0) + 1 if row else 1
    return bases


def timestamp_value(value: dt.datetime) -> object:
    """One aware datetime in the form the backend stores, computed once for all rows."""
    return connection.ops.adapt_datetimefield_value(value)


class BulkWriter(Protocol):
    def prepare(self) -> None: ...

    def write(self, rows: dict[str, list[tuple[Any, ...]]]) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


# Name keys (and, on PostgreSQL, the pattern indexes of ID numbers) arrive in random order;
# keeping those B-trees up to date row by row costs more than building them once, sorted, at the
# end. Unique indexes and constraints are never deferred. If a load is killed half-way, the next
# run (``--reset``) recreates them: the statements come from the schema editor, not from what is
# left in the database.
_DEFERRED_INDEX_TABLES = ("registry.Student", "registry.Guardian")
_RANDOM_ORDER_FIELDS = ("name_sort_key", "name_match_key")
_INDEX_NAME = re.compile(r'^CREATE INDEX ("[^"]+")')


def deferred_indexes(specs: dict[str, TableSpec]) -> list[tuple[str, str]]:
    """(quoted name, CREATE INDEX statement) of the indexes a bulk load builds at the end."""
    # Not entered as a context manager: only SQL text is wanted, and SQLite's editor refuses
    # to enter inside a transaction.
    editor = connection.SchemaEditorClass(connection, collect_sql=True)
    statements: list[str] = []
    for label in _DEFERRED_INDEX_TABLES:
        model = specs[label].model
        for field in model._meta.concrete_fields:
            if field.name in _RANDOM_ORDER_FIELDS or (field.unique and not field.primary_key):
                # The editor's own statements, so names match what the migrations created.
                sql = editor._field_indexes_sql(model, field)  # type: ignore[attr-defined]
                statements.extend(str(statement) for statement in sql)
        for index in model._meta.indexes:
            if set(index.fields) & set(_RANDOM_ORDER_FIELDS):
                statements.append(str(index.create_sql(model, editor)))
    result = []
    for statement in statements:
        match = _INDEX_NAME.match(statement)
        if match is None:
            raise RuntimeError(f"unexpected index statement: {statement}")
        result.append((match.group(1), statement))
    return result


def _settle_deferred_checks(cursor: Any) -> None:
    # Inside a caller's transaction PostgreSQL refuses index DDL on a table with deferred
    # foreign-key checks pending; running them now changes nothing but their timing.
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def drop_indexes(indexes: list[tuple[str, str]]) -> None:
    with connection.cursor() as cursor:
        _settle_deferred_checks(cursor)
        for name, _statement in indexes:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


def create_indexes(indexes: list[tuple[str, str]]) -> None:
    with connection.cursor() as cursor:
        _settle_deferred_checks(cursor)
        for _name, statement in indexes:
            cursor.execute(statement.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))


class SqliteWriter:
    def __init__(self, specs: dict[str, TableSpec]) -> None:
        self.specs = specs
        quote = connection.ops.quote_name
        self.statements = {
            label: (
                f"INSERT INTO {quote(spec.table)} ({', '.join(quote(c) for c in spec.columns)}) "  # noqa: S608
                f"VALUES ({', '.join('?' for _ in spec.columns)})"
            )
            for label, spec in specs.items()
        }

        self.deferred_indexes = deferred_indexes(specs)

    def prepare(self) -> None:
        with connection.cursor() as cursor:
            # A failed load is rerun with --reset, so per-commit durability buys nothing here;
            # a large page cache keeps the remaining indexes in memory while they grow.
            # SQLite refuses to change the safety level inside a transaction (a caller's, or
            # a test's); the load is then merely slower.
            if not connection.in_atomic_block:
                cursor.execute("PRAGMA synchronous=OFF")
                cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("PRAGMA cache_size=-1048576")
        drop_indexes(self.deferred_indexes)

    def write(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        raw = connection.connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            for label in TABLE_ORDER:
                batch: Sequence[tuple[Any, ...]] = rows[label]
                if batch:
                    cursor.executemany(self.statements[label], batch)
        finally:
            cursor.close()

    def abort(self) -> None:
        create_indexes(self.deferred_indexes)
        self._restore_settings()

    def _restore_settings(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size=-65536")
            if not connection.in_atomic_block:
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def finish(self) -> None:
        create_indexes(self.deferred_indexes)
        self._restore_settings()
        with connection.cursor() as cursor:
            # Fresh statistics, or the planner guesses on tables that grew a million-fold.
            cursor.execute("PRAGMA analysis_limit=1000")
            cursor.execute("ANALYZE")


class PostgresWriter:
    def __init__(self, specs: dict[str, TableSpec]) -> None:
        self.specs = specs
        quote = connection.ops.quote_name
        self.statements = {
            label: (
                f"COPY {quote(spec.table)} ({', '.join(quote(c) for c in spec.columns)}) "
                "FROM STDIN"
            )
            for label, spec in specs.items()
        }
        self.deferred_indexes = deferred_indexes(specs)

    def prepare(self) -> None:
        with connection.cursor() as cursor:
            # Commits of a bulk load need not wait for the WAL flush; a crash means reseeding.
            cursor.execute("SET synchronous_commit TO OFF")
        drop_indexes(self.deferred_indexes)

    def write(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        raw = connection.connection
        assert raw is not None
        with raw.cursor() as cursor:
            for label in TABLE_ORDER:
                batch = rows[label]
                if not batch:
                    continue
                with cursor.copy(self.statements[label]) as copy:
                    write_row = copy.write_row
                    for row in batch:
                        write_row(row)

    def abort(self) -> None:
        create_indexes(self.deferred_indexes)
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO DEFAULT")

    def finish(self) -> None:
        create_indexes(self.deferred_indexes)
        models = [spec.model for spec in self.specs.values()]
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(statement)
            cursor.execute("SET synchronous_commit TO DEFAULT")
            # Outside a transaction, VACUUM as well: the tables' visibility maps set, as
            # autovacuum leaves a settled database, so that index-only scans read no rows (a
            # rescan's ID and guardian-link look-ups) from the first run on.
            command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            for spec in self.specs.values():
                cursor.execute(f"{command} {connection.ops.quote_name(spec.table)}")


def make_writer(specs: dict[str, TableSpec]) -> BulkWriter:
    if connection.vendor == "sqlite":
        return SqliteWriter(specs)
    if connection.vendor == "postgresql":
        return PostgresWriter(specs)
    raise RuntimeError(f"seeding supports SQLite and PostgreSQL, not {connection.vendor}")
