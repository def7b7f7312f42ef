"""``edureg intake``: dry run and commit from the command line, as an account or as the system;
``--json`` prints counts and problems without the cells' values."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from edureg.access.models import User
from edureg.audit.models import AuditEvent
from edureg.intake.models import IntakeRun, RunStatus
from edureg.registry.models import Student
from tests.conftest import Cast
from tests.intake.conftest import pupil, xlsx

pytestmark = pytest.mark.django_db


def _file(tmp_path: Path, rows: list[dict[str, object]]) -> str:
    path = tmp_path / "hoc-sinh.xlsx"
    path.write_bytes(xlsx(rows))
    return str(path)


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("intake", *args, stdout=out)
    return out.getvalue()


def test_a_dry_run_prints_counts_and_problems_without_values(
        cast: Cast, clerk: User, tmp_path: Path) -> None:
    path = _file(tmp_path, [pupil(), pupil("Lê Văn Tư", ethnicity="Người sao Hoả",
                                           personal_id_number="079220001234")])
    result = json.loads(_run(path, "--school", cast.school_a.code, "--dry-run", "--json",
                             "--as", "giao"))
    assert result["summary"]["new"] == 1
    assert result["summary"]["rejected"] == 1
    assert result["committed"] is False
    (problem,) = [p for p in result["problems"] if p["severity"] == "error"]
    assert (problem["sheet"], problem["column"], problem["field"]) == ("HocSinh", "G", "ethnicity")
    text = json.dumps(result, ensure_ascii=False)
    for value in ("Người sao Hoả", "Võ Thị Mai", "Lê Văn Tư", "079220001234"):
        assert value not in text
    assert not Student.objects.filter(full_name="Võ Thị Mai").exists()
    assert IntakeRun.objects.get().status == RunStatus.CANCELLED


def test_a_commit_as_an_account_writes_in_its_name(cast: Cast, clerk: User,
                                                   tmp_path: Path) -> None:
    out = _run(_file(tmp_path, [pupil()]), "--school", cast.school_a.code, "--as", "giao")
    assert "Đã ghi vào CSDL" in out
    assert Student.objects.get(full_name="Võ Thị Mai").school == cast.school_a
    assert AuditEvent.objects.get(action="student.create").actor == clerk


def test_the_system_commits_without_an_account(cast: Cast, tmp_path: Path) -> None:
    result = json.loads(_run(_file(tmp_path, [pupil()]), "--school", cast.school_a.code,
                             "--json"))
    assert result["committed"] is True
    assert AuditEvent.objects.get(action="student.create").actor_label == "system"


def test_a_file_with_errors_is_not_committed(cast: Cast, clerk: User, tmp_path: Path) -> None:
    path = _file(tmp_path, [pupil(), pupil("Lê Văn Tư", class_name="9Z")])
    with pytest.raises(CommandError) as refused:
        _run(path, "--school", cast.school_a.code, "--as", "giao")
    assert "chưa ghi gì" in str(refused.value)
    assert not Student.objects.filter(full_name="Võ Thị Mai").exists()


def test_refusals_are_said_plainly(cast: Cast, clerk: User, tmp_path: Path) -> None:
    path = _file(tmp_path, [pupil()])
    with pytest.raises(CommandError, match="Không có tài khoản"):
        _run(path, "--school", cast.school_a.code, "--as", "ai-do")
    with pytest.raises(CommandError, match="không có quyền"):
        _run(path, "--school", cast.school_a.code, "--as", "bob")
    with pytest.raises(CommandError, match="Không tìm thấy"):
        _run(path, "--school", cast.school_b.code, "--as", "giao")
    with pytest.raises(CommandError, match="Không có trường"):
        _run(path, "--school", "KHONG-CO", "--as", "giao")
    with pytest.raises(CommandError, match="Không đọc được tệp"):
        _run(str(tmp_path / "khong-co.xlsx"), "--school", cast.school_a.code)
    not_a_workbook = tmp_path / "ghi-chu.txt"
    not_a_workbook.write_text("Danh sách")
    with pytest.raises(CommandError):
        _run(str(not_a_workbook), "--school", cast.school_a.code)
