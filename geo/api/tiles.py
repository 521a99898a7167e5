"""Vector tiles over HTTP: cacheable, and invalidated by every import."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from geo.api.errors import api_endpoint
from geo.exceptions import BoundaryNotFound
from geo.lookup.snapshot import lookup_data
from geo.lookup.tiles import cached_tile, tile_in_range
from geo.workspaces import WorkspaceAccess

MVT_CONTENT_TYPE = "application/vnd.mapbox-vector-tile"
# Tiles hold a workspace's view, so shared caches must not keep them.
CACHE_CONTROL = "private, max-age=300"


@api_endpoint("GET")
def tile(request: HttpRequest, access: WorkspaceAccess, z: int, x: int, y: int) -> HttpResponse:
    """One MVT tile; ``ETag`` names the data version, so a new import changes it."""
    if not tile_in_range(z, x, y):
        # Not a malformed request: a tile that does not exist, as tile servers answer.
        raise BoundaryNotFound(
            f"tile: {z}/{x}/{y} is outside the tile pyramid (0 <= x, y < 2**z, z <= 22)"
        )
    version = lookup_data.hierarchy().version
    etag = f'"{version}-{access.country_id or 0}-{z}-{x}-{y}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(
            cached_tile(z, x, y, country_id=access.country_id, version=version),
            content_type=MVT_CONTENT_TYPE,
        )
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    response["Vary"] = "Authorization, Cookie"
    return response
