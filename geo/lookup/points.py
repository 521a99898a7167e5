"""Which boundaries contain a point: an index of flat arrays, shareable between processes.

Each boundary's geometry (full resolution where the source had it) is split
into its polygon parts, so the overseas territories of France or the Chatham
Islands do not give every point on the globe a whole-country candidate. A
grid of quarter-degree cells lists, for each cell, the parts whose edges
pass through it, and the parts that cover the whole cell (no edge of theirs
meets it, and they hold its centre): a point in such a cell is in such a part
without any test, so a point inland, where a cell holds the country, its state
and often its district whole, tests only the few parts whose borders pass
nearby. A batch of points becomes (point, part) pairs with numpy alone (cell
lookup, then the part's bounding box).

Each pair is then decided on the part's own edges, read from flat arrays:
every part's latitude range is cut into slabs holding a few edges each, and
a horizontal ray from the point crosses only edges of the point's slab. This
is GEOS's ``IndexedPointInAreaLocator`` (a ray-crossing count over the edges
whose latitude range holds the point) written over numpy arrays, so the
whole index is a handful of plain arrays: ``save`` writes them as ``.npy``
files and ``load`` maps them read-only, and every worker of a host then
shares one copy in the OS page cache instead of holding its own GEOS
geometries. The orientation test is exact: a float determinant decides
unless it is within its rounding error bound (Shewchuk's filter), and then
rational arithmetic does.

Semantics, chosen deliberately:

- a point on a border belongs to every boundary whose closure holds it
  (``covers``): on a shared border both neighbours are returned, rather than
  neither (``contains``) or an arbitrary one (ray casting);
- a point in a hole (a lake, an enclave) is not in the holed boundary; an
  enclave that is a boundary of its own is found as such;
- longitudes -180 and 180 are one meridian: a point there is also tested on
  the other side, so parts split at the antimeridian (Fiji, Chukotka) are found;
- a point in the sea returns nothing (``nearest`` finds the boundaries
  within some metres of it: a pin on a beach or a boat off the coast).

Distances (``nearest``) follow PostGIS's ``ST_Distance(geography)``: edges
are great-circle arcs between their vertices on the sphere, the closest
point of each is found on the sphere, and its distance to the point is
measured on the WGS 84 ellipsoid. The closest point comes from a gnomonic
projection centred on the point (great circles project to straight lines,
and distance from the centre grows with the angle, so the closest point of
the projected segment is the closest point of the arc); the ellipsoidal
distance is the straight line between the two points in Earth-centred
coordinates, which differs from the geodesic by d³/24R² (0.1 mm at 5 km).
Neither step has a special case at the poles or the antimeridian.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np
import shapely
from django.db import connection

GRID_DEGREES = 0.25
GRID_COLUMNS = int(360 / GRID_DEGREES)
GRID_ROWS = int(180 / GRID_DEGREES)
# Edges per latitude slab, on average: fewer means more slabs (memory), more
# means more edges tested per point.
EDGES_PER_SLAB = 8
# Pairs decided per numpy pass in a batch: bounds the temporary arrays.
PAIRS_PER_PASS = 20_000
# Shewchuk's bound on the rounding error of a 2x2 orientation determinant
# ((3 + 16 eps) eps, eps = 2**-53), rounded up: below it the sign is computed exactly.
ORIENTATION_ERROR = 3.4e-16

# Metres per degree of latitude, rounded down from the least (110,574 m, at the
# equator): sizes the search box of ``nearest`` so that it holds every point
# within the distance asked.
MIN_METRES_PER_DEGREE = 110_000.0
# Beyond this latitude (degrees) a search box reaches every longitude.
POLAR_CAP = 89.9
# Edges whose ends are more than 60 degrees from the point are ignored by
# ``nearest`` (the gnomonic projection needs them well within a hemisphere):
# no boundary edge is that long.
MIN_COSINE = 0.5
WGS84_A = 6_378_137.0
WGS84_E2 = 6.694379990141317e-3  # first eccentricity squared, f = 1 / 298.257223563

# The arrays of an index, in the order ``save`` writes them.
ARRAYS = (
    "xy",  # (V, 2) float64: every ring's vertices, each ring closed
    "ring_start",  # (R + 1) int64: first vertex of each ring
    "part_ring_start",  # (P + 1) int64: first ring of each part
    "owners",  # (P) int64: the boundary id of each part
    "bounds",  # (P, 4) float64: west, south, east, north of each part
    "cell_start",  # (cells + 1) int64: grid CSR
    "cell_parts",  # int64: parts whose edges meet each cell, or that cover it whole
    "cell_whole",  # bool, beside cell_parts: the part covers the whole cell
    "part_slab_start",  # (P + 1) int64: first slab of each part
    "slab_scale",  # (P) float64: slabs per degree of latitude of each part
    "slab_start",  # (slabs + 1) int64: first entry of each slab
    "slab_edges",  # int64: edges (index of their first vertex) meeting each slab
)


class PointIndex:
    """Boundary ids by point, over the polygon parts' edges in flat arrays."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        missing = set(ARRAYS) - set(arrays)
        if missing:
            raise ValueError(f"point index: missing arrays {sorted(missing)}")
        self.arrays = arrays
        # Plain views of the same memory: indexing an np.memmap goes through
        # its Python-level __getitem__ and __array_finalize__, a few
        # microseconds each, dozens of times per point.
        plain = {name: array.view(np.ndarray) for name, array in arrays.items()}
        self._xy = plain["xy"]
        self._ring_start = plain["ring_start"]
        self._part_ring_start = plain["part_ring_start"]
        self._owners = plain["owners"]
        self._bounds = plain["bounds"]
        self._cell_start = plain["cell_start"]
        self._cell_parts = plain["cell_parts"]
        self._cell_whole = plain["cell_whole"]
        self._part_slab_start = plain["part_slab_start"]
        self._slab_scale = plain["slab_scale"]
        self._slab_start = plain["slab_start"]
        self._slab_edges = plain["slab_edges"]
        # Edge i as one row (x1, y1, x2, y2): a strided view of ``xy``, no copy,
        # so a slab's edges are gathered in one step.
        vertices = len(self._xy)
        self._segments = np.lib.stride_tricks.as_strided(
            self._xy, shape=(max(vertices - 1, 0), 4), strides=(16, 8), writeable=False
        )
        # What the one-point path reads of a part, as one row: its box, first
        # slab, slab count, slabs per degree and owner; as plain Python lists,
        # a copy per process of a few megabytes for the world (ids and counts
        # are exact as float64 below 2**53).
        slabs = np.diff(self._part_slab_start)
        self._part_rows = (
            np.column_stack(
                [self._bounds, self._part_slab_start[:-1], slabs, self._slab_scale, self._owners]
            )
            .astype(np.float64)
            .tolist()
        )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, bytes | memoryview | None]]) -> PointIndex:
        """Build from ``(boundary id, WKB)`` pairs; rows without geometry are left out."""
        parts: list[np.ndarray] = []
        owners: list[int] = []
        for boundary_id, wkb in rows:
            if wkb is None:
                continue
            pieces = shapely.get_parts(shapely.from_wkb(bytes(wkb)))
            pieces = pieces[shapely.get_type_id(pieces) == shapely.GeometryType.POLYGON]
            pieces = pieces[~shapely.is_empty(pieces)]
            parts.append(pieces)
            owners.extend([boundary_id] * len(pieces))
        polygons = np.concatenate(parts) if parts else np.zeros(0, dtype=object)
        return cls(build_arrays(polygons, np.array(owners, dtype=np.int64)))

    @classmethod
    def from_database(cls) -> PointIndex:
        """Build from every current boundary (full geometry, else the simplified one)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, ST_AsBinary(COALESCE(geometry, simplified_geometry)) FROM geo_boundary"
                " WHERE retired_at IS NULL"
            )
            return cls.from_rows(cursor.fetchall())

    def save(self, directory: Path) -> None:
        """Write every array as ``<name>.npy`` into ``directory`` (which must exist)."""
        for name in ARRAYS:
            np.save(directory / f"{name}.npy", np.ascontiguousarray(self.arrays[name]))

    @classmethod
    def load(cls, directory: Path, *, mmap: bool = True) -> PointIndex:
        """Open an index written by ``save``; with ``mmap`` its arrays are mapped read-only.

        Mapped arrays are pages of the files in the OS page cache: every
        process that maps the same files shares one copy of them.
        """
        return cls(
            {
                name: np.load(directory / f"{name}.npy", mmap_mode="r" if mmap else None)
                for name in ARRAYS
            }
        )

    def __len__(self) -> int:
        return len(self._owners)

    def locate(self, lon: float, lat: float) -> list[int]:
        """Return the ids of the boundaries covering one point (unordered).

        The scalar path of ``locate_many``: with one point, numpy's per-call
        cost would dominate, so the few candidate parts and their slab's edges
        are read into plain Python.
        """
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError("longitude must be within -180..180 and latitude within -90..90")
        lon, lat = float(lon), float(lat)
        found: list[int] = []
        rows = self._part_rows
        for x in (lon, -lon) if abs(lon) == 180 else (lon,):
            cell = _cell(x, lat)
            first, end = self._cell_start[cell : cell + 2].tolist()
            parts = self._cell_parts[first:end].tolist()
            whole = self._cell_whole[first:end].tolist()
            for part, is_whole in zip(parts, whole, strict=True):
                west, south, east, north, first_slab, slabs, scale, owner_id = rows[part]
                if is_whole:
                    owner = int(owner_id)
                    if owner not in found:
                        found.append(owner)
                    continue
                if not (west <= x <= east and south <= lat <= north):
                    continue
                # The part's slab holding the latitude (see ``build_arrays``).
                offset = min(max(math.floor((lat - south) * scale), 0), int(slabs) - 1)
                if self._covers_one(x, lat, int(first_slab) + offset):
                    owner = int(owner_id)
                    if owner not in found:
                        found.append(owner)
        return found

    def _covers_one(self, x: float, y: float, slab: int) -> bool:
        """``_covers`` for one point and the slab of one part holding it, in plain Python."""
        start, end = self._slab_start[slab : slab + 2].tolist()
        crossings = 0
        for x1, y1, x2, y2 in self._segments[self._slab_edges[start:end]].tolist():
            if x1 < x and x2 < x:
                continue
            if (x1 == x and y1 == y) or (x2 == x and y2 == y):
                return True
            if y1 == y and y2 == y:
                if min(x1, x2) <= x <= max(x1, x2):
                    return True
            elif (y1 > y and y2 <= y) or (y2 > y and y1 <= y):
                sign = _orientation_one(x1, y1, x2, y2, x, y)
                if sign == 0:
                    return True
                if (sign if y2 > y1 else -sign) > 0:
                    crossings += 1
        return crossings % 2 == 1

    def nearest(self, lon: float, lat: float, *, within_m: float) -> list[tuple[int, float]]:
        """Return ``(boundary id, metres)`` of every boundary within ``within_m`` of a point.

        Each boundary once, at the distance of its closest edge, nearest
        first. A point a boundary covers is not reported at distance 0 by
        this: ask ``locate`` first (the edges of a boundary around the point
        are as far as any other).

        Parameters
        ----------
        lon, lat : float
            The point, in degrees (-180..180, -90..90).
        within_m : float
            The distance in metres (on the WGS 84 ellipsoid); meant for a
            few kilometres: the search box grows with it.

        Raises
        ------
        ValueError
            A longitude outside -180..180 or a latitude outside -90..90.
        """
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError("longitude must be within -180..180 and latitude within -90..90")
        if within_m <= 0 or not len(self._owners):
            return []
        lon, lat = float(lon), float(lat)
        reach = within_m / MIN_METRES_PER_DEGREE
        south, north = max(lat - reach, -90.0), min(lat + reach, 90.0)
        widest = max(abs(south), abs(north))
        spread = 180.0 if widest >= POLAR_CAP else reach / math.cos(math.radians(widest))
        spans = _longitude_spans(lon, spread)
        edges = self._edges_near(self._parts_near(spans, south, north), south, north)
        x1, y1 = self._xy[edges, 0], self._xy[edges, 1]
        x2, y2 = self._xy[edges + 1, 0], self._xy[edges + 1, 1]
        # Edges that cannot come near: wholly north or south of the box, or
        # east or west of every longitude span of it.
        near = (np.maximum(y1, y2) >= south) & (np.minimum(y1, y2) <= north)
        west, east = np.minimum(x1, x2), np.maximum(x1, x2)
        near &= np.logical_or.reduce([(east >= lo) & (west <= hi) for lo, hi in spans])
        edges, x1, y1, x2, y2 = edges[near], x1[near], y1[near], x2[near], y2[near]
        metres = _distances_to_arcs(lon, lat, x1, y1, x2, y2)
        owners = self._owners[self._part_of_edges(edges)]
        keep = metres <= within_m
        best: dict[int, float] = {}
        for owner, distance in zip(owners[keep].tolist(), metres[keep].tolist(), strict=True):
            if distance < best.get(owner, math.inf):
                best[owner] = distance
        return sorted(best.items(), key=lambda item: item[1])

    def _parts_near(
        self, spans: list[tuple[float, float]], south: float, north: float
    ) -> np.ndarray:
        """Parts whose bounding box meets the box (longitude spans x south..north)."""
        r0, r1 = _row(south), _row(north)
        chunks = []
        for west, east in spans:
            c0, c1 = _column(west), _column(east)
            for column in range(c0, c1 + 1):
                first = column * GRID_ROWS
                chunks.append(
                    self._cell_parts[
                        self._cell_start[first + r0] : self._cell_start[first + r1 + 1]
                    ]
                )
        parts = np.unique(np.concatenate(chunks))
        box = self._bounds[parts]
        meets = (box[:, 1] <= north) & (box[:, 3] >= south)
        meets &= np.logical_or.reduce([(box[:, 2] >= lo) & (box[:, 0] <= hi) for lo, hi in spans])
        near: np.ndarray = parts[meets]
        return near

    def _edges_near(self, parts: np.ndarray, south: float, north: float) -> np.ndarray:
        """Edges (index of their first vertex) listed in the parts' slabs for south..north."""
        if not len(parts):
            return np.zeros(0, dtype=np.int64)
        first_slab = self._part_slab_start[parts]
        top = self._part_slab_start[parts + 1] - first_slab - 1
        floor, scale = self._bounds[parts, 1], self._slab_scale[parts]
        low = first_slab + np.clip(np.floor((south - floor) * scale), 0, top).astype(np.int64)
        high = first_slab + np.clip(np.floor((north - floor) * scale), 0, top).astype(np.int64)
        # A part's slabs are consecutive, and so are their entries.
        start, end = self._slab_start[low], self._slab_start[high + 1]
        count = end - start
        entries = np.repeat(start, count) + _offsets(count)
        edges: np.ndarray = np.unique(self._slab_edges[entries])
        return edges

    def _part_of_edges(self, edges: np.ndarray) -> np.ndarray:
        """Return the part each edge (index of its first vertex) belongs to."""
        rings = np.searchsorted(self._ring_start, edges, side="right") - 1
        parts: np.ndarray = np.searchsorted(self._part_ring_start, rings, side="right") - 1
        return parts

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
        if len(lons) == 1:
            return [self.locate(float(lons[0]), float(lats[0]))]
        found: list[list[int]] = [[] for _ in range(len(lons))]
        point_at, owner_at = self.locate_pairs(lons, lats)
        for point, owner in zip(point_at.tolist(), owner_at.tolist(), strict=True):
            if owner not in found[point]:
                found[point].append(owner)
        return found

    def locate_pairs(self, lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (point index, boundary id) pairs for every hit, as arrays (the batch core)."""
        if not len(self._owners):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        # Points on the antimeridian are tested at both -180 and 180.
        wrapped = np.flatnonzero(np.abs(lons) == 180)
        query_index = np.concatenate([np.arange(len(lons)), wrapped])
        xs = np.concatenate([lons, -lons[wrapped]])
        ys = lats[query_index]
        point_at, part_at, whole = self._candidates(xs, ys)
        hits = whole.copy()
        tested = np.flatnonzero(~whole)
        for start in range(0, len(tested), PAIRS_PER_PASS):
            chunk = tested[start : start + PAIRS_PER_PASS]
            parts, points = part_at[chunk], point_at[chunk]
            hits[chunk] = self._covers(parts, xs[points], ys[points])
        return query_index[point_at[hits]], self._owners[part_at[hits]]

    def _candidates(
        self, xs: np.ndarray, ys: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point, part, covers the point's whole cell) for the point's cell's parts.

        A part that is not whole is kept only when its bounding box holds the point.
        """
        cell = _cells(xs, ys)
        first, count = self._cell_start[cell], self._cell_start[cell + 1] - self._cell_start[cell]
        point_at = np.repeat(np.arange(len(xs)), count)
        entry = first[point_at] + _offsets(count)
        part_at, whole = self._cell_parts[entry], self._cell_whole[entry]
        box = self._bounds[part_at]
        x, y = xs[point_at], ys[point_at]
        inside = (box[:, 0] <= x) & (x <= box[:, 2]) & (box[:, 1] <= y) & (y <= box[:, 3])
        keep = whole | inside
        return point_at[keep], part_at[keep], whole[keep]

    def _covers(self, parts: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """For each (part, x, y), whether the part's closure holds the point.

        The ray-crossing rule of GEOS's ``RayCrossingCounter``: a point on an
        edge or vertex is on the boundary (covered); otherwise it is inside
        when a ray to its right crosses an odd number of edges, counting an
        upward edge with its lower end and a downward one with its upper end,
        so a ray through a vertex counts once. Holes are rings like the shell,
        so a point in a hole crosses an even number.
        """
        slabs = self._part_slab_start[parts] + np.clip(
            np.floor((ys - self._bounds[parts, 1]) * self._slab_scale[parts]),
            0,
            self._part_slab_start[parts + 1] - self._part_slab_start[parts] - 1,
        ).astype(np.int64)
        first = self._slab_start[slabs]
        count = self._slab_start[slabs + 1] - first
        pair = np.repeat(np.arange(len(parts)), count)
        edges = self._slab_edges[first[pair] + _offsets(count)]
        x1, y1 = self._xy[edges, 0], self._xy[edges, 1]
        x2, y2 = self._xy[edges + 1, 0], self._xy[edges + 1, 1]
        px, py = xs[pair], ys[pair]
        at_vertex = ((x1 == px) & (y1 == py)) | ((x2 == px) & (y2 == py))
        on_flat = (y1 == py) & (y2 == py) & (np.minimum(x1, x2) <= px) & (px <= np.maximum(x1, x2))
        straddles = ((y1 > py) & (y2 <= py)) | ((y2 > py) & (y1 <= py))
        sign = _orientation(
            x1[straddles], y1[straddles], x2[straddles], y2[straddles], px[straddles], py[straddles]
        )
        on_edge = np.zeros(len(pair), dtype=bool)
        on_edge[straddles] = sign == 0
        crosses = np.zeros(len(pair), dtype=bool)
        # The point is left of the edge taken upwards: the edge crosses the ray.
        crosses[straddles] = np.where(y2[straddles] < y1[straddles], -sign, sign) > 0
        boundary = np.bincount(pair[at_vertex | on_flat | on_edge], minlength=len(parts)) > 0
        odd = np.bincount(pair[crosses], minlength=len(parts)) % 2 == 1
        covered: np.ndarray = boundary | odd
        return covered


def _column(x: float) -> int:
    """Return the grid column of a longitude in -180..180 (180 in the last one)."""
    return min(int((x + 180) / GRID_DEGREES), GRID_COLUMNS - 1)


def _row(y: float) -> int:
    """Return the grid row of a latitude in -90..90 (90 in the last one)."""
    return min(int((y + 90) / GRID_DEGREES), GRID_ROWS - 1)


def _cell(x: float, y: float) -> int:
    return _column(x) * GRID_ROWS + _row(y)


def _columns(xs: np.ndarray) -> np.ndarray:
    """``_column`` of each longitude (the same floating-point steps), clipped to the grid."""
    columns: np.ndarray = np.clip(((xs + 180) / GRID_DEGREES).astype(np.int64), 0, GRID_COLUMNS - 1)
    return columns


def _rows(ys: np.ndarray) -> np.ndarray:
    """``_row`` of each latitude, clipped to the grid."""
    rows: np.ndarray = np.clip(((ys + 90) / GRID_DEGREES).astype(np.int64), 0, GRID_ROWS - 1)
    return rows


def _cells(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``_cell`` of each point."""
    cells: np.ndarray = _columns(xs) * GRID_ROWS + _rows(ys)
    return cells


def _longitude_spans(lon: float, spread: float) -> list[tuple[float, float]]:
    """Return the longitudes within ``spread`` degrees of ``lon``, as spans in -180..180."""
    if spread >= 180:
        return [(-180.0, 180.0)]
    west, east = lon - spread, lon + spread
    if west < -180:
        return [(-180.0, east), (west + 360, 180.0)]
    if east > 180:
        return [(west, 180.0), (-180.0, east - 360)]
    return [(west, east)]


def _unit_vectors(lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """(n, 3) points of the unit sphere at these longitudes and latitudes (degrees)."""
    lam, phi = np.radians(lons), np.radians(lats)
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1)


def _earth_centred(lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """(n, 3) Earth-centred coordinates in metres of points on the WGS 84 ellipsoid."""
    lam, phi = np.radians(lons), np.radians(lats)
    normal = WGS84_A / np.sqrt(1 - WGS84_E2 * np.sin(phi) ** 2)
    return np.stack(
        [
            normal * np.cos(phi) * np.cos(lam),
            normal * np.cos(phi) * np.sin(lam),
            normal * (1 - WGS84_E2) * np.sin(phi),
        ],
        axis=-1,
    )


def _distances_to_arcs(  # noqa: PLR0917 (a point and four coordinate arrays)
    lon: float, lat: float, x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray
) -> np.ndarray:
    """Metres from a point to each great-circle arc (x1, y1)-(x2, y2), as PostGIS measures.

    Edges with an end more than 60 degrees away get infinity.
    """
    if not len(x1):
        return np.zeros(0)
    lam, phi = math.radians(lon), math.radians(lat)
    centre = np.array([math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)])
    east = np.array([-math.sin(lam), math.cos(lam), 0.0])
    north = np.array(
        [-math.sin(phi) * math.cos(lam), -math.sin(phi) * math.sin(lam), math.cos(phi)]
    )
    a, b = _unit_vectors(x1, y1), _unit_vectors(x2, y2)
    cos_a, cos_b = a @ centre, b @ centre
    usable = (cos_a > MIN_COSINE) & (cos_b > MIN_COSINE)
    cos_a, cos_b = np.where(usable, cos_a, 1.0), np.where(usable, cos_b, 1.0)
    # Gnomonic coordinates of the ends: the arc is the segment between them.
    ax, ay = (a @ east) / cos_a, (a @ north) / cos_a
    bx, by = (b @ east) / cos_b, (b @ north) / cos_b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = np.clip(
        np.divide(-(ax * dx + ay * dy), length2, out=np.zeros_like(length2), where=length2 > 0),
        0.0,
        1.0,
    )
    qx, qy = ax + t * dx, ay + t * dy
    # Back to the sphere, then to longitude and latitude.
    closest = centre + qx[:, None] * east + qy[:, None] * north
    closest /= np.linalg.norm(closest, axis=1)[:, None]
    lons = np.degrees(np.arctan2(closest[:, 1], closest[:, 0]))
    lats = np.degrees(np.arcsin(np.clip(closest[:, 2], -1.0, 1.0)))
    here = _earth_centred(np.array([lon]), np.array([lat]))[0]
    metres: np.ndarray = np.linalg.norm(_earth_centred(lons, lats) - here, axis=1)
    metres[~usable] = np.inf
    return metres


def _offsets(count: np.ndarray) -> np.ndarray:
    """Position of each element within its run, for runs of lengths ``count``."""
    total = int(count.sum())
    offsets: np.ndarray = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    return offsets


def _orientation_one(  # noqa: PLR0917 (six coordinates, on the hot path)
    x1: float, y1: float, x2: float, y2: float, px: float, py: float
) -> int:
    """``_orientation`` for one edge and one point, in plain Python."""
    left = (x1 - px) * (y2 - py)
    right = (y1 - py) * (x2 - px)
    det = left - right
    if abs(det) <= ORIENTATION_ERROR * (abs(left) + abs(right)):
        a, b, c, d, e, f = (Fraction(v) for v in (x1, y1, x2, y2, px, py))
        exact = (a - e) * (d - f) - (b - f) * (c - e)
        return int(exact > 0) - int(exact < 0)
    return int(det > 0) - int(det < 0)


def _orientation(  # noqa: PLR0917 (six coordinate arrays)
    x1: np.ndarray, y1: np.ndarray, x2: np.ndarray, y2: np.ndarray, px: np.ndarray, py: np.ndarray
) -> np.ndarray:
    """Exact sign of orient2d(p1, p2, p): 1 when p is left of p1→p2, -1 right, 0 on the line."""
    left = (x1 - px) * (y2 - py)
    right = (y1 - py) * (x2 - px)
    det = left - right
    sign: np.ndarray = np.sign(det).astype(np.int64)
    unsure = np.flatnonzero(np.abs(det) <= ORIENTATION_ERROR * (np.abs(left) + np.abs(right)))
    for i in unsure.tolist():
        # Doubles are rationals: Fraction arithmetic gives the true sign.
        a, b, c, d, e, f = (Fraction(float(v[i])) for v in (x1, y1, x2, y2, px, py))
        exact = (a - e) * (d - f) - (b - f) * (c - e)
        sign[i] = int(exact > 0) - int(exact < 0)
    return sign


def build_arrays(polygons: np.ndarray, owners: np.ndarray) -> dict[str, np.ndarray]:
    """Lay out polygon parts (and the boundary id of each) as the index's arrays."""
    if len(polygons):
        _, xy, (ring_start, part_ring_start) = shapely.to_ragged_array(polygons, include_z=False)
    else:
        xy, ring_start, part_ring_start = (
            np.zeros((0, 2)),
            np.zeros(1, np.int64),
            np.zeros(1, np.int64),
        )
    xy = np.ascontiguousarray(xy[:, :2], dtype=np.float64)
    ring_start = np.asarray(ring_start, dtype=np.int64)
    part_ring_start = np.asarray(part_ring_start, dtype=np.int64)
    bounds = shapely.bounds(polygons).reshape(-1, 4) if len(polygons) else np.zeros((0, 4))
    part_slab_start, slab_scale, slab_start, slab_edges = _slabs(
        xy, ring_start, part_ring_start, bounds
    )
    arrays = {
        "xy": xy,
        "ring_start": ring_start,
        "part_ring_start": part_ring_start,
        "owners": owners,
        "bounds": bounds,
        # No grid yet: the index below only decides (part, point) pairs.
        "cell_start": np.zeros(GRID_COLUMNS * GRID_ROWS + 1, dtype=np.int64),
        "cell_parts": np.zeros(0, dtype=np.int64),
        "cell_whole": np.zeros(0, dtype=bool),
        "part_slab_start": part_slab_start,
        "slab_scale": slab_scale,
        "slab_start": slab_start,
        "slab_edges": slab_edges,
    }
    pairs = PointIndex(arrays)._covers
    arrays["cell_start"], arrays["cell_parts"], arrays["cell_whole"] = _grid(
        xy, ring_start, part_ring_start, bounds, covers=pairs
    )
    return arrays


def _slabs(
    xy: np.ndarray, ring_start: np.ndarray, part_ring_start: np.ndarray, bounds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut each part's latitude range into slabs; list the edges meeting each slab."""
    parts = len(bounds)
    edges, part_of_edge = _edges_of_parts(ring_start, part_ring_start, len(xy))
    slab_count = np.maximum(1, np.bincount(part_of_edge, minlength=parts) // EDGES_PER_SLAB)
    height = bounds[:, 3] - bounds[:, 1] if parts else np.zeros(0)
    slab_scale = np.divide(slab_count, height, out=np.zeros(parts), where=height > 0)
    part_slab_start = np.concatenate([[0], np.cumsum(slab_count)]).astype(np.int64)
    low = np.minimum(xy[edges, 1], xy[edges + 1, 1])
    high = np.maximum(xy[edges, 1], xy[edges + 1, 1])
    south, scale, top = (
        bounds[part_of_edge, 1],
        slab_scale[part_of_edge],
        slab_count[part_of_edge] - 1,
    )
    # The same formula (and clipping) as a point's slab: floor is monotone, so
    # an edge is listed in every slab a point on it could fall in.
    first = np.clip(np.floor((low - south) * scale), 0, top).astype(np.int64)
    last = np.clip(np.floor((high - south) * scale), 0, top).astype(np.int64)
    span = last - first + 1
    slab_of_entry = np.repeat(part_slab_start[part_of_edge] + first, span) + _offsets(span)
    edge_of_entry = np.repeat(edges, span)
    order = np.argsort(slab_of_entry, kind="stable")
    counts = np.bincount(slab_of_entry, minlength=int(part_slab_start[-1]))
    slab_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return part_slab_start, slab_scale, slab_start, edge_of_entry[order].astype(np.int64)


def _grid(
    xy: np.ndarray,
    ring_start: np.ndarray,
    part_ring_start: np.ndarray,
    bounds: np.ndarray,
    *,
    covers: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR lists, per grid cell, of the parts whose edges meet it and of those covering it whole.

    A cell of a part's bounding box that none of the part's edges meets
    lies wholly inside the part or wholly outside it: its centre tells which
    (``covers``: the exact test of (part, x, y) pairs). Outside, the part is
    not listed in that cell at all.

    An edge's cells are those of its box, computed as a point's cell is
    (``_columns``, ``_rows``: floating point, but monotone). So any point
    whose cell is not listed for the edge lies beyond the edge's box, on the
    same side of it as the cell's centre: no rounding can put a point in a
    "whole" cell that an edge actually passes through.
    """
    parts = len(bounds)
    # Cells meeting each edge's box: an edge is short beside a cell, so most meet one.
    edges, part_of_edge = _edges_of_parts(ring_start, part_ring_start, len(xy))
    x1, y1, x2, y2 = xy[edges, 0], xy[edges, 1], xy[edges + 1, 0], xy[edges + 1, 1]
    crossed = _box_cells(
        np.minimum(x1, x2), np.minimum(y1, y2), np.maximum(x1, x2), np.maximum(y1, y2),
        part_of_edge, parts,
    )  # fmt: skip
    boxed = _box_cells(
        bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3], np.arange(parts), parts
    )
    rest = boxed[~np.isin(boxed, crossed, assume_unique=True)]
    cell, part = np.divmod(rest, max(parts, 1))
    column, row = np.divmod(cell, GRID_ROWS)
    centre_x = -180 + (column + 0.5) * GRID_DEGREES
    centre_y = -90 + (row + 0.5) * GRID_DEGREES
    inside = np.zeros(len(rest), dtype=bool)
    for start in range(0, len(rest), PAIRS_PER_PASS):
        chunk = slice(start, start + PAIRS_PER_PASS)
        inside[chunk] = covers(part[chunk], centre_x[chunk], centre_y[chunk])
    keys = np.concatenate([crossed, rest[inside]])
    whole = np.concatenate(
        [np.zeros(len(crossed), dtype=bool), np.ones(int(inside.sum()), dtype=bool)]
    )
    order = np.argsort(keys, kind="stable")
    cells, listed = np.divmod(keys[order], max(parts, 1))
    counts = np.bincount(cells, minlength=GRID_COLUMNS * GRID_ROWS)
    start_of_cell = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return start_of_cell, listed.astype(np.int64), whole[order]


def _edges_of_parts(
    ring_start: np.ndarray, part_ring_start: np.ndarray, vertices: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every edge (index of its first vertex) and the part it belongs to."""
    # An edge starts at every vertex but the closing one of its ring.
    is_edge = np.ones(vertices, dtype=bool)
    is_edge[ring_start[1:] - 1] = False
    ring_of_vertex = np.repeat(np.arange(len(ring_start) - 1), np.diff(ring_start))
    part_of_ring = np.repeat(np.arange(len(part_ring_start) - 1), np.diff(part_ring_start))
    edges = np.flatnonzero(is_edge)
    return edges, part_of_ring[ring_of_vertex[edges]]


def _box_cells(  # noqa: PLR0917 (a box's four sides and its part)
    west: np.ndarray,
    south: np.ndarray,
    east: np.ndarray,
    north: np.ndarray,
    part: np.ndarray,
    parts: int,
) -> np.ndarray:
    """Sorted unique keys ``cell * parts + part`` of the cells each box meets."""
    c0, c1, r0, r1 = _columns(west), _columns(east), _rows(south), _rows(north)
    height = r1 - r0 + 1
    count = (c1 - c0 + 1) * height
    box = np.repeat(np.arange(len(part)), count)
    offset = _offsets(count)
    cell = (c0[box] + offset // height[box]) * GRID_ROWS + r0[box] + offset % height[box]
    keys: np.ndarray = np.unique(cell * max(parts, 1) + part[box])
    return keys
