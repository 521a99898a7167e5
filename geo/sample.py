"""Mipakaland: a small fictional country in the posm-extracts format.

The project's own sample input for ``import_geojson``, built in code so that it
is small, reproducible and free of licence terms (see ``fixtures/README.md``).
:func:`build_sample_country` returns the seven files as GeoJSON dicts and
:func:`write_sample_country` writes them. The build is pure and
deterministic: the only randomness comes from a NumPy generator with a fixed
seed, and all coordinates sit on a 1e-7 degree grid (the precision of OSM and
of the real extracts), so the files are byte-for-byte stable for a given
Shapely (GEOS) and NumPy.

Mipakaland (``R900000``) lies in open sea in the Gulf of Guinea (longitude 2
to 6, latitude -4 to -1), where no real land is. It has 4 states, 14 districts
and, for two districts, a level-3 file of wards. Districts tile their state and
states tile the country exactly: every unit is assembled from the faces of one
noded planar line network, so neighbours share identical border vertices.

How it is built:

1. A wiggly mainland coast (a noisy ellipse), an island off the south coast and
   the ring of a tiny enclave.
2. A Voronoi diagram of hand-placed sites (one per district, or one per ward
   for the two districts that have wards). Each Voronoi edge is densified and
   displaced sideways by seeded noise that fades to zero at its ends, so
   neighbours keep meeting at the Voronoi vertices.
3. The wiggled edges, the coast, the island and the enclave ring are noded on
   the 1e-7 grid and polygonized; each land face belongs to the wiggled
   Voronoi cell that contains it (or to the enclave).
4. Wards and districts are unions of their faces, states the union of their
   districts, the country the union of its states.
5. The ``_simplified`` files are ``shapely.coverage_simplify`` of each whole
   file, so borders stay shared, also between districts of different states,
   as in the real simplified files. Features smaller than ``DROP_AREA_DEG2``
   get a null geometry there.

Quirks included on purpose, each mirroring the real extracts:

- Every property value is a string, and a missing value is the literal
  ``"None"`` (``is_in_state`` of states, ``name_en`` of most districts).
- Non-ASCII names: ``"Côte-Verte"``, ``"Île Basse"``, ``"Bélanou"``, ``"Kôro"``.
- A name with a double space and a trailing space: ``"Baie  des Pêcheurs "``.
- A name joining two variants with ``" / "``: ``"Mipaka Kaskazini / North Mipaka"``.
- A state whose ``name_en`` is ``"None"`` (``"Hautes-Terres"``, R9003).
- Two districts named ``"Riverside"`` under different states (R90011, R90031).
- Closed-way ids beside relation ids: districts ``W90014`` and ``W90024``,
  ward ``W900324``.
- An island district: ``"Île Basse"`` (R90041) is a MultiPolygon of a mainland
  part and an island, which makes its state and the country two-part as well.
- A tiny enclave district, ``"Port-Petit"`` (R90043), which leaves a hole in
  its neighbour ``"Pwani"`` and is dropped from the simplified file
  (``"geometry": null``), as the extractor dropped tiny features.
- Full-resolution files use MultiPolygon throughout, with counter-clockwise
  exteriors except the two closed-way districts, drawn clockwise (real full
  files mix both). Simplified files have clockwise exteriors and use Polygon
  for single-part features.
- Level-3 features (wards) carry ``parent_id``, the osm_id of their district,
  as newer extracts do; there is no simplified level-3 file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

SEED = 20150301
GRID_DEG = 1e-7
COUNTRY_ID = "R900000"
COUNTRY_NAME = "Mipakaland"
CRS_NAME = "urn:ogc:def:crs:OGC:1.3:CRS84"
NONE = "None"

# The mainland: a noisy ellipse around this centre, with these semi-axes.
MAINLAND_CENTRE = (3.9, -2.45)
MAINLAND_RADII_DEG = (1.5, 1.0)
MAINLAND_VERTICES = 1200
ISLAND_CENTRE = (4.45, -3.82)
ISLAND_RADIUS_DEG = 0.1
ISLAND_VERTICES = 110
ENCLAVE_RADIUS_DEG = 0.025
ENCLAVE_VERTICES = 40

# Inland borders: one vertex every EDGE_SPACING_DEG, a sideways wiggle made of
# sines with these wavelengths and amplitudes, faded out over the last
# EDGE_TAPER_DEG of each end so that borders cannot cross near a junction.
EDGE_SPACING_DEG = 0.006
EDGE_WAVES_DEG = ((0.45, 0.03), (0.17, 0.012), (0.07, 0.005), (0.03, 0.002))
EDGE_JITTER_DEG = 0.0008
EDGE_TAPER_DEG = 0.2

# About 3 km: keeps about 6% of the vertices, like the real simplified files (3-7%).
SIMPLIFY_TOLERANCE_DEG = 0.03
# Features smaller than this (about 60 km²) get no simplified geometry.
DROP_AREA_DEG2 = 0.005


@dataclass(frozen=True)
class _Ward:
    osm_id: str
    name: str
    name_en: str
    site: tuple[float, float]


@dataclass(frozen=True)
class _District:
    osm_id: str
    name: str
    name_en: str
    state_id: str
    site: tuple[float, float]
    wards: tuple[_Ward, ...] = ()
    enclave: bool = False


@dataclass(frozen=True)
class _State:
    osm_id: str
    name: str
    name_en: str


STATES = (
    _State("R9001", "Côte-Verte", "Green Coast"),
    _State("R9002", "Mipaka Kaskazini / North Mipaka", "North Mipaka"),
    _State("R9003", "Hautes-Terres", NONE),
    _State("R9004", "Kusini", "South"),
)

DISTRICTS = (
    _District("R90011", "Riverside", NONE, "R9001", (2.75, -2.0)),
    _District(
        "R90012",
        "Bélanou",
        NONE,
        "R9001",
        (2.8, -2.8),
        wards=(
            _Ward("R900121", "Bélanou Centre", NONE, (2.75, -2.68)),
            _Ward("R900122", "Mbele", NONE, (2.64, -2.9)),
            _Ward("R900123", "Nyuma", NONE, (2.9, -2.95)),
        ),
    ),
    _District("R90013", "Savane", "Savannah", "R9001", (3.3, -2.35)),
    _District("W90014", "Lagune", NONE, "R9001", (3.3, -3.1)),
    _District("R90021", "Kaskazini Mjini", NONE, "R9002", (3.7, -1.75)),
    _District("R90022", "Baie  des Pêcheurs ", "Fishermen's Bay", "R9002", (4.3, -1.7)),
    _District("R90023", "Msitu", NONE, "R9002", (4.0, -2.2)),
    _District("W90024", "Mlima", NONE, "R9002", (4.85, -1.95)),
    _District("R90031", "Riverside", NONE, "R9003", (5.1, -2.45)),
    _District(
        "R90032",
        "Kôro",
        NONE,
        "R9003",
        (4.6, -2.6),
        wards=(
            _Ward("R900321", "Kôro-Ville", NONE, (4.6, -2.52)),
            _Ward("R900322", "Kôro-Est", NONE, (4.7, -2.64)),
            _Ward("R900323", "Sokodé", NONE, (4.58, -2.7)),
            _Ward("W900324", "Kôro-Ouest", NONE, (4.48, -2.58)),
        ),
    ),
    _District("R90033", "Plateau", NONE, "R9003", (5.0, -3.0)),
    _District("R90041", "Île Basse", "Low Island", "R9004", (4.4, -3.2)),
    _District("R90042", "Pwani", NONE, "R9004", (3.85, -3.15)),
    _District("R90043", "Port-Petit", NONE, "R9004", (3.82, -3.08), enclave=True),
)

ISLAND_DISTRICT_ID = "R90041"
CLOCKWISE_FULL_IDS = frozenset({"W90014", "W90024"})

# Newer posm output's naming (admin_level_<N>), which import_geojson reads as well
# as R<id>admin<N>: the sample exercises it, and cannot be taken for a copy of the
# posm-extracts data.
FILE_NAMES = (
    "admin_level_0.json",
    "admin_level_1.json",
    "admin_level_2.json",
    "admin_level_3.json",
    "admin_level_0_simplified.json",
    "admin_level_1_simplified.json",
    "admin_level_2_simplified.json",
)


def build_sample_country() -> dict[str, dict[str, Any]]:
    """Build the Mipakaland files.

    Returns
    -------
    dict[str, dict[str, Any]]
        File name (``admin_level_0.json`` ... ``admin_level_2_simplified.json``,
        in the order of ``FILE_NAMES``) to a GeoJSON FeatureCollection dict in
        the posm-extracts format. The result is the same on every call.

    Raises
    ------
    RuntimeError
        The constants of this module no longer give a clean map (wiggled
        borders cross on land, the island or the enclave straddles a border,
        a unit falls apart): a bug after an edit of this module, or a GEOS or
        NumPy version whose results differ.
    """
    faces = _faces_by_unit()
    wards = {
        ward.osm_id: _union(faces[ward.osm_id]) for district in DISTRICTS for ward in district.wards
    }
    districts = {
        district.osm_id: _union(
            [face for ward in district.wards for face in faces[ward.osm_id]]
            if district.wards
            else faces[district.osm_id]
        )
        for district in DISTRICTS
    }
    _check_parts({**districts, **wards})
    states = {
        state.osm_id: _union([districts[d.osm_id] for d in DISTRICTS if d.state_id == state.osm_id])
        for state in STATES
    }
    country = _union(list(states.values()))
    return _files(country=country, states=states, districts=districts, wards=wards)


def write_sample_country(directory: Path) -> list[Path]:
    """Write the Mipakaland files into a folder.

    Parameters
    ----------
    directory : Path
        Where to write; created if missing. Files already there with the same
        names are overwritten, other files are left alone.

    Returns
    -------
    list[Path]
        The paths written, in the order of ``FILE_NAMES``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, collection in build_sample_country().items():
        path = directory / name
        path.write_text(collection_to_json(collection), encoding="utf-8")
        written.append(path)
    return written


def collection_to_json(collection: dict[str, Any]) -> str:
    """Return the file text of one FeatureCollection: compact JSON, UTF-8 names, newline."""
    return json.dumps(collection, ensure_ascii=False, indent=None, separators=(",", ":")) + "\n"


def _noisy_ring(
    rng: np.random.Generator,
    centre: tuple[float, float],
    radii: tuple[float, float],
    vertices: int,
    *,
    roughness: float = 1.0,
) -> shapely.LinearRing:
    """Return a closed counter-clockwise ring: an ellipse with a noisy radius.

    The radius is a positive function of the angle, so the ring is star-shaped
    around ``centre`` and never self-intersects.
    """
    angles = np.linspace(0.0, 2.0 * math.pi, vertices, endpoint=False)
    harmonics = np.arange(2, 80)
    amplitudes = 0.1 * roughness * harmonics**-1.3 * rng.uniform(0.5, 1.5, harmonics.size)
    phases = rng.uniform(0.0, 2.0 * math.pi, harmonics.size)
    radius = 1.0 + np.sin(np.outer(angles, harmonics) + phases) @ amplitudes
    radius += rng.normal(0.0, 0.002 * roughness, vertices)
    x = centre[0] + radii[0] * radius * np.cos(angles)
    y = centre[1] + radii[1] * radius * np.sin(angles)
    ring: shapely.LinearRing = shapely.linearrings(np.round(x, 7), np.round(y, 7))
    return ring


def _voronoi_edges(
    sites: Sequence[tuple[float, float]], frame: shapely.Polygon
) -> list[np.ndarray]:
    """Return the Voronoi edges across ``frame`` as (2, 2) arrays, in a canonical order.

    Each edge runs from its lexicographically smaller end; the list is sorted,
    so the noise given to each edge does not depend on GEOS's output order.
    """
    # Reach beyond the frame: polygonizing with the frame's ring then cuts
    # every edge exactly, instead of relying on ends that lie on the ring.
    reach = shapely.buffer(frame, 0.1, join_style="mitre")
    diagram = shapely.voronoi_polygons(shapely.multipoints(sites), extend_to=reach, only_edges=True)
    lines = shapely.get_parts(diagram)
    edges = []
    for line in lines:
        coords = np.round(shapely.get_coordinates(line), 9)
        start, end = sorted(map(tuple, coords))
        edges.append((start, end))
    return [np.array(edge) for edge in sorted(edges)]


def _wiggle(rng: np.random.Generator, edge: np.ndarray) -> shapely.LineString:
    """Densify a straight edge and displace its vertices sideways; the ends stay put."""
    start, end = edge
    length = float(np.hypot(*(end - start)))
    steps = max(2, math.ceil(length / EDGE_SPACING_DEG))
    along = np.linspace(0.0, length, steps + 1)
    # A short edge never reaches full amplitude: no spikes between close junctions.
    fade = np.sin(0.5 * math.pi * np.clip(np.minimum(along, length - along) / EDGE_TAPER_DEG, 0, 1))
    offset = rng.normal(0.0, EDGE_JITTER_DEG, along.size)
    for wavelength, amplitude in EDGE_WAVES_DEG:
        scale = amplitude * rng.uniform(0.6, 1.4)
        offset += scale * np.sin(2.0 * math.pi * along / wavelength + rng.uniform(0, 2 * math.pi))
    offset *= fade
    direction = (end - start) / length
    normal = np.array([-direction[1], direction[0]])
    points = start + np.outer(along, direction) + np.outer(offset, normal)
    points[0], points[-1] = start, end
    line: shapely.LineString = shapely.linestrings(np.round(points, 7))
    return line


def _faces_by_unit() -> dict[str, list[shapely.Polygon]]:
    """Return the land faces of the planar map, by ward or (for districts without wards) district.

    All faces come from one polygonization of one noded network, so two faces
    that touch share their border vertices exactly.
    """
    rng = np.random.default_rng(SEED)
    mainland = _noisy_ring(rng, MAINLAND_CENTRE, MAINLAND_RADII_DEG, MAINLAND_VERTICES)
    island = _noisy_ring(rng, ISLAND_CENTRE, (ISLAND_RADIUS_DEG,) * 2, ISLAND_VERTICES)
    (enclave_district,) = (d for d in DISTRICTS if d.enclave)
    enclave = _noisy_ring(
        rng, enclave_district.site, (ENCLAVE_RADIUS_DEG,) * 2, ENCLAVE_VERTICES, roughness=0.3
    )

    sites = {
        unit.osm_id: unit.site
        for district in DISTRICTS
        if not district.enclave
        for unit in (district.wards or (district,))
    }
    frame = shapely.box(*shapely.buffer(shapely.envelope(mainland), 0.5, join_style="mitre").bounds)
    edges = [_wiggle(rng, edge) for edge in _voronoi_edges(list(sites.values()), frame)]
    if shapely.intersects(shapely.multilinestrings(edges), enclave):
        raise RuntimeError("the enclave crosses a border")

    # The wiggled Voronoi cells, only to tell which site each land face belongs to.
    bounded = shapely.union_all([*edges, frame.exterior])
    pieces = shapely.get_parts(shapely.polygonize(shapely.get_parts(bounded)))
    cells: dict[str, shapely.Polygon] = {}
    for osm_id, site in sites.items():
        around = [p for p in pieces if p.contains(shapely.Point(site))]
        if len(around) != 1:
            raise RuntimeError(f"the wiggled cell of {osm_id} is lost")
        cells[osm_id] = around[0]

    land = shapely.union_all([shapely.Polygon(mainland), shapely.Polygon(island)])
    network = shapely.union_all([*edges, mainland, island, enclave], grid_size=GRID_DEG)
    faces: dict[str, list[shapely.Polygon]] = {}
    for face in shapely.get_parts(shapely.polygonize(shapely.get_parts(network))):
        inside = shapely.point_on_surface(face)
        if not land.contains(inside):
            continue
        if shapely.Polygon(enclave).contains(inside):
            owners = [enclave_district.osm_id]
        else:
            owners = [osm_id for osm_id, cell in cells.items() if cell.contains(inside)]
        if len(owners) != 1:
            raise RuntimeError(f"wiggled borders cross on land near {inside}")
        faces.setdefault(owners[0], []).append(face)
    return faces


def _union(parts: Sequence[shapely.Geometry]) -> shapely.MultiPolygon:
    """Return the union of polygons that share edges exactly, as a normalized MultiPolygon."""
    union = shapely.coverage_union_all(parts)
    polygons = [p for p in shapely.get_parts(union) if not p.is_empty]
    multi: shapely.MultiPolygon = shapely.normalize(shapely.MultiPolygon(polygons))
    return multi


def _check_parts(units: dict[str, shapely.MultiPolygon]) -> None:
    """Raise RuntimeError unless every unit but the island district has one part."""
    for osm_id, shape in units.items():
        expected = 2 if osm_id == ISLAND_DISTRICT_ID else 1
        if len(shape.geoms) != expected:
            raise RuntimeError(f"{osm_id} has {len(shape.geoms)} parts, expected {expected}")


def _files(
    *,
    country: shapely.MultiPolygon,
    states: dict[str, shapely.MultiPolygon],
    districts: dict[str, shapely.MultiPolygon],
    wards: dict[str, shapely.MultiPolygon],
) -> dict[str, dict[str, Any]]:
    """Assemble the seven FeatureCollections from the built geometries."""
    country_props = _properties(COUNTRY_ID, COUNTRY_NAME, COUNTRY_NAME, NONE, NONE)
    state_props = [_properties(s.osm_id, s.name, s.name_en, COUNTRY_ID, NONE) for s in STATES]
    district_props = [
        _properties(d.osm_id, d.name, d.name_en, COUNTRY_ID, d.state_id) for d in DISTRICTS
    ]
    ward_props = [
        {**_properties(w.osm_id, w.name, w.name_en, COUNTRY_ID, d.state_id), "parent_id": d.osm_id}
        for d in DISTRICTS
        for w in d.wards
    ]
    levels = [
        ([country_props], [country]),
        (state_props, [states[p["osm_id"]] for p in state_props]),
        (district_props, [districts[p["osm_id"]] for p in district_props]),
        (ward_props, [wards[p["osm_id"]] for p in ward_props]),
    ]
    files: dict[str, dict[str, Any]] = {}
    for level, (props, shapes) in enumerate(levels):
        files[f"admin_level_{level}.json"] = _collection(
            _feature(p, _full_geometry(shape, clockwise=p["osm_id"] in CLOCKWISE_FULL_IDS))
            for p, shape in zip(props, shapes, strict=True)
        )
    for level, (props, shapes) in enumerate(levels[:3]):
        simplified = shapely.coverage_simplify(shapes, SIMPLIFY_TOLERANCE_DEG)
        files[f"admin_level_{level}_simplified.json"] = _collection(
            _feature(p, _simplified_geometry(full, shape))
            for p, full, shape in zip(props, shapes, simplified, strict=True)
        )
    return {name: files[name] for name in FILE_NAMES}


def _properties(
    osm_id: str, name: str, name_en: str, is_in_country: str, is_in_state: str
) -> dict[str, str]:
    return {
        "osm_id": osm_id,
        "name": name,
        "name_en": name_en,
        "is_in_country": is_in_country,
        "is_in_state": is_in_state,
    }


def _collection(features: Iterable[dict[str, Any]]) -> dict[str, Any]:
    crs = {"type": "name", "properties": {"name": CRS_NAME}}
    return {"type": "FeatureCollection", "crs": crs, "features": list(features)}


def _feature(properties: dict[str, str], geometry: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def _full_geometry(shape: shapely.MultiPolygon, *, clockwise: bool) -> dict[str, Any]:
    oriented = shapely.orient_polygons(shape, exterior_cw=clockwise)
    return {"type": "MultiPolygon", "coordinates": [_polygon_coords(p) for p in oriented.geoms]}


def _simplified_geometry(
    full: shapely.MultiPolygon, simplified: shapely.Geometry
) -> dict[str, Any] | None:
    if shapely.area(full) < DROP_AREA_DEG2 or shapely.is_empty(simplified):
        return None
    oriented = shapely.orient_polygons(shapely.normalize(simplified), exterior_cw=True)
    parts = [p for p in shapely.get_parts(oriented) if not p.is_empty]
    if len(parts) == 1:
        return {"type": "Polygon", "coordinates": _polygon_coords(parts[0])}
    return {"type": "MultiPolygon", "coordinates": [_polygon_coords(p) for p in parts]}


def _polygon_coords(polygon: shapely.Polygon) -> list[list[list[float]]]:
    rings = [polygon.exterior, *polygon.interiors]
    return [
        [[round(x, 7), round(y, 7)] for x, y in shapely.get_coordinates(ring).tolist()]
        for ring in rings
    ]
