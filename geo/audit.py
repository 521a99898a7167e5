"""The audit log: who did what, when, in which workspace. The only writer of ``AuditEvent``.

Writers of aliases, people, tokens and imports call :func:`record` inside
their own transaction, so an event exists exactly when its change does.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from geo.models import AuditAction, AuditEvent, Workspace


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a person (``user_id``), a token, or an operator's command."""

    label: str
    user_id: int | None = None


SYSTEM = Actor("system")


def command_line(command: str) -> Actor:
    """Name the operator running a management command: login, host and command."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        login = "unknown"
    return Actor(f"{login}@{socket.gethostname()} ({command})")


def record(
    action: AuditAction,
    *,
    actor: Actor,
    workspace_id: int | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event."""
    workspace_name = ""
    if workspace_id is not None:
        workspace_name = (
            Workspace.objects.filter(pk=workspace_id).values_list("name", flat=True).first() or ""
        )
    return AuditEvent.objects.create(
        workspace_id=workspace_id,
        workspace_name=workspace_name,
        user_id=actor.user_id,
        actor=actor.label[:255],
        action=action,
        target=target[:255],
        details=details or {},
    )


def events_of(workspace_id: int, *, limit: int = 200) -> QuerySet[AuditEvent]:
    """Return a workspace's latest events, and the imports (they change every workspace's map)."""
    mine = Q(workspace_id=workspace_id) | Q(workspace__isnull=True, action=AuditAction.IMPORT)
    return AuditEvent.objects.filter(mine).order_by("-created_at", "-id")[:limit]
