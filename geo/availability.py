"""Staying up while a database node fails: 503 during a failover, and reads from a fresh standby.

A failover takes a few seconds. Writes in that window cannot succeed; they
answer 503 with ``Retry-After`` (a client retries), never 500. Persistent
connections to the dead primary fail Django's health check at the next
request and are replaced; libpq's ``target_session_attrs=read-write`` then
finds the new primary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse

from geo.api.errors import error_response
from geo.metrics import FAILOVER_EVENTS

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying a write refused during a failover.
RETRY_AFTER_S = 2
# Errors that mean "the database cannot be reached (now)", not "this query is wrong".
UNAVAILABLE = (OperationalError, InterfaceError)
REPLICA = "replica"
# Seconds a replica freshness check is trusted before it is asked again.
REPLICA_CHECK_S = 1.0


def database_unavailable(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """Answer 503 + Retry-After for a request that needed a database no one could reach."""
    FAILOVER_EVENTS.inc()
    logger.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
    response = error_response(
        status=503,
        code="unavailable",
        message="the database is failing over; retry in a few seconds",
    )
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


class DatabaseUnavailableMiddleware:
    """The one translation of lost-database errors into 503, for every view (API and pages)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Pass the request on; errors come back through process_exception."""
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        """Turn OperationalError/InterfaceError into 503; leave everything else to Django."""
        if isinstance(exc, UNAVAILABLE):
            return database_unavailable(request, exc)
        return None


class ReplicaRouter:
    """Send boundary reads to the standby only once it holds the index's import.

    The lookup index in this process was built from import ``version`` (the
    last succeeded ``ImportRun``). A standby that shows the same last import
    has replayed everything that import wrote (WAL is replayed in commit
    order), so a page read there is never older than the index beside it.
    Anything else (aliases, people, tokens, imports) and any doubt (no
    standby, a standby behind) reads from the primary.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked: tuple[float, int, bool] = (float("-inf"), -1, False)

    def db_for_read(self, model: type[Any], **hints: Any) -> str | None:
        """Return ``"replica"`` for boundary reads when the standby is current, else the primary."""
        if REPLICA not in settings.DATABASES or model._meta.label not in REPLICA_MODELS:
            return None
        return REPLICA if self.replica_is_current() else "default"

    def db_for_write(self, model: type[Any], **hints: Any) -> str | None:
        """Write to the primary, always."""
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        """Allow relations across primary and replica: they hold the same rows."""
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        """Migrate the primary only; the standby replays it."""
        return db == "default"

    def replica_is_current(self) -> bool:
        """Tell whether the standby has replayed the import this process's index was built from."""
        from geo.lookup.snapshot import lookup_data  # noqa: PLC0415 (snapshot imports models)

        version = lookup_data.hierarchy().version
        with self._lock:
            checked_at, checked_version, current = self._checked
            if version == checked_version and time.monotonic() - checked_at < REPLICA_CHECK_S:
                return current
        current = replica_import_version() == version
        with self._lock:
            self._checked = (time.monotonic(), version, current)
        return current


REPLICA_MODELS = frozenset({"geo.Boundary", "geo.BoundaryShape"})


def replica_import_version() -> int | None:
    """Return the last succeeded import the standby has replayed, or None when it is unreachable."""
    from geo.models import ImportStatus  # noqa: PLC0415 (settings import this module's router)

    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(max(id), 0) FROM geo_importrun WHERE status = %s",
                [ImportStatus.SUCCEEDED],
            )
            row = cursor.fetchone()
    except DatabaseError:
        logger.info("standby unreachable; reading from the primary", exc_info=True)
        connections[REPLICA].close()
        return None
    return int(row[0]) if row else None
