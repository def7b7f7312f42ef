"""The session engine (``SESSION_ENGINE = "edureg.access.sessions"``): Django's database
sessions, stored in ``access.UserSession`` with the owner, the client and the times copied out of
the session data, so that a session can be listed and ended by deleting its row."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone

# Keys this project keeps in the session data.
CLIENT_KEY = "edureg_client"
STARTED_KEY = "edureg_started"
LAST_SEEN_KEY = "edureg_last_seen"
USER_AGENT_LENGTH = 200


def session_key_hash(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()


def _moment(value: object) -> dt.datetime | None:
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC)
    return None


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls) -> Any:
        from edureg.access.models import UserSession

        return UserSession

    def create_model_instance(self, data: dict[str, Any]) -> Any:
        obj: Any = super().create_model_instance(data)
        user_id = data.get(SESSION_KEY)
        obj.user_id = int(user_id) if user_id and str(user_id).isdigit() else None
        obj.key_hash = session_key_hash(obj.session_key)
        now = timezone.now()
        obj.created_at = _moment(data.get(STARTED_KEY)) or now
        obj.last_seen = _moment(data.get(LAST_SEEN_KEY)) or now
        client = data.get(CLIENT_KEY)
        if isinstance(client, dict):
            obj.ip_address = client.get("ip") or None
            obj.user_agent = str(client.get("agent", ""))[:USER_AGENT_LENGTH]
        return obj
