"""Record linkage: Vietnamese feature helpers and the Fellegi–Sunter engine on synthetic people."""

from __future__ import annotations

import dataclasses
import random
import unicodedata
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edureg.dedupe.features import (
    birth_year,
    date_key,
    date_relation,
    family_name_key,
    given_name_key,
    guardian_features,
    middle_names_key,
    name_key,
    normalise_match_text,
    prepare_person_frame,
    swapped_date_key,
)
from edureg.dedupe.matching import (
    PERSONAL_ID_M,
    BlockingRule,
    LinkageSpec,
    find_pairs,
    identifier_comparison,
    link_pairs,
    person_spec,
    predict,
    shared_values_comparison,
    string_comparison,
)

NFD = "unicodedata NFD"


def nfd(value: str) -> str:
    return unicodedata.normalize("NFD", value)


# --- feature helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nguyễn Thị Ánh", "nguyễn thị ánh"),
        (nfd("Nguyễn Thị Ánh"), "nguyễn thị ánh"),
        ("NGUYỄN THỊ ÁNH", "nguyễn thị ánh"),
        ("  Nguyễn   Thị\u00a0Ánh ", "nguyễn thị ánh"),
        ("Ng.Văn-An", "ng văn an"),
        ("Trần\u200bVăn", "trầnvăn"),
        ("   ", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_match_text(raw: str | None, expected: str | None) -> None:
    assert normalise_match_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "key", "family", "middle", "given"),
    [
        ("Nguyễn Thị Ánh", "nguyen thi anh", "nguyen", "thi", "anh"),
        (nfd("Nguyễn Thị Ánh"), "nguyen thi anh", "nguyen", "thi", "anh"),
        ("NGUYỄN THỊ ÁNH", "nguyen thi anh", "nguyen", "thi", "anh"),
        (" nguyen  thi   anh ", "nguyen thi anh", "nguyen", "thi", "anh"),
        ("Đặng Đức Đạt", "dang duc dat", "dang", "duc", "dat"),
        # Misplaced tone mark (hoà / hòa) folds to the same key.
        ("Lê Hoà", "le hoa", "le", None, "hoa"),
        ("Lê Hòa", "le hoa", "le", None, "hoa"),
        ("Tôn Nữ Thị Hà My", "ton nu thi ha my", "ton", "nu thi ha", "my"),
        ("Mai", "mai", None, None, "mai"),
        ("", None, None, None, None),
        (None, None, None, None, None),
    ],
)
def test_name_keys(
    raw: str | None, key: str | None, family: str | None, middle: str | None, given: str | None
) -> None:
    assert name_key(raw) == key
    assert family_name_key(raw) == family
    assert middle_names_key(raw) == middle
    assert given_name_key(raw) == given


@pytest.mark.parametrize(
    ("raw", "key", "swapped", "year"),
    [
        ("2015-09-02", "20150902", "20150209", 2015),
        ("02/09/2015", "20150902", "20150209", 2015),
        ("20150902", "20150902", "20150209", 2015),
        (date(2015, 9, 2), "20150902", "20150209", 2015),
        (" 2/9/2015 ", "20150902", "20150209", 2015),
        # Typed month-first: still usable, so a day/month swap can be recognised.
        ("2015-13-05", "20151305", "20150513", 2015),
        ("2015-13-14", None, None, None),
        ("không rõ", None, None, None),
        ("", None, None, None),
        (None, None, None, None),
    ],
)
def test_date_features(
    raw: str | date | None, key: str | None, swapped: str | None, year: int | None
) -> None:
    assert date_key(raw) == key
    assert swapped_date_key(raw) == swapped
    assert birth_year(raw) == year


@pytest.mark.parametrize(
    ("left", "right", "relation"),
    [
        ("2015-09-02", "02/09/2015", "exact"),
        ("2015-09-02", "2015-02-09", "day_month_swapped"),
        ("2015-09-02", "2015-09-03", "one_digit"),
        ("2015-09-02", "2015-11-20", "same_year"),
        ("2015-09-02", "2016-09-02", "one_digit"),
        ("2015-09-02", "2011-01-01", "different"),
        ("2015-09-02", None, "missing"),
        (None, None, "missing"),
        ("", "", "missing"),
    ],
)
def test_date_relation(left: str | None, right: str | None, relation: str) -> None:
    assert date_relation(left, right) == relation


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()))
def test_feature_helpers_never_crash_on_odd_text(left: str | None, right: str | None) -> None:
    for helper in (
        normalise_match_text,
        name_key,
        family_name_key,
        middle_names_key,
        given_name_key,
    ):
        result = helper(left)
        assert result is None or (result and result == result.strip())
    key = date_key(left)
    assert key is None or (len(key) == 8 and key.isdigit())
    assert swapped_date_key(left) is None or key is not None
    assert birth_year(left) is None or key is not None
    assert date_relation(left, right) in {
        "exact",
        "day_month_swapped",
        "one_digit",
        "same_year",
        "different",
        "missing",
    }


# --- engine on synthetic people -------------------------------------------------------------

FAMILY = (
    ["Nguyễn"] * 38
    + ["Trần"] * 11
    + ["Lê"] * 9
    + ["Phạm"] * 7
    + [
        "Hoàng",
        "Huỳnh",
        "Phan",
        "Vũ",
        "Võ",
        "Đặng",
        "Bùi",
        "Đỗ",
        "Hồ",
        "Ngô",
        "Dương",
        "Lý",
    ]
)
MIDDLE = ["Văn", "Thị", "Thị", "Văn", "Minh", "Ngọc", "Đức", "Thanh", "Hoàng", "Gia", "Bảo", ""]
GIVEN = [
    "An",
    "Anh",
    "Bình",
    "Châu",
    "Dũng",
    "Duy",
    "Giang",
    "Hà",
    "Hải",
    "Hân",
    "Hiếu",
    "Hoa",
    "Hùng",
    "Huy",
    "Khang",
    "Khánh",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Minh",
    "My",
    "Nam",
    "Ngân",
    "Nhi",
    "Phúc",
    "Phương",
    "Quân",
    "Quang",
    "Sơn",
    "Tâm",
    "Thảo",
    "Trang",
    "Tú",
    "Tuấn",
    "Vy",
]


def _strip_tones(name: str) -> str:
    """A typist who drops all diacritics (and đ)."""
    return name_key(name) or ""


def _population(size: int, seed: int) -> list[dict[str, str | None]]:
    rng = random.Random(seed)
    people = []
    for index in range(size):
        middle = rng.choice(MIDDLE)
        name = " ".join(part for part in (rng.choice(FAMILY), middle, rng.choice(GIVEN)) if part)
        born = date(2008, 1, 1).toordinal() + rng.randrange(12 * 365)
        young = rng.random() < 0.25
        people.append(
            {
                "pid": f"p{index}",
                "name": name,
                "dob": date.fromordinal(born).isoformat(),
                # Young children often have no personal ID number yet.
                "cccd": None if young else f"0{rng.randrange(10**10, 10**11)}",
            }
        )
    return people


def _corrupt(person: dict[str, str | None], how: str, pid: str) -> dict[str, str | None]:
    copy = dict(person, pid=pid)
    name, dob = str(person["name"]), str(person["dob"])
    if how == "no_diacritics":
        copy["name"] = _strip_tones(name).upper()
    elif how == "nfd_spaces":
        copy["name"] = "  " + nfd(name).replace(" ", "   ")
    elif how == "swap_day_month":
        year, month, day = dob.split("-")
        if int(day) <= 12:
            copy["dob"] = f"{year}-{day}-{month}"
        else:
            copy["dob"] = f"{day}/{month}/{year}"  # same date, Vietnamese format
    elif how == "missing_id_tone_moved":
        # "Thảo" typed "Thạo", "An" typed "Ạn": a wrong tone mark on the given name.
        copy["cccd"] = None
        parts = name.split()
        folded = name_key(parts[-1]) or parts[-1]
        vowel = next((i for i, char in enumerate(folded) if char in "aeiouy"), 0)
        given = folded[: vowel + 1] + "\u0323" + folded[vowel + 1 :]
        copy["name"] = " ".join([*parts[:-1], given.capitalize()])
    elif how == "family_typo":
        parts = name.split()
        parts[0] = parts[0][:-1] + ("x" if parts[0][-1] != "x" else "y")
        copy["name"] = " ".join(parts)
    elif how == "missing_middle":
        parts = name.split()
        copy["name"] = f"{parts[0]} {parts[-1]}"
    elif how == "missing_dob":
        copy["dob"] = None
    return copy


HOW = [
    "no_diacritics",
    "nfd_spaces",
    "swap_day_month",
    "missing_id_tone_moved",
    "missing_middle",
    "missing_dob",
    "family_typo",
]


def _has_evidence(person: dict[str, str | None], how: str) -> bool:
    """Whether a duplicate made this way still carries more than a name: a name alone (date
    and ID missing) must not make a match."""
    return not (how == "missing_dob" and person["cccd"] is None)


def _fast(spec: LinkageSpec) -> LinkageSpec:
    # Tests are small: 100 k random pairs give u with plenty of precision.
    return dataclasses.replace(spec, u_sample_pairs=100_000)


def _frame(rows: list[dict[str, str | None]]) -> pl.DataFrame:
    raw = pl.DataFrame(
        rows, schema={"pid": pl.String, "name": pl.String, "dob": pl.String, "cccd": pl.String}
    )
    return prepare_person_frame(
        raw,
        id_column="pid",
        full_name_column="name",
        date_of_birth_column="dob",
        id_number_column="cccd",
    )


Rows = list[dict[str, str | None]]
Pair = tuple[str, str]


def _planted(size: int, duplicates: int, seed: int) -> tuple[Rows, Rows, set[Pair], set[Pair]]:
    """(originals, duplicates, true pairs, true pairs that carry more than a name)."""
    people = _population(size, seed=seed)
    rng = random.Random(seed + 1)
    copies: Rows = []
    truth: set[Pair] = set()
    findable: set[Pair] = set()
    for number, original in enumerate(rng.sample(people, duplicates)):
        how = HOW[number % len(HOW)]
        pid = f"d{number}"
        copies.append(_corrupt(original, how, pid))
        pair = (str(original["pid"]), pid)
        truth.add(pair)
        if _has_evidence(original, how):
            findable.add(pair)
    return people, copies, truth, findable


@pytest.fixture(scope="module")
def planted() -> tuple[pl.DataFrame, set[Pair], set[Pair], Rows]:
    people, copies, truth, findable = _planted(3000, 140, seed=7)
    rows = people + copies
    random.Random(11).shuffle(rows)
    return _frame(rows), truth, findable, rows


@pytest.fixture(scope="module")
def predicted(planted: tuple[pl.DataFrame, set[Pair], set[Pair], Rows]) -> pl.DataFrame:
    return find_pairs(planted[0], _fast(person_spec()))


def _pair_set(pairs: pl.DataFrame) -> set[Pair]:
    return {
        (a, b) if b.startswith("d") else (b, a)
        for a, b in zip(pairs["left_id"].to_list(), pairs["right_id"].to_list(), strict=True)
    }


def _chance_twins(people: Rows, pairs: set[Pair]) -> bool:
    """Whether every pair is two distinct people that the data cannot tell apart: same family
    name, given name and date of birth, an ID missing on a side, a middle name missing on one
    side or equal. Pairing those is the right call on the evidence."""
    by_id = {str(person["pid"]): person for person in people}
    for left, right in pairs:
        a, b = by_id.get(left), by_id.get(right)
        if a is None or b is None or (a["cccd"] and b["cccd"]):
            return False
        if (family_name_key(a["name"]), given_name_key(a["name"]), a["dob"]) != (
            family_name_key(b["name"]),
            given_name_key(b["name"]),
            b["dob"],
        ):
            return False
        middles = {middle_names_key(a["name"]), middle_names_key(b["name"])}
        if len(middles) > 1 and None not in middles:
            return False
    return True


def test_finds_planted_duplicates(
    planted: tuple[pl.DataFrame, set[Pair], set[Pair], Rows], predicted: pl.DataFrame
) -> None:
    _, truth, findable, rows = planted
    found = _pair_set(predicted)
    assert len(found & findable) / len(findable) >= 0.97
    assert _chance_twins(rows, found - truth)
    assert predicted.columns[:5] == [
        "left_id",
        "right_id",
        "match_probability",
        "match_weight",
        "explanation",
    ]
    assert predicted["match_probability"].min() >= 0.5  # type: ignore[operator]
    assert (predicted["left_id"] != predicted["right_id"]).all()


@pytest.mark.parametrize("how", HOW)
def test_each_kind_of_error_is_found(
    planted: tuple[pl.DataFrame, set[Pair], set[Pair], Rows], predicted: pl.DataFrame, how: str
) -> None:
    _, _, findable, _ = planted
    kind = {pair for pair in findable if int(pair[1][1:]) % len(HOW) == HOW.index(how)}
    assert len(_pair_set(predicted) & kind) >= len(kind) - 1, how


def test_name_alone_is_not_a_match(
    planted: tuple[pl.DataFrame, set[Pair], set[Pair], Rows], predicted: pl.DataFrame
) -> None:
    _, truth, findable, _ = planted
    assert truth - findable  # some duplicates lost both their date and ID …
    assert not (_pair_set(predicted) & (truth - findable))  # … and are left for a person


def test_explanation_names_agreeing_and_missing_fields(predicted: pl.DataFrame) -> None:
    explanations = predicted["explanation"].to_list()
    assert any("agreed: " in text and "dob" in text for text in explanations)
    assert any("missing: " in text and "id_number" in text for text in explanations)
    assert any("dob (day_month_swapped)" in text for text in explanations)


@pytest.fixture(scope="module")
def population() -> Rows:
    people, copies, _, _ = _planted(2500, 120, seed=3)
    return people + copies


# (left record, right record, whether they should match): name, date of birth, ID number.
PAIR_CASES: list[
    tuple[tuple[str, str | None, str | None], tuple[str, str | None, str | None], bool]
] = [
    # Same common name, same birth year, different dates and IDs: two pupils.
    (
        ("Nguyễn Văn An", "2014-03-02", "001214000001"),
        ("Nguyễn Văn An", "2014-07-19", "001214000777"),
        False,
    ),
    # Common name only; dates and IDs missing on both sides: not evidence.
    (("Nguyễn Thị Linh", None, None), ("Nguyễn Thị Linh", None, None), False),
    # No ID on one side, name without diacritics, day and month swapped: a duplicate.
    (
        ("Trần Minh Khang", "2013-05-04", "001213000123"),
        ("TRAN MINH KHANG", "2013-04-05", None),
        True,
    ),
    # Same ID, middle name missing, one-digit typo in the date: a duplicate.
    (
        ("Phạm Ngọc Hân", "2011-06-21", "001211004567"),
        ("Phạm Hân", "2011-06-27", "001211004567"),
        True,
    ),
]


@pytest.fixture(scope="module")
def scored_cases(population: Rows) -> pl.DataFrame:
    """All cases added to one planted population and scored in one run (fast)."""
    people = list(population)
    for number, (left, right, _) in enumerate(PAIR_CASES):
        for side, (name, dob, cccd) in (("l", left), ("r", right)):
            people.append({"pid": f"x{number}{side}", "name": name, "dob": dob, "cccd": cccd})
    spec = _fast(person_spec())
    # Compare each case's two records whatever the blocking would do, to test the scores.
    spec = dataclasses.replace(
        spec, blocking_rules=(*spec.blocking_rules, BlockingRule(('"given"', '"family"')))
    )
    return find_pairs(_frame(people), spec, min_probability=0.0)


@pytest.mark.parametrize("case", range(len(PAIR_CASES)))
def test_pairs_against_a_population(scored_cases: pl.DataFrame, case: int) -> None:
    ids = [f"x{case}l", f"x{case}r"]
    match = scored_cases.filter(pl.col("left_id").is_in(ids) & pl.col("right_id").is_in(ids))
    assert match.height == 1
    expect_match = PAIR_CASES[case][2]
    assert (float(match["match_probability"][0]) >= 0.5) == expect_match, match.to_dicts()


def test_missing_values_never_agree(population: Rows) -> None:
    """Records whose only shared values are a common name and empty fields do not match."""
    people = list(population)
    for index in range(20):
        people.append({"pid": f"empty{index}", "name": "Nguyễn Văn An", "dob": "", "cccd": " "})
    spec = _fast(person_spec())
    spec = dataclasses.replace(
        spec, blocking_rules=(*spec.blocking_rules, BlockingRule(('"full_key"',)))
    )
    pairs = find_pairs(_frame(people), spec, min_probability=0.0)
    empties = pairs.filter(
        pl.col("left_id").str.starts_with("empty") & pl.col("right_id").str.starts_with("empty")
    )
    assert empties.height == 20 * 19 // 2
    assert empties["match_probability"].max() < 0.5  # type: ignore[operator]
    # The empty fields are level -1 (missing), never agreement.
    assert set(empties["gamma_dob"].to_list()) == {-1}
    assert set(empties["gamma_id_number"].to_list()) == {-1}
    assert all("missing: dob, id_number" in text for text in empties["explanation"].to_list())
    # With the default rules (no block on a name alone) they are not even compared.
    default = find_pairs(_frame(people), _fast(person_spec()), min_probability=0.0)
    assert (
        default.filter(
            pl.col("left_id").str.starts_with("empty") & pl.col("right_id").str.starts_with("empty")
        ).height
        == 0
    )


def test_link_two_files() -> None:
    people, copies, truth, findable = _planted(2000, 100, seed=9)
    newcomers = _population(400, seed=10)
    for row in newcomers:
        row["pid"] = f"new{row['pid']}"
    pairs = link_pairs(_frame(people), _frame(copies + newcomers), _fast(person_spec()))
    found = set(zip(pairs["left_id"].to_list(), pairs["right_id"].to_list(), strict=True))
    assert len(found & findable) >= len(findable) - 2
    assert len(found - truth) <= 3


def test_blocking_never_joins_on_empty_keys() -> None:
    frame = pl.DataFrame(
        {"id": ["a", "b", "c"], "name": ["", None, "lan"], "town": ["x", "x", "y"]}
    )
    spec = LinkageSpec(
        id_column="id",
        comparisons=(string_comparison("name"), string_comparison("town")),
        blocking_rules=(BlockingRule(('"name"',)),),
        u_sample_pairs=10,
    )
    assert find_pairs(frame, spec, min_probability=0.0).height == 0


def test_two_different_id_numbers_weigh_heavily_against_a_match(population: Rows) -> None:
    """Same name and birth date but two unrelated ID numbers: the register gives a number to
    one citizen only, so "different" weighs what its fixed m says (EM sees no duplicate with
    two numbers to learn it from) — about 7.6 bits against, enough in a city where namesakes
    born the same day are many; the same pair with one number missing has no such weight."""
    people = [*population,
              {"pid": "a", "name": "Trần Kim Hạnh", "dob": "2017-02-15", "cccd": "079317412671"},
              {"pid": "b", "name": "Trần Kim Hạnh", "dob": "2017-02-15", "cccd": "079317513491"},
              {"pid": "c", "name": "Trần Kim Hạnh", "dob": "2017-02-15", "cccd": None}]
    spec = _fast(person_spec())
    pairs, parameters = predict(_frame(people), None, spec, min_probability=0.0)
    index = next(i for i, c in enumerate(spec.comparisons) if c.name == "id_number")
    assert parameters.m[index].tolist() == list(PERSONAL_ID_M)

    def weight(left: str, right: str) -> float:
        row = pairs.filter(pl.col("left_id").is_in([left, right])
                           & pl.col("right_id").is_in([left, right]))
        return float(row["match_weight"][0])

    against = weight("a", "b") - weight("a", "c")
    assert against == pytest.approx(parameters.level_weights()[index][-1])
    assert against < -7.5


def test_fixed_m_must_be_one_value_per_level_summing_to_one() -> None:
    with pytest.raises(ValueError, match="fixed_m"):
        identifier_comparison("x", fixed_m=(0.5, 0.5))
    with pytest.raises(ValueError, match="fixed_m"):
        identifier_comparison("x", fixed_m=(0.5, 0.5, 0.5, 0.5))


def test_shared_values_levels_and_missing_lists() -> None:
    frame = pl.DataFrame({
        "id": ["a", "b", "c", "d", "e"],
        "family": ["x"] * 5,
        "parents": [["lan", "minh"], ["lan", "minh"], ["minh", "tuan"], ["ha"], None],
    })
    spec = LinkageSpec(id_column="id", comparisons=(shared_values_comparison("parents"),),
                       blocking_rules=(BlockingRule(('"family"',)),), u_sample_pairs=100)
    pairs = find_pairs(frame, spec, min_probability=0.0)
    level = {(row["left_id"], row["right_id"]): row["gamma_parents"]
             for row in pairs.iter_rows(named=True)}
    level = {tuple(sorted(key)): value for key, value in level.items()}
    assert level[("a", "b")] == 0  # two shared
    assert level[("a", "c")] == 1  # one shared
    assert level[("a", "d")] == 2  # none shared
    assert level[("a", "e")] == -1  # no parents on one side: missing, not "none shared"


def test_guardian_features_keep_only_usable_values() -> None:
    links = pl.DataFrame({
        "student": [1, 1, 2, 3, 3, *range(10, 17)],
        "name": ["Nguyễn Văn A", "TRẦN  thị B", None, "Tran Thi B", "   ", *["Lê C"] * 7],
        "phone": ["0912 345 678", "+84912345678", "0000000000", None, "0987654321",
                  *["02812345678"] * 7],
    })
    features = guardian_features(links, person_column="student", full_name_column="name",
                                 phone_column="phone").sort("id")
    rows = {row["id"]: row for row in features.iter_rows(named=True)}
    assert rows[1]["guardian_names"] == ["nguyen van a", "tran thi b"]
    assert rows[1]["guardian_key"] == "nguyen van a | tran thi b"
    assert rows[1]["guardian_phones"] == ["0912345678"]  # one number, two spellings
    assert 2 not in rows  # a junk phone and no name: nothing usable
    assert rows[3]["guardian_names"] == ["tran thi b"]
    # A number typed for seven pupils is a school's or an agent's, not a family's.
    assert rows[10]["guardian_phones"] is None
    assert rows[10]["guardian_names"] == ["le c"]
