"""The production web server: ``gunicorn -c config/gunicorn.conf.py`` (``scripts/run`` uses it).

Command-line options override these (``--bind``, ``--workers``). What it adds
to a plain ``gunicorn config.wsgi``:

- the application is loaded once in the master and forked (``preload_app``),
  so workers share its pages;
- the master builds the lookup index files of the newest import before it
  starts any worker (``on_starting``), once per host;
- each worker loads its snapshot (mapping those files) before it takes
  traffic, then a background thread swaps in newer imports
  (``post_worker_init``): no request ever waits for a load;
- a response's headers go out in the same write as its first body bytes
  (``config/gunicorn_response.py``): a worker killed mid-answer has sent
  all of a lookup's answer or none of it, which the load balancer retries.

Environment: ``MIPAKA_BIND`` (default 127.0.0.1:8000), ``WEB_WORKERS``
(default 2), ``GUNICORN_TIMEOUT`` (seconds, default 30), plus the
application's (``.env.example``).
"""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# gunicorn loads this file by path (again on a reload): the project may not be importable yet.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from config.gunicorn_response import install as _one_write_responses  # noqa: E402

_one_write_responses()

wsgi_app = "config.wsgi"
bind = os.environ.get("MIPAKA_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# Several servers may share a host (and tests start their own): no shared control socket path.
control_socket_disable = True

log = logging.getLogger("gunicorn.error")


def on_starting(server: Any) -> None:
    """Warm what every worker would load on its first request; build the index files."""
    from django.conf import settings  # noqa: PLC0415 (preload_app has set Django up)
    from django.urls import get_resolver  # noqa: PLC0415

    # Loaded once here, shared by the forked workers: the URL patterns (and
    # with them every view module) and the lookup modules.
    get_resolver().resolve("/health")
    import geo.lookup.points  # noqa: PLC0415
    import geo.lookup.shared_index  # noqa: F401, PLC0415

    if settings.MIPAKA_SHARED_INDEX:
        _build_index()
    # Objects made so far are never freed: keep the collector from writing
    # to (and so un-sharing) their pages in every worker.
    gc.freeze()


def _build_index() -> None:
    # A child process: the master keeps neither a database connection nor the build's memory.
    result = subprocess.run(  # noqa: S603 (a fixed command)
        [sys.executable, str(ROOT / "manage.py"), "build_lookup_index"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        # Workers still start: they serve the newest files there are, and retry.
        log.warning("lookup index not built: %s", result.stderr.strip().splitlines()[-1:])


def post_worker_init(worker: Any) -> None:
    """Load the lookup snapshot before this worker accepts, then refresh it in the background."""
    from geo.lookup.snapshot import lookup_data  # noqa: PLC0415

    lookup_data.start_background_refresh()
