"""A start-of-school-year mix for locust, against a seeded database prepared by ``prepare.py``.

    LOADTEST_ACCOUNTS=/tmp/loadtest/…/accounts.json locust -f bench/loadtest/locustfile.py …

(``run.py`` does all of that.) Simulated users:

- ``HomeroomTeacher``: opens their class list, opens a pupil, and now and then saves an edit
  through the real edit form (CSRF token and all fields as rendered, one field changed).
- ``Principal`` (principals and vice-principals): the school's dashboard pages.
- ``ITOfficer`` (one): uploads a school's export workbook (the dry run), reads its report and
  commits it, again and again.

Each simulated user signs in once through the real sign-in form (and the second-factor form,
with a TOTP code computed from the key ``prepare.py`` gave the account). A page that answers
with an error status, a sign-in page, or a form returned with errors counts as a failure.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import random
import re
import struct
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import RescheduleTask

ACCOUNTS: dict[str, Any] = json.loads(Path(os.environ["LOADTEST_ACCOUNTS"]).read_text())
# Seconds measured once every user has signed in (the figures are reset then), after which the
# run stops; 0: leave the end to locust's --run-time. The start is written to the marker file,
# for run.py to sample CPU and memory over the same window.
MEASURE_SECONDS = float(os.environ.get("LOADTEST_MEASURE", "0"))
MARKER = os.environ.get("LOADTEST_MARKER", "")
PASSWORD = os.environ.get("LOADTEST_PASSWORD", "Demo@edureg2026")
# Think time between two actions of one user, in seconds ("min,max").
WAIT = tuple(float(part) for part in os.environ.get("LOADTEST_WAIT", "1,3").split(","))
SIGN_IN = "/dang-nhap/"
SECOND_FACTOR = "/dang-nhap/xac-thuc/"
POLICY = "/bao-ve-du-lieu/quy-che/"
STUDENT_LINK = re.compile(r'href="/hoc-sinh/(\d+)/"')
# Fields a homeroom teacher may plausibly correct at the start of the year, in order of
# preference; the first one the rendered form carries is changed.
EDIT_FIELDS = ("phone", "current_address")


class LoadTestError(Exception):
    """The page is not what the step needs (no such form, an unexpected redirect)."""


class StepFailed(RescheduleTask):
    """A request failed and is already counted as such (the message says how): start the next
    task."""


# --- forms ---------------------------------------------------------------------------------

class _Forms(HTMLParser):
    """The forms of a page: action, method and the fields a browser would submit."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen = False
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append({"action": values.get("action", ""),
                               "method": values.get("method", "get").lower(),
                               "enctype": values.get("enctype", ""), "fields": {}})
            return
        if not self.forms:
            return
        fields = self.forms[-1]["fields"]
        name = values.get("name")
        if tag == "input" and name:
            kind = values.get("type", "text").lower()
            if kind in {"submit", "button", "image", "reset", "file"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in values:
                return
            fields[name] = values.get("value", "on" if kind == "checkbox" else "")
        elif tag == "select" and name:
            self._select, self._select_first, self._select_chosen = name, None, False
        elif tag == "option" and self._select is not None:
            value = values.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in values:
                fields[self._select], self._select_chosen = value, True
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            if not self._select_chosen and self.forms:
                self.forms[-1]["fields"][self._select] = self._select_first or ""
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self.forms:
            self.forms[-1]["fields"][self._textarea] = "".join(self._text).lstrip("\n")
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)


def page_form(html: str, *, has_field: str | None = None, action: str | None = None
              ) -> dict[str, Any]:
    parser = _Forms()
    parser.feed(html)
    for form in parser.forms:
        if form["method"] != "post" or form["action"] == "/dang-xuat/":  # the menu's sign-out
            continue
        if has_field is not None and has_field not in form["fields"]:
            continue
        if action is not None and action not in form["action"]:
            continue
        return form
    raise LoadTestError(f"no form with field={has_field} action={action} on the page")


def form_errors(html: str) -> list[str]:
    blocks = re.findall(r'class="(?:form-errors|errorlist)[^"]*"[^>]*>(.*?)</(?:div|ul)>', html,
                        re.DOTALL)
    texts = (re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block)).strip() for block in blocks)
    return [text[:200] for text in texts if text][:3]


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]
              ) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    for name, (filename, content, content_type) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
                     + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# --- second factor -------------------------------------------------------------------------

# The last step used per account, kept across runs (the server remembers it in the database,
# and refuses a step at or before it).
TOTP_STATE = Path(os.environ.get("LOADTEST_TOTP_STATE", "/dev/null"))
_last_step: dict[str, int] = (json.loads(TOTP_STATE.read_text())
                              if TOTP_STATE.is_file() else {})


def totp_code(username: str) -> str:
    """A code the server has not seen yet for this account: django-otp accepts one step either
    side of its now, but never a step at or before the last one used. The code is for now, or
    for the next step late in this one: under load the answer may take seconds to be checked,
    and the step before would be refused by then."""
    key = hashlib.sha1(f"{ACCOUNTS['totp_prefix']}{username}".encode()).digest()  # noqa: S324
    while True:
        now = int(time.time() // 30)
        wanted = now if time.time() % 30 < 15 else now + 1
        step = max(wanted, _last_step.get(username, -1) + 1)
        if step <= now + 1:
            break
        gevent.sleep(30 - time.time() % 30 + 0.5)
    _last_step[username] = step
    if TOTP_STATE.name != "null":
        TOTP_STATE.write_text(json.dumps(_last_step))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


# --- users ---------------------------------------------------------------------------------

class EduregUser(FastHttpUser):
    abstract = True
    wait_time = between(*WAIT)
    # Each user gets its own account while there are enough; several simulated users on one
    # account share it in turn.
    accounts_key = ""
    _counters: dict[str, itertools.count[int]] = {}
    account: dict[str, Any]

    def on_start(self) -> None:
        accounts = ACCOUNTS[self.accounts_key]
        counter = self._counters.setdefault(self.accounts_key, itertools.count())
        self.account = accounts[next(counter) % len(accounts)]
        try:
            for attempt in range(3):
                try:
                    self.sign_in()
                    break
                except StepFailed as error:
                    # Kept among the run's exceptions, which the reset of the figures when the
                    # measured window starts leaves alone: a failed sign-in stays an error.
                    runner = self.environment.runner
                    if runner is not None:
                        message = (f"sign-in of {self.account['username']} "
                                   f"(attempt {attempt + 1}): {error}")
                        runner.log_exception("local", message, message)
                    self.client.cookiejar.clear()
                    gevent.sleep(5)
        finally:
            _signed_in(self.environment)

    def _location(self, response: Any) -> str:
        location = response.headers.get("Location") or response.headers.get("location") or ""
        return urlsplit(location).path + (f"?{urlsplit(location).query}"
                                          if urlsplit(location).query else "")

    def get_page(self, url: str, name: str, *, gone: Any = None) -> str:
        """GET a page that must answer 200 with the page itself (not a sign-in page).
        ``gone()``, when given, is asked on a 404 whether the record has left the user's
        reach meanwhile (the 404 is then right, and not a failure)."""
        with self.client.get(url, name=name, allow_redirects=False,
                             catch_response=True) as response:
            if response.status_code == 404 and gone is not None and gone():
                response.success()
                raise StepFailed
            if response.status_code != 200:
                message = f"{name}: status {response.status_code} {self._location(response)}"
                response.failure(message)
                raise StepFailed(message)
            return str(response.text)

    def post_form(self, url: str, fields: dict[str, str], name: str, *,
                  body: bytes | None = None, content_type: str | None = None,
                  expect: str | None = None) -> str:
        """POST a form; the answer must be a redirect (to ``expect``, when given)."""
        headers = {"Referer": f"{self.host}{url}"}
        data: bytes | dict[str, str]
        if body is not None and content_type is not None:
            data = body
            headers["Content-Type"] = content_type
        else:
            data = fields
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        with self.client.post(url, data=data, name=name, headers=headers,
                              allow_redirects=False, catch_response=True) as response:
            location = self._location(response)
            if response.status_code != 302:
                message = (f"{name}: status {response.status_code}, form errors: "
                           f"{form_errors(str(response.text or ''))}")
                response.failure(message)
                raise StepFailed(message)
            if expect is not None and not re.match(expect, location):
                message = f"{name}: redirected to {location}, expected {expect}"
                response.failure(message)
                raise StepFailed(message)
            return location

    def sign_in(self) -> None:
        username = self.account["username"]
        page = self.get_page(SIGN_IN, "sign-in: form")
        form = page_form(page, has_field="password")
        fields = {**form["fields"], "username": username, "password": PASSWORD}
        self.post_form(SIGN_IN, fields, "sign-in: password", expect=r"^/(?!dang-nhap/$)")
        # Where the account lands: its school, or the second-factor page the gate sends it to.
        with self.client.get("/", name="sign-in: home", allow_redirects=False,
                             catch_response=True) as response:
            location = self._location(response) if response.status_code == 302 else "/"
            if response.status_code not in {200, 302}:
                response.failure(f"status {response.status_code}")
                raise StepFailed
        if location.startswith(SECOND_FACTOR):
            page = self.get_page(location, "sign-in: second factor form")
            form = page_form(page, has_field="token")
            fields = {**form["fields"], "token": totp_code(username)}
            self.post_form(location, fields, "sign-in: second factor",
                           expect=r"^/(?!dang-nhap)")

    def acknowledge_policy(self, next_url: str) -> None:
        page = self.get_page(f"{POLICY}?next={next_url}", "privacy policy")
        form = page_form(page, has_field="version")
        self.post_form(POLICY, {**form["fields"], "read": "on"}, "privacy policy: acknowledge")


class HomeroomTeacher(EduregUser):
    weight = 80
    accounts_key = "teachers"
    pupils: list[str]

    def on_start(self) -> None:
        super().on_start()
        self.pupils = []
        self.open_class()

    @task(3)
    def open_class(self) -> None:
        page = self.get_page(f"/lop/{self.account['class_id']}/", "teacher: class list")
        self.pupils = STUDENT_LINK.findall(page) or self.pupils

    def _pupil_gone(self, pupil: str) -> Any:
        """Whether ``pupil`` is no longer in the class: an import running at the same time
        moves pupils between classes, so a list read a minute ago can be out of date."""
        def gone() -> bool:
            self.open_class()
            return pupil not in self.pupils
        return gone

    @task(4)
    def open_pupil(self) -> None:
        if self.pupils:
            pupil = random.choice(self.pupils)
            self.get_page(f"/hoc-sinh/{pupil}/", "teacher: pupil", gone=self._pupil_gone(pupil))

    @task(2)
    def edit_pupil(self) -> None:
        if not self.pupils:
            return
        pupil = random.choice(self.pupils)
        url = f"/hoc-sinh/{pupil}/sua/"
        page = self.get_page(url, "teacher: pupil edit form", gone=self._pupil_gone(pupil))
        form = page_form(page, has_field="full_name")
        fields = dict(form["fields"])
        field = random.choice([name for name in EDIT_FIELDS if name in fields] or [""])
        if field:
            fields[field] = _changed(field)
        self.post_form(url, fields, "teacher: pupil edit save", expect=rf"^/hoc-sinh/{pupil}/$")
        self.get_page(f"/hoc-sinh/{pupil}/", "teacher: pupil", gone=self._pupil_gone(pupil))


def _changed(field: str) -> str:
    if field == "phone":
        return f"09{random.randint(10_000_000, 99_999_999)}"
    return f"Số {random.randint(1, 999)} đường số {random.randint(1, 60)}"


class Principal(EduregUser):
    weight = 15
    accounts_key = "principals"
    wait_time = between(WAIT[0] * 2, WAIT[1] * 2)

    @task(4)
    def school(self) -> None:
        self.get_page(f"/truong/{self.account['school_id']}/", "principal: school dashboard")

    @task(2)
    def quality(self) -> None:
        self.get_page(f"/truong/{self.account['school_id']}/chat-luong/",
                      "principal: quality dashboard")

    @task(1)
    def identity(self) -> None:
        self.get_page(f"/truong/{self.account['school_id']}/xac-thuc/",
                      "principal: identity verification")

    @task(1)
    def sync(self) -> None:
        self.get_page(f"/truong/{self.account['school_id']}/dong-bo/", "principal: sync status")

    @task(1)
    def supervision(self) -> None:
        self.get_page("/giam-sat/", "principal: supervision")

    @task(1)
    def todo(self) -> None:
        self.get_page("/viec-can-lam/", "principal: to-do")


class ITOfficer(EduregUser):
    fixed_count = 1
    accounts_key = "it_officers"
    # An import is a few minutes' work for a person: read the dry run, then commit.
    wait_time = between(5, 10)
    workbook_number = 0

    @task
    def import_workbook(self) -> None:
        school = self.account["school_id"]
        workbooks = ACCOUNTS["workbooks"]
        path = Path(workbooks[self.workbook_number % len(workbooks)])
        self.workbook_number += 1
        upload = f"/truong/{school}/nhap-tep/"
        page = self.get_page(upload, "it: upload form")
        form = page_form(page, has_field="kind")
        fields = {**form["fields"], "kind": "student"}
        body, content_type = multipart(fields, {"file": (
            path.name, path.read_bytes(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
        location = self.post_form(upload, fields, "it: upload + dry run", body=body,
                                  content_type=content_type)
        if location.startswith(POLICY):
            self.acknowledge_policy(upload)
            location = self.post_form(upload, fields, "it: upload + dry run", body=body,
                                      content_type=content_type)
        if not re.match(r"^/nhap-tep/\d+/$", location):
            raise LoadTestError(f"upload went to {location}")
        page = self.get_page(location, "it: dry-run report")
        form = page_form(page, action="/ghi/")
        done = self.post_form(form["action"], form["fields"], "it: commit",
                              expect=r"^/nhap-tep/\d+/$")
        self.get_page(done, "it: import result")


_state = {"signed_in": 0, "measuring": False}


def _signed_in(environment: Any) -> None:
    """Once the last user has been through the sign-in, reset the figures and start the
    measured window."""
    _state["signed_in"] += 1
    runner = environment.runner
    if _state["measuring"] or runner is None or _state["signed_in"] < runner.target_user_count:
        return
    _state["measuring"] = True
    environment.stats.reset_all()
    if MARKER:
        Path(MARKER).write_text(str(time.time()))
    if MEASURE_SECONDS > 0:
        gevent.spawn_later(MEASURE_SECONDS, runner.quit)


@events.quitting.add_listener
def _quitting(environment: Any, **_kwargs: Any) -> None:
    # run.py reads the figures from the CSV files; a failing run must not look like a clean one.
    if environment.stats.total.fail_ratio > 0:
        environment.process_exit_code = 1
