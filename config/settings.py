"""Deployment settings, read from the environment only.

Every variable read here is listed, with a safe value, in ``.env.example``.
Production differs from development by environment variables, never by code.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

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


def env_int(name: str, *, default: int) -> int:
    """Read a whole-number environment variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


def env_limit(name: str, *, default: str) -> tuple[int, int]:
    """Read a rate limit written ``ATTEMPTS/SECONDS`` (``20/60``)."""
    raw = os.environ.get(name, "").strip() or default
    attempts, _, seconds = raw.partition("/")
    try:
        limit = int(attempts), int(seconds)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be ATTEMPTS/SECONDS, like 20/60, not {raw!r}"
        ) from None
    if min(limit) < 1:
        raise ImproperlyConfigured(f"{name}: attempts and seconds must be at least 1, not {raw!r}")
    return limit


def production_problems(environ: dict[str, str]) -> list[str]:
    """List what a production (DEBUG off) start lacks; empty when it may start.

    Each of these otherwise fails late and quietly: a random SECRET_KEY per
    worker loops sign-in back to the form ("Session data corrupted"), the
    default ALLOWED_HOSTS answers 400 to every real host, a missing
    DATABASE_URL points at a local database, and without REDIS_URL every
    worker keeps its own rate-limit counters and token cache.
    """
    problems = []
    key = environ.get("SECRET_KEY", "")
    if not key:
        problems.append("SECRET_KEY is not set")
    elif len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-"):
        problems.append(
            "SECRET_KEY is too weak (50+ random characters, e.g."
            " python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    hosts = [h.strip() for h in environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    if not hosts:
        problems.append("ALLOWED_HOSTS is not set (the host names this service answers to)")
    elif "*" in hosts:
        problems.append("ALLOWED_HOSTS must name the hosts, not '*'")
    if not environ.get("DATABASE_URL"):
        problems.append("DATABASE_URL is not set")
    if not environ.get("REDIS_URL") and not environ.get("MIPAKA_REDIS_SENTINELS"):
        problems.append(
            "REDIS_URL is not set, nor MIPAKA_REDIS_SENTINELS (workers share rate limits,"
            " token revocations and tiles there)"
        )
    return problems


DEBUG = env_bool("DEBUG", default=False)
if not DEBUG and (_problems := production_problems(dict(os.environ))):
    raise ImproperlyConfigured(
        "production settings (DEBUG is off) are incomplete: "
        + "; ".join(_problems)
        + ". Set them (see .env.example), or DEBUG=true for development."
    )
# A fixed development key is only acceptable with DEBUG on; production must set one.
SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default="127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default="")

# HTTPS. Production sits behind a TLS proxy: SECURE_PROXY_SSL_HEADER names the
# header it sets to "https" (e.g. X-Forwarded-Proto); only set it when the
# proxy always sets or strips that header, or clients could claim HTTPS.
_proxy_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https") if _proxy_header else None
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# The probes (health, readiness, metrics) come from inside the deployment, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Behind N proxies, the client's address is the Nth from the right of
# X-Forwarded-For (rate limits count per address); 0 trusts REMOTE_ADDR.
MIPAKA_PROXY_COUNT = env_int("MIPAKA_PROXY_COUNT", default=0)
# Failures allowed per client address, ATTEMPTS/SECONDS: unknown API tokens,
# and failed sign-ins. Past them the address gets 429 until the window ends.
MIPAKA_BAD_TOKEN_LIMIT = env_limit("MIPAKA_BAD_TOKEN_LIMIT", default="20/60")
MIPAKA_SIGN_IN_LIMIT = env_limit("MIPAKA_SIGN_IN_LIMIT", default="10/300")

# Request bodies: the largest the API reads is a counts table (10 MB); form
# posts and uploads are small. Larger bodies are refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10_000_000)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=2_500_000)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000

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
    "geo.web.csp.ContentSecurityPolicyMiddleware",
    # Last, so its process_exception sees a view's errors first: lost database -> 503.
    "geo.availability.DatabaseUnavailableMiddleware",
]
# Every request runs these: request ids, metrics, security headers, the 503 translation.
# The rest run for pages and for API calls made with the session cookie (the web map)
# only; API calls with a token, tiles, /health and /ready skip them (geo.handler).
_EVERY_REQUEST_MIDDLEWARE = {
    "geo.logs.RequestIdMiddleware",
    "geo.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "geo.availability.DatabaseUnavailableMiddleware",
}
MIPAKA_BROWSER_ONLY_MIDDLEWARE = [m for m in MIDDLEWARE if m not in _EVERY_REQUEST_MIDDLEWARE]

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
            "BACKEND": "geo.cache.RedisCache"  # Django's, one client per pool
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
# Days an uploaded import file is kept for jobs (to apply a dry run, say);
# then its bytes are deleted from the database by the next job. 0 keeps them.
MIPAKA_UPLOAD_RETENTION_DAYS = env_int("MIPAKA_UPLOAD_RETENTION_DAYS", default=30)
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
