"""Read one posm-extracts GeoJSON file into ``SourceFeature`` values.

Pure: bytes in, features and problems out. Quirks of the real extracts (the
string ``"None"`` for missing values, integer ids, ``{}`` or empty geometries,
unclosed or degenerate rings, stray bidi marks in names) are absorbed here and
counted; input that cannot mean anything (not JSON, an unknown geometry type,
coordinates that are not numbers or not on the globe) becomes a ``Problem``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import shapely

from geo.importing.types import GeometryState, ParsedFile, Problem, SourceFeature, SourceFile

MISSING_VALUES = frozenset({"", "None", "none", "null", "NULL"})
POLYGONAL_TYPES = frozenset({"Polygon", "MultiPolygon"})
# Direction marks and embeddings carry no meaning in a place name; ZWNJ/ZWJ do
# (Persian, Indic scripts), so they stay inside words.
BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
EDGE_JOINERS = re.compile("^[\u200c\u200d]+|[\u200c\u200d]+$")
WHITESPACE_RUN = re.compile(r"\s+")


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
    """Fingerprint a source geometry; an equal fingerprint means nothing to rebuild."""
    payload = orjson.dumps(geometry, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


def digest_content(data: bytes) -> str:
    """Fingerprint a whole file's bytes."""
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def summarize_features(features: list[SourceFeature]) -> list[list[object]]:
    """Everything a re-import needs of a file's features, without their coordinates."""
    return [
        [f.index, f.osm_id, f.name, f.name_en, f.parent_ref, f.country_ref, f.geometry_digest,
         f.geometry_state is GeometryState.MISSING]
        for f in features
    ]  # fmt: skip


def features_from_summary(
    source: SourceFile, summary: list[list[Any]], *, known_digests: Mapping[str, str]
) -> list[SourceFeature] | None:
    """Rebuild a file's features from ``summarize_features`` output.

    Returns None unless every geometry is already stored with the same digest
    (then the file must be parsed for real, coordinates and all).
    """
    features = []
    for index, osm_id, name, name_en, parent_ref, country_ref, digest, missing in summary:
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
        parsed.content_digest = digest_content(data)
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        parsed.problems.append(Problem(source.label, f"not valid JSON ({exc})"))
        return parsed
    except OSError as exc:
        parsed.problems.append(Problem(source.label, f"cannot be read ({exc})"))
        return parsed
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        parsed.problems.append(
            Problem(source.label, "not a GeoJSON FeatureCollection", field="type")
        )
        return parsed
    features = document.get("features")
    if not isinstance(features, list):
        parsed.problems.append(Problem(source.label, "'features' is not a list", field="features"))
        return parsed
    if not features:
        parsed.quirks["empty_file"] += 1
    for index, feature in enumerate(features):
        _parse_feature(parsed, index, feature, known)
    return parsed


def _parse_feature(
    parsed: ParsedFile, index: int, feature: object, known: Mapping[str, str]
) -> None:
    source = parsed.source
    label = source.label
    if not isinstance(feature, dict):
        parsed.problems.append(Problem(label, "not a GeoJSON Feature object", index=index))
        return
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        parsed.problems.append(
            Problem(label, "missing properties", index=index, field="properties")
        )
        return
    osm_id = optional_ref(properties.get("osm_id"))
    if osm_id is None:
        parsed.problems.append(Problem(label, "feature has no id", index=index, field="osm_id"))
        return
    if isinstance(properties.get("osm_id"), int | float):
        parsed.quirks["integer_id"] += 1

    level = source.level
    name = clean_name(properties.get("name"))
    name_en = clean_name(properties.get("name_en"))
    raw_name = properties.get("name")
    if isinstance(raw_name, str) and name and raw_name != name:
        parsed.quirks["name_cleaned"] += 1
    if not name and not name_en:
        parsed.quirks["unnamed"] += 1
    parent_ref = _parent_ref(level, properties)
    country_ref = osm_id if level == 0 else optional_ref(properties.get("is_in_country"))

    geometry = feature.get("geometry")
    digest = digest_geometry(geometry)
    try:
        state, shape = _read_geometry(geometry, parsed.quirks, skip=known.get(osm_id) == digest)
    except GeometryProblem as exc:
        parsed.problems.append(
            Problem(label, str(exc), index=index, osm_id=osm_id, field=exc.field)
        )
        return
    if state is GeometryState.MISSING:
        parsed.quirks["missing_geometry"] += 1
    parsed.features.append(
        SourceFeature(
            file=label,
            index=index,
            level=level,
            osm_id=osm_id,
            name=name,
            name_en=name_en,
            parent_ref=parent_ref,
            country_ref=country_ref,
            geometry_digest=digest,
            geometry_state=state,
            geometry=shape,
            from_simplified=source.simplified,
        )
    )


def _parent_ref(level: int, properties: Mapping[str, Any]) -> str | None:
    if level == 0:
        return None
    parent = optional_ref(properties.get("parent_id"))
    if parent is None:
        fallback = "is_in_country" if level == 1 else "is_in_state"
        parent = optional_ref(properties.get(fallback))
    return parent


def _read_geometry(
    geometry: object, quirks: Counter[str], *, skip: bool
) -> tuple[GeometryState, shapely.MultiPolygon | None]:
    if geometry is None:
        return GeometryState.MISSING, None
    if not isinstance(geometry, dict):
        raise GeometryProblem("geometry is not an object")
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind is None and not coordinates:
        return GeometryState.MISSING, None
    if kind not in POLYGONAL_TYPES:
        raise GeometryProblem(
            f"unknown geometry type {kind!r} (expected Polygon or MultiPolygon)",
            field="geometry.type",
        )
    if coordinates is None or coordinates == []:
        return GeometryState.MISSING, None
    if skip:
        return GeometryState.UNCHANGED, None
    if not isinstance(coordinates, list):
        raise GeometryProblem("coordinates are not a list", field="geometry.coordinates")
    if kind == "Polygon":
        quirks["polygon_promoted"] += 1
    polygons = [coordinates] if kind == "Polygon" else coordinates
    shape = build_multipolygon(polygons, quirks)
    if shape is None:
        quirks["degenerate_geometry"] += 1
        return GeometryState.MISSING, None
    return GeometryState.BUILT, shape


def build_multipolygon(polygons: list[Any], quirks: Counter[str]) -> shapely.MultiPolygon | None:
    """Build a MultiPolygon from GeoJSON polygon coordinate arrays, checking each ring.

    Unclosed rings are closed and rings of fewer than 4 points dropped (both
    counted in ``quirks``); a polygon whose shell is dropped goes with it.
    Returns None when nothing is left.

    Raises
    ------
    GeometryProblem
        Coordinates that are not numbers, not finite, or off the globe.
    """
    built: list[shapely.Polygon] = []
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            quirks["degenerate_ring"] += 1
            continue
        rings = [_ring(ring, quirks) for ring in polygon]
        shell, holes = rings[0], [ring for ring in rings[1:] if ring is not None]
        if shell is None:
            continue
        hole_rings = [shapely.linearrings(hole) for hole in holes]
        built.append(shapely.polygons(shapely.linearrings(shell), hole_rings or None))
    if not built:
        return None
    return shapely.multipolygons(built)


def _ring(ring: object, quirks: Counter[str]) -> np.ndarray | None:
    try:
        array = np.asarray(ring)
    except ValueError as exc:  # ragged nesting
        raise GeometryProblem(
            "coordinates are not [longitude, latitude] pairs", field="geometry.coordinates"
        ) from exc
    if array.dtype.kind not in "if":
        raise GeometryProblem("coordinates must be numbers", field="geometry.coordinates")
    if array.ndim != 2 or array.shape[1] < 2:
        raise GeometryProblem(
            "coordinates are not [longitude, latitude] pairs", field="geometry.coordinates"
        )
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
