"""Celery tasks and worker hooks: thin shells over modules callable without a worker."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import connections

from geo.importing.jobs import requeue_stranded_jobs, run_job

logger = logging.getLogger(__name__)

# Seconds between a live worker's looks for jobs that a dead worker was running.
STRANDED_CHECK_SECONDS = 5.0


@shared_task(name="geo.tasks.run_import_job")
def run_import_job(job_id: int) -> None:
    """Run an import job (``geo.importing.jobs.run_job``); routed to the ``imports`` queue."""
    run_job(job_id)


@worker_ready.connect
def resume_stranded_jobs(**kwargs: Any) -> None:
    """On a worker's start, send again the jobs a dead worker left (see ``requeue_stranded_jobs``)."""
    requeue_stranded_jobs(lost_after_seconds=settings.CELERY_VISIBILITY_TIMEOUT)
    # The pool forks from this process: it must not share this connection.
    connections.close_all()
    threading.Thread(target=_watch_stranded_jobs, name="stranded-jobs", daemon=True).start()


def _watch_stranded_jobs() -> None:
    """Resume, from this live worker, the jobs of a worker that dies while this one runs.

    Without it a job killed with its worker (power loss of its host) waits
    for the broker's visibility timeout (hours) or for a worker to start.
    Runs in the worker's main process; Django's connections are per thread,
    so the pool's forked processes never share this thread's.
    """
    while True:
        time.sleep(STRANDED_CHECK_SECONDS)
        try:
            requeue_stranded_jobs(lost_after_seconds=settings.CELERY_VISIBILITY_TIMEOUT)
        except Exception:  # a failover, a broker outage: look again next time
            logger.warning("looking for stranded import jobs failed", exc_info=True)
        finally:
            connections.close_all()
