"""The registry's records as seen by the quality rules, per record and in batch.

One SQL text per owner entity (``_FEEDS``) yields every column the rules read — the record, its
school level, its current enrolment, whether its personal ID is held by a different person,
which field groups are attested and when each update group was last confirmed. The per-record
path runs it through Django's cursor for a few ids inside the write's transaction; the rescan
runs the same text for a range of schools into Polars (ADBC or connectorx, ``_read_frame``).
The rules then see the same columns either way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote

import polars as pl
from django.db import connection, transaction

from edureg.core.postgres_frames import read_postgres, reads
from edureg.core.sqlite_frames import read_sqlite
from edureg.quality.engine import (
    RowResult,
    evaluate_frame,
    evaluate_row,
    status_dimension_masks,
    summarise,
)
from edureg.quality.models import COUNTER_FIELDS, Finding
from edureg.quality.rules.catalogue import (
    DUPLICATE_COLUMN,
    DUPLICATE_RULE_CODE,
    UPSTREAM_COLUMN,
    UPSTREAM_RULE_CODE,
    Dimension,
    Kind,
    RuleSet,
    Severity,
)
from edureg.quality.rules.checks import TODAY
from edureg.quality.services import (
    OwnerResult,
    current_rule_set,
    states_replace,
    status_rules_apply,
    today,
)
from edureg.registry.models import IDENTITY_FIELDS

# The field group a register verification confirms (``FieldGroupCheck`` kind ``register``).
IDENTITY_GROUP = "identity"

_STUDENT_FIELDS = (
    "full_name", "education_id", "temporary_code", "date_of_birth", "sex", "ethnicity_code",
    "religion_code", "nationality_code", "personal_id_number", "birthplace_text",
    "birthplace_province", "birthplace_commune", "hometown_text", "hometown_province",
    "hometown_commune", "permanent_address", "permanent_province", "permanent_commune",
    "current_address", "current_province", "current_commune", "phone", "disability_code",
    "policy_group_code",
)
_STAFF_FIELDS = (
    "full_name", "education_id", "date_of_birth", "sex", "ethnicity_code", "religion_code",
    "nationality_code", "personal_id_number", "phone", "email", "job_position_code",
    "position_group_code", "employment_status_code", "qualification_code",
)
_GUARDIAN_FIELDS = ("full_name", "birth_year", "occupation", "phone", "personal_id_number")

# A personal ID is "shared" when a row of another table holds it under another person's name
# (each table keeps its IDs unique; the same parent in two schools has the same name key).
_OTHER_HOLDERS = {
    "student": ("registry_guardian", "registry_staff"),
    "guardian": ("registry_student", "registry_staff"),
    "staff": ("registry_student", "registry_guardian"),
}


# A pupil merged into another is no holder of anything any more (its row stays for history).
_LIVE_HOLDER = {"registry_student": " AND o.merged_into_id IS NULL"}


def _shared(alias: str, entity: str) -> str:
    probes = " OR ".join(
        f"EXISTS (SELECT 1 FROM {table} o "  # noqa: S608 - fixed names
        f"WHERE o.personal_id_number = {alias}.personal_id_number "
        f"AND o.name_match_key <> {alias}.name_match_key{_LIVE_HOLDER.get(table, '')})"
        for table in _OTHER_HOLDERS[entity])
    return (f"CASE WHEN {alias}.personal_id_number IS NOT NULL AND ({probes}) THEN 1 ELSE 0 END "
            "AS personal_id_shared")


def _open_pair_sql(own: str, other: str, alias: str) -> str:
    return ("SELECT 1 FROM dedupe_duplicatepair p "  # noqa: S608 - fixed names
            f"JOIN registry_student o ON o.id = p.{other} "
            f"WHERE p.entity = 'student' AND p.{own} = {alias}.id AND p.status = 'open' "
            "AND o.merged_into_id IS NULL")


def _duplicate_open(alias: str) -> str:
    """1 when the pupil has an open duplicate candidate (with a pupil not merged away)."""
    return (f"CASE WHEN EXISTS ({_open_pair_sql('left_id', 'right_id', alias)}) "
            f"OR EXISTS ({_open_pair_sql('right_id', 'left_id', alias)}) "
            f"THEN 1 ELSE 0 END AS {DUPLICATE_COLUMN}")


def _upstream_pending(alias: str) -> str:
    """1 when the pupil has a change the national sector database has not acknowledged."""
    return ("CASE WHEN EXISTS (SELECT 1 FROM quality_upstreampending u "  # noqa: S608 - fixed names
            f"WHERE u.entity = 'student' AND u.record_id = {alias}.id) "
            f"THEN 1 ELSE 0 END AS {UPSTREAM_COLUMN}")


# A rescan reads the (few) pupils waiting for the upstream once per chunk instead.
_UPSTREAM_PENDING_IDS = ("SELECT record_id FROM quality_upstreampending "
                         "WHERE entity = 'student'")


# The same for a rescan of many schools: every pupil with an open pair, read once per chunk.
_OPEN_PAIR_IDS = [
    f"SELECT p.{own} AS record_id FROM dedupe_duplicatepair p "  # noqa: S608 - fixed names
    f"JOIN registry_student o ON o.id = p.{other} "
    "WHERE p.entity = 'student' AND p.status = 'open' AND o.merged_into_id IS NULL"
    for own, other in (("left_id", "right_id"), ("right_id", "left_id"))]


@dataclasses.dataclass(frozen=True)
class _CheckColumn:
    """A column the checks yield: ``attested`` (1 when an attestation or register check of the
    group holds), or ``confirmed`` (the group's newest check; the record's creation without
    one: an update group never confirmed counts from then)."""

    column: str
    group: str
    attested: bool
    kinds: tuple[str, ...] = ("attest", "register")


def _check_columns(entity: str, rule_set: RuleSet) -> list[_CheckColumn]:
    found = [_CheckColumn(group.column, group.code, True)
             for group in rule_set.parameters.groups_for(entity)]
    found.append(_CheckColumn("identity_verified", IDENTITY_GROUP, True, ("register",)))
    found += [_CheckColumn(f"confirmed_{code}", code, False)
              for code in sorted(rule_set.update_groups)]
    return found


def _checks_sql(entity: str, rule_set: RuleSet) -> str:
    """The records' field-group checks aggregated, one row per record that has any (filtered
    by ``{check_where}``: the same ids or schools as the records)."""
    aggregates = []
    for item in _check_columns(entity, rule_set):
        if item.attested:
            kinds = ", ".join(f"'{kind}'" for kind in item.kinds)
            aggregates.append(f"MAX(CASE WHEN c.\"group\" = '{item.group}' AND c.kind IN "
                              f"({kinds}) AND c.ended_at IS NULL THEN 1 ELSE 0 END) "
                              f"AS {item.column}")
        else:
            aggregates.append(f"MAX(CASE WHEN c.\"group\" = '{item.group}' THEN c.checked_at "
                              f"END) AS {item.column}")
    return (f"SELECT c.record_id, {', '.join(aggregates)} "  # noqa: S608 - fixed names
            f"FROM quality_fieldgroupcheck c WHERE c.entity = '{entity}' AND {{check_where}} "
            "GROUP BY c.record_id")


def _checks_rows_sql(entity: str) -> str:
    """The checks themselves, for a rescan to aggregate as ``_checks_sql`` does (connectorx
    types these columns by their declaration even when every value is NULL)."""
    return ("SELECT c.record_id, c.\"group\" AS check_group, c.kind, c.ended_at, c.checked_at "  # noqa: S608 - fixed names
            f"FROM quality_fieldgroupcheck c WHERE c.entity = '{entity}' AND {{check_where}}")


def _checks_join(alias: str, entity: str, rule_set: RuleSet) -> tuple[list[str], str]:
    """The checks' columns (a record without any: 0, or its creation) and the join that yields
    them."""
    columns = [f"COALESCE(c.{item.column}, {0 if item.attested else alias + '.created_at'}) "
               f"AS {item.column}" for item in _check_columns(entity, rule_set)]
    join = f"LEFT JOIN ({_checks_sql(entity, rule_set)}) c ON c.record_id = {alias}.id"
    return columns, join


def _checks_frame_join(frame: pl.DataFrame, checks: pl.DataFrame, entity: str,
                       rule_set: RuleSet) -> pl.DataFrame:
    """``_checks_join`` over a frame read without it (``created_at`` read instead), from the
    checks' rows. A confirmation keeps the timestamp type when the check's and the record's
    agree, else both become text (which the rules read by their first ten characters)."""
    items = _check_columns(entity, rule_set)
    group, is_open = pl.col("check_group").cast(pl.Utf8), pl.col("ended_at").is_null()
    aggregated = checks.group_by("record_id").agg(*[
        ((group == item.group) & pl.col("kind").cast(pl.Utf8).is_in(list(item.kinds))
         & is_open).max().cast(pl.Int64).alias(item.column)
        if item.attested else
        pl.col("checked_at").filter(group == item.group).max().alias(item.column)
        for item in items])
    created = frame.schema["created_at"]
    same_type = created.is_temporal() and checks.schema["checked_at"] == created
    joined = frame.join(aggregated.with_columns(pl.col("record_id").cast(pl.Int64)),
                        on="record_id", how="left")
    return joined.with_columns(*[
        pl.col(item.column).fill_null(0).alias(item.column) if item.attested else
        pl.coalesce(pl.col(item.column), pl.col("created_at")).alias(item.column) if same_type
        else pl.coalesce(pl.col(item.column).cast(pl.Utf8),
                         pl.col("created_at").cast(pl.Utf8)).alias(item.column)
        for item in items]).drop("created_at")


def _created_at(alias: str) -> str:
    """The record's creation, read by a rescan for its confirmation columns. SQLite keeps it as
    text, which connectorx would parse into a timestamp (a quarter of the cost of reading a
    pupil's row); the rules read the day from the text as well."""
    if connection.vendor == "sqlite":
        return f"CAST({alias}.created_at AS TEXT) AS created_at"
    return f"{alias}.created_at"


def _student_sql(rule_set: RuleSet, *, batch: bool = False) -> str:
    fields = ", ".join(f"s.{name}" for name in _STUDENT_FIELDS)
    checks, join = _checks_join("s", "student", rule_set)
    if batch:  # shared IDs, checks, open duplicate pairs and pending changes joined in Polars
        checks, join = [_created_at("s")], ""
    per_row = [_shared("s", "student"), _duplicate_open("s"), _upstream_pending("s")]
    extra = ", ".join(per_row * (not batch) + checks)
    return (
        f"SELECT s.id AS owner_id, s.id AS record_id, s.school_id, s.current_class_id AS class_id, "  # noqa: S608 - fixed names
        f"sc.level AS school_level, e.grade, e.status_code, sy.start_year, {fields}, {extra} "
        "FROM registry_student s JOIN schools_school sc ON sc.id = s.school_id "
        "LEFT JOIN registry_enrolment e ON e.student_id = s.id AND e.is_current = TRUE "
        "LEFT JOIN schools_schoolyear sy ON sy.id = e.school_year_id "
        f"{join} WHERE s.merged_into_id IS NULL AND {{where}} ORDER BY s.id"
    )


# What the guardian feed takes from its pupil's row (pupil column, guardian feed column).
_FROM_PUPIL = (("school_id", "school_id"), ("class_id", "class_id"),
               ("school_level", "school_level"), ("status_code", "status_code"),
               ("date_of_birth", "child_birth"))


def _guardian_lean_sql() -> str:
    """The guardian feed of a rescan of many schools: the guardians' own columns only; the
    pupil's (``_FROM_PUPIL``) are joined from the pupil feed's frame, not read again per
    guardian. ``personal_id_shared`` comes from ``_shared_ids``. Pupils merged away are left
    out by that join too (the pupil frame has none): the pupils are then found from the
    schools' index alone, without reading their rows (a third of this query on SQLite)."""
    fields = ", ".join(f"g.{name}" for name in _GUARDIAN_FIELDS)
    return (
        f"SELECT l.student_id AS owner_id, g.id AS record_id, {fields} "  # noqa: S608 - fixed names
        "FROM registry_student s JOIN registry_studentguardian l ON l.student_id = s.id "
        "JOIN registry_guardian g ON g.id = l.guardian_id "
        "WHERE {where} ORDER BY l.student_id, g.id"
    )


def _guardian_sql() -> str:
    fields = ", ".join(f"g.{name}" for name in _GUARDIAN_FIELDS)
    return (
        f"SELECT l.student_id AS owner_id, g.id AS record_id, s.school_id, "  # noqa: S608 - fixed names
        f"s.current_class_id AS class_id, sc.level AS school_level, e.status_code, "
        f"s.date_of_birth AS child_birth, {fields}, {_shared('g', 'guardian')} "
        "FROM registry_studentguardian l JOIN registry_guardian g ON g.id = l.guardian_id "
        "JOIN registry_student s ON s.id = l.student_id "
        "JOIN schools_school sc ON sc.id = s.school_id "
        "LEFT JOIN registry_enrolment e ON e.student_id = s.id AND e.is_current = TRUE "
        "WHERE s.merged_into_id IS NULL AND {where} ORDER BY l.student_id, g.id"
    )


def _staff_sql(rule_set: RuleSet, *, batch: bool = False) -> str:
    fields = ", ".join(f"t.{name}" for name in _STAFF_FIELDS)
    checks, join = _checks_join("t", "staff", rule_set)
    if batch:  # shared IDs and checks joined in Polars
        checks, join = [_created_at("t")], ""
    extra = ", ".join([_shared("t", "staff")] * (not batch) + checks)
    return (
        # No class column: connectorx cannot type an all-NULL expression on SQLite.
        f"SELECT t.id AS owner_id, t.id AS record_id, t.school_id, "  # noqa: S608 - fixed names
        f"sc.level AS school_level, {fields}, {extra} "
        f"FROM registry_staff t JOIN schools_school sc ON sc.id = t.school_id {join} "
        "WHERE {where} ORDER BY t.id"
    )


@dataclasses.dataclass(frozen=True)
class _Feed:
    owner: str
    entity: str
    sql: str
    owner_alias: str  # where the owner's id and school are filtered
    # A rescan of many schools reads this instead: no ``personal_id_shared`` (derived from the
    # shared ID numbers found once, ``_shared_ids``, instead of two index probes per row)
    # and, for guardians, without the pupil's columns (joined from the pupil frame).
    batch_sql: str
    from_owner: tuple[tuple[str, str], ...] = ()
    checks_sql: str | None = None  # the checks, read apart and joined to ``batch_sql``'s frame


def _feeds(rule_set: RuleSet, owner: str) -> tuple[_Feed, ...]:
    if owner == "student":
        return (_Feed("student", "student", _student_sql(rule_set), "s",
                      _student_sql(rule_set, batch=True),
                      checks_sql=_checks_rows_sql("student")),
                _Feed("student", "guardian", _guardian_sql(), "s", _guardian_lean_sql(),
                      _FROM_PUPIL))
    return (_Feed("staff", "staff", _staff_sql(rule_set), "t", _staff_sql(rule_set, batch=True),
                  checks_sql=_checks_rows_sql("staff")),)


_ID_TABLES = ("registry_student", "registry_guardian", "registry_staff")


def _shared_ids_sql() -> str:
    """The rows of every ID number found in more than one table (each table keeps its IDs
    unique, so only these can be held under another name). The numbers are matched on the
    tables' unique indexes, which reads index entries rather than the tables' rows, and only
    the few such numbers' rows are transferred (a city: 3 s of SQLite instead of reading and
    grouping 6.4 M pairs, 35 s)."""
    candidates = " UNION ".join(
        f"SELECT a.personal_id_number AS pid FROM {held} a WHERE EXISTS "  # noqa: S608 - fixed names
        f"(SELECT 1 FROM {other} b WHERE b.personal_id_number = a.personal_id_number)"
        for held, other in (("registry_guardian", "registry_student"),
                            ("registry_staff", "registry_student"),
                            ("registry_staff", "registry_guardian")))
    holders = " UNION ALL ".join(
        f"SELECT o.personal_id_number AS pid, o.name_match_key AS name_key FROM {table} o "  # noqa: S608 - fixed names
        f"WHERE o.personal_id_number IN (SELECT pid FROM candidate){_LIVE_HOLDER.get(table, '')}"
        for table in _ID_TABLES)
    return f"WITH candidate AS ({candidates}) {holders}"


def _shared_ids(*, own_connection: bool) -> pl.Series:
    """The ID numbers held under more than one name across the three tables: each table keeps
    its IDs unique, so these are exactly the IDs a row of another table holds under another
    person's name (what ``_shared`` asks per row)."""
    pairs = _read_frame(_shared_ids_sql(), own_connection=own_connection)
    if pairs.height == 0:  # nothing shared (and an empty read may leave the columns untyped)
        return pl.Series("pid", [], dtype=pl.Utf8)
    return (pairs.group_by("pid").agg(pl.col("name_key").min().alias("low"),
                                      pl.col("name_key").max().alias("high"))
            .filter(pl.col("low") != pl.col("high")).get_column("pid").cast(pl.Utf8))


# --- per-record path ---------------------------------------------------------------------

def _rows(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def records_refresh(owner: str, ids: Iterable[int], *, on: dt.date | None = None) -> None:
    """Recompute and store the quality state of some students or staff (with a student's
    guardians), inside the caller's transaction. Records that no longer exist lose their
    state."""
    wanted = sorted(set(ids))
    if not wanted:
        return
    rule_set = current_rule_set()
    day = on or today()
    status_rules = rule_set.status_rules(owner)
    placeholders = ", ".join(["%s"] * len(wanted))
    per_owner: dict[int, list[tuple[str, dict[str, Any], RowResult]]] = defaultdict(list)
    owners: dict[int, dict[str, Any]] = {}
    for feed in _feeds(rule_set, owner):
        rules = rule_set.for_entity(feed.entity)
        statuses = status_rules if feed.entity == owner else ()
        sql = (feed.sql.replace("{check_where}", f"c.record_id IN ({placeholders})")
               .replace("{where}", f"{feed.owner_alias}.id IN ({placeholders})"))
        repeats = feed.sql.count("{check_where}") + 1  # the join's filter comes first
        for row in _rows(sql, wanted * repeats):
            row[TODAY] = day
            result = evaluate_row(rules, statuses, row)
            per_owner[row["owner_id"]].append((feed.entity, row, result))
            if feed.entity == owner:
                owners[row["owner_id"]] = row
    results = []
    for owner_id, row in owners.items():
        evaluated = per_owner[owner_id]
        own_bits = next(r.status_bits for e, _, r in evaluated if e == owner)
        summary = summarise(rule_set, owner, [r for _, _, r in evaluated], own_bits)
        findings = tuple((entity, int(item["record_id"]), rule)
                         for entity, item, result in evaluated for rule in result.violated)
        results.append(OwnerResult(owner, owner_id, int(row["school_id"]),
                                   row.get("class_id"), summary, findings))
    states_replace(owner, results, rule_set=rule_set, owner_ids=wanted)


def register_checks_changed(owner: str, ids: Iterable[int]) -> None:
    """The population register's checks of these owners changed (verification answers were
    stored). Only the status rules reading the identity group's check columns can change:
    they are evaluated again from the stored checks and their outcome stored
    (``status_rules_apply``), which costs two statements per call instead of measuring every
    rule of every owner. Owners without a stored state are measured in full. Runs in the
    caller's transaction."""
    wanted = sorted(set(ids))
    if not wanted:
        return
    rule_set = current_rule_set()
    columns = {item.column for item in _check_columns(owner, rule_set)
               if item.attested and item.group == IDENTITY_GROUP and "register" in item.kinds}
    reading = [rule for rule in rule_set.status_rules(owner) if rule.columns & columns]
    if any(not rule.columns <= columns for rule in reading):
        records_refresh(owner, wanted)  # a rule reads more than the checks: measured in full
        return
    placeholders = ", ".join(["%s"] * len(wanted))
    sql = _checks_sql(owner, rule_set).replace("{check_where}",
                                                f"c.record_id IN ({placeholders})")
    found = {int(row["record_id"]): row for row in _rows(sql, wanted)}
    unchecked = dict.fromkeys(columns, 0)
    outcomes = {rule.code: {pk: rule.check.row(found.get(pk, unchecked)) for pk in wanted}
                for rule in reading}
    left = status_rules_apply(owner, outcomes, rule_set=rule_set)
    if left:
        records_refresh(owner, left)


def duplicates_changed(ids: Iterable[int]) -> None:
    """Duplicate pairs of these pupils were found, decided or merged (or a pupil they pair
    with was merged away or back): only the "open duplicate" status rule can change. It is
    evaluated from the stored pairs and its outcome stored (``status_rules_apply``); pupils
    without a stored state are measured in full. Runs in the caller's transaction."""
    wanted = sorted(set(ids))
    if not wanted:
        return
    rule_set = current_rule_set()
    placeholders = ", ".join(["%s"] * len(wanted))
    live = {int(row["id"]): bool(row[DUPLICATE_COLUMN]) for row in _rows(
        f"SELECT s.id, {_duplicate_open('s')} FROM registry_student s "  # noqa: S608 - fixed names
        f"WHERE s.merged_into_id IS NULL AND s.id IN ({placeholders})", wanted)}
    gone = [pk for pk in wanted if pk not in live]
    if gone:  # merged away (or deleted): their state goes
        records_refresh("student", gone)
    if not live:
        return
    left = status_rules_apply("student", {DUPLICATE_RULE_CODE: live}, rule_set=rule_set)
    if left:
        records_refresh("student", left)


def upstream_changed(pending: Mapping[int, bool]) -> None:
    """Whether these pupils have a change the national sector database has not acknowledged
    changed (``pending``: pupil id → waiting): only the "sống" upstream status rule can change,
    and its outcome is stored (``status_rules_apply``). Pupils without a stored state of the
    rule set in force are left alone: they are measured in full, reading the pending rows, by
    their next write or rescan. Runs in the caller's transaction (the relay's)."""
    if pending:
        status_rules_apply("student", {UPSTREAM_RULE_CODE: dict(pending)},
                           rule_set=current_rule_set())


def blocking_errors(owner: str, owner_id: int, changed: Iterable[str]) -> dict[str, list[str]]:
    """Error-severity findings of the owner's stored state on the fields a write changed:
    field → messages. The write is refused (and rolled back) when there are any."""
    rule_set = current_rule_set()
    fields = set(changed)
    errors: dict[str, list[str]] = {}
    for finding in Finding.objects.filter(owner_entity=owner, owner_id=owner_id,
                                          entity=owner, severity=Severity.ERROR.value):
        rule = rule_set.get(finding.rule_code)
        touched = [name for name in rule.fields if name in fields]
        if touched:
            errors.setdefault(touched[0], []).append(rule.message)
    return errors


# --- batch path ----------------------------------------------------------------------------

# A connection to this machine gains nothing from TLS (libpq's default tries it first).
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _postgres_uri() -> str:
    """Django's PostgreSQL database as a libpq URI, for the batch reads' own connections."""
    db = connection.settings_dict  # the test database's name during tests
    user, password = quote(db.get("USER") or "", safe=""), quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    sslmode = (db.get("OPTIONS") or {}).get("sslmode") or (
        "disable" if host in _LOCAL_HOSTS else None)
    return (f"postgresql://{auth}{host}{port}/{quote(str(db['NAME']), safe='')}"
            + (f"?sslmode={sslmode}" if sslmode else ""))


# The rescan's own PostgreSQL sessions: the data sits on SSD, where an index probe costs about
# what a sequential page does (the default 4.0 made the planner scan all 2.5 M enrolments
# for every chunk of 70,000 pupils: 2.8 s instead of 0.3 s); JIT compilation costs more
# than it saves on these queries. No parallel workers: the rescan already keeps every core busy
# (two reads at once, and the rules), and a chunk's guardian query run by two workers more cost
# 3 s of processor time instead of 0.7 s on the 2-core reference machine.
_POSTGRES_SESSION = ("SET random_page_cost = 1.1", "SET jit = off",
                     "SET max_parallel_workers_per_gather = 0")


def _read_frame(sql: str | list[str], *, own_connection: bool = False) -> pl.DataFrame:
    """The rows of one query, or of several concatenated, as a frame, read column-wise on
    connections of their own (several queries on as many threads): PostgreSQL through ADBC
    (``core.postgres_frames``), SQLite through connectorx in a child process. A rescan called
    inside the caller's transaction (a seed or a test that has not committed) reads through
    Django's cursor (``own_connection``): only this connection sees the rows, and it may hold
    locks another connection would wait on. The rules' expressions accept either typing."""
    queries = [sql] if isinstance(sql, str) else sql
    if own_connection:
        frames = []
        with connection.cursor() as cursor:
            for query in queries:
                cursor.execute(query)
                names = [column[0] for column in cursor.description]
                frames.append(pl.DataFrame(cursor.fetchall(), schema=names, orient="row",
                                           infer_schema_length=None, strict=False))
        return pl.concat(frames, how="diagonal_relaxed")
    if connection.vendor == "sqlite":
        return read_sqlite(str(connection.settings_dict["NAME"]), queries)
    return read_postgres(_postgres_uri(), queries, _POSTGRES_SESSION)


_Task = TypeVar("_Task")


@dataclasses.dataclass
class ScanReport:
    owner: str
    schools: int = 0
    records: int = 0
    rows: int = 0
    findings: int = 0
    read_seconds: float = 0.0
    rules_seconds: float = 0.0
    write_seconds: float = 0.0


def _school_chunks(school_ids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(school_ids), size):
        yield school_ids[start:start + size]


# From this many schools on, a rescan finds the shared ID numbers once (a few seconds for a city)
# rather than probing two indexes per row (about 6 µs a row).
SHARED_FROM_ALL_IDS_SCHOOLS = 200


# Queries per chunk read at once (one thread and connection each; 2 beat 1 on 2 cores).
READ_PARTS = 2


def _default_chunk() -> int:
    # Measured on 2.5 M pupils: SQLite reads fastest in large chunks (500 schools: 64 s, 100:
    # 69 s); PostgreSQL's planner turns to full-table hash joins past about 100 schools.
    return 100 if connection.vendor == "postgresql" else 500


def rescan_all(school_ids: Sequence[int], *, on: dt.date | None = None,
               schools_per_chunk: int | None = None, shared_from_all_ids: bool | None = None
               ) -> list[ScanReport]:
    """``rescan`` of pupils (with their guardians) and of staff, reading every ID number once
    for both."""
    return _rescan_owners(("student", "staff"), school_ids, on=on,
                          schools_per_chunk=schools_per_chunk or _default_chunk(),
                          shared_from_all_ids=shared_from_all_ids)


def rescan(owner: str, school_ids: Sequence[int], *, on: dt.date | None = None,
           schools_per_chunk: int | None = None, shared_from_all_ids: bool | None = None
           ) -> ScanReport:
    """Recompute the state of every ``owner`` record of the schools with the same rules, read
    through Polars, written in one transaction per chunk of schools (totals rebuilt). While a
    chunk is measured and written, the next one is read (on connections of its own,
    each chunk's halves in parallel), so reading, rules and writing share the cores."""
    (report,) = _rescan_owners((owner,), school_ids, on=on,
                               schools_per_chunk=schools_per_chunk or _default_chunk(),
                               shared_from_all_ids=shared_from_all_ids)
    return report


def _rescan_owners(owners: Sequence[str], school_ids: Sequence[int], *, on: dt.date | None,
                   schools_per_chunk: int, shared_from_all_ids: bool | None
                   ) -> list[ScanReport]:
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return _rescan_reads(owners, school_ids, on=on, schools_per_chunk=schools_per_chunk,
                             shared_from_all_ids=shared_from_all_ids)
    # The rescan's reads share connections opened once (each new one costs PostgreSQL a
    # backend start, and a rescan of a city makes several hundred reads).
    with reads(_postgres_uri(), _POSTGRES_SESSION):
        return _rescan_reads(owners, school_ids, on=on, schools_per_chunk=schools_per_chunk,
                             shared_from_all_ids=shared_from_all_ids)


def _rescan_reads(owners: Sequence[str], school_ids: Sequence[int], *, on: dt.date | None,
                  schools_per_chunk: int, shared_from_all_ids: bool | None
                  ) -> list[ScanReport]:
    if shared_from_all_ids is None:
        shared_from_all_ids = len(school_ids) >= SHARED_FROM_ALL_IDS_SCHOOLS
    own_connection = connection.in_atomic_block
    if not shared_from_all_ids:
        return _rescan(owners, school_ids, on=on, schools_per_chunk=schools_per_chunk,
                       shared=None)
    if own_connection:  # Django's connection is this thread's only
        found = _shared_ids(own_connection=True)
        return _rescan(owners, school_ids, on=on, schools_per_chunk=schools_per_chunk,
                       shared=lambda: found)
    # The ID numbers are read while the first chunk is: the rules wait for both.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rescan-ids") as pool:
        future = pool.submit(_shared_ids, own_connection=False)
        return _rescan(owners, school_ids, on=on, schools_per_chunk=schools_per_chunk,
                       shared=future.result)


def _with_shared(frames: list[tuple[_Feed, pl.DataFrame]], shared: pl.Series
                 ) -> list[tuple[_Feed, pl.DataFrame]]:
    """``personal_id_shared`` from the IDs held under more than one name (``_shared_ids``)."""
    return [(feed, frame.with_columns(
        pl.col("personal_id_number").cast(pl.Utf8).is_in(shared.implode()).fill_null(False)
        .cast(pl.Int64).alias("personal_id_shared"))) for feed, frame in frames]


# A school has about fifteen times as many pupils as staff: staff chunks hold ten times as many
# schools, so that each read carries enough rows to be worth its connections (on PostgreSQL
# the staff's 100-school chunks cost a sixth of the rescan for 6 % of its rows).
STAFF_CHUNK_FACTOR = 10


def _rescan(owners: Sequence[str], school_ids: Sequence[int], *, on: dt.date | None,
            schools_per_chunk: int, shared: Callable[[], pl.Series] | None
            ) -> list[ScanReport]:
    """The owners' chunks, in order, through one read-ahead: the first chunk of the next owner
    is read while the last of the previous one is measured and written."""
    rule_set = current_rule_set()
    day = on or today()
    reports = {owner: ScanReport(owner) for owner in owners}
    status_rules = {owner: rule_set.status_rules(owner) for owner in owners}
    masks = {owner: status_dimension_masks(rule_set, owner) for owner in owners}
    own_connection = connection.in_atomic_block
    tasks = [(owner, chunk) for owner in owners for chunk in _school_chunks(
        sorted(school_ids),
        schools_per_chunk * (STAFF_CHUNK_FACTOR if owner == "staff" else 1))]
    # Pupils with an open duplicate pair: one read for the whole rescan (a few tens of
    # thousands of ids in a city), on the read thread at its first chunk.
    paired_ids = functools.cache(lambda: _read_frame(
        _OPEN_PAIR_IDS, own_connection=own_connection).get_column("record_id").cast(pl.Int64))

    def read(task: tuple[str, Sequence[int]]) -> _Chunk:
        return _chunk_read(rule_set, task[0], task[1], day=day, batch=shared is not None,
                           own_connection=own_connection, paired_ids=paired_ids)

    for data in _read_ahead(tasks, read, ahead=not own_connection):
        owner, report = data.owner, reports[data.owner]
        started = time.perf_counter()
        frames = data.frames if shared is None else _with_shared(data.frames, shared())
        owner_frame, findings, per_owner = _evaluate(rule_set, owner, frames,
                                                     status_rules[owner], masks[owner])
        evaluated = time.perf_counter()
        _replace_chunk(owner, data, per_owner, findings, rule_set)
        written = time.perf_counter()
        report.schools += len(data.schools)
        report.records += owner_frame.height
        report.rows += sum(frame.height for _, frame in data.frames)
        report.findings += findings.height
        report.read_seconds += data.seconds
        report.rules_seconds += evaluated - started
        report.write_seconds += written - evaluated
    return [reports[owner] for owner in owners]


@dataclasses.dataclass(frozen=True)
class _Chunk:
    """A chunk of schools as read: the feeds' frames and the state stored for them."""

    owner: str
    schools: Sequence[int]
    frames: list[tuple[_Feed, pl.DataFrame]]
    stored: pl.DataFrame
    stored_findings: pl.DataFrame
    seconds: float
    read_at: dt.datetime


def _ids(school_ids: Sequence[int]) -> str:
    return ", ".join(str(int(i)) for i in school_ids)


def _chunk_read(rule_set: RuleSet, owner: str, schools: Sequence[int], *, day: dt.date,
                batch: bool, own_connection: bool,
                paired_ids: Callable[[], pl.Series] | None = None) -> _Chunk:
    from django.utils import timezone

    read_at = timezone.now()
    started = time.perf_counter()
    size = -(-len(schools) // READ_PARTS)
    parts = [schools[start:start + size] for start in range(0, len(schools), size)]
    table = "registry_student" if owner == "student" else "registry_staff"
    frames: list[tuple[_Feed, pl.DataFrame]] = []
    for feed in _feeds(rule_set, owner):
        queries = []
        for part in parts:
            # Checks belong to the record wherever they were made (a pupil who moved keeps
            # them): select them by the records of these schools, as the per-record path does.
            check_where = (f"c.record_id IN (SELECT x.id FROM {table} x "  # noqa: S608 - ints
                           f"WHERE x.school_id IN ({_ids(part)}))")
            # Unordered: the frames are joined and grouped by id, and sorting costs the read.
            sql = feed.batch_sql if batch else feed.sql
            unordered = sql[:sql.rindex(" ORDER BY ")]
            queries.append(unordered.replace("{check_where}", check_where)
                           .replace("{where}", f"{feed.owner_alias}.school_id IN ({_ids(part)})"))
        frame = _read_frame(queries, own_connection=own_connection).with_columns(
            pl.lit(day).alias(TODAY))
        if batch:
            if feed.entity == "student":
                paired = paired_ids() if paired_ids is not None else _read_frame(
                    _OPEN_PAIR_IDS, own_connection=own_connection
                ).get_column("record_id").cast(pl.Int64)
                pending = _read_frame(_UPSTREAM_PENDING_IDS, own_connection=own_connection
                                      ).get_column("record_id").cast(pl.Int64)
                frame = frame.with_columns(
                    pl.col("record_id").cast(pl.Int64).is_in(paired.implode())
                    .cast(pl.Int64).alias(DUPLICATE_COLUMN),
                    pl.col("record_id").cast(pl.Int64).is_in(pending.implode())
                    .cast(pl.Int64).alias(UPSTREAM_COLUMN))
            if feed.checks_sql:
                check_where = (f"c.record_id IN (SELECT x.id FROM {table} x "  # noqa: S608
                               f"WHERE x.school_id IN ({_ids(schools)}))")
                checks = _read_frame(feed.checks_sql.replace("{check_where}", check_where),
                                     own_connection=own_connection)
                frame = _checks_frame_join(frame, checks, feed.entity, rule_set)
            if feed.from_owner:
                owner_frame = frames[0][1].lazy().select(
                    "owner_id", *[pl.col(a).alias(b) for a, b in feed.from_owner])
                # Lazily: an eager join runs without Polars' optimisations (twice as long).
                frame = frame.lazy().join(owner_frame, on="owner_id", how="inner").collect()
        if "class_id" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias("class_id"))
        frames.append((feed, frame))
    # The stored state in parts too, so that neither core waits while it is read.
    stored = _read_frame([
        f"SELECT {', '.join(_COMPARED_STATE)} FROM quality_recordstate "  # noqa: S608 - ints only
        f"WHERE entity = '{owner}' AND school_id IN ({_ids(part)})" for part in parts],
        own_connection=own_connection)
    # SQLite, without statistics, would take the owner index and read all the owner kind's
    # findings for each part; a unary plus leaves it the school index.
    kind = "+owner_entity" if connection.vendor == "sqlite" else "owner_entity"
    stored_findings = _read_frame([
        f"SELECT {', '.join(_COMPARED_FINDING)} FROM quality_finding "  # noqa: S608 - ints only
        f"WHERE {kind} = '{owner}' AND school_id IN ({_ids(part)})" for part in parts],
        own_connection=own_connection)
    return _Chunk(owner, schools, frames, stored, stored_findings,
                  time.perf_counter() - started, read_at)


def _read_ahead(chunks: Sequence[_Task], read: Callable[[_Task], _Chunk], *,
                ahead: bool) -> Iterator[_Chunk]:
    """The chunks as read, each next one read on a thread while the caller works on the
    current one (``ahead``); in order, one after the other, otherwise."""
    if not ahead:
        for chunk in chunks:
            yield read(chunk)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rescan-read") as pool:
        pending = pool.submit(read, chunks[0]) if chunks else None
        for index in range(len(chunks)):
            assert pending is not None
            current = pending.result()
            pending = pool.submit(read, chunks[index + 1]) if index + 1 < len(chunks) else None
            yield current


def _evaluate(rule_set: RuleSet, owner: str, frames: list[tuple[_Feed, pl.DataFrame]],
              status_rules: Sequence[Any], masks: dict[Dimension, int]
              ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    keys = ["owner_id", "record_id", "school_id", "class_id"]
    finding_frames = []
    sums = []
    owner_frame = pl.DataFrame()
    for feed, frame in frames:
        rules = [r for r in rule_set.for_entity(feed.entity) if r.kind is Kind.PROBLEM]
        statuses = status_rules if feed.entity == owner else ()
        result = evaluate_frame(rules, statuses, frame)
        result = pl.concat([frame.select(keys).with_columns(
            pl.col("owner_id").cast(pl.Int64), pl.col("record_id").cast(pl.Int64),
            pl.col("school_id").cast(pl.Int64), pl.col("class_id").cast(pl.Int64)), result],
            how="horizontal")
        if feed.entity == owner:
            owner_frame = result.select(*keys, "status_bits")
        codes = [r.code for r in rules]
        if codes:
            # Only the few rows with a hit are unpivoted (not rows × rules).
            long = (result.select(*keys, *codes).filter(pl.any_horizontal(codes))
                    .unpivot(index=keys, on=codes, variable_name="rule_code", value_name="hit")
                    .filter(pl.col("hit")).drop("hit")
                    .with_columns(pl.lit(feed.entity).alias("entity")))
            finding_frames.append(long)
        sums.append(result.select("owner_id", "required_total", "required_filled"))
    rule_table = pl.DataFrame({
        "rule_code": [r.code for r in rule_set.rules],
        "field": [r.fields[0] for r in rule_set.rules],
        "dimension": [r.dimension.value for r in rule_set.rules],
        "severity": [r.severity.value for r in rule_set.rules],
        "weight": [r.weight for r in rule_set.rules],
    })
    schema = {"owner_id": pl.Int64, "record_id": pl.Int64, "school_id": pl.Int64,
              "class_id": pl.Int64, "rule_code": pl.Utf8, "entity": pl.Utf8}
    findings = (pl.concat(finding_frames) if finding_frames else pl.DataFrame(schema=schema))
    findings = findings.join(rule_table, on="rule_code", how="left")
    # Lazily: Polars runs an eager group_by or join without its optimisations, and the
    # grouping of a chunk's rows by owner took four times as long.
    per_dimension = findings.lazy().group_by("owner_id").agg(
        (pl.col("severity") == Severity.ERROR.value).sum().alias("errors"),
        (pl.col("severity") == Severity.WARNING.value).sum().alias("warnings"),
        *[(pl.col("dimension") == d.value).any().alias(f"bad_{d.value}") for d in Dimension],
    )
    required = pl.concat(sums).lazy().group_by("owner_id").agg(
        pl.col("required_total").sum(), pl.col("required_filled").sum())
    bits = pl.col("status_bits")
    per_owner = (
        owner_frame.lazy().join(required, on="owner_id", how="left")
        .join(per_dimension, on="owner_id", how="left")
        .with_columns(
            pl.col("errors").fill_null(0), pl.col("warnings").fill_null(0),
            pl.col("required_total").fill_null(0), pl.col("required_filled").fill_null(0),
            *[(~pl.col(f"bad_{d.value}").fill_null(False) & ((bits & masks[d]) == 0))
              .alias(_FLAG[d]) for d in Dimension])
    ).collect()
    return owner_frame, findings, per_owner


_FLAG = {Dimension.CORRECT: "correct_ok", Dimension.COMPLETE: "complete_ok",
         Dimension.CLEAN: "clean_ok", Dimension.LIVE: "live_ok"}
_STATE_COLUMNS = ("entity", "record_id", "school_id", "class_id", "required_total",
                  "required_filled", "errors", "warnings", "correct_ok", "complete_ok",
                  "clean_ok", "live_ok", "status_bits", "rule_set", "computed_at")
_FINDING_COLUMNS = ("owner_entity", "owner_id", "school_id", "class_id", "entity", "record_id",
                    "rule_code", "field", "dimension", "severity", "weight")


_COMPARED_STATE = ("record_id", "school_id", "class_id", "required_total", "required_filled",
                   "errors", "warnings", "correct_ok", "complete_ok", "clean_ok", "live_ok",
                   "status_bits")
_COMPARED_FINDING = ("owner_id", "school_id", "class_id", "entity", "record_id", "rule_code")
_IDS_PER_DELETE = 5000


def _changed_owners(states: pl.DataFrame, findings: pl.DataFrame, stored: pl.DataFrame,
                    stored_findings: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Owners whose stored state or findings differ from the new ones (to rewrite), and stored
    owners that are gone (to delete). Unchanged owners are not written at all, so a rescan
    after a rule change writes only what the change moved."""
    new = _typed(states.select(_COMPARED_STATE)).sort("record_id")
    old = _typed(stored.select(_COMPARED_STATE)).sort("record_id")
    new_findings = _typed(findings.select(_COMPARED_FINDING))
    old_findings = _typed(stored_findings.select(_COMPARED_FINDING))
    finding_owners = [
        new_findings.join(old_findings, on=list(_COMPARED_FINDING), how="anti",
                          nulls_equal=True).get_column("owner_id"),
        old_findings.join(new_findings, on=list(_COMPARED_FINDING), how="anti",
                          nulls_equal=True).get_column("owner_id")]
    if new.get_column("record_id").equals(old.get_column("record_id")):
        # The usual case, the same owners as stored (each once): their rows side by side.
        differs = functools.reduce(operator.or_, [
            new.get_column(name).ne_missing(old.get_column(name))
            for name in _COMPARED_STATE if name != "record_id"])
        changed = new.get_column("record_id").filter(differs)
        gone = old.get_column("record_id").clear()
    else:
        changed = new.join(old, on=list(_COMPARED_STATE), how="anti",
                           nulls_equal=True).get_column("record_id")
        gone = old.join(new, on="record_id", how="anti").get_column("record_id")
    differ = pl.concat([changed.alias("owner_id"), *finding_owners]).unique()
    return differ, gone


def _typed(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        *[pl.col(name).cast(pl.Int64) for name in frame.columns
          if name not in ("entity", "rule_code") and not name.endswith("_ok")],
        *[pl.col(name).cast(pl.Boolean) for name in frame.columns if name.endswith("_ok")],
        *[pl.col(name).cast(pl.Utf8) for name in frame.columns
          if name in ("entity", "rule_code")])


def _delete_owners(owner: str, ids: Sequence[int]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one statement, the ids as one array
            cursor.execute("DELETE FROM quality_finding WHERE owner_entity = %s "
                           "AND owner_id = ANY(%s)", [owner, list(ids)])
            cursor.execute("DELETE FROM quality_recordstate WHERE entity = %s "
                           "AND record_id = ANY(%s)", [owner, list(ids)])
            return
        for start in range(0, len(ids), _IDS_PER_DELETE):
            part = ids[start:start + _IDS_PER_DELETE]
            marks = ", ".join(["%s"] * len(part))
            cursor.execute("DELETE FROM quality_finding WHERE owner_entity = %s "  # noqa: S608
                           f"AND owner_id IN ({marks})", [owner, *part])
            cursor.execute("DELETE FROM quality_recordstate WHERE entity = %s "  # noqa: S608
                           f"AND record_id IN ({marks})", [owner, *part])


# A record written by the per-record path since this long before a chunk was read keeps that
# state: it was measured from data at least as new, with the same rules. The margin covers a
# write transaction that began before the chunk's read and committed after it.
_FRESH_MARGIN = dt.timedelta(minutes=5)


def _replace_chunk(owner: str, data: _Chunk, per_owner: pl.DataFrame, findings: pl.DataFrame,
                   rule_set: RuleSet) -> None:
    from django.utils import timezone

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    states = per_owner.select(
        pl.lit(owner).alias("entity"), pl.col("owner_id").alias("record_id"), "school_id",
        "class_id", "required_total", "required_filled", "errors", "warnings", "correct_ok",
        "complete_ok", "clean_ok", "live_ok", "status_bits",
        pl.lit(rule_set.version).alias("rule_set"), pl.lit(now).alias("computed_at"))
    finding_rows = findings.select(
        pl.lit(owner).alias("owner_entity"), "owner_id", "school_id", "class_id", "entity",
        "record_id", "rule_code", "field", "dimension", "severity", "weight")
    changed, gone = _changed_owners(states, finding_rows, data.stored, data.stored_findings)
    with transaction.atomic(), connection.cursor() as cursor:
        # Writers wait until this chunk is stored (SQLite: the IMMEDIATE transaction already
        # holds the database's write lock); then anything they stored since the read shows.
        if connection.vendor == "postgresql":
            cursor.execute("LOCK TABLE quality_recordstate IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(
            "SELECT record_id FROM quality_recordstate WHERE entity = %s "  # noqa: S608 - ints
            f"AND school_id IN ({_ids(data.schools)}) AND rule_set = %s AND computed_at >= %s",
            [owner, rule_set.version,
             connection.ops.adapt_datetimefield_value(data.read_at - _FRESH_MARGIN)])
        fresh = pl.Series([row[0] for row in cursor.fetchall()], dtype=pl.Int64)
        candidates = pl.concat([changed.cast(pl.Int64), gone.cast(pl.Int64)])
        rewrite = candidates.filter(~candidates.is_in(fresh.implode()))
        # Only what was stored needs deleting (a first scan deletes nothing); a state stored
        # since the read is fresh, so not rewritten.
        stored_owners = pl.concat([data.stored.get_column("record_id").cast(pl.Int64),
                                   data.stored_findings.get_column("owner_id").cast(pl.Int64)])
        _delete_owners(owner, [int(i) for i in
                               rewrite.filter(rewrite.is_in(stored_owners.implode())).to_list()])
        _bulk_insert("quality_recordstate", _STATE_COLUMNS,
                     states.filter(pl.col("record_id").is_in(rewrite.implode())))
        _bulk_insert("quality_finding", _FINDING_COLUMNS,
                     finding_rows.filter(pl.col("owner_id").is_in(rewrite.implode())))
        # The totals are the stored states summed, whoever wrote them.
        cursor.execute("DELETE FROM quality_qualitytotal WHERE entity = %s "  # noqa: S608 - ints
                       f"AND school_id IN ({_ids(data.schools)})", [owner])
        cursor.execute(_TOTALS_SQL.replace("{schools}", _ids(data.schools)), [owner])


def _ok(name: str) -> str:
    return f"SUM(CASE WHEN {name} THEN 1 ELSE 0 END)"


_SUMS = ("COUNT(*) AS records, SUM(required_total) AS required_total, "
         "SUM(required_filled) AS required_filled, SUM(errors) AS errors, "
         "SUM(warnings) AS warnings, "
         + ", ".join(f"{_ok(name)} AS {name}"
                     for name in ("correct_ok", "complete_ok", "clean_ok", "live_ok")))
# The states are summed once per class (one pass over the chunk's states); the schools' rows
# add up their classes' (and the class-less records').
_TOTALS_SQL = (
    f"INSERT INTO quality_qualitytotal (school_id, class_id, entity, {', '.join(COUNTER_FIELDS)}) "  # noqa: S608
    f"WITH per_class AS (SELECT school_id, class_id, entity, {_SUMS} FROM quality_recordstate "
    "WHERE entity = %s AND school_id IN ({schools}) GROUP BY school_id, class_id, entity) "
    f"SELECT school_id, NULL, entity, {', '.join(f'SUM({name})' for name in COUNTER_FIELDS)} "
    "FROM per_class GROUP BY school_id, entity "
    f"UNION ALL SELECT school_id, class_id, entity, {', '.join(COUNTER_FIELDS)} FROM per_class "
    "WHERE class_id IS NOT NULL")


def _bulk_insert(table: str, columns: Sequence[str], frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in frame.iter_rows():
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})",  # noqa: S608 - fixed names
                               frame.rows())


def field_groups_touched(*, entity: str, record_id: int, school_id: int,
                         changed: Iterable[str], actor_id: int | None) -> None:
    """A write changed some fields: attestations of their groups no longer hold, and their
    update groups count as confirmed now (the record was just brought up to date)."""
    from django.utils import timezone

    from edureg.core.catalogue import active_catalogue
    from edureg.quality.models import CheckKind, FieldGroupCheck

    fields = set(changed)
    now = timezone.now()
    rule_set = current_rule_set()
    broken = [g.code for g in rule_set.parameters.groups_for(entity) if fields & set(g.fields)]
    if fields & set(IDENTITY_FIELDS.get(entity, ())):
        broken.append(IDENTITY_GROUP)  # the register verified other values
    if broken:
        FieldGroupCheck.objects.filter(entity=entity, record_id=record_id, group__in=broken,
                                       ended_at__isnull=True).update(ended_at=now)
    catalogue = active_catalogue()
    groups = sorted({info.update_group for info in catalogue.for_entity(entity)
                     if info.name in fields and info.update_group in rule_set.update_groups})
    FieldGroupCheck.objects.bulk_create([
        FieldGroupCheck(entity=entity, record_id=record_id, school_id=school_id, group=group,
                        kind=CheckKind.CHANGE, checked_by_id=actor_id, checked_at=now)
        for group in groups])
