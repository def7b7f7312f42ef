"""Backups and their tested restore, for real against the test database's engine: SQLite's
online backup by default, pg_dump / pg_restore when DATABASE_URL is PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection, transaction

from edureg.audit.services import audit_record
from edureg.core.backup import (
    MANIFEST,
    SUMS,
    BackupError,
    Database,
    backup_create,
    backups_list,
    backups_prune,
    file_sha256,
    manifest_read,
    restore_check,
)
from edureg.registry.models import Student
from tests import factories as f
from tests.conftest import Cast
from tests.processes import database_url

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def _events(cast: Cast, n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            audit_record(actor=cast.alice, action="student.update", entity="student",
                         entity_id=cast.an.pk, school_id=cast.school_a.pk,
                         data={"changes": {"grade": [i, i + 1]}})


def _live() -> Database:
    return Database.from_settings(connection.settings_dict)


def _scratch_target(tmp_path: Path) -> str:
    if connection.vendor == "sqlite":
        return str(tmp_path / "restored.sqlite3")
    return f"{connection.settings_dict['NAME']}_restore_{os.getpid()}"


def _script(name: str, *args: str, backups: Path) -> tuple[int, dict[str, object]]:
    env = {**os.environ, "DATABASE_URL": database_url(), "EDUREG_BACKUP_DIR": str(backups),
           "EDUREG_PYTHON": sys.executable}
    result = subprocess.run([str(ROOT / "scripts" / name), *args], env=env,  # noqa: S603
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout.strip().splitlines()[-1])


def test_backup_then_restore_into_a_scratch_database_compares_equal(
        cast: Cast, tmp_path: Path) -> None:
    _events(cast, 3)
    backups = tmp_path / "backups"

    code, made = _script("backup.sh", backups=backups)

    assert code == 0, made
    assert made["ok"] is True
    assert made["engine"] == connection.vendor
    directory = Path(str(made["backup"]))
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [MANIFEST, SUMS, "database.sqlite3" if connection.vendor == "sqlite" else "database.dump"])
    assert directory.stat().st_mode & 0o077 == 0  # personal data: owner only
    manifest = manifest_read(directory)
    assert manifest["tables"]["registry_student"]["rows"] == Student.objects.count() == 3

    code, restored = _script("restore.sh", str(directory), "--target", _scratch_target(tmp_path),
                             "--drop", backups=backups)

    assert code == 0, restored
    assert restored["ok"] is True
    assert restored["differences"] == []
    assert restored["tables"] == len(manifest["tables"])
    assert restored["rows"] == sum(t["rows"] for t in manifest["tables"].values())
    audit = restored["audit_verify"]
    assert isinstance(audit, dict)
    assert audit["ok"] is True
    assert " 3 " in audit["message"]  # the three events, verified on the restored copy
    assert not Path(_scratch_target(tmp_path)).exists()  # --drop removed the copy


def test_a_dump_that_does_not_hold_what_its_manifest_says_fails_the_comparison(
        cast: Cast, tmp_path: Path) -> None:
    """A backup's dump swapped for a later one (same row counts, one name changed): the
    per-table checksum finds the one table that differs."""
    first = Path(str(backup_create(database=_live(), destination=tmp_path / "a")["backup"]))
    Student.objects.filter(pk=cast.an.pk).update(full_name="Nguyễn Văn Ân")
    later = Path(str(backup_create(database=_live(), destination=tmp_path / "b")["backup"]))
    forged = tmp_path / "forged"
    shutil.copytree(first, forged)
    dump = next(p for p in later.iterdir() if p.name.startswith("database."))
    shutil.copy(dump, forged / dump.name)
    manifest = json.loads((forged / MANIFEST).read_text())
    manifest["dump"]["sha256"] = file_sha256(forged / dump.name)
    (forged / MANIFEST).write_text(json.dumps(manifest))
    (forged / SUMS).unlink()

    result = restore_check(database=_live(), backup=forged, target=_scratch_target(tmp_path),
                           drop=True, verify_audit=False)

    assert result["ok"] is False
    assert result["differences"] == [{"table": "registry_student",
                                      "problem": "content checksum"}]


def test_a_damaged_dump_is_refused_before_anything_is_restored(
        cast: Cast, tmp_path: Path) -> None:
    backup = Path(str(backup_create(database=_live(), destination=tmp_path)["backup"]))
    dump = next(p for p in backup.iterdir() if p.name.startswith("database."))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    target = _scratch_target(tmp_path)

    with pytest.raises(BackupError, match="SHA-256"):
        restore_check(database=_live(), backup=backup, target=target, drop=True)

    assert not Path(target).exists()


def test_the_live_database_is_never_a_restore_target_without_force(
        cast: Cast, tmp_path: Path) -> None:
    backup = Path(str(backup_create(database=_live(), destination=tmp_path)["backup"]))

    with pytest.raises(BackupError, match="live database"):
        restore_check(database=_live(), backup=backup, target=_live().name)


def test_pruning_keeps_the_newest_backups(tmp_path: Path) -> None:
    for name in ("edureg-20260101T010000Z", "edureg-20260102T010000Z",
                 "edureg-20260103T010000Z"):
        (tmp_path / name).mkdir()
        (tmp_path / name / MANIFEST).write_text("{}")
    (tmp_path / "not-a-backup").mkdir()

    removed = backups_prune(tmp_path, keep=2)

    assert [Path(p).name for p in removed] == ["edureg-20260101T010000Z"]
    assert [p.name for p in backups_list(tmp_path)] == ["edureg-20260102T010000Z",
                                                         "edureg-20260103T010000Z"]
    assert (tmp_path / "not-a-backup").is_dir()


def test_a_backup_directory_is_never_overwritten(cast: Cast, tmp_path: Path) -> None:
    f.make_student(cast.class_1a, "Lê Thị Cúc")
    first = backup_create(database=_live(), destination=tmp_path)
    moment = manifest_read(Path(str(first["backup"])))["created_at"]

    with pytest.raises(FileExistsError):
        backup_create(database=_live(), destination=tmp_path,
                      now=dt.datetime.fromisoformat(moment))
