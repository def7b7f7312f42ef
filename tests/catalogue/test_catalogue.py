from __future__ import annotations

import pytest

from edureg.core.catalogue import (
    DEFAULT_FILE,
    CatalogueError,
    active_catalogue,
    catalogue_activate,
    catalogue_load,
    parse_catalogue,
)


def test_default_catalogue_is_loaded_by_migrations(db: None) -> None:
    catalogue = active_catalogue()
    assert catalogue.version == "2025.1"
    assert {"ethnicity_code", "religion_code", "disability_code"} <= catalogue.sensitive_names(
        "student")
    assert "personal_id_number" in catalogue.identifying_names("student")
    assert all(f.label and f.legal_basis for f in catalogue.fields)


def test_required_fields_depend_on_status(db: None) -> None:
    catalogue = active_catalogue()
    studying = {f.name for f in catalogue.required("student", level="tieu_hoc", status="01")}
    left = {f.name for f in catalogue.required("student", level="tieu_hoc", status="03")}
    assert "education_id" in studying
    assert "education_id" not in left
    assert "full_name" in left


def test_a_new_version_can_be_loaded_and_activated(db: None) -> None:
    text = DEFAULT_FILE.read_text(encoding="utf-8").replace(
        'version = "2025.1"', 'version = "2026.1"').replace(
        'name = "religion_code"\nlabel = "Tôn giáo"\ncategory = "religion"\n'
        'sensitivity = "sensitive"\nrequired = false',
        'name = "religion_code"\nlabel = "Tôn giáo"\ncategory = "religion"\n'
        'sensitivity = "sensitive"\nrequired = true', 1)
    catalogue_load(text)
    assert active_catalogue().version == "2026.1"
    assert active_catalogue().get("student", "religion_code").required  # type: ignore[union-attr]
    catalogue_activate("2025.1")
    assert active_catalogue().version == "2025.1"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version = ", "TOML"),
        ("[[fields]]\nentity='student'", "version"),
        ('version="x"\n[[update_groups]]\ncode="y"\nlabel="Y"\n[[fields]]\nentity="pupil"\n'
         'name="a"\nlabel="A"\ncategory="c"\nsensitivity="basic"\nupdate_group="y"', "đối tượng"),
        ('version="x"\n[[update_groups]]\ncode="y"\nlabel="Y"\n[[fields]]\nentity="student"\n'
         'name="a"\nlabel="A"\ncategory="c"\nsensitivity="secret"\nupdate_group="y"', "nhạy cảm"),
        ('version="x"\n[[fields]]\nentity="student"\nname="a"\nlabel="A"\ncategory="c"\n'
         'sensitivity="basic"\nupdate_group="nope"', "nhóm cập nhật"),
    ],
)
def test_bad_catalogue_files_are_rejected_with_a_vietnamese_reason(text: str,
                                                                   fragment: str) -> None:
    with pytest.raises(CatalogueError, match=fragment):
        parse_catalogue(text)


def test_loading_an_existing_version_changes_nothing(db: None) -> None:
    with pytest.raises(CatalogueError):
        catalogue_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    assert active_catalogue().version == "2025.1"
