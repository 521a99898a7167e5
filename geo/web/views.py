"""The web UI: the map page and the workspace page. Thin views over ``geo.workspaces``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from geo import audit, ratelimit
from geo.api.errors import SESSION_WORKSPACE_KEY
from geo.exceptions import GeoError, InvalidQuery, RateLimited
from geo.importing.countries import all_countries
from geo.lookup.hierarchy import display_name
from geo.lookup.tables import MAX_TABLE_BYTES, read_table, resolve_table
from geo.models import ApiToken, Boundary, Membership, Role, TokenScope, Workspace
from geo.workspaces import (
    WorkspaceAccess,
    access_for_user,
    add_member,
    issue_token,
    remove_member,
    require_role,
    revoke_token,
    set_member_role,
    set_name_language,
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
        "has_boundaries": Boundary.objects.filter(retired_at=None).exists(),
        "root": None,
        "basemap_url": settings.MIPAKA_BASEMAP_URL,
    }
    if access is not None and access.country_id is not None:
        root = (
            Boundary.objects.filter(pk=access.country_id)
            .only("osm_id", "name", "name_en", "names")
            .first()
        )
        context["root"] = root
        if root is not None:
            context["root_name"] = display_name(
                access.name_language, name=root.name, name_en=root.name_en, names=root.names
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


# Levels a person may limit the reading of values to on the resolve page.
RESOLVE_LEVELS = [("", "any level"), ("0", "countries"), ("1", "states"), ("2", "districts"),
                  ("3", "wards")]  # fmt: skip


@login_required
def resolve_page(request: HttpRequest) -> HttpResponse:
    """Upload a CSV of stored locations; download it with what each means today."""
    access = _access(request)
    if access is None:
        return redirect("map")
    context: dict[str, Any] = {
        "access": access,
        "workspaces": workspaces_of(_user_id(request)),
        "max_bytes": MAX_TABLE_BYTES,
        "levels": RESOLVE_LEVELS,
        "error": None,
    }
    if request.method != "POST":
        return render(request, "geo/resolve.html", context)
    try:
        return _resolved_csv(request, access)
    except GeoError as exc:
        context["error"] = exc.message
        return render(request, "geo/resolve.html", context, status=400)


def _resolved_csv(request: HttpRequest, access: WorkspaceAccess) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None:
        raise InvalidQuery("file: choose a CSV file")
    if upload.size is not None and upload.size > MAX_TABLE_BYTES:
        raise InvalidQuery(f"file: larger than the limit of {MAX_TABLE_BYTES:,} bytes")
    column = request.POST.get("column", "")
    level = request.POST.get("level", "")
    if level not in {value for value, _label in RESOLVE_LEVELS}:
        raise InvalidQuery("level: must be 0, 1, 2, 3 or empty")
    table = read_table(upload.read(MAX_TABLE_BYTES + 1), name=upload.name or "file")
    if not column:
        raise InvalidQuery(
            f"column: pick the column holding the stored values"
            f" ({', '.join(map(repr, table.header))})"
        )
    body = resolve_table(
        table, column=column, workspace=access, level=int(level) if level else None
    )
    stem = (upload.name or "values").rsplit(".", 1)[0] or "values"
    response = HttpResponse(body.encode("utf-8"), content_type="text/csv; charset=utf-8")
    filename = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:100]
    response["Content-Disposition"] = f'attachment; filename="{filename}-resolved.csv"'
    return response


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
        "tokens": ApiToken.objects.filter(workspace_id=access.id).order_by(
            "revoked_at", "-created_at"
        ),
        "scopes": TokenScope.choices,
        "expiry_days": TOKEN_EXPIRY_DAYS,
        "now": timezone.now(),
        "new_token": new_token,
        "events": audit.events_of(access.id) if access.role == Role.ADMIN else [],
    }
    return render(request, "geo/people.html", context)


# The expiries offered on the people page, in days ("" never expires).
TOKEN_EXPIRY_DAYS = [("", "never"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days"),
                     ("365", "1 year")]  # fmt: skip


def _people_action(request: HttpRequest, access: WorkspaceAccess) -> str | None:
    """Apply one admin action; return a newly issued token (shown once) or None."""
    action = request.POST.get("action")
    post = request.POST
    actor = access.actor
    if action == "add":
        add_member(
            access.id,
            username=post.get("username", ""),
            role=post.get("role", ""),
            password=post.get("password", ""),
            actor=actor,
        )
        messages.success(request, f"{post.get('username', '').strip()} added")
    elif action == "role":
        set_member_role(
            access.id, user_id=_int(post.get("user")), role=post.get("role", ""), actor=actor
        )
        messages.success(request, "role changed")
    elif action == "remove":
        remove_member(access.id, user_id=_int(post.get("user")), actor=actor)
        messages.success(request, "member removed")
    elif action == "issue":
        workspace = Workspace.objects.get(pk=access.id)
        days = post.get("expires_in_days", "")
        if days not in {value for value, _label in TOKEN_EXPIRY_DAYS}:
            raise InvalidQuery(
                f"expires_in_days: must be one of 7, 30, 90, 365 or empty, not {days!r}"
            )
        return issue_token(
            workspace,
            name=post.get("name", "").strip()[:128],
            scope=post.get("scope", TokenScope.READ),
            expires_at=timezone.now() + timedelta(days=int(days)) if days else None,
            actor=actor,
        )
    elif action == "language":
        workspace = set_name_language(access.id, language=post.get("language", ""), actor=actor)
        messages.success(
            request,
            f"names shown in {workspace.name_language}"
            if workspace.name_language
            else "names shown in the sources' own spelling",
        )
    elif action == "revoke":
        revoke_token(access.id, token_id=_int(post.get("token")), actor=actor)
        messages.success(request, "token revoked")
    else:
        raise InvalidQuery(f"action: unknown action {action!r}")
    return None


def _int(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        raise InvalidQuery(f"expected a number, got {raw!r}") from None


class SignInView(auth_views.LoginView):
    """Django's sign-in, with failed attempts counted per address in the shared cache.

    Past ``MIPAKA_SIGN_IN_LIMIT`` failures the address is answered 429 with
    ``Retry-After`` and the form says when to try again, whatever the
    password: a guess can no longer be checked.
    """

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Refuse a limited address before the password is checked."""
        try:
            ratelimit.check(ratelimit.sign_in_limit(), ratelimit.client_ip(request))
        except RateLimited as exc:
            # An unbound form: binding it would check the password.
            form = self.get_form_class()(request)
            response = self.render_to_response(
                self.get_context_data(form=form, rate_limited=exc.message), status=429
            )
            response["Retry-After"] = str(exc.retry_after)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        """Count a failed attempt."""
        ratelimit.record_failure(ratelimit.sign_in_limit(), ratelimit.client_ip(self.request))
        return super().form_invalid(form)
