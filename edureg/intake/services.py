"""Taking in an export workbook: the dry run, the commit of the plan the user reviewed (all or
nothing, in one transaction, through the registry's services), cancel and expiry.

The file is not kept: the web keeps it, between the dry run and the commit, as a private
temporary file (mode 0600 in the 0700 directory ``EDUREG_INTAKE_DIR``) beside the dry run's
report (problems and look-alikes, to page through), and removes both at commit, cancel or
expiry (``intake_expire``, swept by ``edureg schedule``); the command line reads the file
again from where it lies. The audit trail and ``IntakeRun`` keep its sha256, size and counts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access.policy import Actor, require
from edureg.access.roles import Perm
from edureg.access.visibility import Visibility
from edureg.audit import actions
from edureg.audit.services import audit_record
from edureg.intake.models import IntakeRun, RunStatus
from edureg.intake.plan import (
    WRITING,
    Action,
    GuardianStep,
    Plan,
    PlanRefused,
    RowPlan,
    plan_workbook,
)
from edureg.intake.source import Kind, Workbook, WorkbookRefused
from edureg.intake.staff_plan import StaffRowPlan
from edureg.privacy.policy import require_acknowledged
from edureg.registry.models import SchoolClass, Staff, Student, Transfer
from edureg.registry.services import (
    GuardianWrite,
    ItemRejected,
    NewStudent,
    Placement,
    StudentChange,
    students_create_many,
    students_place_many,
    students_update_many,
)
from edureg.registry.staff import NewStaff, StaffChange, staff_create_many, staff_update_many
from edureg.registry.transfers import transfer_accept
from edureg.schools.models import School

logger = logging.getLogger("edureg.intake")

# The intake writes what the Ministry's export holds, field by field, without showing any
# stored value: the job position's field visibility (for editing by hand) does not apply.
_EVERY_FIELD = Visibility(hidden=frozenset(), masked=frozenset())


@dataclasses.dataclass(frozen=True)
class DryRun:
    run: IntakeRun
    plan: Plan


@dataclasses.dataclass(frozen=True)
class Committed:
    run: IntakeRun
    plan: Plan
    seconds: float


def workbook_read(data: bytes, *, kind: Kind, filename: str = "") -> Workbook:
    """The workbook in ``data`` (``edureg.intake.workbook``); raises ``WorkbookRefused``."""
    if len(data) > settings.EDUREG_INTAKE_MAX_BYTES:
        raise WorkbookRefused(_("Tệp lớn hơn giới hạn %(mb)d MB: hãy tách tệp theo khối lớp.")
                              % {"mb": settings.EDUREG_INTAKE_MAX_BYTES // (1024 * 1024)})
    from edureg.intake.workbook import read_workbook

    return read_workbook(data, kind=kind, filename=filename,
                         max_rows=settings.EDUREG_INTAKE_MAX_ROWS)


def _authorise(actor: Actor | None, school: School) -> None:
    """The intake's permission at the school (403 without it, 404 for another school), and
    the data-protection policy acknowledged (the files hold sensitive fields). ``None`` is the
    system: a command run on the server by its operator."""
    if actor is None:
        return
    require(actor, Perm.INTAKE_RUN, school)
    require_acknowledged(actor)


# --- The private temporary files ---------------------------------------------------------------

def intake_dir() -> Path:
    return Path(settings.EDUREG_INTAKE_DIR)


def _paths(run_id: int) -> tuple[Path, Path]:
    directory = intake_dir()
    return directory / f"run-{run_id}.bin", directory / f"run-{run_id}.report.json"


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by this account only (created 0600 in a 0700 directory,
    renamed into place)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    partial = path.with_name(path.name + ".part")
    partial.unlink(missing_ok=True)
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)  # a half-written copy would hold the disk until expiry
        raise


def _remove_files(run_id: int) -> None:
    for path in _paths(run_id):
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".part").unlink(missing_ok=True)


def _kept_file(run: IntakeRun) -> bytes:
    path, _report = _paths(run.pk)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValidationError(_("Tệp của lần soi thử này không còn (đã quá hạn hoặc đã xử lý): "
                                "hãy tải tệp lên và soi thử lại."), code="gone") from None
    if hashlib.sha256(data).hexdigest() != run.sha256:
        raise ValidationError(_("Tệp đã thay đổi kể từ lần soi thử: hãy soi thử lại."),
                              code="changed")
    return data


def report_payload(plan: Plan) -> dict[str, Any]:
    """What the dry-run page pages through: problems with their places, the rows with
    look-alikes (record and school ids, reasons) and the quality findings. Record ids, not
    names: the page shows names only to those who may see them."""
    return {
        "fingerprint": plan.fingerprint,
        "problems": [{"severity": i.problem.severity.value, "message": i.problem.message,
                      "sheet": i.problem.sheet, "row": i.problem.row,
                      "column": i.problem.column, "field": i.problem.field}
                     for i in plan.issues],
        "candidates": [{"sheet": row.sheet, "row": row.row, "action": row.action.value,
                        "student_id": row.student_id,
                        "records": [{"id": c.record_id, "school_id": c.school_id,
                                     "reasons": list(c.reasons)} for c in row.candidates]}
                       for row in plan.candidate_rows],
        "findings": [{"rule_code": f.rule_code, "dimension": f.dimension,
                      "severity": f.severity, "message": f.message, "count": f.count,
                      "rows": [list(at) for at in f.rows], "record_ids": list(f.record_ids)}
                     for f in plan.findings],
    }


def report_read(run: IntakeRun) -> dict[str, Any] | None:
    """The dry run's report of an open run (None once its files are gone)."""
    _file, path = _paths(run.pk)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return report if report.get("fingerprint") == run.plan_fingerprint else None


class StorageUnavailable(PlanRefused):
    """The file could not be kept until the commit (the disk is full, or not writable)."""


def _keep(run: IntakeRun, data: bytes, plan: Plan) -> None:
    """Keep the file and its report for the commit; called inside the run's transaction, so
    that a file that cannot be kept leaves no run behind (and no part of a file)."""
    path, report = _paths(run.pk)
    try:
        _write_private(path, data)
        _write_private(report, json.dumps(report_payload(plan), ensure_ascii=False).encode())
    except OSError as error:
        logger.error("intake: run %s: the file could not be kept (%s)", run.pk,
                     error.strerror or type(error).__name__)
        raise StorageUnavailable(_(
            "Máy chủ chưa lưu tạm được tệp này (hết chỗ trên đĩa hoặc không ghi được): chưa có "
            "gì được ghi. Hãy báo quản trị hệ thống rồi tải tệp lên lại.")) from error


# --- Dry run -------------------------------------------------------------------------------------

def _audit_data(run: IntakeRun, plan: Plan | None = None) -> dict[str, Any]:
    return {"sha256": run.sha256, "size": run.size, "kind": run.kind, "template": run.template,
            "counts": plan.summary() if plan is not None else run.summary}


def intake_dry_run(*, actor: Actor | None, school: School, kind: Kind, data: bytes,
                   filename: str = "", keep: bool = True) -> DryRun:
    """Read ``data`` and plan it for ``school``; record the run (reviewed) with its sha256
    and counts. ``keep``: keep the file privately until the commit (the web's two steps).
    Raises ``WorkbookRefused`` or ``PlanRefused`` for a file that cannot be taken in."""
    _authorise(actor, school)
    workbook = workbook_read(data, kind=kind, filename=filename)
    plan = plan_workbook(workbook, school=school, actor=actor)
    now = timezone.now()
    with transaction.atomic():
        run = IntakeRun.objects.create(
            school=school, kind=kind.value, sha256=workbook.sha256, size=workbook.size,
            template=workbook.template[:60], summary=plan.summary(),
            plan_fingerprint=plan.fingerprint,
            created_by_id=actor.pk if actor is not None and actor.is_authenticated else None,
            created_at=now, reviewed_at=now)
        audit_record(actor=actor, action=actions.INTAKE_DRY_RUN, entity="intake_run",
                     entity_id=run.pk, school_id=school.pk, data=_audit_data(run, plan))
        if keep:
            try:
                _keep(run, data, plan)
            except StorageUnavailable:
                with contextlib.suppress(OSError):  # what can be removed (the sweep: the rest)
                    _remove_files(run.pk)
                raise
    return DryRun(run=run, plan=plan)


def intake_review_again(*, actor: Actor | None, run: IntakeRun) -> DryRun:
    """Plan the kept file again (the database changed since), and make that the plan the
    commit must find."""
    _authorise(actor, run.school)
    if not run.is_open:
        raise _closed(run)
    data = _kept_file(run)
    workbook = workbook_read(data, kind=Kind(run.kind))
    plan = plan_workbook(workbook, school=run.school, actor=actor)
    with transaction.atomic():
        locked = IntakeRun.objects.select_for_update().get(pk=run.pk)
        if not locked.is_open:
            raise _closed(locked)
        locked.summary, locked.plan_fingerprint = plan.summary(), plan.fingerprint
        locked.reviewed_at = timezone.now()
        locked.save(update_fields=["summary", "plan_fingerprint", "reviewed_at"])
        audit_record(actor=actor, action=actions.INTAKE_DRY_RUN, entity="intake_run",
                     entity_id=locked.pk, school_id=locked.school_id,
                     data=_audit_data(locked, plan))
        _keep(locked, data, plan)  # a refusal leaves the kept file and the plan as they were
    return DryRun(run=locked, plan=plan)


def _closed(run: IntakeRun) -> ValidationError:
    return ValidationError(_("Lần nhập này đã kết thúc (%(status)s); hãy tải tệp lên và soi thử "
                             "lại.") % {"status": RunStatus(run.status).label}, code="closed")


# --- Commit --------------------------------------------------------------------------------------

class _ApplyFailed(Exception):
    """A write of the commit failed: the transaction is rolled back and the run fails."""

    def __init__(self, error: ValidationError) -> None:
        super().__init__(str(error))
        self.error = error


class _RowRejected(Exception):
    """The registry refused the write of ``row``."""

    def __init__(self, row: RowPlan, error: ValidationError) -> None:
        super().__init__(f"row {row.row}")
        self.row = row
        self.error = error


def _rows_listed(rows: Sequence[int], limit: int = 30) -> str:
    shown = ", ".join(str(row) for row in rows[:limit])
    return shown + (" …" if len(rows) > limit else "")


def intake_commit(*, actor: Actor | None, run: IntakeRun, data: bytes | None = None,
                  not_duplicate_reason: str = "") -> Committed:
    """Write the plan the user reviewed, all or nothing. The file (``data``, or the one kept
    at the dry run) is planned again inside the transaction: a different fingerprint (the
    database or the file changed) refuses with a request to run the dry run again, as do
    errors left in the file and look-alikes without a reason. Any failure while writing rolls
    everything back; the run is then marked failed."""
    started = time.perf_counter()
    _authorise(actor, run.school)
    if not run.is_open:
        raise _closed(run)
    if data is None:
        data = _kept_file(run)
    elif hashlib.sha256(data).hexdigest() != run.sha256:
        raise ValidationError(_("Tệp đã thay đổi kể từ lần soi thử: hãy soi thử lại."),
                              code="changed")
    workbook = workbook_read(data, kind=Kind(run.kind))
    try:
        with transaction.atomic():
            locked = IntakeRun.objects.select_for_update().get(pk=run.pk)
            if not locked.is_open:
                raise _closed(locked)
            # One intake of a school at a time: a second waits here, then finds its plan
            # changed.
            school = School.objects.select_for_update().get(pk=locked.school_id)
            try:
                plan = plan_workbook(workbook, school=school, actor=actor, findings=False)
            except PlanRefused as refused:
                raise ValidationError(refused.message, code="refused") from None
            _may_commit(locked, plan, not_duplicate_reason)
            try:
                _apply(actor, plan, locked, not_duplicate_reason)
            except (_RowRejected, ValidationError) as error:
                raise _ApplyFailed(_row_error(error)) from error
            now = timezone.now()
            locked.status, locked.committed_at, locked.closed_at = (
                RunStatus.COMMITTED, now, now)
            # The counts reviewed (with the quality findings), which the writes just matched.
            locked.save(update_fields=["status", "committed_at", "closed_at"])
            audit_record(actor=actor, action=actions.INTAKE_COMMITTED, entity="intake_run",
                         entity_id=locked.pk, school_id=locked.school_id,
                         data=_audit_data(locked))
    except _ApplyFailed as failed:
        _fail(actor, run)
        raise failed.error from None
    except ValidationError:
        raise
    except Exception:
        _fail(actor, run)
        raise
    _remove_files(run.pk)
    return Committed(run=locked, plan=plan, seconds=time.perf_counter() - started)


def _may_commit(run: IntakeRun, plan: Plan, not_duplicate_reason: str) -> None:
    if plan.fingerprint != run.plan_fingerprint:
        raise ValidationError(_("Dữ liệu trong CSDL hoặc tệp đã thay đổi kể từ lần soi thử, nên "
                                "kết quả ghi có thể khác điều bạn đã xem: hãy soi thử lại rồi "
                                "mới ghi."), code="plan_changed")
    if plan.errors:
        rows = plan.error_rows
        raise ValidationError(
            _("Tệp còn %(count)d lỗi, nên chưa ghi gì vào CSDL (nhập tệp là “tất cả hoặc không "
              "gì cả”). Hãy sửa các hàng %(rows)s trong tệp rồi soi thử lại.")
            % {"count": plan.errors, "rows": _rows_listed(rows) or "—"}, code="errors")
    if plan.candidate_rows and len(not_duplicate_reason.strip()) < 10:
        rows = [row.row for row in plan.candidate_rows]
        raise ValidationError(
            _("Các hàng %(rows)s giống hồ sơ đã có. Nếu không phải cùng một người, hãy ghi lý "
              "do (ít nhất 10 ký tự) rồi ghi vào CSDL; nếu là cùng một người, hãy ghi mã định "
              "danh vào tệp rồi soi thử lại.") % {"rows": _rows_listed(rows)},
            code="duplicates")


def _row_error(error: _RowRejected | ValidationError) -> ValidationError:
    """A write refused while committing, said with the row it came from."""
    if isinstance(error, ValidationError):
        return error
    messages = "; ".join(error.error.messages)
    return ValidationError(_("Trang %(sheet)s, hàng %(row)d: %(messages)s — không có gì được "
                             "ghi.") % {"sheet": error.row.sheet, "row": error.row.row,
                                        "messages": messages}, code="write")


def _fail(actor: Actor | None, run: IntakeRun) -> None:
    with transaction.atomic():
        locked = IntakeRun.objects.select_for_update().get(pk=run.pk)
        if not locked.is_open:
            return
        locked.status, locked.closed_at = RunStatus.FAILED, timezone.now()
        locked.save(update_fields=["status", "closed_at"])
        audit_record(actor=actor, action=actions.INTAKE_FAILED, entity="intake_run",
                     entity_id=locked.pk, school_id=locked.school_id,
                     data=_audit_data(locked))
    _remove_files(run.pk)


def _guardian_write(step: GuardianStep) -> GuardianWrite:
    if step.guardian_id is None:
        data = dict(step.values)
    else:
        data = {name: step.values[name] for name in step.changes}
    return GuardianWrite(relation_code=step.relation_code, data=data,
                         guardian_id=step.guardian_id, new_key=step.new_key)


def _rejected(rows: Sequence[RowPlan], rejected: ItemRejected) -> _RowRejected:
    """The registry's refusal of item ``index``, with the row of the file it came from."""
    return _RowRejected(rows[rejected.index], rejected.error)


def _apply_staff(actor: Actor | None, plan: Plan, run: IntakeRun,
                 not_duplicate_reason: str) -> None:
    """``_apply`` of a staff export: new staff, then changed ones."""
    perm = Perm.INTAKE_RUN
    extra = {"intake_run": run.pk}
    reason = not_duplicate_reason.strip()
    school = School.objects.get(pk=plan.school_id)
    writing = [row for row in plan.rows if row.action in WRITING]
    new = [row for row in writing if row.action is Action.NEW]
    try:
        staff_create_many(actor=actor, perm=perm, audit_data=extra, items=[NewStaff(
            school=school, data=row.values,
            not_duplicate_reason=reason if row.candidates else "") for row in new])
    except ItemRejected as rejected:
        raise _rejected(new, rejected) from None
    changing = [row for row in writing if isinstance(row, StaffRowPlan)
                and row.action is not Action.NEW and row.values]
    people = Staff.objects.in_bulk(sorted({row.staff_id for row in changing
                                           if row.staff_id is not None}))
    try:
        staff_update_many(actor=actor, perm=perm, audit_data=extra, items=[StaffChange(
            staff=people[row.staff_id or 0], data=row.values,
            not_duplicate_reason=reason if row.candidates else "") for row in changing])
    except ItemRejected as rejected:
        raise _rejected(changing, rejected) from None


def _apply(actor: Actor | None, plan: Plan, run: IntakeRun, not_duplicate_reason: str) -> None:
    """Write the plan through the registry's services, in the caller's transaction."""
    if plan.kind is Kind.STAFF:
        _apply_staff(actor, plan, run, not_duplicate_reason)
        return
    perm = Perm.INTAKE_RUN
    extra = {"intake_run": run.pk}
    reason = not_duplicate_reason.strip()
    classes = SchoolClass.objects.select_related("school_year").in_bulk(
        sorted({row.class_id for row in plan.rows if row.class_id is not None}))
    writing = [row for row in plan.rows if row.action in WRITING]
    for row in writing:
        if row.action is Action.TRANSFERRED_IN:
            assert actor is not None
            assert row.transfer_id is not None
            assert row.class_id is not None
            transfer = Transfer.objects.select_related("to_school").get(pk=row.transfer_id)
            try:
                transfer_accept(actor=actor, transfer=transfer, school_class=classes[row.class_id],
                                note=_("Tiếp nhận khi nhập tệp (lần nhập số %(run)d).")
                                % {"run": run.pk})
            except ValidationError as error:
                raise _RowRejected(row, error) from None
    new = [row for row in writing if row.action is Action.NEW]
    try:
        students_create_many(actor=actor, perm=perm, audit_data=extra, items=[NewStudent(
            school_class=classes[row.class_id or 0], data=row.values, started_on=row.status_on,
            status_code=row.status_code,
            not_duplicate_reason=reason if row.candidates else "",
            guardians=tuple(_guardian_write(step) for step in row.guardian_writes))
            for row in new])
    except ItemRejected as rejected:
        raise _rejected(new, rejected) from None
    existing = [row for row in writing if row.action is not Action.NEW]
    students = Student.objects.in_bulk(
        sorted({row.student_id for row in existing if row.student_id is not None}))
    changing = [row for row in existing if row.values or row.guardian_writes]
    try:
        students_update_many(actor=actor, perm=perm, audit_data=extra, items=[StudentChange(
            student=students[row.student_id or 0], data=row.values, shown=_EVERY_FIELD,
            not_duplicate_reason=reason if row.candidates else "",
            guardians=tuple(_guardian_write(step) for step in row.guardian_writes))
            for row in changing])
    except ItemRejected as rejected:
        raise _rejected(changing, rejected) from None
    placing = [row for row in existing
               if row.action is not Action.TRANSFERRED_IN and (row.moved or row.status_code)]
    students = Student.objects.in_bulk([row.student_id for row in placing])
    try:
        students_place_many(actor=actor, perm=perm, audit_data=extra, items=[Placement(
            student=students[row.student_id or 0],
            school_class=classes[row.class_id or 0] if row.moved else None,
            status_code=row.status_code, effective_on=row.status_on) for row in placing])
    except ItemRejected as rejected:
        raise _rejected(placing, rejected) from None


# --- Cancel and expiry ---------------------------------------------------------------------------

def intake_cancel(*, actor: Actor | None, run: IntakeRun) -> IntakeRun:
    """The user does not commit: the run ends and its file is removed."""
    _authorise(actor, run.school)
    with transaction.atomic():
        locked = IntakeRun.objects.select_for_update().get(pk=run.pk)
        if not locked.is_open:
            raise _closed(locked)
        locked.status, locked.closed_at = RunStatus.CANCELLED, timezone.now()
        locked.save(update_fields=["status", "closed_at"])
        audit_record(actor=actor, action=actions.INTAKE_CANCELLED, entity="intake_run",
                     entity_id=locked.pk, school_id=locked.school_id,
                     data=_audit_data(locked))
    _remove_files(locked.pk)
    return locked


def intake_expire(*, now: dt.datetime | None = None) -> int:
    """End the runs not committed within ``EDUREG_INTAKE_TTL_SECONDS`` of their upload and
    remove their files, and any file left in the directory without an open run (a process
    stopped between writing it and recording the run); returns the runs ended. A system job
    (``edureg schedule``)."""
    moment = now or timezone.now()
    deadline = moment - dt.timedelta(seconds=settings.EDUREG_INTAKE_TTL_SECONDS)
    ended = 0
    for run_id in IntakeRun.objects.filter(status=RunStatus.REVIEWED,
                                           created_at__lt=deadline).values_list("pk", flat=True):
        with transaction.atomic():
            locked = IntakeRun.objects.select_for_update().get(pk=run_id)
            if not locked.is_open:
                continue
            locked.status, locked.closed_at = RunStatus.EXPIRED, moment
            locked.save(update_fields=["status", "closed_at"])
            audit_record(actor=None, action=actions.INTAKE_EXPIRED, entity="intake_run",
                         entity_id=locked.pk, school_id=locked.school_id,
                         data=_audit_data(locked))
        _remove_files(run_id)
        ended += 1
    directory = Path(settings.EDUREG_INTAKE_DIR)
    if directory.is_dir():
        open_runs = set(IntakeRun.objects.filter(status=RunStatus.REVIEWED)
                        .values_list("pk", flat=True))
        for path in directory.glob("run-*"):
            number = path.name.removeprefix("run-").split(".", 1)[0]
            old = path.stat().st_mtime < deadline.timestamp()
            if not number.isdigit() or (int(number) not in open_runs and old):
                path.unlink(missing_ok=True)
    return ended

