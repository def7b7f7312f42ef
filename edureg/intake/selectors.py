"""Reads for the intake screens, always through the policy (out of scope: 404).

The dry run's report names no person: rows by sheet and number, records by id. Names of
existing pupils are shown only where the actor may see the pupil (and that read is audited);
a look-alike at another school shows as its school only, as the registry's entry check does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from django.core.paginator import Page, Paginator

from edureg.access.policy import Actor, get_scoped_or_404, scope
from edureg.access.roles import Perm
from edureg.audit.services import audit_read
from edureg.intake.models import IntakeRun
from edureg.intake.services import report_read
from edureg.intake.source import Kind
from edureg.registry.models import Staff, Student
from edureg.schools.models import School

HISTORY_SHOWN = 100
PROBLEMS_PER_PAGE = 50


def intake_school_get(*, actor: Actor, school_id: int) -> School:
    """The school whose workbooks the actor may take in (403 without the permission, 404
    out of scope)."""
    return get_scoped_or_404(School.objects.all(), actor, Perm.INTAKE_RUN, pk=school_id)


def intake_run_get(*, actor: Actor, run_id: int) -> IntakeRun:
    return get_scoped_or_404(IntakeRun.objects.select_related("school", "created_by"), actor,
                             Perm.INTAKE_RUN, pk=run_id)


def intake_runs(*, actor: Actor, school_id: int,
                limit: int = HISTORY_SHOWN) -> tuple[School, list[IntakeRun]]:
    """The school's intakes, newest first (counts only: nothing personal)."""
    school = intake_school_get(actor=actor, school_id=school_id)
    runs = list(IntakeRun.objects.filter(school=school).select_related("created_by")
                .order_by("-created_at", "-pk")[:limit])
    return school, runs


@dataclasses.dataclass(frozen=True)
class RecordShown:
    """An existing pupil as the actor may see it: name and link inside their scope, otherwise
    the school only."""

    record_id: int
    name: str
    school: str
    visible: bool
    entity: str = "student"  # or "staff" (a staff export's look-alikes)


@dataclasses.dataclass(frozen=True)
class CandidateRow:
    sheet: str
    row: int
    records: Sequence[tuple[RecordShown, Sequence[str]]]


@dataclasses.dataclass(frozen=True)
class FindingShown:
    rule_code: str
    dimension: str
    severity: str
    message: str
    count: int
    rows: Sequence[tuple[str, int]]
    records: Sequence[RecordShown]


@dataclasses.dataclass(frozen=True)
class Report:
    problems: Page[dict[str, Any]]
    errors: int
    warnings: int
    candidates: Sequence[CandidateRow]
    findings: Sequence[FindingShown]


def intake_report(*, actor: Actor, run: IntakeRun, page: int = 1) -> Report | None:
    """The dry run's report of an open run (None once its files are gone): a page of the
    problems, the rows with look-alikes and the quality findings. The names of the pupils it
    shows are a read of personal data, audited under the run's school."""
    payload = report_read(run)
    if payload is None:
        return None
    problems = payload["problems"]
    paginator = Paginator(problems, PROBLEMS_PER_PAGE)
    ids = {record["id"] for row in payload["candidates"] for record in row["records"]}
    ids |= {pk for finding in payload["findings"] for pk in finding["record_ids"]}
    entity = "staff" if run.kind == Kind.STAFF else "student"
    shown = _records_shown(actor, sorted(ids), entity=entity)
    visible = sorted(pk for pk, record in shown.items() if record.visible)
    if visible:
        audit_read(actor=actor, entity=entity, ids=visible, school_id=run.school_id,
                   view="intake_dry_run", extra={"intake_run": run.pk})
    return Report(
        problems=paginator.get_page(page),
        errors=sum(1 for p in problems if p["severity"] == "error"),
        warnings=sum(1 for p in problems if p["severity"] != "error"),
        candidates=[CandidateRow(sheet=row["sheet"], row=row["row"], records=[
            (shown[record["id"]], record["reasons"]) for record in row["records"]])
            for row in payload["candidates"]],
        findings=[FindingShown(
            rule_code=f["rule_code"], dimension=f["dimension"], severity=f["severity"],
            message=f["message"], count=f["count"], rows=[tuple(at) for at in f["rows"]],
            records=[shown[pk] for pk in f["record_ids"]]) for f in payload["findings"]],
    )


def _records_shown(actor: Actor, ids: Sequence[int], *, entity: str = "student"
                   ) -> dict[int, RecordShown]:
    if not ids:
        return {}
    model: type[Student] | type[Staff] = Staff if entity == "staff" else Student
    perm = Perm.STAFF_VIEW if entity == "staff" else Perm.STUDENT_VIEW
    visible = set(scope(model.objects.filter(pk__in=ids), actor, perm)
                  .values_list("pk", flat=True))
    rows = model.objects.filter(pk__in=ids).values_list("pk", "full_name", "school__name")
    return {pk: RecordShown(record_id=pk, name=name if pk in visible else "", school=school,
                            visible=pk in visible, entity=entity)
            for pk, name, school in rows}
