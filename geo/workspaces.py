"""Workspaces and their API tokens: creation, and the token check on every request."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from geo import audit
from geo.audit import Actor
from geo.exceptions import BoundaryNotFound, Forbidden, InvalidQuery, Unauthorized
from geo.models import (
    ApiToken,
    AuditAction,
    Boundary,
    Level,
    Membership,
    OperatorToken,
    Role,
    TokenScope,
    Workspace,
)
from geo.shared_state import shared_state

logger = logging.getLogger(__name__)

# How long a worker may answer from what it cached of a token when nothing
# told it of a change. Every change made through this module, the aliases
# writer or the Django admin bumps the shared version below, which every
# worker knows on its next request (pushed to it, see geo.shared_state, or
# read from Redis while that is down): revocation is immediate everywhere; this
# only bounds a change written behind our back (raw SQL) or lost in a cache outage.
TOKEN_CACHE_SECONDS = 30.0
# The shared (Redis) key whose value changes on every change to tokens or workspaces.
AUTH_VERSION_KEY = "auth-version"
# Never reuse an old value: a fresh one after an eviction or a flush.
shared_state.watch(AUTH_VERSION_KEY, default=lambda: uuid.uuid4().hex)


@dataclass(frozen=True, slots=True)
class WorkspaceAccess:
    """What a request needs to know of its workspace, cached per process."""

    id: int
    name: str
    country_id: int | None
    aliases_version: int
    role: str = Role.VIEWER
    # Who acts: a signed-in person (user_id) or a token (token_id); for the audit log.
    actor_label: str = ""
    user_id: int | None = None
    token_id: int | None = None
    expires_at: datetime | None = None
    # The language names are shown in (``display_name``); "": the source's own name.
    name_language: str = ""

    @property
    def can_edit_aliases(self) -> bool:
        """Tell whether this access may change aliases (editors and admins)."""
        return has_role(self, Role.EDITOR)

    @property
    def actor(self) -> Actor:
        """Who this access is, as the audit log names them."""
        return Actor(self.actor_label or f"workspace {self.name}", user_id=self.user_id)


@dataclass(frozen=True, slots=True)
class OperatorAccess:
    """An operator (active staff user): runs imports, which every workspace shares."""

    user_id: int
    username: str


# Roles in increasing power: each may do what the ones before it may.
ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}
# An API token acts for an integration: a read-write one (RapidPro's alias
# editor, scripts) reads and edits aliases, a read-only one (flows) only
# reads; neither manages people or other tokens.
TOKEN_ROLES = {TokenScope.READ: Role.VIEWER, TokenScope.WRITE: Role.EDITOR}


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


# A language as boundaries' ``names`` key it: ISO 639 with an optional region or script.
LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})?")


def normalise_language(language: str) -> str:
    """Return a language code as ``names`` keys it ("pt_BR" → "pt-br"; "" is the source's).

    Raises
    ------
    InvalidQuery
        Not a language code.
    """
    code = language.strip().lower().replace("_", "-")
    if code and not LANGUAGE.fullmatch(code):
        raise InvalidQuery(
            f"language: {language[:40]!r} is not a language code (fr, en, pt-br; empty: none)"
        )
    return code


@transaction.atomic
def set_name_language(
    workspace: int | str, *, language: str, actor: Actor = audit.SYSTEM
) -> Workspace:
    """Choose the language a workspace (id or name) shows boundary names in ("": the source's).

    Every worker sees it from its next request (a workspace save invalidates
    the cached accesses). A change is written to the audit log.

    Raises
    ------
    InvalidQuery
        Not a language code, or no such workspace.
    """
    code = normalise_language(language)
    found = (
        Workspace.objects.filter(pk=workspace)
        if isinstance(workspace, int)
        else Workspace.objects.filter(name=workspace.strip())
    ).first()
    if found is None:
        raise InvalidQuery(f"no workspace {workspace!r}")
    if found.name_language == code:
        return found
    before, found.name_language = found.name_language, code
    found.save(update_fields=["name_language"])
    audit.record(
        AuditAction.LANGUAGE_SET,
        actor=actor,
        workspace_id=found.pk,
        target=found.name,
        details={"from": before, "to": code},
    )
    return found


@transaction.atomic
def create_workspace(
    *,
    name: str,
    country_osm_id: str | None = None,
    exist_ok: bool = False,
    language: str = "",
    actor: Actor = audit.SYSTEM,
) -> tuple[Workspace, str]:
    """Create a workspace (optionally scoped to a country) and its first API token.

    ``language`` is the one boundary names are shown in (``display_name``).

    Raises
    ------
    InvalidQuery
        The name is empty, or taken (unless ``exist_ok``: then a new token
        for the existing workspace is returned), or ``language`` is not a
        language code.
    BoundaryNotFound
        No imported country has that osm_id.
    """
    name = name.strip()
    language = normalise_language(language)
    if not name:
        raise InvalidQuery("a workspace needs a name")
    existing = Workspace.objects.filter(name=name).first()
    if existing is not None:
        if not exist_ok:
            raise InvalidQuery(f"a workspace named {name!r} already exists")
        return existing, issue_token(existing, name="issued again", actor=actor)
    country = None
    if country_osm_id:
        country = Boundary.objects.filter(
            osm_id=country_osm_id, level=Level.COUNTRY, retired_at=None
        ).first()
        if country is None:
            raise BoundaryNotFound(f"no imported country has osm_id {country_osm_id!r}")
    workspace = Workspace.objects.create(name=name, country=country, name_language=language)
    audit.record(
        AuditAction.WORKSPACE_CREATED,
        actor=actor,
        workspace_id=workspace.pk,
        target=name,
        details={"country": country_osm_id, "language": language},
    )
    return workspace, issue_token(workspace, name="created with the workspace", actor=actor)


@transaction.atomic
def issue_token(
    workspace: Workspace,
    *,
    name: str = "",
    scope: str = TokenScope.WRITE,
    expires_at: datetime | None = None,
    actor: Actor = audit.SYSTEM,
) -> str:
    """Create an API token for a workspace and return it (it is not stored).

    Raises
    ------
    InvalidQuery
        Unknown scope, or an expiry that is not in the future.
    """
    if scope not in TokenScope.values:
        raise InvalidQuery(f"scope: must be one of {', '.join(TokenScope.values)}")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidQuery("expires_at: must be in the future")
    token = secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        workspace=workspace,
        name=name,
        prefix=token[:8],
        key_digest=token_digest(token),
        scope=scope,
        expires_at=expires_at,
    )
    audit.record(
        AuditAction.TOKEN_ISSUED,
        actor=actor,
        workspace_id=workspace.pk,
        target=_token_label(row),
        details={
            "scope": scope,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token


def _token_label(token: ApiToken) -> str:
    return f"token {token.prefix}…" + (f" ({token.name})" if token.name else "")


def read_shared(*keys: str) -> dict[str, Any] | None:
    """Read ``keys`` and the shared version of tokens in one round trip; None when the cache is out.

    Pass the result to ``find_access_by_token(shared=...)``: a request then
    asks the shared cache once for both its rate-limit count and the version.
    """
    try:
        values: dict[str, Any] = cache.get_many([*keys, AUTH_VERSION_KEY])
    except Exception:
        logger.warning("shared cache unavailable", exc_info=True)
        return None
    return values


def _shared_version(shared: dict[str, Any] | None = None) -> str | None:
    """Return the shared version of tokens and workspaces; None when the cache is out.

    ``shared`` is what ``read_shared`` read for the request, if it did;
    without it, the version pushed to this process, if it is subscribed.
    """
    if shared is None:
        pushed = shared_state.value(AUTH_VERSION_KEY)
        if pushed is not None:
            return str(pushed)
    if shared is not None and shared.get(AUTH_VERSION_KEY) is not None:
        return str(shared[AUTH_VERSION_KEY])
    try:
        version = cache.get(AUTH_VERSION_KEY)
        if version is None:
            # Never reuse an old value: a fresh one after an eviction or a flush.
            cache.add(AUTH_VERSION_KEY, uuid.uuid4().hex, timeout=None)
            version = cache.get(AUTH_VERSION_KEY)
    except Exception:  # a cache outage costs a database query per request, never a stale answer
        logger.warning("shared cache unavailable: tokens are read from the database", exc_info=True)
        return None
    return str(version) if version is not None else None


def _bump_shared_version() -> None:
    try:
        shared_state.set(AUTH_VERSION_KEY, uuid.uuid4().hex)
    except Exception:
        logger.exception(
            "shared cache unavailable: other workers see this change within %s s",
            TOKEN_CACHE_SECONDS,
        )


def invalidate_tokens() -> None:
    """Make every worker re-read tokens and workspaces.

    This process forgets at once; the shared version changes when the
    current transaction commits (before that, other workers would only
    re-read the old rows and keep them under the new version).
    """
    _tokens.expire()
    transaction.on_commit(_bump_shared_version)


def _on_change(**_kwargs: object) -> None:
    invalidate_tokens()


def watch_token_changes() -> None:
    """Invalidate cached tokens whenever a token, workspace or person is saved or deleted.

    This catches writes that do not go through this module, such as the
    Django admin's token inline and workspace form, and a person losing staff
    status (their operator tokens stop at once).
    """
    for model in (ApiToken, Workspace, OperatorToken, get_user_model()):
        post_save.connect(_on_change, sender=model, dispatch_uid=f"invalidate-{model.__name__}")
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"invalidate-{model.__name__}-d")


@dataclass(frozen=True, slots=True)
class _Entry:
    cached_at: float
    version: str
    access: WorkspaceAccess | OperatorAccess | None
    refusal: str


class _TokenCache:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(
        self, token: str, shared: dict[str, Any] | None = None
    ) -> tuple[WorkspaceAccess | OperatorAccess | None, str]:
        digest = token_digest(token)
        # Read the version before the database: a change committed in between
        # then makes this entry stale at once rather than never.
        version = _shared_version(shared)
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(digest)
        if (
            cached is not None
            and cached.version == version
            and now - cached.cached_at < TOKEN_CACHE_SECONDS
        ):
            access, refusal = cached.access, cached.refusal
        else:
            try:
                access, refusal = _read_token(digest)
            except (OperationalError, InterfaceError):
                # Lookups answer from memory: a token seen before keeps working
                # while the database is away (revocations apply once it is back).
                # An unknown one waits for it: geo.availability answers 503 + Retry-After.
                if cached is None:
                    raise
                access, refusal = cached.access, cached.refusal
            else:
                if version is not None and refusal != "unknown token":
                    # Unknown tokens are not kept: guessing is rate-limited instead.
                    with self._lock:
                        if len(self._entries) > 10_000:
                            self._entries.clear()
                        self._entries[digest] = _Entry(now, version, access, refusal)
        expires = access.expires_at if isinstance(access, WorkspaceAccess) else None
        if expires is not None and expires <= timezone.now():
            return None, f"token expired on {expires:%Y-%m-%d %H:%M} UTC"
        return access, refusal

    def expire(self) -> None:
        # Asked again at next use, but kept: the fallback while the database is away.
        with self._lock:
            self._entries = {
                key: dataclasses.replace(entry, cached_at=float("-inf"))
                for key, entry in self._entries.items()
            }


def _read_token(digest: str) -> tuple[WorkspaceAccess | OperatorAccess | None, str]:
    row = (
        ApiToken.objects.filter(key_digest=digest)
        .values_list(
            "workspace_id",
            "workspace__name",
            "workspace__country_id",
            "workspace__aliases_version",
            "scope",
            "id",
            "prefix",
            "name",
            "expires_at",
            "revoked_at",
            "workspace__name_language",
        )
        .first()
    )
    if row is None:
        operator = _operator_token(digest)
        return (operator, "") if operator is not None else (None, "unknown token")
    (
        workspace_id,
        workspace,
        country_id,
        version,
        scope,
        token_id,
        prefix,
        name,
        expires,
        revoked,
        language,
    ) = row
    if revoked is not None:
        return None, f"token revoked on {revoked:%Y-%m-%d %H:%M} UTC"
    access = WorkspaceAccess(
        workspace_id,
        workspace,
        country_id,
        version,
        role=TOKEN_ROLES[TokenScope(scope)],
        actor_label=f"token {prefix}…" + (f" ({name})" if name else ""),
        token_id=token_id,
        expires_at=expires,
        name_language=language,
    )
    return access, ""


def _operator_token(digest: str) -> OperatorAccess | None:
    # Only active staff: taking staff status away revokes the token (user saves
    # change the shared version, see ``watch_token_changes``).
    row = (
        OperatorToken.objects.filter(key_digest=digest, user__is_staff=True, user__is_active=True)
        .values_list("user_id", "user__username")
        .first()
    )
    return OperatorAccess(*row) if row else None


_tokens = _TokenCache()


def find_access_by_token(
    token: str, *, shared: dict[str, Any] | None = None
) -> WorkspaceAccess | OperatorAccess | None:
    """Return what a token opens (a workspace, or an operator), or None for one nobody issued.

    Answers from a per-process cache that every change to tokens or
    workspaces, in any worker, invalidates at once (see ``invalidate_tokens``).
    ``shared``: what ``read_shared`` just read for this request (the shared
    version among it), so it is not read twice.

    Raises
    ------
    Unauthorized
        The token was issued but is revoked or expired (not a guess: the
        message says which).
    """
    if not token:
        return None
    access, refusal = _tokens.get(token, shared)
    if access is None and refusal != "unknown token":
        raise Unauthorized(refusal)
    return access


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
            "user__username",
            "workspace__name_language",
        )
    )
    if not rows:
        return None
    chosen = next((row for row in rows if row[0] == workspace_id), rows[0])
    workspace, name, country_id, version, role, username, language = chosen
    return WorkspaceAccess(
        workspace,
        name,
        country_id,
        version,
        role=role,
        actor_label=username,
        user_id=user_id,
        name_language=language,
    )


def workspaces_of(user_id: int) -> list[tuple[int, str, str]]:
    """Return ``(workspace id, name, role)`` of every workspace a person belongs to."""
    return list(
        Membership.objects.filter(user_id=user_id)
        .order_by("workspace__name")
        .values_list("workspace_id", "workspace__name", "role")
    )


@transaction.atomic
def add_member(
    workspace_id: int,
    *,
    username: str,
    role: str,
    password: str = "",
    actor: Actor = audit.SYSTEM,
) -> Membership:
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
    created = user is None
    if user is None:
        if not password:
            raise InvalidQuery(f"username: no account {username!r}; give a password to create it")
        user = users.objects.create_user(username=username, password=password)
    if Membership.objects.filter(user=user, workspace_id=workspace_id).exists():
        raise InvalidQuery(f"username: {username!r} is already a member")
    membership = Membership.objects.create(user=user, workspace_id=workspace_id, role=role)
    audit.record(
        AuditAction.MEMBER_ADDED,
        actor=actor,
        workspace_id=workspace_id,
        target=username,
        details={"role": role, "account_created": created},
    )
    return membership


@transaction.atomic
def ensure_admin(
    workspace_id: int, *, username: str, password: str = "", actor: Actor = audit.SYSTEM
) -> None:
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
    _, created = Membership.objects.update_or_create(
        user=user, workspace_id=workspace_id, defaults={"role": Role.ADMIN}
    )
    audit.record(
        AuditAction.MEMBER_ADDED if created else AuditAction.MEMBER_ROLE,
        actor=actor,
        workspace_id=workspace_id,
        target=username,
        details={"role": Role.ADMIN, "password_set": bool(password)},
    )


@transaction.atomic
def set_member_role(
    workspace_id: int, *, user_id: int, role: str, actor: Actor = audit.SYSTEM
) -> None:
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
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit.record(
        AuditAction.MEMBER_ROLE,
        actor=actor,
        workspace_id=workspace_id,
        target=membership.user.username,
        details={"from": before, "to": role},
    )


@transaction.atomic
def remove_member(workspace_id: int, *, user_id: int, actor: Actor = audit.SYSTEM) -> None:
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
    audit.record(
        AuditAction.MEMBER_REMOVED,
        actor=actor,
        workspace_id=workspace_id,
        target=membership.user.username,
        details={"role": membership.role},
    )


def _membership(workspace_id: int, user_id: int) -> Membership:
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
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


@transaction.atomic
def revoke_token(workspace_id: int, *, token_id: int, actor: Actor = audit.SYSTEM) -> None:
    """Revoke a workspace's token: from the commit on, no worker honours it.

    The row stays (the people page and the audit log name it).

    Raises
    ------
    InvalidQuery
        No such token in this workspace, or already revoked.
    """
    token = (
        ApiToken.objects.select_for_update()
        .filter(workspace_id=workspace_id, pk=token_id, revoked_at__isnull=True)
        .first()
    )
    if token is None:
        raise InvalidQuery("token: no such token in this workspace, or already revoked")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(
        AuditAction.TOKEN_REVOKED,
        actor=actor,
        workspace_id=workspace_id,
        target=_token_label(token),
    )
