"""Browser tests: Debian's chromium driven by Playwright against pytest-django's live server.

Screenshots go to ``artifacts/screenshots/`` (kept by CI as test artefacts).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.messages.sim_process import message_simulator  # noqa: F401 - a fixture (journeys)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (scripts/ensure_chromium.sh installs it)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop; Django must allow ORM calls from the test thread.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def screenshot_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# --- The journeys (test_journeys.py) ------------------------------------------------------------
# Their key screens go to tests/browser/artefacts/ (gitignored), or to EDUREG_ARTEFACTS_DIR.
JOURNEY_ARTEFACTS = Path(__file__).resolve().parent / "artefacts"


@pytest.fixture
def artefacts_dir() -> Path:
    directory = Path(os.environ.get("EDUREG_ARTEFACTS_DIR") or JOURNEY_ARTEFACTS)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def signed_in_page(browser: Any, live_server: Any) -> Iterator[Any]:
    """``signed_in_page(user, viewport)``: a page of a fresh browser context whose session is a
    finished sign-in of ``user`` (second factor included, see ``force_login`` in
    tests/conftest.py), for journeys whose sign-in is not what they test."""
    from django.conf import settings
    from django.test import Client

    contexts: list[Any] = []

    def open_page(user: Any, viewport: dict[str, int]) -> Any:
        client = Client()
        client.force_login(user)
        context = browser.new_context(viewport=viewport, locale="vi-VN")
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                              "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                              "url": live_server.url}])
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
