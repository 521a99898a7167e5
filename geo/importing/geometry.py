"""Pure geometry stages of the import: repair, measure, simplify.

Everything here works on shapely geometries in WGS84 degrees and touches no
database.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from geo.bands import ZOOM_BANDS

# About 1 km at the equator: the default simplified geometry (RapidPro's
# geometry endpoints, API downloads) and zoom band 1, made in one pass.
DEFAULT_TOLERANCE_DEG = 0.01
# Bumped whenever the way simplified geometry is made changes.
SIMPLIFICATION_METHOD = "country-hierarchy-faces-v6"


def simplification_signature(tolerance_deg: float) -> str:
    """Name how simplified geometry is made, so a change of method or tolerance is noticed."""
    return f"{SIMPLIFICATION_METHOD}@{tolerance_deg:g}"


def repair_geometry(
    shape: shapely.MultiPolygon, quirks: Counter[str]
) -> shapely.MultiPolygon | None:
    """Return a valid MultiPolygon with counter-clockwise exteriors (RFC 7946).

    Invalid input (self-intersections, bow-ties, overlapping parts) is
    repaired with GEOS ``make_valid`` in its "structure" mode, which keeps
    areas and drops collapsed lines; only polygonal parts are kept. Returns
    None when nothing polygonal is left. Every fix is counted in ``quirks``.
    """
    if not shapely.is_valid(shape):
        quirks["repaired_invalid"] += 1
        shape = _polygonal(shapely.make_valid(shape, method="structure", keep_collapsed=False))
        if shape is None:
            quirks["degenerate_geometry"] += 1
            return None
    exteriors = shapely.get_exterior_ring(shapely.get_parts(shape))
    clockwise = int(np.count_nonzero(~shapely.is_ccw(exteriors)))
    if clockwise:
        quirks["clockwise_ring"] += clockwise
        shape = shapely.orient_polygons(shape, exterior_cw=False)
    return shape


def _polygonal(shape: shapely.Geometry) -> shapely.MultiPolygon | None:
    # The common cases first: copying the parts of a large shape is not free.
    if isinstance(shape, shapely.MultiPolygon):
        return None if shape.is_empty else shape
    if isinstance(shape, shapely.Polygon):
        return None if shape.is_empty else shapely.multipolygons([shape])
    parts = [
        p for p in shapely.get_parts(shape) if isinstance(p, shapely.Polygon | shapely.MultiPolygon)
    ]
    polygons = [q for p in parts for q in shapely.get_parts(p) if not q.is_empty]
    return shapely.multipolygons(polygons) if polygons else None


def bounding_box(shape: shapely.MultiPolygon) -> tuple[float, float, float, float]:
    """Return (west, south, east, north), the smallest box around the shape on the globe.

    A shape with parts on both sides of the antimeridian (Fiji, Chukotka, the
    Chatham Islands) gets ``west > east``: the box wraps through 180°, instead
    of a useless box that spans the whole globe.

    >>> import shapely
    >>> fiji = shapely.MultiPolygon(
    ...     [shapely.box(177, -19, 180, -16), shapely.box(-180, -19, -178, -16)]
    ... )
    >>> bounding_box(fiji)
    (177.0, -19.0, -178.0, -16.0)
    """
    bounds = shapely.bounds(shapely.get_parts(shape))
    south, north = float(bounds[:, 1].min()), float(bounds[:, 3].max())
    intervals = sorted(zip(bounds[:, 0].tolist(), bounds[:, 2].tolist(), strict=True))
    merged: list[list[float]] = []
    for low, high in intervals:
        if merged and low <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    # The widest empty arc of longitude decides where the box is open.
    wrap_gap = 360.0 - (merged[-1][1] - merged[0][0])
    widest, west, east = wrap_gap, merged[0][0], merged[-1][1]
    for left, right in itertools.pairwise(merged):
        gap = right[0] - left[1]
        if gap > widest:
            widest, west, east = gap, right[0], left[1]
    return west, south, east, north


# PostGIS's sphere for geography calculations without the spheroid.
EARTH_RADIUS_M = 6371008.7714


def area_km2(shape: shapely.MultiPolygon) -> float:
    """Return the area on the sphere, in square kilometres.

    Uses the ring-area formula of Chamberlain & Duquette (2007) on every ring,
    vectorised with numpy: within 0.5% of the spheroid, and about a hundred
    times faster than ``ST_Area(geography)`` on detailed coastlines. Rings
    must not cross the antimeridian (the extracts split parts there).
    """
    total = 0.0
    for polygon in shapely.get_parts(shape):
        for position, ring in enumerate(shapely.get_rings(polygon)):
            ring_area = abs(_ring_area_m2(shapely.get_coordinates(ring)))
            total += ring_area if position == 0 else -ring_area
    return total / 1e6


def _ring_area_m2(coords: np.ndarray) -> float:
    lon = np.radians(coords[:-1, 0])
    lat = np.radians(coords[:-1, 1])
    # sum over i of (lon[i+1] - lon[i-1]) * sin(lat[i]), cyclically
    return float(np.sum((np.roll(lon, -1) - np.roll(lon, 1)) * np.sin(lat)) * EARTH_RADIUS_M**2 / 2)


def simplify_coverage(
    shapes: Sequence[shapely.MultiPolygon | None], *, tolerance_deg: float = DEFAULT_TOLERANCE_DEG
) -> list[shapely.MultiPolygon | None]:
    """Simplify sibling boundaries together, so shared borders stay shared.

    Parameters
    ----------
    shapes
        The siblings' full geometries (None for a boundary without one).
    tolerance_deg
        Largest displacement allowed, in degrees. Larger values keep fewer
        vertices.

    Returns
    -------
    list
        One simplified geometry per input, in order. GEOS's coverage
        simplification moves each shared edge once for both neighbours, so it
        opens no gap and makes no overlap between them. A result that comes
        back invalid is repaired; one that vanishes falls back to the
        unsimplified shape, so no boundary disappears from a map.
    """
    present = [i for i, shape in enumerate(shapes) if shape is not None]
    result: list[shapely.MultiPolygon | None] = [None] * len(shapes)
    if not present:
        return result
    originals = np.array([shapes[i] for i in present], dtype=object)
    simplified = shapely.coverage_simplify(originals, tolerance_deg, simplify_boundary=True)
    # The common case, checked in bulk: valid, non-empty MultiPolygons need no fixing.
    fine = (
        ~shapely.is_missing(simplified)
        & ~shapely.is_empty(simplified)
        & (shapely.get_type_id(simplified) == shapely.GeometryType.MULTIPOLYGON)
        & shapely.is_valid(simplified)
    )
    simplified[~fine] = [
        _finish(shape, original)
        for shape, original in zip(simplified[~fine], originals[~fine], strict=True)
    ]
    simplified = shapely.orient_polygons(simplified, exterior_cw=False)
    for index, shape in zip(present, simplified, strict=True):
        result[index] = shape
    return result


def _finish(shape: shapely.Geometry, original: shapely.MultiPolygon) -> shapely.MultiPolygon:
    if shape is None or shape.is_empty:
        return original
    if not shapely.is_valid(shape):
        repaired = _polygonal(shapely.make_valid(shape, method="structure", keep_collapsed=False))
        shape = repaired if repaired is not None else original
    if not isinstance(shape, shapely.MultiPolygon):
        shape = shapely.multipolygons(shapely.get_parts(shape))
    return shape


# Children tile their parent when their union differs from it by less than
# this share of the parent's area (both ways: uncovered, and spilling out).
TILING_TOLERANCE = 0.001


@dataclass(frozen=True, slots=True)
class SimplifiedHierarchy:
    """One country's simplified geometry: the default (WGS84) and each band (Web Mercator)."""

    default: list[shapely.MultiPolygon | None]
    bands: dict[int, list[shapely.MultiPolygon | None]]
    # Positions of the boundaries whose children tile them: their outline at
    # every band is exactly the union of their children's.
    tiled: frozenset[int]


def simplify_hierarchy(
    shapes: Sequence[shapely.MultiPolygon | None],
    parents: Sequence[int | None],
    *,
    tolerance_deg: float = DEFAULT_TOLERANCE_DEG,
) -> SimplifiedHierarchy:
    """Simplify every level of one country together, so that every border is drawn once.

    Parameters
    ----------
    shapes
        Full geometries of the country's boundaries, every level (None when missing).
    parents
        For each boundary, the position of its parent in ``shapes`` (None for the top).
    tolerance_deg
        Tolerance of the default simplified geometry.

    Notes
    -----
    Simplifying each level on its own moves a state's border one way and the
    same line, as the edge of its districts, another way: at a coarse band a
    district pokes out of its state. Here the borders of all levels are cut
    into faces (the pieces of the plane between every border of every level),
    the faces are simplified once as one coverage, and each boundary is the
    union of its faces. So at every band: siblings share borders (no gap, no
    overlap that the source did not have), children meet their parent's
    outline, and a parent whose children tile it is exactly their union.

    Levels drawn from different sources seldom share their vertices; a parent
    whose children tile it (``TILING_TOLERANCE``) takes their union as its
    outline first, so their near-identical lines make no sliver faces.
    """
    count = len(shapes)
    # Parents drawn from their children's very vertices need no lines of their
    # own: leaving them out is most of the saving when levels share a source.
    aligned = _aligned_parents(shapes, parents)
    drawn = [s is not None and i not in aligned for i, s in enumerate(shapes)]
    faces, owner, member = _faces(shapes, drawn=drawn, parents=parents)
    owner, member = _inherit_membership(owner, member, parents, aligned)
    tiled, slivers = _tiled_parents(faces, owner, member, parents)
    tiled |= aligned
    if slivers:
        # Redraw without the tiled parents' own lines: their children's edges
        # say the same thing, and the near-misses made sliver faces.
        drawn = [s is not None and i not in tiled for i, s in enumerate(shapes)]
        faces, owner, member = _faces(shapes, drawn=drawn, parents=parents)
    owner, member = _inherit_membership(owner, member, parents, tiled)

    def compose(face_shapes: np.ndarray, tolerance: float) -> list[shapely.MultiPolygon | None]:
        result = _compose(face_shapes, owner, member, parents, count)
        # A boundary that got no face (a shape too broken to polygonize) is
        # simplified alone rather than dropped.
        for index in range(count):
            if result[index] is None and shapes[index] is not None:
                result[index] = simplify_coverage([shapes[index]], tolerance_deg=tolerance)[0]
        return result

    bands: dict[int, list[shapely.MultiPolygon | None]] = {}
    current = faces
    default: list[shapely.MultiPolygon | None] | None = None
    for zoom_band in ZOOM_BANDS:
        if default is None and zoom_band.tolerance_deg > tolerance_deg:
            current = _simplify_faces(current, tolerance_deg)
            default = compose(current, tolerance_deg)
        current = _simplify_faces(current, zoom_band.tolerance_deg)
        composed = compose(current, zoom_band.tolerance_deg)
        if default is None and zoom_band.tolerance_deg == tolerance_deg:
            default = composed
        bands[zoom_band.band] = to_web_mercator(composed)
    if default is None:
        default = compose(_simplify_faces(current, tolerance_deg), tolerance_deg)
    return SimplifiedHierarchy(default=default, bands=bands, tiled=frozenset(tiled))


def _compose(
    face_shapes: np.ndarray,
    owner: np.ndarray,
    member: np.ndarray,
    parents: Sequence[int | None],
    count: int,
) -> list[shapely.MultiPolygon | None]:
    """Make each boundary the union of its faces (None for a boundary without faces).

    Deepest boundaries first: a parent whose children hold disjoint shares of
    its faces is the union of the children's outlines and its own remaining
    faces. The same area as the union of all its faces, with the same
    vertices, but the country's outline no longer unions every face of every
    district again (a fifth less CPU composing the largest countries).
    """
    result: list[shapely.MultiPolygon | None] = [None] * count
    order = np.argsort(member, kind="stable")
    boundaries, starts = np.unique(member[order], return_index=True)
    chunks = np.split(owner[order], starts[1:]) if len(boundaries) else []
    faces_of = dict(zip(boundaries.tolist(), chunks, strict=True))
    # One face, one boundary (most leaves): checked and oriented in bulk, no union.
    single = [b for b, chunk in faces_of.items() if len(chunk) == 1]
    if single:
        alone = face_shapes[np.array([faces_of[b][0] for b in single])]
        fine = (
            ~shapely.is_missing(alone)
            & (shapely.get_type_id(alone) == shapely.GeometryType.MULTIPOLYGON)
            & shapely.is_valid(alone)
        )
        alone[fine] = shapely.orient_polygons(alone[fine], exterior_cw=False)
        for boundary, shape, ok in zip(single, alone, fine, strict=True):
            result[boundary] = shape if ok else _union_of_faces(np.array([shape], dtype=object))
    children = _children(parents, keep=lambda i: i in faces_of)
    depth = {b: sum(1 for _ in _ancestors(b, parents)) for b in faces_of}
    for boundary in sorted(faces_of, key=lambda b: depth[b], reverse=True):
        own = faces_of[boundary]
        if len(own) == 1:
            continue
        kids = [k for k in children.get(boundary, []) if result[k] is not None]
        theirs = np.concatenate([faces_of[k] for k in kids]) if kids else np.array([], np.int64)
        if (
            kids
            and len(np.unique(theirs)) == len(theirs)
            and np.isin(theirs, own, assume_unique=True).all()
        ):
            rest = face_shapes[np.setdiff1d(own, theirs, assume_unique=True)]
            pieces = np.concatenate([np.array([result[k] for k in kids], dtype=object), rest])
        else:
            pieces = face_shapes[own]
        result[boundary] = _union_of_faces(pieces)
    return result


def _aligned_parents(
    shapes: Sequence[shapely.MultiPolygon | None], parents: Sequence[int | None]
) -> set[int]:
    """Parents whose children tile them on the parent's own vertices (one source for both).

    Every vertex of the parent is a vertex of a child, and the children's
    areas add up to the parent's: then the children's union is the parent.
    """
    aligned = set()
    for parent, kids in _children(parents, keep=lambda i: shapes[i] is not None).items():
        shape = shapes[parent]
        if shape is None:
            continue
        kid_shapes = np.array([shapes[k] for k in kids], dtype=object)
        area = shape.area
        if area <= 0 or abs(float(shapely.area(kid_shapes).sum()) - area) > TILING_TOLERANCE * area:
            continue
        own = shapely.get_coordinates(shape)
        theirs = shapely.get_coordinates(kid_shapes)
        shared = np.isin(own[:, 0] + 1j * own[:, 1], theirs[:, 0] + 1j * theirs[:, 1])
        if shared.mean() >= 1 - TILING_TOLERANCE:
            aligned.add(parent)
    return aligned


def _faces(
    shapes: Sequence[shapely.MultiPolygon | None],
    *,
    drawn: Sequence[bool],
    parents: Sequence[int | None],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut the plane along the borders of the ``drawn`` shapes.

    Returns the faces and the membership pairs ``(face, shape)``: which drawn
    shapes contain each face. When no drawn shape lies in another drawn one
    (each level left is where the one above was not drawn), the shapes are
    the faces already, and nothing is cut.
    """
    positions = np.array([i for i, d in enumerate(drawn) if d], dtype=np.int64)
    if not len(positions):
        return np.array([], dtype=object), np.array([], np.int64), np.array([], np.int64)
    present = np.array([shapes[i] for i in positions], dtype=object)
    if not any(_has_drawn_ancestor(i, drawn, parents) for i in positions.tolist()):
        faces = np.array(
            [shapely.MultiPolygon(shapely.get_parts(s)) for s in present], dtype=object
        )
        return faces, np.arange(len(positions), dtype=np.int64), positions
    lines = shapely.boundary(present)
    try:
        noded = shapely.union_all(lines)
    except shapely.errors.GEOSException:
        # Nearly coincident borders can defeat floating-point noding; snap
        # rounding on a 1 cm grid always succeeds.
        noded = shapely.union_all(lines, grid_size=1e-7)
    # The noded lines go in whole: splitting them into parts first only copies them.
    faces = shapely.get_parts(shapely.polygonize([noded]))
    faces = faces[~shapely.is_empty(faces)]
    inside = shapely.point_on_surface(faces)
    member, owner = shapely.STRtree(inside).query(present, predicate="contains")
    return faces, owner, positions[member]


def _children(
    parents: Sequence[int | None], *, keep: Callable[[int], bool]
) -> dict[int, list[int]]:
    """Parent position → positions of its children that ``keep`` admits."""
    children: dict[int, list[int]] = {}
    for index, parent in enumerate(parents):
        if parent is not None and keep(index):
            children.setdefault(parent, []).append(index)
    return children


def _ancestors(index: int, parents: Sequence[int | None]) -> Iterator[int]:
    """Positions of a boundary's parent, grandparent, ... (a cycle in the data ends the walk)."""
    current, steps = parents[index], 0
    while current is not None and steps <= len(parents):
        yield current
        current, steps = parents[current], steps + 1


def _has_drawn_ancestor(index: int, drawn: Sequence[bool], parents: Sequence[int | None]) -> bool:
    return any(drawn[ancestor] for ancestor in _ancestors(index, parents))


def _tiled_parents(
    faces: np.ndarray, owner: np.ndarray, member: np.ndarray, parents: Sequence[int | None]
) -> tuple[set[int], bool]:
    """Find the parents their children tile, from face areas (no overlay of full shapes).

    Returns them, and whether any of them differs from its children by sliver faces.
    """
    area = shapely.area(faces)
    faces_of: dict[int, set[int]] = {}
    for face, shape in zip(owner.tolist(), member.tolist(), strict=True):
        faces_of.setdefault(shape, set()).add(face)
    tiled: set[int] = set()
    slivers = False
    for parent, kids in _children(parents, keep=lambda i: i in faces_of).items():
        own = faces_of.get(parent)
        if not own:
            continue
        covered = set().union(*(faces_of[k] for k in kids))
        total = float(area[list(own)].sum())
        uncovered = float(area[list(own - covered)].sum())
        spilled = float(area[list(covered - own)].sum())
        if uncovered <= TILING_TOLERANCE * total and spilled <= TILING_TOLERANCE * total:
            tiled.add(parent)
            slivers = slivers or own != covered
    return tiled, slivers


def _inherit_membership(
    owner: np.ndarray, member: np.ndarray, parents: Sequence[int | None], tiled: set[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Make each tiled parent hold exactly its children's faces (deepest parents first)."""
    if not tiled:
        return owner, member
    faces_of: dict[int, set[int]] = {}
    for face, shape in zip(owner.tolist(), member.tolist(), strict=True):
        if shape not in tiled:
            faces_of.setdefault(shape, set()).add(face)
    children = _children(parents, keep=lambda _index: True)
    deepest_first = sorted(
        tiled, key=lambda i: sum(1 for _ in _ancestors(i, parents)), reverse=True
    )
    for parent in deepest_first:
        faces_of[parent] = set().union(*(faces_of.get(k, set()) for k in children.get(parent, [])))
    pairs = [(face, shape) for shape, faces in faces_of.items() for face in faces]
    if not pairs:
        return np.array([], np.int64), np.array([], np.int64)
    new_owner, new_member = (
        np.array(column, dtype=np.int64) for column in zip(*pairs, strict=True)
    )
    return new_owner, new_member


def _simplify_faces(faces: np.ndarray, tolerance_deg: float) -> np.ndarray:
    simplified = shapely.coverage_simplify(faces, tolerance_deg, simplify_boundary=True)
    broken = shapely.is_missing(simplified) | shapely.is_empty(simplified)
    simplified[broken] = faces[broken]
    return np.asarray(simplified, dtype=object)


def _union(shapes: np.ndarray) -> shapely.Geometry:
    """Union shapes that should form a coverage: fast when they do, robust when not."""
    try:
        union = shapely.coverage_union_all(shapes)
    except shapely.errors.GEOSException:
        union = None
    if union is None or not union.is_valid:
        union = shapely.union_all(shapely.make_valid(shapes))
    return union


def _union_of_faces(faces: np.ndarray) -> shapely.MultiPolygon | None:
    try:
        union = shapely.coverage_union_all(faces)
    except shapely.errors.GEOSException:
        union = None
    # Faces of one coverage (the common case) make a valid outline: checked once.
    if isinstance(union, shapely.Polygon | shapely.MultiPolygon) and union.is_valid:
        shape = _polygonal(union)
        return shapely.orient_polygons(shape, exterior_cw=False) if shape is not None else None
    shape = _polygonal(_union(faces))
    if shape is None:
        return None
    if not shape.is_valid:
        shape = _polygonal(shapely.make_valid(shape, method="structure", keep_collapsed=False))
    return shapely.orient_polygons(shape, exterior_cw=False) if shape is not None else None


# Web Mercator (EPSG:3857): the sphere's radius, and the latitude where the square map stops.
MERCATOR_RADIUS_M = 6378137.0
MERCATOR_MAX_LATITUDE = 85.05112878
_MERCATOR_WORLD = shapely.box(-180, -MERCATOR_MAX_LATITUDE, 180, MERCATOR_MAX_LATITUDE)


def to_web_mercator(
    shapes: Sequence[shapely.MultiPolygon | None],
) -> list[shapely.MultiPolygon | None]:
    """Project WGS84 shapes to Web Mercator metres, clipping what lies beyond ±85.05°.

    Vectorised over every coordinate at once (numpy), which is much cheaper
    than a projection per geometry in the database.
    """
    array = np.array(list(shapes), dtype=object)
    present = ~shapely.is_missing(array)
    bounds = shapely.bounds(array[present])
    polar = np.zeros(len(array), dtype=bool)
    polar[present] = (bounds[:, 1] < -MERCATOR_MAX_LATITUDE) | (
        bounds[:, 3] > MERCATOR_MAX_LATITUDE
    )
    if polar.any():
        array[polar] = [
            _polygonal(shapely.intersection(shape, _MERCATOR_WORLD)) for shape in array[polar]
        ]

    def project(coords: np.ndarray) -> np.ndarray:
        lon, lat = np.radians(coords[:, 0]), np.radians(coords[:, 1])
        return np.column_stack(
            [MERCATOR_RADIUS_M * lon, MERCATOR_RADIUS_M * np.log(np.tan(np.pi / 4 + lat / 2))]
        )

    projected = array.copy()
    keep = ~shapely.is_missing(array)
    projected[keep] = shapely.transform(array[keep], project)
    # Rounding in the projection can make two nearly touching rings cross (County
    # Kerry did); repair those few so PostGIS and tile clients get valid shapes.
    broken = keep & ~shapely.is_valid(projected)
    for index in np.flatnonzero(broken):
        projected[index] = _polygonal(
            shapely.make_valid(projected[index], method="structure", keep_collapsed=False)
        )
    return list(projected)
