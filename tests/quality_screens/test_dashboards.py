"""The school and Department dashboards: their numbers are the stored state's, fresh; the trend
is the daily snapshots'; the Department officer sees counters only; the drill-down goes from
class to pupils to the pupil's findings."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from edureg.audit.models import AuditEvent
from edureg.quality.models import DailySnapshot, Finding, QualityTotal
from edureg.quality.rules.catalogue import Dimension
from edureg.quality.selectors import Scores
from edureg.registry.attestation import snapshots_take
from edureg.registry.models import Student
from edureg.web.quality.charts import percent
from tests import factories as f
from tests.conftest import Cast
from tests.quality_screens.conftest import WELL_FILLED, fresh_scores, refresh_all

SCORE_FIELDS = ("correct", "complete", "clean", "live", "fields_filled")


def _get(client: Client, actor: Any, url: str, **query: object) -> Any:
    client.force_login(actor)
    response = client.get(url, query)
    assert response.status_code == 200, response.status_code
    return response


def _school_url(cast: Cast) -> str:
    return reverse("web:quality_school", args=[cast.school_a.pk])


def test_school_scores_equal_a_fresh_computation(client: Client, quality: Cast) -> None:
    response = _get(client, quality.alice, _school_url(quality))
    dashboard = response.context["dashboard"]
    fresh = fresh_scores(school_id=quality.school_a.pk)
    assert fresh.records == 3
    assert dashboard.scores == fresh
    html = response.content.decode()
    for name in SCORE_FIELDS:
        assert percent(getattr(fresh, name)) in html
    # The one pupil with everything filled in: complete 1 of 3.
    assert dashboard.scores.complete == pytest.approx(100 / 3)
    assert percent(100 / 3) == "33,3%"


def test_class_and_teacher_rows_equal_a_fresh_computation(client: Client,
                                                          quality: Cast) -> None:
    response = _get(client, quality.alice, _school_url(quality))
    dashboard = response.context["dashboard"]
    rows = {row.school_class.pk: row for row in dashboard.classes}
    assert set(rows) == {quality.class_1a.pk, quality.class_1b.pk}
    for class_id, row in rows.items():
        assert row.scores == fresh_scores(class_id=class_id)
        assert row.drillable
    teachers = {row.teacher.full_name if row.teacher else None: row
                for row in dashboard.teachers}
    assert teachers["Phạm Văn Bảo"].scores == fresh_scores(class_id=quality.class_1a.pk)
    assert teachers[None].classes == [quality.class_1b]
    assert "Phạm Văn Bảo" in response.content.decode()


def test_numbers_follow_a_fix(client: Client, quality: Cast) -> None:
    Student.objects.filter(pk=quality.binh.pk).update(**WELL_FILLED | {
        "personal_id_number": "079319009876", "sex": "F"})
    refresh_all()
    response = _get(client, quality.alice, _school_url(quality))
    assert response.context["dashboard"].scores == fresh_scores(school_id=quality.school_a.pk)
    assert response.context["dashboard"].scores.complete_ok == 2


def test_trend_sums_the_daily_snapshots_of_the_last_30_days(client: Client,
                                                            quality: Cast) -> None:
    today = timezone.localdate()
    snapshots_take(day=today - dt.timedelta(days=40))  # too old to show
    snapshots_take(day=today - dt.timedelta(days=3))
    Student.objects.filter(pk=quality.binh.pk).update(**WELL_FILLED | {
        "personal_id_number": "079319009876"})
    refresh_all()
    snapshots_take(day=today)
    response = _get(client, quality.alice, _school_url(quality))
    trend = response.context["dashboard"].trend
    assert [point.day for point in trend] == [today - dt.timedelta(days=3), today]
    for point in trend:
        row = DailySnapshot.objects.get(school_id=quality.school_a.pk, day=point.day)
        assert point.scores == Scores.of(row)
    assert trend[0].scores.complete_ok == 1
    assert trend[1].scores.complete_ok == 2
    html = response.content.decode()
    assert "<svg" in html
    assert "<polyline" in html
    assert today.strftime("%d/%m/%Y") in html  # the table alternative


def test_the_dashboard_shows_no_pupil_and_is_not_a_read(client: Client, quality: Cast) -> None:
    before = AuditEvent.objects.filter(action="student.read").count()
    html = _get(client, quality.alice, _school_url(quality)).content.decode()
    for pupil in (quality.an, quality.binh):
        assert pupil.full_name not in html
    assert AuditEvent.objects.filter(action="student.read").count() == before


def test_homeroom_teacher_sees_own_class_only(client: Client, quality: Cast) -> None:
    dashboard = _get(client, quality.bob, _school_url(quality)).context["dashboard"]
    assert [row.school_class for row in dashboard.classes] == [quality.class_1a]
    assert not dashboard.may_sign_off


def test_drill_down_class_pupils_findings(client: Client, quality: Cast) -> None:
    school_html = _get(client, quality.alice, _school_url(quality)).content.decode()
    class_url = reverse("web:quality_class", args=[quality.class_1a.pk])
    assert f'href="{class_url}"' in school_html
    response = _get(client, quality.alice, class_url)
    pupils = {p.student.pk: p for p in response.context["result"].pupils}
    assert set(pupils) == set(Student.objects.filter(current_class=quality.class_1a)
                              .values_list("pk", flat=True))
    assert not pupils[quality.an.pk].state.correct_ok
    assert pupils[quality.an.pk].steps == 4
    assert response.context["result"].scores == fresh_scores(class_id=quality.class_1a.pk)
    student_url = reverse("web:quality_student", args=[quality.an.pk])
    assert f'href="{student_url}"' in response.content.decode()
    event = AuditEvent.objects.filter(action="student.read").order_by("-seq").first()
    assert event is not None
    assert event.data["view"] == "quality_class"
    assert set(event.data["ids"]) == {str(pk) for pk in pupils}

    student = _get(client, quality.alice, student_url)
    rows = student.context["findings"]
    assert len(rows) == Finding.objects.filter(owner_id=quality.an.pk).count()
    edit = reverse("web:student_edit", args=[quality.an.pk])
    html = student.content.decode()
    assert f'href="{edit}#id_ethnicity_code"' in html
    assert "Nguyễn Văn Cha" in html  # whose phone is wrong
    event = AuditEvent.objects.filter(action="student.read").order_by("-seq").first()
    assert event is not None
    assert event.data["view"] == "quality_student"
    assert event.data["ids"] == [str(quality.an.pk)]
    assert len(event.data["guardian_ids"]) == 1


def _schools(count: int, cast: Cast) -> list[Any]:
    schools = []
    for n in range(count):
        school = f.make_school(cast.school_a.authority, name=f"Trường Tiểu học Thử {n}")
        school_class = f.make_class(school, "2A", grade=2)
        f.make_student(school_class, f"Học Sinh Số {n}")
        schools.append(school)
    return schools


def test_authority_ranks_every_school_by_the_mean_or_a_dimension(client: Client,
                                                                 quality: Cast) -> None:
    extra = _schools(2, quality)
    Student.objects.filter(school=extra[0]).update(**WELL_FILLED | {
        "personal_id_number": "079319005555"})
    refresh_all()
    response = _get(client, quality.erin, reverse("web:quality"))
    overview = response.context["overview"]
    assert overview.school_count == 4
    totals = {row.school_id: Scores.of(row) for row in QualityTotal.objects.filter(
        class_id__isnull=True, entity="student")}
    means = [row.scores.mean for row in overview.ranking.items]
    assert means == sorted(means, reverse=True)
    assert {row.school_id: row.scores for row in overview.ranking.items} == totals
    assert overview.ranking.items[0].school_id == extra[0].pk
    assert overview.scores == fresh_scores()

    lowest = _get(client, quality.erin, reverse("web:quality"), tieu_chi="du",
                  thu_tu="thap").context["overview"]
    completes = [row.scores.share(Dimension.COMPLETE) for row in lowest.ranking.items]
    assert completes == sorted(completes)
    assert lowest.dimension is Dimension.COMPLETE


def test_authority_trend_sums_the_schools(client: Client, quality: Cast) -> None:
    today = timezone.localdate()
    snapshots_take(day=today)
    overview = _get(client, quality.erin, reverse("web:quality")).context["overview"]
    assert len(overview.trend) == 1
    assert overview.trend[0].scores == sum(
        (Scores.of(row) for row in DailySnapshot.objects.filter(day=today)), Scores())


def test_trend_of_schools_of_two_authorities_sums_their_snapshots(quality: Cast) -> None:
    # An actor reaching schools of more than one authority gets the sum of the school rows.
    from edureg.access.models import Membership
    from edureg.access.roles import Role
    from edureg.registry.quality_selectors import authority_overview

    second = f.make_authority("SGD01")
    other = f.make_school(second, code="D0001")
    officer = f.make_user("hai_so", Role.AUTHORITY_OFFICER, authority=quality.school_a.authority)
    Membership.objects.create(user=officer, role=Role.AUTHORITY_OFFICER, authority=second,
                              starts_on=dt.date(2020, 1, 1))
    today = timezone.localdate()
    snapshots_take(day=today)
    overview = authority_overview(actor=officer, today=today)
    assert overview.school_count == 3
    assert overview.trend[0].scores == sum(
        (Scores.of(row) for row in DailySnapshot.objects.filter(day=today, entity="student")),
        Scores())
    assert other.pk in {row.school_id for row in overview.ranking.items}


def test_authority_sees_counters_only(client: Client, quality: Cast) -> None:
    names = [quality.an.full_name, quality.binh.full_name,
             quality.other_school_student.full_name, "Phạm Thị Dung", "Nguyễn Văn Cha"]
    overview = _get(client, quality.erin, reverse("web:quality")).content.decode()
    school = _get(client, quality.erin, _school_url(quality))
    for html in (overview, school.content.decode()):
        for name in names:
            assert name not in html
        assert "/hoc-sinh/" not in html
    assert not re.search(r'href="/lop/\d+/chat-luong/"', school.content.decode())
    assert all(not row.drillable for row in school.context["dashboard"].classes)
    for url in (reverse("web:quality_class", args=[quality.class_1a.pk]),
                reverse("web:quality_student", args=[quality.an.pk])):
        assert client.get(url).status_code == 403


def test_one_school_goes_straight_to_its_dashboard(client: Client, quality: Cast) -> None:
    client.force_login(quality.alice)
    response = client.get(reverse("web:quality"))
    assert response.status_code == 302
    assert response["Location"] == _school_url(quality)


def test_navigation_offers_what_the_account_may_open(client: Client, quality: Cast) -> None:
    school_url = reverse("web:school", args=[quality.school_a.pk])
    expectations = {quality.bob: (True, True), quality.erin: (False, True),
                    quality.carol: (False, False)}
    for actor, (todo, dashboards) in expectations.items():
        client.force_login(actor)
        html = client.get(school_url).content.decode()
        assert (f'href="{reverse("web:quality_todo")}"' in html) is todo
        assert (f'href="{reverse("web:quality")}"' in html) is dashboards


def test_authority_trend_follows_a_new_snapshot(client: Client, quality: Cast) -> None:
    today = timezone.localdate()
    snapshots_take(day=today - dt.timedelta(days=1))
    first = _get(client, quality.erin, reverse("web:quality")).context["overview"].trend
    assert [point.day for point in first] == [today - dt.timedelta(days=1)]
    snapshots_take(day=today)
    again = _get(client, quality.erin, reverse("web:quality")).context["overview"].trend
    assert [point.day for point in again] == [today - dt.timedelta(days=1), today]
