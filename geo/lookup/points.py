"""Which boundaries contain a point: an in-memory index over prepared polygon parts.

Each boundary's geometry (full resolution where the source had it) is split
into its polygon parts, so the overseas territories of France or the Chatham
Islands do not give every point on the globe a whole-country candidate. Parts
go into an STRtree; candidates from the tree are tested with GEOS prepared
geometries (an indexed point-in-polygon test), vectorised over all
(point, candidate) pairs of a batch.

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


class PointIndex:
    """Boundary ids by point, over prepared polygon parts."""

    def __init__(self, parts: np.ndarray, owners: np.ndarray) -> None:
        self._parts = parts
        self._owners = owners
        shapely.prepare(self._parts)
        self._tree = shapely.STRtree(self._parts)

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
        """Return the ids of the boundaries covering one point (unordered)."""
        return self.locate_many(
            np.array([lon], dtype=np.float64), np.array([lat], dtype=np.float64)
        )[0]

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
        found: list[list[int]] = [[] for _ in range(len(lons))]
        if not len(self._parts):
            return found
        # Points on the antimeridian are tested at both -180 and 180.
        wrapped = np.flatnonzero(np.abs(lons) == 180)
        query_index = np.concatenate([np.arange(len(lons)), wrapped])
        query_lons = np.concatenate([lons, -lons[wrapped]])
        points = shapely.points(query_lons, lats[query_index])
        point_at, part_at = self._tree.query(points)
        hits = shapely.covers(self._parts[part_at], points[point_at])
        for point, owner in zip(
            query_index[point_at[hits]].tolist(), self._owners[part_at[hits]].tolist(), strict=True
        ):
            if owner not in found[point]:
                found[point].append(owner)
        return found
