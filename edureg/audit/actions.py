"""The catalogue of audit actions: every event's ``action`` is one of these names (or, for
reads and writes of a registry entity, ``<entity>.read`` / ``<entity>.<verb>``).

Each action belongs to one *kind*, stored with the event so that the supervision screens can
page through one kind of event by an index: changes (write), reads of personal data (read),
denied attempts (denied), account events (account) and system events (system).
"""

from __future__ import annotations

import enum
from typing import Final


class Kind(enum.StrEnum):
    WRITE = "write"
    READ = "read"
    DENIED = "denied"
    ACCOUNT = "account"
    DISCLOSURE = "disclosure"
    SYSTEM = "system"


# Access
ACCESS_DENIED: Final = "access.denied"  # 403, or 404 for a record outside the actor's scope
AUDIT_READ: Final = "audit.read"  # a supervision screen was opened (with the filters used)

# Accounts and sign-in (emitted by edureg.access)
AUTH_LOGIN: Final = "auth.login"
AUTH_LOGIN_FAILED: Final = "auth.login_failed"
AUTH_LOGOUT: Final = "auth.logout"
AUTH_LOCKOUT: Final = "auth.lockout"
AUTH_2FA_ENROLLED: Final = "auth.2fa_enrolled"
AUTH_2FA_RESET: Final = "auth.2fa_reset"
AUTH_2FA_FAILED: Final = "auth.2fa_failed"
AUTH_2FA_RECOVERY_USED: Final = "auth.2fa_recovery_used"
AUTH_RECOVERY_CODES_RENEWED: Final = "auth.recovery_codes_renewed"
AUTH_PASSWORD_CHANGED: Final = "auth.password_changed"  # noqa: S105 - an action name
AUTH_PASSWORD_RESET: Final = "auth.password_reset"  # noqa: S105 - an action name
AUTH_SESSION_ENDED: Final = "auth.session_ended"
ACCOUNT_CREATED: Final = "account.created"
ACCOUNT_UPDATED: Final = "account.updated"
ACCOUNT_DEACTIVATED: Final = "account.deactivated"
ACCOUNT_REACTIVATED: Final = "account.reactivated"
ACCOUNT_DEACTIVATION_RUN: Final = "account.deactivation_run"
MEMBERSHIP_GRANTED: Final = "membership.granted"
MEMBERSHIP_ENDED: Final = "membership.ended"
SECURITY_CSRF_REFUSED: Final = "security.csrf_refused"

# Data leaving or entering the system, consent, synchronisation, sharing (later issues)
EXPORT: Final = "data.export"
IMPORT: Final = "data.import"
CONSENT_GIVEN: Final = "consent.given"
CONSENT_WITHDRAWN: Final = "consent.withdrawn"
POLICY_ACKNOWLEDGED: Final = "policy.acknowledged"  # a staff member acknowledged the policy
SYNC_PUSHED: Final = "sync.pushed"
SYNC_ACKNOWLEDGED: Final = "sync.acknowledged"
SYNC_PARKED: Final = "sync.parked"
SHARING_DISCLOSED: Final = "sharing.disclosed"
SHARING_REFUSED: Final = "sharing.refused"
SHARING_TOKEN_ISSUED: Final = "sharing.token_issued"  # noqa: S105 - an action name
SHARING_AGREEMENT_CREATED: Final = "sharing_agreement.created"
SHARING_AGREEMENT_REVOKED: Final = "sharing_agreement.revoked"
# Intake of export workbooks (edureg.intake): the file's sha256 and counts, never its values
INTAKE_DRY_RUN: Final = "intake.dry_run"
INTAKE_COMMITTED: Final = "intake.committed"
INTAKE_CANCELLED: Final = "intake.cancelled"
INTAKE_FAILED: Final = "intake.failed"
INTAKE_EXPIRED: Final = "intake.expired"  # the sweep removed a file not committed in time

# The parents' look-up portal (edureg.privacy.portal); actor label "portal"
PORTAL_LOOKUP: Final = "portal.lookup"  # an education id and birth date typed
PORTAL_CODE_SENT: Final = "portal.code_sent"  # a one-time code delivered to a guardian's phone
PORTAL_CODE_UNDELIVERED: Final = "portal.code_undelivered"  # the message service refused
PORTAL_CODE_FAILED: Final = "portal.code_failed"  # a wrong or expired code
PORTAL_LOCKOUT: Final = "portal.lockout"
PORTAL_VERIFIED: Final = "portal.verified"  # a guardian proved who they are
PORTAL_ENDED: Final = "portal.ended"
PRIVACY_ALERT_SENT: Final = "privacy.alert_sent"  # an overdue request or breach told by message

# Quality (writes of the records concerned; the snapshot is a system job)
FIELD_GROUP_ATTESTED: Final = "student.attested"  # a field group checked against a dossier
CLASS_CONFIRMED: Final = "school_class.confirmed"  # a homeroom teacher confirmed the class
QUALITY_SIGNED_OFF: Final = "school.quality_signed_off"
QUALITY_SNAPSHOT: Final = "quality.snapshot"
QUALITY_SCAN: Final = "quality.scan"
# Identity verification against the population register (issue 5)
IDENTITY_REQUESTED: Final = "identity.requested"  # persons sent to be verified (a job)
IDENTITY_ANSWERED: Final = "identity.answered"  # the register's answers stored, per call
IDENTITY_NO_ID: Final = "identity.no_id_declared"  # a person has no ID number, with a reason
IDENTITY_QUEUE_UPDATED: Final = "identity.queue_updated"  # a mismatch handled by staff
# System
SEED_BULK_LOAD: Final = "seed.bulk_load"
SEED_RESET: Final = "seed.reset"
CHAIN_MIGRATED: Final = "audit.chain_migrated"

_EXPLICIT: Final[dict[str, Kind]] = {
    ACCESS_DENIED: Kind.DENIED,
    AUDIT_READ: Kind.READ,
    EXPORT: Kind.DISCLOSURE,
    SHARING_DISCLOSED: Kind.DISCLOSURE,
    SHARING_REFUSED: Kind.DENIED,
    SHARING_TOKEN_ISSUED: Kind.ACCOUNT,
    IMPORT: Kind.WRITE,
    CONSENT_GIVEN: Kind.WRITE,
    CONSENT_WITHDRAWN: Kind.WRITE,
    CHAIN_MIGRATED: Kind.SYSTEM,
    QUALITY_SNAPSHOT: Kind.SYSTEM,
    QUALITY_SCAN: Kind.SYSTEM,
    PRIVACY_ALERT_SENT: Kind.SYSTEM,
    INTAKE_EXPIRED: Kind.SYSTEM,
    PORTAL_CODE_FAILED: Kind.DENIED,
    PORTAL_LOCKOUT: Kind.DENIED,
}
_BY_PREFIX: Final[tuple[tuple[str, Kind], ...]] = (
    ("auth.", Kind.ACCOUNT),
    ("account.", Kind.ACCOUNT),
    ("membership.", Kind.ACCOUNT),
    ("portal.", Kind.ACCOUNT),
    ("security.", Kind.DENIED),
    ("seed.", Kind.SYSTEM),
    ("sync.", Kind.SYSTEM),
)


def kind_of(action: str) -> Kind:
    """The kind of an action: explicit ones first, then by prefix, then ``*.read`` are reads
    and everything else is a write."""
    if action in _EXPLICIT:
        return _EXPLICIT[action]
    for prefix, kind in _BY_PREFIX:
        if action.startswith(prefix):
            return kind
    if action.endswith(".read"):
        return Kind.READ
    return Kind.WRITE
