from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from django.db import connection

from geo.importing import import_geojson
from geo.lookup.points import PointIndex
from tests.builders import tiny_country

SQUARE = shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])
NEIGHBOUR = shapely.MultiPolygon([shapely.box(1, 0, 2, 1)])
LAKESIDE = shapely.MultiPolygon(
    [shapely.box(10, 10, 14, 14).difference(shapely.box(11, 11, 13, 13))]
)
ENCLAVE = shapely.MultiPolygon([shapely.box(11.5, 11.5, 12.5, 12.5)])
FIJI = shapely.MultiPolygon([shapely.box(179, -18, 180, -16), shapely.box(-180, -18, -179, -16)])
FRANCE_LIKE = shapely.MultiPolygon(
    [shapely.box(-5, 42, 8, 51), shapely.box(-62, 14, -60, 15), shapely.box(165, -23, 167, -20)]
)


def index_of(**shapes: shapely.MultiPolygon) -> tuple[PointIndex, dict[int, str]]:
    names = dict(enumerate(shapes, start=1))
    return PointIndex.from_rows((i, shapely.to_wkb(shapes[n])) for i, n in names.items()), names


def found(index: PointIndex, names: dict[int, str], lon: float, lat: float) -> set[str]:
    return {names[i] for i in index.locate(lon, lat)}


def test_points_inside_outside_and_on_a_shared_border() -> None:
    """Inside one square: that one; on the shared edge: both; in the sea: none."""
    index, names = index_of(square=SQUARE, neighbour=NEIGHBOUR)
    assert found(index, names, 0.5, 0.5) == {"square"}
    assert found(index, names, 1.0, 0.5) == {"square", "neighbour"}
    assert found(index, names, 5.0, 5.0) == set()


def test_holes_and_enclaves() -> None:
    """A point in a lake is not in the holed boundary; an enclave is found as itself."""
    index, names = index_of(lakeside=LAKESIDE, enclave=ENCLAVE)
    assert found(index, names, 10.5, 10.5) == {"lakeside"}
    assert found(index, names, 11.2, 11.2) == set()  # the lake
    assert found(index, names, 12.0, 12.0) == {"enclave"}


def test_antimeridian() -> None:
    """Both sides of 180° find Fiji, and so do -180 and 180 themselves."""
    index, names = index_of(fiji=FIJI)
    for lon in (179.5, -179.5, 180.0, -180.0):
        assert found(index, names, lon, -17) == {"fiji"}, lon
    assert found(index, names, 0.0, -17) == set()


def test_far_apart_parts_are_each_found() -> None:
    """Overseas parts are found, and points between them are not."""
    index, names = index_of(france=FRANCE_LIKE)
    assert (
        found(index, names, 2, 46)
        == found(index, names, -61, 14.5)
        == found(index, names, 166, -21)
        == {"france"}
    )
    assert found(index, names, 60, 0) == set()


def test_batch_equals_brute_force() -> None:
    """locate_many agrees with shapely.covers on every boundary for random points."""
    shapes = {
        "square": SQUARE,
        "neighbour": NEIGHBOUR,
        "lakeside": LAKESIDE,
        "enclave": ENCLAVE,
        "fiji": FIJI,
        "france": FRANCE_LIKE,
    }
    index, names = index_of(**shapes)
    rng = np.random.default_rng(7)
    lons = np.concatenate([rng.uniform(-180, 180, 2000), rng.uniform(-1, 15, 2000)])
    lats = np.concatenate([rng.uniform(-90, 90, 2000), rng.uniform(-1, 15, 2000)])
    batch = index.locate_many(lons, lats)
    points = shapely.points(lons, lats)
    for i, point in enumerate(points):
        expected = {name for name, shape in shapes.items() if shape.covers(point)}
        assert {names[j] for j in batch[i]} == expected
        assert {names[j] for j in index.locate(float(lons[i]), float(lats[i]))} == expected


def test_out_of_range_is_refused() -> None:
    """Coordinates off the globe are a ValueError, not a silent miss."""
    index, _ = index_of(square=SQUARE)
    with pytest.raises(ValueError, match="longitude"):
        index.locate(200, 0)


@pytest.mark.django_db
def test_from_database_agrees_with_postgis(tmp_path: Path) -> None:
    """The index built from stored boundaries answers as PostGIS ST_Covers does."""
    import_geojson([tiny_country(tmp_path)])
    index = PointIndex.from_database()
    rng = np.random.default_rng(3)
    lons, lats = rng.uniform(-0.5, 2.5, 300), rng.uniform(-0.5, 2.5, 300)
    batch = index.locate_many(lons, lats)
    with connection.cursor() as cursor:
        for lon, lat, ids in zip(lons, lats, batch, strict=True):
            cursor.execute(
                "SELECT id FROM geo_boundary WHERE ST_Covers(geometry, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                [float(lon), float(lat)],
            )
            assert sorted(ids) == sorted(row[0] for row in cursor.fetchall())


def test_saved_and_mapped_index_answers_the_same(tmp_path: Path) -> None:
    """An index written to files and mapped read-only answers as the one built in memory."""
    shapes = {"square": SQUARE, "neighbour": NEIGHBOUR, "lakeside": LAKESIDE, "fiji": FIJI}
    built, _ = index_of(**shapes)
    built.save(tmp_path)
    mapped = PointIndex.load(tmp_path, mmap=True)
    assert isinstance(mapped.arrays["xy"], np.memmap)
    assert not mapped.arrays["xy"].flags.writeable
    rng = np.random.default_rng(11)
    lons = np.concatenate([rng.uniform(-1, 15, 500), [1.0, 180.0, -180.0, 10.0]])
    lats = np.concatenate([rng.uniform(-1, 15, 500), [0.5, -17.0, -17.0, 10.0]])
    assert mapped.locate_many(lons, lats) == built.locate_many(lons, lats)
    assert [mapped.locate(x, y) for x, y in zip(lons, lats, strict=True)] == [
        built.locate(x, y) for x, y in zip(lons, lats, strict=True)
    ]


def test_points_on_diagonal_edges_and_vertices_are_covered() -> None:
    """Points exactly on a slanted edge or at a vertex are on the border (exact orientation)."""
    triangle = shapely.MultiPolygon([shapely.Polygon([(0, 0), (3, 1), (0, 3)])])
    index, names = index_of(triangle=triangle)
    assert found(index, names, 3, 1) == {"triangle"}  # vertex
    assert found(index, names, 1.5, 0.5) == {"triangle"}  # on the edge (0,0)-(3,1)
    assert found(index, names, 1.5, 2.0) == {"triangle"}  # on the edge (3,1)-(0,3)
    assert found(index, names, 1.5, 0.4999999999) == set()  # just outside
    lons, lats = np.array([3, 1.5, 1.5, 1.5]), np.array([1, 0.5, 2.0, 0.4999999999])
    assert [len(ids) for ids in index.locate_many(lons, lats)] == [1, 1, 1, 0]


def test_a_point_well_inside_is_found_without_testing_an_edge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cells a boundary covers whole answer at once; only cells its border crosses test edges."""
    disc = shapely.MultiPolygon([shapely.Point(20, 10).buffer(8, quad_segs=64)])
    index, names = index_of(disc=disc, square=SQUARE)
    tested: list[int] = []
    covers_one = PointIndex._covers_one

    def counting(self: PointIndex, x: float, y: float, slab: int) -> bool:
        tested.append(slab)
        return covers_one(self, x, y, slab)

    monkeypatch.setattr(PointIndex, "_covers_one", counting)
    assert found(index, names, 20.1, 10.1) == {"disc"}
    assert tested == []
    assert found(index, names, 27.99, 10.0) == {"disc"}  # near its border: decided on edges
    assert tested


def test_cells_along_borders_and_holes_agree_with_shapely() -> None:
    """Points on a lattice finer than the grid, cell corners included, as shapely.covers says.

    The shapes' edges lie on cell sides (boxes on whole degrees), cross cells
    diagonally, or fit inside one cell; a hole is exactly a block of cells.
    """
    shapes = {
        "lakeside": LAKESIDE,
        "enclave": ENCLAVE,
        "square": SQUARE,
        "diamond": shapely.MultiPolygon([shapely.Polygon([(5, 2), (8, 5), (5, 8), (2, 5)])]),
        "speck": shapely.MultiPolygon([shapely.box(3.01, 3.01, 3.02, 3.02)]),
    }
    index, names = index_of(**shapes)
    axis = np.arange(-0.5, 14.5, 0.0625)
    lons, lats = (grid.ravel() for grid in np.meshgrid(axis, axis))
    lons = np.concatenate([lons, [3.015, 3.01, 3.02]])
    lats = np.concatenate([lats, [3.015, 3.015, 3.02]])
    batch = index.locate_many(lons, lats)
    for i, point in enumerate(shapely.points(lons, lats)):
        expected = {name for name, shape in shapes.items() if shape.covers(point)}
        assert {names[j] for j in batch[i]} == expected, (lons[i], lats[i])
        assert found(index, names, float(lons[i]), float(lats[i])) == expected


def postgis_metres(shape: shapely.Geometry, lon: float, lat: float) -> float:
    """ST_Distance(geography) from a point to a shape, as PostGIS measures it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_Distance(ST_GeogFromWKB(%s),"
            " ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)",
            [shapely.to_wkb(shape), lon, lat],
        )
        (metres,) = cursor.fetchone()
    return float(metres)


def coastal_points(
    shape: shapely.Geometry, box: tuple[float, float, float, float], *, seed: int, count: int
) -> list[tuple[float, float]]:
    """Points up to ~9 km off the shape's vertices within ``box``, none inside the shape."""
    coords = shapely.get_coordinates(shapely.boundary(shape))
    west, south, east, north = box
    near = coords[
        (coords[:, 0] >= west)
        & (coords[:, 0] <= east)
        & (coords[:, 1] >= south)
        & (coords[:, 1] <= north)
    ]
    assert len(near), box
    rng = np.random.default_rng(seed)
    points = []
    for lon, lat in near[rng.choice(len(near), count * 3)]:
        metres, bearing = rng.uniform(0, 9000), rng.uniform(0, 2 * np.pi)
        y = float(lat + metres * np.cos(bearing) / 111_000)
        x = float(
            np.clip(lon + metres * np.sin(bearing) / 111_000 / np.cos(np.radians(y)), -180, 180)
        )
        if not shape.covers(shapely.Point(x, y)):
            points.append((x, y))
    return points[:count]


def real_outline(posm_extracts: Path, name: str) -> shapely.Geometry:
    collection = json.loads((posm_extracts / name).read_text())
    (feature,) = collection["features"]
    return shapely.geometry.shape(feature["geometry"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "box"),
    [
        ("R2978650admin0.json", (10, 76, 33, 81)),  # Norway: Svalbard, 76-81 °N
        ("R556706admin0.json", (175, -48, 180, -28)),  # New Zealand, west of 180°
        ("R556706admin0.json", (-180, -48, -175, -28)),  # New Zealand, east of 180°
        ("R555017admin0.json", (-79, 17, -75, 19)),  # Jamaica
    ],
)
def test_nearest_on_real_coasts_agrees_with_postgis(
    posm_extracts: Path, name: str, box: tuple[float, float, float, float]
) -> None:
    """Off real coasts, nearest finds the outline within 5 km, at ST_Distance(geography) ± 10 cm."""
    outline = real_outline(posm_extracts, name)
    index = PointIndex.from_rows([(1, shapely.to_wkb(outline))])
    within, beyond = 0, 0
    for lon, lat in coastal_points(outline, box, seed=5, count=60):
        expected = postgis_metres(outline, lon, lat)
        nearest = index.nearest(lon, lat, within_m=5000)
        if expected <= 4999.9:
            within += 1
            assert [owner for owner, _ in nearest] == [1], (lon, lat, expected)
            assert nearest[0][1] == pytest.approx(expected, abs=0.1), (lon, lat)
        elif expected > 5000.1:
            beyond += 1
            assert nearest == [], (lon, lat, expected)
    assert within >= 20 and beyond >= 3, (within, beyond)  # the sample tests both sides


@pytest.mark.django_db
def test_nearest_near_the_pole_and_across_the_antimeridian() -> None:
    """A cap near the North Pole and an island cut at 180° are measured as PostGIS does."""
    # The ring around the pole: vertices every 30° (its edges are arcs, as in PostGIS).
    ring = [(lon, 89.97) for lon in range(-180, 181, 30)] + [(180, 90), (-180, 90)]
    cap = shapely.MultiPolygon([shapely.Polygon(ring)])
    island = shapely.MultiPolygon(
        [shapely.box(179.98, -17.02, 180, -17), shapely.box(-180, -17.02, -179.99, -17)]
    )
    index = PointIndex.from_rows([(1, shapely.to_wkb(cap)), (2, shapely.to_wkb(island))])
    for lon, lat in [(0, 89.95), (120, 89.93), (-179.5, 89.96), (180, 89.969)]:
        (found,) = index.nearest(lon, lat, within_m=5000)
        assert found[0] == 1
        assert found[1] == pytest.approx(postgis_metres(cap, lon, lat), abs=0.1)
    for lon, lat in [(179.95, -17.01), (-179.97, -17.03), (180, -17.025), (-180, -16.99)]:
        (found,) = index.nearest(lon, lat, within_m=5000)
        assert found[0] == 2
        assert found[1] == pytest.approx(postgis_metres(island, lon, lat), abs=0.1), (lon, lat)
    assert index.nearest(0, 89.9, within_m=5000) == []  # 7.8 km from the cap


def test_nearest_lists_each_boundary_once_nearest_first() -> None:
    """Two squares 0.01° and 0.03° east of a point: both within 5 km, nearest first."""
    near = shapely.MultiPolygon([shapely.box(0.01, 0, 0.02, 0.01)])
    far = shapely.MultiPolygon(
        [shapely.box(0.03, -0.01, 0.04, 0.02), shapely.box(0.031, 0.03, 0.04, 0.04)]
    )
    index, names = index_of(near=near, far=far)
    found = index.nearest(0.0, 0.005, within_m=5000)
    assert [names[i] for i, _ in found] == ["near", "far"]
    assert found[0][1] == pytest.approx(1113.2, abs=0.1)  # 0.01° of longitude at the equator
    assert found[1][1] == pytest.approx(3339.6, abs=0.1)
    assert index.nearest(0.0, 0.005, within_m=2000) == [(found[0][0], found[0][1])]
    assert index.nearest(0.0, 0.005, within_m=0) == []
    with pytest.raises(ValueError, match="longitude"):
        index.nearest(0, 91, within_m=10)
