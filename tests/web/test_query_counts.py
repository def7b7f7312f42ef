"""Pages use a constant number of queries, however many pupils or guardians they show."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from edureg.core.catalogue import clear_catalogue_cache
from tests import factories as f
from tests.conftest import Cast

# session, user, the session's second-factor device (the principal's role requires 2FA),
# grants, class, pupils, the audited read (joins the request's transaction, no savepoint):
# chain head (locked), event insert, head update (record references are derived later),
# whether the principal may confirm the class (quality.attest), the pupils' identity statuses
# and whether the principal may send the class to be verified (identity.verify), whether the
# principal has acknowledged the data-protection policy (sensitive fields stay hidden until).
CLASS_LIST_QUERIES = 13
# session, user, second-factor device, grants, student, its prefetches (guardian links with
# guardians, enrolments, status changes), the audited read (3), three policy checks (may
# edit, may see guardians, may attest), the pupil's current attestations, and the identity
# panel: the pupil with the principal's identity rights on them, and the identity state; the
# transfer card: may transfer, the pupil's transfers, the schools to move to; the consent card:
# may see consents, the records merged into the pupil (their consents count), the pupil's
# consents (with their guardians), may record, whether the principal acknowledged the
# data-protection policy (the audited read of the consents shown adds three when there are
# some).
STUDENT_DETAIL_QUERIES = 26

NumQueries = Callable[[int], AbstractContextManager[Any]]


def _count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


def test_class_list_queries_do_not_grow_with_the_class(
    client: Client, cast: Cast, django_assert_num_queries: NumQueries
) -> None:
    small = f.make_class(cast.school_a, "3A", grade=3)
    large = f.make_class(cast.school_a, "3B", grade=3)
    for n in range(5):
        f.make_student(small, f"Nguyễn Văn Nhỏ {chr(65 + n)}", phone="0912345678")
    for n in range(45):
        f.make_student(large, f"Trần Thị Lớn {chr(65 + n % 26)}{n}", phone="0912345678")
    client.force_login(cast.alice)
    small_url = reverse("web:class", args=[small.pk])
    large_url = reverse("web:class", args=[large.pk])
    clear_catalogue_cache()  # reloaded now, so it cannot expire between the two requests
    client.get(small_url)  # warm the field-catalogue and code-list caches

    assert _count(client, small_url) == _count(client, large_url)
    with django_assert_num_queries(CLASS_LIST_QUERIES):
        response = client.get(small_url)
    assert response.content.decode().count('href="/hoc-sinh/') == 5
    with django_assert_num_queries(CLASS_LIST_QUERIES):
        response = client.get(large_url)
    assert response.content.decode().count('href="/hoc-sinh/') == 45


def test_student_detail_queries_do_not_grow_with_guardians(
    client: Client, cast: Cast, django_assert_num_queries: NumQueries
) -> None:
    one = cast.an
    three = f.make_student(cast.class_1a, "Lê Thị Ba Người")
    f.make_guardian(one, "Nguyễn Văn Cha", relation="01", phone="0912000111")
    for name, relation in (("Lê Văn Cha", "01"), ("Phạm Thị Mẹ", "02"), ("Lê Văn Ông", "03")):
        f.make_guardian(three, name, relation=relation, phone="0912000222")
    client.force_login(cast.alice)
    one_url = reverse("web:student", args=[one.pk])
    three_url = reverse("web:student", args=[three.pk])
    clear_catalogue_cache()
    client.get(one_url)  # warm caches

    assert _count(client, one_url) == _count(client, three_url)
    with django_assert_num_queries(STUDENT_DETAIL_QUERIES):
        response = client.get(one_url)
    assert "Nguyễn Văn Cha" in response.content.decode()
    with django_assert_num_queries(STUDENT_DETAIL_QUERIES):
        response = client.get(three_url)
    html = response.content.decode()
    assert all(name in html for name in ("Lê Văn Cha", "Phạm Thị Mẹ", "Lê Văn Ông"))
