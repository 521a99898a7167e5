"""Read one posm-extracts GeoJSON file into ``SourceFeature`` values.

Pure: bytes in, features and problems out. Quirks of the real extracts (the
string ``"None"`` for missing values, integer ids, ``{}`` or empty geometries,
unclosed or degenerate rings, stray bidi marks in names) and of the editors
that touch them (a byte-order mark, control characters in names, repeated
keys) are absorbed here and counted. Input that cannot mean anything becomes
a ``Problem`` naming file, feature, ``osm_id`` and field: not strict JSON, a
``type`` that is not ``FeatureCollection``/``Feature``, a property of the
wrong JSON type (every property read is checked: a name is a string, an id a
string or an integer), an unknown geometry type, coordinates that are not
numbers (``true`` included) or not on the globe.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import orjson
import shapely

from geo.importing.types import (
    UNPRINTABLE,
    GeometryState,
    ParsedFile,
    Problem,
    SourceFeature,
    SourceFile,
    printable,
)
from geo.models import Boundary

MISSING_VALUES = frozenset({"", "None", "none", "null", "NULL"})
POLYGONAL_TYPES = frozenset({"Polygon", "MultiPolygon"})
# Direction marks and embeddings carry no meaning in a place name; ZWNJ/ZWJ do
# (Persian, Indic scripts), so they stay inside words.
BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
EDGE_JOINERS = re.compile("^[\u200c\u200d]+|[\u200c\u200d]+$")
WHITESPACE_RUN = re.compile(r"\s+")
# Unprintable characters a name loses; tab, newline and carriage return are
# left to become single spaces.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# UTF-32 before UTF-16: the UTF-32-LE mark starts with the UTF-16-LE one.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _column_limit(field: str) -> int:
    limit = getattr(Boundary._meta.get_field(field), "max_length", None)
    assert isinstance(limit, int)
    return limit


# The columns' limits: longer values are refused here, not by PostgreSQL.
NAME_MAX_LENGTH = _column_limit("name")
OSM_ID_MAX_LENGTH = _column_limit("osm_id")


class GeometryProblem(ValueError):
    """A geometry that cannot be built; carries the offending field."""

    def __init__(self, message: str, *, field: str = "geometry") -> None:
        super().__init__(message)
        self.field = field


def clean_name(raw: object) -> str:
    """Return a display name: NFC, no bidi controls, single spaces, trimmed.

    ``"None"`` and empty values become ``""``.

    >>> clean_name("Provincia de Alicante / Alacant ")
    'Provincia de Alicante / Alacant'
    >>> clean_name("\u200fکابل\u200e")
    'کابل'
    """
    if raw is None:
        return ""
    text = str(raw)
    if text.strip() in MISSING_VALUES:
        return ""
    text = unicodedata.normalize("NFC", BIDI_CONTROLS.sub("", text))
    return EDGE_JOINERS.sub("", WHITESPACE_RUN.sub(" ", text).strip())


def optional_ref(raw: object) -> str | None:
    """Return an id property as a string, or None when it is missing (``"None"``)."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw).strip()
    return None if text in MISSING_VALUES else text


def digest_geometry(geometry: object) -> str:
    """Fingerprint a source geometry; an equal fingerprint means nothing to rebuild.

    Raises
    ------
    GeometryProblem
        A geometry nested too deeply or holding an integer beyond 64 bits.
    """
    try:
        payload = orjson.dumps(geometry, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise GeometryProblem(f"geometry cannot be read ({exc})") from exc
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


def digest_content(data: bytes) -> str:
    """Fingerprint a whole file's bytes."""
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def summarize_features(features: list[SourceFeature]) -> list[list[object]]:
    """Everything a re-import needs of a file's features, without their coordinates."""
    return [
        [f.index, f.osm_id, f.name, f.name_en, f.parent_ref, f.country_ref, f.geometry_digest,
         f.geometry_state is GeometryState.MISSING, [list(pair) for pair in f.names],
         list(f.other_names), [list(pair) for pair in f.codes]]
        for f in features
    ]  # fmt: skip


SUMMARY_FIELDS = 11


def features_from_summary(
    source: SourceFile, summary: list[list[Any]], *, known_digests: Mapping[str, str]
) -> list[SourceFeature] | None:
    """Rebuild a file's features from ``summarize_features`` output.

    Returns None unless every geometry is already stored with the same digest
    (then the file must be parsed for real, coordinates and all).
    """
    features = []
    if any(len(row) != SUMMARY_FIELDS for row in summary):
        return None  # written by an older version: parse the file again
    for row in summary:
        index, osm_id, name, name_en, parent_ref, country_ref, digest, missing = row[:8]
        names, other_names, codes = row[8:]
        if not missing and known_digests.get(osm_id) != digest:
            return None
        features.append(
            SourceFeature(
                file=source.label,
                index=index,
                level=source.level,
                osm_id=osm_id,
                name=name,
                name_en=name_en,
                parent_ref=parent_ref,
                country_ref=country_ref,
                geometry_digest=digest,
                geometry_state=GeometryState.MISSING if missing else GeometryState.UNCHANGED,
                geometry=None,
                from_simplified=source.simplified,
                names=tuple((language, text) for language, text in names),
                other_names=tuple(other_names),
                codes=tuple((scheme, code) for scheme, code in codes),
            )
        )
    return features


def parse_source(
    source: SourceFile, *, known_digests: Mapping[str, str] | None = None
) -> ParsedFile:
    """Parse one file.

    Parameters
    ----------
    source
        The file to read.
    known_digests
        ``osm_id`` → digest of what is stored. A feature whose digest matches
        is passed on with ``GeometryState.UNCHANGED`` and its geometry is not
        built, which is what makes a no-change re-import cheap.
    """
    known = known_digests or {}
    parsed = ParsedFile(source=source, features=[], problems=[], quirks=Counter())
    try:
        data = source.read()
    except OSError as exc:
        parsed.problems.append(Problem(source.label, f"cannot be read ({exc})"))
        return parsed
    parsed.content_digest = digest_content(data)
    try:
        text = decode_text(data, parsed.quirks)
        features = _collection_features(load_json(text, parsed.quirks))
    except (JsonProblem, FieldProblem) as exc:
        parsed.problems.append(Problem(source.label, str(exc), field=getattr(exc, "field", None)))
        return parsed
    if not features:
        parsed.quirks["empty_file"] += 1
    # Booleans are ints to numpy (true becomes 1.0): look for them in coordinates
    # only when the file spells one somewhere, which real extracts never do.
    booleans = "true" in text or "false" in text
    for index, feature in enumerate(features):
        _parse_feature(parsed, index, feature, known, booleans=booleans)
    return parsed


class JsonProblem(ValueError):
    """Bytes that are not a JSON document this import can read."""


def _collection_features(document: object) -> list[Any]:
    """Return the features of a FeatureCollection, or say what is wrong with it."""
    if not isinstance(document, dict):
        raise FieldProblem(
            f"not a GeoJSON FeatureCollection (the file holds {describe(document)})", field="type"
        )
    if conflict := _conflicting_key(document, ""):
        raise FieldProblem("key appears more than once, with different values", field=conflict)
    if document.get("type") != "FeatureCollection":
        raise FieldProblem(
            "not a GeoJSON FeatureCollection "
            f"('type' is {describe(document.get('type'))}, expected \"FeatureCollection\")",
            field="type",
        )
    features = document.get("features")
    if not isinstance(features, list):
        raise FieldProblem(
            f"'features' is not a list (it is {describe(features)})", field="features"
        )
    return features


def decode_text(data: bytes, quirks: Counter[str]) -> str:
    """Decode a file's bytes: UTF-8, with or without a byte-order mark, or UTF-16/32 with one.

    A byte-order mark is dropped and counted (Windows editors write one).

    Raises
    ------
    JsonProblem
        Bytes that are not valid in the encoding.
    """
    for bom, encoding in BYTE_ORDER_MARKS:
        if data.startswith(bom):
            quirks[f"byte_order_mark_{encoding[:6].replace('-', '')}"] += 1
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise JsonProblem(
                    f"not valid {encoding.upper()} after its byte-order mark ({exc.reason} at byte {exc.start + len(bom)})"
                ) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonProblem(
            f"not valid UTF-8 ({exc.reason}: byte 0x{data[exc.start]:02x} at position {exc.start}); "
            "save it as UTF-8"
        ) from exc


def load_json(text: str, quirks: Counter[str]) -> object:
    """Parse a JSON text strictly: no NaN or Infinity, no trailing content.

    A key repeated within one object keeps its last value, as every JSON
    reader does; each repetition is counted as a quirk, and the object
    remembers it (see ``DuplicateKeys``) so that a repeated key whose values
    differ can be refused where it matters.

    Raises
    ------
    JsonProblem
        Anything that is not one strict JSON document.
    """

    def read_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) == len(pairs):
            return result
        quirks["duplicate_key"] += len(pairs) - len(result)
        first: dict[str, Any] = {}
        conflicting = set()
        for key, value in pairs:
            if key in first and first[key] != value:
                conflicting.add(key)
            first.setdefault(key, value)
        return DuplicateKeys(result, conflicting=sorted(conflicting))

    def refuse_constant(name: str) -> None:
        raise JsonProblem(f"not valid JSON ({name} is not a JSON number)")

    try:
        with collector_paused():
            return json.loads(text, object_pairs_hook=read_object, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise JsonProblem(f"not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise JsonProblem("not valid JSON (nested too deeply)") from exc
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise JsonProblem(f"not valid JSON ({exc})") from exc


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Keep Python's cycle collector out of a burst of allocations that makes no cycles.

    Decoding GeoJSON allocates a list per coordinate pair; every few hundred
    of them the collector would walk every live container again (the files
    read so far included), a third of reading the world's files. Lists of
    numbers make no cycles, so nothing is left for it to find.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class DuplicateKeys(dict[str, Any]):
    """A JSON object in which some key appeared more than once; the last value is kept."""

    def __init__(self, items: dict[str, Any], *, conflicting: list[str]) -> None:
        super().__init__(items)
        # Keys repeated with different values: which one was meant is anyone's guess.
        self.conflicting = conflicting


def _conflicting_key(value: object, prefix: str) -> str | None:
    """Name the first key of ``value`` repeated with different values, if any."""
    if isinstance(value, DuplicateKeys) and value.conflicting:
        return prefix + value.conflicting[0]
    return None


def describe(value: object) -> str:
    """Name a JSON value for a message: its type, and the value itself when short."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)  # null, true, false
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    if isinstance(value, str):
        return f'"{printable(value, limit=40)}"'
    if isinstance(value, int) and value.bit_length() > 128:
        # repr() of a huge int may even fail (Python caps int-to-text conversion).
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    return f"the number {value!r}"


class FieldProblem(ValueError):
    """A property whose JSON type or content cannot be used; carries the field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def read_id(raw: object, *, field: str) -> str | None:
    """Read an id property (``osm_id``, a parent link) strictly.

    Strings and integers are ids; null and the extracts' ``"None"`` mean
    missing. Anything else is refused: a boolean, a number with a fraction,
    a list or an object is not an id, and an id must be printable and fit
    its column.

    Raises
    ------
    FieldProblem
        The value is not an id.
    """
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise FieldProblem(f"is {describe(raw)}, expected a string or an integer", field=field)
    text = str(raw).strip() if isinstance(raw, str) else _int_text(raw, field=field)
    if text in MISSING_VALUES:
        return None
    if UNPRINTABLE.search(text):
        raise FieldProblem(
            f"{describe(text)} holds control or invalid characters; an id must be printable",
            field=field,
        )
    if len(text) > OSM_ID_MAX_LENGTH:
        raise FieldProblem(
            f"is {len(text)} characters long; an id has at most {OSM_ID_MAX_LENGTH}", field=field
        )
    return text


def _int_text(raw: int, *, field: str) -> str:
    try:
        return str(raw)
    except ValueError as exc:  # more digits than Python converts
        raise FieldProblem("is an integer far too long to be an id", field=field) from exc


def read_name(raw: object, *, field: str, quirks: Counter[str]) -> str:
    """Read a name property strictly, cleaned as ``clean_name`` does.

    Control characters (NUL included, which PostgreSQL cannot store) and
    invalid characters are removed and counted; a name longer than its
    column is refused rather than cut, as it is not a name.

    Raises
    ------
    FieldProblem
        The value is not a string or null, or is too long.
    """
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise FieldProblem(f"is {describe(raw)}, expected a string", field=field)
    text = raw
    if CONTROL_CHARACTERS.search(text):
        quirks["control_characters_removed"] += 1
        text = CONTROL_CHARACTERS.sub("", text)
    name = clean_name(text)
    if len(name) > NAME_MAX_LENGTH:
        raise FieldProblem(
            f"is {len(name)} characters long; a name has at most {NAME_MAX_LENGTH}", field=field
        )
    if name and raw != name:
        quirks["name_cleaned"] += 1
    return name


ID_FIELDS = ("osm_id", "parent_id", "is_in_country", "is_in_state")


def _parse_feature(
    parsed: ParsedFile, index: int, feature: object, known: Mapping[str, str], *, booleans: bool
) -> None:
    source = parsed.source
    label = source.label
    if not isinstance(feature, dict):
        parsed.problems.append(
            Problem(label, f"is {describe(feature)}, not a GeoJSON Feature object", index=index)
        )
        return
    # Name the feature by its id in every message, when it has a readable one.
    shown_id = _shown_id(feature.get("properties"))
    try:
        properties = _feature_properties(feature)
        ids = {name: read_id(properties.get(name), field=name) for name in ID_FIELDS}
        name, name_en = (
            read_name(properties.get(key), field=key, quirks=parsed.quirks)
            for key in ("name", "name_en")
        )
        osm_id = ids["osm_id"]
        if osm_id is None:
            raise FieldProblem("feature has no id", field="osm_id")
        names, codes = _names_and_codes(properties, parsed.quirks, level=parsed.source.level)
        geometry = feature.get("geometry")
        digest = digest_geometry(geometry)
        state, shape = _read_geometry(
            geometry, parsed.quirks, skip=known.get(osm_id) == digest, booleans=booleans
        )
    except (FieldProblem, GeometryProblem) as exc:
        parsed.problems.append(
            Problem(label, str(exc), index=index, osm_id=shown_id, field=exc.field)
        )
        return
    if isinstance(properties.get("osm_id"), int):
        parsed.quirks["integer_id"] += 1
    if not name and not name_en:
        parsed.quirks["unnamed"] += 1
    if state is GeometryState.MISSING:
        parsed.quirks["missing_geometry"] += 1
    level = source.level
    parsed.features.append(
        SourceFeature(
            file=label,
            index=index,
            level=level,
            osm_id=osm_id,
            name=name,
            name_en=name_en,
            parent_ref=_parent_ref(level, ids),
            country_ref=osm_id if level == 0 else ids["is_in_country"],
            geometry_digest=digest,
            geometry_state=state,
            geometry=shape,
            from_simplified=source.simplified,
            names=names,
            codes=codes,
        )
    )


# OSM tags that are codes of the place, and the scheme each is kept under.
OSM_CODE_TAGS = {"wikidata": "wikidata", "ISO3166-2": "iso3166_2", "ref": "ref"}
# posm-extracts' own ``iso3166``: a country's ISO 3166-1 code, a subdivision's ISO 3166-2.
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z]{2,4})?")


def _names_and_codes(
    properties: Mapping[str, Any], quirks: Counter[str], *, level: int
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Names in other languages (OSM ``name:fr``) and codes (``wikidata``…) a feature carries."""
    names = []
    codes = []
    tags = {**OSM_CODE_TAGS, "iso3166": "iso3166_1" if level == 0 else "iso3166_2"}
    for key in properties:
        if key.startswith("name:") and LANGUAGE_CODE.fullmatch(language := key[5:]):
            if text := read_name(properties[key], field=key, quirks=quirks):
                names.append((language.lower().replace("_", "-"), text))
        elif (scheme := tags.get(key)) and (
            code := read_id(properties[key], field=key)
        ) is not None:
            codes.append((scheme, code))
    return tuple(sorted(names)), tuple(sorted(codes))


def _feature_properties(feature: dict[str, Any]) -> dict[str, Any]:
    """Check a feature's own members and return its properties."""
    if conflict := _conflicting_key(feature, ""):
        raise FieldProblem("key appears more than once, with different values", field=conflict)
    if feature.get("type") != "Feature":
        raise FieldProblem(
            f"'type' is {describe(feature.get('type'))}, expected \"Feature\"", field="type"
        )
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        raise FieldProblem(
            "missing properties"
            if properties is None
            else f"'properties' is {describe(properties)}, expected an object",
            field="properties",
        )
    if conflict := _conflicting_key(properties, "properties."):
        raise FieldProblem("key appears more than once, with different values", field=conflict)
    return properties


def _shown_id(properties: object) -> str | None:
    raw = properties.get("osm_id") if isinstance(properties, dict) else None
    if isinstance(raw, str):
        text = raw.strip()
        return None if text in MISSING_VALUES else printable(text, limit=40)
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw.bit_length() <= 128:
        return str(raw)
    # Shown as written (a list, an object, true): the line says what the id field held.
    return printable(json.dumps(raw, default=str), limit=40) if raw is not None else None


def _parent_ref(level: int, ids: Mapping[str, str | None]) -> str | None:
    if level == 0:
        return None
    parent = ids["parent_id"]
    if parent is None:
        parent = ids["is_in_country" if level == 1 else "is_in_state"]
    return parent


def _read_geometry(
    geometry: object, quirks: Counter[str], *, skip: bool, booleans: bool
) -> tuple[GeometryState, shapely.MultiPolygon | None]:
    if geometry is None:
        return GeometryState.MISSING, None
    if not isinstance(geometry, dict):
        raise GeometryProblem(f"geometry is {describe(geometry)}, expected an object or null")
    if conflict := _conflicting_key(geometry, "geometry."):
        raise GeometryProblem("key appears more than once, with different values", field=conflict)
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind is None and not coordinates:
        return GeometryState.MISSING, None
    if kind not in POLYGONAL_TYPES:
        raise GeometryProblem(
            f"unknown geometry type {printable(kind, limit=40)!r} (expected Polygon or MultiPolygon)"
            if isinstance(kind, str)
            else f'geometry type is {describe(kind)}, expected "Polygon" or "MultiPolygon"',
            field="geometry.type",
        )
    if coordinates is None or coordinates == []:
        return GeometryState.MISSING, None
    if not isinstance(coordinates, list):
        raise GeometryProblem(
            f"coordinates are {describe(coordinates)}, expected a list",
            field="geometry.coordinates",
        )
    if skip:
        return GeometryState.UNCHANGED, None
    if kind == "Polygon":
        quirks["polygon_promoted"] += 1
    polygons = [coordinates] if kind == "Polygon" else coordinates
    shape = build_multipolygon(polygons, quirks, booleans=booleans)
    if shape is None:
        quirks["degenerate_geometry"] += 1
        return GeometryState.MISSING, None
    return GeometryState.BUILT, shape


def build_multipolygon(
    polygons: list[Any], quirks: Counter[str], *, booleans: bool = True
) -> shapely.MultiPolygon | None:
    """Build a MultiPolygon from GeoJSON polygon coordinate arrays, checking each ring.

    Unclosed rings are closed and rings of fewer than 4 points dropped (both
    counted in ``quirks``); a polygon whose shell is dropped goes with it.
    A third or fourth coordinate (elevation, measure) is dropped and counted.
    Returns None when nothing is left. ``booleans=False`` says the input holds
    no ``true``/``false`` at all, which spares a walk over every coordinate.

    Raises
    ------
    GeometryProblem
        Coordinates that are not numbers, not finite, or off the globe.
    """
    built: list[shapely.Polygon] = []
    for polygon in polygons:
        if isinstance(polygon, list) and not polygon:
            quirks["degenerate_ring"] += 1
            continue
        if not isinstance(polygon, list):
            raise GeometryProblem(
                f"a polygon is {describe(polygon)}, expected a list of rings",
                field="geometry.coordinates",
            )
        rings = [_ring(ring, quirks, booleans=booleans) for ring in polygon]
        shell, holes = rings[0], [ring for ring in rings[1:] if ring is not None]
        if shell is None:
            continue
        hole_rings = [shapely.linearrings(hole) for hole in holes]
        built.append(shapely.polygons(shapely.linearrings(shell), hole_rings or None))
    if not built:
        return None
    return shapely.multipolygons(built)


def _ring(ring: object, quirks: Counter[str], *, booleans: bool) -> np.ndarray | None:
    if isinstance(ring, list) and not ring:
        quirks["degenerate_ring"] += 1
        return None
    if not isinstance(ring, list):
        raise GeometryProblem(
            f"a ring is {describe(ring)}, expected a list of [longitude, latitude] positions",
            field="geometry.coordinates",
        )
    if booleans and any(
        isinstance(value, bool)
        for position in ring
        if isinstance(position, list)
        for value in position
    ):
        raise GeometryProblem(
            "coordinates must be numbers, not true or false", field="geometry.coordinates"
        )
    try:
        array = np.asarray(ring)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # ragged or deep
        raise GeometryProblem(
            "coordinates are not [longitude, latitude] pairs", field="geometry.coordinates"
        ) from exc
    if array.dtype.kind not in "iuf":
        raise GeometryProblem("coordinates must be numbers", field="geometry.coordinates")
    if array.ndim != 2 or not 2 <= array.shape[1] <= 4:
        raise GeometryProblem(
            "coordinates are not [longitude, latitude] pairs", field="geometry.coordinates"
        )
    if array.shape[1] > 2:
        quirks["extra_dimensions_dropped"] += 1
    array = np.ascontiguousarray(array[:, :2], dtype=np.float64)
    if not np.isfinite(array).all():
        raise GeometryProblem("coordinates must be finite numbers", field="geometry.coordinates")
    lon, lat = array[:, 0], array[:, 1]
    if (np.abs(lon) > 180).any() or (np.abs(lat) > 90).any():
        bad = array[(np.abs(lon) > 180) | (np.abs(lat) > 90)][0]
        raise GeometryProblem(
            f"coordinate [{bad[0]:g}, {bad[1]:g}] is outside longitude -180..180 / latitude -90..90",
            field="geometry.coordinates",
        )
    if len(array) and not np.array_equal(array[0], array[-1]):
        quirks["unclosed_ring"] += 1
        array = np.vstack([array, array[:1]])
    if len(array) < 4:
        quirks["degenerate_ring"] += 1
        return None
    return array
