"""Stored boundaries out again, as GIS files in the Mipaka layout: read-only, callable anywhere.

The layout (``geo.importing``'s reader of other sources recognises exactly this):

- one layer per level, ``admin0`` … ``admin3`` (GeoPackage layers; for
  Shapefile one ``admin<n>.shp`` per level, zipped together); GeoJSON is one
  FeatureCollection holding every level, CSV one table;
- columns ``osm_id``, ``level``, ``name``, ``name_en``, ``parent_id`` (the
  parent's osm_id, empty for countries), ``path``, one column per code scheme
  present (``pcode``, ``iso3166_2``, ``gid``, ``shape_id``, ``wikidata``,
  ``ref``, ``hasc``), one ``name_<lang>`` column per language present ("pt-br"
  → ``name_pt_br``), ``alt_names`` (variant names joined with ";"),
  ``aliases`` (the workspace's, joined with ";"; empty without a workspace),
  and the geometry in EPSG:4326, full resolution or simplified (CSV: WKT in a
  ``geometry`` column, or none);
- text is never null: a value a boundary lacks is "".

Retired boundaries are left out. Boundaries are read and written country by
country and level by level, so a world export never holds more than one
country's level of full geometry at once (GeoPackage, Shapefile and CSV append
per chunk; GeoJSON features are written as they come).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import shapely
from django.db import connection

from geo.exceptions import BoundaryNotFound, InvalidQuery
from geo.models import CODE_SCHEMES, BoundaryAlias, Workspace

# GeoPandas, pandas and pyogrio are imported where an export uses them: a web
# worker that never exports does not pay for them at start-up (about a second).
if TYPE_CHECKING:
    import geopandas as gpd

FORMATS = ("gpkg", "shp", "geojson", "csv")
GEOMETRIES = ("full", "simplified", "none")
# What each format is sent as: content type and file name extension.
CONTENT_TYPES = {
    "gpkg": "application/geopackage+sqlite3",
    "shp": "application/zip",
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
}
EXTENSIONS = {"gpkg": "gpkg", "shp": "zip", "geojson": "geojson", "csv": "csv"}
GEOMETRY_COLUMNS = {"full": "geometry", "simplified": "simplified_geometry"}
LEVELS = range(4)
CRS = "EPSG:4326"
BASE_COLUMNS = ("osm_id", "level", "name", "name_en", "parent_id", "path")
LIST_SEPARATOR = ";"


@dataclass(frozen=True, slots=True)
class ExportScope:
    """What an export holds: countries (boundary ids), a workspace's aliases, a geometry."""

    country_ids: list[int]
    workspace_id: int | None = None
    geometry: str = "full"
    # The countries named when asked for some (file names say them); empty: all in scope.
    osm_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class ExportSummary:
    """What an export wrote: boundaries per level, and the columns."""

    columns: list[str] = field(default_factory=list)
    per_level: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Every boundary written."""
        return sum(self.per_level.values())


def language_column(language: str) -> str:
    """Return the column of names in ``language``.

    >>> language_column("pt-BR")
    'name_pt_br'
    """
    return "name_" + re.sub(r"[^a-z0-9]+", "_", language.lower()).strip("_")


def export_scope(
    *,
    countries: list[str] | None = None,
    workspace_id: int | None = None,
    workspace_country_id: int | None = None,
    geometry: str = "full",
) -> ExportScope:
    """Resolve what to export: the countries asked for, within the workspace's country.

    ``countries`` are osm_ids of imported countries (none: every country the
    workspace sees).

    Raises
    ------
    InvalidQuery
        Unknown geometry.
    BoundaryNotFound
        A country that is not imported, or not the workspace's.
    """
    if geometry not in GEOMETRIES:
        raise InvalidQuery(f"geometry: must be one of {', '.join(GEOMETRIES)}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, osm_id FROM geo_boundary WHERE level = 0 AND retired_at IS NULL"
            " ORDER BY osm_id"
        )
        imported = {osm_id: row_id for row_id, osm_id in cursor.fetchall()}
    if workspace_country_id is not None:
        imported = {k: v for k, v in imported.items() if v == workspace_country_id}
    if not countries:
        ids = list(imported.values())
    else:
        ids = []
        for osm_id in countries:
            if osm_id not in imported:
                raise BoundaryNotFound(f"country: no imported country {osm_id!r} in scope")
            if imported[osm_id] not in ids:
                ids.append(imported[osm_id])
    named = tuple(dict.fromkeys(countries or ()))
    return ExportScope(country_ids=ids, workspace_id=workspace_id, geometry=geometry, osm_ids=named)


def find_workspace(name: str) -> tuple[int, int | None]:
    """Return the id and country id of the workspace named ``name``.

    Raises
    ------
    InvalidQuery
        No such workspace.
    """
    row = Workspace.objects.filter(name=name.strip()).values_list("id", "country_id").first()
    if row is None:
        raise InvalidQuery(f"workspace: no workspace named {name!r}")
    return row


def export_boundaries(
    output: str | Path | IO[bytes], *, scope: ExportScope, file_format: str
) -> ExportSummary:
    """Write the boundaries of ``scope`` to ``output`` (a path or a binary file) in the layout.

    Parameters
    ----------
    output
        Where to write: a path (replaced if it exists) or a writable binary file.
    scope
        Countries, workspace (for aliases) and geometry (``full``,
        ``simplified``; ``none`` for CSV only), from ``export_scope``.
    file_format
        ``gpkg``, ``shp`` (a zip of one shapefile per level), ``geojson`` or ``csv``.

    Raises
    ------
    InvalidQuery
        Unknown format, or no geometry asked of a format that needs it.
    """
    _check_format(file_format, scope)
    if isinstance(output, str | Path):
        # Written beside and renamed: the path holds a whole export or what it held before.
        target = Path(output)
        partial = target.with_name(f".{target.name}.part")
        try:
            with partial.open("wb") as out:
                summary = export_boundaries(out, scope=scope, file_format=file_format)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return summary
    if file_format in ("geojson", "csv"):
        return _write_text(output, scope, file_format)
    with tempfile.TemporaryDirectory(prefix="mipaka-export-") as folder:
        built, summary = _write_ogr(Path(folder), scope, file_format)
        with built.open("rb") as source:
            shutil.copyfileobj(source, output)
    return summary


def stream_export(scope: ExportScope, *, file_format: str) -> Iterator[bytes]:
    """Yield the export as chunks of bytes (GeoJSON and CSV as they are read; others once built).

    Meant for a streamed HTTP response: nothing is held beyond one chunk of
    text, or for GeoPackage and Shapefile, beyond a temporary file. The
    request is checked at once (before anything is sent).

    Raises
    ------
    InvalidQuery
        As ``export_boundaries``.
    """
    _check_format(file_format, scope)
    return _stream(scope, file_format)


def _stream(scope: ExportScope, file_format: str) -> Iterator[bytes]:
    if file_format in ("geojson", "csv"):
        buffer = _ChunkBuffer()
        for _ in _text_chunks(buffer, scope, file_format, ExportSummary()):
            if chunk := buffer.take():
                yield chunk
        if chunk := buffer.take():
            yield chunk
        return
    with tempfile.TemporaryDirectory(prefix="mipaka-export-") as folder:
        built, _ = _write_ogr(Path(folder), scope, file_format)
        with built.open("rb") as source:
            while chunk := source.read(1 << 20):
                yield chunk


def _check_format(file_format: str, scope: ExportScope) -> None:
    if file_format not in FORMATS:
        raise InvalidQuery(f"format: must be one of {', '.join(FORMATS)}")


def export_columns(scope: ExportScope) -> list[str]:
    """Return the export's columns (geometry aside): fixed ones, then the codes and languages present."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT 'c', jsonb_object_keys(codes) FROM geo_boundary
             WHERE country_id = ANY(%s) AND retired_at IS NULL
            UNION
            SELECT DISTINCT 'n', jsonb_object_keys(names) FROM geo_boundary
             WHERE country_id = ANY(%s) AND retired_at IS NULL
            """,
            [scope.country_ids, scope.country_ids],
        )
        rows = cursor.fetchall()
    schemes = {key for kind, key in rows if kind == "c"}
    languages = sorted({language_column(key) for kind, key in rows if kind == "n"})
    codes = [s for s in CODE_SCHEMES if s in schemes] + sorted(schemes - set(CODE_SCHEMES))
    return [*BASE_COLUMNS, *codes, *languages, "alt_names", "aliases"]


def _chunks(scope: ExportScope, columns: list[str]) -> Iterator[tuple[int, gpd.GeoDataFrame]]:
    """Yield ``(level, frame)`` per country and level, in country then level order."""
    import geopandas as gpd  # noqa: PLC0415 (heavy: loaded on first export)
    import pandas as pd  # noqa: PLC0415 (heavy: loaded on first export)

    geometry = GEOMETRY_COLUMNS.get(scope.geometry)
    shape = f"ST_AsBinary(b.{geometry})" if geometry else "NULL"
    wanted = set(columns)
    for country_id in scope.country_ids:
        aliases = _aliases(scope.workspace_id, country_id)
        for level in LEVELS:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""
                    SELECT b.id, b.osm_id, b.level, b.name, b.name_en,
                           COALESCE(p.osm_id, ''), b.path, b.codes, b.names, b.other_names,
                           {shape}
                      FROM geo_boundary b LEFT JOIN geo_boundary p ON p.id = b.parent_id
                     WHERE b.country_id = %s AND b.level = %s AND b.retired_at IS NULL
                     ORDER BY b.path, b.osm_id
                    """,  # noqa: S608 (a column name from a fixed map)
                    [country_id, level],
                )
                rows = cursor.fetchall()
            if not rows:
                continue
            records = []
            shapes = []
            for row_id, osm_id, lvl, name, name_en, parent, path, codes, names, others, wkb in rows:
                record = dict.fromkeys(columns, "")
                record |= {
                    "osm_id": osm_id,
                    "level": lvl,
                    "name": name,
                    "name_en": name_en,
                    "parent_id": parent,
                    "path": path,
                    "alt_names": LIST_SEPARATOR.join(others or ()),
                    "aliases": LIST_SEPARATOR.join(aliases.get(row_id, ())),
                }
                for scheme, code in _json(codes).items():
                    if scheme in wanted:
                        record[scheme] = str(code)
                for language, text in _json(names).items():
                    record[language_column(language)] = str(text)
                records.append(record)
                shapes.append(bytes(wkb) if wkb is not None else None)
            frame = pd.DataFrame.from_records(records, columns=columns)
            frame["level"] = frame["level"].astype("int32")
            yield (
                level,
                gpd.GeoDataFrame(
                    frame,
                    geometry=shapely.from_wkb(shapes) if geometry else [None] * len(frame),
                    crs=CRS,
                ),
            )


def _aliases(workspace_id: int | None, country_id: int) -> dict[int, list[str]]:
    if workspace_id is None:
        return {}
    found: dict[int, list[str]] = {}
    rows = BoundaryAlias.objects.filter(
        workspace_id=workspace_id, boundary__country_id=country_id
    ).values_list("boundary_id", "name")
    for boundary_id, name in rows:
        found.setdefault(boundary_id, []).append(name)
    for names in found.values():
        names.sort(key=str.casefold)
    return found


def _json(value: Any) -> dict[str, Any]:
    # A raw cursor gives jsonb as text (Django's loader).
    decoded = json.loads(value) if isinstance(value, str) else value
    return decoded or {}


def _write_ogr(folder: Path, scope: ExportScope, file_format: str) -> tuple[Path, ExportSummary]:
    """Write a GeoPackage, or a zip of shapefiles, in ``folder``; return its path."""
    import geopandas as gpd  # noqa: PLC0415 (heavy: loaded on first export)
    import pyogrio  # noqa: PLC0415 (heavy: loaded on first export)

    columns = export_columns(scope)
    summary = ExportSummary(columns=columns)
    target = folder / "boundaries.gpkg"
    written: set[int] = set()
    for level, frame in _chunks(scope, columns):
        if file_format == "gpkg":
            pyogrio.write_dataframe(
                frame,
                target,
                layer=f"admin{level}",
                driver="GPKG",
                geometry_type="MultiPolygon",
                append=level in written,
            )
        else:
            pyogrio.write_dataframe(
                frame,
                folder / f"admin{level}.shp",
                driver="ESRI Shapefile",
                geometry_type="MultiPolygon",
                encoding="UTF-8",
                append=level in written,
            )
        written.add(level)
        summary.per_level[level] = summary.per_level.get(level, 0) + len(frame)
    if not written:
        # No boundary: still a file of the layout, with an empty admin0 layer.
        empty = gpd.GeoDataFrame(columns=columns, geometry=[], crs=CRS)
        if file_format == "gpkg":
            pyogrio.write_dataframe(
                empty, target, layer="admin0", driver="GPKG", geometry_type="MultiPolygon"
            )
        else:
            pyogrio.write_dataframe(
                empty,
                folder / "admin0.shp",
                driver="ESRI Shapefile",
                geometry_type="MultiPolygon",
                encoding="UTF-8",
            )
    if file_format == "gpkg":
        return target, summary
    target = folder / "boundaries.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.glob("admin*.*")):
            archive.write(path, arcname=path.name)
    return target, summary


class _Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


class _ChunkBuffer:
    """A sink that keeps what was written until taken (a streamed response reads it)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._parts.append(data)
        return len(data)

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _write_text(out: _Sink, scope: ExportScope, file_format: str) -> ExportSummary:
    summary = ExportSummary()
    for _ in _text_chunks(out, scope, file_format, summary):
        pass
    return summary


def _text_chunks(
    out: _Sink, scope: ExportScope, file_format: str, summary: ExportSummary
) -> Iterator[None]:
    """Write GeoJSON or CSV to ``out`` chunk by chunk, yielding after each."""
    import pandas as pd  # noqa: PLC0415 (heavy: loaded on first export)

    columns = export_columns(scope)
    summary.columns = columns
    first = True
    if file_format == "geojson":
        out.write(b'{"type": "FeatureCollection", "features": [\n')
        yield None
    for level, frame in _chunks(scope, columns):
        summary.per_level[level] = summary.per_level.get(level, 0) + len(frame)
        if file_format == "geojson":
            for feature in frame.iterfeatures(na="null", drop_id=True):
                out.write(
                    (("" if first else ",\n") + json.dumps(feature, ensure_ascii=False)).encode()
                )
                first = False
        else:
            table = pd.DataFrame(frame.drop(columns="geometry"))
            if scope.geometry != "none":
                table["geometry"] = shapely.to_wkt(
                    frame.geometry.array, rounding_precision=-1, trim=True
                )
            out.write(table.to_csv(index=False, header=first, lineterminator="\n").encode())
            first = False
        yield None
    if file_format == "geojson":
        out.write(b"\n]}\n")
    elif first:  # nothing exported: the header alone
        header = [*columns, *([] if scope.geometry == "none" else ["geometry"])]
        out.write(pd.DataFrame(columns=header).to_csv(index=False).encode())
    yield None
