from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_code_lists.py"


@pytest.fixture(scope="module")
def build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_code_lists", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def test_shipped_curated_lists_match_the_build_script(build_script: ModuleType) -> None:
    # The curated lists are written by the script; a hand edit of the JSON (or of the script
    # without a rebuild and a new version) shows up here.
    list_files = [
        build_script.ethnicity_list(),
        build_script.religion_list(),
        *build_script.curated_small_lists(),
    ]
    for list_file in list_files:
        path = build_script.DATA_DIR / list_file.name / f"{list_file.version}.json"
        assert path.read_text(encoding="utf-8") == list_file.render(), path


@pytest.mark.parametrize(
    ("full_name", "short"),
    [
        ("Tỉnh Cà Mau", "Cà Mau"),
        ("Thành phố Hồ Chí Minh", "Hồ Chí Minh"),
        ("Phường Bến Thành", "Bến Thành"),
        ("Đặc khu Phú Quốc", "Phú Quốc"),
        ("Thị trấn Sa Pa", "Sa Pa"),
        ("Phường 1", None),
        ("Quận 10", None),
        ("Cà Mau", None),
    ],
)
def test_short_names_drop_the_unit_type(
    build_script: ModuleType, full_name: str, short: str | None
) -> None:
    assert build_script.short_name(full_name) == short


def test_the_script_refuses_to_change_a_released_version(
    build_script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_script, "DATA_DIR", tmp_path)
    list_file = build_script.religion_list()
    assert build_script.write(list_file, force=False).startswith("wrote")
    assert build_script.write(list_file, force=False).startswith("unchanged")
    list_file.entries.pop()
    with pytest.raises(SystemExit, match="immutable"):
        build_script.write(list_file, force=False)
    assert build_script.write(list_file, force=True).startswith("wrote")
