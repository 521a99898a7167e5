"""Workspaces and their API tokens: creation, and the token check on every request."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, transaction

from geo.exceptions import BoundaryNotFound, Forbidden, InvalidQuery
from geo.models import ApiToken, Boundary, Level, Membership, OperatorToken, Role, Workspace

# How long a worker trusts what it knows of a token (revocation delay).
TOKEN_CACHE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class WorkspaceAccess:
    """What a request needs to know of its workspace, cached per process."""

    id: int
    name: str
    country_id: int | None
    aliases_version: int
    role: str = Role.VIEWER

    @property
    def can_edit_aliases(self) -> bool:
        """Tell whether this access may change aliases (editors and admins)."""
        return has_role(self, Role.EDITOR)


@dataclass(frozen=True, slots=True)
class OperatorAccess:
    """An operator (active staff user): runs imports, which every workspace shares."""

    user_id: int
    username: str


# Roles in increasing power: each may do what the ones before it may.
ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}
# An API token acts for an integration (RapidPro's alias editor, scripts): it
# reads and edits aliases, but cannot manage people or other tokens.
TOKEN_ROLE = Role.EDITOR


def has_role(access: WorkspaceAccess, role: Role) -> bool:
    """Tell whether the access's role is ``role`` or a stronger one."""
    return ROLE_RANK[Role(access.role)] >= ROLE_RANK[role]


def require_role(access: WorkspaceAccess, role: Role) -> None:
    """Refuse an action that needs ``role`` (or a stronger one).

    Raises
    ------
    Forbidden
        The access's role is weaker.
    """
    if not has_role(access, role):
        raise Forbidden(f"this needs the {role} role in {access.name}; you are a {access.role}")


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
        self._entries: dict[str, tuple[float, WorkspaceAccess | OperatorAccess | None]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> WorkspaceAccess | OperatorAccess | None:
        digest = token_digest(token)
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(digest)
        if cached is not None and now - cached[0] < TOKEN_CACHE_SECONDS:
            return cached[1]
        try:
            access = _workspace_token(digest) or _operator_token(digest)
        except (OperationalError, InterfaceError):
            # Lookups answer from memory: a token seen before keeps working
            # while the database is away (revocations apply once it is back).
            # An unknown one waits for it: geo.availability answers 503 + Retry-After.
            if cached is not None:
                return cached[1]
            raise
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (now, access)
        return access

    def expire(self) -> None:
        # Asked again at next use, but kept: the fallback while the database is away.
        with self._lock:
            self._entries = {key: (float("-inf"), entry[1]) for key, entry in self._entries.items()}


def _workspace_token(digest: str) -> WorkspaceAccess | None:
    row = (
        ApiToken.objects.filter(key_digest=digest)
        .values_list(
            "workspace_id", "workspace__name", "workspace__country_id", "workspace__aliases_version"
        )
        .first()
    )
    return WorkspaceAccess(*row, role=TOKEN_ROLE) if row else None


def _operator_token(digest: str) -> OperatorAccess | None:
    # Checked on every (uncached) use: taking staff status away revokes the token.
    row = (
        OperatorToken.objects.filter(key_digest=digest, user__is_staff=True, user__is_active=True)
        .values_list("user_id", "user__username")
        .first()
    )
    return OperatorAccess(*row) if row else None


_tokens = _TokenCache()


def find_access_by_token(token: str) -> WorkspaceAccess | OperatorAccess | None:
    """Return what a token opens (a workspace, or an operator), or None.

    Answers from a short per-process cache.
    """
    if not token:
        return None
    return _tokens.get(token)


def find_workspace_by_token(token: str) -> WorkspaceAccess | None:
    """Return the workspace a token opens, or None (also for an operator token)."""
    access = find_access_by_token(token)
    return access if isinstance(access, WorkspaceAccess) else None


def forget_cached_tokens() -> None:
    """Make this process ask the database again for every token (after an alias edit, a revoked token).

    What it knew is kept only to answer while the database cannot be reached
    (a failover right after an alias edit must not turn lookups into 503s).
    """
    _tokens.expire()


def operator_access(user_id: int) -> OperatorAccess | None:
    """Return a signed-in person's operator access, or None if they are not active staff."""
    row = (
        get_user_model()
        .objects.filter(pk=user_id, is_staff=True, is_active=True)
        .values_list("pk", "username")
        .first()
    )
    return OperatorAccess(*row) if row else None


@transaction.atomic
def create_operator(*, username: str, password: str = "") -> tuple[OperatorAccess, str]:
    """Make a person an operator (staff) and issue them an operator token.

    A new account gets ``password``, or an unusable one (then it signs in
    only through the token); an existing account keeps its password unless
    one is given, and becomes staff.

    Raises
    ------
    InvalidQuery
        The username is empty.
    """
    username = username.strip()
    if not username:
        raise InvalidQuery("username: required")
    users = get_user_model()
    user = users.objects.filter(username=username).first()
    if user is None:
        user = users(username=username)
    if password:
        user.set_password(password)
    elif not user.pk:
        user.set_unusable_password()
    user.is_staff = True
    user.is_active = True
    user.save()
    token = secrets.token_urlsafe(32)
    OperatorToken.objects.create(
        user=user, name="create_operator", prefix=token[:8], key_digest=token_digest(token)
    )
    return OperatorAccess(user.pk, user.username), token


def access_for_user(user_id: int, workspace_id: int | None = None) -> WorkspaceAccess | None:
    """Return a signed-in person's access to a workspace they belong to.

    ``workspace_id`` picks one of their workspaces; without it (or when it is
    not theirs) the first by name. None when they belong to none.
    """
    rows = list(
        Membership.objects.filter(user_id=user_id)
        .order_by("workspace__name")
        .values_list(
            "workspace_id",
            "workspace__name",
            "workspace__country_id",
            "workspace__aliases_version",
            "role",
        )
    )
    if not rows:
        return None
    chosen = next((row for row in rows if row[0] == workspace_id), rows[0])
    return WorkspaceAccess(*chosen)


def workspaces_of(user_id: int) -> list[tuple[int, str, str]]:
    """Return ``(workspace id, name, role)`` of every workspace a person belongs to."""
    return list(
        Membership.objects.filter(user_id=user_id)
        .order_by("workspace__name")
        .values_list("workspace_id", "workspace__name", "role")
    )


@transaction.atomic
def add_member(workspace_id: int, *, username: str, role: str, password: str = "") -> Membership:
    """Give a person a role in a workspace; create their account when a password is given.

    Raises
    ------
    InvalidQuery
        Unknown role, unknown person without a password, or already a member.
    """
    username = username.strip()
    if role not in Role.values:
        raise InvalidQuery(f"role: must be one of {', '.join(Role.values)}")
    if not username:
        raise InvalidQuery("username: required")
    users = get_user_model()
    user = users.objects.filter(username=username).first()
    if user is None:
        if not password:
            raise InvalidQuery(f"username: no account {username!r}; give a password to create it")
        user = users.objects.create_user(username=username, password=password)
    if Membership.objects.filter(user=user, workspace_id=workspace_id).exists():
        raise InvalidQuery(f"username: {username!r} is already a member")
    return Membership.objects.create(user=user, workspace_id=workspace_id, role=role)


@transaction.atomic
def ensure_admin(workspace_id: int, *, username: str, password: str = "") -> None:
    """Make a person an admin of a workspace, creating the account (or resetting its password).

    Raises
    ------
    InvalidQuery
        No such account and no password to create it with.
    """
    users = get_user_model()
    user = users.objects.filter(username=username).first()
    if user is None:
        if not password:
            raise InvalidQuery(
                f"admin: no account {username!r}; set MIPAKA_ADMIN_PASSWORD to create it"
            )
        user = users.objects.create_user(username=username, password=password)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    Membership.objects.update_or_create(
        user=user, workspace_id=workspace_id, defaults={"role": Role.ADMIN}
    )


@transaction.atomic
def set_member_role(workspace_id: int, *, user_id: int, role: str) -> None:
    """Change a member's role; a workspace always keeps at least one admin.

    Raises
    ------
    InvalidQuery
        Unknown role or member, or the change would leave no admin.
    """
    if role not in Role.values:
        raise InvalidQuery(f"role: must be one of {', '.join(Role.values)}")
    membership = _membership(workspace_id, user_id)
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _keep_an_admin(workspace_id)
    membership.role = role
    membership.save(update_fields=["role"])


@transaction.atomic
def remove_member(workspace_id: int, *, user_id: int) -> None:
    """Take a person out of a workspace (their account stays); never the last admin.

    Raises
    ------
    InvalidQuery
        Unknown member, or the last admin.
    """
    membership = _membership(workspace_id, user_id)
    if membership.role == Role.ADMIN:
        _keep_an_admin(workspace_id)
    membership.delete()


def _membership(workspace_id: int, user_id: int) -> Membership:
    membership = (
        Membership.objects.select_for_update()
        .filter(workspace_id=workspace_id, user_id=user_id)
        .first()
    )
    if membership is None:
        raise InvalidQuery("member: not a member of this workspace")
    return membership


def _keep_an_admin(workspace_id: int) -> None:
    admins = Membership.objects.select_for_update().filter(
        workspace_id=workspace_id, role=Role.ADMIN
    )
    if len(admins) <= 1:
        raise InvalidQuery("role: a workspace keeps at least one admin")


def revoke_token(workspace_id: int, *, token_id: int) -> None:
    """Delete a workspace's token; every worker stops honouring it within seconds.

    Raises
    ------
    InvalidQuery
        No such token in this workspace.
    """
    deleted, _ = ApiToken.objects.filter(workspace_id=workspace_id, pk=token_id).delete()
    if not deleted:
        raise InvalidQuery("token: no such token in this workspace")
    forget_cached_tokens()
