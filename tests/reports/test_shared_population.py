"""The standard set read from one shared population (``population.py``, what
``reports_generate`` does) gives exactly what each definition's own statement gives
(``queries.run_query``, what ``report_generate`` does): the grouped counts and the tables, for
every shipped definition and for definitions using every field and every filter, on seeded data
with a status history, ended, future and merged enrolments, classless pupils and empty
classes."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from edureg.core.codelists import get_list
from edureg.registry.models import Enrolment, EnrolmentStatusChange, SchoolClass, Student
from edureg.reports import services
from edureg.reports.population import SHARED_SOURCES, population_grouped, population_load
from edureg.reports.queries import Grouped, Scope, run_query
from edureg.reports.services import definition_load, definitions_active, report_generate
from edureg.reports.spec import SOURCES, ReportSpec, parse_spec
from edureg.schools.models import Authority, School, SchoolYear
from edureg.seeding.options import SeedOptions
from edureg.seeding.services import seed_database

AS_OF = dt.date(2026, 10, 15)


@pytest.fixture
def seeded(db: None, tmp_path: Path) -> Authority:
    result = seed_database(
        SeedOptions(
            schools=3, students_per_school=120, seed=5, register_path=tmp_path / "register.sqlite3"
        )
    )
    assert result.created
    _history()
    return Authority.objects.get()


def _history() -> None:
    """Statuses from the history (changed after the date, changed before it, none recorded by
    it), enrolments ended before the date or starting after it, a merged pupil, pupils without
    a class or an ethnicity, and a class of the year without pupils."""
    statuses = get_list("enrolment_status").entries
    inactive = next(e.code for e in statuses if not e.flag("active"))
    active = [e.code for e in statuses if e.flag("active")]
    enrolments = list(Enrolment.objects.order_by("pk"))
    assert len(enrolments) > 60
    later, earlier = AS_OF + dt.timedelta(days=5), AS_OF - dt.timedelta(days=5)
    for e in enrolments[0:6]:  # left after the date: still counted with the earlier status
        Enrolment.objects.filter(pk=e.pk).update(status_code=inactive, status_since=later)
        EnrolmentStatusChange.objects.create(enrolment=e, status_code=inactive, effective_on=later)
    for e in enrolments[6:12]:  # left before the date
        Enrolment.objects.filter(pk=e.pk).update(status_code=inactive, status_since=earlier)
        EnrolmentStatusChange.objects.create(
            enrolment=e, status_code=inactive, effective_on=earlier
        )
    for e in enrolments[12:16]:  # another active status, from the history
        Enrolment.objects.filter(pk=e.pk).update(status_code=inactive, status_since=later)
        EnrolmentStatusChange.objects.create(
            enrolment=e, status_code=active[-1], effective_on=earlier
        )
    for e in enrolments[16:20]:  # nothing recorded by the date: the first active status
        Enrolment.objects.filter(pk=e.pk).update(status_code=inactive, status_since=later)
        EnrolmentStatusChange.objects.filter(enrolment=e).delete()
    Enrolment.objects.filter(pk__in=[e.pk for e in enrolments[20:24]]).update(ended_on=earlier)
    Enrolment.objects.filter(pk__in=[e.pk for e in enrolments[24:27]]).update(started_on=later)
    Enrolment.objects.filter(pk__in=[e.pk for e in enrolments[27:33]]).update(school_class=None)
    Student.objects.filter(pk=enrolments[33].student_id).update(
        merged_into_id=enrolments[34].student_id
    )
    Student.objects.filter(pk__in=[e.student_id for e in enrolments[35:45]]).update(
        ethnicity_code="", disability_code="02"
    )
    school = School.objects.order_by("pk").first()
    assert school is not None
    year = SchoolYear.objects.filter(school=school, starts_on__lte=AS_OF).latest("starts_on")
    SchoolClass.objects.create(school=school, school_year=year, name="Lớp trống", grade=5)


def _variants() -> list[ReportSpec]:
    """Definitions of the shared sources using every field as rows, with columns, and every
    filter (operators, numbers, a flag no code carries)."""
    specs: list[dict[str, Any]] = []
    for source in SHARED_SOURCES:
        info = SOURCES[source]
        count = "pupils"
        for n, field in enumerate(info.fields):
            specs.append(
                {"code": f"v_{source}_{n}", "source": source, "rows": field, "measures": [count]}
            )
        specs.append({"code": f"v_{source}_all", "source": source, "measures": list(info.measures)})
        specs.append(
            {
                "code": f"v_{source}_total",
                "source": source,
                "measures": [count],
                "filters": [{"field": "grade", "op": "eq", "value": "x"}],
            }
        )
    specs += [
        {
            "code": "v_filters_1",
            "source": "pupils",
            "rows": "school",
            "columns": "sex",
            "measures": ["pupils"],
            "filters": [
                {"field": "status", "op": "not_flag", "value": "active"},
                {"field": "grade", "op": "ne", "value": 3},
            ],
        },
        {
            "code": "v_filters_2",
            "source": "pupils",
            "rows": "school_level",
            "columns": "ownership",
            "measures": ["pupils"],
            "filters": [
                {"field": "ethnicity", "op": "in", "value": ["", "01", "02"]},
                {"field": "disability", "op": "ne", "value": "00"},
            ],
        },
        {
            "code": "v_filters_3",
            "source": "pupils",
            "rows": "religion",
            "columns": "status",
            "measures": ["pupils"],
            "filters": [
                {"field": "status", "op": "flag", "value": "no_such_flag"},
                {"field": "sex", "op": "eq", "value": "F"},
            ],
        },
        {
            "code": "v_filters_4",
            "source": "pupils",
            "rows": "grade",
            "columns": "policy_group",
            "measures": ["pupils"],
            "filters": [
                {"field": "status", "op": "not_flag", "value": "no_such_flag"},
                {"field": "grade", "op": "in", "value": [1, "2", "x"]},
            ],
        },
        {
            "code": "v_filters_5",
            "source": "classes",
            "rows": "size_band",
            "columns": "grade",
            "measures": ["classes"],
            "filters": [{"field": "size_band", "op": "not_in", "value": ["tren_45"]}],
        },
        {
            "code": "v_filters_6",
            "source": "classes",
            "rows": "school",
            "measures": ["classes", "pupils", "average_size"],
            "filters": [
                {"field": "ownership", "op": "eq", "value": "public"},
                {"field": "grade", "op": "not_in", "value": [5]},
            ],
        },
    ]
    return [parse_spec({"title": item["code"], **item}) for item in specs]


def _counted(grouped: Grouped) -> Counter[tuple[object, ...]]:
    width = len(grouped.dimensions)
    return Counter(
        {tuple(row[:width]): tuple(int(v or 0) for v in row[width:]) for row in grouped.rows}
    )


def _scopes(authority: Authority) -> list[Scope]:
    ids = list(School.objects.order_by("pk").values_list("pk", flat=True))
    return [
        Scope(authority_id=authority.pk),
        Scope(school_ids=tuple(ids[:2])),
        Scope(school_ids=(ids[-1],)),
    ]


def test_every_definition_from_the_shared_population_equals_its_own_statement(
    seeded: Authority,
) -> None:
    shipped = [parse_spec(d.spec) for d in definitions_active()]
    specs = [s for s in shipped if s.source in SHARED_SOURCES] + _variants()
    assert {s.code for s in shipped if s.source in SHARED_SOURCES} == {
        "hoc_sinh_dan_toc",
        "hoc_sinh_khoi_gioi_tinh",
        "hoc_sinh_khuyet_tat",
        "lop_si_so",
        "lop_theo_si_so",
    }
    for as_of in (AS_OF, AS_OF + dt.timedelta(days=10)):
        for scope in _scopes(seeded):
            population = population_load(specs, as_of=as_of, scope=scope)
            for spec in specs:
                assert population.covers(spec)
                shared = population_grouped(population, spec)
                alone = run_query(spec, as_of=as_of, scope=scope)
                assert (shared.dimensions, shared.counts) == (alone.dimensions, alone.counts)
                assert _counted(shared) == _counted(alone), (spec.code, as_of, scope)
                assert len(shared.rows) == len(alone.rows)
    # Not a comparison of empty tables.
    whole = Scope(authority_id=seeded.pk)
    grade_sex = next(s for s in shipped if s.code == "hoc_sinh_khoi_gioi_tinh")
    assert sum(n for (n,) in _counted(run_query(grade_sex, as_of=AS_OF, scope=whole)).values())


def test_the_set_equals_each_report_alone(seeded: Authority) -> None:
    for spec in _variants():
        definition_load(actor=None, text=_toml(spec))
    codes = [d.code for d in definitions_active()]
    assert len(codes) > 20
    schools = list(School.objects.order_by("pk"))
    for scope in ({"authority": seeded}, {"schools": schools[:2]}, {"schools": schools[-1:]}):
        for as_of in (AS_OF, AS_OF + dt.timedelta(days=10)):
            together = services.reports_generate(actor=None, as_of=as_of, **scope)
            alone = [
                report_generate(actor=None, definition=code, as_of=as_of, **scope) for code in codes
            ]
            assert [t.as_dict() for t in together] == [t.as_dict() for t in alone]
            assert [t.code for t in together] == codes
    chosen = services.reports_generate(
        actor=None, as_of=AS_OF, authority=seeded, definitions=["lop_si_so", "can_bo_trinh_do"]
    )
    assert [t.code for t in chosen] == ["lop_si_so", "can_bo_trinh_do"]


def test_the_set_reads_the_pupils_once(seeded: Authority) -> None:
    with CaptureQueriesContext(connection) as captured:
        services.reports_generate(actor=None, as_of=AS_OF, authority=seeded)
    pupils = [q["sql"] for q in captured.captured_queries if "registry_student s" in q["sql"]]
    # One read of the pupils for the five pupil and class definitions (each alone: one each),
    # and the status changes' definition's own.
    assert len(pupils) == 2
    assert (
        len([sql for sql in pupils if "JOIN registry_enrolment e ON e.id = c.enrolment_id" in sql])
        == 1
    )


def test_all_the_schools_of_an_authority_are_asked_for_as_the_authority(
    seeded: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    schools = list(School.objects.order_by("pk"))
    listed = f"IN ({', '.join(str(school.pk) for school in schools)})"

    def generated() -> tuple[list[dict[str, Any]], list[str]]:
        with CaptureQueriesContext(connection) as captured:
            tables = services.reports_generate(actor=None, as_of=AS_OF, schools=schools)
        return [t.as_dict() for t in tables], [q["sql"] for q in captured.captured_queries]

    by_ids, queries = generated()
    assert any(listed in sql for sql in queries)  # three schools: by their ids
    monkeypatch.setattr(services, "_IDS_UP_TO", 1)
    scope, _label = services._query_scope(schools=schools, authority=None)
    assert scope == Scope(authority_id=seeded.pk)
    assert services._query_scope(schools=schools[:2], authority=None)[0] == Scope(
        school_ids=tuple(school.pk for school in schools[:2])
    )
    by_authority, queries = generated()
    assert by_authority == by_ids  # the label too: the schools chosen
    assert not any(listed in sql for sql in queries)


def _toml(spec: ReportSpec) -> str:
    """The definition as a TOML document (JSON strings and arrays are TOML too)."""
    lines = [
        f"{key} = {json.dumps(value, ensure_ascii=False)}"
        for key, value in spec.as_dict().items()
        if key != "filters"
    ]
    if spec.filters:
        items = ", ".join(
            f"{{ field = {json.dumps(f.field)}, op = {json.dumps(f.op)}, "
            f"value = {json.dumps(list(f.values))} }}"
            for f in spec.filters
        )
        lines.append(f"filters = [{items}]")
    return "\n".join(lines) + "\n"
