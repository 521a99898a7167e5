"""Mapbox Vector Tiles, built by PostGIS from the zoom-band shapes. Read-only."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connection
from redis.exceptions import RedisError

from geo.bands import FULL_RESOLUTION_BAND, band_for_zoom
from geo.models import Level

logger = logging.getLogger(__name__)

MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64
LAYERS = {
    Level.COUNTRY: "country",
    Level.STATE: "state",
    Level.DISTRICT: "district",
    Level.WARD: "ward",
}

# The first zoom at which a level's layer has features: below it a level's
# boundaries are a few pixels across, and would fill the tile with lines no one
# can tell apart (as OpenMapTiles does for admin levels).
MIN_ZOOM = {
    Level.COUNTRY: 0,
    Level.STATE: 4,
    Level.DISTRICT: 6,
    Level.WARD: 8,
}


# Half the width of the Web Mercator square, in metres.
MERCATOR_HALF_WORLD = 20037508.342789244


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Return the tile's (west, south, east, north) in Web Mercator metres, as ST_TileEnvelope."""
    size = 2 * MERCATOR_HALF_WORLD / 2**z
    west = -MERCATOR_HALF_WORLD + x * size
    north = MERCATOR_HALF_WORLD - y * size
    return west, north - size, west + size, north


def tile_in_range(z: int, x: int, y: int) -> bool:
    """Tell whether (z, x, y) names a tile of the Web Mercator pyramid."""
    return 0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z


def render_tile(
    z: int, x: int, y: int, *, country_id: int | None = None, band: int | None = None
) -> bytes:
    """Return the tile's MVT bytes: one layer per level, properties osm_id, name, level, path.

    A level's layer starts at its ``MIN_ZOOM`` (states from z4, districts
    from z6, wards from z8).

    Geometry comes from the band for ``z``, so a tile of a large area never
    carries full-resolution coastlines, and neighbours share their edges in
    it; past the last band, full resolution clipped to the tile.
    Empty tiles are empty bytes (a valid MVT). ``band`` overrides the zoom's
    band (benchmarks compare with ``FULL_RESOLUTION_BAND`` at every zoom).
    """
    layers = ", ".join(
        f"ST_AsMVT(t, '{name}', {EXTENT}, 'geom') FILTER (WHERE t.level = {int(level)})"
        for level, name in LAYERS.items()
    )
    scope = "AND b.country_id = %(country)s" if country_id is not None else ""
    scope += " AND b.level = ANY(%(levels)s)"
    band = band_for_zoom(z) if band is None else band
    # The tile's box goes into the SQL as numbers, not a CTE: then the planner
    # sees how much of the world it covers (a z0 tile: every shape, so start
    # from the few boundaries of the levels shown; a z10 tile: a few shapes,
    # so start from the spatial index). The rows are picked first
    # (MATERIALIZED), or ST_AsMVTGeom could run before the level filter.
    west, south, east, north = tile_bounds(z, x, y)
    box = f"ST_MakeEnvelope({west!r}, {south!r}, {east!r}, {north!r}, 3857)"
    if band == FULL_RESOLUTION_BAND:
        margin = BUFFER * (east - west) / EXTENT
        box4326 = f"ST_Transform(ST_Expand({box}, {margin!r}), 4326)"
        # Clip in degrees first (linear, cheap), then project only what the tile shows.
        picked = f"""
            SELECT b.osm_id, b.name, b.level, b.path,
                   ST_Transform(ST_ClipByBox2D(b.geometry, {box4326}), 3857) AS shape
            FROM geo_boundary b
            WHERE b.geometry && {box4326} {scope}
        """
    else:
        picked = f"""
            SELECT b.osm_id, b.name, b.level, b.path, s.geometry AS shape
            FROM geo_boundaryshape s
            JOIN geo_boundary b ON b.id = s.boundary_id
            WHERE s.band = %(band)s AND s.geometry && {box} {scope}
        """
    sql = f"""
        WITH picked AS MATERIALIZED ({picked}),
        t AS (
            SELECT osm_id, name, level, path,
                   ST_AsMVTGeom(shape, {box}::box2d, {EXTENT}, {BUFFER}, true) AS geom
            FROM picked
        )
        SELECT {layers} FROM t WHERE t.geom IS NOT NULL
    """
    with connection.cursor() as cursor:
        levels = [int(level) for level, first in MIN_ZOOM.items() if z >= first]
        cursor.execute(
            sql,
            {"band": band, "country": country_id, "levels": levels},
        )
        row = cursor.fetchone()
    return b"".join(bytes(layer) for layer in row or () if layer)


def cached_tile(z: int, x: int, y: int, *, country_id: int | None, version: int) -> bytes:
    """Return a tile from the shared cache, rendering and storing it on a miss.

    The key holds the import version: a new import makes new keys, and the
    old ones expire. A cache that is down only costs a render.
    """
    key = f"tile:{version}:{country_id or 0}:{z}:{x}:{y}"
    try:
        data = cache.get(key)
    except (RedisError, OSError):  # a cache outage must not take tiles down with it
        logger.warning("tile cache unavailable", exc_info=True)
        return render_tile(z, x, y, country_id=country_id)
    if data is None:
        data = render_tile(z, x, y, country_id=country_id)
        try:
            cache.set(key, data)
        except (RedisError, OSError):
            logger.warning("tile cache unavailable", exc_info=True)
    return bytes(data)
