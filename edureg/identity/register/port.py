"""The ``PopulationRegister`` port: verify a batch of persons against the national population
database and get, per person and per field, match / mismatch / not comparable, or "not found".

Adapters (the real HTTP one, and whatever tests need) implement ``PopulationRegister``; which one
runs is a setting (a dotted path, like Django's ``EMAIL_BACKEND``). Errors carry ``permanent``:
a permanent error (bad request, refused credentials) is not retried, a transient one (timeout,
5xx, 429, a malformed answer) may be.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from typing import Protocol

# The fields a verification compares, in the register's terms.
COMPARED_FIELDS = ("full_name", "date_of_birth", "sex", "birth_registration_place")
# Persons per call; the exchange platform refuses larger batches.
MAX_BATCH = 100


class FieldOutcome(enum.StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_COMPARABLE = "not_comparable"  # not sent, or the register holds no value for it


@dataclasses.dataclass(frozen=True)
class PersonQuery:
    """One person as edureg holds them. ``ref`` is the caller's own key, echoed back."""

    ref: str
    personal_id_number: str
    full_name: str
    date_of_birth: dt.date
    sex: str  # "M" / "F"
    birth_registration_place: str | None = None  # pre-2025 province code, when known


@dataclasses.dataclass(frozen=True)
class FieldResult:
    outcome: FieldOutcome
    register_value: str | None = None  # the register's value, where the exchange returns it


@dataclasses.dataclass(frozen=True)
class PersonResult:
    ref: str
    found: bool
    fields: Mapping[str, FieldResult] = dataclasses.field(default_factory=dict)

    @property
    def verified(self) -> bool:
        """Found, and no compared field differs."""
        return self.found and all(result.outcome is not FieldOutcome.MISMATCH
                                  for result in self.fields.values())


@dataclasses.dataclass(frozen=True)
class VerifyResponse:
    request_id: str  # the register's id of the exchange, kept as provenance
    results: Sequence[PersonResult]


class RegisterError(Exception):
    """A call that produced no usable answer. ``permanent``: retrying the same request cannot
    help. ``retry_after``: seconds the register asked to wait (429), if it said."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status


class PopulationRegister(Protocol):
    def verify(self, persons: Sequence[PersonQuery]) -> VerifyResponse:
        """Verify up to ``MAX_BATCH`` persons in one exchange. Raises ``RegisterError``."""
        ...
