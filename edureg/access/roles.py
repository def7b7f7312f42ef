"""Job-position roles and their permissions: the whole access table on one screen.

A change in who may do what is a one-line, reviewed diff here; tests walk the full matrix.
"""

from __future__ import annotations

import enum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Perm(enum.StrEnum):
    SCHOOL_VIEW = "school.view"
    CLASS_VIEW = "class.view"
    STUDENT_VIEW = "student.view"
    STUDENT_EDIT = "student.edit"
    STUDENT_TRANSFER = "student.transfer"  # ask for or accept a move to another school
    STUDENT_VIEW_SENSITIVE = "student.view_sensitive"
    STUDENT_VIEW_IDENTIFIERS = "student.view_identifiers"
    GUARDIAN_VIEW = "guardian.view"
    STAFF_VIEW = "staff.view"
    STAFF_EDIT = "staff.edit"
    STAFF_VIEW_SENSITIVE = "staff.view_sensitive"
    STAFF_VIEW_IDENTIFIERS = "staff.view_identifiers"
    ACCOUNT_VIEW = "account.view"
    ACCOUNT_MANAGE = "account.manage"
    AUDIT_VIEW = "audit.view"
    QUALITY_VIEW = "quality.view"
    QUALITY_ATTEST = "quality.attest"
    QUALITY_SIGN_OFF = "quality.sign_off"
    IDENTITY_VERIFY = "identity.verify"  # send persons to the population register
    IDENTITY_RESOLVE = "identity.resolve"  # act on the mismatch queue, declare "no ID number"
    DUPLICATE_REVIEW = "duplicate.review"  # see the duplicate candidates, decide "not the same"
    DUPLICATE_MERGE = "duplicate.merge"  # merge two records (across schools: authority only)
    DUPLICATE_UNMERGE = "duplicate.unmerge"  # undo a merge
    CONSENT_VIEW = "consent.view"  # see a person's consents by purpose
    CONSENT_RECORD = "consent.record"  # record a consent given or withdrawn
    POLICY_ACK_REVIEW = "policy.ack_review"  # see who has not acknowledged the policy
    INCIDENT_MANAGE = "incident.manage"  # the personal-data breach register (72-hour clock)
    SUBJECT_REQUEST_MANAGE = "subject_request.manage"  # data-subject requests and their clocks
    INVENTORY_VIEW = "inventory.view"  # the processing inventory (no personal data)
    SYNC_VIEW = "sync.view"  # upward sync: lag, backlog, oldest unsynced change (no person)
    SYNC_MANAGE = "sync.manage"  # upward sync: changes the upstream refused, and their replay
    SHARING_MANAGE = "sharing.manage"  # agreements with agencies and their OAuth2 clients
    INTAKE_RUN = "intake.run"  # take in the Ministry's export workbooks (dry run and commit)
    YEAR_MANAGE = "year.manage"  # open a new school year, commit or undo promotions, close
    REPORT_VIEW = "report.view"  # generate and download statistical reports (no persons)
    REPORT_DEFINE = "report.define"  # add or replace report definitions (authority-wide)
    HANDOVER_ASSIGN = "year.handover_assign"  # give grade-5/9 leavers a receiving school
    YEAR_INTAKE = "year.intake"  # the new intake list (grade 1, grade 6 from outside)


class Scope(enum.StrEnum):
    """How far a role's permissions reach."""

    AUTHORITY = "authority"
    SCHOOL = "school"
    OWN_CLASSES = "own_classes"
    OWN_RECORD = "own_record"


class Role(models.TextChoices):
    PRINCIPAL = "principal", _("Hiệu trưởng")
    VICE_PRINCIPAL = "vice_principal", _("Phó hiệu trưởng")
    HOMEROOM_TEACHER = "homeroom_teacher", _("Giáo viên chủ nhiệm")
    SUBJECT_TEACHER = "subject_teacher", _("Giáo viên bộ môn")
    RECORDS_CLERK = "records_clerk", _("Nhân viên giáo vụ/văn thư")
    SCHOOL_NURSE = "school_nurse", _("Nhân viên y tế")
    IT_OFFICER = "it_officer", _("Quản trị CNTT")
    AUTHORITY_OFFICER = "authority_officer", _("Cán bộ Sở")
    SYSTEM_ADMIN = "system_admin", _("Quản trị hệ thống")


P = Perm
_READ_SCHOOL = frozenset(
    {P.SCHOOL_VIEW, P.CLASS_VIEW, P.STUDENT_VIEW, P.GUARDIAN_VIEW, P.STAFF_VIEW}
)

ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.PRINCIPAL: _READ_SCHOOL
    | {P.STUDENT_EDIT, P.STUDENT_VIEW_SENSITIVE, P.STUDENT_VIEW_IDENTIFIERS, P.STAFF_EDIT,
       P.STAFF_VIEW_SENSITIVE, P.STAFF_VIEW_IDENTIFIERS, P.AUDIT_VIEW, P.QUALITY_VIEW,
       P.QUALITY_ATTEST, P.QUALITY_SIGN_OFF, P.IDENTITY_VERIFY, P.IDENTITY_RESOLVE,
       P.STUDENT_TRANSFER, P.DUPLICATE_REVIEW, P.DUPLICATE_MERGE, P.CONSENT_VIEW,
       P.CONSENT_RECORD, P.POLICY_ACK_REVIEW, P.INCIDENT_MANAGE, P.SUBJECT_REQUEST_MANAGE,
       P.INVENTORY_VIEW, P.SYNC_VIEW, P.YEAR_MANAGE, P.HANDOVER_ASSIGN, P.YEAR_INTAKE,
       P.REPORT_VIEW},
    Role.VICE_PRINCIPAL: _READ_SCHOOL
    | {P.STUDENT_EDIT, P.STUDENT_VIEW_SENSITIVE, P.STUDENT_VIEW_IDENTIFIERS, P.AUDIT_VIEW,
       P.QUALITY_VIEW, P.QUALITY_ATTEST, P.IDENTITY_VERIFY, P.IDENTITY_RESOLVE,
       P.STUDENT_TRANSFER, P.DUPLICATE_REVIEW, P.CONSENT_VIEW, P.SUBJECT_REQUEST_MANAGE,
       P.SYNC_VIEW, P.YEAR_INTAKE, P.REPORT_VIEW},
    Role.HOMEROOM_TEACHER: frozenset(
        {P.SCHOOL_VIEW, P.CLASS_VIEW, P.STUDENT_VIEW, P.GUARDIAN_VIEW, P.STUDENT_EDIT,
         P.STUDENT_VIEW_SENSITIVE, P.STUDENT_VIEW_IDENTIFIERS, P.QUALITY_VIEW, P.QUALITY_ATTEST,
         P.IDENTITY_VERIFY, P.IDENTITY_RESOLVE, P.CONSENT_VIEW, P.CONSENT_RECORD}
    ),
    Role.SUBJECT_TEACHER: frozenset({P.SCHOOL_VIEW, P.CLASS_VIEW, P.STUDENT_VIEW}),
    Role.RECORDS_CLERK: _READ_SCHOOL
    | {P.STUDENT_EDIT, P.STUDENT_VIEW_SENSITIVE, P.STUDENT_VIEW_IDENTIFIERS, P.STAFF_EDIT,
       P.STAFF_VIEW_IDENTIFIERS, P.QUALITY_VIEW, P.QUALITY_ATTEST, P.IDENTITY_VERIFY,
       P.IDENTITY_RESOLVE, P.STUDENT_TRANSFER, P.DUPLICATE_REVIEW, P.CONSENT_VIEW,
       P.CONSENT_RECORD, P.SUBJECT_REQUEST_MANAGE, P.INTAKE_RUN, P.YEAR_INTAKE,
       P.REPORT_VIEW},
    Role.SCHOOL_NURSE: frozenset(
        {P.SCHOOL_VIEW, P.CLASS_VIEW, P.STUDENT_VIEW, P.GUARDIAN_VIEW, P.STUDENT_VIEW_SENSITIVE,
         P.CONSENT_VIEW}
    ),
    Role.IT_OFFICER: frozenset(
        {P.SCHOOL_VIEW, P.CLASS_VIEW, P.STAFF_VIEW, P.ACCOUNT_VIEW, P.ACCOUNT_MANAGE,
         P.INCIDENT_MANAGE, P.INVENTORY_VIEW, P.SYNC_VIEW, P.SYNC_MANAGE, P.INTAKE_RUN}
    ),
    Role.AUTHORITY_OFFICER: frozenset(
        {P.SCHOOL_VIEW, P.CLASS_VIEW, P.STUDENT_VIEW, P.STAFF_VIEW, P.AUDIT_VIEW, P.QUALITY_VIEW,
         P.IDENTITY_VERIFY, P.DUPLICATE_REVIEW, P.DUPLICATE_MERGE, P.DUPLICATE_UNMERGE,
         P.INCIDENT_MANAGE, P.SUBJECT_REQUEST_MANAGE, P.INVENTORY_VIEW, P.SHARING_MANAGE,
         P.SYNC_VIEW, P.SYNC_MANAGE, P.HANDOVER_ASSIGN, P.REPORT_VIEW, P.REPORT_DEFINE}
    ),
    Role.SYSTEM_ADMIN: frozenset({P.SCHOOL_VIEW, P.ACCOUNT_VIEW, P.ACCOUNT_MANAGE}),
}

ROLE_SCOPE: dict[Role, Scope] = {
    Role.PRINCIPAL: Scope.SCHOOL,
    Role.VICE_PRINCIPAL: Scope.SCHOOL,
    Role.HOMEROOM_TEACHER: Scope.OWN_CLASSES,
    Role.SUBJECT_TEACHER: Scope.OWN_CLASSES,
    Role.RECORDS_CLERK: Scope.SCHOOL,
    Role.SCHOOL_NURSE: Scope.SCHOOL,
    Role.IT_OFFICER: Scope.SCHOOL,
    Role.AUTHORITY_OFFICER: Scope.AUTHORITY,
    Role.SYSTEM_ADMIN: Scope.AUTHORITY,
}

# Roles whose accounts must pass a TOTP second factor before doing anything else.
ROLES_REQUIRING_2FA: frozenset[Role] = frozenset(
    {Role.PRINCIPAL, Role.VICE_PRINCIPAL, Role.IT_OFFICER, Role.AUTHORITY_OFFICER,
     Role.SYSTEM_ADMIN}
)
