"""The national sector database (the Ministry's), behind the ``UpstreamSectorDB`` port.

``upstream_sector_db()`` is the adapter ``settings.EDUREG_UPSTREAM`` names (a dotted path to a
class built with no arguments, which reads its own settings), one per process: it holds the
connection pool. ``upstream_sector_db_clear()`` closes it and forgets it (tests, changed
settings).
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.module_loading import import_string

from edureg.sync.upstream.port import (
    MAX_BATCH,
    ChangeResult,
    RecordChange,
    UpstreamError,
    UpstreamSectorDB,
)

__all__ = ["MAX_BATCH", "ChangeResult", "RecordChange", "UpstreamError", "UpstreamSectorDB",
           "upstream_sector_db", "upstream_sector_db_clear"]


@functools.cache
def upstream_sector_db() -> UpstreamSectorDB:
    upstream: UpstreamSectorDB = import_string(settings.EDUREG_UPSTREAM)()
    return upstream


def upstream_sector_db_clear() -> None:
    """Forget the cached adapter, closing it first if it can be closed."""
    if upstream_sector_db.cache_info().currsize:
        close = getattr(upstream_sector_db(), "close", None)
        if callable(close):
            close()
    upstream_sector_db.cache_clear()
