"""A simulator of the national sector database (the Ministry's): its own HTTP server on
loopback, serving the contract of ``contract.py``, so the real HTTP adapter and the relay are
exercised for real. What it applied is kept in a SQLite file (``--db``, default
``settings.EDUREG_UPSTREAM_SIM_DB``), so its memory — and the proof of exactly-once effect —
survives a restart of the process.

    POST /v1/changes    (bearer token) {"changes": [...]} → 200 {"results": [...]} in order;
                        401 without the token, 413 beyond MAX_BATCH changes, 422 off-contract
    GET  /_sim/health   {"ok": true, "down": false}
    POST /_sim/control  {"down": false, "fail_rate": 0.1, "latency_ms": 200,
                         "malformed_rate": 0.1, "seed": 1}   (any subset; GET reads it)
    GET  /_sim/stats    {"received", "applied", "duplicates", "stale", "rejected"} (since start)
    GET  /_sim/applied?record_id=42&entity=student   the changes applied to one record, in order
    GET  /_sim/applied/summary   {"records": n, "changes": n, "max_applications_per_change": 1}
    POST /_sim/reset    empties the file and the stats (a call still waiting out its latency
                        then answers 503 and applies nothing)

Per change, in this order: a change id applied before is ``duplicate`` (with the education id
of its first answer; nothing applied again); a sequence not above the record's last applied one
is ``stale`` (nothing applied); a change that fails the entity's rules is ``rejected`` with
Vietnamese field errors; otherwise it is applied, and a record known only by a temporary code
gets an official id ("99" + 8 digits, from a counter in the file) once, for ever. A batch is one
SQLite transaction. Applications are logged one row each, with no uniqueness on the change id,
so ``max_applications_per_change`` would show a change applied twice.

Faults apply to ``POST /v1/changes`` after the token check: ``latency_ms`` first, then ``down``
(503) and ``fail_rate`` (503 at random), both before anything is applied; ``malformed_rate``
answers a broken 200 *after* the batch is committed, as a real server can fail after its
commit: the retry then gets ``duplicate``. The ``/_sim/`` routes take no token (loopback, tests
and demo). Logs carry the route, status, counts and duration only, never a name or a date.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import logging
import random
import re
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, cast

from edureg.core.simulation import FaultSettings, SimulatorHandler, SimulatorServer
from edureg.sync.upstream.contract import (
    CHANGES_PATH,
    EDUCATION_ID_PATTERN,
    MAX_REQUEST_BYTES,
    InvalidBatch,
    error_body,
    parse_request,
    response_body,
)
from edureg.sync.upstream.port import (
    ACCEPTED,
    DUPLICATE,
    MAX_BATCH,
    REJECTED,
    STALE,
    ChangeResult,
    RecordChange,
)

__all__ = ["Faults", "Store", "UpstreamSimulator", "make_server", "serve"]

logger = logging.getLogger("edureg.sim.upstream")

CONTROL_PATH: Final = "/_sim/control"
HEALTH_PATH: Final = "/_sim/health"
STATS_PATH: Final = "/_sim/stats"
APPLIED_PATH: Final = "/_sim/applied"
SUMMARY_PATH: Final = "/_sim/applied/summary"
RESET_PATH: Final = "/_sim/reset"
_ROUTES: Final = frozenset({CHANGES_PATH, CONTROL_PATH, HEALTH_PATH, STATS_PATH, APPLIED_PATH,
                            SUMMARY_PATH, RESET_PATH})
_MALFORMED_KINDS: Final = ("truncated", "wrong_types", "unknown_change", "missing_result",
                           "bad_education_id", "naive_time", "oversized")
_OVERSIZED_BYTES: Final = 3_000_000
_ISSUED_PREFIX: Final = "99"
_EDUCATION_ID: Final = re.compile(EDUCATION_ID_PATTERN)
_ISO_DATE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
ENTITIES: Final = frozenset({"student"})

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS application (
    id INTEGER PRIMARY KEY,
    change_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    school_code TEXT NOT NULL,
    fields TEXT NOT NULL,
    education_id TEXT,
    applied_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS application_change ON application (change_id);
CREATE INDEX IF NOT EXISTS application_record ON application (entity, record_id, id);
CREATE TABLE IF NOT EXISTS record (
    entity TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    last_sequence INTEGER NOT NULL,
    education_id TEXT,
    PRIMARY KEY (entity, record_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counter (name, value) VALUES ('education_id', 0);
"""


@dataclasses.dataclass
class Faults(FaultSettings):
    """What the simulator does wrong: every change call waits ``latency_ms``; while ``down``
    each answers 503; otherwise a share ``fail_rate`` answers 503 before applying, and a share
    ``malformed_rate`` answers a broken 200 after applying."""

    latency_ms: int = 0
    fail_rate: float = 0.0
    malformed_rate: float = 0.0
    down: bool = False
    seed: int | None = None


def field_errors(change: RecordChange) -> dict[str, str]:
    """What the upstream refuses in ``change`` (field → Vietnamese reason); empty when none."""
    if change.entity not in ENTITIES:
        return {"entity": "Loại hồ sơ không được hỗ trợ (chỉ nhận: student)."}
    errors = {}
    fields = change.fields
    if not (fields.get("full_name") or "").strip():
        errors["full_name"] = "Họ và tên (full_name) là bắt buộc."
    born = fields.get("date_of_birth")
    if not born:
        errors["date_of_birth"] = "Ngày sinh (date_of_birth) là bắt buộc."
    elif not _real_date(born):
        errors["date_of_birth"] = ("Ngày sinh (date_of_birth) không hợp lệ: cần một ngày có "
                                   "thật, dạng yyyy-mm-dd.")
    sex = fields.get("sex")
    if not sex:
        errors["sex"] = "Giới tính (sex) là bắt buộc."
    elif sex not in ("M", "F"):
        errors["sex"] = "Giới tính (sex) phải là M (nam) hoặc F (nữ)."
    if change.education_id is not None and not _EDUCATION_ID.fullmatch(change.education_id):
        errors["education_id"] = ("Mã định danh giáo dục (education_id) không hợp lệ: cần 1–20 "
                                  "chữ cái hoặc chữ số.")
    return errors


def _real_date(value: str) -> bool:
    if not _ISO_DATE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


@dataclasses.dataclass
class _Record:
    last_sequence: int
    education_id: str | None


class Store:
    """The upstream's memory, in one SQLite file (WAL). One connection, behind a lock: a batch
    is one transaction, and batches apply one after the other."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A committed batch survives the process being killed; only a power cut could lose the
        # last ones, which a simulator can afford.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self.lock:
            self._db.close()

    def apply(self, changes: Sequence[RecordChange]) -> list[ChangeResult]:
        """Apply one batch in one transaction; the results in the order of ``changes``."""
        with self.lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                results = self._apply(db, changes)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return results

    def _apply(self, db: sqlite3.Connection, changes: Sequence[RecordChange]
               ) -> list[ChangeResult]:
        ids = json.dumps(sorted({c.change_id for c in changes}))
        known: dict[str, str | None] = {}
        for change_id, education_id in db.execute(
                "SELECT change_id, education_id FROM application"
                " WHERE change_id IN (SELECT value FROM json_each(?)) ORDER BY id DESC", (ids,)):
            known[change_id] = education_id  # newest first: the first answer is kept last
        records: dict[tuple[str, int], _Record] = {}
        by_entity: dict[str, set[int]] = collections.defaultdict(set)
        for change in changes:
            by_entity[change.entity].add(change.record_id)
        for entity, record_ids in by_entity.items():
            for record_id, last_sequence, education_id in db.execute(
                    "SELECT record_id, last_sequence, education_id FROM record WHERE entity = ?"
                    " AND record_id IN (SELECT value FROM json_each(?))",
                    (entity, json.dumps(sorted(record_ids)))):
                records[(entity, record_id)] = _Record(last_sequence, education_id)
        issued = int(db.execute(
            "SELECT value FROM counter WHERE name = 'education_id'").fetchone()[0])
        issued_before = issued
        now = dt.datetime.now(dt.UTC)
        applied_at = now.isoformat()
        applications: list[tuple[Any, ...]] = []
        touched: set[tuple[str, int]] = set()
        results = []
        for change in changes:
            key = (change.entity, change.record_id)
            record = records.get(key)
            held = record.education_id if record else None
            if change.change_id in known:
                results.append(ChangeResult(change.change_id, DUPLICATE, {},
                                            known[change.change_id], now))
                continue
            if record is not None and change.sequence <= record.last_sequence:
                results.append(ChangeResult(change.change_id, STALE, {}, held, now))
                continue
            errors = field_errors(change)
            if not errors and not (change.education_id or change.temporary_code or held):
                errors["temporary_code"] = ("Cần mã định danh giáo dục (education_id) hoặc mã "
                                            "tạm thời (temporary_code).")
            if errors:
                results.append(ChangeResult(change.change_id, REJECTED, errors, held, now))
                continue
            education_id = change.education_id or held
            if education_id is None:
                issued += 1
                education_id = f"{_ISSUED_PREFIX}{issued:08d}"
            records[key] = _Record(change.sequence, education_id)
            touched.add(key)
            known[change.change_id] = education_id
            applications.append((change.change_id, change.entity, change.record_id,
                                 change.sequence, change.school_code,
                                 json.dumps(dict(change.fields), ensure_ascii=False),
                                 education_id, applied_at))
            results.append(ChangeResult(change.change_id, ACCEPTED, {}, education_id, now))
        if applications:
            db.executemany(
                "INSERT INTO application (change_id, entity, record_id, sequence, school_code,"
                " fields, education_id, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                applications)
            db.executemany(
                "INSERT INTO record (entity, record_id, last_sequence, education_id)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (entity, record_id) DO UPDATE SET"
                " last_sequence = excluded.last_sequence, education_id = excluded.education_id",
                [(entity, record_id, records[(entity, record_id)].last_sequence,
                  records[(entity, record_id)].education_id)
                 for entity, record_id in sorted(touched)])
        if issued != issued_before:
            db.execute("UPDATE counter SET value = ? WHERE name = 'education_id'", (issued,))
        return results

    def applied(self, entity: str, record_id: int) -> list[dict[str, Any]]:
        """The changes applied to one record, in the order applied."""
        with self.lock:
            rows = self._db.execute(
                "SELECT change_id, sequence, school_code, fields, education_id, applied_at"
                " FROM application WHERE entity = ? AND record_id = ? ORDER BY id",
                (entity, record_id)).fetchall()
        return [{"change_id": change_id, "sequence": sequence, "school_code": school_code,
                 "fields": json.loads(fields), "education_id": education_id,
                 "applied_at": applied_at}
                for change_id, sequence, school_code, fields, education_id, applied_at in rows]

    def summary(self) -> dict[str, int]:
        with self.lock:
            records = self._db.execute("SELECT count(*) FROM record").fetchone()[0]
            changes, most = self._db.execute(
                "SELECT count(*), coalesce(max(times), 0) FROM"
                " (SELECT count(*) AS times FROM application GROUP BY change_id)").fetchone()
        return {"records": records, "changes": changes, "max_applications_per_change": most}

    def reset(self) -> None:
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM application")
            self._db.execute("DELETE FROM record")
            self._db.execute("UPDATE counter SET value = 0")
            self._db.execute("COMMIT")


class _State:
    """Faults, the random generator and the counters, behind one lock."""

    def __init__(self, faults: Faults) -> None:
        self.lock = threading.Lock()
        self.faults = faults
        self.random = random.Random(faults.seed)  # noqa: S311 - fault injection, not secrets
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.counts: collections.Counter[str] = collections.Counter()
            self.epoch = getattr(self, "epoch", 0) + 1

    def control(self, changes: Mapping[str, Any]) -> Faults:
        with self.lock:
            self.faults = self.faults.updated(changes)
            if "seed" in changes:
                self.random.seed(self.faults.seed)
            return self.faults

    def draw(self) -> tuple[bool, str | None]:
        """Whether this call fails (503, before applying), and the malformed answer it gives
        after applying, if any."""
        with self.lock:
            faults, rng = self.faults, self.random
            fails = faults.down or rng.random() < faults.fail_rate
            malformed = rng.random() < faults.malformed_rate
            kind = rng.choice(_MALFORMED_KINDS)
        return fails, kind if malformed else None

    def count(self, **amounts: int) -> None:
        with self.lock:
            self.counts.update(amounts)

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {name: self.counts[name]
                    for name in ("received", "applied", "duplicates", "stale", "rejected")}


class UpstreamSimulator(SimulatorServer):
    def __init__(self, address: tuple[str, int], db_path: Path, token: str,
                 faults: Faults) -> None:
        self.state = _State(faults)
        super().__init__(address, _Handler, token)
        try:
            self.store = Store(db_path)
        except BaseException:
            self.socket.close()
            raise

    def server_close(self) -> None:
        super().server_close()
        self.store.close()


class _Handler(SimulatorHandler):
    server_version = "edureg-upstream-sim/1"
    max_request_bytes = MAX_REQUEST_BYTES

    @property
    def sim(self) -> UpstreamSimulator:
        return cast(UpstreamSimulator, self.server)

    def _log(self, status: int, started: float, changes: int = 0,
             counts: Mapping[str, int] | None = None) -> None:
        outcome = " ".join(f"{name}={number}" for name, number in (counts or {}).items())
        logger.info("%s %s %s changes=%d%s %.0fms", self.command,
                    self.route if self.route in _ROUTES else "(other)", status, changes,
                    f" {outcome}" if outcome else "", (time.perf_counter() - started) * 1000)

    def _refuse(self, status: int, code: str, message: str,
                fields: tuple[str, ...] = ()) -> int:
        return self._send(status, error_body(code, message, fields))

    # -- routes ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        started = time.perf_counter()
        route, state, store = self.route, self.sim.state, self.sim.store
        if route == HEALTH_PATH:
            status = self._send(200, _json({"ok": True, "down": state.faults.down}))
        elif route == STATS_PATH:
            status = self._send(200, _json(state.stats()))
        elif route == CONTROL_PATH:
            status = self._send(200, _json(dataclasses.asdict(state.faults)))
        elif route == SUMMARY_PATH:
            status = self._send(200, _json(store.summary()))
        elif route == APPLIED_PATH:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            entity = query.get("entity", ["student"])[-1]
            record_id = query.get("record_id", [""])[-1]
            if not record_id.isdigit():
                status = self._refuse(400, "bad_query", "record_id must be a number")
            else:
                status = self._send(200, _json(store.applied(entity, int(record_id))))
        elif route in _ROUTES:
            status = self._refuse(405, "method_not_allowed", "use POST")
        else:
            status = self._refuse(404, "not_found", "no such resource")
        self._log(status, started)

    def do_POST(self) -> None:
        started = time.perf_counter()
        route = self.route
        body = self._read_body()
        if route == CHANGES_PATH:
            self._changes(body, started)
            return
        if route not in (CONTROL_PATH, RESET_PATH):
            status = (self._refuse(405, "method_not_allowed", "use GET") if route in _ROUTES
                      else self._refuse(404, "not_found", "no such resource"))
        elif route == RESET_PATH:
            self.sim.store.reset()
            self.sim.state.reset()
            status = self._send(200, _json({"ok": True}))
        else:
            try:
                changes = json.loads(body) if body is not None else None
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object")
                faults = self.sim.state.control(changes)
            except ValueError as error:
                status = self._refuse(400, "bad_control", str(error))
            else:
                status = self._send(200, _json(dataclasses.asdict(faults)))
        self._log(status, started)

    def _changes(self, body: bytes | None, started: float) -> None:
        state = self.sim.state
        if not self._authorised():
            self._log(self._refuse(401, "unauthorized", "missing or wrong bearer token"),
                      started)
            return
        latency, epoch = state.faults.latency_ms, state.epoch
        if latency and self.sim.stopping.wait(latency / 1000):
            self._log(self._refuse(503, "shutting_down", "the simulator is stopping"), started)
            return
        if epoch != state.epoch:  # reset while it waited: nothing of it is applied
            self._log(self._refuse(503, "reset", "the simulator was reset"), started)
            return
        fails, malformed = state.draw()
        if fails:
            self._log(self._refuse(503, "unavailable", "service unavailable"), started)
            return
        if body is None:
            self._log(self._refuse(413, "too_large",
                                   f"request body missing or over {MAX_REQUEST_BYTES} bytes"),
                      started)
            return
        try:
            changes = parse_request(body)
        except InvalidBatch as error:
            if error.too_many:
                status = self._refuse(413, "too_many_changes",
                                      f"at most {MAX_BATCH} changes per batch")
            else:
                status = self._refuse(422, "invalid_batch", str(error), error.fields)
            self._log(status, started)
            return
        results = self.sim.store.apply(changes)
        tally = collections.Counter(result.status for result in results)
        counts = {"applied": tally[ACCEPTED], "duplicates": tally[DUPLICATE],
                  "stale": tally[STALE], "rejected": tally[REJECTED]}
        state.count(received=len(changes), **counts)
        answer = response_body(results)
        if malformed is not None:
            answer = _malformed(malformed, answer)
            counts["malformed"] = 1
        self._log(self._send(200, answer), started, len(changes), counts)


def _malformed(kind: str, answer: bytes) -> bytes:
    """A broken version of a good ``answer``: each kind fails ``contract.parse_response``."""
    if kind == "truncated":
        return answer[: max(1, len(answer) // 2)]
    parsed = json.loads(answer)
    results = parsed["results"]
    if kind == "wrong_types":
        for result in results:
            result["status"] = 1
    elif kind == "unknown_change":
        results[0]["change_id"] = "not-sent-" + results[0]["change_id"][:50]
    elif kind == "missing_result":
        results.pop()
    elif kind == "bad_education_id":
        for result in results:
            result["education_id"] = "99-not/an id"
    elif kind == "naive_time":
        for result in results:
            result["acknowledged_at"] = result["acknowledged_at"][:19]
    else:  # oversized: a well-formed answer far over MAX_RESPONSE_BYTES
        parsed["padding"] = "x" * _OVERSIZED_BYTES
    return json.dumps(parsed, ensure_ascii=False).encode()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def make_server(host: str, port: int, db_path: Path, token: str,
                faults: Faults | None = None) -> UpstreamSimulator:
    """A bound simulator, not yet serving (``port`` 0: a free one, see ``server_address``)."""
    return UpstreamSimulator((host, port), db_path, token, faults or Faults())


def serve(host: str, port: int, db_path: Path, token: str,
          faults: Faults | None = None) -> UpstreamSimulator:
    """A simulator serving in a background thread; stop it with ``shutdown()`` and
    ``server_close()``."""
    server = make_server(host, port, db_path, token, faults)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     name="upstream-sim", daemon=True).start()
    return server
