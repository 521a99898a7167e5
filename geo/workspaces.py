"""Workspaces and their API tokens: creation, and the token check on every request."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from django.db import transaction

from geo.exceptions import BoundaryNotFound, InvalidQuery
from geo.models import ApiToken, Boundary, Level, Workspace

# How long a worker trusts what it knows of a token (revocation delay).
TOKEN_CACHE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class WorkspaceAccess:
    """What a request needs to know of its workspace, cached per process."""

    id: int
    name: str
    country_id: int | None
    aliases_version: int


def token_digest(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def create_workspace(
    *, name: str, country_osm_id: str | None = None, exist_ok: bool = False
) -> tuple[Workspace, str]:
    """Create a workspace (optionally scoped to a country) and its first API token.

    Raises
    ------
    InvalidQuery
        The name is empty, or taken (unless ``exist_ok``: then a new token
        for the existing workspace is returned).
    BoundaryNotFound
        No imported country has that osm_id.
    """
    name = name.strip()
    if not name:
        raise InvalidQuery("a workspace needs a name")
    existing = Workspace.objects.filter(name=name).first()
    if existing is not None:
        if not exist_ok:
            raise InvalidQuery(f"a workspace named {name!r} already exists")
        return existing, issue_token(existing, name="issued again")
    country = None
    if country_osm_id:
        country = Boundary.objects.filter(osm_id=country_osm_id, level=Level.COUNTRY).first()
        if country is None:
            raise BoundaryNotFound(f"no imported country has osm_id {country_osm_id!r}")
    workspace = Workspace.objects.create(name=name, country=country)
    return workspace, issue_token(workspace, name="created with the workspace")


def issue_token(workspace: Workspace, *, name: str = "") -> str:
    """Create an API token for a workspace and return it (it is not stored)."""
    token = secrets.token_urlsafe(32)
    ApiToken.objects.create(
        workspace=workspace, name=name, prefix=token[:8], key_digest=token_digest(token)
    )
    return token


class _TokenCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, WorkspaceAccess | None]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> WorkspaceAccess | None:
        digest = token_digest(token)
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(digest)
        if cached is not None and now - cached[0] < TOKEN_CACHE_SECONDS:
            return cached[1]
        row = (
            ApiToken.objects.filter(key_digest=digest)
            .values_list(
                "workspace_id",
                "workspace__name",
                "workspace__country_id",
                "workspace__aliases_version",
            )
            .first()
        )
        access = WorkspaceAccess(*row) if row else None
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (now, access)
        return access

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_tokens = _TokenCache()


def find_workspace_by_token(token: str) -> WorkspaceAccess | None:
    """Return the workspace a token opens, or None; answers from a short per-process cache."""
    if not token:
        return None
    return _tokens.get(token)


def forget_cached_tokens() -> None:
    """Drop this process's token cache (after revoking a token, and in tests)."""
    _tokens.clear()
