"""Every kind of broken input either imports with a counted quirk or is refused cleanly.

Each case starts from ``tiny_country`` already imported, damages one thing,
and runs ``manage.py import_geojson`` in-process (``call_command``: the
command's own code path). A refused run raises ``CommandError`` whose lines
name file, feature and field, and leaves every table an import writes as it
was (same digest), its ``ImportRun`` marked failed. A taken run lists its
quirk in the summary. No other exception may escape, ever.
"""

from __future__ import annotations

import codecs
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from geo.models import Boundary, ImportRun, ImportStatus
from scripts.drill_import_kill import database_digest
from tests.builders import collection, feature, square, tiny_country, write

pytestmark = pytest.mark.django_db

Mutation = Callable[[Path], "Path | None"]


@dataclass(frozen=True)
class Case:
    """A named kind of broken input and what must come of it."""

    name: str
    mutate: Mutation
    # Refused: substrings that one line of the error must hold together.
    refused: tuple[str, ...] = ()
    # Taken: the quirk the run must count.
    quirk: str = ""


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("import_geojson", *args, stdout=out)
    return out.getvalue()


def load(folder: Path, level: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / f"R1admin{level}.json").read_text())
    return data


def save(folder: Path, level: int, data: object) -> None:
    (folder / f"R1admin{level}.json").write_text(json.dumps(data))


def whole(level: int, change: Callable[[dict[str, Any]], object]) -> Mutation:
    """Replace a file's document with ``change(document)``."""

    def mutate(folder: Path) -> None:
        save(folder, level, change(load(folder, level)))

    return mutate


def member(level: int, index: int, key: str, value: object) -> Mutation:
    """Set one member of a feature (``type``, ``properties``, ``geometry``)."""

    def change(data: dict[str, Any]) -> dict[str, Any]:
        data["features"][index][key] = value
        return data

    return whole(level, change)


def prop(level: int, index: int, key: str, value: object) -> Mutation:
    """Set one property of a feature."""

    def change(data: dict[str, Any]) -> dict[str, Any]:
        data["features"][index]["properties"][key] = value
        return data

    return whole(level, change)


def drop_prop(level: int, index: int, key: str) -> Mutation:
    def change(data: dict[str, Any]) -> dict[str, Any]:
        del data["features"][index]["properties"][key]
        return data

    return whole(level, change)


def geometry(value: object, level: int = 2, index: int = 0) -> Mutation:
    return member(level, index, "geometry", value)


def polygon(coordinates: object) -> Mutation:
    return geometry({"type": "Polygon", "coordinates": coordinates})


def text(level: int, change: Callable[[str], str]) -> Mutation:
    """Edit a file's JSON text."""

    def mutate(folder: Path) -> None:
        path = folder / f"R1admin{level}.json"
        path.write_text(change(path.read_text()))

    return mutate


def raw(level: int, change: Callable[[bytes], bytes]) -> Mutation:
    """Edit a file's bytes."""

    def mutate(folder: Path) -> None:
        path = folder / f"R1admin{level}.json"
        path.write_bytes(change(path.read_bytes()))

    return mutate


def add_features(level: int, *features: dict[str, Any]) -> Mutation:
    def change(data: dict[str, Any]) -> dict[str, Any]:
        data["features"].extend(features)
        return data

    return whole(level, change)


def both(*mutations: Mutation) -> Mutation:
    def mutate(folder: Path) -> Path | None:
        result = None
        for mutation in mutations:
            result = mutation(folder) or result
        return result

    return mutate


def archive(*entries: tuple[str, bytes]) -> Mutation:
    """Import a zip holding these entries instead of the folder."""

    def mutate(folder: Path) -> Path:
        path = folder.parent / "upload.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, content in entries:
                zf.writestr(name, content)
        return path

    return mutate


def other_folder(files: dict[str, bytes]) -> Mutation:
    """Import a folder holding only these files."""

    def mutate(folder: Path) -> Path:
        path = folder.parent / "other"
        for name, content in files.items():
            write(path, name, content)
        return path

    return mutate


def unquote_coordinate(value: str) -> Mutation:
    """Put a bare JSON token (NaN, 1e400) as the first coordinate of district R111."""
    return text(
        2, lambda t: t.replace('"coordinates": [[[0.0, 0.0]', f'"coordinates": [[[{value}, 0.0]', 1)
    )


def nested(depth: int) -> object:
    value: object = [0.0, 0.0]
    for _ in range(depth):
        value = [value]
    return value


EMPTY = json.dumps(collection()).encode()
VALID_0 = json.dumps(collection(feature("R7", "Seven", coordinates=square(9, 9)))).encode()
BOWTIE = [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]
ISLAND = feature("R13", "Isle", country="R1", coordinates=square(0.2, 0.2, 0.1))

F2 = ("R1admin2.json", "feature 0", "osm_id R111")
ID_FIELD = (*F2[:2], "field 'osm_id'")

REFUSED = [
    # The Feature object itself
    Case("feature_type_misspelt", member(2, 0, "type", "Feture"), (*F2, "field 'type'", "Feture")),
    Case("feature_type_missing", whole(2, lambda d: d["features"][0].pop("type") and d), (*F2, "field 'type'")),
    Case("feature_type_number", member(2, 0, "type", 1), (*F2, "field 'type'")),
    Case("feature_type_is_feature_collection", member(2, 0, "type", "FeatureCollection"), (*F2, "field 'type'")),
    Case("feature_is_a_list", whole(2, lambda d: d | {"features": [[1, 2]]}), ("R1admin2.json", "feature 0", "a list")),
    Case("feature_is_a_string", whole(2, lambda d: d | {"features": ["x"]}), ("R1admin2.json", "feature 0")),
    Case("feature_is_null", whole(2, lambda d: d | {"features": [None]}), ("R1admin2.json", "feature 0", "null")),
    Case("properties_null", member(2, 0, "properties", None), ("R1admin2.json", "feature 0", "field 'properties'")),
    Case("properties_list", member(2, 0, "properties", ["R111"]), ("R1admin2.json", "feature 0", "field 'properties'")),
    Case("properties_string", member(2, 0, "properties", "R111"), ("R1admin2.json", "feature 0", "field 'properties'")),
    # osm_id of the wrong JSON type or content
    Case("osm_id_list", prop(2, 0, "osm_id", ["R111"]), (*ID_FIELD, "a list")),
    Case("osm_id_object", prop(2, 0, "osm_id", {"id": "R111"}), (*ID_FIELD, "an object")),
    Case("osm_id_true", prop(2, 0, "osm_id", True), (*ID_FIELD, "true")),
    Case("osm_id_false", prop(2, 0, "osm_id", False), (*ID_FIELD, "false")),
    Case("osm_id_float", prop(2, 0, "osm_id", 111.5), (*ID_FIELD, "111.5")),
    Case("osm_id_integral_float", prop(2, 0, "osm_id", 111.0), (*ID_FIELD, "111.0")),
    Case("osm_id_70_digit_integer", prop(2, 0, "osm_id", 10**70), (*ID_FIELD, "at most 64")),
    Case("osm_id_missing", drop_prop(2, 0, "osm_id"), (*ID_FIELD, "no id")),
    Case("osm_id_null", prop(2, 0, "osm_id", None), (*ID_FIELD, "no id")),
    Case("osm_id_empty_string", prop(2, 0, "osm_id", "  "), (*ID_FIELD, "no id")),
    Case("osm_id_string_None", prop(2, 0, "osm_id", "None"), (*ID_FIELD, "no id")),
    Case("osm_id_with_nul", prop(2, 0, "osm_id", "R111\x00"), (*ID_FIELD, "R111\\x00", "printable")),
    Case("osm_id_with_newline", prop(2, 0, "osm_id", "R1\n11"), (*ID_FIELD, "R1\\n11")),
    Case("osm_id_lone_surrogate", text(2, lambda t: t.replace('"R111"', '"R111\\ud800"', 1)), (*ID_FIELD, "\\ud800")),
    Case("osm_id_too_long", prop(2, 0, "osm_id", "R" + "1" * 200), (*ID_FIELD, "at most 64")),
    # names
    Case("name_object", prop(2, 0, "name", {"en": "Alpha"}), (*F2, "field 'name'", "an object")),
    Case("name_list", prop(2, 0, "name", ["Alpha"]), (*F2, "field 'name'", "a list")),
    Case("name_number", prop(2, 0, "name", 7), (*F2, "field 'name'", "the number 7")),
    Case("name_true", prop(2, 0, "name", True), (*F2, "field 'name'", "true")),
    Case("code_object", prop(2, 0, "iso3166", {"weird": [1, None]}), (*F2, "field 'iso3166'", "an object")),
    Case("name_in_a_language_list", prop(2, 0, "name:fr", ["Alpha"]), (*F2, "field 'name:fr'", "a list")),
    Case("name_20000_characters", prop(2, 0, "name", "A" * 20_000), (*F2, "field 'name'", "20000 characters")),
    Case("name_en_number", prop(2, 0, "name_en", 1.5), (*F2, "field 'name_en'")),
    Case("name_en_too_long", prop(2, 0, "name_en", "B" * 300), (*F2, "field 'name_en'", "at most 255")),
    # parent links
    Case("parent_list", prop(2, 0, "is_in_state", ["R11"]), (*F2, "field 'is_in_state'", "a list")),
    Case("parent_object", prop(2, 0, "is_in_state", {"id": "R11"}), (*F2, "field 'is_in_state'")),
    Case("parent_true", prop(2, 0, "is_in_state", True), (*F2, "field 'is_in_state'", "true")),
    Case("parent_float", prop(2, 0, "is_in_state", 11.5), (*F2, "field 'is_in_state'")),
    Case("parent_with_nul", prop(2, 0, "is_in_state", "R11\x00"), (*F2, "field 'is_in_state'", "\\x00")),
    Case("parent_id_list", prop(2, 0, "parent_id", [11]), (*F2, "field 'parent_id'")),
    Case("is_in_country_object", prop(1, 0, "is_in_country", {}), ("R1admin1.json", "feature 0", "osm_id R11", "field 'is_in_country'")),
    Case("parent_exists_nowhere", prop(2, 0, "is_in_state", "R404"), (*F2, "parent R404 exists nowhere")),
    Case("parent_at_the_same_level", prop(2, 0, "is_in_state", "R112"), (*F2, "is at level 2, not above level 2")),
    Case("parent_below", prop(1, 0, "is_in_country", "R121"), ("R1admin1.json", "feature 0", "osm_id R11", "is at level 2, not above level 1")),
    Case("parent_is_its_own_child", prop(1, 0, "is_in_country", "R111"), ("R1admin1.json", "feature 0", "osm_id R11", "parent cycle: R11 (", "R1admin2.json feature 0) → R11")),
    Case("names_itself_as_parent", prop(2, 0, "is_in_state", "R111"), (*F2, "names itself")),
    Case("state_without_parent", prop(1, 0, "is_in_country", "None"), ("R1admin1.json", "feature 0", "osm_id R11", "has no parent")),
    Case(
        "parent_cycle",
        both(prop(1, 0, "is_in_country", "R12"), prop(1, 1, "is_in_country", "R11")),
        ("R1admin1.json", "feature 0", "osm_id R11", "parent cycle: R11 (", "R1admin1.json feature 1) → R11"),
    ),
    Case(
        "same_id_same_level_other_geometry",
        add_features(2, feature("R111", "Alpha", country="R1", state="R11", coordinates=square(5, 5))),
        ("R1admin2.json", "feature 4", "osm_id R111", "also used by"),
    ),
    Case(
        "same_id_at_two_levels_no_parent_above",
        both(
            add_features(1, feature("R13", "Isle", country="R404", coordinates=square(0, 0))),
            add_features(2, feature("R13", "Isle", country="R1", state="R405", coordinates=square(0, 0))),
        ),
        ("R1admin2.json", "feature 4", "osm_id R13", "also used by", "no copy has a parent above it"),
    ),
    # geometry members
    Case("geometry_point", geometry({"type": "Point", "coordinates": [0, 0]}), (*F2, "field 'geometry.type'", "Point")),
    Case("geometry_linestring", geometry({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}), (*F2, "field 'geometry.type'")),
    Case(
        "geometry_collection",
        geometry({"type": "GeometryCollection", "geometries": [{"type": "Polygon", "coordinates": square(0, 0)}]}),
        (*F2, "field 'geometry.type'", "GeometryCollection"),
    ),
    Case("geometry_type_lowercase", geometry({"type": "polygon", "coordinates": square(0, 0)}), (*F2, "field 'geometry.type'", "polygon")),
    Case("geometry_type_number", geometry({"type": 3, "coordinates": square(0, 0)}), (*F2, "field 'geometry.type'")),
    Case("geometry_string", geometry("POLYGON((0 0, 1 0, 1 1, 0 0))"), (*F2, "field 'geometry'")),
    Case("geometry_list", geometry(square(0, 0)), (*F2, "field 'geometry'", "a list")),
    Case("coordinates_string", geometry({"type": "Polygon", "coordinates": "0 0 1 1"}), (*F2, "field 'geometry.coordinates'")),
    Case("coordinates_object", geometry({"type": "Polygon", "coordinates": {"x": 0}}), (*F2, "field 'geometry.coordinates'")),
    Case("coordinate_true", polygon([[[True, 0], [1, 0], [1, 1], [0, 0]]]), (*F2, "field 'geometry.coordinates'", "true or false")),
    Case("coordinate_false", polygon([[[0, 0], [1, False], [1, 1], [0, 0]]]), (*F2, "field 'geometry.coordinates'", "true or false")),
    Case("coordinate_null", polygon([[[0, 0], [1, None], [1, 1], [0, 0]]]), (*F2, "field 'geometry.coordinates'")),
    Case("coordinate_string", polygon([[["0", "0"], ["1", "0"], ["1", "1"], ["0", "0"]]]), (*F2, "field 'geometry.coordinates'", "numbers")),
    Case("coordinate_object", polygon([[{"x": 0}, [1, 0], [1, 1], [0, 0]]]), (*F2, "field 'geometry.coordinates'")),
    Case("position_of_one_number", polygon([[[0], [1], [2], [0]]]), (*F2, "field 'geometry.coordinates'", "pairs")),
    Case("position_of_five_numbers", polygon([[[0, 0, 0, 0, 0]] * 4]), (*F2, "field 'geometry.coordinates'", "pairs")),
    Case("positions_of_mixed_dimensions", polygon([[[0, 0], [1, 0, 5], [1, 1], [0, 0]]]), (*F2, "field 'geometry.coordinates'")),
    Case("polygon_given_a_ring", polygon([[0, 0], [1, 0], [1, 1], [0, 0]]), (*F2, "field 'geometry.coordinates'")),
    Case("polygon_nested_too_deep", polygon([square(0, 0)]), (*F2, "field 'geometry.coordinates'")),
    Case("multipolygon_given_a_polygon", geometry({"type": "MultiPolygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}), (*F2, "field 'geometry.coordinates'")),
    Case("multipolygon_of_strings", geometry({"type": "MultiPolygon", "coordinates": ["a", "b"]}), (*F2, "field 'geometry.coordinates'")),
    Case("coordinates_nested_800_deep", polygon(nested(800)), (*F2, "field 'geometry")),
    Case("longitude_off_the_globe", polygon([[[0, 0], [200, 0], [1, 1], [0, 0]]]), (*F2, "field 'geometry.coordinates'", "[200, 0]")),
    Case("latitude_off_the_globe", polygon([[[0, 0], [1, -95], [1, 1], [0, 0]]]), (*F2, "field 'geometry.coordinates'", "latitude")),
    Case("coordinate_1e308", polygon([[[0, 0], [1e308, 0], [1, 1], [0, 0]]]), (*F2, "field 'geometry.coordinates'")),
    Case("coordinate_huge_integer", polygon([[[0, 0], [10**30, 0], [1, 1], [0, 0]]]), (*F2, "field 'geometry'", "64-bit")),
    Case("coordinate_big_integer", polygon([[[0, 0], [2**63, 0], [1, 1], [0, 0]]]), (*F2, "field 'geometry.coordinates'", "longitude -180..180")),
    Case("coordinate_1e400_overflows_to_infinity", unquote_coordinate("1e400"), (*F2, "field 'geometry.coordinates'", "finite")),
    Case("duplicate_key_conflict_in_properties", text(2, lambda t: t.replace('"osm_id": "R111"', '"osm_id": "R111", "osm_id": "R999"', 1)), ("R1admin2.json", "feature 0", "field 'properties.osm_id'", "more than once")),
    Case("duplicate_key_conflict_in_feature", text(2, lambda t: t.replace('{"type": "Feature"', '{"type": "Feature", "type": "Other"', 1)), ("R1admin2.json", "feature 0", "field 'type'", "more than once")),
    Case("duplicate_key_conflict_in_geometry", text(2, lambda t: t.replace('"geometry": {"type": "Polygon"', '"geometry": {"type": "Polygon", "type": "Point"', 1)), (*F2, "field 'geometry.type'", "more than once")),
    # the JSON text and the collection
    Case("coordinate_NaN_literal", unquote_coordinate("NaN"), ("R1admin2.json", "NaN is not a JSON number")),
    Case("coordinate_Infinity_literal", unquote_coordinate("-Infinity"), ("R1admin2.json", "-Infinity is not a JSON number")),
    Case("not_json", raw(2, lambda b: b"<html>404</html>"), ("R1admin2.json", "not valid JSON")),
    Case("empty_file", raw(2, lambda b: b""), ("R1admin2.json", "not valid JSON")),
    Case("whitespace_only", raw(2, lambda b: b" \n\t "), ("R1admin2.json", "not valid JSON")),
    Case("trailing_garbage", raw(2, lambda b: b + b"}]garbage"), ("R1admin2.json", "not valid JSON", "Extra data")),
    Case("two_documents", raw(2, lambda b: b + b"\n" + b), ("R1admin2.json", "not valid JSON")),
    Case("truncated", raw(2, lambda b: b[: len(b) // 2]), ("R1admin2.json", "not valid JSON")),
    Case("invalid_utf8", raw(2, lambda b: b.replace(b"Alpha", b"Alp\xffa", 1)), ("R1admin2.json", "not valid UTF-8", "0xff")),
    Case("latin1_name", raw(2, lambda b: b.replace(b"Alpha", "Alphé".encode("latin-1"), 1)), ("R1admin2.json", "not valid UTF-8", "0xe9")),
    Case("utf16_without_bom", raw(2, lambda b: b.decode().encode("utf-16-le")), ("R1admin2.json", "not valid JSON")),
    Case("bom_then_invalid_utf16", raw(2, lambda b: codecs.BOM_UTF16_LE + b"\x00\xd8"), ("R1admin2.json", "UTF-16")),
    Case("nested_100000_deep", raw(2, lambda b: b"[" * 100_000 + b"]" * 100_000), ("R1admin2.json", "nested too deeply")),
    Case("integer_of_5000_digits", raw(2, lambda b: b"[" + b"9" * 5000 + b"]"), ("R1admin2.json", "not valid JSON")),
    Case("collection_type_misspelt", whole(2, lambda d: d | {"type": "FeatureColection"}), ("R1admin2.json", "field 'type'", "FeatureColection")),
    Case("collection_type_missing", whole(2, lambda d: {k: v for k, v in d.items() if k != "type"}), ("R1admin2.json", "field 'type'", "null")),
    Case("collection_is_a_feature", whole(2, lambda d: d["features"][0]), ("R1admin2.json", "field 'type'", '"Feature"')),
    Case("collection_is_a_list", whole(2, lambda d: d["features"]), ("R1admin2.json", "field 'type'", "a list")),
    Case("collection_is_a_string", whole(2, lambda d: "FeatureCollection"), ("R1admin2.json", "field 'type'")),
    Case("collection_is_null", whole(2, lambda d: None), ("R1admin2.json", "field 'type'", "null")),
    Case("features_an_object", whole(2, lambda d: d | {"features": {"0": d["features"][0]}}), ("R1admin2.json", "field 'features'", "an object")),
    Case("features_missing", whole(2, lambda d: {"type": "FeatureCollection"}), ("R1admin2.json", "field 'features'", "null")),
    Case("duplicate_key_conflict_in_collection", text(2, lambda t: t.replace('{"type": "FeatureCollection"', '{"type": "FeatureCollection", "type": "x"', 1)), ("R1admin2.json", "field 'type'", "more than once")),
    # paths, archives and runs with nothing to import
    Case("zip_entry_climbing_out", archive(("../../R1admin0.json", VALID_0)), ("upload.zip!../../R1admin0.json", "climbs out")),
    Case("zip_entry_absolute", archive(("/etc/R1admin0.json", VALID_0)), ("upload.zip!/etc/R1admin0.json", "climbs out")),
    Case("zip_entry_windows_drive", archive(("C:\\R1admin0.json", VALID_0)), ("climbs out",)),
    Case("zip_corrupt", lambda folder: write(folder.parent, "bad.zip", b"PK\x03\x04 not really"), ("bad.zip", "not a readable zip")),
    Case("zip_without_json", archive(("readme.txt", b"hello")), ("upload.zip", "no R<id>admin<N>.json")),
    Case("folder_without_extract_files", other_folder({"notes.json": b"{}"}), ("other", "no R<id>admin<N>.json")),
    Case("every_file_empty", other_folder({"R7admin0.json": EMPTY, "R7admin1.json": EMPTY}), ("nothing to import from ", "R7admin0.json, ", "R7admin1.json: no file holds a feature")),
    Case("level_4_file", other_folder({"R7admin4.json": VALID_0}), ("R7admin4.json", "level 4 is not supported")),
]  # fmt: skip

TAKEN = [
    Case("utf8_byte_order_mark", raw(2, lambda b: codecs.BOM_UTF8 + b), quirk="byte_order_mark_utf8"),
    Case("utf16_le_with_byte_order_mark", raw(2, lambda b: b.decode().encode("utf-16")), quirk="byte_order_mark_utf16"),
    Case("utf16_be_with_byte_order_mark", raw(2, lambda b: codecs.BOM_UTF16_BE + b.decode().encode("utf-16-be")), quirk="byte_order_mark_utf16"),
    Case("utf32_with_byte_order_mark", raw(2, lambda b: b.decode().encode("utf-32")), quirk="byte_order_mark_utf32"),
    Case("name_with_nul", prop(2, 0, "name", "Alp\x00ha"), quirk="control_characters_removed"),
    Case("name_with_bell_and_escape", prop(2, 0, "name", "\x07Alpha\x1b"), quirk="control_characters_removed"),
    Case("name_with_c1_control", prop(2, 0, "name", "Alpha\x85"), quirk="control_characters_removed"),
    Case("name_with_lone_surrogate", text(2, lambda t: t.replace('"Alpha"', '"Alpha\\udc00"', 1)), quirk="control_characters_removed"),
    Case("name_with_tab_and_newline", prop(2, 0, "name", "Al\tpha\nWest"), quirk="name_cleaned"),
    Case("name_null", prop(2, 0, "name", None), quirk="unnamed"),
    Case("duplicate_key_same_value", text(2, lambda t: t.replace('"osm_id": "R111"', '"osm_id": "R111", "osm_id": "R111"', 1)), quirk="duplicate_key"),
    Case("integer_ids", both(prop(2, 0, "osm_id", 111), prop(2, 0, "is_in_state", "R11")), quirk="integer_id"),
    Case("coordinates_3d", polygon([[[0, 0, 10], [1, 0, 10], [1, 1, 10], [0, 1, 10], [0, 0, 10]]]), quirk="extra_dimensions_dropped"),
    Case("coordinates_4d", polygon([[[0, 0, 1, 2], [1, 0, 1, 2], [1, 1, 1, 2], [0, 1, 1, 2], [0, 0, 1, 2]]]), quirk="extra_dimensions_dropped"),
    Case("unclosed_ring", polygon([[[0, 0], [1, 0], [1, 1], [0, 1]]]), quirk="unclosed_ring"),
    Case("self_intersecting_bowtie", polygon(BOWTIE), quirk="repaired_invalid"),
    Case("clockwise_ring", polygon([[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]), quirk="clockwise_ring"),
    Case("ring_of_two_points", polygon([[[0, 0], [1, 1]]]), quirk="degenerate_ring"),
    Case("empty_ring", polygon([[]]), quirk="degenerate_ring"),
    Case("geometry_null", geometry(None), quirk="missing_geometry"),
    Case("geometry_empty_object", geometry({}), quirk="missing_geometry"),
    Case("coordinates_empty", polygon([]), quirk="missing_geometry"),
    Case("multipolygon_with_an_empty_polygon", geometry({"type": "MultiPolygon", "coordinates": [[], square(0, 0)]}), quirk="degenerate_ring"),
    Case("huge_ring", polygon([[[i / 10_000, 0] for i in range(10_000)] + [[0.5, 1], [0, 0]]]), quirk="polygon_promoted"),
    Case("across_the_antimeridian", both(geometry({"type": "MultiPolygon", "coordinates": [square(179, 0), square(-180, 0)]}, level=0)), quirk="crosses_antimeridian"),
    Case("island_at_two_levels", both(add_features(1, ISLAND), add_features(2, {**ISLAND, "properties": {**ISLAND["properties"], "is_in_state": "R11"}})), quirk="id_at_two_levels"),
    Case("state_repeated_as_its_own_district", add_features(2, feature("R12", "East", country="R1", state="R12", coordinates=square(1, 0))), quirk="self_parented_duplicate"),
    Case("feature_repeated_identically", whole(2, lambda d: d | {"features": [*d["features"], d["features"][0]]}), quirk="repeated_feature"),
    Case("empty_district_file_beside_others", other_folder({"R7admin0.json": VALID_0, "R7admin1.json": EMPTY}), quirk="empty_file"),
    Case("unknown_properties_ignored", prop(2, 0, "population", {"weird": [1, None]}), quirk="polygon_promoted"),
]  # fmt: skip


def test_at_least_fifty_named_kinds_of_broken_input() -> None:
    names = [case.name for case in REFUSED + TAKEN]
    assert len(set(names)) == len(names)
    assert len(names) >= 50


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.name)
def test_refused_with_one_line_and_nothing_changed(case: Case, tmp_path: Path) -> None:
    folder = tiny_country(tmp_path / "in")
    run_command(str(folder))
    before = database_digest()
    runs = ImportRun.objects.count()
    target = case.mutate(folder) or folder
    with pytest.raises(CommandError) as caught:
        run_command(str(target))
    lines = str(caught.value).splitlines()
    assert any(all(part in line for part in case.refused) for line in lines), lines
    assert all(len(line) < 2000 for line in lines)
    assert database_digest() == before
    # The only trace of a refused run is its record, when it got as far as making one.
    assert ImportRun.objects.count() - runs <= 1
    newest = ImportRun.objects.order_by("-pk").first()
    assert newest is not None
    if ImportRun.objects.count() > runs:
        assert newest.status == ImportStatus.FAILED
        assert newest.error


@pytest.mark.parametrize("case", TAKEN, ids=lambda case: case.name)
def test_taken_with_a_counted_quirk(case: Case, tmp_path: Path) -> None:
    folder = tiny_country(tmp_path / "in")
    run_command(str(folder))
    target = case.mutate(folder) or folder
    output = run_command(str(target), "-v", "2")
    assert f"quirk: {case.quirk.replace('_', ' ')}" in output
    run = ImportRun.objects.order_by("-pk").first()
    assert run is not None
    assert run.status in {ImportStatus.SUCCEEDED, ImportStatus.UNCHANGED}
    assert run.counts["quirks"][case.quirk] >= 1
    # Whatever was stored is printable and within its column.
    for osm_id, name, path in Boundary.objects.values_list("osm_id", "name", "path"):
        assert "\x00" not in osm_id + name + path
        assert len(name) <= 255
