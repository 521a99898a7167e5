"""Prometheus metrics: request latency per endpoint, the index per worker, imports, failovers.

With several gunicorn workers each process counts on its own; when
``PROMETHEUS_MULTIPROC_DIR`` is set (``scripts/cluster`` sets it per node)
prometheus_client keeps the values in files there and ``/metrics`` adds them
up across the node's workers. Import figures are read from ``ImportRun`` rows
at scrape time, so every node reports the same history.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError
from django.db.models import Count, F, Sum
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from geo.lookup.snapshot import LookupData

REQUEST_LATENCY = Histogram(
    "mipaka_request_duration_seconds",
    "Time to answer a request, by endpoint (URL name) and method.",
    ["endpoint", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RESPONSES = Counter(
    "mipaka_responses_total", "Responses by endpoint and status.", ["endpoint", "status"]
)
FAILOVER_EVENTS = Counter(
    "mipaka_database_unavailable_total",
    "Requests answered 503 because no database node could be reached (failovers).",
)
INDEX_VERSION = Gauge(
    "mipaka_index_version",
    "The import the worker's lookup index was built from.",
    multiprocess_mode="all",
)
INDEX_LOADED = Gauge(
    "mipaka_index_loaded_timestamp_seconds",
    "When the worker first answered from its current index (age = time() - this).",
    multiprocess_mode="all",
)

_seen_version = -1


def observe_index() -> None:
    """Record the index version this worker answers from (the snapshot's, without loading it)."""
    global _seen_version  # noqa: PLW0603 (one per process, like the snapshot itself)
    snapshot = _lookup_data().current()
    if snapshot is not None and snapshot.version != _seen_version:
        _seen_version = snapshot.version
        INDEX_VERSION.set(snapshot.version)
        INDEX_LOADED.set(snapshot.loaded_at)


@functools.cache
def _lookup_data() -> LookupData:
    from geo.lookup.snapshot import lookup_data  # noqa: PLC0415 (models load after settings)

    return lookup_data


class MetricsMiddleware:
    """Time every request under its resolved URL name, never its raw path (bounded labels)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # The labelled series, looked up once each: ``labels()`` validates and
        # locks on every call, a tenth of a bare request's time.
        self._latency: dict[tuple[str, str], Any] = {}
        self._responses: dict[tuple[str, int], Any] = {}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Answer the request and record its latency and status."""
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = request.resolver_match
        endpoint = (match.view_name if match else "") or "unmatched"
        key = (endpoint, request.method or "")
        latency = self._latency.get(key)
        if latency is None:
            latency = self._latency.setdefault(key, REQUEST_LATENCY.labels(*key))
        latency.observe(elapsed)
        status = (endpoint, response.status_code)
        responses = self._responses.get(status)
        if responses is None:
            responses = self._responses.setdefault(
                status, RESPONSES.labels(endpoint, str(response.status_code))
            )
        responses.inc()
        observe_index()
        return response


class ImportRunCollector(Collector):
    """Import jobs by outcome, with their total duration, from the ``ImportRun`` table."""

    def collect(self) -> Iterator[Metric]:
        """Yield count and duration per status; nothing when the database is unreachable."""
        from geo.models import ImportRun  # noqa: PLC0415

        count = GaugeMetricFamily("mipaka_import_runs", "Import runs by status.", labels=["status"])
        duration = GaugeMetricFamily(
            "mipaka_import_run_duration_seconds_sum",
            "Total duration of finished import runs by status.",
            labels=["status"],
        )
        from geo.importing.load import settle_abandoned_runs  # noqa: PLC0415

        try:
            # A killed import counts as abandoned at once, not as running until the next one.
            settle_abandoned_runs()
            rows = list(
                ImportRun.objects.values("status").annotate(
                    n=Count("id"), seconds=Sum(F("finished_at") - F("started_at"))
                )
            )
        except DatabaseError:
            return
        for row in rows:
            count.add_metric([row["status"]], row["n"])
            seconds = row["seconds"].total_seconds() if row["seconds"] else 0.0
            duration.add_metric([row["status"]], seconds)
        yield count
        yield duration


def metrics(request: HttpRequest) -> HttpResponse:
    """Serve every metric of this node in Prometheus' text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    imports = CollectorRegistry()
    imports.register(ImportRunCollector())
    body += generate_latest(imports)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
