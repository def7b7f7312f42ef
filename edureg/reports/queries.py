"""One set-based SQL statement per definition: the source's population as of the reporting date,
filtered and grouped by the definition's dimensions. Plain SQL that runs the same on SQLite and
PostgreSQL; every identifier comes from the whitelist (``spec.SOURCES``) and every value is a
parameter.

The population *as of* a date is read from the history, not from "current" flags:
- a pupil counts where an enrolment covers the date (``started_on <= D`` and not ended before
  it), with the status in force on the date: the enrolment's own status when it dates from on or
  before the date, otherwise the last status change effective on or before it;
- status changes count from the start of the school year that contains the date up to it;
- classes are those of the school year that contains the date, their size the pupils counted as
  above with a status the code list marks ``active`` (an enrolment with no status recorded by
  the date counts with the first active status, the one the registry opens enrolments with);
- staff are those on record by the end of the date (the registry keeps no staff history yet);
- quality is the newest daily snapshot on or before the date (today: the live totals).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.utils import timezone

from edureg.core.codelists import get_list
from edureg.reports.spec import ReportSpec

# Size bands of classes and age bands of staff: reporting conventions, in display order.
SIZE_BANDS: tuple[tuple[str, str, int | None], ...] = (
    ("den_20", "Đến 20 học sinh", 20),
    ("21_30", "21–30 học sinh", 30),
    ("31_35", "31–35 học sinh", 35),
    ("36_40", "36–40 học sinh", 40),
    ("41_45", "41–45 học sinh", 45),
    ("tren_45", "Trên 45 học sinh", None),
)
AGE_BANDS: tuple[tuple[str, str, int | None], ...] = (
    ("duoi_30", "Dưới 30 tuổi", 30),
    ("30_39", "30–39 tuổi", 40),
    ("40_49", "40–49 tuổi", 50),
    ("50_59", "50–59 tuổi", 60),
    ("tu_60", "Từ 60 tuổi", None),
)
BAND_LABELS = {code: label for code, label, _ in (*SIZE_BANDS, *AGE_BANDS)}
BAND_ORDER = {code: n for n, (code, _, _) in enumerate((*SIZE_BANDS, *AGE_BANDS))}

STATUS_AS_OF = (
    "CASE WHEN e.status_since <= %s THEN e.status_code ELSE COALESCE("
    "(SELECT c.status_code FROM registry_enrolmentstatuschange c WHERE c.enrolment_id = e.id "
    "AND c.effective_on <= %s ORDER BY c.effective_on DESC, c.id DESC LIMIT 1), "
    "%s) END"
)
COVERS = "e.started_on <= %s AND (e.ended_on IS NULL OR e.ended_on >= %s)"


@dataclasses.dataclass(frozen=True)
class Scope:
    """The schools a report covers: one authority, or a list of schools."""

    authority_id: int | None = None
    school_ids: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Grouped:
    """One row per combination of dimension values: the values, then the counts in order."""

    dimensions: tuple[str, ...]
    counts: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _years_back(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _band_case(column: str, bands: Sequence[tuple[str, str, int | None]]) -> str:
    parts = [
        f"WHEN {column} <= {limit} THEN '{code}'" for code, _, limit in bands if limit is not None
    ]
    return f"CASE {' '.join(parts)} ELSE '{bands[-1][0]}' END"


def status_params(as_of: dt.date) -> list[Any]:
    """Parameters of ``STATUS_AS_OF``. An enrolment with no status recorded on or before the
    date (rows written before the history existed) is taken to have opened with the first
    active status, as the registry opens one by default."""
    active = active_codes(as_of)
    return [as_of, as_of, active[0] if active else ""]


def active_codes(as_of: dt.date) -> list[str]:
    return [
        entry.code
        for entry in get_list("enrolment_status", on=as_of).entries
        if entry.flag("active")
    ]


def sql_in(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


def scope_sql(scope: Scope, school_column: str, *, joined: bool = True) -> tuple[str, list[Any]]:
    """The scope as a condition: the authority on the joined school ``sc`` (or, not
    ``joined``, through a sub-select), or the schools' ids on ``school_column``."""
    if scope.authority_id is not None:
        if not joined:
            return (
                f"{school_column} IN (SELECT id FROM schools_school WHERE authority_id = %s)",  # noqa: S608 - whitelisted names
                [scope.authority_id],
            )
        return "sc.authority_id = %s", [scope.authority_id]
    ids = list(scope.school_ids) or [-1]
    return f"{school_column} IN ({sql_in(ids)})", ids


def _inner(
    spec: ReportSpec, as_of: dt.date, scope: Scope, *, live_quality: bool
) -> tuple[str, list[Any], str]:
    """The source's population as a derived table ``x`` with one column per whitelisted field
    (and ``size`` for classes, the quality counters for quality); returns the SQL, its
    parameters and the expression of the row's school id (for the scope)."""
    school_fields = "sc.id AS school, sc.level AS school_level, sc.ownership AS ownership"
    if spec.source == "pupils":
        sql = (
            f"SELECT {school_fields}, e.grade AS grade, s.sex AS sex, "  # noqa: S608 - whitelisted names
            "s.ethnicity_code AS ethnicity, s.religion_code AS religion, "
            "s.nationality_code AS nationality, s.disability_code AS disability, "
            f"s.policy_group_code AS policy_group, {STATUS_AS_OF} AS status "
            "FROM registry_enrolment e "
            "JOIN registry_student s ON s.id = e.student_id "
            "JOIN schools_school sc ON sc.id = e.school_id "
            f"WHERE {COVERS} AND s.merged_into_id IS NULL"
        )
        return sql, [*status_params(as_of), as_of, as_of], "e.school_id"
    if spec.source == "status_changes":
        sql = (
            f"SELECT {school_fields}, e.grade AS grade, s.sex AS sex, "  # noqa: S608 - whitelisted names
            "c.status_code AS status "
            "FROM registry_enrolmentstatuschange c "
            "JOIN registry_enrolment e ON e.id = c.enrolment_id "
            "JOIN registry_student s ON s.id = e.student_id "
            "JOIN schools_schoolyear y ON y.id = e.school_year_id "
            "JOIN schools_school sc ON sc.id = e.school_id "
            "WHERE y.starts_on <= %s AND y.ends_on >= %s AND c.effective_on >= y.starts_on "
            "AND c.effective_on <= %s AND s.merged_into_id IS NULL"
        )
        return sql, [as_of, as_of, as_of], "e.school_id"
    if spec.source == "staff":
        limits = [_years_back(as_of, limit) for _, _, limit in AGE_BANDS if limit is not None]
        bands = " ".join(
            f"WHEN t.date_of_birth > %s THEN '{code}'"
            for code, _, limit in AGE_BANDS
            if limit is not None
        )
        end_of_day = timezone.make_aware(
            dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
        )
        sql = (
            f"SELECT {school_fields}, t.sex AS sex, t.job_position_code AS job_position, "  # noqa: S608 - whitelisted names
            "t.position_group_code AS position_group, "
            "t.qualification_code AS qualification, "
            "t.employment_status_code AS employment_status, "
            "t.ethnicity_code AS ethnicity, "
            f"CASE WHEN t.date_of_birth IS NULL THEN '' {bands} "
            f"ELSE '{AGE_BANDS[-1][0]}' END AS age_band "
            "FROM registry_staff t JOIN schools_school sc ON sc.id = t.school_id "
            "WHERE t.created_at < %s"
        )
        return sql, [*limits, connection.ops.adapt_datetimefield_value(end_of_day)], "t.school_id"
    if spec.source == "classes":
        active = active_codes(as_of)
        active_in = sql_in(active) if active else "NULL"
        if connection.vendor != "postgresql":
            # One row per class and pupil counted in it (``n`` 1; a class without any: one row
            # with 0); ``build_query`` sums them per class. Driven by the classes, so SQLite
            # (no statistics) looks up each class's enrolments by index.
            sql = (
                f"SELECT {school_fields}, k.grade AS grade, k.id AS class_id, "  # noqa: S608 - whitelisted names
                "CASE WHEN s.id IS NULL THEN 0 ELSE 1 END AS n "
                "FROM registry_schoolclass k "
                "JOIN schools_schoolyear y ON y.id = k.school_year_id "
                "JOIN schools_school sc ON sc.id = k.school_id "
                f"LEFT JOIN registry_enrolment e ON e.school_class_id = k.id AND {COVERS} "
                f"AND ({STATUS_AS_OF}) IN ({active_in}) "
                "LEFT JOIN registry_student s ON s.id = e.student_id "
                "AND s.merged_into_id IS NULL "
                "WHERE y.starts_on <= %s AND y.ends_on >= %s"
            )
            return (
                sql,
                [as_of, as_of, *status_params(as_of), *active, as_of, as_of],
                "k.school_id",
            )
        # PostgreSQL: the sizes grouped per class from the scope's enrolments, then joined to
        # the classes (hash joins at authority scale). ``OFFSET 0`` keeps the status test
        # above the scan: pushed into it, its unknown selectivity made the planner expect a
        # few hundred enrolments and choose nested loops over millions.
        within, within_params = scope_sql(scope, "e.school_id", joined=False)
        population = (
            f"SELECT e.school_class_id AS class_id, {STATUS_AS_OF} AS status "  # noqa: S608 - whitelisted names
            "FROM registry_enrolment e JOIN registry_student s ON s.id = e.student_id "
            f"WHERE {COVERS} AND s.merged_into_id IS NULL AND {within} OFFSET 0"
        )
        sql = (
            f"SELECT {school_fields}, k.grade AS grade, k.id AS class_id, "  # noqa: S608 - whitelisted names
            "COALESCE(p.size, 0) AS n "
            "FROM registry_schoolclass k "
            "JOIN schools_schoolyear y ON y.id = k.school_year_id "
            "JOIN schools_school sc ON sc.id = k.school_id "
            "LEFT JOIN (SELECT q.class_id, COUNT(*) AS size "
            f"FROM ({population}) q WHERE q.status IN ({active_in}) GROUP BY q.class_id) p "
            "ON p.class_id = k.id "
            "WHERE y.starts_on <= %s AND y.ends_on >= %s"
        )
        return (
            sql,
            [*status_params(as_of), as_of, as_of, *within_params, *active, as_of, as_of],
            "k.school_id",
        )
    counters = (
        "q.records AS records, q.correct_ok AS correct_ok, "
        "q.complete_ok AS complete_ok, q.clean_ok AS clean_ok, q.live_ok AS live_ok"
    )
    if live_quality:
        sql = (
            f"SELECT {school_fields}, q.entity AS entity, {counters} "  # noqa: S608 - whitelisted names
            "FROM quality_qualitytotal q JOIN schools_school sc ON sc.id = q.school_id "
            "WHERE q.class_id IS NULL"
        )
        return sql, [], "q.school_id"
    sql = (
        f"SELECT {school_fields}, q.entity AS entity, {counters} "  # noqa: S608 - whitelisted names
        "FROM quality_dailysnapshot q "
        "JOIN (SELECT school_id, entity, MAX(day) AS day FROM quality_dailysnapshot "
        "WHERE day <= %s GROUP BY school_id, entity) m "
        "ON m.school_id = q.school_id AND m.entity = q.entity AND m.day = q.day "
        "JOIN schools_school sc ON sc.id = q.school_id WHERE 1 = 1"
    )
    return sql, [as_of], "q.school_id"


_MEASURE_SQL = {
    ("classes", "classes"): "COUNT(*)",
    ("classes", "pupils"): "COALESCE(SUM(x.size), 0)",
    **{
        ("quality", name): f"COALESCE(SUM(x.{name}), 0)"
        for name in ("records", "correct_ok", "complete_ok", "clean_ok", "live_ok")
    },
}


@dataclasses.dataclass(frozen=True)
class Term:
    """A definition's filter resolved for a date: ``op`` is "eq", "ne", "in" or "not_in" on
    ``values`` (numbers for the grade and the school; a flag becomes the codes it marks), or
    "all" / "none" (a flag no code carries). One meaning for the SQL here and for the shared
    population (``population.py``), which tests a row the way SQL does: a NULL passes no test."""

    field: str
    op: str
    values: tuple[Any, ...] = ()


def filter_terms(spec: ReportSpec, as_of: dt.date) -> list[Term]:
    terms: list[Term] = []
    fields = spec.source_info.fields
    for item in spec.filters:
        values: tuple[Any, ...] = item.values
        if fields[item.field].labels in ("grade", "school"):
            values = tuple(int(v) if str(v).lstrip("-").isdigit() else -1 for v in values)
        if item.op in ("flag", "not_flag"):
            flagged = tuple(
                entry.code
                for entry in get_list(fields[item.field].code_list, on=as_of).entries
                if entry.flag(str(item.values[0]))
            )
            negate = item.op == "not_flag"
            if not flagged:
                terms.append(Term(item.field, "all" if negate else "none"))
            else:
                terms.append(Term(item.field, "not_in" if negate else "in", flagged))
        elif item.op in ("eq", "ne"):
            terms.append(Term(item.field, item.op, values[:1]))
        else:
            terms.append(Term(item.field, item.op, values))
    return terms


def _filters(spec: ReportSpec, as_of: dt.date) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for term in filter_terms(spec, as_of):
        column = f"x.{term.field}"
        if term.op in ("all", "none"):
            clauses.append("1 = 1" if term.op == "all" else "1 = 0")
        elif term.op in ("eq", "ne"):
            clauses.append(f"{column} {'=' if term.op == 'eq' else '<>'} %s")
            params.append(term.values[0])
        else:
            keyword = "IN" if term.op == "in" else "NOT IN"
            clauses.append(f"{column} {keyword} ({sql_in(term.values)})")
            params += term.values
    return clauses, params


def build_query(
    spec: ReportSpec, *, as_of: dt.date, scope: Scope, live_quality: bool = False
) -> tuple[str, list[Any], Grouped]:
    """The statement for ``spec`` and its parameters; ``Grouped`` names its result columns."""
    inner, params, school_column = _inner(spec, as_of, scope, live_quality=live_quality)
    # Every population ends with its WHERE clause: the scope is one more condition.
    condition, scope_params = scope_sql(scope, school_column)
    inner += f" AND {condition}"
    params += scope_params
    if spec.source == "pupils" and connection.vendor == "postgresql":
        inner += " OFFSET 0"  # the status test stays above the scan (see the classes' query)
    dimensions = tuple(d for d in (spec.rows, spec.columns) if d)
    counts = spec.counts_needed()
    select = [
        *(f"x.{d}" for d in dimensions),
        *(_MEASURE_SQL.get((spec.source, name), "COUNT(*)") for name in counts),
    ]
    if spec.source == "classes":
        inner = (
            "SELECT w.school, w.school_level, w.ownership, w.grade, w.class_id, "  # noqa: S608 - whitelisted names
            f"SUM(w.n) AS size FROM ({inner}) w "
            "GROUP BY w.school, w.school_level, w.ownership, w.grade, w.class_id"
        )
    if spec.source == "classes" and "size_band" in dimensions:
        inner = f"SELECT z.*, {_band_case('z.size', SIZE_BANDS)} AS size_band FROM ({inner}) z"  # noqa: S608 - whitelisted names
    clauses, filter_params = _filters(spec, as_of)
    sql = f"SELECT {', '.join(select)} FROM ({inner}) x"  # noqa: S608 - whitelisted names
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    if dimensions:
        sql += " GROUP BY " + ", ".join(f"x.{d}" for d in dimensions)
    return sql, [*params, *filter_params], Grouped(dimensions, counts, [])


def run_query(
    spec: ReportSpec, *, as_of: dt.date, scope: Scope, live_quality: bool = False
) -> Grouped:
    sql, params, grouped = build_query(spec, as_of=as_of, scope=scope, live_quality=live_quality)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [tuple(row) for row in cursor.fetchall()]
    return dataclasses.replace(grouped, rows=rows)


def data_begins(scope: Scope) -> dt.date | None:
    """The first day of the earliest school year of the scope's schools: no report before it."""
    condition, params = scope_sql(scope, "sc.id")
    sql = (
        "SELECT MIN(y.starts_on) FROM schools_schoolyear y "  # noqa: S608 - whitelisted names
        f"JOIN schools_school sc ON sc.id = y.school_id WHERE {condition}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    value = row[0] if row else None
    if isinstance(value, str):  # SQLite returns an aggregate of dates as text
        return dt.date.fromisoformat(value)
    return value if isinstance(value, dt.date) else None
