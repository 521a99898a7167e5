from __future__ import annotations

from collections import Counter

import pytest
import shapely

from geo.importing.geometry import (
    area_km2,
    bounding_box,
    repair_geometry,
    simplify_coverage,
    simplify_hierarchy,
    to_web_mercator,
)
from tests.builders import wiggly_square

BOW_TIE = shapely.MultiPolygon([shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])])
CLOCKWISE = shapely.MultiPolygon([shapely.Polygon([(0, 0), (0, 1), (1, 1), (1, 0), (0, 0)])])


def test_repair_makes_a_bow_tie_valid_and_keeps_its_area() -> None:
    """A self-intersecting ring becomes a valid MultiPolygon of its two triangles."""
    quirks: Counter[str] = Counter()
    repaired = repair_geometry(BOW_TIE, quirks)
    assert repaired is not None
    assert repaired.is_valid
    assert repaired.geom_type == "MultiPolygon"
    assert repaired.area == pytest.approx(0.5)
    assert quirks["repaired_invalid"] == 1


def test_repair_orients_exteriors_counter_clockwise() -> None:
    """Clockwise exteriors (the extracts' simplified files) are turned per RFC 7946."""
    quirks: Counter[str] = Counter()
    repaired = repair_geometry(CLOCKWISE, quirks)
    assert repaired is not None
    assert shapely.is_ccw(repaired.geoms[0].exterior)
    assert quirks["clockwise_ring"] == 1


def test_bounding_box_wraps_across_the_antimeridian() -> None:
    """Parts either side of 180° give west > east, not a globe-wide box."""
    fiji = shapely.MultiPolygon(
        [shapely.box(177, -19, 180, -16), shapely.box(-180, -19, -178, -16)]
    )
    assert bounding_box(fiji) == (177.0, -19.0, -178.0, -16.0)
    assert bounding_box(shapely.MultiPolygon([shapely.box(1, 2, 3, 4)])) == (1.0, 2.0, 3.0, 4.0)


def test_area_matches_a_one_degree_cell_at_the_equator() -> None:
    """A 1°x1° cell at the equator is about 12,364 km² on PostGIS's sphere."""
    cell = shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])
    assert area_km2(cell) == pytest.approx(12364.0, rel=1e-3)
    holed = shapely.MultiPolygon(
        [shapely.box(0, 0, 1, 1).difference(shapely.box(0.25, 0.25, 0.75, 0.75))]
    )
    assert area_km2(holed) == pytest.approx(12364.0 * 0.75, rel=1e-3)


def test_simplify_coverage_keeps_neighbours_joined() -> None:
    """Siblings simplified together still tile exactly the same area: no gap, no overlap."""
    squares = [
        shapely.MultiPolygon([shapely.Polygon(wiggly_square(x, y)[0])])
        for x in range(2)
        for y in range(2)
    ]
    simplified = simplify_coverage([*squares, None], tolerance_deg=0.01)
    assert simplified[-1] is None
    shapes = [s for s in simplified if s is not None]
    assert (
        sum(shapely.get_num_coordinates(s) for s in shapes)
        < sum(shapely.get_num_coordinates(s) for s in squares) / 10
    )
    union = shapely.union_all(shapes)
    assert union.area == pytest.approx(sum(s.area for s in shapes))  # no overlap
    assert union.area == pytest.approx(4.0)  # no gap
    assert all(s.is_valid and shapely.is_ccw(s.geoms[0].exterior) for s in shapes)


def test_simplify_never_loses_a_tiny_boundary() -> None:
    """An island smaller than the tolerance keeps a visible shape."""
    islet = shapely.MultiPolygon([shapely.box(0, 0, 0.0001, 0.0001)])
    (simplified,) = simplify_coverage([islet], tolerance_deg=0.01)
    assert simplified is not None
    assert not simplified.is_empty
    assert simplified.area > 0


def wiggly_grid(size: int = 2, points: int = 400) -> list[shapely.MultiPolygon]:
    return [
        shapely.MultiPolygon([shapely.Polygon(wiggly_square(x, y, 1, points)[0])])
        for x in range(size)
        for y in range(size)
    ]


def vertices(shapes: list[shapely.MultiPolygon | None]) -> int:
    return sum(int(shapely.get_num_coordinates(s)) for s in shapes if s is not None)


def test_bands_coarsen_and_keep_neighbours_joined() -> None:
    """Every band tiles the same area without overlap, with fewer vertices as bands coarsen."""
    squares = wiggly_grid()
    result = simplify_hierarchy(squares, [None] * 4, tolerance_deg=0.005)
    assert sorted(result.bands) == [0, 1, 2]
    counts = [vertices(result.bands[band]) for band in (2, 1, 0)]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] < vertices(list(squares))
    projected_area = shapely.union_all([s for s in to_web_mercator(squares) if s is not None]).area
    for shapes, area in [
        (result.default, 4.0),
        *((band, projected_area) for band in result.bands.values()),
    ]:
        present = [s for s in shapes if s is not None]
        assert len(present) == 4
        assert all(s.is_valid for s in present)
        union = shapely.union_all(present)
        assert union.area == pytest.approx(sum(s.area for s in present))
        assert union.area == pytest.approx(area, rel=1e-6)


def test_a_tiled_parent_is_the_union_of_its_children_at_every_band() -> None:
    """A state tiled by its districts has exactly their outline at every band, and the default."""
    districts = wiggly_grid()
    # The state's own outline: the same line, digitised apart (a vertex more per
    # edge), as a state file and a district file of one extract are.
    state = shapely.MultiPolygon([shapely.segmentize(shapely.union_all(districts), 0.013)])
    result = simplify_hierarchy([state, *districts], [None, 0, 0, 0, 0], tolerance_deg=0.01)
    assert result.tiled == {0}
    for shapes in [result.default, *result.bands.values()]:
        parent, children = shapes[0], shapes[1:]
        assert parent is not None and all(c is not None for c in children)
        union = shapely.union_all(children)
        assert shapely.symmetric_difference(parent, union).area <= 1e-9 * parent.area


def test_children_stay_inside_a_parent_they_do_not_tile() -> None:
    """Districts covering half their state never poke out of its outline at any band."""
    districts = wiggly_grid()[:2]  # x = 0: the west half
    state = shapely.MultiPolygon([shapely.Polygon(wiggly_square(0, 0, 2, 800)[0])])
    result = simplify_hierarchy([state, *districts], [None, 0, 0], tolerance_deg=0.01)
    assert result.tiled == set()
    for shapes in [result.default, *result.bands.values()]:
        parent, west, east = shapes
        assert parent is not None and west is not None and east is not None
        assert shapely.difference(shapely.union(west, east), parent).area <= 1e-9 * parent.area
        assert shapely.intersection(west, east).area <= 1e-12


def test_a_tiny_ward_keeps_a_valid_shape_at_every_band() -> None:
    """A 50 m ward inside a district does not vanish at the coarsest band."""
    district = shapely.MultiPolygon([shapely.Polygon(wiggly_square(0, 0, 1, 400)[0])])
    ward = shapely.MultiPolygon([shapely.box(0.5, 0.5, 0.5005, 0.5005)])
    rest = shapely.MultiPolygon([shapely.difference(district, ward)])
    result = simplify_hierarchy([district, ward, rest], [None, 0, 0])
    for shapes in [result.default, *result.bands.values()]:
        tiny = shapes[1]
        assert tiny is not None and tiny.is_valid and tiny.area > 0


def test_web_mercator_projection() -> None:
    """Degrees become EPSG:3857 metres; polar parts are clipped at 85.05°."""
    (square,) = to_web_mercator([shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])])
    assert square is not None
    assert square.bounds == pytest.approx((0.0, 0.0, 111319.49, 111325.14), abs=0.01)
    (polar,) = to_web_mercator([shapely.MultiPolygon([shapely.box(0, 80, 1, 90)])])
    assert polar is not None and polar.is_valid
    assert polar.bounds[3] == pytest.approx(20037508.34, abs=1)


def test_a_country_without_geometry_simplifies_to_nothing() -> None:
    """Boundaries with no geometry (names only) get none at any band."""
    result = simplify_hierarchy([None, None], [None, 0])
    assert result.default == [None, None]
    assert all(shapes == [None, None] for shapes in result.bands.values())


def test_a_parent_on_its_childrens_vertices_is_their_union_without_cutting_faces() -> None:
    """A state made of its districts' own vertices (one source) is their union at every band."""
    districts = wiggly_grid()
    state = shapely.MultiPolygon([shapely.union_all(districts)])
    country = shapely.MultiPolygon([shapely.box(-1, -1, 3, 3)])  # maritime: larger than its state
    result = simplify_hierarchy([country, state, *districts], [None, 0, 1, 1, 1, 1])
    assert result.tiled == {1}
    for shapes in [result.default, *result.bands.values()]:
        parent, children = shapes[1], shapes[2:]
        assert parent is not None
        union = shapely.union_all(children)
        assert shapely.symmetric_difference(parent, union).area <= 1e-9 * parent.area
        assert shapely.difference(parent, shapes[0]).area <= 1e-12  # inside the country
