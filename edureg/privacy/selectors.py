"""Reading consent: the check other code calls before processing for a purpose (sharing, sync,
services), and the pupil page's overview.

The check reads the stored state (``ConsentState``, one indexed row per person × purpose) on
every call — no cache — so a withdrawal committed earlier in the same request already blocks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from edureg.access.policy import Actor, has_perm_at, may
from edureg.access.roles import Perm
from edureg.audit.services import audit_read
from edureg.privacy.models import Consent, ConsentState, ConsentStatus
from edureg.privacy.purposes import Purpose, purposes_in_force
from edureg.registry.models import Student

_BATCH = 500  # ids per query: well under SQLite's bound-parameter limit
_STATE = ConsentState._meta.db_table  # table names are the models', never input
_SELECT_ONE = (
    f"SELECT status FROM {_STATE} WHERE purpose = %s "  # noqa: S608
    "AND subject_entity = %s AND subject_id = %s LIMIT 1")
# A pupil's consents include those recorded on the records merged into it (and into those):
# the latest change among them decides, so a withdrawal on either record stops the purpose.
_SELECT_PUPIL = (
    "WITH RECURSIVE alias(id) AS (SELECT CAST(%s AS BIGINT) UNION "  # noqa: S608
    f"SELECT s.id FROM {Student._meta.db_table} s JOIN alias a ON s.merged_into_id = a.id) "
    f"SELECT status FROM {_STATE} WHERE purpose = %s AND subject_entity = %s "
    "AND subject_id IN (SELECT id FROM alias) ORDER BY changed_at DESC, id DESC LIMIT 1")


class UnknownPurpose(LookupError):
    """A purpose code that the purposes in force do not define (a programming error)."""


class ConsentMissing(PermissionDenied):
    """Processing for a purpose that needs consent, of persons without a valid one (never
    given, or withdrawn). ``missing`` are their ids; ``message`` says it in Vietnamese."""

    def __init__(self, purpose: Purpose, missing: Sequence[int]) -> None:
        self.purpose = purpose
        self.missing = tuple(missing)
        self.message = ngettext(
            "Không được xử lý dữ liệu cho mục đích “%(purpose)s”: %(count)d người chưa có sự "
            "đồng ý hoặc đã rút lại sự đồng ý.",
            "Không được xử lý dữ liệu cho mục đích “%(purpose)s”: %(count)d người chưa có sự "
            "đồng ý hoặc đã rút lại sự đồng ý.",
            len(self.missing)) % {"purpose": purpose.name, "count": len(self.missing)}
        super().__init__(self.message)


def _purpose(code: str) -> Purpose:
    purpose = purposes_in_force().get(code)
    if purpose is None:
        raise UnknownPurpose(f"unknown processing purpose {code!r}")
    return purpose


def merged_aliases(subject_entity: str, ids: Iterable[int]) -> dict[int, int]:
    """Each id, and each record merged into one of them (at any depth), mapped to the id it
    belongs to. Only pupils are merged; other persons map to themselves."""
    roots = {int(i): int(i) for i in ids}
    if subject_entity != "student":
        return roots
    frontier = list(roots)
    while frontier:
        found: list[int] = []
        for start in range(0, len(frontier), _BATCH):
            for merged, kept in Student.objects.filter(
                    merged_into_id__in=frontier[start:start + _BATCH]).values_list(
                    "pk", "merged_into_id"):
                if merged not in roots:
                    roots[merged] = roots[kept]
                    found.append(merged)
        frontier = found
    return roots


def latest_states(subject_entity: str, purpose: str, ids: Iterable[int]
                  ) -> dict[int, ConsentState]:
    """For each id, the latest consent state for ``purpose`` among its own record and the
    records merged into it (none when nothing was ever recorded)."""
    roots = merged_aliases(subject_entity, ids)
    alias_ids = list(roots)
    latest: dict[int, ConsentState] = {}
    for start in range(0, len(alias_ids), _BATCH):
        for state in ConsentState.objects.filter(
                purpose=purpose, subject_entity=subject_entity,
                subject_id__in=alias_ids[start:start + _BATCH]):
            root = roots[state.subject_id]
            current = latest.get(root)
            if current is None or (state.changed_at, state.pk) > (current.changed_at,
                                                                    current.pk):
                latest[root] = state
    return latest


def consents_valid(*, subject_entity: str, subject_ids: Iterable[int], purpose: str
                   ) -> frozenset[int]:
    """The ids among ``subject_ids`` that may be processed for ``purpose``: all of them for a
    purpose on a legal basis that covers their kind of person, else those whose latest consent
    state (over their record and the records merged into it) is "given". A few indexed
    queries per 500 ids."""
    found = _purpose(purpose)
    ids = list(dict.fromkeys(int(i) for i in subject_ids))
    if subject_entity not in found.entities:
        return frozenset()
    if not found.requires_consent:
        return frozenset(ids)
    states = latest_states(subject_entity, found.code, ids)
    return frozenset(i for i, state in states.items() if state.status == ConsentStatus.GIVEN)


def consent_valid(*, subject_entity: str, subject_id: int, purpose: str) -> bool:
    found = _purpose(purpose)
    if subject_entity not in found.entities:
        return False
    if not found.requires_consent:
        return True
    # Plain SQL on the unique index (purpose, entity, id): the ORM's query building costs
    # several times the look-up itself, and this runs once per person on the hot path.
    with connection.cursor() as cursor:
        if subject_entity == "student":
            cursor.execute(_SELECT_PUPIL, [int(subject_id), found.code, subject_entity])
        else:
            cursor.execute(_SELECT_ONE, [found.code, subject_entity, int(subject_id)])
        row = cursor.fetchone()
        return row is not None and row[0] == ConsentStatus.GIVEN.value


def consent_require(*, subject_entity: str, subject_ids: Iterable[int], purpose: str) -> None:
    """The enforcement point: raise ``ConsentMissing`` unless every person may be processed
    for ``purpose``. Sharing and sync call it (or ``consents_valid`` to drop the others)."""
    ids = list(dict.fromkeys(int(i) for i in subject_ids))
    valid = consents_valid(subject_entity=subject_entity, subject_ids=ids, purpose=purpose)
    missing = [i for i in ids if i not in valid]
    if missing:
        raise ConsentMissing(_purpose(purpose), missing)


# --- The pupil's page -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PurposeRow:
    purpose: Purpose
    current: Consent | None  # the consent in force (given, not withdrawn)
    history: list[Consent]  # every consent recorded for the purpose, newest first

    @property
    def status_label(self) -> str:
        if not self.purpose.requires_consent:
            return _("Theo quy định pháp luật")
        if self.current is not None:
            return str(ConsentStatus.GIVEN.label)
        if self.history:
            return str(ConsentStatus.WITHDRAWN.label)
        return _("Chưa đồng ý")


@dataclasses.dataclass(frozen=True)
class StudentConsents:
    rows: list[PurposeRow]
    may_record: bool
    version: str


def consent_rows(student: Student) -> tuple[list[PurposeRow], list[Consent]]:
    """The purposes in force that concern pupils, each with the pupil's consents, and every
    consent read. No permission check and no audit: the caller does both."""
    consents = list(
        Consent.objects.filter(subject_entity="student",
                               subject_id__in=list(merged_aliases("student", [student.pk])))
        .select_related("guardian", "withdrawn_by_guardian")
        .order_by("-recorded_at", "-id"))
    by_purpose: dict[str, list[Consent]] = {}
    for consent in consents:
        by_purpose.setdefault(consent.purpose, []).append(consent)
    rows = []
    for purpose in purposes_in_force().for_entity("student"):
        history = by_purpose.get(purpose.code, [])
        # The latest event decides (a consent given, or one withdrawn), as in the check.
        latest = max(history, key=lambda c: (c.withdrawn_at or c.recorded_at, c.pk),
                     default=None)
        current = latest if latest is not None and not latest.is_withdrawn else None
        rows.append(PurposeRow(purpose=purpose, current=current, history=history))
    return rows, consents


def student_consents(*, actor: Actor, student: Student) -> StudentConsents | None:
    """The purposes that concern pupils with the pupil's consents, for those who may see them
    (``consent.view`` reaching the pupil); ``None`` for everyone else. The proofs shown are
    audited as one read."""
    if not (has_perm_at(actor, Perm.CONSENT_VIEW, student.school_id)
            and may(actor, Perm.CONSENT_VIEW, student)):
        return None
    purposes = purposes_in_force()
    rows, consents = consent_rows(student)
    if consents:
        audit_read(actor=actor, entity="consent", ids=[c.pk for c in consents],
                   school_id=student.school_id, view="student_detail",
                   extra={"student_id": str(student.pk)})
    return StudentConsents(
        rows=rows, version=purposes.version,
        may_record=has_perm_at(actor, Perm.CONSENT_RECORD, student.school_id)
        and may(actor, Perm.CONSENT_RECORD, student))
