"""WSGI entry point for app servers (gunicorn config.wsgi)."""

import os
import sys

import django
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

try:
    # What django.core.wsgi.get_wsgi_application does, with our handler: API
    # calls with a token skip the browser middleware (geo.handler).
    django.setup(set_prefix=False)
    from geo.handler import ApiAwareWSGIHandler

    application = ApiAwareWSGIHandler()
except ImproperlyConfigured as exc:
    print(f"mipaka: {exc}", file=sys.stderr, flush=True)
    # Exit status 4 is gunicorn's "application failed to load": it stops the
    # server instead of starting the same broken worker again and again.
    raise SystemExit(4) from None
