"""Settings for benchmarks: the deployment settings plus benchmark-only baseline views."""

from . import local_environment

local_environment()

from config.settings import *  # noqa: E402, F403

ROOT_URLCONF = "scripts.bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
CONN_MAX_AGE = 600
# The benchmark speaks plain HTTP to 127.0.0.1.
SECURE_SSL_REDIRECT = False
