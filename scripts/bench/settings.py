"""Settings for benchmarks: the deployment settings plus benchmark-only baseline views."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "scripts.bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
CONN_MAX_AGE = 600
