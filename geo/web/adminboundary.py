"""RapidPro's ``/adminboundary/`` endpoints with their JSON shapes, for its alias editor.

Same bodies as ``temba/locations/views.py`` (``BoundaryCRUDL``), fixed where
RapidPro is wrong: every read and write is scoped to the workspace's country
(RapidPro serves any boundary and searches aliases across countries), a
session POST must carry the CSRF token (RapidPro exempts the view), bad input
gets a 400 naming the field instead of an ``assert`` 500, and the reply is the
boundary as stored rather than the request echoed back.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, JsonResponse

from geo.aliases import set_aliases
from geo.api import params
from geo.api.errors import api_endpoint
from geo.exceptions import InvalidQuery
from geo.lookup.boundaries import (
    aliases_of,
    boundaries_in_scope,
    children_collection,
    get_boundary,
    named_like,
)
from geo.models import Boundary, Role, Workspace
from geo.workspaces import WorkspaceAccess, require_role

PAGE_SIZE = 25


def rapidpro_error(status: int, code: str, message: str) -> HttpResponse:
    """RapidPro's error body, ``{"status": "error", "description"}``, plus our ``code``."""
    return JsonResponse({"status": "error", "code": code, "description": message}, status=status)


@api_endpoint("GET", errors=rapidpro_error)
def geometry(request: HttpRequest, access: WorkspaceAccess, osm_id: str) -> dict[str, Any]:
    """``{"name", "geometry": FeatureCollection}`` of a boundary's children (or itself)."""
    collection = children_collection(access, osm_id, band=params.band(request.GET))
    features = []
    for feature in collection["features"]:
        props = feature["properties"]
        features.append(
            {
                "type": "Feature",
                "zoomable": props["has_children"],
                "geometry": feature["geometry"],
                "properties": {
                    "name": props["name"],
                    "osm_id": props["osm_id"],
                    "level": props["level"],
                    "path": props["path"],
                },
            }
        )
    return {
        "name": collection["name"],
        "geometry": {"type": "FeatureCollection", "features": features},
    }


@api_endpoint("GET", "POST", errors=rapidpro_error)
def boundaries(request: HttpRequest, access: WorkspaceAccess, osm_id: str) -> Any:
    """GET: the chain from the country to this boundary with children, or ``?q=`` search.

    POST ``{"osm_id", "aliases"}`` (one alias per line): replace that boundary's aliases.
    """
    if request.method == "POST":
        return _set_aliases(request, access)
    boundary = get_boundary(access, osm_id)
    query = params.text(request.GET, "q", max_length=255)
    if query:
        page = params.integer(request.GET, "page", low=0, high=1_000_000, default=0)
        assert page is not None
        return _search(access, boundary, query, page)
    chain = [boundary]
    while chain[0].parent_id is not None:
        chain.insert(0, Boundary.objects.select_related("parent").get(pk=chain[0].parent_id))
    with_kids = Exists(Boundary.objects.filter(parent_id=OuterRef("pk"), retired_at=None))
    children = list(
        Boundary.objects.filter(parent_id__in=[b.pk for b in chain], retired_at=None)
        .select_related("parent")
        .annotate(has_kids=with_kids)
        .order_by("name", "osm_id")
    )
    aliases = aliases_of(access, [b.pk for b in chain] + [c.pk for c in children])
    items = []
    for item in chain:
        kids = [c for c in children if c.parent_id == item.pk]
        items.append(
            _as_json(item, aliases[item.pk])
            | {
                "has_children": bool(kids),
                "children": [
                    _as_json(c, aliases[c.pk]) | {"has_children": c.has_kids} for c in kids
                ],
            }
        )
    return items


def _search(
    access: WorkspaceAccess, boundary: Boundary, query: str, page: int
) -> list[dict[str, Any]]:
    # Below this boundary by path (RapidPro used the name, so a search started
    # below the country found nothing by name); aliases of this workspace only.
    below = boundaries_in_scope(access).filter(path__startswith=f"{boundary.path} > ")
    found = list(
        named_like(below, access, query)
        .select_related("parent")
        .order_by("name", "osm_id")[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    )
    aliases = aliases_of(access, [b.pk for b in found])
    return [_as_json(b, aliases[b.pk]) for b in found]


def _set_aliases(request: HttpRequest, access: WorkspaceAccess) -> dict[str, Any]:
    require_role(access, Role.EDITOR)
    # RapidPro's editor posts the whole boundary (name, level, children…): read two fields.
    body = params.json_body(request, fields=None)
    target = body.get("osm_id")
    if not isinstance(target, str) or not target.strip():
        raise InvalidQuery("osm_id: required, the boundary whose aliases to set")
    raw = body.get("aliases", "")
    if not isinstance(raw, str):
        raise InvalidQuery("aliases: must be a string, one alias per line")
    workspace = Workspace.objects.get(pk=access.id)
    set_aliases(
        workspace=workspace, osm_id=target.strip(), aliases=raw.split("\n"), actor=access.actor
    )
    boundary = get_boundary(access, target.strip())
    return _as_json(boundary, aliases_of(access, [boundary.pk])[boundary.pk])


def _as_json(boundary: Boundary, aliases: list[str]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "osm_id": boundary.osm_id,
        "name": boundary.name,
        "level": boundary.level,
        "aliases": "\n".join(aliases),
        "path": boundary.path,
    }
    if boundary.parent is not None:
        item["parent_osm_id"] = boundary.parent.osm_id
    return item
