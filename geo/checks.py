"""System checks: browser-only middleware exists; (``--deploy``) the database survives a power cut.

PostgreSQL can be told to trade durability for speed. Each of these settings
off means a crash or power loss can lose acknowledged writes or corrupt the
cluster: ``fsync`` (data may never reach the disk), ``full_page_writes`` (torn
pages after a crash cannot be repaired), ``synchronous_commit`` (a commit is
acknowledged before its WAL is on disk).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.db import DatabaseError, connections


@register("middleware")
def check_browser_only_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Refuse a browser-only middleware that is not in MIDDLEWARE (a typo would skip nothing)."""
    missing = [
        path
        for path in getattr(settings, "MIPAKA_BROWSER_ONLY_MIDDLEWARE", [])
        if path not in settings.MIDDLEWARE
    ]
    return [
        Error(
            f"MIPAKA_BROWSER_ONLY_MIDDLEWARE names {path!r}, which is not in MIDDLEWARE",
            hint="list only entries of MIDDLEWARE (geo.handler skips them for API calls)",
            id="geo.E001",
        )
        for path in missing
    ]


# Setting -> values that keep acknowledged commits on disk.
DURABLE_SETTINGS = {
    "fsync": {"on"},
    "full_page_writes": {"on"},
    "synchronous_commit": {"on", "remote_write", "remote_apply"},
}


def durability_problems(values: dict[str, str]) -> list[str]:
    """Return one line per setting that loses data on power loss.

    >>> durability_problems({"fsync": "on", "full_page_writes": "on", "synchronous_commit": "off"})
    ["synchronous_commit is 'off': a commit is acknowledged before it is on disk"]
    """
    reasons = {
        "fsync": "data may never reach the disk; a power cut can corrupt the cluster",
        "full_page_writes": "pages torn by a crash cannot be repaired",
        "synchronous_commit": "a commit is acknowledged before it is on disk",
    }
    return [
        f"{name} is {values.get(name)!r}: {reasons[name]}"
        for name, good in DURABLE_SETTINGS.items()
        if values.get(name) not in good
    ]


# Not Tags.database: Django runs those only with --database; this one must run with --deploy.
@register("durability", deploy=True)
def check_database_durability(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn (deploy checks only) when the primary is configured to lose acknowledged writes."""
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                [list(DURABLE_SETTINGS)],
            )
            values = dict(cursor.fetchall())
    except DatabaseError as exc:
        return [
            Warning(
                f"could not read the database's durability settings: {exc}",
                id="geo.W002",
            )
        ]
    return [
        Warning(problem, hint="set it back to on in postgresql.conf", id="geo.W001")
        for problem in durability_problems(values)
    ]
