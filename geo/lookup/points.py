"""Which boundaries contain a point: an in-memory index over prepared polygon parts.

Each boundary's geometry (full resolution where the source had it) is split
into its polygon parts, so the overseas territories of France or the Chatham
Islands do not give every point on the globe a whole-country candidate. A
1-degree grid lists the parts whose bounding box meets each cell; a batch of
points becomes (point, part) pairs with numpy alone (cell lookup, then the
part's bounding box), and the pairs are tested with GEOS prepared geometries
(an indexed point-in-polygon test) on raw coordinates, without building a
point object per point.

Semantics, chosen deliberately:

- a point on a border belongs to every boundary whose closure holds it
  (``covers``): on a shared border both neighbours are returned, rather than
  neither (``contains``) or an arbitrary one (ray casting);
- a point in a hole (a lake, an enclave) is not in the holed boundary; an
  enclave that is a boundary of its own is found as such;
- longitudes -180 and 180 are one meridian: a point there is also tested on
  the other side, so parts split at the antimeridian (Fiji, Chukotka) are found;
- a point in the sea returns nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import shapely
from django.db import connection

GRID_DEGREES = 1.0
# Batches up to this size take the plain-Python path (GET /locate is a batch of one).
SCALAR_BATCH = 8
GRID_COLUMNS = int(360 / GRID_DEGREES)
GRID_ROWS = int(180 / GRID_DEGREES)


class PointIndex:
    """Boundary ids by point, over prepared polygon parts."""

    def __init__(self, parts: np.ndarray, owners: np.ndarray) -> None:
        self._parts = parts
        self._owners = owners
        shapely.prepare(self._parts)
        self._bounds = shapely.bounds(parts).reshape(-1, 4) if len(parts) else np.zeros((0, 4))
        self._cell_start, self._cell_parts = _grid(self._bounds)
        # Plain-Python copies for the one-point path.
        self._cell_start_list: list[int] = self._cell_start.tolist()
        self._cell_lists: list[int] = self._cell_parts.tolist()
        self._bounds_list: list[list[float]] = self._bounds.tolist()
        self._owners_list: list[int] = owners.tolist()

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, bytes | memoryview | None]]) -> PointIndex:
        """Build from ``(boundary id, WKB)`` pairs; rows without geometry are left out."""
        parts: list[shapely.Geometry] = []
        owners: list[int] = []
        for boundary_id, wkb in rows:
            if wkb is None:
                continue
            pieces = shapely.get_parts(shapely.from_wkb(bytes(wkb)))
            pieces = pieces[shapely.get_type_id(pieces) == shapely.GeometryType.POLYGON]
            parts.extend(pieces.tolist())
            owners.extend([boundary_id] * len(pieces))
        return cls(np.array(parts, dtype=object), np.array(owners, dtype=np.int64))

    @classmethod
    def from_database(cls) -> PointIndex:
        """Build from every stored boundary (full geometry, else the simplified one)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, ST_AsBinary(COALESCE(geometry, simplified_geometry)) FROM geo_boundary"
            )
            return cls.from_rows(cursor.fetchall())

    def __len__(self) -> int:
        return len(self._parts)

    def locate(self, lon: float, lat: float) -> list[int]:
        """Return the ids of the boundaries covering one point (unordered).

        The scalar path of ``locate_many``: with one point, numpy's per-call
        cost would dominate, so the grid cell and bounding boxes are read in
        plain Python and only the few candidates reach GEOS.
        """
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError("longitude must be within -180..180 and latitude within -90..90")
        found: list[int] = []
        for x in (lon, -lon) if abs(lon) == 180 else (lon,):
            column = min(int((x + 180) / GRID_DEGREES), GRID_COLUMNS - 1)
            row = min(int((lat + 90) / GRID_DEGREES), GRID_ROWS - 1)
            cell = column * GRID_ROWS + row
            for part in self._cell_lists[
                self._cell_start_list[cell] : self._cell_start_list[cell + 1]
            ]:
                west, south, east, north = self._bounds_list[part]
                if west <= x <= east and south <= lat <= north:
                    owner = self._owners_list[part]
                    if owner not in found and shapely.intersects_xy(self._parts[part], x, lat):
                        found.append(owner)
        return found

    def locate_many(self, lons: np.ndarray, lats: np.ndarray) -> list[list[int]]:
        """Return, for each point, the ids of the boundaries covering it.

        Raises
        ------
        ValueError
            A longitude outside -180..180 or a latitude outside -90..90.
        """
        lons = np.asarray(lons, dtype=np.float64)
        lats = np.asarray(lats, dtype=np.float64)
        if not ((np.abs(lons) <= 180).all() and (np.abs(lats) <= 90).all()):
            raise ValueError("longitude must be within -180..180 and latitude within -90..90")
        if len(lons) <= SCALAR_BATCH:
            # numpy's fixed cost per call outweighs its speed on a handful of points.
            return [
                self.locate(lon, lat) for lon, lat in zip(lons.tolist(), lats.tolist(), strict=True)
            ]
        found: list[list[int]] = [[] for _ in range(len(lons))]
        point_at, owner_at = self.locate_pairs(lons, lats)
        for point, owner in zip(point_at.tolist(), owner_at.tolist(), strict=True):
            if owner not in found[point]:
                found[point].append(owner)
        return found

    def locate_pairs(self, lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (point index, boundary id) pairs for every hit, as arrays (the batch core)."""
        if not len(self._parts):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        # Points on the antimeridian are tested at both -180 and 180.
        wrapped = np.flatnonzero(np.abs(lons) == 180)
        query_index = np.concatenate([np.arange(len(lons)), wrapped])
        xs = np.concatenate([lons, -lons[wrapped]])
        ys = lats[query_index]
        point_at, part_at = self._candidates(xs, ys)
        hits = shapely.intersects_xy(self._parts[part_at], xs[point_at], ys[point_at])
        return query_index[point_at[hits]], self._owners[part_at[hits]]

    def _candidates(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(point, part) pairs whose grid cell and bounding box hold the point."""
        column = np.minimum(((xs + 180) / GRID_DEGREES).astype(np.int64), GRID_COLUMNS - 1)
        row = np.minimum(((ys + 90) / GRID_DEGREES).astype(np.int64), GRID_ROWS - 1)
        cell = column * GRID_ROWS + row
        first, count = self._cell_start[cell], self._cell_start[cell + 1] - self._cell_start[cell]
        point_at = np.repeat(np.arange(len(xs)), count)
        # Position of each pair within its cell's run of parts.
        offset = np.arange(len(point_at)) - np.repeat(np.cumsum(count) - count, count)
        part_at = self._cell_parts[first[point_at] + offset]
        box = self._bounds[part_at]
        x, y = xs[point_at], ys[point_at]
        inside = (box[:, 0] <= x) & (x <= box[:, 2]) & (box[:, 1] <= y) & (y <= box[:, 3])
        return point_at[inside], part_at[inside]


def _grid(bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR lists of the parts whose bounding box meets each grid cell."""
    cells: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    for part, (west, south, east, north) in enumerate(bounds.tolist()):
        c0, c1 = (min(int((v + 180) / GRID_DEGREES), GRID_COLUMNS - 1) for v in (west, east))
        r0, r1 = (min(int((v + 90) / GRID_DEGREES), GRID_ROWS - 1) for v in (south, north))
        columns, rows = np.meshgrid(np.arange(c0, c1 + 1), np.arange(r0, r1 + 1), indexing="ij")
        covered = (columns * GRID_ROWS + rows).ravel()
        cells.append(covered)
        parts.append(np.full(len(covered), part, dtype=np.int64))
    all_cells = np.concatenate(cells) if cells else np.zeros(0, dtype=np.int64)
    all_parts = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    order = np.argsort(all_cells, kind="stable")
    counts = np.bincount(all_cells, minlength=GRID_COLUMNS * GRID_ROWS)
    start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return start, all_parts[order]
