from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from edureg.audit.models import AuditEvent
from edureg.core.catalogue import DEFAULT_FILE, active_catalogue
from edureg.registry.services import student_update
from tests.audit.tampering import guard_lifted
from tests.conftest import Cast


def test_catalogue_load_activate_and_show(db: None, tmp_path: Path) -> None:
    newer = tmp_path / "c.toml"
    newer.write_text(DEFAULT_FILE.read_text(encoding="utf-8").replace(
        'version = "2025.1"', 'version = "2026.2"'), encoding="utf-8")
    out = io.StringIO()
    call_command("catalogue", "load", str(newer), stdout=out)
    assert "2026.2" in out.getvalue()
    assert active_catalogue().version == "2026.2"
    call_command("catalogue", "activate", "2025.1", stdout=out)
    assert active_catalogue().version == "2025.1"
    out = io.StringIO()
    call_command("catalogue", "show", stdout=out)
    assert "Dân tộc" in out.getvalue()


def test_catalogue_load_of_a_missing_file_says_so(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Không tìm thấy tệp"):
        call_command("catalogue", "load", str(tmp_path / "missing.toml"))


def test_audit_verify_reports_tampering(cast: Cast) -> None:
    student_update(actor=cast.alice, student=cast.an, data={"phone": "0912345678"})
    student_update(actor=cast.alice, student=cast.an, data={"phone": "0987654321"})
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    assert "toàn vẹn" in out.getvalue()
    with guard_lifted():  # what a database owner could do; verification still notices
        AuditEvent.objects.filter(seq=1).update(actor_label="mallory")
    with pytest.raises(CommandError, match="số 1"):
        call_command("audit", "verify")


def test_production_settings_pass_the_deploy_check(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "EDUREG_SECURE": "true", "EDUREG_SECRET_KEY": "k" * 20 + "-Zq8#x" * 8,
           "EDUREG_ALLOWED_HOSTS": "edureg.example", "EDUREG_VAR_DIR": str(tmp_path)}
    # The browser tests set this for Playwright in this process; production never has it.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, str(root / "manage.py"), "check", "--deploy", "--fail-level",
         "WARNING"], env=env, capture_output=True, text=True, check=False, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
