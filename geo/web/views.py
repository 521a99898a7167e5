"""The web UI: the map page and the workspace page. Thin views over ``geo.workspaces``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from geo.api.errors import SESSION_WORKSPACE_KEY
from geo.exceptions import GeoError, InvalidQuery
from geo.importing.countries import all_countries
from geo.models import ApiToken, Boundary, Membership, Role, Workspace
from geo.workspaces import (
    WorkspaceAccess,
    access_for_user,
    add_member,
    issue_token,
    remove_member,
    require_role,
    revoke_token,
    set_member_role,
    workspaces_of,
)


def _user_id(request: HttpRequest) -> int:
    user_id = request.user.pk
    assert user_id is not None, "views call this behind login_required"
    return int(user_id)


def _access(request: HttpRequest) -> WorkspaceAccess | None:
    return access_for_user(_user_id(request), request.session.get(SESSION_WORKSPACE_KEY))


@login_required
def map_page(request: HttpRequest) -> HttpResponse:
    """Show the map: the workspace's country, drill-down, search, aliases and counts."""
    access = _access(request)
    context: dict[str, Any] = {
        "access": access,
        "workspaces": workspaces_of(_user_id(request)),
        "has_boundaries": Boundary.objects.exists(),
        "root": None,
        "basemap_url": settings.MIPAKA_BASEMAP_URL,
    }
    if access is not None and access.country_id is not None:
        context["root"] = (
            Boundary.objects.filter(pk=access.country_id).only("osm_id", "name").first()
        )
    return render(request, "geo/map.html", context)


@login_required
def imports_page(request: HttpRequest) -> HttpResponse:
    """Operators import boundaries: upload or pick countries, check the dry run, apply, watch."""
    if not request.user.is_staff:
        return render(request, "geo/forbidden.html", {"access": _access(request)}, status=403)
    context = {
        "access": _access(request),
        "workspaces": workspaces_of(_user_id(request)),
        "countries": [country for country in all_countries() if country.osm_id],
        "max_upload_bytes": settings.MIPAKA_MAX_UPLOAD_BYTES,
    }
    return render(request, "geo/imports.html", context)


@login_required
@require_POST
def switch_workspace(request: HttpRequest) -> HttpResponseRedirect:
    """Make another of the person's workspaces the current one."""
    wanted = request.POST.get("workspace", "")
    mine = {str(workspace_id) for workspace_id, _name, _role in workspaces_of(_user_id(request))}
    if wanted in mine:
        request.session[SESSION_WORKSPACE_KEY] = int(wanted)
    return redirect(request.POST.get("next") or reverse("map"))


@login_required
def people_page(request: HttpRequest) -> HttpResponse:
    """Members, roles and API tokens of the current workspace (admins change them)."""
    access = _access(request)
    if access is None:
        return redirect("map")
    new_token = None
    if request.method == "POST":
        try:
            require_role(access, Role.ADMIN)
            new_token = _people_action(request, access)
        except GeoError as exc:
            messages.error(request, exc.message)
        else:
            if new_token is None:
                return redirect("people")
    members = (
        Membership.objects.filter(workspace_id=access.id)
        .select_related("user")
        .order_by("user__username")
    )
    context = {
        "access": access,
        "workspaces": workspaces_of(_user_id(request)),
        "is_admin": access.role == Role.ADMIN,
        "members": members,
        "roles": Role.choices,
        "tokens": ApiToken.objects.filter(workspace_id=access.id).order_by("-created_at"),
        "new_token": new_token,
    }
    return render(request, "geo/people.html", context)


def _people_action(request: HttpRequest, access: WorkspaceAccess) -> str | None:
    """Apply one admin action; return a newly issued token (shown once) or None."""
    action = request.POST.get("action")
    post = request.POST
    if action == "add":
        add_member(
            access.id,
            username=post.get("username", ""),
            role=post.get("role", ""),
            password=post.get("password", ""),
        )
        messages.success(request, f"{post.get('username', '').strip()} added")
    elif action == "role":
        set_member_role(access.id, user_id=_int(post.get("user")), role=post.get("role", ""))
        messages.success(request, "role changed")
    elif action == "remove":
        remove_member(access.id, user_id=_int(post.get("user")))
        messages.success(request, "member removed")
    elif action == "issue":
        workspace = Workspace.objects.get(pk=access.id)
        return issue_token(workspace, name=post.get("name", "").strip()[:128])
    elif action == "revoke":
        revoke_token(access.id, token_id=_int(post.get("token")))
        messages.success(request, "token revoked")
    else:
        raise InvalidQuery(f"action: unknown action {action!r}")
    return None


def _int(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        raise InvalidQuery(f"expected a number, got {raw!r}") from None
