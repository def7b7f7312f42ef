"""Backups of the database and their tested restore (``scripts/backup.sh``,
``scripts/restore.sh``; docs/production.md).

A backup is one directory, ``edureg-<UTC time>/``, readable by its owner only (it holds personal
data), with:

- the dump: ``database.dump`` (PostgreSQL: ``pg_dump`` custom format) or ``database.sqlite3``
  (SQLite: the online backup API, so the web and worker processes may keep writing);
- ``manifest.json``: the engine, the dump's size and SHA-256, and every table's row count and
  content checksum, taken *in the same snapshot as the dump* (PostgreSQL: an exported snapshot
  that ``pg_dump --snapshot`` reads; SQLite: one read transaction around the copy);
- ``SHA256SUMS``: the same checksums for ``sha256sum -c``.

A restore checks the dump against the manifest, restores it into a *new* database (never the
live one unless forced), computes every table's figures there, compares them with the
manifest, and runs ``edureg audit verify`` on the restored copy. Any difference fails it.

Table checksums are order-free: the sum, modulo 2**64 in two halves, of one hash per row
(PostgreSQL: ``md5`` of the row's text form, computed by the server with fixed output
settings; SQLite: SHA-256 of the row's Python form). Figures compare within one engine only.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

MANIFEST: Final = "manifest.json"
SUMS: Final = "SHA256SUMS"
FORMAT_VERSION: Final = 1
_DUMP_NAMES: Final = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
_BACKUP_DIR_PATTERN: Final = re.compile(r"^edureg-\d{8}T\d{6}Z$")
_HALF: Final = 2**64
# Session settings that fix the text form of every row, so that the server computes the same
# checksum for the same data whoever asks.
_PG_SESSION: Final = (
    "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
    "SET extra_float_digits = 3; SET bytea_output = 'hex'"
)


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why."""


@dataclasses.dataclass(frozen=True)
class Database:
    """Where a database is, from Django's ``DATABASES`` entry."""

    vendor: str  # "postgresql" or "sqlite"
    name: str
    host: str = ""
    port: str = ""
    user: str = ""
    password: str = ""
    options: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings_dict: Mapping[str, Any]) -> Database:
        engine = str(settings_dict["ENGINE"])
        if engine.endswith("sqlite3"):
            return cls(vendor="sqlite", name=str(Path(settings_dict["NAME"]).resolve()))
        if engine.endswith("postgresql"):
            options = {key: str(value) for key, value in (settings_dict.get("OPTIONS") or {})
                       .items() if key in {"sslmode", "sslrootcert", "sslcert", "sslkey"}}
            return cls(vendor="postgresql", name=str(settings_dict["NAME"]),
                       host=str(settings_dict.get("HOST") or ""),
                       port=str(settings_dict.get("PORT") or ""),
                       user=str(settings_dict.get("USER") or ""),
                       password=str(settings_dict.get("PASSWORD") or ""), options=options)
        raise BackupError(f"Unsupported database engine: {engine}")

    def named(self, name: str) -> Database:
        return dataclasses.replace(self, name=name)

    def url(self) -> str:
        """A DATABASE_URL for a child process."""
        if self.vendor == "sqlite":
            return f"sqlite:///{self.name}"
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        host = quote(self.host, safe="")
        port = f":{self.port}" if self.port else ""
        query = "&".join(f"{key}={quote(value, safe='')}" for key, value in self.options.items())
        return (f"postgres://{auth}{'@' if auth else ''}{host}{port}/{quote(self.name, safe='')}"
                + (f"?{query}" if query else ""))

    def libpq_env(self) -> dict[str, str]:
        """The libpq variables for pg_dump / pg_restore: no password on a command line."""
        values = {"PGDATABASE": self.name, "PGHOST": self.host, "PGPORT": self.port,
                  "PGUSER": self.user, "PGPASSWORD": self.password,
                  **{f"PG{key.upper()}": value for key, value in self.options.items()}}
        return {key: value for key, value in values.items() if value}


@dataclasses.dataclass(frozen=True)
class TableFigures:
    rows: int
    checksum: str


# --- table figures -------------------------------------------------------------------------


def _fold(digest: bytes, sums: list[int]) -> None:
    sums[0] = (sums[0] + int.from_bytes(digest[:8], "big")) % _HALF
    sums[1] = (sums[1] + int.from_bytes(digest[8:16], "big")) % _HALF


def _sqlite_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_figures(connection: sqlite3.Connection) -> dict[str, TableFigures]:
    names = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]
    figures: dict[str, TableFigures] = {}
    for name in names:
        sums, rows = [0, 0], 0
        for row in connection.execute(f"SELECT * FROM {_sqlite_quote(name)}"):  # noqa: S608
            _fold(hashlib.sha256(repr(row).encode()).digest(), sums)
            rows += 1
        figures[name] = TableFigures(rows=rows, checksum=f"{sums[0]:016x}{sums[1]:016x}")
    return figures


def _pg_connect(database: Database, **kwargs: Any) -> Any:
    import psycopg
    from psycopg.conninfo import make_conninfo

    params = {"dbname": database.name, "host": database.host, "port": database.port,
              "user": database.user, "password": database.password, **database.options}
    return psycopg.connect(make_conninfo(**{k: v for k, v in params.items() if v}), **kwargs)


def postgres_figures(cursor: Any) -> dict[str, TableFigures]:
    """Every table of the current schema; runs in the cursor's transaction (snapshot)."""
    from psycopg import sql

    cursor.execute(_PG_SESSION)
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                   "ORDER BY tablename")
    names = [row[0] for row in cursor.fetchall()]
    figures: dict[str, TableFigures] = {}
    for name in names:
        cursor.execute(sql.SQL(
            "SELECT count(*), "
            "coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0), "
            "coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0) "
            "FROM (SELECT md5(t::text) AS h FROM {} AS t) AS hashed").format(sql.Identifier(name)))
        rows, first, second = cursor.fetchone()
        figures[name] = TableFigures(
            rows=int(rows), checksum=f"{int(first) % _HALF:016x}{int(second) % _HALF:016x}")
    return figures


def figures_compare(expected: Mapping[str, TableFigures],
                    actual: Mapping[str, TableFigures]) -> list[dict[str, Any]]:
    """One entry per table whose presence, row count or checksum differs."""
    differences: list[dict[str, Any]] = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name), actual.get(name)
        if want is None or got is None:
            differences.append({"table": name, "problem": "missing in the restored copy"
                                if got is None else "not in the backup"})
        elif want.rows != got.rows:
            differences.append({"table": name, "problem": "row count",
                                "backup": want.rows, "restored": got.rows})
        elif want.checksum != got.checksum:
            differences.append({"table": name, "problem": "content checksum"})
    return differences


# --- files ---------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _private_file(path: Path) -> None:
    path.chmod(0o600)


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    manifest_path = directory / MANIFEST
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                             encoding="utf-8")
    _private_file(manifest_path)
    dump = manifest["dump"]
    sums = directory / SUMS
    sums.write_text(f"{dump['sha256']}  {dump['file']}\n"
                    f"{file_sha256(manifest_path)}  {MANIFEST}\n", encoding="utf-8")
    _private_file(sums)


def manifest_read(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupError(f"No {MANIFEST} in {directory}: not a backup directory")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"Unknown backup format in {path}")
    sums = directory / SUMS
    if sums.is_file():
        for line in sums.read_text(encoding="utf-8").splitlines():
            digest, _, name = line.partition("  ")
            if name == MANIFEST and digest != file_sha256(path):
                raise BackupError(f"{MANIFEST} does not match {SUMS}: the backup was altered")
    return manifest


def backups_list(root: Path) -> list[Path]:
    """The backup directories under ``root``, oldest first (their names sort by time)."""
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir()
                  if path.is_dir() and _BACKUP_DIR_PATTERN.match(path.name)
                  and (path / MANIFEST).is_file())


# --- PostgreSQL binaries -------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: from EDUREG_PG_BIN, else the newest Debian install
    (/usr/lib/postgresql/<version>/bin, not on PATH), else PATH."""
    configured = os.environ.get("EDUREG_PG_BIN", "")
    candidates = [Path(configured)] if configured else []
    installed = Path("/usr/lib/postgresql")
    if installed.is_dir():
        versions = [path for path in installed.iterdir() if path.name.replace(".", "").isdigit()]
        candidates += [path / "bin" for path in
                       sorted(versions, key=lambda p: [int(x) for x in p.name.split(".")],
                              reverse=True)]
    for directory in candidates:
        if (directory / name).is_file():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install postgresql-client or set EDUREG_PG_BIN")
    return found


def _run(command: list[str], env: Mapping[str, str]) -> None:
    result = subprocess.run(command, env={**os.environ, **env}, capture_output=True,  # noqa: S603
                            text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed ({result.returncode}): "
                          f"{result.stderr.strip()[-2000:]}")


# --- backup --------------------------------------------------------------------------------


def backup_create(*, database: Database, destination: Path,
                  now: dt.datetime | None = None) -> dict[str, Any]:
    """Write one backup directory under ``destination``; return its summary."""
    started = time.monotonic()
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    destination.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory = destination / f"edureg-{moment:%Y%m%dT%H%M%SZ}"
    directory.mkdir(mode=0o700)  # an existing one is an error: never overwrite a backup
    dump = directory / _DUMP_NAMES[database.vendor]
    try:
        if database.vendor == "sqlite":
            figures = _sqlite_backup(database, dump)
        else:
            figures = _postgres_backup(database, dump)
        _private_file(dump)
        manifest: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "engine": database.vendor,
            "source": database.name if database.vendor == "postgresql" else
            Path(database.name).name,
            "created_at": moment.isoformat(timespec="seconds"),
            "dump": {"file": dump.name, "bytes": dump.stat().st_size,
                     "sha256": file_sha256(dump)},
            "tables": {name: dataclasses.asdict(item) for name, item in figures.items()},
        }
        _write_manifest(directory, manifest)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return {
        "ok": True, "backup": str(directory), "engine": database.vendor,
        "dump_bytes": manifest["dump"]["bytes"], "sha256": manifest["dump"]["sha256"],
        "tables": len(figures), "rows": sum(item.rows for item in figures.values()),
        "seconds": round(time.monotonic() - started, 2),
    }


def _sqlite_backup(database: Database, dump: Path) -> dict[str, TableFigures]:
    if not Path(database.name).is_file():
        raise BackupError(f"No database file at {database.name}")
    source = sqlite3.connect(database.name, isolation_level=None, timeout=30)
    target = sqlite3.connect(dump)
    try:
        # One read transaction: the figures and the copy see the same snapshot while the
        # other processes keep writing (WAL).
        source.execute("BEGIN")
        figures = sqlite_figures(source)
        source.backup(target)
        source.execute("COMMIT")
    finally:
        target.close()
        source.close()
    # The copy keeps WAL mode; fold its log in so the backup is this one file.
    with contextlib.closing(sqlite3.connect(dump)) as copy:
        copy.execute("PRAGMA journal_mode=DELETE")
    return figures


def _postgres_backup(database: Database, dump: Path) -> dict[str, TableFigures]:
    from psycopg import IsolationLevel

    pg_dump = pg_tool("pg_dump")
    with _pg_connect(database) as connection:
        connection.read_only = True
        # REPEATABLE READ: one snapshot for the whole transaction.
        connection.isolation_level = IsolationLevel.REPEATABLE_READ
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            (snapshot,) = cursor.fetchone()
            # pg_dump reads the snapshot this transaction exported, while it stays open.
            _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges",
                  f"--snapshot={snapshot}", f"--file={dump}"], database.libpq_env())
            figures = postgres_figures(cursor)
        connection.rollback()
    return figures


def backups_prune(destination: Path, *, keep: int) -> list[str]:
    """Remove all but the newest ``keep`` backups (0: keep all); return the removed ones."""
    if keep <= 0:
        return []
    removed = backups_list(destination)[:-keep]
    for path in removed:
        shutil.rmtree(path)
    return [str(path) for path in removed]


# --- restore -------------------------------------------------------------------------------


def _default_target(database: Database, moment: dt.datetime) -> str:
    stamp = f"{moment:%Y%m%d_%H%M%S}"
    if database.vendor == "sqlite":
        live = Path(database.name)
        return str(live.with_name(f"{live.stem}_restore_{stamp}{live.suffix}"))
    return f"{database.name}_restore_{stamp}"[:63]


def _is_live(database: Database, target: str) -> bool:
    if database.vendor == "sqlite":
        return Path(target).resolve() == Path(database.name).resolve()
    return target == database.name


def restore_check(*, database: Database, backup: Path, target: str | None = None,
                  force: bool = False, drop: bool = False,
                  verify_audit: bool = True) -> dict[str, Any]:
    """Restore ``backup`` into ``target`` (default: a new database named after the live one
    and the time), compare it with the manifest and verify the audit chain on it. The
    summary's ``ok`` is false on any difference; ``drop`` removes the copy afterwards."""
    started = time.monotonic()
    manifest = manifest_read(backup)
    if manifest["engine"] != database.vendor:
        raise BackupError(f"The backup is of {manifest['engine']}, the configured database "
                          f"is {database.vendor}")
    dump = backup / manifest["dump"]["file"]
    if not dump.is_file():
        raise BackupError(f"Missing dump file {dump}")
    if file_sha256(dump) != manifest["dump"]["sha256"]:
        raise BackupError(f"{dump} does not match its SHA-256 in {MANIFEST}: the file is "
                          "damaged or altered")
    name = target or _default_target(database, dt.datetime.now(dt.UTC))
    live = _is_live(database, name)
    if live and not force:
        raise BackupError(f"{name} is the live database: restore into a new database, or "
                          "stop every edureg service and pass --force")
    if live and drop:
        raise BackupError("--drop with the live database as target")
    restored = database.named(name)
    if database.vendor == "sqlite":
        _sqlite_restore(dump, restored, live=live)
    else:
        _postgres_restore(database, dump, restored, live=live)
    try:
        if database.vendor == "sqlite":
            with contextlib.closing(sqlite3.connect(restored.name)) as connection:
                actual = sqlite_figures(connection)
        else:
            with _pg_connect(restored) as connection, connection.cursor() as cursor:
                actual = postgres_figures(cursor)
        expected = {table: TableFigures(**item) for table, item in manifest["tables"].items()}
        differences = figures_compare(expected, actual)
        audit = _audit_verify(restored) if verify_audit else {"ok": True, "skipped": True}
    finally:
        if drop:
            _drop(database, restored)
    return {
        "ok": not differences and audit["ok"],
        "backup": str(backup), "engine": database.vendor, "created_at": manifest["created_at"],
        "target": restored.name, "kept": not drop, "live": live,
        "dump_sha256": "ok", "tables": len(actual),
        "rows": sum(item.rows for item in actual.values()),
        "differences": differences, "audit_verify": audit,
        "seconds": round(time.monotonic() - started, 2),
    }


def _sqlite_restore(dump: Path, restored: Database, *, live: bool) -> None:
    target = Path(restored.name)
    if not live and target.exists():
        raise BackupError(f"{target} exists: name a new file")
    target.parent.mkdir(parents=True, exist_ok=True)
    # immutable=1: the backup file is read without locks or a -wal/-shm beside it.
    source = sqlite3.connect(f"file:{dump}?immutable=1", uri=True)
    destination = sqlite3.connect(target, timeout=30)
    try:
        source.backup(destination)
    finally:
        destination.close()
        source.close()
    if not live:
        target.chmod(0o600)


def _postgres_restore(database: Database, dump: Path, restored: Database, *, live: bool) -> None:
    from psycopg import sql

    pg_restore = pg_tool("pg_restore")
    common = ["--no-owner", "--no-privileges", "--exit-on-error"]
    if live:
        _run([pg_restore, *common, "--clean", "--if-exists", "--single-transaction",
              f"--dbname={restored.name}", str(dump)], restored.libpq_env())
        return
    with _pg_connect(database, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                    (restored.name,)).fetchone()
        if exists:
            raise BackupError(f"Database {restored.name} exists: name a new database")
        connection.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'")
                           .format(sql.Identifier(restored.name)))
    try:
        jobs = str(max(1, min(4, os.cpu_count() or 1)))
        _run([pg_restore, *common, f"--jobs={jobs}", f"--dbname={restored.name}", str(dump)],
             restored.libpq_env())
    except BaseException:
        _drop(database, restored)
        raise


def _drop(database: Database, restored: Database) -> None:
    if database.vendor == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(restored.name + suffix).unlink(missing_ok=True)
        return
    from psycopg import sql

    with _pg_connect(database, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}")
                           .format(sql.Identifier(restored.name)))


def _audit_verify(restored: Database) -> dict[str, Any]:
    """``edureg audit verify`` on the restored copy, in a process of its own pointed at it.
    Anchors are left out: those written after the backup name events the copy cannot have."""
    env = {**os.environ, "DATABASE_URL": restored.url(), "EDUREG_AUDIT_ANCHOR_FILE": ""}
    result = subprocess.run(
        [sys.executable, "-m", "edureg.cli.main", "audit", "--skip-checks", "verify"], env=env,
        capture_output=True, text=True, check=False, timeout=3600)
    output = (result.stdout.strip() or result.stderr.strip()).splitlines()
    return {"ok": result.returncode == 0, "message": output[-1] if output else ""}


# --- command line --------------------------------------------------------------------------


@contextlib.contextmanager
def _django() -> Iterator[Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edureg.settings")
    import django

    django.setup()
    from django.conf import settings

    yield settings


def _driver_errors() -> tuple[type[Exception], ...]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return ()
    return (psycopg.Error,)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edureg-backup", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="back up the configured database")
    create.add_argument("--dest", type=Path, default=None,
                        help="directory for backups (default: EDUREG_BACKUP_DIR)")
    create.add_argument("--keep", type=int, default=None,
                        help="keep only the newest N backups there (default: "
                             "EDUREG_BACKUP_KEEP; 0 keeps all)")
    restore = sub.add_parser("restore", help="restore a backup into a new database and compare")
    restore.add_argument("backup", type=Path, nargs="?", default=None,
                         help="backup directory (default: the newest in EDUREG_BACKUP_DIR)")
    restore.add_argument("--target", default=None,
                         help="database name (PostgreSQL) or file (SQLite) to restore into; "
                              "default: a new one named after the live database and the time")
    restore.add_argument("--force", action="store_true",
                         help="allow the live database as target (stop every service first)")
    restore.add_argument("--drop", action="store_true",
                         help="remove the restored copy after the comparison (a drill)")
    options = parser.parse_args(argv)
    expected: tuple[type[Exception], ...] = (BackupError, OSError, sqlite3.Error,
                                             *_driver_errors())
    with _django() as settings:
        database = Database.from_settings(settings.DATABASES["default"])
        root = Path(settings.EDUREG_BACKUP_DIR)
        try:
            if options.action == "create":
                summary = backup_create(database=database, destination=options.dest or root)
                keep = settings.EDUREG_BACKUP_KEEP if options.keep is None else options.keep
                summary["pruned"] = backups_prune(options.dest or root, keep=keep)
            else:
                backup = options.backup
                if backup is None:
                    found = [path for path in backups_list(root)
                             if manifest_read(path)["engine"] == database.vendor]
                    if not found:
                        raise BackupError(f"No backup of {database.vendor} in {root}")
                    backup = found[-1]
                summary = restore_check(database=database, backup=backup,
                                        target=options.target, force=options.force,
                                        drop=options.drop)
        except expected as exc:
            print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"},
                             ensure_ascii=False))
            return 1
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
