from __future__ import annotations

from typing import Any

import pytest

MIDDLEWARE = "edureg.web.middleware.AccessDeniedAuditMiddleware"


@pytest.fixture(autouse=True)
def denied_access_is_audited(settings: Any) -> None:
    """The audit middleware as settings.MIDDLEWARE should list it (after authentication)."""
    if MIDDLEWARE not in settings.MIDDLEWARE:
        stack = list(settings.MIDDLEWARE)
        stack.insert(stack.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                     MIDDLEWARE)
        settings.MIDDLEWARE = stack
