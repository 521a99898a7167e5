"""Probes for a load balancer: ``/health`` (the process is alive) and ``/ready`` (it can answer).

Both are cheap: no database query, no session, no token. ``/ready`` is 200
once the lookup index is loaded, whether or not the database is reachable
at that moment (lookups answer from memory), and 503 before.
"""

from __future__ import annotations

import contextlib
import time

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from geo.exceptions import GeoError
from geo.lookup.snapshot import lookup_data


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Answer 200 while the process runs (liveness)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Answer 200 with the index version and age once loaded, else 503 (readiness)."""
    snapshot = lookup_data.current()
    if snapshot is None and not lookup_data.background:
        # No refresher (runserver, tests): nothing else would load it.
        with contextlib.suppress(GeoError):
            lookup_data.hierarchy()
        snapshot = lookup_data.current()
    database = {True: "reachable", False: "unreachable", None: "unknown"}[
        lookup_data.database_reachable
    ]
    if snapshot is None:
        return JsonResponse({"status": "loading", "database": database}, status=503)
    return JsonResponse(
        {
            "status": "ready",
            "index_version": snapshot.version,
            "index_age_seconds": round(time.time() - snapshot.loaded_at, 1),
            "shared_index": snapshot.shared_from is not None,
            "database": database,
        }
    )
