"""Celery tasks and worker hooks: thin shells over modules callable without a worker."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import connections

from geo.importing.jobs import requeue_stranded_jobs, run_job


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
