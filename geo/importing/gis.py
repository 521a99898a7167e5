"""Read boundaries from any file GDAL/OGR reads, in the layouts boundary publishers use.

Pure: paths in, ``ParsedFile`` values and problems out, read through GeoPandas
with pyogrio. Shapefiles (zipped too), GeoPackages (every layer), GeoJSON,
FlatGeobuf and KML, in any CRS: geometry is reprojected to EPSG:4326 (pyproj,
through ``GeoDataFrame.to_crs``). A source without a CRS is refused, except
GeoJSON and KML, whose CRS is EPSG:4326 by definition.

Four layouts are recognised from column names (case ignored):

- HDX COD-AB: ``ADM<n>_PCODE``, ``ADM<n>_EN`` (and ``ADM<n>_FR``… names),
  the parent's ``ADM<n-1>_PCODE``;
- geoBoundaries: ``shapeName``, ``shapeID``, ``shapeType`` (``ADM1``),
  ``shapeISO``, ``shapeGroup``; parents are found by containment;
- GADM: ``GID_<n>``, ``NAME_<n>``, ``VARNAME_<n>``, ``NL_NAME_<n>``,
  ``HASC_<n>``, ``ISO_1``; the parent is ``GID_<n-1>``;
- Mipaka's own export: ``osm_id``, ``level``, ``name``, ``name_en``,
  ``parent_id``, code columns by scheme, ``name_<lang>``, ``alt_names``.

Anything else is read with flags (``LayoutOptions``). A boundary's ``osm_id``
is the source's own code (p-code, GID, shapeID), as RapidPro keeps it.

Parents a source does not name are found by containment
(``place_features``): the feature one level up, in the run or stored, that
holds the largest share of the child's area.
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

from geo.exceptions import InvalidInput, NoInput
from geo.importing.countries import find_country
from geo.importing.geometry import area_km2
from geo.importing.parse import FieldProblem, read_id, read_name
from geo.importing.plan import StoredBoundary
from geo.importing.sources import CLIMBING_ENTRY, MAX_LEVEL, SourceSelection
from geo.importing.types import (
    GeometryState,
    ParsedFile,
    Problem,
    SourceFeature,
    SourceFile,
    printable,
)

# What a folder or a zip is searched for; a shapefile's sidecars come with its .shp.
GIS_SUFFIXES = frozenset({".shp", ".gpkg", ".geojson", ".json", ".fgb", ".kml", ".kmz", ".csv"})
# Formats whose CRS is EPSG:4326 by definition (RFC 7946, OGC KML), and CSV, which
# cannot say: WKT in a CSV is longitude/latitude by every convention (ours included).
LONLAT_FORMATS = frozenset({".geojson", ".json", ".kml", ".kmz", ".csv"})
# A second parent holding at least this share of a child's area makes it a split child;
# a best parent holding less is no parent at all.
SPLIT_SHARE = 0.1
# Code schemes kept in ``Boundary.codes`` (Mipaka's export has one column each).
CODE_SCHEMES = ("gid", "hasc", "iso3166_2", "pcode", "ref", "shape_id", "wikidata")
# An ISO 3166-2 subdivision code (geoBoundaries puts ISO 3166-1 codes in shapeISO at ADM0).
ISO3166_2 = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
LEVEL_IN_NAME = re.compile(r"adm(?:in)?[_ ]?(?:level[_ ]?)?(\d)(?!\d)", re.IGNORECASE)
# Values that mean "nothing here" in the publishers' files (GADM writes "NA").
ABSENT = frozenset({"", "None", "none", "null", "NULL", "NA", "nan"})

Bounds = tuple[float, float, float, float]
# Stored boundaries of one level whose geometry meets the bounds: osm_id → full geometry.
StoredShapes = Callable[[int, Bounds], dict[str, shapely.Geometry]]


class Layout(StrEnum):
    """The layouts recognised from column names."""

    COD_AB = "COD-AB"
    GEOBOUNDARIES = "geoBoundaries"
    GADM = "GADM"
    MIPAKA = "Mipaka export"
    FLAGS = "flags"


@dataclass(frozen=True, slots=True)
class LayoutOptions:
    """How to read a source whose layout is not recognised, and overrides for any source.

    ``name_field`` and ``code_field`` (with ``level`` unless a layer tells its
    level) read every layer by these columns instead of a recognised layout;
    the code is kept under ``code_scheme``. ``level`` also stands in where a
    recognised layout has no level. ``parent_by_containment`` ignores parent
    columns and places every feature in the one above it that holds most of it.
    """

    level: int | None = None
    name_field: str | None = None
    code_field: str | None = None
    code_scheme: str = "ref"
    parent_code_field: str | None = None
    parent_by_containment: bool = False
    layers: tuple[str, ...] = ()

    @property
    def by_flags(self) -> bool:
        """Tell whether the fields are named by flags rather than recognised."""
        return bool(self.name_field or self.code_field)


NO_FLAGS = LayoutOptions()


@dataclass(frozen=True, slots=True)
class GisLayer:
    """One layer of one file: what GDAL opens and how reports name it."""

    dataset: str
    layer: str
    label: str
    # Lower-case suffix of the file inside (``.shp`` in a zip): GeoJSON and KML mean EPSG:4326.
    suffix: str
    # The only layer of its file (then a layer GDAL cannot use is an error, not skipped).
    alone: bool


@dataclass(slots=True)
class GisSelection(SourceSelection):
    """The layers chosen for a run (``files``), with what GDAL needs to open each."""

    layers: dict[str, GisLayer] = field(default_factory=dict)


@dataclass(slots=True)
class GisFile:
    """One layer read: its features, and what placing them still needs."""

    parsed: ParsedFile
    layout: Layout | None
    # Indexes of features whose parent is to be found by containment.
    contained: set[int] = field(default_factory=set)
    # Feature index → the country code the source gives (ADM0_PCODE, GID_0, shapeGroup).
    country_codes: dict[int, str] = field(default_factory=dict)
    # Feature index → geometry (kept for placing, even when unchanged since the last import).
    shapes: dict[int, shapely.MultiPolygon] = field(default_factory=dict)
    # Why the layer was passed over (not polygons, too deep), when it was.
    skipped: str = ""


def discover_gis_sources(
    paths: Sequence[str | Path], *, layers: Sequence[str] = ()
) -> GisSelection:
    """List the layers of every file, folder and zip archive given.

    Parameters
    ----------
    paths
        Files, folders (searched recursively) and zip archives, in any mix.
    layers
        Read only the layers of these names (case ignored).

    Raises
    ------
    NoInput
        A path does not exist, or holds no file GDAL reads.
    InvalidInput
        A file GDAL cannot open, or a zip whose entry names climb out of it.
    """
    selection = GisSelection()
    problems: list[str] = []
    datasets: list[_Dataset] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise NoInput(f"{path}: no such file or folder")
        datasets.extend(_datasets(path, problems, found=False))
    wanted = {name.casefold() for name in layers}
    for dataset in _one_format_each(datasets, selection.skipped):
        try:
            listed = pyogrio.list_layers(dataset.gdal_path)
        except (DataSourceError, DataLayerError, OSError) as exc:
            if dataset.found and dataset.suffix == ".json":
                # Publishers ship metadata as .json beside the data (geoBoundaries does).
                selection.skipped.append(f"{dataset.label}: not GeoJSON")
            else:
                problems.append(
                    f"{dataset.label}: cannot be read as a GIS file ({_gdal_message(exc)})"
                )
            continue
        for name, geometry_type in listed:
            layer_label = f"{dataset.label}, layer '{printable(str(name))}'"
            if wanted and str(name).casefold() not in wanted:
                selection.skipped.append(f"{layer_label}: not among the layers asked for")
                continue
            if geometry_type is None and len(listed) > 1:
                selection.skipped.append(f"{layer_label}: a table without geometry")
                continue
            selection.layers[layer_label] = GisLayer(
                dataset=dataset.gdal_path, layer=str(name), label=layer_label,
                suffix=dataset.suffix, alone=len(listed) == 1,
            )  # fmt: skip
            level = LEVEL_IN_NAME.search(str(name))
            selection.files.append(
                SourceFile(
                    label=layer_label,
                    group=dataset.label,
                    # What the layer's name tells; its features carry their own levels.
                    level=int(level[1]) if level else 0,
                    simplified=False,
                    country_key=None,
                    read=dataset.disk.read_bytes,
                )
            )
    if problems:
        raise InvalidInput(problems)
    if not selection.files:
        where = ", ".join(str(p) for p in paths)
        asked = f" named {', '.join(layers)}" if layers else ""
        raise NoInput(
            f"{where}: no layer{asked} found in a file GDAL reads "
            "(Shapefile, GeoPackage, GeoJSON, FlatGeobuf, KML, or a zip of them)"
        )
    return selection


@dataclass(frozen=True, slots=True)
class _Dataset:
    """A file GDAL may open: itself, or a member of a zip."""

    gdal_path: str
    label: str
    suffix: str
    # The file on disk (the zip, for a member).
    disk: Path
    # Found in a folder or a zip rather than named by the user.
    found: bool


# When a folder or zip holds the same data in several formats (geoBoundaries ships
# GeoJSON and Shapefile side by side), the first of these is read.
FORMAT_PREFERENCE = (".gpkg", ".fgb", ".geojson", ".json", ".shp", ".kml", ".kmz", ".csv")


def _one_format_each(datasets: Sequence[_Dataset], skipped: list[str]) -> list[_Dataset]:
    """Keep one file per name and folder among files found, by ``FORMAT_PREFERENCE``."""
    chosen: dict[tuple[str, str], _Dataset] = {}
    kept: list[_Dataset] = []

    def preference(dataset: _Dataset) -> int:
        # A file named by the user may have any suffix: GDAL decides whether it reads it.
        if dataset.suffix in FORMAT_PREFERENCE:
            return FORMAT_PREFERENCE.index(dataset.suffix)
        return len(FORMAT_PREFERENCE)

    for dataset in sorted(datasets, key=preference):
        stem = dataset.label.rsplit(".", 1)[0].casefold()
        key = (stem, "found" if dataset.found else dataset.label)
        if key in chosen:
            skipped.append(f"{dataset.label}: the same data as {chosen[key].label}")
            continue
        chosen[key] = dataset
        kept.append(dataset)
    order = {id(d): i for i, d in enumerate(datasets)}
    return sorted(kept, key=lambda d: order[id(d)])


def _datasets(path: Path, problems: list[str], *, found: bool) -> Iterable[_Dataset]:
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.suffix.lower() in GIS_SUFFIXES | {".zip"}:
                yield from _datasets(child, problems, found=True)
    elif path.suffix.lower() == ".zip":
        yield from _zip_datasets(path, problems)
    else:
        label = printable(str(path), limit=1000)
        yield _Dataset(str(path), label, path.suffix.lower(), path, found)


def _zip_datasets(path: Path, problems: list[str]) -> Iterable[_Dataset]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info.filename for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        problems.append(f"{path}: not a readable zip archive ({exc})")
        return
    climbing = [member for member in members if CLIMBING_ENTRY.search(member)]
    if climbing:
        problems.extend(
            f"{path}!{printable(member)}: entry name climbs out of the archive's folder "
            "(absolute, or with '..'); the archive is refused"
            for member in climbing
        )
        return
    for member in sorted(members):
        suffix = Path(member).suffix.lower()
        # macOS archivers add __MACOSX/._name copies: resource forks, not data.
        if suffix not in GIS_SUFFIXES or member.startswith("__MACOSX/") or "/._" in f"/{member}":
            continue
        label = printable(f"{path}!{member}", limit=1000)
        yield _Dataset(f"/vsizip/{path}/{member}", label, suffix, path, True)


def _gdal_message(exc: BaseException) -> str:
    # GDAL messages may span lines; a report line holds one.
    return " ".join(str(exc).split()) or type(exc).__name__


def _open_options(suffix: str) -> dict[str, str]:
    """GDAL open options a format needs: a CSV's geometry is WKT in a ``geometry`` or ``WKT`` column."""
    if suffix == ".csv":
        return {"GEOM_POSSIBLE_NAMES": "geometry,WKT,geom", "KEEP_GEOM_COLUMNS": "NO"}
    return {}


def read_gis_layer(
    layer: GisLayer, source: SourceFile, *, options: LayoutOptions = NO_FLAGS
) -> GisFile:
    """Read one layer into features, in EPSG:4326, by its layout.

    Every problem names the file, the layer, the feature (its position in the
    layer, from 0) and the field; a layer that cannot be read at all is one
    problem. Features whose parent must be found by containment are listed in
    ``contained`` (their ``parent_ref`` is None until ``place_features``).
    """
    parsed = ParsedFile(source=source, features=[], problems=[], quirks=Counter())
    result = GisFile(parsed=parsed, layout=None)
    label = layer.label
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GDAL's notes on laundered names and the like
            frame = pyogrio.read_dataframe(
                layer.dataset, layer=layer.layer, **_open_options(layer.suffix)
            )
    except (DataSourceError, DataLayerError, FieldError, GeometryError, OSError) as exc:
        parsed.problems.append(Problem(label, f"cannot be read ({_gdal_message(exc)})"))
        return result
    if "geometry" not in frame.columns or frame.geometry.name != "geometry":
        parsed.problems.append(Problem(label, "has no geometry", field="geometry"))
        return result
    columns = _columns(c for c in frame.columns if c != "geometry")
    try:
        layout, level_hint = _detect_layout(columns, layer, options)
    except FieldProblem as exc:
        parsed.problems.append(Problem(label, str(exc), field=exc.field))
        return result
    result.layout = layout
    result.skipped = _skip_reason(frame, layer, level_hint)
    frame = None if result.skipped else _in_lonlat(frame, layer, parsed)
    if frame is None:
        return result
    reader = _READERS[layout]
    records = frame.drop(columns="geometry").to_dict("records")
    for index, (record, geometry) in enumerate(zip(records, frame.geometry.array, strict=True)):
        _read_feature(result, index, reader=reader, record=record, geometry=geometry,
                      columns=columns, options=options, level=level_hint)  # fmt: skip
    if frame.empty:
        parsed.quirks["empty_file"] += 1
    return result


def _in_lonlat(frame: Any, layer: GisLayer, parsed: ParsedFile) -> Any:
    """Return the layer in EPSG:4326, or None (with a problem) when its CRS is unknown."""
    if frame.crs is None:
        if layer.suffix not in LONLAT_FORMATS:
            parsed.problems.append(
                Problem(
                    layer.label,
                    "has no CRS (no .prj, or none recorded); give the file its CRS "
                    "(e.g. ogr2ogr -a_srs EPSG:32735) so its coordinates can be placed",
                    field="crs",
                )
            )
            return None
        return frame.set_crs(4326)
    if frame.crs.equals("EPSG:4326") or frame.crs.equals("OGC:CRS84"):
        return frame
    parsed.quirks["reprojected"] += len(frame)
    return frame.to_crs(4326)


def _skip_reason(frame: Any, layer: GisLayer, level: int | None) -> str:
    """Say why a layer is passed over: too deep, or (beside other layers) not polygons."""
    if level is not None and level > MAX_LEVEL:
        return f"{layer.label}: level {level} is deeper than Mipaka keeps (0 to {MAX_LEVEL})"
    kinds = set(frame.geometry.geom_type.dropna())
    if layer.alone or not kinds or kinds & {"Polygon", "MultiPolygon", "GeometryCollection"}:
        return ""
    return f"{layer.label}: holds {', '.join(sorted(kinds))} geometry, not polygons"


class _Columns(dict[str, str]):
    """Column names by lower case; an exactly lower-case name wins a clash (KML's ``Name``)."""

    def field(self, name: str) -> str | None:
        return self.get(name.lower())


# Older COD-AB files (before the 2019 standard) name the same columns otherwise.
LEGACY_COD_AB = (
    (re.compile(r"^admin(\d)pcode$"), r"adm\1_pcode"),
    (re.compile(r"^admin(\d)name_([a-z]{2})$"), r"adm\1_\2"),
    (re.compile(r"^admin(\d)refname$"), r"adm\1_ref"),
    (re.compile(r"^admin(\d)altname(\d)?_([a-z]{2})$"), r"adm\1alt\2\3"),
)


def _columns(names: Iterable[str]) -> _Columns:
    columns = _Columns()
    for name in sorted(names, key=lambda n: n == n.lower()):
        columns[name.lower()] = name
    for key, name in list(columns.items()):
        for pattern, modern in LEGACY_COD_AB:
            if pattern.match(key):
                columns.setdefault(pattern.sub(modern, key), name)
    return columns


ADM_PCODE = re.compile(r"^adm(\d)_pcode$")
GID = re.compile(r"^gid_(\d)$")


def _detect_layout(
    columns: _Columns, layer: GisLayer, options: LayoutOptions
) -> tuple[Layout, int | None]:
    """Return the layer's layout and level (None when each feature says its own).

    Raises
    ------
    FieldProblem
        No layout recognised, or flags naming columns the layer lacks.
    """
    if options.by_flags:
        missing = [
            f"--{flag}-field {name}"
            for flag, name in (
                ("name", options.name_field), ("code", options.code_field),
                ("parent-code", options.parent_code_field),
            )
            if name and columns.field(name) is None
        ]  # fmt: skip
        if missing or not (options.name_field and options.code_field):
            found = ", ".join(sorted(columns.values())) or "none"
            what = (
                f"has no column named by {', '.join(missing)}"
                if missing
                else "needs both --name-field and --code-field"
            )
            raise FieldProblem(f"{what} (columns found: {found})", field="columns")
        return Layout.FLAGS, _flag_level(columns, layer, options)
    if columns.field("osm_id") and columns.field("name") and columns.field("parent_id"):
        return Layout.MIPAKA, None if columns.field("level") else _layer_level(layer, options)
    gid_levels = [int(m[1]) for key in columns if (m := GID.match(key))]
    if gid_levels:
        return Layout.GADM, max(gid_levels)
    pcode_levels = [int(m[1]) for key in columns if (m := ADM_PCODE.match(key))]
    if pcode_levels:
        return Layout.COD_AB, max(pcode_levels)
    if columns.field("shapename") and columns.field("shapeid"):
        return Layout.GEOBOUNDARIES, None if columns.field("shapetype") else _layer_level(
            layer, options
        )
    found = ", ".join(sorted(columns.values())) or "none"
    if columns.field("osm_id") and columns.field("is_in_country"):
        raise FieldProblem(
            f"posm-extracts GeoJSON (columns {found}): import it with import_geojson",
            field="columns",
        )
    raise FieldProblem(
        f"no known layout in its columns ({found}): expected COD-AB (ADM<n>_PCODE, ADM<n>_EN), "
        "geoBoundaries (shapeName, shapeID, shapeType), GADM (GID_<n>, NAME_<n>) or Mipaka's "
        "export (osm_id, level, name, parent_id); otherwise name the columns with --name-field "
        "and --code-field, and give --level and --parent-code-field or --parent-by-containment",
        field="columns",
    )


def _layer_level(layer: GisLayer, options: LayoutOptions) -> int:
    if options.level is not None:
        return options.level
    if match := LEVEL_IN_NAME.search(layer.layer) or LEVEL_IN_NAME.search(layer.label):
        return int(match[1])
    raise FieldProblem(
        "no level: neither a level column nor a layer name like admin1; give --level",
        field="level",
    )


def _flag_level(columns: _Columns, layer: GisLayer, options: LayoutOptions) -> int | None:
    if options.level is not None:
        return options.level
    if columns.field("level"):
        return None
    return _layer_level(layer, options)


@dataclass(slots=True)
class _Record:
    """What a layout reads of one feature, before its geometry."""

    osm_id: str
    level: int
    name: str
    name_en: str = ""
    parent_ref: str | None = None
    contained: bool = False
    country_code: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    other_names: set[str] = field(default_factory=set)
    codes: dict[str, str] = field(default_factory=dict)


class _Values:
    """One feature's attribute values, read through the layer's column names."""

    def __init__(self, record: Mapping[str, Any], columns: _Columns, quirks: Counter[str]) -> None:
        self.record = record
        self.columns = columns
        self.quirks = quirks

    def raw(self, key: str) -> Any:
        column = self.columns.field(key)
        if column is None:
            return None
        value: Any = self.record.get(column)
        if hasattr(value, "item"):  # numpy scalars: plain Python values
            value = value.item()
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if not isinstance(value, str | int | float) and pandas.isna(value) is True:
            return None  # pandas' NA and NaT
        if isinstance(value, str) and value.strip() in ABSENT:
            return None
        return value

    def column(self, key: str) -> str:
        return self.columns.field(key) or key

    def id(self, key: str) -> str | None:
        """Read an id or code: text, or a whole number (Shapefiles keep numeric codes as reals)."""
        value = self.raw(key)
        if isinstance(value, float):
            if not value.is_integer():
                raise FieldProblem(f"is {value!r}, expected a code", field=self.column(key))
            value = int(value)
        return read_id(value, field=self.column(key))

    def name(self, key: str) -> str:
        value = self.raw(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        return read_name(value, field=self.column(key), quirks=self.quirks)

    def required_id(self, key: str, what: str) -> str:
        value = self.id(key)
        if value is None:
            raise FieldProblem(f"no {what}", field=self.column(key))
        return value

    def level(self, key: str) -> int:
        value = self.raw(key)
        text = str(value).strip() if value is not None else ""
        match = re.fullmatch(r"(?:adm)?(\d)(?:\.0)?", text, re.IGNORECASE)
        if match is None or int(match[1]) > MAX_LEVEL:
            raise FieldProblem(
                f"is {text!r}, expected a level 0 to {MAX_LEVEL}"
                if text
                else f"is empty, expected a level 0 to {MAX_LEVEL}",
                field=self.column(key),
            )
        return int(match[1])


def _split_names(text: str) -> set[str]:
    return {part.strip() for part in re.split(r"[|;]", text) if part.strip()}


def _read_cod_ab(values: _Values, level: int | None, options: LayoutOptions) -> _Record:
    assert level is not None
    prefix = f"adm{level}"
    osm_id = values.required_id(f"{prefix}_pcode", "p-code")
    names: dict[str, str] = {}
    other: set[str] = set()
    language_column = re.compile(rf"^{prefix}_([a-z]{{2}})$")
    alternative = re.compile(rf"^{prefix}alt\d*[a-z]{{2}}$")
    for key in sorted(values.columns):
        if (match := language_column.match(key)) and match[1] != "en":
            if text := values.name(key):
                names[match[1]] = text
        elif (alternative.match(key) or key == f"{prefix}_ref") and (text := values.name(key)):
            other.add(text)
    # The newer COD-AB standard: ADM<n>_NAME in the language of the LANG column.
    plain = values.name(f"{prefix}_name")
    if plain and (language := values.name("lang").lower()):
        names.setdefault(language, plain)
    name_en = values.name(f"{prefix}_en")
    if name_en:
        names["en"] = name_en
    name = name_en or plain or next(iter(names.values()), "")
    if not name:
        raise FieldProblem("no name", field=values.column(f"{prefix}_en"))
    parent = values.id(f"adm{level - 1}_pcode") if level > 0 else None
    return _Record(
        osm_id=osm_id, level=level, name=name, name_en=name_en, parent_ref=parent,
        contained=level > 0 and parent is None and values.columns.field(f"adm{level - 1}_pcode") is None,
        country_code=values.id("adm0_pcode"), names=names, other_names=other - {name},
        codes={"pcode": osm_id},
    )  # fmt: skip


def _read_geoboundaries(values: _Values, level: int | None, options: LayoutOptions) -> _Record:
    if level is None:
        level = values.level("shapetype")
    osm_id = values.required_id("shapeid", "shape id")
    name = values.name("shapename")
    if not name:
        raise FieldProblem("no name", field=values.column("shapename"))
    codes = {"shape_id": osm_id}
    iso = values.id("shapeiso")
    if iso and ISO3166_2.match(iso.upper()):
        codes["iso3166_2"] = iso.upper()
    return _Record(
        osm_id=osm_id, level=level, name=name, contained=level > 0,
        country_code=values.id("shapegroup"), codes=codes,
    )  # fmt: skip


def _read_gadm(values: _Values, level: int | None, options: LayoutOptions) -> _Record:
    assert level is not None
    osm_id = values.required_id(f"gid_{level}", "GID")
    name_key = f"name_{level}" if level or values.columns.field("name_0") else "country"
    name = values.name(name_key)
    if not name:
        raise FieldProblem("no name", field=values.column(name_key))
    other = _split_names(values.name(f"varname_{level}"))
    names: dict[str, str] = {}
    if local := sorted(_split_names(values.name(f"nl_name_{level}"))):
        names["local"] = local[0]
        other.update(local[1:])
    codes = {"gid": osm_id}
    if hasc := values.id(f"hasc_{level}"):
        codes["hasc"] = hasc
    if level == 1 and (iso := values.id("iso_1")) and ISO3166_2.match(iso.upper()):
        codes["iso3166_2"] = iso.upper()
    parent = values.id(f"gid_{level - 1}") if level > 0 else None
    return _Record(
        osm_id=osm_id, level=level, name=name, names=names, other_names=other - {name},
        codes=codes, parent_ref=parent,
        contained=level > 0 and values.columns.field(f"gid_{level - 1}") is None,
        country_code=values.id("gid_0"),
    )  # fmt: skip


NAME_COLUMN = re.compile(r"^name_([a-z]{2,3}(?:_[a-z0-9]{2,4})?|local)$")


def _read_mipaka(values: _Values, level: int | None, options: LayoutOptions) -> _Record:
    if level is None:
        level = values.level("level")
    osm_id = values.required_id("osm_id", "osm_id")
    name = values.name("name")
    name_en = values.name("name_en")
    if not name and not name_en:
        raise FieldProblem("no name", field=values.column("name"))
    names = {
        match[1].replace("_", "-"): text
        for key in values.columns
        if (match := NAME_COLUMN.match(key)) and key != "name_en" and (text := values.name(key))
    }
    codes = {scheme: code for scheme in CODE_SCHEMES if (code := values.id(scheme)) is not None}
    return _Record(
        osm_id=osm_id, level=level, name=name or name_en, name_en=name_en,
        parent_ref=values.id("parent_id") if level > 0 else None,
        names=names, other_names=_split_names(values.name("alt_names")), codes=codes,
    )  # fmt: skip


def _read_by_flags(values: _Values, level: int | None, options: LayoutOptions) -> _Record:
    assert options.name_field and options.code_field
    if level is None:
        level = values.level("level")
    osm_id = values.required_id(options.code_field, "code")
    name = values.name(options.name_field)
    if not name:
        raise FieldProblem("no name", field=values.column(options.name_field))
    parent = None
    if level > 0 and options.parent_code_field:
        parent = values.required_id(options.parent_code_field, "parent code")
    return _Record(
        osm_id=osm_id, level=level, name=name, parent_ref=parent,
        contained=level > 0 and not options.parent_code_field,
        codes={options.code_scheme: osm_id},
    )  # fmt: skip


_READERS: dict[Layout, Callable[[_Values, int | None, LayoutOptions], _Record]] = {
    Layout.COD_AB: _read_cod_ab,
    Layout.GEOBOUNDARIES: _read_geoboundaries,
    Layout.GADM: _read_gadm,
    Layout.MIPAKA: _read_mipaka,
    Layout.FLAGS: _read_by_flags,
}


def _read_feature(
    result: GisFile,
    index: int,
    *,
    reader: Callable[[_Values, int | None, LayoutOptions], _Record],
    record: Mapping[str, Any],
    geometry: shapely.Geometry | None,
    columns: _Columns,
    options: LayoutOptions,
    level: int | None,
) -> None:
    parsed = result.parsed
    label = parsed.source.label
    values = _Values(record, columns, parsed.quirks)
    try:
        read = reader(values, level, options)
    except FieldProblem as exc:
        shown = _shown_id(values, result.layout, level, options)
        parsed.problems.append(Problem(label, str(exc), index=index, osm_id=shown, field=exc.field))
        return
    try:
        state, shape = _polygons(geometry, parsed.quirks)
    except FieldProblem as exc:
        parsed.problems.append(
            Problem(label, str(exc), index=index, osm_id=read.osm_id, field=exc.field)
        )
        return
    if read.level > MAX_LEVEL:
        parsed.problems.append(
            Problem(label, f"level {read.level} is not supported (levels are 0 to {MAX_LEVEL})",
                    index=index, osm_id=read.osm_id, field="level")
        )  # fmt: skip
        return
    contained = read.contained or (options.parent_by_containment and read.level > 0)
    if contained:
        result.contained.add(index)
    if read.country_code:
        result.country_codes[index] = read.country_code
    if shape is not None:
        result.shapes[index] = shape
    digest = _digest(shape)
    parsed.features.append(
        SourceFeature(
            file=label,
            index=index,
            level=read.level,
            osm_id=read.osm_id,
            name=read.name,
            name_en=read.name_en,
            parent_ref=None if contained else read.parent_ref,
            country_ref=read.osm_id if read.level == 0 else read.country_code,
            geometry_digest=digest,
            geometry_state=state,
            geometry=shape,
            from_simplified=False,
            names=tuple(sorted(read.names.items())),
            other_names=tuple(sorted(read.other_names)),
            codes=tuple(sorted(read.codes.items())),
        )
    )


def _shown_id(
    values: _Values, layout: Layout | None, level: int | None, options: LayoutOptions
) -> str | None:
    """Return the feature's id for a problem's line, when it has a readable one."""
    keys = {
        Layout.COD_AB: f"adm{level}_pcode",
        Layout.GADM: f"gid_{level}",
        Layout.GEOBOUNDARIES: "shapeid",
        Layout.MIPAKA: "osm_id",
        Layout.FLAGS: options.code_field or "",
    }
    try:
        return values.id(keys[layout]) if layout is not None else None
    except FieldProblem:
        return None


def _polygons(
    geometry: shapely.Geometry | None, quirks: Counter[str]
) -> tuple[GeometryState, shapely.MultiPolygon | None]:
    """Return the geometry as a 2D MultiPolygon in range, or say what is wrong with it.

    Raises
    ------
    FieldProblem
        Not polygons (a KML collection of polygons is fine), or coordinates
        that are not finite or off the globe.
    """
    if geometry is None or geometry.is_empty:
        quirks["missing_geometry"] += 1
        return GeometryState.MISSING, None
    parts = shapely.get_parts(geometry)
    kinds = {part.geom_type for part in parts}
    if geometry.geom_type == "GeometryCollection" and kinds <= {"Polygon", "MultiPolygon"}:
        parts = shapely.get_parts(shapely.get_parts(geometry))
        quirks["collection_of_polygons"] += 1
    elif geometry.geom_type not in {"Polygon", "MultiPolygon"}:
        raise FieldProblem(
            f"geometry is a {geometry.geom_type}, expected Polygon or MultiPolygon",
            field="geometry",
        )
    if shapely.has_z(geometry):
        quirks["extra_dimensions_dropped"] += 1
    if geometry.geom_type == "Polygon":
        quirks["polygon_promoted"] += 1
    shape = shapely.force_2d(shapely.multipolygons(list(parts)))
    coordinates = shapely.get_coordinates(shape)
    if not math.isfinite(float(coordinates.sum())):
        raise FieldProblem("coordinates must be finite numbers", field="geometry")
    west, south, east, north = shape.bounds
    if west < -180 or east > 180 or south < -90 or north > 90:
        raise FieldProblem(
            f"coordinates reach [{west:g}, {south:g}, {east:g}, {north:g}], outside longitude "
            "-180..180 / latitude -90..90 (a projected file without its CRS?)",
            field="geometry",
        )
    return GeometryState.BUILT, shape


def _digest(shape: shapely.MultiPolygon | None) -> str:
    """Fingerprint a geometry as read (after reprojection); equal means nothing to rebuild."""
    if shape is None:
        return hashlib.blake2b(b"", digest_size=16).hexdigest()
    return hashlib.blake2b(shapely.to_wkb(shape), digest_size=16).hexdigest()


# --- Placing features under their parents -------------------------------------------------


@dataclass(slots=True)
class Placement:
    """What placing found: notes on split children, and who was placed where."""

    notes: list[str] = field(default_factory=list)
    placed: int = 0


def place_features(
    files: Sequence[GisFile],
    *,
    stored: Sequence[StoredBoundary],
    stored_shapes: StoredShapes,
    country: str | None = None,
) -> Placement:
    """Give every feature its parent: by code, by the country it names, or by containment.

    Parameters
    ----------
    files
        The layers read; their features are replaced by placed copies, and
        problems (no parent found) are added to the file concerned.
    stored
        The stored boundaries (osm_id, level, codes).
    stored_shapes
        Reads stored boundaries of one level meeting some bounds, with geometry.
    country
        The osm_id of a stored country that the source lies in: its level-0
        features are left out, and its level-1 features hang under it.

    A level-1 feature whose country is not in the run is placed under the
    stored country its code names (the code itself, or an ISO code the
    countries table maps to a stored relation), else under the stored country
    that contains it. Containment takes the candidate one level up (in the
    run, else stored) holding the largest share of the child's area, on the
    sphere; a second candidate holding 10% or more is reported as a split.
    """
    placement = Placement()
    if country:
        _drop_countries(files, placement, country)
    parents = _Parents(files, stored=stored, stored_shapes=stored_shapes)
    for gis in files:
        placed: list[SourceFeature] = []
        for read in gis.parsed.features:
            feature, problem, parent = read, None, read.parent_ref
            if feature.level == 1 and country:
                parent = country
            elif feature.level == 1 and (parent is None or parent not in parents.run_ids):
                parent, problem = parents.country_of(gis, feature, placement)
            elif feature.level > 1 and feature.index in gis.contained:
                parent, problem = parents.container(gis, feature, placement)
            if problem is not None:
                gis.parsed.problems.append(problem)
            if parent != feature.parent_ref:
                placement.placed += 1
                feature = replace(feature, parent_ref=parent)
            placed.append(feature)
        gis.parsed.features = placed
    return placement


def _drop_countries(files: Sequence[GisFile], placement: Placement, country: str) -> None:
    for gis in files:
        kept = [f for f in gis.parsed.features if f.level > 0]
        dropped = len(gis.parsed.features) - len(kept)
        if dropped:
            gis.parsed.quirks["country_given_instead"] += dropped
            placement.notes.append(
                f"{gis.parsed.source.label}: {dropped} level-0 features left out; "
                f"--country {country} stands for them"
            )
        gis.parsed.features = kept


class _Candidates:
    """The boundaries of one level that children may lie in: valid shapes in a tree, built once."""

    def __init__(self, shapes: Mapping[str, shapely.Geometry], names: Mapping[str, str]) -> None:
        self.ids = list(shapes)
        self.shapes = [_valid(shapes[osm_id]) for osm_id in self.ids]
        self.names = names
        self.tree = shapely.STRtree(self.shapes)

    def shares(self, child: shapely.Geometry) -> list[tuple[str, float]]:
        """Return the share of the child's area each candidate holds, largest first (on the sphere)."""
        child = _valid(child)
        total = area_km2(child)
        if total <= 0:
            return []
        shares = []
        for position in self.tree.query(child):
            candidate = self.shapes[position]
            # Most children lie wholly in their parent: no intersection to compute then.
            if shapely.contains(candidate, child):
                return [(self.ids[position], 1.0)]
            overlap = _polygonal(shapely.intersection(child, candidate))
            if overlap is not None:
                shares.append((self.ids[position], area_km2(overlap) / total))
        return sorted((pair for pair in shares if pair[1] > 0), key=lambda pair: -pair[1])


class _Parents:
    """Where features may hang: the run's own features by level, and stored boundaries."""

    def __init__(
        self,
        files: Sequence[GisFile],
        *,
        stored: Sequence[StoredBoundary],
        stored_shapes: StoredShapes,
    ) -> None:
        self.stored_by_osm = {row.osm_id: row for row in stored}
        # A stored country by every code it carries (from an earlier COD-AB or GADM import).
        self.country_by_code = {
            code: row.osm_id
            for row in stored
            if row.level == 0
            for code in dict(row.codes).values()
        }
        self.stored_shapes = stored_shapes
        self.run_ids: set[str] = set()
        self.run_shapes: dict[int, dict[str, shapely.MultiPolygon]] = {}
        self.run_names: dict[str, str] = {}
        for gis in files:
            for feature in gis.parsed.features:
                self.run_ids.add(feature.osm_id)
                if (shape := gis.shapes.get(feature.index)) is not None:
                    self.run_shapes.setdefault(feature.level, {})[feature.osm_id] = shape
                    self.run_names[feature.osm_id] = feature.name
        self._candidates: dict[tuple[int, bool], _Candidates] = {}

    def candidates(self, level: int, *, stored: bool) -> _Candidates:
        """Return the run's boundaries of ``level``, or the stored ones near the run (not in it)."""
        key = (level, stored)
        if key not in self._candidates:
            shapes = {} if stored else self.run_shapes.get(level, {})
            children = list(self.run_shapes.get(level + 1, {}).values())
            if stored and children:
                bounds = tuple(shapely.total_bounds(children))
                shapes = {
                    osm_id: shape
                    for osm_id, shape in self.stored_shapes(level, bounds).items()
                    if osm_id not in self.run_ids
                }
            self._candidates[key] = _Candidates(shapes, self.run_names)
        return self._candidates[key]

    def country_of(
        self, gis: GisFile, feature: SourceFeature, placement: Placement
    ) -> tuple[str | None, Problem | None]:
        """Find the country of a level-1 feature whose source holds no level 0 for it."""
        code = feature.parent_ref or gis.country_codes.get(feature.index)
        if feature.parent_ref is None and self.run_shapes.get(0):
            # The source's own countries are in the run: the one holding the feature is its.
            return self.container(gis, feature, placement)
        stored = self.stored_by_osm
        if code and code in stored and stored[code].level == 0:
            return code, None
        if code and (known := find_country(code)) is not None and known.osm_id:
            row = stored.get(known.osm_id)
            if row is not None and row.level == 0:
                return row.osm_id, None
        if code and code in self.country_by_code:
            return self.country_by_code[code], None
        parent, _problem = self.container(gis, feature, placement)
        if parent is not None:
            return parent, None
        named = (
            f"its country {code} is neither in this run nor imported"
            if code
            else "no country is in this run"
        )
        return None, Problem(
            gis.parsed.source.label,
            f"{named}, and no stored country contains it; add the source's admin0 layer, "
            "or give --country with the stored country it belongs to",
            index=feature.index,
            osm_id=feature.osm_id,
            field="country",
        )

    def container(
        self, gis: GisFile, feature: SourceFeature, placement: Placement
    ) -> tuple[str | None, Problem | None]:
        """Return the parent holding most of the feature, one level up (run first, else stored)."""
        child = gis.shapes.get(feature.index)
        label = gis.parsed.source.label
        if child is None:
            return None, Problem(
                label, "has no geometry, so no parent can be found by containment",
                index=feature.index, osm_id=feature.osm_id, field="geometry",
            )  # fmt: skip
        level = feature.level - 1
        best: tuple[str, float] | None = None
        # The run's own boundaries first; stored ones only for a child none of them holds.
        for stored in (False, True):
            candidates = self.candidates(level, stored=stored)
            shares = candidates.shares(child)
            if shares and (best is None or shares[0][1] > best[1]):
                best = shares[0]
            if shares and shares[0][1] >= SPLIT_SHARE:
                break
        else:
            most = f" (the most, {best[0]}, holds {best[1]:.0%})" if best else ""
            return None, Problem(
                label,
                f"no level {level} boundary, in this run or stored, holds a meaningful share "
                f"of it{most}; it cannot be placed by containment",
                index=feature.index, osm_id=feature.osm_id, field="geometry",
            )  # fmt: skip
        if len(shares) > 1 and shares[1][1] >= SPLIT_SHARE:
            names = candidates.names
            parts = ", ".join(
                f"{osm_id}{f' ({names[osm_id]})' if osm_id in names else ''} {share:.0%}"
                for osm_id, share in shares
                if share >= SPLIT_SHARE / 10
            )
            placement.notes.append(
                f"{feature.osm_id} ({feature.name}, {label} feature {feature.index}) is split "
                f"between parents: {parts}; placed under {shares[0][0]}"
            )
        return shares[0][0], None


def containment_shares(
    child: shapely.Geometry, candidates: Mapping[str, shapely.Geometry]
) -> list[tuple[str, float]]:
    """Return the share of the child's area each candidate holds, largest first.

    Areas are measured on the sphere (``area_km2``), so shares hold at any
    latitude; invalid rings are made valid first.
    """
    return _Candidates(candidates, {}).shares(child) if candidates else []


def _valid(shape: shapely.Geometry) -> shapely.MultiPolygon:
    if not shapely.is_valid(shape):
        shape = shapely.make_valid(shape)
    return _polygonal(shape) or shapely.MultiPolygon()


def _polygonal(shape: shapely.Geometry) -> shapely.MultiPolygon | None:
    polygons = [p for p in shapely.get_parts(shape) if p.geom_type in {"Polygon", "MultiPolygon"}]
    flat = [q for p in polygons for q in shapely.get_parts(p)]
    return shapely.multipolygons(flat) if flat else None


def mark_unchanged(
    files: Iterable[GisFile],
    *,
    stored: Sequence[StoredBoundary],
    stored_geometries: Callable[[list[int]], Mapping[int, shapely.Geometry]],
) -> None:
    """Pass on features whose geometry is stored already without it, as ``parse`` does.

    A feature is unchanged when its digest is the stored one (the same source
    read again) or when its geometry is the stored geometry itself (Mipaka's
    own export read back): then it takes the stored digest, and nothing is
    rebuilt. ``stored_geometries`` reads stored geometries by row id.
    """
    by_osm = {row.osm_id: row for row in stored}
    files = list(files)
    # Features whose digest differs from a stored boundary's: compare the shapes themselves.
    differing = {
        feature.osm_id: row
        for gis in files
        for feature in gis.parsed.features
        if feature.geometry is not None
        and (row := by_osm.get(feature.osm_id)) is not None
        and row.geometry_digest != feature.geometry_digest
    }
    shapes = stored_geometries([row.id for row in differing.values()]) if differing else {}
    for gis in files:
        features = []
        for feature in gis.parsed.features:
            row = by_osm.get(feature.osm_id)
            if row is not None and feature.geometry is not None:
                stored_shape = shapes.get(row.id) if feature.osm_id in differing else None
                if stored_shape is not None and _same_shape(feature.geometry, stored_shape):
                    gis.parsed.quirks["geometry_as_stored"] += 1
                    feature = replace(feature, geometry_digest=row.geometry_digest)  # noqa: PLW2901
                if row.geometry_digest == feature.geometry_digest:
                    feature = replace(  # noqa: PLW2901
                        feature, geometry_state=GeometryState.UNCHANGED, geometry=None
                    )
            features.append(feature)
        gis.parsed.features = features
        gis.shapes.clear()


def _same_shape(read: shapely.Geometry, stored: shapely.Geometry) -> bool:
    """Tell whether two geometries are the same rings, whatever their order and start points."""
    return bool(shapely.equals_exact(shapely.normalize(read), shapely.normalize(stored), 1e-9))
