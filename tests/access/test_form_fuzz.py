"""Bad input to every web form: no server error, no stack trace, no personal data out of reach.

For each web form of the access sweep (``ENDPOINTS`` entries that take a POST and carry a
body; the API is covered by schemathesis in tests/contract/), the endpoint's own actor (nobody,
for the public pages) posts, with a valid CSRF token, the sweep's valid body with fields
replaced by generated values: arbitrary unicode (control characters, NUL, bidi marks, NFD
forms, up to 5,000 characters), numbers beyond 64 bits, empty values, several values for one
field, dates in odd formats, missing fields, and extra fields the form does not know. Every
answer, and the page a redirect leads to, is below 500, shows no traceback or database error
text, and names no pupil or staff member the actor may not see (for school A's staff the other
school's Cường and staff member, with their ID numbers; for everyone a pupil of another
authority).

Each example runs in a savepoint that is rolled back, so the next one starts from the same
world. The world is built once per endpoint, function-scoped as in the sweep: it takes about
a third of a second, a small part of the examples' own time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import traceback
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import get_token
from django.test import Client
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from edureg.access import policy
from edureg.access.models import User
from edureg.access.roles import Perm
from edureg.registry.models import Staff, Student
from tests import factories as f
from tests.access.test_endpoint_sweep import (
    ENDPOINTS,
    LOGIN_PATH,
    TWIN_NAME,
    Access,
    Endpoint,
    World,
    make_world,
)
from tests.conftest import Cast

CSRF_FAILURE_TEMPLATE = "web/accounts/csrf_failure.html"

# What a debug page, a traceback or a database error would put in an answer.
LEAK_MARKERS = ("Traceback", 'File "/', "django.db", "psycopg", "sqlite3", "Exception Value",
                "IntegrityError", "OperationalError", "DataError", "ProgrammingError")

# Pupils a process shows on purpose although they are out of the actor's scope: to the
# receiving school the pupil asked for (transfer) or handed over (graduation); to the
# authority officer undoing a merge, the merged record (out of every scope while merged).
SHOWN_ON_PURPOSE: dict[str, tuple[str, ...]] = {
    "web:merge_undo": (TWIN_NAME,),
    "web:transfer_accept": ("Nguyễn Văn An",),
    "web:transfer_refuse": ("Nguyễn Văn An",),
    "web:handover_accept": ("Đỗ Thị Hà",),
    "web:handover_decline": ("Đỗ Thị Hà",),
}

# ID numbers for pupils and staff out of most actors' reach (An and the staff member of A
# without an account keep none: forms declare or check theirs).
ID_NUMBERS = {"binh": "079319005678", "other_school_student": "079218009876"}
STAFF_ID_NUMBER_B = "079186003579"
# A pupil of another authority: out of every actor's reach, the authority officer's too.
FAR_PUPIL, FAR_PUPIL_ID_NUMBER = "Vương Thị Xuyến", "001219004321"

FORMS = sorted(name for name, entry in ENDPOINTS.items()
               if name.startswith("web:") and "POST" in entry.ok and entry.data is not None
               and not entry.csrf_exempt)


# --- Generated input ---------------------------------------------------------------------------

BIDI_AND_FRIENDS = ("\u00a0", "\u00ad", "\u0085", "\u200b", "\u200c", "\u200d", "\u200e",
                    "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066",
                    "\u2067", "\u2068", "\u2069", "\u2028", "\u2029", "\ufeff", "\ufffd",
                    "\ufffe", "\U0001f600", "\U000e0001", "\U0010ffff", "\x7f")
CHARACTERS = st.one_of(
    st.characters(codec="utf-8"),  # no lone surrogates: they have no UTF-8 form
    st.characters(max_codepoint=0x1F),  # control characters, NUL included
    st.sampled_from(BIDI_AND_FRIENDS),
)
TEXT = st.text(CHARACTERS, max_size=40)
LONG_TEXT = st.builds(lambda unit, size: (unit * size)[:size],
                      st.text(CHARACTERS, min_size=1, max_size=6), st.integers(1_000, 5_000))
NUMBERS = st.one_of(
    st.integers(min_value=2**63 - 1, max_value=2**256).map(str),
    st.integers(min_value=-(2**256), max_value=-(2**63) - 1).map(str),
    st.sampled_from(["9" * 400, "18446744073709551616", "-1", "0", "-0", "1e309", "NaN",
                     "inf", "0x1F", "1_000", "+1", "3.0", " 7 ", "١٢٣", "²", "½", "1,5"]),
)
DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%m/%d/%Y", "%d/%m/%y", "%d-%m-%Y %H:%M",
                "%Y%m%d", "%d.%m.%Y", "%A %d %B %Y")
DATES = st.one_of(
    st.builds(lambda day, fmt: day.strftime(fmt),
              st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)),
              st.sampled_from(DATE_FORMATS)),
    st.sampled_from(["31/02/2026", "29/02/2027", "00/00/0000", "2026-13-01", "01/01/10000",
                     "1/1/1", "01/01/-1", "2026-01-01T25:61", "32/13/2026 24:60",
                     "٠١/٠١/٢٠٢٦", "2026年1月1日", "now", "99999999999999999999/01/2026",
                     "01/01/2026 99:99", "2026-W01", "T"]),
)
SINGLE = st.one_of(TEXT, NUMBERS, DATES, st.just(""))


class Base:
    """Stands for the field's valid value in a generated list."""

    def __repr__(self) -> str:
        return "BASE"


BASE = Base()

Change = tuple[str, Any]  # ("set", value) | ("list", values) | ("nfd", None) | ("missing", None)
CHANGES: st.SearchStrategy[Change] = st.one_of(
    st.tuples(st.just("set"), SINGLE),
    st.tuples(st.just("set"), LONG_TEXT),
    st.tuples(st.just("list"), st.lists(st.one_of(st.just(BASE), SINGLE), min_size=2,
                                        max_size=3).map(tuple)),
    st.tuples(st.just("nfd"), st.none()),
    st.tuples(st.just("missing"), st.none()),
)
UNKNOWN_NAMES = st.one_of(
    st.sampled_from(["unknown", "school", "school_id", "authority", "actor", "id", "pk",
                     "is_superuser", "role", "status", "__proto__", "field[]", "a.b"]),
    st.text(st.characters(categories=("L", "N")), min_size=1, max_size=12),
)
EVERY_FIELD = -1


@dataclasses.dataclass(frozen=True)
class Plan:
    """How to spoil the valid body: ``changes`` by field index (modulo the number of fields,
    ``EVERY_FIELD`` for all), extra fields, and whether the body goes form-urlencoded (as
    browsers send it) rather than multipart."""

    changes: tuple[tuple[int, Change], ...] = ()
    extra: tuple[tuple[str, str], ...] = ()
    urlencoded: bool = False


PLANS = st.builds(
    Plan,
    changes=st.lists(st.tuples(st.integers(0, 30), CHANGES), min_size=1, max_size=3).map(tuple),
    extra=st.lists(st.tuples(UNKNOWN_NAMES, st.one_of(SINGLE, st.integers(0, 50).map(str))),
                   max_size=2).map(tuple),
    urlencoded=st.booleans(),
)


def _values(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return [str(value)]


def _changed(value: Any, change: Change) -> Any:
    kind, payload = change
    if kind == "set":
        return payload
    if kind == "nfd":
        values = [unicodedata.normalize("NFD", item) for item in _values(value)]
        return values if isinstance(value, list | tuple) else values[0]
    assert kind == "list", kind
    return [item for part in payload
            for item in (_values(value) if part is BASE else [part])]


def spoiled(base: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The valid body with the plan's changes and extra fields."""
    body = dict(base)
    keys = sorted(base)
    for index, change in plan.changes:
        if not keys:
            continue
        for key in keys if index == EVERY_FIELD else [keys[index % len(keys)]]:
            if change[0] == "missing":
                body.pop(key, None)
            else:
                body[key] = _changed(base[key], change)
    for name, value in plan.extra:
        body[name] = value
    return body


# --- Posting and reading the answer ------------------------------------------------------------

@pytest.fixture
def world(cast: Cast) -> World:
    """The sweep's world, with ID numbers on pupils and on school B's staff member, and a
    pupil of another authority."""
    world = make_world(cast)
    for name, number in ID_NUMBERS.items():
        Student.objects.filter(pk=getattr(cast, name).pk).update(personal_id_number=number)
    Staff.objects.filter(pk=world.staff_b.pk).update(personal_id_number=STAFF_ID_NUMBER_B)
    far = f.make_school(f.make_authority("SGD01"), code="H0001", name="Trường Tiểu học Ba Đình")
    f.make_student(f.make_class(far), FAR_PUPIL, personal_id_number=FAR_PUPIL_ID_NUMBER)
    return world


@dataclasses.dataclass(frozen=True)
class Form:
    entry: Endpoint
    url: str
    base: dict[str, Any]  # the valid body
    hidden: list[str]  # what the answer must not contain

    @property
    def valid_status(self) -> int:
        """The sweep's answer to the valid body (a public page: to an anonymous visitor)."""
        if self.entry.access is Access.PUBLIC:
            return self.entry.anonymous
        return self.entry.ok["POST"]


@pytest.fixture
def form(world: World, name: str) -> Form:
    """The endpoint's state made ready once; every example then posts to it."""
    entry = ENDPOINTS[name]
    if entry.prepare is not None:
        entry.prepare(world)
    assert entry.data is not None
    return Form(entry=entry, url=entry.url(world), base=entry.data(world),
                hidden=_hidden(world, name, entry))


def _client(world: World, entry: Endpoint) -> Client:
    """The endpoint's actor (nobody, for a public page), holding a CSRF cookie."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    if entry.access is not Access.PUBLIC:
        client.force_login(world.users[entry.actor])
    return client


def _post(client: Client, url: str, body: dict[str, Any], *,
          urlencoded: bool) -> HttpResponseBase:
    request = HttpRequest()
    token = get_token(request)  # a masked token and its secret, as a page would hand out
    client.cookies[settings.CSRF_COOKIE_NAME] = request.META["CSRF_COOKIE"]
    body = {**body, "csrfmiddlewaretoken": token}
    if urlencoded:
        return client.post(
            url, urlencode(body, doseq=True), content_type="application/x-www-form-urlencoded")
    return client.post(url, body)


def _content(response: HttpResponseBase) -> str:
    if isinstance(response, HttpResponse):
        raw = response.content
    else:  # a streamed answer (a file)
        raw = b"".join(cast(Iterable[bytes], getattr(response, "streaming_content", [])))
    return raw.decode("utf-8", errors="replace")


def _hidden(world: World, name: str, entry: Endpoint) -> list[str]:
    """Names and ID numbers of the pupils and staff the endpoint's actor may not see (all of
    them, for a public page)."""
    pupils, staff = Student.objects.all(), Staff.objects.all()
    if entry.access is not Access.PUBLIC:
        actor = User.objects.get(pk=world.users[entry.actor].pk)
        pupils = pupils.exclude(pk__in=policy.scope(Student.objects.all(), actor,
                                                    Perm.STUDENT_VIEW).values("pk"))
        staff = staff.exclude(pk__in=policy.scope(Staff.objects.all(), actor,
                                                  Perm.STAFF_VIEW).values("pk"))
    pupils = pupils.exclude(full_name__in=SHOWN_ON_PURPOSE.get(name, ()))
    found: list[str] = []
    for row in [*pupils.values("full_name", "education_id", "personal_id_number"),
                *staff.values("full_name", "personal_id_number")]:
        found += [str(value) for value in row.values() if value]
    return found


def _short(body: dict[str, Any]) -> str:
    def one(value: Any) -> str:
        text = repr(value)
        return text if len(text) <= 80 else f"{text[:60]}…({len(text)} chars)"

    return "{" + ", ".join(f"{key!r}: {one(value)}" for key, value in body.items()) + "}"


def _check(response: HttpResponseBase, *, body: dict[str, Any], hidden: list[str],
           redirected: bool = False) -> None:
    where = f"{'the page after ' if redirected else ''}POST {_short(body)}"
    if response.status_code >= 500:
        exc_info = getattr(response, "exc_info", None)
        detail = "".join(traceback.format_exception(*exc_info)) if exc_info else ""
        pytest.fail(f"{response.status_code} for {where}\n{detail}")
    templates = getattr(response, "templates", [])  # the test client's record
    assert CSRF_FAILURE_TEMPLATE not in [t.name for t in templates], (
        f"the CSRF token was refused: {where}")
    if response.status_code == 302:
        assert urlsplit(response["Location"]).path != LOGIN_PATH, f"signed out by {where}"
    content = _content(response)
    for marker in LEAK_MARKERS:
        assert marker not in content, f"{marker!r} in the answer to {where}"
    for value in hidden:
        assert value not in content, f"{value!r} (out of the actor's reach) shown for {where}"


# --- The tests ---------------------------------------------------------------------------------

def test_every_web_form_is_fuzzed() -> None:
    """Guards the selection: the forms of the site that take a body, none of the API."""
    assert len(FORMS) >= 40
    assert all(not name.startswith("api:") for name in FORMS)
    assert {"web:student_edit", "web:login", "web:portal", "web:sharing_agreement_create"} \
        <= set(FORMS)


def test_spoiling_a_body() -> None:
    base = {"a": "Ân", "b": ["1", "2"], "c": 7}
    assert spoiled(base, Plan(changes=((EVERY_FIELD, ("missing", None)),))) == {}
    assert spoiled(base, Plan(changes=((1, ("nfd", None)),)))["b"] == ["1", "2"]
    assert spoiled(base, Plan(changes=((0, ("nfd", None)),)))["a"] == "A\u0302n"
    assert spoiled(base, Plan(changes=((2, ("list", (BASE, "x"))),)))["c"] == ["7", "x"]
    assert spoiled(base, Plan(changes=((4, ("set", "")),))) == {**base, "b": ""}
    assert spoiled(base, Plan(extra=(("z", "1"),))) == {**base, "z": "1"}


def test_the_check_flags_server_errors_traces_and_people_out_of_reach() -> None:
    def answer(content: str, status: int = 200) -> HttpResponse:
        response = HttpResponse(content, status=status)
        response.templates = []  # type: ignore[attr-defined]
        return response

    _check(answer("<p>Số định danh không hợp lệ</p>"), body={}, hidden=[FAR_PUPIL])
    for bad in (answer("", 500), answer('File "/app/views.py", line 3'),
                answer("sqlite3.IntegrityError"), answer(f"<td>{FAR_PUPIL}</td>")):
        with pytest.raises(pytest.fail.Exception if bad.status_code >= 500 else AssertionError):
            _check(bad, body={}, hidden=[FAR_PUPIL])


@contextlib.contextmanager
def _rolled_back() -> Iterator[None]:
    """One example's writes, undone: the next example meets the same world."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


SPOILED_EVERYWHERE = (
    # Only an unknown field more: the valid post goes through as before.
    Plan(extra=(("truong_khac", "1"), ("is_superuser", "on"))),
    Plan(changes=((EVERY_FIELD, ("missing", None)),)),  # an empty body
    Plan(changes=((EVERY_FIELD, ("set", "\x00\u202e" + "Ặ\u0301\x1b" * 1_249)),),
         urlencoded=True),
    Plan(changes=((EVERY_FIELD, ("set", str(2**64))),)),  # beyond every integer column
    Plan(changes=((EVERY_FIELD, ("list", (BASE, "", str(-(2**63) - 1)))),)),
    Plan(changes=((EVERY_FIELD, ("set", "29/02/2027 25:61")),), urlencoded=True),
    Plan(changes=((EVERY_FIELD, ("nfd", None)),), extra=(("unknown", "\x00"),)),
)


def _with_examples(test: Any) -> Any:
    for plan in reversed(SPOILED_EVERYWHERE):
        test = example(plan=plan)(test)
    return test


@pytest.mark.parametrize("name", FORMS)
@hypothesis_settings(max_examples=4, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])
@_with_examples
@given(plan=PLANS)
def test_bad_form_input_is_refused_without_error_or_leak(world: World, form: Form,
                                                         plan: Plan) -> None:
    assert FAR_PUPIL in form.hidden
    body = spoiled(form.base, plan)
    with _rolled_back():
        client = _client(world, form.entry)
        response = _post(client, form.url, body, urlencoded=plan.urlencoded)
        if plan == SPOILED_EVERYWHERE[0]:
            # The valid body plus unknown fields gets through as the sweep's valid post does:
            # the token is accepted and the actor signed in.
            assert response.status_code == form.valid_status, _short(body)
        _check(response, body=body, hidden=form.hidden)
        if response.status_code == 302 and response["Location"].startswith("/"):
            # The page a post redirects to shows its outcome (a flash message, the record).
            _check(client.get(response["Location"]), body=body, hidden=form.hidden,
                   redirected=True)
