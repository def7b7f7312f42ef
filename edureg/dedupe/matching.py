"""Batch record linkage: Fellegi–Sunter on DuckDB (blocking, comparisons) and NumPy (EM).

Why our own Fellegi–Sunter rather than Splink: Splink (4.0) does the same things — blocking
rules, comparison levels, u from random pairs, m by EM per blocking rule, term-frequency
adjustments — and is the reference in ``bench/dedupe_febrl.py``. Both reach the FEBRL figures
when configured well; ours is ~700 lines on the engines the project already runs (DuckDB,
Polars), adds no pandas/altair/igraph/sqlglot at run time, keeps the whole model in one typed
``LinkageSpec`` whose comparisons are plain DuckDB SQL, writes the "explanation" column the
review screens need, and lets us control memory (DuckDB limit + spill) and blocking-size
guards for the national run. EM runs on the *distinct comparison patterns* (a few thousand
rows), not on the pairs, so training cost does not grow with the population. Splink stays the
fallback should this ever need features we lack (clustering graphs, charts).

Model:
- candidate pairs = union of blocking rules (each an equi-join on SQL key expressions; a key
  that is NULL or empty never joins; oversize key groups are skipped and counted, because
  Vietnamese family names are few — block on family name only together with other keys);
- each comparison maps a pair to a level (0 = best); a NULL on either side is level -1, which
  contributes nothing (a missing value is never agreement, nor disagreement);
- u = level frequencies among random record pairs (virtually all non-matches);
- m = EM on the pairs of each training rule with u fixed, leaving out the comparisons the rule's
  keys use (their agreement is forced there), averaged over the rules (Splink's scheme);
- prior λ = EM over all N pairs with m and u fixed, pairs outside the blocks counting as
  non-matches; optional term-frequency adjustment replaces u of an exact agreement by the
  value's frequency (agreeing on "nguyen" is weak evidence, on a rare name strong);
- a pair is a match when its posterior ≥ ``min_probability`` (0.5 by default): no threshold is
  tuned on labelled data.
"""

# The SQL here is composed from a LinkageSpec written in code (column names, key expressions,
# level predicates) and from numbers; no data value is ever put into SQL text.
# ruff: noqa: S608

from __future__ import annotations

import math
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "PERSONAL_ID_M",
    "BlockingRule",
    "Comparison",
    "Level",
    "LinkageSpec",
    "ModelParameters",
    "date_comparison",
    "estimate_parameters",
    "exact_comparison",
    "find_pairs",
    "identifier_comparison",
    "link_pairs",
    "person_spec",
    "predict",
    "shared_values_comparison",
    "string_comparison",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_MIN_PROBABILITY = 1e-9


@dataclass(frozen=True, slots=True)
class Level:
    """One comparison level: ``sql`` is a predicate where ``{l}``/``{r}`` stand for the column
    of the left/right record; other columns may be named as ``l."col"`` / ``r."col"``."""

    label: str
    sql: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """Levels are tested in order and the first true one wins; none true = the last level,
    ``else_label``. Either side NULL = missing (level -1, no evidence either way)."""

    name: str
    column: str
    levels: tuple[Level, ...]
    else_label: str = "different"
    # Replace u of level 0 (exact agreement) by the agreed value's frequency.
    term_frequency: bool = False
    # Extra columns whose NULL also makes the comparison missing (e.g. a swapped-name level).
    columns: tuple[str, ...] = ()
    # m per level fixed from what is known rather than learnt by EM (Splink's "fix m"): EM can
    # only learn a level from matches that show it, and e.g. no planted duplicate keeps its ID
    # number, so "two different ID numbers" would stay at its uninformed start.
    fixed_m: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.fixed_m and (len(self.fixed_m) != self.level_count
                             or abs(sum(self.fixed_m) - 1.0) > 1e-9):
            raise ValueError(f"comparison {self.name}: fixed_m needs one value per level, sum 1")

    @property
    def level_count(self) -> int:
        return len(self.levels) + 1

    @property
    def labels(self) -> tuple[str, ...]:
        return (*(level.label for level in self.levels), self.else_label)

    def case_sql(self) -> str:
        left, right = f'l."{self.column}"', f'r."{self.column}"'
        whens = [f"WHEN {left} IS NULL OR {right} IS NULL THEN -1"]
        for index, level in enumerate(self.levels):
            predicate = level.sql.format(l=left, r=right)
            whens.append(f"WHEN {predicate} THEN {index}")
        return f"CASE {' '.join(whens)} ELSE {len(self.levels)} END"

    def referenced_columns(self) -> frozenset[str]:
        return frozenset((self.column, *self.columns))


@dataclass(frozen=True, slots=True)
class BlockingRule:
    """Records are candidate pairs when every key expression is equal (and non-empty) on both.

    Keys are DuckDB SQL over one record's columns, e.g. ``'"surname"'``,
    ``'substr("soc_sec_id", 1, 4)'``.
    """

    keys: tuple[str, ...]
    # Keys evaluated on the right-hand record when they differ from ``keys`` — e.g. the left's
    # date against the right's date with day and month exchanged. Asymmetric rules are applied
    # both ways round in deduplication.
    right_keys: tuple[str, ...] = ()
    # Comparisons whose levels the keys constrain although they read other columns (a key on
    # ``birth_year`` forces the ``dob`` comparison towards agreement). Training by EM on this
    # rule leaves them out, like the comparisons of the columns the keys read.
    constrains: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        if self.right_keys and self.right_keys != self.keys:
            return " & ".join(self.keys) + " ~ " + " & ".join(self.right_keys)
        return " & ".join(self.keys)

    def uses(self, comparison: Comparison) -> bool:
        """Whether the rule forces agreement on the comparison (so EM must not learn it here)."""
        if comparison.name in self.constrains or comparison.column in self.constrains:
            return True
        return any(
            re.search(rf'(?<![\w"]){re.escape(column)}(?![\w"])|"{re.escape(column)}"', key)
            for key in (*self.keys, *self.right_keys)
            for column in comparison.referenced_columns()
        )


@dataclass(frozen=True, slots=True)
class LinkageSpec:
    id_column: str
    comparisons: tuple[Comparison, ...]
    blocking_rules: tuple[BlockingRule, ...]
    # Rules whose pairs train m by EM; the blocking rules when empty.
    training_rules: tuple[BlockingRule, ...] = ()
    u_sample_pairs: int = 1_000_000
    # A key group whose pair count exceeds this is skipped (and reported), so one very common
    # key cannot blow up memory.
    max_block_pairs: int = 5_000_000
    # DuckDB spills joins and sorts to a temporary directory beyond this, so a run stays within
    # the 8 GiB the batch job is given (Python-side arrays come on top, ~1 GiB at 2.5 M people).
    memory_limit: str = "4GB"
    em_max_iterations: int = 200
    em_tolerance: float = 1e-7
    seed: int = 20_260_601


@dataclass(slots=True)
class ModelParameters:
    """Trained Fellegi–Sunter parameters; ``m[i][k]``, ``u[i][k]`` for comparison i, level k."""

    m: list[FloatArray]
    u: list[FloatArray]
    prior: float
    total_pairs: int
    candidate_pairs: int
    skipped_blocks: dict[str, int] = field(default_factory=dict)
    # Pairs each rule produced (before the union): the first thing to read when a run is slow.
    rule_pairs: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def level_weights(self) -> list[FloatArray]:
        return [np.log2(m / u) for m, u in zip(self.m, self.u, strict=True)]


# --- comparison factories -------------------------------------------------------------------


def exact_comparison(
    column: str, *, name: str | None = None, term_frequency: bool = False
) -> Comparison:
    return Comparison(
        name=name or column,
        column=column,
        levels=(Level("exact", "{l} = {r}"),),
        term_frequency=term_frequency,
    )


def string_comparison(
    column: str,
    *,
    name: str | None = None,
    thresholds: Sequence[float] = (0.94, 0.85),
    term_frequency: bool = True,
    swapped_with: str | None = None,
) -> Comparison:
    """Exact, [values swapped with another column], Jaro–Winkler ≥ each threshold, different."""
    levels = [Level("exact", "{l} = {r}")]
    extra: tuple[str, ...] = ()
    if swapped_with is not None:
        other = f'"{swapped_with}"'
        swap = f"{{l}} = r.{other} AND l.{other} = {{r}}"
        levels.append(Level(f"swapped_with_{swapped_with}", swap))
        extra = (swapped_with,)
    levels.extend(
        Level(f"similar_{threshold:g}", f"jaro_winkler_similarity({{l}}, {{r}}) >= {threshold}")
        for threshold in thresholds
    )
    return Comparison(
        name=name or column,
        column=column,
        levels=tuple(levels),
        term_frequency=term_frequency,
        columns=extra,
    )


# Damerau–Levenshtein is ~10x slower than Jaro–Winkler in DuckDB, and most pairs differ
# completely. CASE evaluates a conjunction only where the cheap part holds, so a Jaro–Winkler
# floor that every one-edit pair of 4+ characters clears (worst case ≈ 0.72) skips most of the
# expensive calls without changing the level; short values are checked directly.
_ONE_EDIT = (
    "(length({l}) < 4 OR jaro_winkler_similarity({l}, {r}) >= 0.7)"
    " AND damerau_levenshtein({l}, {r}) <= 1"
)
# Two edits: the floor does drop a few contrived pairs (two edits plus a crossed match in a
# short value); documented as "two edits and broadly similar".
_TWO_EDITS = (
    "(length({l}) < 4 OR jaro_winkler_similarity({l}, {r}) >= 0.5)"
    " AND damerau_levenshtein({l}, {r}) <= 2"
)


def identifier_comparison(
    column: str, *, name: str | None = None, fixed_m: tuple[float, ...] = ()
) -> Comparison:
    """Exact, one typo (insert/delete/substitute/transpose), two typos, different."""
    return Comparison(
        name=name or column,
        column=column,
        levels=(
            Level("exact", "{l} = {r}"),
            Level("one_typo", _ONE_EDIT),
            Level("two_typos", _TWO_EDITS),
        ),
        fixed_m=fixed_m,
    )


# A personal ID number is issued once per citizen and never reused: two records of one person
# carry the same number, or one mistyped. Two unrelated numbers on one person happen only
# when someone typed another person's number (a sibling's), which we take as 1 in 200.
PERSONAL_ID_M: tuple[float, ...] = (0.95, 0.03, 0.015, 0.005)


def shared_values_comparison(column: str, *, name: str | None = None) -> Comparison:
    """For list columns (a person's guardians' names, their phone numbers): two or more values
    in common, one in common, none. A person without values is missing, not "none"."""
    return Comparison(
        name=name or column,
        column=column,
        levels=(
            Level("two_shared", "len(list_intersect({l}, {r})) >= 2"),
            Level("one_shared", "len(list_intersect({l}, {r})) >= 1"),
        ),
        else_label="none_shared",
    )


def date_comparison(column: str, *, name: str | None = None) -> Comparison:
    """For ``YYYYMMDD`` text: exact, day/month swapped, one typo, same year and month, same year,
    different. Day/month swaps are the commonest date error on Vietnamese forms."""
    swapped = (
        "substr({l}, 1, 4) = substr({r}, 1, 4) AND substr({l}, 5, 2) = substr({r}, 7, 2)"
        " AND substr({l}, 7, 2) = substr({r}, 5, 2)"
    )
    return Comparison(
        name=name or column,
        column=column,
        levels=(
            Level("exact", "{l} = {r}"),
            Level("day_month_swapped", swapped),
            Level("one_typo", _ONE_EDIT),
            Level("same_year_month", "substr({l}, 1, 6) = substr({r}, 1, 6)"),
            Level("same_year", "substr({l}, 1, 4) = substr({r}, 1, 4)"),
        ),
    )


def person_spec() -> LinkageSpec:
    """Default spec for Vietnamese persons, over the columns of ``prepare_person_frame``.

    Blocking never uses the family name alone (Nguyễn ≈ 38 % of people), nor name parts with
    only a birth year: on a synthetic 200 k population (family, given, birth_year) alone made
    ~5 M pairs and grows with the square of the population. Each rule below pairs a name part
    with a full date (or year+month / day+month), which keeps blocks to a few people.
    """
    return LinkageSpec(
        id_column="id",
        comparisons=(
            string_comparison("given", thresholds=(0.92,)),
            string_comparison("middle", thresholds=(0.9,)),
            string_comparison("family", thresholds=(0.92,)),
            # No separate comparison of the accented full name: it would count the same name
            # evidence twice (the parts are already compared, term-frequency adjusted).
            date_comparison("dob"),
            identifier_comparison("id_number", fixed_m=PERSONAL_ID_M),
        ),
        blocking_rules=(
            BlockingRule(('"id_number"',)),
            BlockingRule(('"given"', '"dob"')),
            BlockingRule(
                ('"given"', '"dob"'), right_keys=('"given"', '"dob_swapped"'), constrains=("dob",)
            ),
            BlockingRule(('"family"', '"middle"', '"dob"')),
            # A typo in the day, or in the year, of an otherwise identical person.
            BlockingRule(('"full_key"', 'substr("dob", 1, 6)'), constrains=("dob",)),
            BlockingRule(('"full_key"', 'substr("dob", 5, 4)'), constrains=("dob",)),
        ),
        # Between them every comparison is learnt at least once, each on pairs where it is
        # free to disagree; the ID rule's pairs are nearly all true duplicates.
        training_rules=(
            BlockingRule(('"id_number"',)),
            BlockingRule(('"given"', '"dob"')),
        ),
    )


# --- engine ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Session:
    connection: duckdb.DuckDBPyConnection
    spec: LinkageSpec
    dedupe: bool
    left_count: int
    right_count: int
    spill_directory: tempfile.TemporaryDirectory[str]
    skipped_blocks: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        self.connection.close()
        self.spill_directory.cleanup()

    @property
    def total_pairs(self) -> int:
        if self.dedupe:
            return self.left_count * (self.left_count - 1) // 2
        return self.left_count * self.right_count


def _open(left: pl.DataFrame, right: pl.DataFrame | None, spec: LinkageSpec) -> _Session:
    connection = duckdb.connect()
    spill_directory = tempfile.TemporaryDirectory(prefix="edureg-dedupe-")
    connection.execute("SET preserve_insertion_order = false")
    connection.execute(f"SET memory_limit = '{spec.memory_limit}'")
    connection.execute(f"SET temp_directory = '{spill_directory.name}'")
    for table, frame in (("rec_l", left), ("rec_r", right)):
        if frame is None:
            continue
        indexed = frame.with_row_index("__rid").with_columns(pl.col("__rid").cast(pl.Int64))
        # Empty strings are missing values, never a shared key or an agreement.
        indexed = indexed.with_columns(
            pl.when(pl.col(pl.String).str.strip_chars() == "")
            .then(None)
            .otherwise(pl.col(pl.String))
            .name.keep()
        )
        connection.register(f"{table}_src", indexed.to_arrow())
        connection.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {table}_src")
        connection.unregister(f"{table}_src")
    if right is None:
        connection.execute("CREATE VIEW rec_r AS SELECT * FROM rec_l")
    return _Session(
        connection=connection,
        spec=spec,
        dedupe=right is None,
        spill_directory=spill_directory,
        left_count=left.height,
        right_count=left.height if right is None else right.height,
    )


def _block(session: _Session, rule: BlockingRule, index: int) -> None:
    right_keys = rule.right_keys or rule.keys
    if len(right_keys) != len(rule.keys):
        raise ValueError(f"blocking rule {rule.name}: as many right keys as keys")
    asymmetric = right_keys != rule.keys

    def select(keys: Sequence[str]) -> str:
        return ", ".join(
            f"NULLIF(trim(CAST(({key}) AS VARCHAR)), '') AS k{position}"
            for position, key in enumerate(keys)
        )

    names = [f"k{position}" for position in range(len(rule.keys))]
    not_null = " AND ".join(f"{name} IS NOT NULL" for name in names)
    using = ", ".join(names)
    if session.dedupe and asymmetric:
        # Matching the left's key to the right's other key finds each pair in one orientation
        # or the other: store it as (smaller, larger) once.
        pair = "DISTINCT least(kl.__rid, kr.__rid), greatest(kl.__rid, kr.__rid)"
        order = "AND kl.__rid <> kr.__rid"
    else:
        pair = "kl.__rid, kr.__rid"
        order = "AND kl.__rid < kr.__rid" if session.dedupe else ""
    limit = session.spec.max_block_pairs
    connection = session.connection
    connection.execute(f"""
        CREATE OR REPLACE TEMP TABLE kl AS
            SELECT * FROM (SELECT __rid, {select(rule.keys)} FROM rec_l) WHERE {not_null};
        CREATE OR REPLACE TEMP TABLE kr AS
            SELECT * FROM (SELECT __rid, {select(right_keys)} FROM rec_r) WHERE {not_null};
        CREATE OR REPLACE TEMP TABLE big AS
            SELECT {using} FROM
                (SELECT {using}, count(*) AS n FROM kl GROUP BY ALL) a
                JOIN (SELECT {using}, count(*) AS n FROM kr GROUP BY ALL) b USING ({using})
            WHERE a.n * b.n > {limit};
        INSERT INTO pairs
            SELECT {pair}, {index}
            FROM (SELECT * FROM kl ANTI JOIN big USING ({using})) kl
            JOIN kr USING ({using})
            WHERE true {order};
    """)
    row = connection.execute("SELECT count(*) FROM big").fetchone()
    skipped = int(row[0]) if row else 0
    if skipped:
        session.skipped_blocks[rule.name] = skipped


def _gamma_select(spec: LinkageSpec) -> str:
    gammas = ", ".join(
        f"CAST({comparison.case_sql()} AS TINYINT) AS g{index}"
        for index, comparison in enumerate(spec.comparisons)
    )
    return gammas


def _build_candidates(session: _Session) -> None:
    connection = session.connection
    connection.execute("CREATE TEMP TABLE pairs (rid_l BIGINT, rid_r BIGINT, rule INTEGER)")
    rules = list(session.spec.blocking_rules)
    for rule in session.spec.training_rules:
        if rule not in rules:
            rules.append(rule)
    for index, rule in enumerate(rules):
        _block(session, rule, index)
    connection.execute(f"""
        CREATE TEMP TABLE cand AS
            SELECT p.rid_l, p.rid_r, {_gamma_select(session.spec)}
            FROM (SELECT rid_l, rid_r FROM pairs
                  WHERE rule < {len(session.spec.blocking_rules)} GROUP BY ALL) p
            JOIN rec_l l ON l.__rid = p.rid_l
            JOIN rec_r r ON r.__rid = p.rid_r
    """)


def _patterns(
    connection: duckdb.DuckDBPyConnection, sql: str, width: int
) -> tuple[IntArray, FloatArray]:
    columns = ", ".join(f"g{index}" for index in range(width))
    rows = connection.execute(f"SELECT {columns}, count(*) FROM ({sql}) GROUP BY ALL").fetchall()
    if not rows:
        return np.zeros((0, width), dtype=np.int64), np.zeros(0, dtype=np.float64)
    array = np.array(rows, dtype=np.int64)
    return array[:, :width], array[:, width].astype(np.float64)


def _estimate_u(session: _Session) -> list[FloatArray]:
    spec = session.spec
    rng = np.random.default_rng(spec.seed)
    size = min(spec.u_sample_pairs, session.total_pairs)
    left = rng.integers(0, session.left_count, size=size, dtype=np.int64)
    right = rng.integers(0, session.right_count, size=size, dtype=np.int64)
    if session.dedupe:
        keep = left != right
        left, right = left[keep], right[keep]
    session.connection.register("upairs", pl.DataFrame({"rid_l": left, "rid_r": right}).to_arrow())
    patterns, counts = _patterns(
        session.connection,
        f"""SELECT {_gamma_select(spec)} FROM upairs p
            JOIN rec_l l ON l.__rid = p.rid_l JOIN rec_r r ON r.__rid = p.rid_r""",
        len(spec.comparisons),
    )
    session.connection.unregister("upairs")
    u: list[FloatArray] = []
    for index, comparison in enumerate(spec.comparisons):
        column = patterns[:, index] if len(patterns) else np.zeros(0, dtype=np.int64)
        level_counts = np.array(
            [counts[column == level].sum() for level in range(comparison.level_count)]
        )
        # Add-half smoothing: a level never seen among random pairs (exact ID) is rare, not
        # impossible; a zero u would make its weight infinite.
        u.append((level_counts + 0.5) / (level_counts.sum() + 0.5 * comparison.level_count))
    return u


def _initial_m(comparison: Comparison) -> FloatArray:
    # Best level most likely among matches, each worse level less so.
    weights = np.array([0.5**level for level in range(comparison.level_count)], dtype=np.float64)
    weights[0] = 4.0
    result: FloatArray = weights / weights.sum()
    return result


def _log_ratio(
    patterns: IntArray, m: list[FloatArray], u: list[FloatArray], active: Sequence[int]
) -> FloatArray:
    total = np.zeros(len(patterns), dtype=np.float64)
    for index in active:
        levels = patterns[:, index]
        present = levels >= 0
        safe = np.where(present, levels, 0)
        total += np.where(present, np.log(m[index][safe]) - np.log(u[index][safe]), 0.0)
    return total


def _posterior(log_ratio: FloatArray, prior: float) -> FloatArray:
    logit = math.log(prior) - math.log1p(-prior) + log_ratio
    result: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * logit))
    return result


def _em_m(
    patterns: IntArray,
    counts: FloatArray,
    m: list[FloatArray],
    u: list[FloatArray],
    active: Sequence[int],
    spec: LinkageSpec,
    fixed: Sequence[int] = (),
) -> list[FloatArray]:
    """EM for m (u fixed) over the ``active`` comparisons; ``fixed`` ones (m known) count as
    evidence without being learnt. Returns the estimated m arrays."""
    m = [array.copy() for array in m]
    evidence = [*active, *fixed]
    prior = 0.1
    for _ in range(spec.em_max_iterations):
        post = _posterior(_log_ratio(patterns, m, u, evidence), prior)
        weighted = post * counts
        new_prior = float(np.clip(weighted.sum() / counts.sum(), 1e-6, 1 - 1e-6))
        change = abs(new_prior - prior)
        for index in active:
            levels = patterns[:, index]
            sums = np.array([weighted[levels == level].sum() for level in range(len(m[index]))])
            if sums.sum() <= 0:
                continue
            # Half a pseudo-count per level: a level no match showed in training (day/month
            # swaps in a clean sample) stays possible instead of becoming a veto.
            new_m = (sums + 0.5) / (sums.sum() + 0.5 * len(sums))
            change = max(change, float(np.abs(new_m - m[index]).max()))
            m[index] = new_m
        prior = new_prior
        if change < spec.em_tolerance:
            break
    return m


def estimate_parameters(
    left: pl.DataFrame, right: pl.DataFrame | None, spec: LinkageSpec
) -> ModelParameters:
    """Train m, u and the prior without labels (dedupe when ``right`` is None)."""
    session = _open(left, right, spec)
    try:
        return _train(session)
    finally:
        session.close()


def _train(session: _Session) -> ModelParameters:
    spec = session.spec
    timings: dict[str, float] = {}
    started = time.perf_counter()
    _build_candidates(session)
    timings["blocking_and_comparisons"] = time.perf_counter() - started
    all_rules = [
        *spec.blocking_rules,
        *(r for r in spec.training_rules if r not in spec.blocking_rules),
    ]
    counts_by_rule = dict(
        session.connection.execute("SELECT rule, count(*) FROM pairs GROUP BY rule").fetchall()
    )
    rule_pairs = {rule.name: int(counts_by_rule.get(i, 0)) for i, rule in enumerate(all_rules)}

    started = time.perf_counter()
    u = _estimate_u(session)
    timings["u_random_sampling"] = time.perf_counter() - started

    started = time.perf_counter()
    initial = [
        np.array(comparison.fixed_m, dtype=np.float64) if comparison.fixed_m
        else _initial_m(comparison)
        for comparison in spec.comparisons
    ]
    sums = [np.zeros_like(array) for array in initial]
    rounds = [0] * len(spec.comparisons)
    rule_index = list(spec.blocking_rules)
    for rule in spec.training_rules:
        if rule not in rule_index:
            rule_index.append(rule)
    width = len(spec.comparisons)
    for rule in spec.training_rules or spec.blocking_rules:
        active = [
            i for i, c in enumerate(spec.comparisons) if not rule.uses(c) and not c.fixed_m
        ]
        if not active:
            continue
        position = rule_index.index(rule)
        if position < len(spec.blocking_rules):
            # Its pairs are candidates already: reuse their comparison levels.
            source = f"""SELECT c.* FROM cand c
                JOIN (SELECT rid_l, rid_r FROM pairs WHERE rule = {position}) p
                USING (rid_l, rid_r)"""
        else:
            source = f"""SELECT {_gamma_select(spec)} FROM
                (SELECT rid_l, rid_r FROM pairs WHERE rule = {position}) p
                JOIN rec_l l ON l.__rid = p.rid_l JOIN rec_r r ON r.__rid = p.rid_r"""
        patterns, counts = _patterns(session.connection, source, width)
        if counts.sum() == 0:
            continue
        fixed = [
            i for i, c in enumerate(spec.comparisons) if not rule.uses(c) and c.fixed_m
        ]
        estimated = _em_m(patterns, counts, initial, u, active, spec, fixed)
        for index in active:
            sums[index] += estimated[index]
            rounds[index] += 1
    m = [
        start if comparison.fixed_m else total / count if count else start
        for total, count, start, comparison in zip(
            sums, rounds, initial, spec.comparisons, strict=True
        )
    ]

    # Prior over all N pairs, m and u fixed; pairs outside the blocks count as non-matches.
    patterns, counts = _patterns(session.connection, "SELECT * FROM cand", width)
    log_ratio = _log_ratio(patterns, m, u, range(width))
    candidate_pairs = int(counts.sum())
    total = max(session.total_pairs, 1)
    prior = min(max(candidate_pairs, 1) / total, 0.5)
    for _ in range(spec.em_max_iterations):
        expected = float((_posterior(log_ratio, prior) * counts).sum())
        new_prior = float(np.clip(expected / total, 1e-12, 0.5))
        if abs(new_prior - prior) < prior * 1e-6:
            prior = new_prior
            break
        prior = new_prior
    timings["em"] = time.perf_counter() - started
    return ModelParameters(
        m=m,
        u=u,
        prior=prior,
        total_pairs=session.total_pairs,
        candidate_pairs=candidate_pairs,
        skipped_blocks=dict(session.skipped_blocks),
        rule_pairs=rule_pairs,
        timings=timings,
    )


def _score(session: _Session, parameters: ModelParameters, min_probability: float) -> pl.DataFrame:
    spec = session.spec
    connection = session.connection
    weights = parameters.level_weights()
    terms: list[str] = [repr(math.log2(parameters.prior / (1 - parameters.prior)))]
    agreed: list[str] = []
    disagreed: list[str] = []
    missing: list[str] = []
    tf_joins: list[str] = []
    for index, comparison in enumerate(spec.comparisons):
        cases = " ".join(
            f"WHEN {level} THEN {float(weight)!r}" for level, weight in enumerate(weights[index])
        )
        term = f"(CASE c.g{index} {cases} ELSE 0.0 END)"
        if comparison.term_frequency:
            # Exact agreement on a value of frequency f: weight log2(m0 / f) instead of
            # log2(m0 / u0). The frequency is over all records of both sides.
            column = f'"{comparison.column}"'
            source = "rec_l" if session.dedupe else "(SELECT * FROM rec_l UNION ALL BY NAME "
            source += "" if session.dedupe else "SELECT * FROM rec_r)"
            connection.execute(f"""
                CREATE OR REPLACE TEMP TABLE tf{index} AS
                SELECT {column} AS v, count(*) / sum(count(*)) OVER () AS f
                FROM {source} WHERE {column} IS NOT NULL GROUP BY ALL
            """)
            tf_joins.append(f"LEFT JOIN tf{index} ON c.g{index} = 0 AND tf{index}.v = l.{column}")
            m0 = float(parameters.m[index][0])
            term = (
                f"(CASE WHEN c.g{index} = 0 AND tf{index}.f IS NOT NULL "
                f"THEN log2({m0!r} / greatest(tf{index}.f, {_MIN_PROBABILITY!r})) ELSE {term} END)"
            )
        terms.append(term)
        labels = comparison.labels
        for level, label in enumerate(labels):
            target = agreed if weights[index][level] > 0 else disagreed
            text = f"{comparison.name} ({label})" if label != "exact" else comparison.name
            target.append(f"CASE WHEN c.g{index} = {level} THEN '{text}' END")
        missing.append(f"CASE WHEN c.g{index} = -1 THEN '{comparison.name}' END")

    id_column = f'"{spec.id_column}"'
    weight_sql = " + ".join(terms)
    explanation = (
        f"concat_ws('; ', 'agreed: ' || nullif(concat_ws(', ', {', '.join(agreed)}), ''), "
        f"'disagreed: ' || nullif(concat_ws(', ', {', '.join(disagreed)}), ''), "
        f"'missing: ' || nullif(concat_ws(', ', {', '.join(missing)}), ''))"
    )
    logit_cut = (
        math.log2(min_probability / (1 - min_probability))
        if 0 < min_probability < 1
        else (-math.inf)
    )
    where = f"WHERE match_weight >= {logit_cut!r}" if math.isfinite(logit_cut) else ""
    gamma_columns = ", ".join(
        f'c.g{index} AS "gamma_{comparison.name}"'
        for index, comparison in enumerate(spec.comparisons)
    )
    result = connection.sql(f"""
        SELECT left_id, right_id, 1.0 / (1.0 + pow(2.0, -match_weight)) AS match_probability,
               match_weight, explanation, * EXCLUDE (left_id, right_id, match_weight, explanation)
        FROM (
            SELECT l.{id_column} AS left_id, r.{id_column} AS right_id,
                   {weight_sql} AS match_weight, {explanation} AS explanation, {gamma_columns}
            FROM cand c
            JOIN rec_l l ON l.__rid = c.rid_l
            JOIN rec_r r ON r.__rid = c.rid_r
            {" ".join(tf_joins)}
        )
        {where}
        ORDER BY match_weight DESC, left_id, right_id
    """).to_arrow_table()
    frame = pl.from_arrow(result)
    assert isinstance(frame, pl.DataFrame)
    return frame


def predict(
    left: pl.DataFrame,
    right: pl.DataFrame | None,
    spec: LinkageSpec,
    parameters: ModelParameters | None = None,
    *,
    min_probability: float = 0.5,
) -> tuple[pl.DataFrame, ModelParameters]:
    """Score candidate pairs, training first unless ``parameters`` are given."""
    session = _open(left, right, spec)
    try:
        if parameters is None:
            parameters = _train(session)
        else:
            _build_candidates(session)
        started = time.perf_counter()
        pairs = _score(session, parameters, min_probability)
        parameters.timings["scoring"] = time.perf_counter() - started
        return pairs, parameters
    finally:
        session.close()


def find_pairs(
    frame: pl.DataFrame, spec: LinkageSpec, *, min_probability: float = 0.5
) -> pl.DataFrame:
    """Duplicate pairs within one frame: ``left_id``, ``right_id`` (each unordered pair once),
    ``match_probability``, ``match_weight``, ``explanation`` and ``gamma_<comparison>``
    levels, strongest first. Trains the model on the frame itself (no labels needed)."""
    pairs, _ = predict(frame, None, spec, min_probability=min_probability)
    return pairs


def link_pairs(
    left: pl.DataFrame, right: pl.DataFrame, spec: LinkageSpec, *, min_probability: float = 0.5
) -> pl.DataFrame:
    """Pairs of records, one from each frame, that refer to the same person."""
    pairs, _ = predict(left, right, spec, min_probability=min_probability)
    return pairs
