"""Mapbox Vector Tiles, built by PostGIS from the zoom-band shapes. Read-only."""

from __future__ import annotations

from django.db import connection

from geo.importing.geometry import FULL_RESOLUTION_BAND, band_for_zoom
from geo.models import Level

MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64
LAYERS = {
    Level.COUNTRY: "country",
    Level.STATE: "state",
    Level.DISTRICT: "district",
    Level.WARD: "ward",
}


def tile_in_range(z: int, x: int, y: int) -> bool:
    """Tell whether (z, x, y) names a tile of the Web Mercator pyramid."""
    return 0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z


def render_tile(z: int, x: int, y: int, *, country_id: int | None = None) -> bytes:
    """Return the tile's MVT bytes: one layer per level, properties osm_id, name, level, path.

    Geometry comes from the band for ``z``, so a tile of a large area never
    carries full-resolution coastlines, and neighbours share their edges in
    it; past the last band, full resolution clipped to the tile.
    Empty tiles are empty bytes (a valid MVT).
    """
    layers = ", ".join(
        f"ST_AsMVT(t, '{name}', {EXTENT}, 'geom') FILTER (WHERE t.level = {int(level)})"
        for level, name in LAYERS.items()
    )
    scope = "AND b.country_id = %(country)s" if country_id is not None else ""
    band = band_for_zoom(z)
    if band == FULL_RESOLUTION_BAND:
        # Clip in degrees first (linear, cheap), then project only what the tile shows.
        source = f"""
            SELECT b.osm_id, b.name, b.level, b.path,
                   ST_AsMVTGeom(ST_Transform(ST_ClipByBox2D(b.geometry, env.box4326), 3857),
                                env.box, {EXTENT}, {BUFFER}, true) AS geom
            FROM geo_boundary b, env
            WHERE b.geometry && env.box4326 {scope}
        """
    else:
        source = f"""
            SELECT b.osm_id, b.name, b.level, b.path,
                   ST_AsMVTGeom(s.geometry, env.box, {EXTENT}, {BUFFER}, true) AS geom
            FROM geo_boundaryshape s
            JOIN geo_boundary b ON b.id = s.boundary_id, env
            WHERE s.band = %(band)s AND s.geometry && env.box {scope}
        """
    sql = f"""
        WITH env AS (
            SELECT box, ST_Transform(ST_Expand(box, {BUFFER} * (ST_XMax(box) - ST_XMin(box)) / {EXTENT}), 4326) AS box4326
            FROM (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS box) tile
        ),
        t AS ({source})
        SELECT {layers} FROM t WHERE t.geom IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql, {"z": z, "x": x, "y": y, "band": band_for_zoom(z), "country": country_id}
        )
        row = cursor.fetchone()
    return b"".join(bytes(layer) for layer in row or () if layer)
