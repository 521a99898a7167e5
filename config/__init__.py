"""Project configuration; loading it also loads the Celery app, so tasks can be sent."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
