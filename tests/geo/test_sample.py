"""The Mipakaland sample files: in sync with ``geo.sample``, and as documented.

Pure checks on the committed files in ``fixtures/sample``; no database.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import shapely

from geo.sample import FILE_NAMES, build_sample_country, collection_to_json

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "sample"
CRS84 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
BASE_PROPERTIES = {"osm_id", "name", "name_en", "is_in_country", "is_in_state"}
TINY_DISTRICT = "R90043"
ISLAND_DISTRICT = "R90041"
SLIVER_DEG2 = 1e-9


@cache
def read(name: str) -> dict[str, Any]:
    return json.loads((SAMPLE_DIR / name).read_bytes())


def shapes(name: str) -> dict[str, shapely.Geometry | None]:
    """Return osm_id -> geometry (None for a null geometry) of one committed file."""
    return {
        feature["properties"]["osm_id"]: (
            shapely.from_geojson(json.dumps(feature["geometry"])) if feature["geometry"] else None
        )
        for feature in read(name)["features"]
    }


def properties(name: str) -> list[dict[str, Any]]:
    return [feature["properties"] for feature in read(name)["features"]]


def assert_tiles(parent: shapely.Geometry, children: list[shapely.Geometry]) -> None:
    """Children form a valid coverage whose union is the parent."""
    assert children
    assert shapely.coverage_is_valid(children)
    union = shapely.coverage_union_all(children)
    assert shapely.area(shapely.symmetric_difference(union, parent)) < SLIVER_DEG2


def test_committed_files_equal_the_builder_output_byte_for_byte() -> None:
    """fixtures/sample holds exactly the files build_sample_country() makes, unchanged.

    Run scripts/make_sample_country.py after changing geo/sample.py.
    """
    built = build_sample_country()
    assert list(built) == list(FILE_NAMES)
    assert sorted(path.name for path in SAMPLE_DIR.glob("*.json")) == sorted(FILE_NAMES)
    for name, collection in built.items():
        assert (SAMPLE_DIR / name).read_bytes() == collection_to_json(collection).encode(), name


def test_files_are_posm_feature_collections() -> None:
    """Each file is a CRS84 FeatureCollection of features with the posm property keys.

    Full files hold MultiPolygons only; simplified files Polygons, MultiPolygons
    or null; level 3 adds parent_id.
    """
    for name in FILE_NAMES:
        collection = read(name)
        assert list(collection) == ["type", "crs", "features"]
        assert collection["type"] == "FeatureCollection"
        assert collection["crs"] == CRS84
        assert collection["features"], name
        simplified = name.endswith("_simplified.json")
        expected_keys = BASE_PROPERTIES | (
            {"parent_id"} if name.startswith("admin_level_3") else set()
        )
        for feature in collection["features"]:
            assert list(feature) == ["type", "properties", "geometry"]
            assert feature["type"] == "Feature"
            assert set(feature["properties"]) == expected_keys
            geometry = feature["geometry"]
            if simplified:
                assert geometry is None or geometry["type"] in {"Polygon", "MultiPolygon"}
            else:
                assert geometry["type"] == "MultiPolygon"
        for osm_id, shape in shapes(name).items():
            assert shape is None or shapely.is_valid(shape), (name, osm_id)


def test_every_property_value_is_a_string_and_missing_ones_are_the_string_none() -> None:
    """No null, number or empty string: absent values are "None", as in posm extracts."""
    for name in FILE_NAMES:
        for props in properties(name):
            for key, value in props.items():
                assert isinstance(value, str), (name, key, value)
                assert value, (name, key)
    assert all(p["is_in_state"] == "None" for p in properties("admin_level_1.json"))
    (country,) = properties("admin_level_0.json")
    assert country == {
        "osm_id": "R900000",
        "name": "Mipakaland",
        "name_en": "Mipakaland",
        "is_in_country": "None",
        "is_in_state": "None",
    }


def test_parent_links_point_at_existing_features() -> None:
    """is_in_country, is_in_state and parent_id name features one level up."""
    states = {p["osm_id"] for p in properties("admin_level_1.json")}
    districts = {p["osm_id"]: p for p in properties("admin_level_2.json")}
    for name in FILE_NAMES:
        if not name.startswith("admin_level_0"):
            assert {p["is_in_country"] for p in properties(name)} == {"R900000"}, name
    assert {p["is_in_state"] for p in districts.values()} == states
    for ward in properties("admin_level_3.json"):
        assert ward["is_in_state"] == districts[ward["parent_id"]]["is_in_state"]


def test_districts_tile_each_state() -> None:
    """Under each state the districts share borders exactly and cover the state."""
    states = shapes("admin_level_1.json")
    districts = shapes("admin_level_2.json")
    for state_id, state in states.items():
        children = [
            districts[p["osm_id"]]
            for p in properties("admin_level_2.json")
            if p["is_in_state"] == state_id
        ]
        assert_tiles(state, children)


def test_states_tile_the_country() -> None:
    """The states share borders exactly and cover the country."""
    (country,) = shapes("admin_level_0.json").values()
    assert_tiles(country, list(shapes("admin_level_1.json").values()))


def test_wards_tile_their_district() -> None:
    """Each district with wards is covered exactly by the wards naming it as parent_id."""
    districts = shapes("admin_level_2.json")
    wards = shapes("admin_level_3.json")
    parents = {p["parent_id"] for p in properties("admin_level_3.json")}
    assert parents == {"R90012", "R90032"}
    for parent_id in parents:
        children = [
            wards[p["osm_id"]]
            for p in properties("admin_level_3.json")
            if p["parent_id"] == parent_id
        ]
        assert_tiles(districts[parent_id], children)


def test_simplified_exterior_rings_are_clockwise() -> None:
    """Like the real simplified files, and unlike RFC 7946."""
    for name in FILE_NAMES:
        if not name.endswith("_simplified.json"):
            continue
        for osm_id, shape in shapes(name).items():
            if shape is None:
                continue
            for polygon in shapely.get_parts(shape):
                assert not polygon.exterior.is_ccw, (name, osm_id)
                assert all(ring.is_ccw for ring in polygon.interiors), (name, osm_id)


def test_full_files_mix_ring_orientations_by_feature() -> None:
    """Full exteriors are counter-clockwise except the two closed-way districts."""
    clockwise = {
        osm_id
        for name in FILE_NAMES
        if not name.endswith("_simplified.json")
        for osm_id, shape in shapes(name).items()
        if any(not polygon.exterior.is_ccw for polygon in shapely.get_parts(shape))
    }
    assert clockwise == {"W90014", "W90024"}


def test_simplified_files_keep_few_vertices() -> None:
    """The simplified twin of each level keeps under a tenth of the full vertices."""
    for level in range(3):
        full = shapely.get_num_coordinates(list(shapes(f"admin_level_{level}.json").values()))
        simplified = shapely.get_num_coordinates(
            list(shapes(f"admin_level_{level}_simplified.json").values())
        )
        assert 0 < simplified.sum() < full.sum() / 10


def test_only_the_tiny_district_has_null_geometry_and_only_when_simplified() -> None:
    """Port-Petit is dropped from the simplified file, as the extractor dropped tiny features."""
    for name in FILE_NAMES:
        nulls = {osm_id for osm_id, shape in shapes(name).items() if shape is None}
        assert nulls == ({TINY_DISTRICT} if name == "admin_level_2_simplified.json" else set())
    tiny = shapes("admin_level_2.json")[TINY_DISTRICT]
    assert 0 < shapely.area(tiny) < 0.005


def test_the_documented_quirks_are_present() -> None:
    """Duplicate sibling names, odd spacing, a state without name_en, an island, way ids."""
    districts = properties("admin_level_2.json")
    riversides = [p for p in districts if p["name"] == "Riverside"]
    assert len(riversides) == 2
    assert len({p["is_in_state"] for p in riversides}) == 2
    assert "Baie  des Pêcheurs " in {p["name"] for p in districts}
    assert [p["osm_id"] for p in properties("admin_level_1.json") if p["name_en"] == "None"] == [
        "R9003"
    ]
    assert {"Côte-Verte", "Île Basse"} <= {
        p["name"] for name in FILE_NAMES for p in properties(name)
    }
    assert sorted(p["osm_id"] for p in districts if p["osm_id"].startswith("W")) == [
        "W90014",
        "W90024",
    ]
    full = shapes("admin_level_2.json")
    parts = {osm_id: shapely.get_num_geometries(shape) for osm_id, shape in full.items()}
    assert {osm_id for osm_id, count in parts.items() if count > 1} == {ISLAND_DISTRICT}
    assert parts[ISLAND_DISTRICT] == 2
    pwani = shapely.get_geometry(full["R90042"], 0)
    assert shapely.get_num_interior_rings(pwani) == 1
    assert shapely.Polygon(pwani.interiors[0]).equals(shapely.get_geometry(full[TINY_DISTRICT], 0))


def test_mipakaland_lies_in_open_sea_off_west_africa() -> None:
    """Every coordinate is within longitude 2..6 and latitude -4..-1, with at most 7 decimals."""
    for name in FILE_NAMES:
        for shape in shapes(name).values():
            if shape is None:
                continue
            west, south, east, north = shape.bounds
            assert 2 < west < east < 6 and -4 < south < north < -1, name
            coords = shapely.get_coordinates(shape)
            assert (coords.round(7) == coords).all(), name
