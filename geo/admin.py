"""The Django admin for operators: workspaces, people, tokens, aliases and imports."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from geo.importing.load import settle_abandoned_runs
from geo.models import (
    ApiToken,
    AuditEvent,
    Boundary,
    BoundaryAlias,
    BoundaryChange,
    BoundaryLink,
    BoundaryVersion,
    ImportJob,
    ImportRun,
    Membership,
    OperatorToken,
    Workspace,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


class TokenInline(admin.TabularInline):
    """Tokens are issued on the workspace page or by ``create_workspace``: only the digest is stored."""

    model = ApiToken
    extra = 0
    fields = ["prefix", "name", "scope", "created_at", "expires_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never added or edited here: rows written by the import, the aliases writer or the API."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AppendOnlyAdmin(ReadOnlyAdmin):
    """Read-only, and never deleted here either (boundaries go through an import; the log stays)."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "country", "created_at"]
    search_fields = ["name"]
    raw_id_fields = ["country"]
    inlines = [MembershipInline, TokenInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role"]
    list_filter = ["role", "workspace"]
    autocomplete_fields = ["user"]


@admin.register(Boundary)
class BoundaryAdmin(AppendOnlyAdmin):
    """Read-only: boundaries change only through an import, which keeps the diff and the hierarchy whole."""

    list_display = ["osm_id", "name", "level", "path", "area_km2", "vertex_count", "retired_at"]
    # Retired boundaries stay listed here (an operator looks them up), marked
    # by their retired_at; "Empty" under it shows the current ones.
    list_filter = ["level", ("retired_at", admin.EmptyFieldListFilter)]
    search_fields = ["osm_id", "name", "name_en", "path"]
    fields = readonly_fields = (
        "osm_id", "name", "name_en", "level", "path", "parent", "country", "area_km2",
        "vertex_count", "geometry_source", "last_import", "valid_from", "retired_at", "retired_by",
    )  # fmt: skip


@admin.register(BoundaryChange)
class BoundaryChangeAdmin(AppendOnlyAdmin):
    """The change log, written by imports only (``/api/v1/changes`` reads it)."""

    list_display = ["created_at", "import_run", "kind", "osm_id", "path"]
    list_filter = ["kind"]
    search_fields = ["osm_id", "path"]
    raw_id_fields = ["boundary", "import_run"]


@admin.register(BoundaryVersion)
class BoundaryVersionAdmin(AppendOnlyAdmin):
    """Earlier states of boundaries, written by the import that changed them."""

    list_display = ["osm_id", "path", "valid_from", "valid_to", "ended_by"]
    search_fields = ["osm_id", "name", "path"]
    exclude = ["geometry", "simplified_geometry"]
    raw_id_fields = ["boundary", "parent", "ended_by"]


@admin.register(BoundaryLink)
class BoundaryLinkAdmin(AppendOnlyAdmin):
    """Successions (split, merged, renamed…), written by the import that made them."""

    list_display = ["predecessor", "kind", "successor", "share", "import_run"]
    list_filter = ["kind"]
    raw_id_fields = ["predecessor", "successor", "import_run"]


@admin.register(BoundaryAlias)
class BoundaryAliasAdmin(ReadOnlyAdmin):
    """Read-only here: aliases are written by ``geo.aliases`` (sibling checks, index versions)."""

    list_display = ["name", "boundary", "workspace", "created_at"]
    list_filter = ["workspace"]
    search_fields = ["name", "boundary__name"]


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "status", "started_at", "finished_at"]
    list_filter = ["status"]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """List the runs, a killed one shown abandoned (not running) from the moment it died."""
        settle_abandoned_runs()
        return super().changelist_view(request, extra_context)


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    """Read-only: jobs are queued through the API, which stores the upload and sends the job."""

    list_display = ["pk", "kind", "dry_run", "status", "attempts", "requested_by", "created_at"]
    list_filter = ["status", "kind"]
    exclude = ["upload"]
    readonly_fields = ["import_run", "applies", "requested_by"]


@admin.register(OperatorToken)
class OperatorTokenAdmin(admin.ModelAdmin):
    """Issued by ``create_operator`` (only the digest is stored); revoke one by deleting it."""

    list_display = ["prefix", "user", "name", "created_at"]
    fields = readonly_fields = ("prefix", "user", "name", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(AppendOnlyAdmin):
    """Read-only: the log is written by ``geo.audit`` and never changed, not even by operators."""

    list_display = ["created_at", "workspace_name", "actor", "action", "target"]
    list_filter = ["action", "workspace"]
    search_fields = ["actor", "target", "workspace_name"]
    date_hierarchy = "created_at"
