"""Celery tasks: thin shells over modules callable without a worker."""

from __future__ import annotations

from celery import shared_task

from geo.importing.jobs import run_job


@shared_task(name="geo.tasks.run_import_job")
def run_import_job(job_id: int) -> None:
    """Run an import job (``geo.importing.jobs.run_job``); routed to the ``imports`` queue."""
    run_job(job_id)
