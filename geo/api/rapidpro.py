"""RapidPro-compatible endpoints, so a RapidPro deployment or U-Report can point at Mipaka.

Shapes follow RapidPro's API v2 ``boundaries.json`` (cursor paging by
osm_id, 250 a page, the simplified geometry always included, as current
RapidPro does; older clients' ``?geometry=true`` is accepted, and
``?geometry=false`` leaves it out) and the internal ``locations.json`` used by
its contact-field editor.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from geo.api import params
from geo.api.errors import api_endpoint
from geo.exceptions import InvalidQuery
from geo.lookup.boundaries import aliases_of, boundaries_in_scope, geometries_geojson
from geo.models import Boundary
from geo.workspaces import WorkspaceAccess

PAGE_SIZE = 250
LEVELS = {"state": 1, "district": 2, "ward": 3}


def encode_cursor(value: str) -> str:
    """Make an opaque cursor from the last key of a page."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """Read a cursor back; one that is not base64url is a 400 naming the parameter.

    Any base64url text is a position (the page after it), so a cursor this
    API did not give out still pages from somewhere; bytes that are not UTF-8
    are replaced, and NUL, which no key holds, dropped.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidQuery("cursor: not a cursor this API gave out") from None
    return raw.decode("utf-8", errors="replace").replace("\x00", "")


def _next_url(request: HttpRequest, last: str) -> str:
    query = request.GET.copy()
    query["cursor"] = encode_cursor(last)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _page(
    request: HttpRequest, queryset: QuerySet[Boundary], *, key: str
) -> tuple[list[Boundary], str | None]:
    cursor = params.text(request.GET, "cursor")
    if cursor is not None:
        queryset = queryset.filter(**{f"{key}__gt": decode_cursor(cursor)})
    rows = list(queryset.order_by(key)[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, _next_url(request, getattr(rows[-1], key)) if more else None


@api_endpoint("GET")
def boundaries(request: HttpRequest, access: WorkspaceAccess) -> dict[str, Any]:
    """RapidPro API v2: the workspace's boundaries with aliases and geometry."""
    with_geometry = params.boolean(request.GET, "geometry", default=True)
    rows, next_url = _page(
        request, boundaries_in_scope(access).select_related("parent"), key="osm_id"
    )
    aliases = aliases_of(access, [b.pk for b in rows])
    geometries = (
        geometries_geojson([b.pk for b in rows], kind="simplified") if with_geometry else {}
    )
    return {
        "next": next_url,
        "previous": None,
        "results": [
            {
                "osm_id": b.osm_id,
                "name": b.name,
                "parent": {"osm_id": b.parent.osm_id, "name": b.parent.name} if b.parent else None,
                "level": b.level,
                "aliases": aliases[b.pk],
                "geometry": geometries.get(b.pk),
                # Beyond RapidPro's fields (its clients read only those they know).
                "codes": dict(sorted(b.codes.items())),
            }
            for b in rows
        ],
    }


@api_endpoint("GET")
def locations(request: HttpRequest, access: WorkspaceAccess) -> dict[str, Any]:
    """RapidPro's internal locations list: ``level=state|district|ward``, ``query`` in the path.

    As in RapidPro, a missing or unknown level gives an empty list.
    """
    # Every parameter is checked, whatever the level: bad input is a 400 either way.
    cursor = params.text(request.GET, "cursor")
    if cursor is not None:
        decode_cursor(cursor)
    query = params.text(request.GET, "query", max_length=255)
    level = LEVELS.get(params.text(request.GET, "level") or "")
    if level is None:
        return {"next": None, "previous": None, "results": []}
    queryset = boundaries_in_scope(access).filter(level=level).only("osm_id", "name", "path")
    if query:
        queryset = queryset.filter(path__icontains=query)
    rows, next_url = _page(request, queryset, key="path")
    return {
        "next": next_url,
        "previous": None,
        "results": [{"osm_id": b.osm_id, "name": b.name, "path": b.path} for b in rows],
    }
