"""The Celery application: ``celery -A config worker -Q imports -c 1``.

Settings come from Django's, under the ``CELERY_`` prefix (see
``config/settings.py``); tasks are found in each app's ``tasks`` module.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("mipaka")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
