"""Report definitions are data: the shipped ones load, bad ones are refused naming the problem,
and loading a changed definition makes a new version."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from edureg.audit.models import AuditEvent
from edureg.reports.models import ReportDefinition
from edureg.reports.services import (
    definition_get,
    definition_load,
    definitions_active,
    shipped_definition_files,
)
from edureg.reports.spec import DefinitionError, parse_spec, parse_toml
from tests.conftest import Cast

GOOD = """
format = 1
code = "hoc_sinh_ton_giao"
title = "Học sinh theo tôn giáo"
source = "pupils"
rows = "religion"
columns = "sex"
measures = ["pupils"]
filters = [{ field = "status", op = "flag", value = "active" }]
"""


def test_every_shipped_definition_is_valid_and_stored_by_the_migration(db: None) -> None:
    files = shipped_definition_files()
    assert len(files) >= 9
    codes = {parse_toml(path.read_text(encoding="utf-8")).code for path in files}
    stored = set(ReportDefinition.objects.filter(is_active=True).values_list("code", flat=True))
    assert codes <= stored
    assert {
        "hoc_sinh_khoi_gioi_tinh",
        "hoc_sinh_dan_toc",
        "hoc_sinh_khuyet_tat",
        "bien_dong_trang_thai",
        "can_bo_vi_tri_gioi_tinh",
        "can_bo_trinh_do",
        "can_bo_tuoi_gioi_tinh",
        "lop_si_so",
        "chat_luong_du_lieu",
    } <= codes


def _with(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "code": "bao_cao_thu",
        "title": "Thử",
        "source": "pupils",
        "rows": "grade",
        "measures": ["pupils"],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with(rows="full_name"), "Trường «full_name» (ở «rows») không có trong danh sách"),
        (_with(columns="personal_id_number"), "Trường «personal_id_number» (ở «columns»)"),
        (
            _with(filters=[{"field": "phone", "op": "eq", "value": "1"}]),
            "Trường «phone» (bộ lọc thứ 1)",
        ),
        (_with(measures=["salary"]), "Chỉ tiêu «salary» không có"),
        (_with(source="guardians"), "Nguồn dữ liệu «guardians» không có"),
        (_with(filters=[{"field": "grade", "op": "like", "value": "1"}]), "Phép lọc «like»"),
        (
            _with(filters=[{"field": "grade", "op": "flag", "value": "active"}]),
            "không theo danh mục",
        ),
        (_with(columns="sex", measures=["pupils", "pupils"]), "được nêu hai lần"),
        (
            _with(source="classes", columns="size_band", measures=["classes", "pupils"]),
            "chỉ nhận đúng một chỉ tiêu đếm",
        ),
        (_with(rows="sex", columns="sex"), "cùng một trường"),
        (_with(code="Báo cáo"), "Mã báo cáo"),
        (_with(sql="SELECT 1"), "Khoá không được hỗ trợ"),
        (_with(title=""), "«title»"),
    ],
)
def test_bad_definitions_are_refused_with_a_message_naming_the_problem(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(DefinitionError) as refused:
        parse_spec(data)
    assert message in refused.value.message


def test_a_definition_that_is_not_toml_is_refused() -> None:
    with pytest.raises(DefinitionError, match="không phải TOML"):
        parse_toml("code = ")


def test_loading_a_changed_definition_makes_a_new_version(db: None) -> None:
    first = definition_load(actor=None, text=GOOD)
    assert (first.code, first.version, first.is_active) == ("hoc_sinh_ton_giao", 1, True)
    assert definition_load(actor=None, text=GOOD).pk == first.pk  # unchanged: the same row
    second = definition_load(
        actor=None, text=GOOD.replace("Học sinh theo tôn giáo", "Học sinh chia theo tôn giáo")
    )
    assert second.version == 2
    first.refresh_from_db()
    assert not first.is_active
    assert second.is_active
    assert AuditEvent.objects.filter(action="report_definition.loaded").count() == 2


def test_only_the_authority_defines_reports(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        definition_load(actor=cast.alice, text=GOOD)
    assert definition_load(actor=cast.erin, text=GOOD).loaded_by_id == cast.erin.pk


def test_cli_loads_a_definition_and_lists_it(db: None, tmp_path: Path) -> None:
    path = tmp_path / "ton_giao.toml"
    path.write_text(GOOD, encoding="utf-8")
    out = io.StringIO()
    call_command("reports", "load", str(path), stdout=out)
    assert "hoc_sinh_ton_giao" in out.getvalue()
    out = io.StringIO()
    call_command("reports", "list", stdout=out)
    assert "Học sinh theo tôn giáo" in out.getvalue()


def test_cli_refuses_a_definition_with_an_unknown_field(db: None, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('rows = "religion"', 'rows = "home_address"'), encoding="utf-8")
    with pytest.raises(CommandError, match="home_address"):
        call_command("reports", "load", str(path))
    assert not ReportDefinition.objects.filter(code="hoc_sinh_ton_giao").exists()


def test_the_shipped_set_is_stored_again_when_the_table_was_emptied(db: None) -> None:
    """A database emptied after its migrations (a partial restore, a test flushing every
    table) still has the standard set the first time one is asked for."""
    ReportDefinition.objects.all().delete()
    shipped = {parse_toml(path.read_text(encoding="utf-8")).code
               for path in shipped_definition_files()}
    assert {d.code for d in definitions_active()} == shipped
    assert definition_get(sorted(shipped)[0]).version == 1
    assert ReportDefinition.objects.count() == len(shipped)  # stored once, not twice
