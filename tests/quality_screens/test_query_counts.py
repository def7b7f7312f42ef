"""The quality screens use a constant number of queries, however many classes, schools or pupils
they cover."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from edureg.access.models import User
from edureg.core.catalogue import clear_catalogue_cache
from tests import factories as f
from tests.conftest import Cast
from tests.quality_screens.conftest import refresh_all

NumQueries = Callable[[int], AbstractContextManager[Any]]

# session, user, second-factor device, grants; the school; the classes in scope with their
# homeroom teachers; the classes the principal may open; class totals; sign-offs; the school's
# total; its snapshots.
SCHOOL_DASHBOARD_QUERIES = 11
# session, user, second-factor device, grants; the schools in scope; their totals; the
# authority's active schools counted (they are all in scope) and its daily sums.
AUTHORITY_QUERIES = 8
# session, user, grants; whether the teacher has acknowledged the data-protection policy
# (sensitive fields stay hidden until); the classes to narrow to; findings counted and paged;
# steps counted and paged; the audited read (chain head, event, head update).
TODO_QUERIES = 12


def _count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


def _add_classes(cast: Cast, count: int) -> None:
    for n in range(count):
        school_class = f.make_class(cast.school_a, f"5{chr(65 + n)}", grade=5)
        teacher = f.make_staff(cast.school_a, f"Giáo Viên {chr(65 + n)}")
        f.assign(teacher, school_class)
        for k in range(3):
            f.make_student(school_class, f"Học Sinh {chr(65 + n)}{k}")
    refresh_all()


def test_school_dashboard_queries_do_not_grow_with_classes(
        client: Client, quality: Cast, django_assert_num_queries: NumQueries) -> None:
    url = reverse("web:quality_school", args=[quality.school_a.pk])
    client.force_login(quality.alice)
    clear_catalogue_cache()
    client.get(url)
    with django_assert_num_queries(SCHOOL_DASHBOARD_QUERIES):
        few = client.get(url)
    _add_classes(quality, 6)
    with django_assert_num_queries(SCHOOL_DASHBOARD_QUERIES):
        many = client.get(url)
    assert len(many.context["dashboard"].classes) == len(few.context["dashboard"].classes) + 6


def test_authority_dashboard_queries_do_not_grow_with_schools(
        client: Client, quality: Cast, django_assert_num_queries: NumQueries) -> None:
    url = reverse("web:quality")
    client.force_login(quality.erin)
    clear_catalogue_cache()
    client.get(url)
    cache.clear()
    with django_assert_num_queries(AUTHORITY_QUERIES):
        client.get(url)
    for n in range(8):
        school = f.make_school(quality.school_a.authority)
        f.make_student(f.make_class(school, "1A"), f"Học Sinh Trường {n}")
    refresh_all()
    with django_assert_num_queries(AUTHORITY_QUERIES):  # the trend: the authority's rows
        response = client.get(url)
    assert response.context["overview"].school_count == 10


def test_todo_queries_do_not_grow_with_pupils(client: Client, quality: Cast,
                                              django_assert_num_queries: NumQueries) -> None:
    url = reverse("web:quality_todo")
    client.force_login(quality.bob)
    clear_catalogue_cache()
    client.get(url)
    with django_assert_num_queries(TODO_QUERIES):
        client.get(url)
    for k in range(12):
        f.make_student(quality.class_1a, f"Trần Văn Thêm {chr(65 + k)}", phone="0000000000")
    refresh_all()
    with django_assert_num_queries(TODO_QUERIES):
        response = client.get(url)
    assert response.context["todo"].steps.count == 14


def test_class_and_pupil_pages_do_not_grow(client: Client, quality: Cast) -> None:
    principal = User.objects.get(pk=quality.alice.pk)
    client.force_login(principal)
    small = f.make_class(quality.school_a, "4A", grade=4)
    large = f.make_class(quality.school_a, "4B", grade=4)
    f.make_student(small, "Lê Văn Một")
    for k in range(20):
        f.make_student(large, f"Lê Văn Nhiều {chr(65 + k)}", phone="0000000000")
    refresh_all()
    clear_catalogue_cache()
    small_url = reverse("web:quality_class", args=[small.pk])
    client.get(small_url)
    assert _count(client, small_url) == _count(client, reverse("web:quality_class",
                                                               args=[large.pk]))
    one = large.students.order_by("pk").first()
    assert one is not None
    plain = small.students.get()
    f.make_guardian(plain, "Lê Văn Bố", phone="0000000000")
    f.make_guardian(one, "Lê Văn Cha", phone="0000000000")
    f.make_guardian(one, "Lê Thị Mẹ", relation="02", phone="0000000000")
    f.make_guardian(one, "Lê Văn Ông", relation="03", phone="0000000000")
    refresh_all()
    assert _count(client, reverse("web:quality_student", args=[plain.pk])) == _count(
        client, reverse("web:quality_student", args=[one.pk]))
