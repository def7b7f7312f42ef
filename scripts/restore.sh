#!/usr/bin/env bash
# Restore a backup into a NEW scratch database (PostgreSQL: a new database on the same server;
# SQLite: a new file beside the live one), then compare it with the backup's manifest (per-table
# row counts and content checksums) and run `edureg audit verify` on the restored copy.
# Prints a JSON summary; exits non-zero on any difference.
#   scripts/restore.sh [BACKUP_DIR] [--target NAME] [--drop] [--force]
#     BACKUP_DIR  default: the newest backup in EDUREG_BACKUP_DIR
#     --target    the database name (or SQLite file) to restore into; default a new name
#     --drop      remove the restored copy after the comparison (a restore drill)
#     --force     allow the live database as target (stop every edureg service first)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${EDUREG_PYTHON:-.venv/bin/python}
exec "$python" -m edureg.core.backup restore "$@"
