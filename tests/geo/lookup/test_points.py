from __future__ import annotations

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
