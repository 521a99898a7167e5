"""Test settings: the deployment settings with test-only overrides."""

from .settings import *  # noqa: F403

SECRET_KEY = "test-only-key"  # noqa: S105
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Serve static files from the apps (no collectstatic before tests), as in development.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Browser tests never reach the internet: no base map URL to fetch from.
MIPAKA_BASEMAP_URL = ""
