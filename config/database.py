"""Database settings from a URL, including libpq's multi-host form.

``postgis://user@host1:5432,host2:5433/mipaka?target_session_attrs=read-write``
names a primary and its standby: libpq tries the hosts in order and keeps the
first that matches ``target_session_attrs``, so after a failover new
connections find the new primary. dj-database-url rejects such URLs; psycopg
accepts ``host`` and ``port`` as comma lists, which is what this builds.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import dj_database_url

POSTGIS_ENGINE = "django.contrib.gis.db.backends.postgis"
DEFAULT_PORT = "5432"
SCHEMES = {"postgis", "postgres", "postgresql", "pgsql"}


class DatabaseUrlError(ValueError):
    """A DATABASE_URL that cannot be read; the message names the problem."""


def _host_and_port(item: str) -> tuple[str, str]:
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        return host, rest.removeprefix(":") or DEFAULT_PORT
    host, _, port = item.partition(":")
    return host, port or DEFAULT_PORT


def parse_database_url(url: str, *, conn_max_age: int, conn_health_checks: bool) -> dict[str, Any]:
    """Return Django's DATABASES entry for a (possibly multi-host) PostgreSQL URL.

    Query parameters become libpq connection options (``target_session_attrs``,
    ``connect_timeout``, ``sslmode``...). The engine is always GeoDjango's.
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise DatabaseUrlError(
            f"DATABASE_URL: scheme {parts.scheme!r} is not one of postgis, postgres"
        )
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    if "," not in hostlist:
        config = dict(
            dj_database_url.parse(
                url, conn_max_age=conn_max_age, conn_health_checks=conn_health_checks
            )
        )
    else:
        user, _, password = userinfo.partition(":")
        pairs = [_host_and_port(item) for item in hostlist.split(",") if item]
        if any(not host for host, _ in pairs):
            raise DatabaseUrlError(f"DATABASE_URL: empty host in {hostlist!r}")
        config = {
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(user),
            "PASSWORD": unquote(password),
            "HOST": ",".join(host for host, _ in pairs),
            "PORT": ",".join(port for _, port in pairs),
            "OPTIONS": dict(parse_qsl(parts.query)),
            "CONN_MAX_AGE": conn_max_age,
            "CONN_HEALTH_CHECKS": conn_health_checks,
        }
    config["ENGINE"] = POSTGIS_ENGINE
    return config
