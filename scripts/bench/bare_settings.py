"""A bare one-view Django app: the floor the API is measured against (``bench_api.py``).

No apps, no middleware, no database: what Django itself costs per request
when served the same way (gunicorn, the same workers).
"""

import os
import secrets

SECRET_KEY = os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "scripts.bench.bare_urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
