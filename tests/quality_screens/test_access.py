"""Each quality screen: the role it is meant for gets it, another school's object is not found
(404), an account without the permission is refused (403). (The full sweep over every URL is
tests/access/test_endpoint_sweep.py.)"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from edureg.quality.models import FieldGroupCheck, SignOff
from tests.conftest import Cast

Ref = Callable[[Cast], Any]


@dataclasses.dataclass(frozen=True)
class Screen:
    name: str
    own: Ref | None  # the object in the meant-for actor's reach (None: the URL takes none)
    other_school: Ref | None
    actor: str
    lacking: tuple[str, ...]
    method: str = "GET"
    ok: int = 200
    data: dict[str, str] | None = None


SCREENS = [
    Screen("quality_todo", None, None, "bob", ("carol", "erin")),
    Screen("quality", None, None, "erin", ("carol",)),
    Screen("quality_school", lambda c: c.school_a, lambda c: c.school_b, "alice", ("carol",)),
    Screen("quality_class", lambda c: c.class_1a, lambda c: c.class_b, "bob",
           ("carol", "erin")),
    Screen("quality_student", lambda c: c.an, lambda c: c.other_school_student, "bob",
           ("carol", "erin")),
    Screen("quality_attest", lambda c: c.an, lambda c: c.other_school_student, "bob",
           ("carol", "erin"), method="POST", ok=302,
           data={"group": "residence", "residence-document_type": "vneid"}),
    Screen("quality_class_confirm", lambda c: c.class_1a, lambda c: c.class_b, "bob",
           ("carol", "erin"), method="POST", ok=302),
    Screen("quality_sign_off", lambda c: c.school_a, lambda c: c.school_b, "alice",
           ("bob", "erin"), method="POST", ok=302, data={"round_label": "Cuối học kỳ I"}),
]


def _url(screen: Screen, target: Any) -> str:
    return reverse(f"web:{screen.name}", args=[target.pk] if target is not None else [])


def _call(client: Client, screen: Screen, url: str) -> Any:
    if screen.method == "GET":
        return client.get(url)
    return client.post(url, screen.data or {})


def _writes() -> tuple[int, int]:
    return FieldGroupCheck.objects.count(), SignOff.objects.count()


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
def test_it_works_for_the_role_it_is_meant_for(client: Client, quality: Cast,
                                               screen: Screen) -> None:
    client.force_login(getattr(quality, screen.actor))
    target = screen.own(quality) if screen.own else None
    assert _call(client, screen, _url(screen, target)).status_code == screen.ok


@pytest.mark.parametrize("screen", [s for s in SCREENS if s.other_school],
                         ids=[s.name for s in SCREENS if s.other_school])
def test_another_schools_object_is_not_found(client: Client, quality: Cast,
                                             screen: Screen) -> None:
    assert screen.other_school is not None
    client.force_login(getattr(quality, screen.actor))
    before = _writes()
    response = _call(client, screen, _url(screen, screen.other_school(quality)))
    assert response.status_code == 404
    assert quality.other_school_student.full_name not in response.content.decode()
    assert _writes() == before


@pytest.mark.parametrize(("screen", "actor"),
                         [(s, actor) for s in SCREENS for actor in s.lacking],
                         ids=[f"{s.name}-{actor}" for s in SCREENS for actor in s.lacking])
def test_without_the_permission_it_is_refused(client: Client, quality: Cast, screen: Screen,
                                              actor: str) -> None:
    client.force_login(getattr(quality, actor))
    target = screen.own(quality) if screen.own else None
    before = _writes()
    assert _call(client, screen, _url(screen, target)).status_code == 403
    assert _writes() == before


def test_teacher_cannot_open_another_class_of_the_school(client: Client,
                                                         quality: Cast) -> None:
    client.force_login(quality.bob)
    for url in (reverse("web:quality_class", args=[quality.class_1b.pk]),
                reverse("web:quality_student", args=[quality.binh.pk])):
        assert client.get(url).status_code == 404
    response = client.post(reverse("web:quality_attest", args=[quality.binh.pk]),
                           {"group": "residence", "residence-document_type": "vneid"})
    assert response.status_code == 404
    assert not FieldGroupCheck.objects.exists()
