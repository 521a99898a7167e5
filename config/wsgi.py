"""WSGI entry point for app servers (gunicorn config.wsgi)."""

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

try:
    application = get_wsgi_application()
except ImproperlyConfigured as exc:
    print(f"mipaka: {exc}", file=sys.stderr, flush=True)
    # Exit status 4 is gunicorn's "application failed to load": it stops the
    # server instead of starting the same broken worker again and again.
    raise SystemExit(4) from None
