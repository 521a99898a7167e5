"""Test settings: the deployment settings with test-only overrides."""

import os
import uuid

# Tests are not production, but they run with DEBUG off as production does:
# give the deployment settings what they require (children started by tests
# inherit these). A real deployment sets its own.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
for _name, _value in {
    "SECRET_KEY": "test-only-key-" + "x" * 40 + "-not-for-production",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "DATABASE_URL": "postgis://postgres@127.0.0.1:5432/mipaka",
    "REDIS_URL": TEST_REDIS_URL,
    # One key prefix per test session, shared with the servers tests start,
    # since test import ids repeat across sessions.
    "MIPAKA_TEST_CACHE_PREFIX": f"mipaka-test-{uuid.uuid4().hex}",
}.items():
    os.environ.setdefault(_name, _value)

from .settings import *  # noqa: E402, F403
from .settings import env_bool  # noqa: E402

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Serve static files from the apps (no collectstatic before tests), as in development.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Browser tests never reach the internet: no base map URL to fetch from.
MIPAKA_BASEMAP_URL = ""
# Tests write boundaries without imports (no new version to key files by):
# each process builds its own index, unless a test turns the files on.
MIPAKA_SHARED_INDEX = env_bool("MIPAKA_SHARED_INDEX", default=False)
# Tests speak plain HTTP to 127.0.0.1; test_deploy_settings checks the HTTPS settings.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
# The real Redis (started by scripts/setup), in a database of its own.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": TEST_REDIS_URL,
        "KEY_PREFIX": os.environ["MIPAKA_TEST_CACHE_PREFIX"],
        "TIMEOUT": 3600,
    }
}
# Import jobs go through the real Redis too, in a database of their own.
CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
# Tests kill workers on purpose: their jobs come back within seconds, not hours.
CELERY_VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "4"))
# Several test runs on one machine share that Redis database: each run's jobs go
# under its own key prefix, which its worker subprocesses inherit from the environment.
CELERY_BROKER_KEY_PREFIX = os.environ.setdefault(
    "MIPAKA_TEST_BROKER_PREFIX", f"mipaka-test-{uuid.uuid4().hex[:12]}:"
)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
    "global_keyprefix": CELERY_BROKER_KEY_PREFIX,
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 1,
}
