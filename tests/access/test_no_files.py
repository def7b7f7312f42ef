"""No personal data as files (issue 7, part 5).

Every URL route of the project (as ``get_resolver()`` lists it) is asked for, with the methods
it takes, by a signed-in user of every role and by an anonymous caller; the URL, its object ids
and its form data come from the access sweep's table (``test_endpoint_sweep.ENDPOINTS``), and a
route without a row there has its path parameters filled with the ids of the sweep's records.
No answer may be a file: only HTML and JSON pass, and anything sent as an attachment, streamed,
or typed as a spreadsheet, document, archive, image or raw bytes fails, unless the route is in
``AGGREGATE_DOWNLOADS`` (aggregate-only downloads), whose payload must then hold no name, ID
number, phone or birth date of any person on record. HTML pages may not reach other hosts
(``src``, ``href``, ``action``…), and the templates hold no address of another host: personal
data is collected through edureg's own forms only.

The checker is shown to work on a URL configuration that adds routes of its own (a CSV of a
class's pupils and its variants) through ``settings.ROOT_URLCONF``.
"""

from __future__ import annotations

import datetime as dt
import html.parser
import io
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.test import Client, override_settings
from django.urls import URLPattern, path, reverse

from edureg import urls as project_urls
from edureg.access.models import Membership
from edureg.access.roles import ROLE_SCOPE, Role, Scope
from edureg.registry.models import Guardian, Staff, Student
from tests import factories as f
from tests.access import test_endpoint_sweep as sweep
from tests.conftest import Cast

# Route name → why its download holds aggregates only. Each one's payload is still checked for
# the personal values of everyone on record.
AGGREGATE_DOWNLOADS: Mapping[str, str] = {
    "web:privacy_inventory_csv": "the processing inventory: data categories, field labels, "
                                 "purposes, recipients, retention, security measures",
    "web:reports_download": "a statistical report's table: counts by grade, sex, status…, "
                            "small cells suppressed (edureg.reports.exports)",
}

PAGE_TYPES = frozenset({"text/html", "application/json"})
FILE_TYPES = frozenset({
    "text/csv", "text/tab-separated-values", "application/csv", "application/pdf",
    "application/msword", "application/rtf", "application/zip", "application/gzip",
    "application/x-7z-compressed", "application/x-rar-compressed", "application/x-tar",
    "application/octet-stream", "application/vnd.ms-excel", "application/x-sqlite3",
})
FILE_TYPE_PREFIXES = ("application/vnd.openxmlformats-", "application/vnd.ms-",
                      "application/vnd.oasis.opendocument.", "image/", "audio/", "video/")
LINK_ATTRIBUTES = frozenset({"src", "href", "action", "formaction", "srcset", "poster", "data",
                             "cite", "background", "manifest", "ping", "xlink:href"})
OWN_HOST = "testserver"
TEMPLATE_DIRS = sorted(Path(project_urls.__file__).parent.glob("**/templates"))
EXTERNAL_URL = re.compile(r"(?i)\b(?:https?|ftp|wss?):/{2}[^\s\"'<>]*"
                          r"|(?:src|href|action|formaction)\s*=\s*[\"']?\s*//[^\s\"'<>]+")

# Path parameters of a route without a row in the sweep's table, by name.
PARAMETERS: Mapping[str, Callable[[sweep.World], object]] = {
    "school_id": sweep.SCHOOL_A,
    "class_id": sweep.CLASS_1A,
    "student_id": sweep.AN,
    "user_id": sweep.BOB,
    "staff_id": sweep._pk("staff_a"),
    "authority_id": sweep._pk("cast.school_a.authority"),
    "purpose": lambda w: "anh_truyen_thong",
}


# --- The world: the sweep's, every role, personal values on record --------------------------

SEEDED = {
    # pupil: date of birth, ID number, phone
    "an": (dt.date(2019, 3, 14), "079219001234", "0903127845"),
    "binh": (dt.date(2019, 7, 2), "079319005678", "0918456123"),
    "other_school_student": (dt.date(2018, 11, 30), "079218009876", "0987654321"),
}


@pytest.fixture
def world(cast: Cast) -> sweep.World:
    """The access sweep's world, plus an account for every role it lacks and the pupils'
    birth dates, ID numbers, phones and a guardian: the values no file may carry."""
    world = sweep.make_world(cast)
    held = set(Membership.objects.values_list("role", flat=True))
    for role in Role:
        if role.value not in held:
            if ROLE_SCOPE[role] is Scope.AUTHORITY:
                user = f.make_user(role.value, role, authority=cast.school_a.authority)
            else:
                user = f.make_user(role.value, role, cast.school_a)
            world.users[role.value] = user
    for name, (born, id_number, phone) in SEEDED.items():
        pupil: Student = getattr(cast, name)
        Student.objects.filter(pk=pupil.pk).update(date_of_birth=born,
                                                   personal_id_number=id_number, phone=phone)
    f.make_guardian(cast.an, "Nguyễn Văn Cha", phone="0912345678",
                    personal_id_number="079085004321")
    Staff.objects.filter(pk=world.staff_a.pk).update(
        date_of_birth=dt.date(1985, 5, 20), personal_id_number="079185002468",
        phone="0935111222")
    return world


def test_every_role_and_anonymous_ask(world: sweep.World) -> None:
    roles = set(Membership.objects.current().filter(user__in=world.users.values())
                .values_list("role", flat=True))
    assert roles == {role.value for role in Role}


def personal_values() -> set[str]:
    """Names, ID numbers, phones and birth dates (as stored and as shown) of everyone on
    record."""
    values: set[str] = set()
    for model, fields in ((Student, ("full_name", "personal_id_number", "education_id", "phone",
                                     "date_of_birth")),
                          (Guardian, ("full_name", "personal_id_number", "phone")),
                          (Staff, ("full_name", "personal_id_number", "education_id", "phone",
                                   "date_of_birth"))):
        for row in model.objects.values_list(*fields):
            for value in row:
                if isinstance(value, dt.date):
                    values |= {value.isoformat(), value.strftime("%d/%m/%Y")}
                elif value:
                    values.add(str(value))
    return values


# --- What the checker looks at ----------------------------------------------------------------

def content_type(response: HttpResponseBase) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def file_reasons(response: HttpResponseBase) -> list[str]:
    """Why this answer is a file (nothing when it is a page, JSON or empty)."""
    reasons = []
    disposition = response.headers.get("Content-Disposition", "")
    if "attachment" in disposition.lower() or "filename" in disposition.lower():
        reasons.append(f"sent as a file (Content-Disposition: {disposition})")
    if response.streaming:
        reasons.append("streamed (a file response)")
    kind = content_type(response)
    if kind in FILE_TYPES or kind.startswith(FILE_TYPE_PREFIXES):
        reasons.append(f"a file's content type ({kind})")
    elif kind not in PAGE_TYPES and (response.streaming or payload(response)):
        reasons.append(f"neither HTML nor JSON ({kind or 'no content type'})")
    return reasons


def payload(response: HttpResponseBase) -> bytes:
    if response.streaming:
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        response.streaming_content = [body]  # type: ignore[attr-defined]
        return body
    return bytes(response.content)  # type: ignore[attr-defined]


def readable_text(body: bytes) -> str | None:
    """The text of a download, and of every member of a zip-based one (xlsx, ods, docx);
    None for a format the check cannot read (such a download cannot be allow-listed)."""
    if body.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            parts = [readable_text(archive.read(member)) for member in archive.namelist()]
        return None if None in parts else "\n".join(part or "" for part in parts)
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in LINK_ATTRIBUTES and value:
                for part in value.split(",") if name == "srcset" else [value]:
                    self.found.append((tag, name, part.strip().split(" ")[0]))
            elif name == "content" and value and "url=" in value.lower():  # meta refresh
                self.found.append((tag, name, value.lower().split("url=", 1)[1].strip()))

    handle_startendtag = handle_starttag


def external_links(page: str) -> list[str]:
    """``tag attr=value`` for every link, source or form target on another host."""
    parser = _Links()
    parser.feed(page)
    found = []
    for tag, name, value in parser.found:
        parts = urlsplit(value)
        if parts.netloc and parts.hostname != OWN_HOST:
            found.append(f"<{tag} {name}={value}>")
    return found


def problems_of(response: HttpResponseBase, name: str, allowed: Mapping[str, str],
                personal: set[str]) -> list[str]:
    problems = []
    reasons = file_reasons(response)
    if reasons and name not in allowed:
        problems += reasons
    elif reasons:
        text = readable_text(payload(response))
        if text is None:
            problems.append("an aggregate download in a format the check cannot read")
        else:
            problems += [f"an aggregate download carries {value!r}"
                         for value in sorted(personal) if value in text]
    if content_type(response) == "text/html" and not response.streaming:
        problems += [f"links to another host: {link}"
                     for link in external_links(payload(response).decode())]
    return problems


# --- The walk ----------------------------------------------------------------------------------

def filled_url(world: sweep.World, name: str, pattern: URLPattern) -> str:
    """The route's URL with its path parameters set to the ids of the sweep's records."""
    route = pattern.pattern
    names = list(getattr(route, "converters", {})) or list(route.regex.groupindex)
    unknown = [parameter for parameter in names if parameter not in PARAMETERS]
    assert not unknown, f"{name}: give PARAMETERS a value for {unknown} (or a sweep row)"
    return reverse(name, kwargs={parameter: PARAMETERS[parameter](world) for parameter in names})


def route_problems(world: sweep.World, name: str, pattern: URLPattern,
                   allowed: Mapping[str, str] = AGGREGATE_DOWNLOADS) -> list[str]:
    """What is wrong with the route's answers to anonymous and to every account of the world,
    for each method it takes."""
    entry = sweep.ENDPOINTS.get(name)
    if entry is not None:
        data = sweep._setup(world, entry)
        url, methods = entry.url(world), entry.methods
    else:
        data, url, methods = None, filled_url(world, name, pattern), ("GET", "POST")
    personal = personal_values()
    found = []
    for actor in (None, *sorted(world.users)):
        client = Client() if actor is None else sweep._signed_in(world, actor)
        for method in methods:
            response = sweep._request(client, method, url, data)
            found += [f"{name}: {method} {url} as {actor or 'anonymous'}: {problem}"
                      for problem in problems_of(response, name, allowed, personal)]
    return found


ROUTES = sorted(sweep._url_names())


def test_the_walk_covers_the_site_and_the_api() -> None:
    assert {"web:student", "web:class", "web:quality", "api:class_students",
            "api:openapi-view"} <= set(ROUTES)
    assert set(AGGREGATE_DOWNLOADS) <= set(ROUTES), "allow-listed downloads must be routes"


@pytest.mark.parametrize("name", ROUTES)
def test_no_route_answers_with_a_file_of_personal_data(world: sweep.World, name: str) -> None:
    pattern = sweep._url_names()[name]
    assert route_problems(world, name, pattern) == []


# --- The checker catches a CSV of pupils ------------------------------------------------------

def _pupils(class_id: int) -> list[tuple[Any, ...]]:
    return list(Student.objects.filter(current_class_id=class_id).order_by("pk").values_list(
        "full_name", "date_of_birth", "personal_id_number", "phone"))


def _pupils_csv(class_id: int) -> str:
    lines = ["Họ và tên,Ngày sinh,Số định danh,Điện thoại"]
    lines += [",".join(str(value) for value in row) for row in _pupils(class_id)]
    return "\n".join(lines) + "\n"


def pupils_csv(request: HttpRequest, class_id: int) -> HttpResponse:
    response = HttpResponse(_pupils_csv(class_id), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="hoc-sinh.csv"'
    return response


def pupils_inline_csv(request: HttpRequest, class_id: int) -> HttpResponse:
    return HttpResponse(_pupils_csv(class_id), content_type="text/csv")


def pupils_as_excel(request: HttpRequest, class_id: int) -> HttpResponse:
    """The old trick: an HTML table sent as an .xls attachment."""
    rows = "".join(f"<tr><td>{name}</td><td>{born}</td></tr>"
                   for name, born, *_ in _pupils(class_id))
    response = HttpResponse(f"<table>{rows}</table>", content_type="text/html")
    response["Content-Disposition"] = 'attachment; filename="hoc-sinh.xls"'
    return response


def pupils_file(request: HttpRequest, class_id: int) -> FileResponse:
    return FileResponse(io.BytesIO(_pupils_csv(class_id).encode()))


def pupils_text(request: HttpRequest, class_id: int) -> HttpResponse:
    return HttpResponse(_pupils_csv(class_id), content_type="text/plain")


def class_counts_csv(request: HttpRequest, school_id: int) -> HttpResponse:
    response = HttpResponse("Lớp,Số học sinh\n1A,<5\n1B,<5\n", content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="si-so.csv"'
    return response


def class_counts_with_a_name_csv(request: HttpRequest, school_id: int) -> HttpResponse:
    response = HttpResponse("Lớp,Số học sinh,Lớp trưởng\n1A,<5,Nguyễn Văn An\n",
                            content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="si-so.csv"'
    return response


def external_form_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse('<p><a href="https://forms.gle/khai-bao-y-te">Khai báo</a></p>'
                        '<script src="//cdn.example.net/thu-vien.js"></script>')


urlpatterns = [
    *project_urls.urlpatterns,
    path("thu/lop/<int:class_id>/hoc-sinh.csv", pupils_csv, name="pupils_csv"),
    path("thu/lop/<int:class_id>/hoc-sinh.txt", pupils_inline_csv, name="pupils_inline_csv"),
    path("thu/lop/<int:class_id>/hoc-sinh.xls", pupils_as_excel, name="pupils_as_excel"),
    path("thu/lop/<int:class_id>/hoc-sinh", pupils_file, name="pupils_file"),
    path("thu/lop/<int:class_id>/danh-sach", pupils_text, name="pupils_text"),
    path("thu/truong/<int:school_id>/si-so.csv", class_counts_csv, name="class_counts_csv"),
    path("thu/truong/<int:school_id>/si-so-co-ten.csv", class_counts_with_a_name_csv,
         name="class_counts_with_a_name_csv"),
    path("thu/khai-bao/", external_form_page, name="external_form_page"),
]
PLANTED_ALLOWED = {**AGGREGATE_DOWNLOADS,
                   "class_counts_csv": "class sizes, suppressed",
                   "class_counts_with_a_name_csv": "class sizes (but it names a pupil)"}


def test_the_walk_flags_a_view_that_returns_a_csv_of_pupils(world: sweep.World) -> None:
    project = set(sweep._url_names())
    with override_settings(ROOT_URLCONF=__name__):
        routes = sweep._url_names()
        planted = {name: pattern for name, pattern in routes.items() if name not in project}
        assert set(planted) == {
            "pupils_csv", "pupils_inline_csv", "pupils_as_excel", "pupils_file", "pupils_text",
            "class_counts_csv", "class_counts_with_a_name_csv", "external_form_page"}
        found = {name: route_problems(world, name, pattern, PLANTED_ALLOWED)
                 for name, pattern in planted.items()}
        client = sweep._signed_in(world, "alice")
        body = client.get(reverse("pupils_csv", args=[world.cast.class_1a.pk])).content
    callers = 1 + len(world.users)
    expected = {
        "pupils_csv": ["sent as a file (Content-Disposition: attachment; "
                       'filename="hoc-sinh.csv")', "a file's content type (text/csv)"],
        "pupils_inline_csv": ["a file's content type (text/csv)"],
        "pupils_as_excel": ["sent as a file (Content-Disposition: attachment; "
                            'filename="hoc-sinh.xls")'],
        "pupils_file": ["streamed (a file response)",
                        "a file's content type (application/octet-stream)"],
        "pupils_text": ["neither HTML nor JSON (text/plain)"],
        "class_counts_csv": [],
        "class_counts_with_a_name_csv": ["an aggregate download carries 'Nguyễn Văn An'"],
        "external_form_page": ["links to another host: <a href=https://forms.gle/khai-bao-y-te>",
                               "links to another host: <script src=//cdn.example.net/thu-vien.js>"],
    }
    for name, reasons in expected.items():
        tails = [problem.split(": ", 2)[-1] for problem in found[name]]
        assert sorted(set(tails)) == sorted(reasons), name
        assert len(tails) == callers * 2 * len(reasons), name  # every caller, GET and POST
    # The CSV the checker caught did hold An's record.
    assert "Nguyễn Văn An" in body.decode()
    assert "079219001234" in body.decode()


@pytest.mark.parametrize(("kind", "disposition", "is_file"), [
    ("text/html; charset=utf-8", "", False),
    ("application/json", "", False),
    ("application/json", 'attachment; filename="hoc-sinh.json"', True),
    ("text/html", 'inline; filename="hoc-sinh.html"', True),
    ("text/csv", "", True),
    ("application/vnd.ms-excel", "", True),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "", True),
    ("application/vnd.oasis.opendocument.spreadsheet", "", True),
    ("application/pdf", "", True),
    ("application/msword", "", True),
    ("image/png", "", True),
    ("application/zip", "", True),
    ("application/octet-stream", "", True),
    ("application/xml", "", True),
    ("text/plain", "", True),
])
def test_what_counts_as_a_file(kind: str, disposition: str, is_file: bool) -> None:
    response = HttpResponse("Nguyễn Văn An", content_type=kind)
    if disposition:
        response["Content-Disposition"] = disposition
    assert bool(file_reasons(response)) is is_file


def test_an_empty_answer_of_any_type_is_not_a_file() -> None:
    assert file_reasons(HttpResponse(status=204, content_type="text/plain")) == []


def test_a_zipped_aggregate_is_read_member_by_member() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/sharedStrings.xml", "<t>Lớp 1A</t><t>Nguyễn Văn An</t>")
    text = readable_text(buffer.getvalue())
    assert text is not None
    assert "Nguyễn Văn An" in text
    assert readable_text(b"%PDF-1.7\n\xff\xfe\x00compressed") is None


# --- No other hosts: templates and rendered pages -----------------------------------------------

def test_templates_name_no_other_host() -> None:
    templates = [p for folder in TEMPLATE_DIRS for p in folder.glob("**/*") if p.is_file()]
    assert any(p.name == "base.html" for p in templates)
    found = [f"{template}: {match.group(0)}" for template in templates
             for match in EXTERNAL_URL.finditer(template.read_text())]
    assert found == [], "collect and link through edureg's own pages only"


@pytest.mark.parametrize(("page", "external"), [
    ('<a href="/hoc-sinh/1/">An</a><form action="/dang-nhap/" method="post"></form>', []),
    ('<a href="http://testserver/hoc-sinh/1/">An</a>', []),
    ('<a href="mailto:so@example.vn">Sở</a><a href="#noi-dung">…</a>', []),
    ('<form action="https://docs.google.com/forms/d/x/formResponse"></form>',
     ["<form action=https://docs.google.com/forms/d/x/formResponse>"]),
    ('<img srcset="/static/a.png 1x, https://cdn.example.net/a.png 2x">',
     ["<img srcset=https://cdn.example.net/a.png>"]),
    ('<link rel="stylesheet" href="//fonts.example.com/css">',
     ["<link href=//fonts.example.com/css>"]),
    ('<meta http-equiv="refresh" content="0; URL=https://forms.gle/x">',
     ["<meta content=https://forms.gle/x>"]),
    ('<button formaction="https://evil.example/collect">Gửi</button>',
     ["<button formaction=https://evil.example/collect>"]),
])
def test_external_links_are_found(page: str, external: list[str]) -> None:
    assert external_links(page) == external
