#!/usr/bin/env bash
# Back up the configured database (DATABASE_URL, or the embedded SQLite file) into a new
# directory under EDUREG_BACKUP_DIR (default var/backups): the dump (PostgreSQL: pg_dump custom
# format; SQLite: online backup), manifest.json (per-table row counts and checksums taken in
# the same snapshot) and SHA256SUMS. Prints a JSON summary; exits non-zero on failure.
#   scripts/backup.sh [--dest DIR] [--keep N]
# In production, run it with the service's environment (docs/production.md):
#   sudo -u edureg env $(grep -v '^#' /etc/edureg/edureg.env | xargs) scripts/backup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python=${EDUREG_PYTHON:-.venv/bin/python}
exec "$python" -m edureg.core.backup create "$@"
