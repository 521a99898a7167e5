"""Mapbox Vector Tiles, built by PostGIS from the zoom-band shapes. Read-only.

Tiles are kept in the shared cache, keyed by the import version. The low
zooms (z0 to ``PRERENDER_MAX_ZOOM``: 5,461 tiles, the slowest to render,
since each shows a continent's or a country's boundaries) are rendered right after an
import commits, by ``prerender_tiles``, so no map waits for them; the rest
are rendered on a first request. What a dense tile carries is thinned:
features under one screen pixel are left out, and a tile still over
``MAX_TILE_BYTES`` is rendered again coarser (a coarser grid, then the
next coarser zoom band) until it fits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db import connection
from redis.exceptions import RedisError

from geo.bands import FULL_RESOLUTION_BAND, band_for_zoom
from geo.models import ImportStatus, Level

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


# Screen pixels across a tile (Leaflet's and most maps'): a boundary smaller than
# one pixel at a zoom is not drawn.
TILE_PIXELS = 256
# The largest tile served; a denser one is rendered again coarser.
MAX_TILE_BYTES = 100 * 1024
# Coarser grid for a tile over MAX_TILE_BYTES: a quarter of a pixel still.
COARSE_EXTENT = 1024
# Tiles up to this zoom are rendered after every import (z0-z6: 5,461 tiles, a
# fifth of them with boundaries): each shows a continent's or a country's
# boundaries, the slowest to render.
PRERENDER_MAX_ZOOM = 6
# Pre-rendered tiles are set this many at a time.
PRERENDER_BATCH = 200

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


def tile_bytes(z: int, x: int, y: int, *, country_id: int | None = None) -> bytes:
    """Return the tile as served: ``render_tile`` at the zoom's band, thinned to fit.

    Boundaries under one screen pixel both ways (``TILE_PIXELS`` across the
    tile) are left out; a tile still over ``MAX_TILE_BYTES`` is rendered again on a
    coarser grid (``COARSE_EXTENT``), then from the next coarser zoom band,
    and the smallest is kept. Neighbours keep shared edges throughout: the
    grid snaps both sides alike and each band is a coverage.
    """
    band = band_for_zoom(z)
    if band == FULL_RESOLUTION_BAND:
        return render_tile(z, x, y, country_id=country_id)
    west, _, east, _ = tile_bounds(z, x, y)
    pixel = (east - west) / TILE_PIXELS
    tries = [(band, EXTENT), (band, COARSE_EXTENT)] + [
        (coarser, COARSE_EXTENT) for coarser in range(band - 1, -1, -1)
    ]
    best = b""
    for try_band, extent in tries:
        data = render_tile(
            z, x, y, country_id=country_id, band=try_band, extent=extent, min_side=pixel
        )
        if not best or len(data) < len(best):
            best = data
        if len(best) <= MAX_TILE_BYTES:
            break
    return best


def render_tile(
    z: int,
    x: int,
    y: int,
    *,
    country_id: int | None = None,
    band: int | None = None,
    extent: int = EXTENT,
    min_side: float = 0.0,
) -> bytes:
    """Return the tile's MVT bytes: one layer per level, properties osm_id, name, level, path.

    A level's layer starts at its ``MIN_ZOOM`` (states from z4, districts
    from z6, wards from z8).

    Geometry comes from the band for ``z``, so a tile of a large area never
    carries full-resolution coastlines, and neighbours share their edges in
    it; past the last band, full resolution clipped to the tile.
    Empty tiles are empty bytes (a valid MVT). ``band`` overrides the zoom's
    band (benchmarks compare with ``FULL_RESOLUTION_BAND`` at every zoom);
    ``extent`` is the tile's grid; boundaries whose band shape's box is
    under ``min_side`` (Web Mercator metres) both ways are left out (its
    box, not its area: the box comes with the shape, an area is a sum).
    """
    extent = int(extent)
    buffer = BUFFER * extent // EXTENT
    layers = ", ".join(
        f"ST_AsMVT(t, '{name}', {extent}, 'geom') FILTER (WHERE t.level = {int(level)})"
        for level, name in LAYERS.items()
    )
    scope = "AND b.country_id = %(country)s" if country_id is not None else ""
    scope += " AND b.level = ANY(%(levels)s) AND b.retired_at IS NULL"
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
              AND (%(min_side)s = 0
                   OR ST_XMax(s.geometry) - ST_XMin(s.geometry) >= %(min_side)s
                   OR ST_YMax(s.geometry) - ST_YMin(s.geometry) >= %(min_side)s)
        """
    sql = f"""
        WITH picked AS MATERIALIZED ({picked}),
        t AS (
            SELECT osm_id, name, level, path,
                   ST_AsMVTGeom(shape, {box}::box2d, {extent}, {buffer}, true) AS geom
            FROM picked
        )
        SELECT {layers} FROM t WHERE t.geom IS NOT NULL
    """
    with connection.cursor() as cursor:
        levels = [int(level) for level, first in MIN_ZOOM.items() if z >= first]
        cursor.execute(
            sql,
            {"band": band, "country": country_id, "levels": levels, "min_side": float(min_side)},
        )
        row = cursor.fetchone()
    return b"".join(bytes(layer) for layer in row or () if layer)


def tile_key(z: int, x: int, y: int, *, country_id: int | None, version: int) -> str:
    """Return the shared cache key of a tile of one import version and workspace scope."""
    return f"tile:{version}:{country_id or 0}:{z}:{x}:{y}"


def cached_tile(z: int, x: int, y: int, *, country_id: int | None, version: int) -> bytes:
    """Return a tile from the shared cache, rendering and storing it on a miss.

    The key holds the import version: a new import makes new keys, and the
    old ones expire. A cache that is down only costs a render.
    """
    key = tile_key(z, x, y, country_id=country_id, version=version)
    try:
        data = cache.get(key)
    except (RedisError, OSError):  # a cache outage must not take tiles down with it
        logger.warning("tile cache unavailable", exc_info=True)
        return tile_bytes(z, x, y, country_id=country_id)
    if data is None:
        data = tile_bytes(z, x, y, country_id=country_id)
        try:
            cache.set(key, data)
        except (RedisError, OSError):
            logger.warning("tile cache unavailable", exc_info=True)
    return bytes(data)


@dataclass(frozen=True, slots=True)
class PrerenderReport:
    """What ``prerender_tiles`` did: tiles stored, of which rendered (the rest are empty)."""

    tiles: int
    rendered: int
    seconds: float


def prerender_tiles(
    *,
    version: int,
    max_zoom: int = PRERENDER_MAX_ZOOM,
    progress: Callable[[int, int], None] | None = None,
) -> PrerenderReport:
    """Render every tile up to ``max_zoom`` of an import into the shared cache.

    For each scope a workspace may have (every country, and each country a
    workspace is limited to). A tile no boundary's band box meets is stored
    empty without a render (for the every-country scope only). The tiles never expire (the low zooms must not
    wait after a day); those of older imports are deleted, but for the one
    before (workers may still serve it for a moment). ``progress`` gets
    (done, total) after each batch.
    """
    from geo.models import ImportRun, Workspace  # noqa: PLC0415 (models load after settings)

    started = time.monotonic()
    scopes: list[int | None] = [None]
    scopes += sorted(
        set(Workspace.objects.filter(country__isnull=False).values_list("country_id", flat=True))
    )
    coords = [(z, x, y) for z in range(max_zoom + 1) for x in range(2**z) for y in range(2**z)]
    total = len(coords) * len(scopes)
    considered = stored = rendered = 0
    for country_id in scopes:
        boxes = _band_boxes(country_id)
        batch: dict[str, bytes] = {}
        for z, x, y in coords:
            considered += 1
            if _meets(boxes, tile_bounds(z, x, y)):
                batch[tile_key(z, x, y, country_id=country_id, version=version)] = tile_bytes(
                    z, x, y, country_id=country_id
                )
                rendered += 1
            elif country_id is None:
                batch[tile_key(z, x, y, country_id=None, version=version)] = b""
            # A workspace's empty tiles are left out: cheap to render, many to store.
            if len(batch) >= PRERENDER_BATCH:
                cache.set_many(batch, timeout=None)
                stored += len(batch)
                batch = {}
            if progress is not None and considered % PRERENDER_BATCH == 0:
                progress(considered, total)
        cache.set_many(batch, timeout=None)
        stored += len(batch)
    if progress is not None:
        progress(considered, total)
    older = ImportRun.objects.filter(status=ImportStatus.SUCCEEDED, pk__lt=version).order_by("-pk")
    for old in older.values_list("pk", flat=True)[1:4]:
        cache.delete_many(
            [tile_key(z, x, y, country_id=c, version=old) for c in scopes for z, x, y in coords]
        )
    return PrerenderReport(tiles=stored, rendered=rendered, seconds=time.monotonic() - started)


def prerender_after_import(
    version: int, *, progress: Callable[[int, int], None] | None = None
) -> PrerenderReport | None:
    """Pre-render the tiles of an import that has committed; None (logged) if that fails.

    Called once the import's data and record are committed: it never holds
    up the commit, and a failure here (a cache or database outage) costs
    only renders on first requests, as before.
    """
    try:
        report = prerender_tiles(version=version, progress=progress)
    except Exception:
        logger.warning("tiles of import %s not pre-rendered", version, exc_info=True)
        return None
    logger.info(
        "import %s: %s tiles z0-z%s pre-rendered (%s rendered) in %.1f s",
        version, report.tiles, PRERENDER_MAX_ZOOM, report.rendered, report.seconds,
    )  # fmt: skip
    return report


def _band_boxes(country_id: int | None) -> np.ndarray:
    """(n, 4) Web Mercator boxes of every coarsest band shape (of one country's scope)."""
    scope = "AND b.country_id = %s" if country_id is not None else ""
    scope += " AND b.retired_at IS NULL"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_XMin(s.geometry), ST_YMin(s.geometry), ST_XMax(s.geometry),"
            " ST_YMax(s.geometry) FROM geo_boundaryshape s JOIN geo_boundary b"
            f" ON b.id = s.boundary_id WHERE s.band = 0 {scope}",
            [country_id] if country_id is not None else [],
        )
        return np.array(cursor.fetchall(), dtype=np.float64).reshape(-1, 4)


def _meets(boxes: np.ndarray, tile: tuple[float, float, float, float]) -> bool:
    """Tell whether a tile (with its buffer) meets any box."""
    west, south, east, north = tile
    margin = BUFFER * (east - west) / EXTENT
    return bool(
        (
            (boxes[:, 0] <= east + margin)
            & (boxes[:, 2] >= west - margin)
            & (boxes[:, 1] <= north + margin)
            & (boxes[:, 3] >= south - margin)
        ).any()
    )
