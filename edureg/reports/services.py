"""Report definitions (load, look up) and report generation — the API the screens, the CLI and
the benchmark use.

    report_generate(actor=…, definition="hoc_sinh_khoi_gioi_tinh", as_of=date,
                    schools=[school] | authority=authority) -> ReportTable

``actor`` None is the system (the CLI without ``--as``, the benchmark): no scope check. An actor
needs ``report.view``; schools outside their scope, or an authority they do not cover, are
refused as missing (404), like everywhere else. Every table is suppressed (``suppression.py``)
whoever asks: a report is a file that may travel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from edureg.access import policy
from edureg.access.policy import Actor
from edureg.access.roles import ROLE_PERMS, Perm, Scope
from edureg.audit.services import audit_record
from edureg.core.codelists import get_list
from edureg.reports.models import ReportDefinition
from edureg.reports.population import population_grouped, population_load
from edureg.reports.queries import BAND_LABELS, BAND_ORDER, Grouped, data_begins, run_query
from edureg.reports.queries import Scope as QueryScope
from edureg.reports.spec import SOURCES, DefinitionError, ReportSpec, parse_spec, parse_toml
from edureg.reports.tables import Provenance, ReportTable, build_table
from edureg.schools.models import Authority, Ownership, School

SHIPPED_DIR = Path(__file__).resolve().parent / "data"
DEFINITION_LOADED = "report_definition.loaded"
_ENTITY_LABELS = {"student": "Học sinh", "staff": "Cán bộ, giáo viên, nhân viên"}
_MISSING = "Chưa có thông tin"
# Columns from a short code list show every entry (a stable layout, e.g. Nam / Nữ).
_ALL_VALUES_UP_TO = 12
# Up to this many schools, a scope is asked for by their ids; more, and when they are all the
# schools of their authority, by the authority.
_IDS_UP_TO = 50


class ReportRefused(ValueError):
    """A report that cannot be generated as asked; the message says why (Vietnamese)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- definitions ------------------------------------------------------------------------------


def definition_load(*, actor: Actor | None, text: str) -> ReportDefinition:
    """Validate a TOML definition and store it as the active version of its code (a new version
    when it differs from the active one; the same row when it is unchanged)."""
    if actor is not None:
        policy.require(actor, Perm.REPORT_DEFINE)
    spec = parse_toml(text)
    with transaction.atomic():
        current = (
            ReportDefinition.objects.select_for_update()
            .filter(code=spec.code)
            .order_by("-version")
            .first()
        )
        if current is not None and current.is_active and current.spec == spec.as_dict():
            return current
        ReportDefinition.objects.filter(code=spec.code, is_active=True).update(is_active=False)
        stored = ReportDefinition.objects.create(
            code=spec.code,
            version=(current.version + 1) if current else 1,
            title=spec.title,
            spec=spec.as_dict(),
            source_text=text,
            is_active=True,
            loaded_at=timezone.now(),
            loaded_by_id=actor.pk if actor is not None and actor.is_authenticated else None,
        )
        audit_record(
            actor=actor,
            action=DEFINITION_LOADED,
            entity="report_definition",
            entity_id=stored.pk,
            data={"code": stored.code, "version": stored.version},
        )
    return stored


def shipped_definition_files() -> list[Path]:
    return sorted(SHIPPED_DIR.glob("*.toml"))


def _shipped_ensure() -> None:
    """The shipped definitions, stored when the table is empty. The data migration stores them
    once, but a database emptied since (a restore of only the registry, a test flushing every
    table) must still have the standard set."""
    if ReportDefinition.objects.exists():
        return
    for path in shipped_definition_files():
        try:
            with transaction.atomic():
                definition_load(actor=None, text=path.read_text(encoding="utf-8"))
        except IntegrityError:  # stored by a concurrent request meanwhile
            continue


def definitions_active() -> list[ReportDefinition]:
    _shipped_ensure()
    return list(ReportDefinition.objects.filter(is_active=True).order_by("code"))


def definition_get(code: str, *, version: int | None = None) -> ReportDefinition:
    _shipped_ensure()
    rows = ReportDefinition.objects.filter(code=code)
    found = (
        rows.filter(version=version) if version is not None else rows.filter(is_active=True)
    ).first()
    if found is None:
        known = (
            ", ".join(
                ReportDefinition.objects.filter(is_active=True).values_list("code", flat=True)
            )
            or "chưa có"
        )
        raise ReportRefused(
            f"Không có báo cáo mã «{code}»"
            + (f" phiên bản {version}" if version is not None else "")
            + f". Các báo cáo hiện có: {known}."
        )
    return found


def _spec_of(definition: ReportDefinition) -> ReportSpec:
    try:
        return parse_spec(cast(dict[str, Any], definition.spec))
    except DefinitionError as error:  # stored before the whitelist changed
        raise ReportRefused(
            f"Định nghĩa «{definition.code}» phiên bản {definition.version} "
            f"không còn hợp lệ: {error.message}"
        ) from None


# --- generation -------------------------------------------------------------------------------


def _authorise(
    actor: Actor | None, *, schools: Sequence[School] | None, authority: Authority | None
) -> None:
    if actor is None:
        return
    if not policy.has_perm(actor, Perm.REPORT_VIEW):
        raise PermissionDenied
    if authority is not None:
        if not any(
            grant.scope is Scope.AUTHORITY
            and grant.authority_id == authority.pk
            and Perm.REPORT_VIEW in ROLE_PERMS[grant.role]
            for grant in policy.grants(actor)
        ):
            raise Http404
        return
    wanted = {school.pk for school in schools or ()}
    reachable = set(
        policy.scope(School.objects.filter(pk__in=wanted), actor, Perm.REPORT_VIEW).values_list(
            "pk", flat=True
        )
    )
    if wanted - reachable:
        raise Http404


def _labeller(as_of: dt.date, school_names: dict[int, str]) -> Any:
    def label(dimension: str, value: object) -> str:
        if value is None or value == "":
            return _MISSING
        if dimension == "grade":
            return "Nhóm/lớp mầm non" if value == 0 else f"Khối {value}"
        if dimension == "school":
            return school_names.get(int(cast(int, value)), str(value))
        if dimension in ("size_band", "age_band"):
            return BAND_LABELS.get(str(value), str(value))
        if dimension == "ownership":
            return str(dict(Ownership.choices).get(str(value), str(value)))
        if dimension == "entity":
            return _ENTITY_LABELS.get(str(value), str(value))
        code_list = _code_list_name(dimension)
        return get_list(code_list, on=as_of).name_of(str(value)) if code_list else str(value)

    return label


def _code_list_name(dimension: str) -> str:
    for source in SOURCES.values():
        field = source.fields.get(dimension)
        if field is not None and field.code_list:
            return field.code_list
    return ""


def _orderer(as_of: dt.date, school_codes: dict[int, str]) -> Any:
    positions: dict[str, dict[str, int]] = {}

    def order(dimension: str, value: object) -> tuple[Any, ...]:
        if value is None or value == "":
            return (2, "")
        if dimension == "grade":
            return (0, int(cast(int, value)))
        if dimension == "school":
            return (0, school_codes.get(int(cast(int, value)), ""))
        if dimension in ("size_band", "age_band"):
            return (0, BAND_ORDER.get(str(value), 99))
        code_list = _code_list_name(dimension)
        if code_list:
            if code_list not in positions:
                positions[code_list] = {
                    entry.code: n for n, entry in enumerate(get_list(code_list, on=as_of).entries)
                }
            where = positions[code_list].get(str(value))
            return (0, where) if where is not None else (1, str(value))
        return (0, str(value))

    return order


def _query_scope(
    *, schools: Sequence[School] | None, authority: Authority | None
) -> tuple[QueryScope, str]:
    """The scope of the statements and its label. Schools that are every school of their
    authority are asked for as that authority (one condition on the school, not thousands of
    ids); the label still names the schools chosen."""
    if authority is not None:
        return QueryScope(authority_id=authority.pk), f"toàn {authority.name}"
    assert schools is not None
    ids = tuple(sorted({school.pk for school in schools}))
    scope = QueryScope(school_ids=ids)
    authorities = {school.authority_id for school in schools}
    if len(ids) > _IDS_UP_TO and len(authorities) == 1:
        (authority_id,) = authorities
        if School.objects.filter(authority_id=authority_id).count() == len(ids):
            scope = QueryScope(authority_id=authority_id)
    label = ", ".join(
        f"{school.code} {school.name}" for school in sorted(schools, key=lambda s: s.code)[:3]
    )
    if len(schools) > 3:
        label += f" và {len(schools) - 3} trường khác"
    return scope, label


def _scope_checked(
    *,
    actor: Actor | None,
    schools: Iterable[School] | None,
    authority: Authority | None,
) -> list[School] | None:
    school_list = list(schools) if schools is not None else None
    if (school_list is None) == (authority is None):
        raise ReportRefused("Hãy chọn hoặc một/một số trường, hoặc toàn Sở (không cả hai).")
    if school_list is not None and not school_list:
        raise ReportRefused("Chưa chọn trường nào.")
    _authorise(actor, schools=school_list, authority=authority)
    return school_list


def _date_checked(as_of: dt.date, scope: QueryScope) -> None:
    today = timezone.localdate()
    if as_of > today:
        raise ReportRefused(
            f"Ngày báo cáo {as_of.strftime('%d/%m/%Y')} ở tương lai; hãy chọn "
            f"một ngày đến hôm nay ({today.strftime('%d/%m/%Y')})."
        )
    begins = data_begins(scope)
    if begins is None:
        raise ReportRefused("Phạm vi đã chọn chưa có năm học nào: chưa có số liệu để báo cáo.")
    if as_of < begins:
        raise ReportRefused(
            f"Ngày báo cáo {as_of.strftime('%d/%m/%Y')} trước khi có số liệu: dữ liệu của "
            f"phạm vi này bắt đầu từ ngày {begins.strftime('%d/%m/%Y')}. Hãy chọn ngày từ "
            "ngày đó trở đi."
        )


def _table(
    stored: ReportDefinition,
    spec: ReportSpec,
    grouped: Grouped,
    *,
    as_of: dt.date,
    scope_label: str,
) -> ReportTable:
    school_names: dict[int, str] = {}
    school_codes: dict[int, str] = {}
    if "school" in grouped.dimensions:
        position = grouped.dimensions.index("school")
        ids = {int(row[position]) for row in grouped.rows}
        for pk, code, name in School.objects.filter(pk__in=ids).values_list("pk", "code", "name"):
            school_names[pk], school_codes[pk] = f"{code} — {name}", code
    column_values: list[object] = []
    if spec.columns and _code_list_name(spec.columns):
        entries = get_list(_code_list_name(spec.columns), on=as_of).entries
        if len(entries) <= _ALL_VALUES_UP_TO:
            column_values = [entry.code for entry in entries]
    return build_table(
        spec,
        dimensions=grouped.dimensions,
        counts=grouped.counts,
        rows=grouped.rows,
        provenance=Provenance(
            definition=stored.code, version=stored.version, as_of=as_of, scope=scope_label
        ),
        threshold=settings.EDUREG_SMALL_CELL_THRESHOLD,
        label=_labeller(as_of, school_names),
        order=_orderer(as_of, school_codes),
        column_values=column_values,
    )


def report_generate(
    *,
    actor: Actor | None,
    definition: str | ReportDefinition,
    as_of: dt.date,
    schools: Iterable[School] | None = None,
    authority: Authority | None = None,
) -> ReportTable:
    """The definition's table for ``schools`` (one or several) or the whole ``authority``, as
    of the end of ``as_of``; suppressed, each figure carrying how it was computed. One
    statement for the definition (``queries.run_query``)."""
    school_list = _scope_checked(actor=actor, schools=schools, authority=authority)
    stored = definition if isinstance(definition, ReportDefinition) else definition_get(definition)
    spec = _spec_of(stored)
    scope, scope_label = _query_scope(schools=school_list, authority=authority)
    _date_checked(as_of, scope)
    grouped = run_query(spec, as_of=as_of, scope=scope, live_quality=as_of >= timezone.localdate())
    return _table(stored, spec, grouped, as_of=as_of, scope_label=scope_label)


def reports_generate(
    *,
    actor: Actor | None,
    as_of: dt.date,
    schools: Iterable[School] | None = None,
    authority: Authority | None = None,
    definitions: Sequence[str | ReportDefinition] | None = None,
) -> list[ReportTable]:
    """Every active definition's table (or those of ``definitions``) for the same scope and
    date: the standard set, each table the one ``report_generate`` gives. The pupils and the
    classes as of the date are read once for all the definitions that count them
    (``population.py``) instead of once per definition."""
    chosen = list(definitions) if definitions is not None else definitions_active()
    if not chosen:
        return []
    school_list = _scope_checked(actor=actor, schools=schools, authority=authority)
    scope, scope_label = _query_scope(schools=school_list, authority=authority)
    specs: list[tuple[ReportDefinition, ReportSpec]] = []
    for item in chosen:
        stored = item if isinstance(item, ReportDefinition) else definition_get(item)
        specs.append((stored, _spec_of(stored)))
        if len(specs) == 1:  # the checks in report_generate's order for the first one
            _date_checked(as_of, scope)
    live_quality = as_of >= timezone.localdate()
    population = population_load([spec for _, spec in specs], as_of=as_of, scope=scope)
    tables = []
    for stored, spec in specs:
        grouped = (
            population_grouped(population, spec)
            if population.covers(spec)
            else run_query(spec, as_of=as_of, scope=scope, live_quality=live_quality)
        )
        tables.append(_table(stored, spec, grouped, as_of=as_of, scope_label=scope_label))
    return tables
