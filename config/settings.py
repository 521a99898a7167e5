"""Deployment settings, read from the environment only.

Every variable read here is listed, with a safe value, in ``.env.example``.
Production differs from development by environment variables, never by code.
"""

import os
from pathlib import Path

from config.database import parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, *, default: bool) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, *, default: str) -> list[str]:
    """Read a comma-separated environment variable as a list of non-empty items."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)
# A fixed development key is only acceptable with DEBUG on; production must set one.
SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key" if DEBUG else "")
if not SECRET_KEY:
    SECRET_KEY = "unset-" + os.urandom(24).hex()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default="127.0.0.1,localhost")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "geo",
]

MIDDLEWARE = [
    # First: every later line (and the response) carries the request id; latency covers all.
    "geo.logs.RequestIdMiddleware",
    "geo.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves our static files (Leaflet included) from gunicorn: no CDN, no extra server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so its process_exception sees a view's errors first: lost database -> 503.
    "geo.availability.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DEFAULT_DATABASE_URL = "postgis://postgres@127.0.0.1:5432/mipaka"
# A libpq multi-host URL (host1:port1,host2:port2, target_session_attrs=read-write)
# follows a failover. Persistent connections are health-checked before each
# request reuses them, so one to a dead primary is dropped, not reused.
_conn_max_age = int(os.environ.get("CONN_MAX_AGE", "60"))
DATABASES = {
    "default": parse_database_url(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        conn_max_age=_conn_max_age,
        conn_health_checks=True,
    ),
}
# A standby (target_session_attrs=standby) for boundary reads, used only once it
# has replayed the import the lookup index was built from (geo.availability).
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = parse_database_url(
        os.environ["DATABASE_REPLICA_URL"],
        conn_max_age=_conn_max_age,
        conn_health_checks=True,
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["geo.availability.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rendered tiles are kept in a cache that every web worker shares (Redis), keyed
# by the import version, so a new import never serves old tiles. Without
# REDIS_URL each process keeps its own, in memory. With MIPAKA_REDIS_SENTINELS
# (host:port,...) the cache and Celery's broker find the master through
# Sentinel, and follow its failover.
REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_SENTINELS = env_list("MIPAKA_REDIS_SENTINELS", default="")
REDIS_MASTER = os.environ.get("MIPAKA_REDIS_MASTER", "mipaka")
REDIS_DB = int(os.environ.get("MIPAKA_REDIS_DB", "0"))
_cache_prefix = f"mipaka:{DATABASES['default']['NAME']}"
if REDIS_SENTINELS:
    CACHES = {
        "default": {
            "BACKEND": "geo.cache.SentinelRedisCache",
            "LOCATION": ",".join(REDIS_SENTINELS),
            "OPTIONS": {"master_name": REDIS_MASTER, "db": REDIS_DB},
            "TIMEOUT": 24 * 3600,
            "KEY_PREFIX": _cache_prefix,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache"
            if REDIS_URL
            else "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": REDIS_URL,
            "TIMEOUT": 24 * 3600,
            # One Redis may serve several deployments: keep their keys apart.
            "KEY_PREFIX": _cache_prefix,
        }
    }

# Background jobs (imports) run on Celery workers with Redis as the broker.
# Job state lives in PostgreSQL (geo.ImportJob), so no result backend is kept.
# With Sentinels, the broker is whichever Redis they name master (and follows its failover).
CELERY_BROKER_URL = (
    ";".join(f"sentinel://{item}/{REDIS_DB}" for item in REDIS_SENTINELS)
    if REDIS_SENTINELS
    else os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "redis://127.0.0.1:6379/0"
)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ROUTES = {"geo.tasks.run_import_job": {"queue": "imports"}}
# A job is acknowledged when it ends, not when it starts: a worker that dies
# mid-import (killed, out of memory, power loss) leaves it to be delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Each worker process reserves only the job it runs: an import takes minutes,
# and a second reserved one would wait behind it instead of going to an idle worker.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis hands an unacknowledged job to another worker after this many seconds.
# Longer than a whole-world import (a re-delivery of a live job only waits for
# it, see geo.importing.jobs), and the delay before a killed worker's job resumes.
CELERY_VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "7200"))
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    **({"master_name": REDIS_MASTER} if REDIS_SENTINELS else {}),
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Look for abandoned jobs every so often (a tenth of the timeout, 1 to 60 s).
    "unacked_restore_interval": min(60, max(1, CELERY_VISIBILITY_TIMEOUT // 10)),
    "unacked_restore_throttle": 1,
    # A broker that vanished without closing the connection must not hang a request.
    "socket_timeout": 10,
    "socket_connect_timeout": 5,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Submitting a job must fail fast (a clear 503) when Redis is down, not hang.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Largest import file accepted by POST /api/v1/imports (bytes).
MIPAKA_MAX_UPLOAD_BYTES = int(os.environ.get("MIPAKA_MAX_UPLOAD_BYTES", str(200 * 1024 * 1024)))
# Where import jobs download countries from (a posm-extracts folder or mirror);
# empty: the public posm-extracts repository (geo.importing.download.DEFAULT_BASE_URL).
MIPAKA_DOWNLOAD_BASE_URL = os.environ.get("MIPAKA_DOWNLOAD_BASE_URL", "")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "map"
LOGOUT_REDIRECT_URL = "login"
# The map's optional base layer (off until a person ticks it; the service works
# offline). Any XYZ raster URL; empty hides the option.
MIPAKA_BASEMAP_URL = os.environ.get(
    "MIPAKA_BASEMAP_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
)
STATIC_ROOT = BASE_DIR / "staticfiles"
# The lookup index (hierarchy + point index) is built once per import into
# files under MIPAKA_INDEX_DIR that every web worker of the host maps, so the
# host holds one copy. Off: each process builds its own from the database.
MIPAKA_SHARED_INDEX = env_bool("MIPAKA_SHARED_INDEX", default=True)
MIPAKA_INDEX_DIR = Path(os.environ.get("MIPAKA_INDEX_DIR", BASE_DIR / "var" / "index"))

# LOG_FORMAT=json: one JSON object per line with the request id (scripts/cluster, deploy/).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "geo.logs.ContextFilter"}},
    "formatters": {"json": {"()": "geo.logs.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            **({"formatter": "json"} if os.environ.get("LOG_FORMAT") == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Debian 12 ships GDAL 3.6. Mipaka never hands user-supplied spatial references
# or data sources to GDAL (GeoJSON is parsed by our own code), so the file and
# network access that GDAL >= 3.9 can block is not reachable from input.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]
