"""The population-register data behind ``edureg sim register``, and the ground truth of the
problems planted in the demo data. Both live in one SQLite file of their own
(``settings.EDUREG_REGISTER_SIM_DB``), never in the edureg database.

Schema (recreated by every seed run)::

    CREATE TABLE person (                  -- what the national register says: the TRUE values
        personal_id_number       TEXT NOT NULL,     -- 12 digits; unique index below
        full_name                TEXT NOT NULL,     -- NFC, with diacritics
        date_of_birth            TEXT NOT NULL,     -- YYYY-MM-DD
        sex                      TEXT NOT NULL,     -- "M" / "F" (``sex`` code list)
        birth_registration_place TEXT NOT NULL,     -- pre-2025 province code (``legacy_province``)
        birthplace_text          TEXT NOT NULL,     -- as written on the birth certificate
        ethnicity_code           TEXT NOT NULL,     -- ``ethnicity`` code list
        religion_code            TEXT NOT NULL,     -- ``religion`` code list
        nationality_code         TEXT NOT NULL,     -- ISO 3166-1 alpha-2
        permanent_address        TEXT NOT NULL,     -- house number, street, hamlet
        permanent_province       TEXT NOT NULL,     -- current ``province`` code
        permanent_commune        TEXT NOT NULL,     -- current ``commune`` code
        father_full_name         TEXT NOT NULL,     -- children only; "" otherwise
        mother_full_name         TEXT NOT NULL,
        kind                     TEXT NOT NULL      -- "student" / "guardian" / "staff": how edureg
                                                    -- holds the person (for simulators and tests;
                                                    -- a real register has no such column)
    );
    CREATE UNIQUE INDEX person_personal_id_number ON person (personal_id_number);

    CREATE TABLE planted_problem (         -- one row per planted problem
        id              INTEGER PRIMARY KEY,
        kind            TEXT NOT NULL,     -- see below
        entity          TEXT NOT NULL,     -- "student" / "guardian"
        record_id       INTEGER NOT NULL,  -- primary key of the edureg row carrying the problem
        other_record_id INTEGER,           -- duplicates: the row it duplicates; else NULL
        field           TEXT NOT NULL,     -- field (or field group) concerned; "" for duplicates
        detail          TEXT NOT NULL      -- variant, e.g. "sex_digit", "no_diacritics,typo"
    );
    CREATE INDEX planted_problem_record ON planted_problem (entity, record_id);

    CREATE TABLE seed_run (key TEXT PRIMARY KEY, value TEXT NOT NULL);  -- JSON values

Problem kinds (at most one per student):

- ``missing_field``: field ``ethnicity_code``, ``date_of_birth``, ``sex``,
  ``permanent_residence`` (address, province and commune blank) or ``birthplace`` (text and
  all six codes blank).
- ``junk_value``: ``"aaa"``, ``"không có"``, ``".."`` or ``"0000000000"`` in the named field, on
  the student or on the first guardian (entity ``guardian``: ``phone`` or ``occupation``).
- ``id_structure``: the number is 12 digits but its sex digit (``detail`` ``sex_digit``) or
  its year digits (``birth_year``) disagree with the record. The register holds that very
  number with the record's values: only the structure check can find it.
- ``duplicate``: a second student row for a child already seeded (``other_record_id``), in
  another class or school, without ID number, with corruptions listed in ``detail``
  (``no_diacritics``, ``day_month_swap``, ``typo``). When the duplicate is in another school
  its guardians are typed again without ID numbers: those guardian rows are ``duplicate``
  problems of entity ``guardian``.
- ``identity_mismatch``: the record differs from the register in ``sex``, ``full_name``
  (another spelling) or ``date_of_birth`` (same year: day/month swapped or a few days off).
- ``not_in_register``: the record carries a well-formed number that the register lacks.
- ``no_personal_id`` (``detail`` ``natural``): a pupil without ID number, common among young
  children. Not planted and not counted in the rates; listed so detectors can be scored.
- ``no_education_id`` (``natural``): a new grade-1 pupil with a temporary code, awaiting the
  Ministry's education id. ``age_grade`` (``natural``): a pupil two years older than the grade
  (two repeated years): plausible, but worth a check. Neither is counted in the rates.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from edureg.seeding.generator import PERSON_FIELDS, PROBLEM_FIELDS

__all__ = ["RegisterWriter"]

_SCHEMA: Final = """
CREATE TABLE person (
    personal_id_number TEXT NOT NULL,
    full_name TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_registration_place TEXT NOT NULL,
    birthplace_text TEXT NOT NULL,
    ethnicity_code TEXT NOT NULL,
    religion_code TEXT NOT NULL,
    nationality_code TEXT NOT NULL,
    permanent_address TEXT NOT NULL,
    permanent_province TEXT NOT NULL,
    permanent_commune TEXT NOT NULL,
    father_full_name TEXT NOT NULL,
    mother_full_name TEXT NOT NULL,
    kind TEXT NOT NULL
);
CREATE TABLE planted_problem (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    entity TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    other_record_id INTEGER,
    field TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE seed_run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class RegisterWriter:
    """Writes the register file from scratch; the previous file of a reset run is replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
            stale.unlink(missing_ok=True)
        self._connection = sqlite3.connect(path, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        # A lost register file is rebuilt by seeding again; durability is not worth the time.
        self._connection.execute("PRAGMA synchronous=OFF")
        self._connection.executescript(_SCHEMA)
        # Column names are this module's constants, never input.
        self._insert_person = (
            f"INSERT INTO person ({', '.join(PERSON_FIELDS)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in PERSON_FIELDS)})"
        )
        self._insert_problem = (
            f"INSERT INTO planted_problem ({', '.join(PROBLEM_FIELDS)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in PROBLEM_FIELDS)})"
        )
        self.persons = 0
        self.problems = 0

    def write(self, persons: Sequence[tuple[Any, ...]],
              problems: Sequence[tuple[Any, ...]]) -> None:
        connection = self._connection
        connection.execute("BEGIN")
        connection.executemany(self._insert_person, persons)
        connection.executemany(self._insert_problem, problems)
        connection.execute("COMMIT")
        self.persons += len(persons)
        self.problems += len(problems)

    def finish(self, run: Mapping[str, object]) -> None:
        connection = self._connection
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO seed_run (key, value) VALUES (?, ?)",
            [(key, json.dumps(value, ensure_ascii=False, sort_keys=True))
             for key, value in run.items()],
        )
        # Built once at the end: sorting millions of keys beats inserting them in random order.
        connection.execute(
            "CREATE UNIQUE INDEX person_personal_id_number ON person (personal_id_number)"
        )
        connection.execute(
            "CREATE INDEX planted_problem_record ON planted_problem (entity, record_id)"
        )
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()

    def abort(self) -> None:
        self._connection.close()
