"""What the rules flag and what they leave alone: junk names and phones, the personal ID's
structure against the record, ages, and which fields are required where."""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from collections.abc import Mapping
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edureg.core.catalogue import DEFAULT_FILE, Catalogue, parse_catalogue
from edureg.core.codelists import get_list
from edureg.core.personal_id import check_personal_id
from edureg.quality.rules.catalogue import RuleSet, build_rule_set, load_parameters
from edureg.quality.rules.checks import TODAY
from edureg.quality.services import id_prefixes
from tests.quality.support import (
    column_role,
    columns_of,
    frame_outcomes,
    row_outcome,
    shipped_rule_set,
)

DAY = dt.date(2026, 11, 20)
START_YEAR = 2026
ACTIVE = "01"


def judge(entity: str, record: Mapping[str, Any], rules: RuleSet | None = None
          ) -> tuple[set[str], int]:
    """The codes of the problem rules the record violates and its required-field count, by the
    per-record path; the batch path must say the same of the record."""
    rule_set = rules or shipped_rule_set()
    entity_rules = rule_set.for_entity(entity)
    statuses = rule_set.status_rules(entity)
    full = dict.fromkeys(columns_of(entity_rules)) | {TODAY: DAY} | dict(record)
    single = row_outcome(entity_rules, statuses, full)

    def dtype(column: str) -> pl.DataType:
        role = column_role(column)
        return pl.Date() if role == "date" else pl.Int64() if role == "int" else pl.Utf8()

    frame = pl.DataFrame([pl.Series(column, [value], dtype=dtype(column))
                          for column, value in full.items()])
    assert frame_outcomes(entity_rules, statuses, frame) == [single]
    return set(single.violated), single.required_total


def codes_for(entity: str, record: Mapping[str, Any], prefix: str) -> set[str]:
    return {code for code in judge(entity, record)[0] if code.startswith(prefix)}


# --- names ------------------------------------------------------------------------------------

NAME_CASES = [
    ("test", {"placeholder"}),
    ("TEST", {"placeholder"}),
    ("  Test  ", {"placeholder"}),
    ("aaa", {"placeholder", "repeated"}),
    ("asdf", {"placeholder", "keyboard"}),
    ("qwerty", {"placeholder", "keyboard"}),
    ("Không  có", {"placeholder"}),
    ("Nguyễn Văn A", {"placeholder"}),
    ("Nguyễn Văn 2", {"characters"}),
    ("Trần @n", {"characters"}),
    ("Nguyễnnn", {"repeated"}),
    (unicodedata.normalize("NFD", "Nguyễnnn Thị"), {"repeated"}),
    ("Lê Asdfgh", {"keyboard"}),
]
REAL_NAMES = [
    "Nguyễn Văn An",
    "Trần Thị Bình",
    "Lê Thị Ánh Tuyết",
    "Đặng Thị Thuỳ Dương",
    unicodedata.normalize("NFD", "Nguyễn Thị Ánh Tuyết"),
    unicodedata.normalize("NFD", "Phạm Quốc Việt"),
    "Hờ A Pó",
    "Lò Văn Sính",
    "Y Niê",
    "H'Hen Niê",
    "Ksor H'Bia",
    "Giàng A Páo",
    "Mùa Thị Dợ",
    "Rơ Châm Y Hồng",
]
ENTITIES = ("student", "guardian", "staff")


@pytest.mark.parametrize("entity", ENTITIES)
@pytest.mark.parametrize(("name", "kinds"), NAME_CASES, ids=[n for n, _ in NAME_CASES])
def test_junk_name_is_flagged(entity: str, name: str, kinds: set[str]) -> None:
    found = codes_for(entity, {"full_name": name}, f"sach.{entity}.full_name.")
    assert found == {f"sach.{entity}.full_name.{kind}" for kind in kinds}


@pytest.mark.parametrize("entity", ENTITIES)
@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_vietnamese_name_is_not_flagged(entity: str, name: str) -> None:
    assert codes_for(entity, {"full_name": name}, f"sach.{entity}.full_name.") == set()


@pytest.mark.parametrize(("address", "flagged"), [
    ("asdf", True), ("ASDFGH 12", True), ("không có", True), ("...", True), ("xxx", True),
    ("0", True), ("Đường Aaa", True),
    ("12 Lê Lợi, phường Bến Thành", False), ("Thôn 3, xã Ea Kao", False),
    ("Bản Hờ A, xã Mường Nhé", False), ("222 Lê Lợi", False), ("", False), (None, False),
])
def test_junk_address_is_flagged_and_a_real_one_is_not(address: str | None,
                                                        flagged: bool) -> None:
    found = codes_for("student", {"permanent_address": address}, "sach.student.permanent_address")
    assert found == ({"sach.student.permanent_address.junk"} if flagged else set())


# --- phones -----------------------------------------------------------------------------------

# A phone with the same digit as many times in a row as the parameters call dummy, and one less.
_REPEATS = load_parameters().raw["junk"]["phone_repeated_digits"]
_RUN = ("09" + "6" * _REPEATS + "12345678")[:10]
_SHORT_RUN = ("09" + "6" * (_REPEATS - 1) + "12345678")[:10]

@pytest.mark.parametrize("entity", ENTITIES)
@pytest.mark.parametrize(("phone", "kinds"), [
    ("0000000000", {"format", "dummy"}),
    ("0123456789", {"format", "dummy"}),
    ("1111111111", {"format", "dummy"}),
    ("0912345678", {"dummy"}),
    ("0999999999", {"dummy"}),
    (_RUN, {"dummy"}),
    (_SHORT_RUN, set()),
    ("090312345", {"format"}),
    ("+84903123456", {"format"}),
    ("0403123456", {"format"}),
    ("0903123456", set()),
    ("0356789012", set()),
    ("0868123457", set()),
    ("02838123456", set()),
    ("02253823456", set()),
    ("", set()),
])
def test_dummy_and_malformed_phones_are_flagged_real_numbers_are_not(
        entity: str, phone: str, kinds: set[str]) -> None:
    rules = {"format": f"dung.{entity}.phone.format", "dummy": f"sach.{entity}.phone.dummy"}
    found = judge(entity, {"phone": phone})[0] & set(rules.values())
    assert found == {rules[kind] for kind in kinds}


# --- personal ID structure: PPP G YY RRRRRR ---------------------------------------------------

ID_CASES = [
    # (number, sex, year of birth, expected warnings)
    ("079206001234", "M", 2006, set()),
    ("079306001234", "F", 2006, set()),
    ("001085001234", "M", 1985, set()),
    ("001185001234", "F", 1985, set()),
    ("101206001234", "M", 2006, set()),  # registered abroad
    ("079206001234", "F", 2006, {"sex"}),
    ("079306001234", "M", 2006, {"sex"}),
    ("001085001234", "F", 1985, {"sex"}),
    ("079206001234", "M", 2007, {"year"}),
    ("079006001234", "M", 2006, {"year"}),  # G=0: born in the 1900s
    ("079106001234", "M", 2006, {"sex", "year"}),
    ("300206001234", "M", 2006, {"prefix"}),
    ("999306001234", "M", 2007, {"prefix", "sex", "year"}),
    ("079206001234", "", None, set()),  # nothing to compare with
    ("07920600123", "M", 2006, {"format"}),
    ("07920600123X", "M", 2006, {"format"}),
]


@pytest.mark.parametrize("entity", ["student", "staff"])
@pytest.mark.parametrize(("number", "sex", "year", "kinds"), ID_CASES,
                         ids=[f"{n}-{s}-{y}" for n, s, y, _ in ID_CASES])
def test_personal_id_structure_disagreeing_with_the_record_is_a_warning(
        entity: str, number: str, sex: str, year: int | None, kinds: set[str]) -> None:
    record = {"personal_id_number": number, "sex": sex,
              "date_of_birth": dt.date(year, 5, 17) if year else None}
    found = codes_for(entity, record, f"dung.{entity}.personal_id_number.")
    assert found == {f"dung.{entity}.personal_id_number.{kind}" for kind in kinds}
    rule_set = shipped_rule_set()
    severities = {rule_set.get(code).severity.value for code in found - {
        f"dung.{entity}.personal_id_number.format"}}
    assert severities <= {"warning"}


@pytest.mark.parametrize(("number", "flagged"), [
    ("079206001234", set()), ("300206001234", {"prefix"}), ("12345", {"format"}),
])
def test_guardian_personal_id_is_checked_for_format_and_prefix(number: str,
                                                               flagged: set[str]) -> None:
    found = codes_for("guardian", {"personal_id_number": number},
                      "dung.guardian.personal_id_number.")
    assert found == {f"dung.guardian.personal_id_number.{kind}" for kind in flagged}


_CORE_WARNING = {"unknown_place_prefix": "prefix", "sex_mismatch": "sex",
                 "birth_year_mismatch": "year"}


@given(prefix=st.sampled_from([*id_prefixes(), "000", "300", "999", "296"]),
       digit=st.integers(0, 5), yy=st.integers(0, 99), rest=st.integers(0, 999_999),
       sex=st.sampled_from(["M", "F", ""]),
       born=st.none() | st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)))
def test_structure_rules_warn_exactly_where_the_core_id_check_warns(
        prefix: str, digit: int, yy: int, rest: int, sex: str, born: dt.date | None) -> None:
    number = f"{prefix}{digit}{yy:02d}{rest:06d}"
    core = {_CORE_WARNING[w.code] for w in check_personal_id(number, date_of_birth=born,
                                                             sex=sex or None)}
    found = codes_for("student", {"personal_id_number": number, "sex": sex,
                                  "date_of_birth": born}, "dung.student.personal_id_number.")
    assert found == {f"dung.student.personal_id_number.{kind}" for kind in core}


# --- ages -------------------------------------------------------------------------------------

def _pupil(grade: int | None, born: int) -> dict[str, Any]:
    return {"grade": grade, "start_year": START_YEAR, "date_of_birth": dt.date(born, 1, 1),
            "status_code": ACTIVE}


@pytest.mark.parametrize(("grade", "born", "flagged"), [
    (1, 2020, False), (1, 2019, False), (1, 2021, True), (1, 2018, True),
    (5, 2016, False), (5, 2015, False), (5, 2017, True), (5, 2014, True),
    (9, 2012, False), (9, 2010, True), (12, 2009, False), (12, 2008, False), (12, 2007, True),
    (None, 2000, False),  # no current enrolment: no grade to compare with
])
def test_pupil_age_by_calendar_year_must_fit_the_grade(grade: int | None, born: int,
                                                       flagged: bool) -> None:
    found = codes_for("student", _pupil(grade, born), "dung.student.date_of_birth.")
    assert found == ({"dung.student.date_of_birth.grade"} if flagged else set())


@pytest.mark.parametrize(("born", "flagged"), [
    (2025, False), (2023, False), (2020, False), (2026, True), (2019, True),
])
def test_preschool_age_must_be_one_to_six(born: int, flagged: bool) -> None:
    found = codes_for("student", _pupil(0, born), "dung.student.date_of_birth.")
    assert found == ({"dung.student.date_of_birth.preschool"} if flagged else set())


@given(grade=st.integers(1, 12), born=st.integers(1990, 2026))
def test_grade_rule_flags_exactly_the_ages_outside_five_to_six_plus_grade(grade: int,
                                                                          born: int) -> None:
    found = codes_for("student", _pupil(grade, born), "dung.student.date_of_birth.grade")
    assert bool(found) == (not 5 <= START_YEAR - born - grade <= 6)


@pytest.mark.parametrize(("guardian_born", "child_born", "flagged"), [
    (2004, 2018, False), (2005, 2018, True), (1943, 2018, False), (1942, 2018, True),
    (1985, 2018, False), (2018, 2018, True), (None, 2018, False), (1985, None, False),
])
def test_guardian_must_be_fourteen_to_seventy_five_years_older_than_the_child(
        guardian_born: int | None, child_born: int | None, flagged: bool) -> None:
    record = {"birth_year": guardian_born,
              "child_birth": dt.date(child_born, 1, 1) if child_born else None}
    found = codes_for("guardian", record, "dung.guardian.birth_year.child")
    assert found == ({"dung.guardian.birth_year.child"} if flagged else set())


@pytest.mark.parametrize(("born", "flagged"), [
    (dt.date(1990, 1, 1), False), (dt.date(2008, 1, 1), False), (dt.date(2009, 1, 1), True),
    (dt.date(1961, 1, 1), False), (dt.date(1960, 1, 1), True),
])
def test_staff_working_age_is_eighteen_to_sixty_five(born: dt.date, flagged: bool) -> None:
    found = codes_for("staff", {"date_of_birth": born}, "dung.staff.date_of_birth.age")
    assert found == ({"dung.staff.date_of_birth.age"} if flagged else set())


@pytest.mark.parametrize(("born", "flagged"), [
    (dt.date(1899, 12, 31), True), (dt.date(1900, 1, 1), False), (DAY, False),
    (DAY + dt.timedelta(days=1), True),
])
def test_birth_date_before_1900_or_after_today_is_an_error(born: dt.date, flagged: bool) -> None:
    found = codes_for("student", {"date_of_birth": born}, "dung.student.date_of_birth.range")
    assert found == ({"dung.student.date_of_birth.range"} if flagged else set())
    assert shipped_rule_set().get("dung.student.date_of_birth.range").severity.value == "error"


# --- required fields --------------------------------------------------------------------------

STATUSES = [entry.code for entry in get_list("enrolment_status").entries]
LEVELS = [entry.code for entry in get_list("school_level").entries]


@pytest.mark.parametrize("status", [*STATUSES, None])
def test_education_id_is_required_only_while_enrolled(status: str | None) -> None:
    found = codes_for("student", {"status_code": status, "education_id": ""},
                      "du.student.education_id")
    required = status in {"01", "02", "06", "07"}
    assert found == ({"du.student.education_id"} if required else set())


@pytest.mark.parametrize("entity", ENTITIES)
@pytest.mark.parametrize("status", [*STATUSES, None])
@pytest.mark.parametrize("level", [*LEVELS, None])
def test_required_count_is_the_catalogue_required_fields_for_level_and_status(
        entity: str, level: str | None, status: str | None) -> None:
    catalogue = parse_catalogue(DEFAULT_FILE.read_text(encoding="utf-8"))
    violated, total = judge(entity, {"school_level": level, "status_code": status})
    required = catalogue.required(entity, level=level, status=status)
    assert total == len(required)
    assert {code for code in violated if code.startswith("du.")} == {
        f"du.{entity}.{info.name}" for info in required}


def _catalogue_with_level_rule() -> Catalogue:
    shipped = parse_catalogue(DEFAULT_FILE.read_text(encoding="utf-8"))
    fields = tuple(
        dataclasses.replace(info, required=True, required_levels=("thcs", "thpt"),
                            required_statuses=("01", "02"))
        if (info.entity, info.name) == ("student", "phone") else info
        for info in shipped.fields)
    return dataclasses.replace(shipped, version="test-levels", fields=fields)


@pytest.mark.parametrize(("level", "status", "required"), [
    ("thcs", "01", True), ("thpt", "02", True), ("tieu_hoc", "01", False),
    ("mam_non", "01", False), ("thcs", "03", False), ("thpt", None, False), (None, "01", False),
])
def test_a_field_required_for_some_levels_and_statuses_is_required_only_there(
        level: str | None, status: str | None, required: bool) -> None:
    rules = build_rule_set(
        _catalogue_with_level_rule(),
        code_lists=lambda name: [entry.code for entry in get_list(name).entries],
        id_prefixes=id_prefixes(), parameters=load_parameters())
    record = {"school_level": level, "status_code": status, "phone": " "}
    violated, total = judge("student", record, rules)
    _, total_without = judge("student", record)
    assert ("du.student.phone" in violated) is required
    assert total == total_without + required


@pytest.mark.parametrize(("value", "missing"), [
    (None, True), ("", True), ("   ", True), ("\u00a0", True), ("Kinh", False), ("01", False),
])
def test_blank_text_counts_as_missing(value: str | None, missing: bool) -> None:
    violated, _ = judge("student", {"ethnicity_code": value})
    assert ("du.student.ethnicity_code" in violated) is missing
