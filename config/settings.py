"""Deployment settings, read from the environment only.

Every variable read here is listed, with a safe value, in ``.env.example``.
Production differs from development by environment variables, never by code.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

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
    if not environ.get("REDIS_URL"):
        problems.append(
            "REDIS_URL is not set (workers share rate limits, token revocations and tiles there)"
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
# The health probe comes from inside the deployment, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health$"]
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
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    ),
}
# dj-database-url maps postgis:// to the GeoDjango backend; a plain postgres:// URL must too.
DATABASES["default"]["ENGINE"] = "django.contrib.gis.db.backends.postgis"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rendered tiles are kept in a cache that every web worker shares (Redis), keyed
# by the import version, so a new import never serves old tiles. Without
# REDIS_URL each process keeps its own, in memory.
REDIS_URL = os.environ.get("REDIS_URL", "")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache"
        if REDIS_URL
        else "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": REDIS_URL,
        "TIMEOUT": 24 * 3600,
        # One Redis may serve several deployments: keep their keys apart.
        "KEY_PREFIX": f"mipaka:{DATABASES['default']['NAME']}",
    }
}

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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Debian 12 ships GDAL 3.6. Mipaka never hands user-supplied spatial references
# or data sources to GDAL (GeoJSON is parsed by our own code), so the file and
# network access that GDAL >= 3.9 can block is not reachable from input.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]
