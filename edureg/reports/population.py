"""The pupils as of the reporting date, read once for a whole set of definitions.

``queries.run_query`` answers one definition with one statement; at authority scale each pupil
or class definition then scans every enrolment, its student and the status history again (a
dozen seconds each on 2.5 M pupils). ``population_load`` reads that population once: one
statement counting the pupils per combination of the fields the definitions use (school, class,
grade, sex, ethnicity, ..., the status on the date — a count "cube", a few hundred thousand
rows at most), plus the classes of the school year. ``population_grouped`` then answers each
definition from it, in Python, exactly as its own statement would: the same population (the
SQL of ``queries``), the same filters (``queries.filter_terms``, NULL passing no test), the
same groups.

Only the ``pupils`` and ``classes`` sources are shared; the others are small and keep their own
statement.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, transaction

from edureg.reports.queries import (
    COVERS,
    SIZE_BANDS,
    STATUS_AS_OF,
    Grouped,
    Scope,
    active_codes,
    filter_terms,
    scope_sql,
    status_params,
)
from edureg.reports.spec import ReportSpec

SHARED_SOURCES = ("pupils", "classes")

# The pupils' fields as columns of the population (``queries._inner``, source "pupils"); the
# school's level and ownership are looked up from the school.
_PUPIL_COLUMNS = {
    "school": "e.school_id",
    "grade": "e.grade",
    "sex": "s.sex",
    "ethnicity": "s.ethnicity_code",
    "religion": "s.religion_code",
    "nationality": "s.nationality_code",
    "disability": "s.disability_code",
    "policy_group": "s.policy_group_code",
    "status": STATUS_AS_OF,
    "class_id": "e.school_class_id",
}
_OF_SCHOOL = ("school_level", "ownership")
_CLASS_COLUMNS = ("school", "school_level", "ownership", "grade", "class_id", "size_band")


@dataclasses.dataclass(frozen=True)
class _Frame:
    """Rows of a source's population: the ``columns``' values, then one number per
    ``weights`` (what each count of a definition adds up for the row)."""

    columns: tuple[str, ...]
    weights: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclasses.dataclass(frozen=True)
class Population:
    """The shared populations of one scope and date: ``pupils`` (counted per combination of the
    fields the definitions use), ``classes`` (one row per class, with its size)."""

    as_of: dt.date
    scope: Scope
    pupils: _Frame | None
    classes: _Frame | None

    def covers(self, spec: ReportSpec) -> bool:
        frame = self.pupils if spec.source == "pupils" else self.classes
        if spec.source not in SHARED_SOURCES or frame is None:
            return False
        return _fields_of(spec) <= set(frame.columns)


def shared(spec: ReportSpec) -> bool:
    return spec.source in SHARED_SOURCES


def _fields_of(spec: ReportSpec) -> set[str]:
    return {d for d in (spec.rows, spec.columns) if d} | {f.field for f in spec.filters}


def population_load(specs: Iterable[ReportSpec], *, as_of: dt.date, scope: Scope) -> Population:
    """Read once what ``specs`` (those of the shared sources) need."""
    wanted = [spec for spec in specs if shared(spec)]
    pupil_fields: set[str] = set()
    for spec in wanted:
        if spec.source == "pupils":
            pupil_fields |= _fields_of(spec)
    with_classes = any(spec.source == "classes" for spec in wanted)
    with_pupils = any(spec.source == "pupils" for spec in wanted)
    if not with_pupils and not with_classes:
        return Population(as_of, scope, None, None)
    # The population's own columns: those asked for, the school for its level and ownership,
    # the class and the status for the classes' sizes.
    columns = {f for f in pupil_fields if f in _PUPIL_COLUMNS}
    if pupil_fields & set(_OF_SCHOOL):
        columns.add("school")
    if with_classes:
        columns |= {"class_id", "status"}
    ordered = tuple(name for name in _PUPIL_COLUMNS if name in columns)
    cube = _cube(ordered, as_of=as_of, scope=scope)
    pupils = None
    if with_pupils:
        pupils = _pupils_frame(cube, ordered, pupil_fields, scope)
    classes = None
    if with_classes:
        classes = _classes_frame(cube, ordered, as_of=as_of, scope=scope)
    return Population(as_of, scope, pupils, classes)


# PostgreSQL: the status on the date as a join to the last change by then of the enrolments
# whose status dates from after it, not as ``STATUS_AS_OF``'s correlated sub-select (the same
# value): a correlated sub-select is evaluated by the leader alone, above the scans.
_STATUS_JOINED = (
    "CASE WHEN e.status_since <= %s THEN e.status_code ELSE COALESCE(h.status_code, %s) END"
)
_LAST_CHANGE = (
    "LEFT JOIN (SELECT DISTINCT ON (c.enrolment_id) c.enrolment_id, c.status_code "
    "FROM registry_enrolmentstatuschange c JOIN registry_enrolment f ON f.id = c.enrolment_id "
    "WHERE f.status_since > %s AND c.effective_on <= %s AND {within} "
    "ORDER BY c.enrolment_id, c.effective_on DESC, c.id DESC) h ON h.enrolment_id = e.id "
)


def _cube(columns: Sequence[str], *, as_of: dt.date, scope: Scope) -> list[tuple[Any, ...]]:
    """The pupils as of the date (``queries._inner``: an enrolment covering the date, of a
    student not merged away, with the status in force on it) counted per ``columns``."""
    within, within_params = scope_sql(scope, "e.school_id", joined=False)
    within_f = scope_sql(scope, "f.school_id", joined=False)[0]
    joined = connection.vendor == "postgresql" and "status" in columns
    expressions = {**_PUPIL_COLUMNS, "status": _STATUS_JOINED if joined else STATUS_AS_OF}
    selected = ", ".join(f"{expressions[name]} AS {name}" for name in columns)
    inner = (
        f"SELECT {selected or '1 AS one'} "  # noqa: S608 - whitelisted names
        "FROM registry_enrolment e JOIN registry_student s ON s.id = e.student_id "
        f"{_LAST_CHANGE.format(within=within_f) if joined else ''}"
        f"WHERE {COVERS} AND s.merged_into_id IS NULL AND {within}"
    )
    params: list[Any] = []
    if joined:
        params += [as_of, status_params(as_of)[-1], as_of, as_of, *within_params]
    elif "status" in columns:
        params += status_params(as_of)
    params += [as_of, as_of, *within_params]
    grouping = ", ".join(f"p.{name}" for name in columns)
    sql = f"SELECT {grouping + ', ' if grouping else ''}COUNT(*) FROM ({inner}) p"  # noqa: S608 - whitelisted names
    if grouping:
        sql += f" GROUP BY {grouping}"
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()]
    # For this one statement (set for the transaction — a savepoint when one is open — then put
    # back): no JIT, whose compiling costs more than it saves here, and workers for the scans
    # and the join (the planner, expecting a group per pupil, would not share the work).
    settings = {
        "jit": "off",
        "parallel_setup_cost": "0",
        "parallel_tuple_cost": "0",
        "work_mem": "64MB",
    }
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"current_setting('{name}')" for name in settings))
        previous = dict(zip(settings, cursor.fetchone() or (), strict=True))
        for name, value in settings.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        cursor.execute(sql, params)
        rows = [tuple(row) for row in cursor.fetchall()]
        for name, value in previous.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
    return rows


def _schools(scope: Scope) -> dict[int, tuple[Any, Any]]:
    condition, params = scope_sql(scope, "sc.id")
    sql = f"SELECT sc.id, sc.level, sc.ownership FROM schools_school sc WHERE {condition}"  # noqa: S608 - whitelisted names
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {int(pk): (level, ownership) for pk, level, ownership in cursor.fetchall()}


def _pupils_frame(
    cube: list[tuple[Any, ...]], columns: tuple[str, ...], fields: set[str], scope: Scope
) -> _Frame:
    """The cube added up over the columns no pupil definition asks for (the class), with the
    school's level and ownership when asked for."""
    kept = tuple(name for name in columns if name in fields)
    positions = [columns.index(name) for name in kept]
    school_at = columns.index("school") if "school" in columns else None
    extra = tuple(name for name in _OF_SCHOOL if name in fields)
    schools = _schools(scope) if extra else {}
    width = len(columns)
    totals: dict[tuple[Any, ...], int] = {}
    for row in cube:
        key = tuple(row[i] for i in positions)
        if extra:
            assert school_at is not None
            level, ownership = schools.get(int(row[school_at]), (None, None))
            key += tuple(level if name == "school_level" else ownership for name in extra)
        totals[key] = totals.get(key, 0) + int(row[width])
    return _Frame((*kept, *extra), ("pupils",), [(*k, n) for k, n in totals.items()])


def _classes_frame(
    cube: list[tuple[Any, ...]], columns: tuple[str, ...], *, as_of: dt.date, scope: Scope
) -> _Frame:
    """The classes of the school year containing the date (``queries._inner``, source
    "classes"), each with its size: its pupils with an active status on the date."""
    active = set(active_codes(as_of))
    class_at, status_at, width = columns.index("class_id"), columns.index("status"), len(columns)
    sizes: dict[int, int] = {}
    for row in cube:
        if row[class_at] is not None and row[status_at] in active:
            sizes[row[class_at]] = sizes.get(row[class_at], 0) + int(row[width])
    condition, params = scope_sql(scope, "k.school_id")
    sql = (
        "SELECT sc.id, sc.level, sc.ownership, k.grade, k.id "  # noqa: S608 - whitelisted names
        "FROM registry_schoolclass k "
        "JOIN schools_schoolyear y ON y.id = k.school_year_id "
        "JOIN schools_school sc ON sc.id = k.school_id "
        f"WHERE y.starts_on <= %s AND y.ends_on >= %s AND {condition}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [as_of, as_of, *params])
        found = cursor.fetchall()
    rows = []
    for school, level, ownership, grade, pk in found:
        size = sizes.get(pk, 0)
        rows.append((school, level, ownership, grade, pk, size_band(size), 1, size))
    return _Frame(_CLASS_COLUMNS, ("classes", "pupils"), rows)


def size_band(size: int) -> str:
    """``queries._band_case`` over ``SIZE_BANDS``, in Python."""
    for code, _, limit in SIZE_BANDS:
        if limit is not None and size <= limit:
            return code
    return SIZE_BANDS[-1][0]


def _test(position: int, op: str, values: tuple[Any, ...]) -> Callable[[tuple[Any, ...]], bool]:
    """A filter term as SQL reads it: NULL satisfies no comparison."""
    if op == "all":
        return lambda row: True
    if op == "none":
        return lambda row: False
    if op == "eq":
        wanted = values[0]
        return lambda row: row[position] is not None and row[position] == wanted
    if op == "ne":
        unwanted = values[0]
        return lambda row: row[position] is not None and row[position] != unwanted
    among = frozenset(values)
    if op == "in":
        return lambda row: row[position] is not None and row[position] in among
    return lambda row: row[position] is not None and row[position] not in among


def population_grouped(population: Population, spec: ReportSpec) -> Grouped:
    """``spec``'s grouped counts (``queries.run_query``'s result, rows in any order) from the
    shared population."""
    if not population.covers(spec):
        raise ValueError(f"the shared population does not cover the definition {spec.code!r}")
    frame = population.pupils if spec.source == "pupils" else population.classes
    assert frame is not None
    dimensions = tuple(d for d in (spec.rows, spec.columns) if d)
    counts = spec.counts_needed()
    width = len(frame.columns)
    keys = [frame.columns.index(d) for d in dimensions]
    sums = [width + frame.weights.index(name) for name in counts]
    tests = [
        _test(frame.columns.index(term.field), term.op, term.values)
        for term in filter_terms(spec, population.as_of)
    ]
    totals: dict[tuple[Any, ...], list[int]] = {}
    if not dimensions:
        totals[()] = [0] * len(sums)  # an aggregate without GROUP BY: always one row
    for row in frame.rows:
        if all(test(row) for test in tests):
            key = tuple(row[i] for i in keys)
            line = totals.get(key)
            if line is None:
                line = totals[key] = [0] * len(sums)
            for n, at in enumerate(sums):
                line[n] += int(row[at])
    return Grouped(dimensions, counts, [(*key, *line) for key, line in totals.items()])
