"""Reporting rounds (kỳ báo cáo): the authority opens a round for a reporting date, each
principal reviews the school's figures for that date next to its quality scores and signs off
(the quality sign-off, ``registry.attestation.school_sign_off``, with the round's name as its
``round_label``), the authority follows who has signed and reads the consolidated tables.

Opening and closing need ``report.define`` over the whole authority; reading needs
``report.view``. A round, a school or an authority outside the actor's reach is missing (404).
Every write and every download leaves its audit event in its transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Min
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from edureg.access import policy
from edureg.access.policy import Actor
from edureg.access.roles import ROLE_PERMS, Perm, Scope
from edureg.audit import actions
from edureg.audit.services import audit_record
from edureg.core.text import TextValueError, clean_text
from edureg.quality.models import SignOff
from edureg.registry import attestation
from edureg.reports.exports import (
    PDF_CONTENT_TYPE,
    XLSX_CONTENT_TYPE,
    export_filename,
    table_pdf,
    table_xlsx,
)
from edureg.reports.models import ReportDefinition, ReportingRound, RoundKind
from edureg.reports.services import (
    ReportRefused,
    definition_get,
    definitions_active,
    report_generate,
    reports_generate,
)
from edureg.reports.tables import TOTAL_KEY, ReportTable
from edureg.schools.models import Authority, School, SchoolYear

ROUND_OPENED = "reporting_round.opened"
ROUND_CLOSED = "reporting_round.closed"
NAME_MAX = 60  # the quality sign-off's round label holds the name
GROUP_MAX = 30  # schools in one chosen group or comparison
EXPORT_FORMATS = {"xlsx": (XLSX_CONTENT_TYPE, table_xlsx), "pdf": (PDF_CONTENT_TYPE, table_pdf)}


# --- Who may reach what ------------------------------------------------------------------------


def authorities_managed(actor: Actor, perm: Perm = Perm.REPORT_DEFINE) -> list[Authority]:
    """The authorities the actor covers as a whole with ``perm``."""
    ids = {
        grant.authority_id
        for grant in policy.grants(actor)
        if grant.scope is Scope.AUTHORITY and perm in ROLE_PERMS[grant.role]
    }
    return list(Authority.objects.filter(pk__in=ids).order_by("name"))


def _require_authority(actor: Actor, authority_id: int, perm: Perm) -> None:
    policy.require(actor, perm)
    if authority_id not in {a.pk for a in authorities_managed(actor, perm)}:
        raise Http404


def round_get(*, actor: Actor, round_id: int, perm: Perm = Perm.REPORT_VIEW) -> ReportingRound:
    """A round of one of the actor's authorities (404 otherwise)."""
    return policy.get_scoped_or_404(
        ReportingRound.objects.select_related("authority"), actor, perm, pk=round_id
    )


def rounds_list(*, actor: Actor) -> list[ReportingRound]:
    policy.require(actor, Perm.REPORT_VIEW)
    return list(
        policy.scope(ReportingRound.objects.select_related("authority"), actor, Perm.REPORT_VIEW)
    )


def data_begins(authority: Authority) -> dt.date | None:
    value = SchoolYear.objects.filter(school__authority=authority).aggregate(
        first=Min("starts_on")
    )["first"]
    return value if isinstance(value, dt.date) else None


# --- Opening and closing -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RoundData:
    name: str
    kind: str
    as_of: dt.date | None


def round_open(*, actor: Actor, authority: Authority, data: RoundData) -> ReportingRound:
    """Open a round for the authority's schools, its figures as of ``data.as_of``."""
    _require_authority(actor, authority.pk, Perm.REPORT_DEFINE)
    errors: dict[str, list[str]] = {}
    try:
        name = clean_text(data.name or "", max_length=NAME_MAX)
    except TextValueError as error:
        errors["name"] = [error.message]
        name = ""
    if not name and "name" not in errors:
        errors["name"] = [_("Hãy đặt tên kỳ báo cáo (ví dụ: Đầu năm học 2026–2027).")]
    if data.kind not in RoundKind.values:
        errors["kind"] = [_("Hãy chọn loại kỳ: đầu năm, giữa năm hoặc cuối năm học.")]
    today = timezone.localdate()
    begins = data_begins(authority)
    if data.as_of is None:
        errors["as_of"] = [_("Hãy nhập ngày lấy số liệu (ngày/tháng/năm).")]
    elif data.as_of > today:
        errors["as_of"] = [
            _("Ngày lấy số liệu %(day)s ở tương lai; hãy chọn một ngày đến hôm nay.")
            % {"day": data.as_of.strftime("%d/%m/%Y")}
        ]
    elif begins is None:
        errors["as_of"] = [_("Các trường của Sở chưa có năm học nào: chưa có số liệu để báo cáo.")]
    elif data.as_of < begins:
        errors["as_of"] = [
            _(
                "Ngày %(day)s trước khi có số liệu: dữ liệu của Sở bắt đầu từ ngày %(begins)s. "
                "Hãy chọn ngày từ ngày đó trở đi."
            )
            % {"day": data.as_of.strftime("%d/%m/%Y"), "begins": begins.strftime("%d/%m/%Y")}
        ]
    if errors:
        raise ValidationError(errors)
    assert data.as_of is not None
    try:
        with transaction.atomic():
            opened = ReportingRound.objects.create(
                authority=authority,
                name=name,
                kind=data.kind,
                as_of=data.as_of,
                opened_by_id=actor.pk if actor.is_authenticated else None,
                opened_at=timezone.now(),
            )
            audit_record(
                actor=actor,
                action=ROUND_OPENED,
                entity="reporting_round",
                entity_id=opened.pk,
                data={
                    "authority": authority.pk,
                    "name": name,
                    "kind": data.kind,
                    "as_of": data.as_of.isoformat(),
                },
            )
    except IntegrityError as exc:
        raise ValidationError(
            {"name": [_("Sở đã có kỳ báo cáo tên này; hãy đặt tên khác.")]}
        ) from exc
    return opened


def round_close(*, actor: Actor, round_id: int) -> ReportingRound:
    """Close the round: no more sign-offs for it; its tables stay readable."""
    with transaction.atomic():
        found = round_get(actor=actor, round_id=round_id, perm=Perm.REPORT_DEFINE)
        _require_authority(actor, found.authority_id, Perm.REPORT_DEFINE)
        locked = ReportingRound.objects.select_for_update().get(pk=found.pk)
        if locked.closed_at is not None:
            raise ValidationError(_("Kỳ báo cáo này đã khoá từ trước."))
        locked.closed_at = timezone.now()
        locked.save(update_fields=["closed_at"])
        audit_record(
            actor=actor,
            action=ROUND_CLOSED,
            entity="reporting_round",
            entity_id=locked.pk,
            data={"name": locked.name},
        )
    locked.authority = found.authority
    return locked


# --- Progress ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SchoolProgress:
    school: School
    signed_at: dt.datetime | None
    scores: dict[str, float | int]


@dataclasses.dataclass(frozen=True)
class RoundProgress:
    round: ReportingRound
    schools: list[SchoolProgress]

    @property
    def signed(self) -> int:
        return sum(1 for row in self.schools if row.signed_at is not None)

    @property
    def total(self) -> int:
        return len(self.schools)


def _sign_offs(round_: ReportingRound, school_ids: Sequence[int]) -> dict[int, SignOff]:
    return {
        s.school_id: s
        for s in SignOff.objects.filter(school_id__in=list(school_ids), round_label=round_.name)
    }


def round_progress(*, actor: Actor, round_id: int) -> RoundProgress:
    """Which of the authority's active schools have signed the round off (no signer named)."""
    found = round_get(actor=actor, round_id=round_id, perm=Perm.REPORT_VIEW)
    _require_authority(actor, found.authority_id, Perm.REPORT_VIEW)
    schools = list(
        School.objects.filter(authority_id=found.authority_id, is_active=True).order_by("code")
    )
    signed = _sign_offs(found, [s.pk for s in schools])
    rows = [
        SchoolProgress(
            school=s,
            signed_at=signed[s.pk].signed_at if s.pk in signed else None,
            scores=dict(signed[s.pk].scores) if s.pk in signed else {},
        )
        for s in schools
    ]
    return RoundProgress(round=found, schools=rows)


# --- The principal's review and sign-off ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RoundReview:
    round: ReportingRound
    school: School
    tables: list[ReportTable]
    refused: str  # why the figures cannot be shown (a date before the school's data)
    scores: dict[str, float | int]  # as they stand now, or as frozen by the sign-off
    sign_off: SignOff | None
    may_sign_off: bool


def _school_of_round(actor: Actor, round_: ReportingRound, school_id: int, perm: Perm) -> School:
    school = policy.get_scoped_or_404(School.objects.all(), actor, perm, pk=school_id)
    if school.authority_id != round_.authority_id:
        raise Http404
    return school


def round_review(*, actor: Actor, round_id: int, school_id: int) -> RoundReview:
    """The school's standard set of tables as of the round's date, next to its quality scores."""
    found = round_get(actor=actor, round_id=round_id, perm=Perm.REPORT_VIEW)
    school = _school_of_round(actor, found, school_id, Perm.REPORT_VIEW)
    tables: list[ReportTable] = []
    refused = ""
    try:
        tables = reports_generate(actor=actor, as_of=found.as_of, schools=[school])
    except ReportRefused as error:
        refused = error.message
    signed = _sign_offs(found, [school.pk]).get(school.pk)
    return RoundReview(
        round=found,
        school=school,
        tables=tables,
        refused=refused,
        scores=dict(signed.scores) if signed else attestation.school_scores(school.pk),
        sign_off=signed,
        may_sign_off=(
            signed is None
            and found.is_open
            and policy.has_perm_at(actor, Perm.QUALITY_SIGN_OFF, school.pk)
        ),
    )


def round_sign_off(*, actor: Actor, round_id: int, school_id: int, note: str = "") -> SignOff:
    """The principal signs the round off for the school: the quality sign-off, labelled with
    the round's name (audited there, with the scores frozen)."""
    found = round_get(actor=actor, round_id=round_id, perm=Perm.QUALITY_SIGN_OFF)
    school = _school_of_round(actor, found, school_id, Perm.QUALITY_SIGN_OFF)
    if not found.is_open:
        raise ValidationError(_("Kỳ báo cáo đã khoá: không ký xác nhận được nữa."))
    try:
        return attestation.school_sign_off(
            actor=actor, school=school, round_label=found.name, note=note
        )
    except ValidationError as error:
        if hasattr(error, "error_dict") and "round_label" in error.error_dict:
            raise ValidationError(_("Trường đã ký xác nhận số liệu kỳ này.")) from error
        raise


# --- Consolidated tables, comparisons, trends, downloads --------------------------------------


def _group(actor: Actor, round_: ReportingRound, school_ids: Sequence[int]) -> list[School]:
    """The chosen schools, all within the round's authority and the actor's reach; a clear
    refusal otherwise."""
    wanted = sorted(set(school_ids))
    if not wanted:
        raise ReportRefused(_("Chưa chọn trường nào."))
    if len(wanted) > GROUP_MAX:
        raise ReportRefused(_("Chọn tối đa %(count)d trường mỗi lần.") % {"count": GROUP_MAX})
    reachable = list(
        policy.scope(
            School.objects.filter(pk__in=wanted, authority_id=round_.authority_id),
            actor,
            Perm.REPORT_VIEW,
        ).order_by("code")
    )
    if len(reachable) != len(wanted):
        raise ReportRefused(
            _(
                "Có %(count)d trường đã chọn không thuộc phạm vi bạn được xem số liệu; hãy chọn "
                "lại trong danh sách các trường của Sở."
            )
            % {"count": len(wanted) - len(reachable)}
        )
    return reachable


def round_tables(
    *,
    actor: Actor,
    round_id: int,
    school_ids: Sequence[int] | None = None,
    definition: str | None = None,
) -> tuple[ReportingRound, list[ReportTable]]:
    """The round's tables (one definition, or the standard set) for the whole authority or a
    chosen group of its schools."""
    found = round_get(actor=actor, round_id=round_id, perm=Perm.REPORT_VIEW)
    codes: list[ReportDefinition] = (
        [definition_get(definition)] if definition else definitions_active()
    )
    if school_ids is None:
        _require_authority(actor, found.authority_id, Perm.REPORT_VIEW)
        # The whole set reads the pupils once (``reports_generate``), not once per table.
        return found, reports_generate(
            actor=actor, as_of=found.as_of, authority=found.authority, definitions=codes
        )
    group = _group(actor, found, school_ids)
    return found, reports_generate(
        actor=actor, as_of=found.as_of, schools=group, definitions=codes
    )


@dataclasses.dataclass(frozen=True)
class Figure:
    """One headline figure of a table (its total), as shown: "<5" when suppressed."""

    label: str
    value: float | None
    text: str
    provenance: str


def headline(table: ReportTable, label: str) -> Figure:
    """The table's grand total (or, for a table of measures, its first measure's total)."""
    row = table.total if table.total is not None else table.rows[0] if table.rows else None
    if row is None or not row.cells:
        return Figure(label, None, "–", table.provenance.describe())
    cell = row.cells[-1] if table.columns[-1].key == TOTAL_KEY else row.cells[0]
    value = float(cell.value) if cell.value is not None else None
    return Figure(label, value, cell.text, table.provenance.describe())


def round_comparison(
    *, actor: Actor, round_id: int, school_ids: Sequence[int], definition: str
) -> tuple[ReportingRound, ReportDefinition, list[Figure]]:
    """One definition's headline figure for each chosen school, as of the round's date."""
    found = round_get(actor=actor, round_id=round_id, perm=Perm.REPORT_VIEW)
    stored = definition_get(definition)
    group = _group(actor, found, school_ids)
    figures = []
    for school in group:
        try:
            table = report_generate(
                actor=actor, definition=stored, as_of=found.as_of, schools=[school]
            )
        except ReportRefused:
            figures.append(Figure(school.name, None, "–", ""))
            continue
        figures.append(headline(table, school.name))
    return found, stored, figures


def round_trend(
    *, actor: Actor, round_id: int, definition: str, years: int = 5
) -> tuple[ReportingRound, ReportDefinition, list[Figure]]:
    """The authority's headline figure on the round's date in each earlier year that has data
    (oldest first), up to ``years`` points."""
    found = round_get(actor=actor, round_id=round_id, perm=Perm.REPORT_VIEW)
    _require_authority(actor, found.authority_id, Perm.REPORT_VIEW)
    stored = definition_get(definition)
    begins = data_begins(found.authority)
    figures = []
    for back in range(years - 1, -1, -1):
        day = _years_before(found.as_of, back)
        if begins is None or day < begins:
            continue
        table = report_generate(
            actor=actor, definition=stored, as_of=day, authority=found.authority
        )
        figures.append(headline(table, day.strftime("%d/%m/%Y")))
    return found, stored, figures


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@dataclasses.dataclass(frozen=True)
class Download:
    filename: str
    content_type: str
    content: bytes


def round_table_export(
    *,
    actor: Actor,
    round_id: int,
    definition: str,
    file_format: str,
    school_ids: Sequence[int] | None = None,
) -> Download:
    """One table of the round as XLSX or PDF (figures only, suppressed as shown); audited."""
    if file_format not in EXPORT_FORMATS:
        raise Http404
    if not policy.has_perm(actor, Perm.REPORT_VIEW):
        raise PermissionDenied
    found, tables = round_tables(
        actor=actor, round_id=round_id, school_ids=school_ids, definition=definition
    )
    table = tables[0]
    content_type, render = EXPORT_FORMATS[file_format]
    content = render(table)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=actions.EXPORT,
            entity="reporting_round",
            entity_id=found.pk,
            data={
                "report": table.code,
                "version": table.provenance.version,
                "as_of": table.provenance.as_of.isoformat(),
                "format": file_format,
                "scope": table.provenance.scope,
            },
        )
    return Download(export_filename(table, file_format), content_type, content)
