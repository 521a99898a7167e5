from __future__ import annotations

import gc
import json
from collections import Counter

import pytest

from geo.importing.parse import (
    clean_name,
    collector_paused,
    digest_geometry,
    optional_ref,
    parse_source,
)
from geo.importing.types import GeometryState, SourceFile
from tests.builders import collection, feature, square


def source_of(content: object, name: str = "R1admin1.json", level: int = 1) -> SourceFile:
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    return SourceFile(
        label=name, group="R1", level=level, simplified=False, country_key="R1", read=lambda: data
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Provincia de Alicante / Alacant ", "Provincia de Alicante / Alacant"),
        ("Saint  Martin", "Saint Martin"),
        ("\u200fکابل\u200e", "کابل"),
        ("None", ""),
        (None, ""),
        ("Que\u0301bec", "Québec"),  # decomposed accent composed (NFC)
        ("می\u200cخواهم", "می\u200cخواهم"),  # ZWNJ inside a word is kept
    ],
)
def test_clean_name(raw: object, expected: str) -> None:
    """Display names are NFC, trimmed, single-spaced, without bidi marks; "None" is empty."""
    assert clean_name(raw) == expected


def test_optional_ref_reads_ints_and_none() -> None:
    """Integer ids become strings and the literal "None" means missing."""
    assert optional_ref(171496) == "171496"
    assert optional_ref(171496.0) == "171496"
    assert optional_ref("None") is None
    assert optional_ref(" R1 ") == "R1"


def test_parse_reads_posm_properties() -> None:
    """Properties become a SourceFeature with the parent from is_in_country at level 1."""
    parsed = parse_source(
        source_of(
            collection(
                feature("R11", "Kigali ", name_en="None", country="R1", coordinates=square(0, 0))
            )
        )
    )
    assert parsed.problems == []
    (feat,) = parsed.features
    assert (feat.osm_id, feat.name, feat.name_en, feat.parent_ref, feat.country_ref) == (
        "R11",
        "Kigali",
        "",
        "R1",
        "R1",
    )
    assert feat.geometry_state is GeometryState.BUILT
    assert feat.geometry is not None
    assert feat.geometry.geom_type == "MultiPolygon"
    assert parsed.quirks["name_cleaned"] == 1


def test_parse_keeps_names_in_other_languages_and_codes() -> None:
    """OSM ``name:<lang>`` tags become names, and wikidata / ISO 3166 / ref become codes."""
    parsed = parse_source(
        source_of(
            collection(
                feature(
                    "R11", "Kigali", country="R1", coordinates=square(0, 0), iso3166="RW-01",
                    wikidata="Q3894", ref="None", **{"name:fr": "Ville de Kigali",
                    "name:rw": " Umujyi wa Kigali", "name:not a language": "x"},
                )
            )
        )
    )  # fmt: skip
    assert parsed.problems == []
    (feat,) = parsed.features
    assert feat.names == (("fr", "Ville de Kigali"), ("rw", "Umujyi wa Kigali"))
    assert feat.codes == (("iso3166_2", "RW-01"), ("wikidata", "Q3894"))


def test_parse_refuses_a_code_of_the_wrong_type() -> None:
    """A code is an id: a list is refused naming the field."""
    parsed = parse_source(
        source_of(collection(feature("R11", "Kigali", country="R1", wikidata=["Q1"])))
    )
    (problem,) = parsed.problems
    assert problem.field == "wikidata"


def test_parent_id_wins_over_is_in_state() -> None:
    """Newer extracts' parent_id property is preferred to is_in_state."""
    parsed = parse_source(
        source_of(
            collection(feature(5, "W", state="R2", parent_id=7, coordinates=square(0, 0))), level=3
        )
    )
    (feat,) = parsed.features
    assert (feat.osm_id, feat.parent_ref) == ("5", "7")
    assert parsed.quirks["integer_id"] == 1


@pytest.mark.parametrize(
    "geometry",
    [None, {}, {"type": "Polygon", "coordinates": []}, {"type": "MultiPolygon", "coordinates": []}],
)
def test_missing_geometries_are_kept_without_shape(geometry: object) -> None:
    """Null, {} and empty geometries keep the boundary, with no shape, and are counted."""
    parsed = parse_source(
        source_of(collection(feature("R11", "A", country="R1", geometry=geometry)))
    )
    (feat,) = parsed.features
    assert feat.geometry_state is GeometryState.MISSING
    assert feat.geometry is None
    assert parsed.quirks["missing_geometry"] == 1


@pytest.mark.parametrize(
    ("geometry", "field", "message"),
    [
        (
            {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
            "geometry.type",
            "unknown geometry type 'LineString'",
        ),
        (
            {"type": "Polygon", "coordinates": [[["a", 0], [1, 0], [1, 1], ["a", 0]]]},
            "geometry.coordinates",
            "must be numbers",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, None], [1, 1], [0, 0]]]},
            "geometry.coordinates",
            "must be numbers",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [181, 0], [1, 1], [0, 0]]]},
            "geometry.coordinates",
            "outside longitude",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0, 5], [1, 1], [0, 0]]]},
            "geometry.coordinates",
            "pairs",
        ),
    ],
)
def test_broken_geometry_is_a_problem_naming_file_feature_and_field(
    geometry: object, field: str, message: str
) -> None:
    """Geometry that cannot mean anything becomes a one-line problem, and the feature is left out."""
    parsed = parse_source(
        source_of(
            collection(
                feature("R10", "Ok", country="R1", coordinates=square(0, 0)),
                feature("R11", "Bad", country="R1", geometry=geometry),
            )
        )
    )
    assert [f.osm_id for f in parsed.features] == ["R10"]
    (problem,) = parsed.problems
    assert (problem.index, problem.osm_id, problem.field) == (1, "R11", field)
    assert message in problem.message
    assert str(problem).startswith("R1admin1.json, feature 1, osm_id R11, field")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        ({"type": "Feature"}, "not a GeoJSON FeatureCollection"),
        ({"type": "FeatureCollection", "features": {}}, "'features' is not a list"),
    ],
)
def test_broken_files_are_problems(content: object, message: str) -> None:
    """A file that is not a FeatureCollection is one problem naming the file."""
    parsed = parse_source(source_of(content))
    assert parsed.features == []
    assert message in str(parsed.problems[0])


def test_feature_without_id_is_a_problem() -> None:
    """A feature with no osm_id (or "None") cannot be keyed, so it is a problem."""
    parsed = parse_source(
        source_of(collection(feature("None", "Nameless", coordinates=square(0, 0))))
    )
    assert parsed.features == []
    assert parsed.problems[0].field == "osm_id"


def test_unclosed_and_degenerate_rings_are_fixed_and_counted() -> None:
    """Unclosed rings are closed; rings of under four points are dropped; both counted."""
    coordinates = [[[0, 0], [1, 0], [1, 1], [0, 1]], [[0.2, 0.2], [0.3, 0.3], [0.2, 0.2]]]
    parsed = parse_source(
        source_of(collection(feature("R11", "A", country="R1", coordinates=coordinates)))
    )
    (feat,) = parsed.features
    assert feat.geometry is not None
    assert feat.geometry.area == pytest.approx(1.0)
    assert parsed.quirks == Counter(
        {"unclosed_ring": 1, "degenerate_ring": 1, "polygon_promoted": 1}
    )


def test_known_digest_skips_building_the_geometry() -> None:
    """A geometry whose digest matches what is stored is not built again."""
    geometry = {"type": "Polygon", "coordinates": square(0, 0)}
    parsed = parse_source(
        source_of(collection(feature("R11", "A", country="R1", geometry=geometry))),
        known_digests={"R11": digest_geometry(geometry)},
    )
    (feat,) = parsed.features
    assert feat.geometry_state is GeometryState.UNCHANGED
    assert feat.geometry is None


def test_the_collector_is_paused_while_decoding_and_left_as_it_was() -> None:
    """Decoding pauses the cycle collector, then gives it back in the state it was in."""
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # someone else's pause is not ended by ours
    finally:
        gc.enable()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError
    assert gc.isenabled()
