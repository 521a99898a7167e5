"""``import_boundaries``: one import run from any GIS file, through the shared pipeline.

Reading and placing are ``geo.importing.gis`` (pure); this module gives them
what is stored (the snapshot, stored geometry near the source) inside the
run's transaction, and hands the features to ``run_import``: plan, repair,
simplify and load are those of ``import_geojson``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path

import shapely
from django.db import connection

from geo.exceptions import NoInput
from geo.importing.countries import find_country
from geo.importing.geometry import DEFAULT_TOLERANCE_DEG
from geo.importing.gis import (
    NO_FLAGS,
    GisSelection,
    LayoutOptions,
    discover_gis_sources,
    mark_unchanged,
    place_features,
    read_gis_layer,
)
from geo.importing.load import read_full_geometries
from geo.importing.plan import StoredBoundary
from geo.importing.run import Progress, run_import
from geo.importing.types import ImportReport, ParsedFile, SourceFile


def import_boundaries(
    paths: Sequence[str | Path],
    *,
    layout: LayoutOptions = NO_FLAGS,
    country: str | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    allow_alias_removal: bool = False,
    wait: bool = False,
    tolerance_deg: float = DEFAULT_TOLERANCE_DEG,
    progress: Progress | None = None,
    on_run: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import boundaries from any file GDAL reads, in a recognised layout or by flags.

    Parameters
    ----------
    paths
        Files (Shapefile, GeoPackage, GeoJSON, FlatGeobuf, KML), folders and
        zip archives, in any mix.
    layout
        Column names and levels for sources whose layout is not recognised
        (see ``geo.importing.gis``).
    country
        A stored country (osm_id, ISO code or name) that the source lies in:
        its level-1 features hang under it, and its own level 0 is left out.

    The other parameters are those of ``import_geojson``.

    Raises
    ------
    GeoError
        As ``import_geojson``; the database is unchanged whenever it is raised.
    """
    selection = discover_gis_sources(paths, layers=layout.layers)
    options: dict[str, object] = {
        "paths": [str(p) for p in paths],
        "country": country,
        "layout": {k: v for k, v in asdict(layout).items() if v not in (None, False, ())},
    }
    return run_import(
        selection, partial(_read_gis, selection=selection, layout=layout, country=country),
        options=options, dry_run=dry_run, skip_invalid=skip_invalid,
        allow_alias_removal=allow_alias_removal, wait=wait, tolerance_deg=tolerance_deg,
        progress=progress, on_run=on_run,
    )  # fmt: skip


def _read_gis(
    sources: Sequence[SourceFile],
    *,
    stored: Sequence[StoredBoundary],
    report: ImportReport,
    progress: Progress,
    selection: GisSelection,
    layout: LayoutOptions,
    country: str | None,
) -> list[ParsedFile]:
    """Read GIS layers, then place their features (codes, countries, containment)."""
    stored_country = _stored_country(country, stored) if country else None
    progress.start("read", len(sources))
    files = []
    for source in sources:
        gis = read_gis_layer(selection.layers[source.label], source, options=layout)
        progress.advance()
        if gis.skipped:
            report.skipped.append(gis.skipped)
            continue
        files.append(gis)
        report.files_parsed += 1
        parsed = gis.parsed
        kind = f", {gis.layout}" if gis.layout else ""
        report.file_lines.append(
            f"{source.label}: {len(parsed.features)} features, {len(parsed.problems)} problems (read{kind})"
        )
    placement = place_features(
        files, stored=stored, stored_shapes=_stored_shapes, country=stored_country
    )
    report.notes.extend(placement.notes)
    mark_unchanged(files, stored=stored, stored_geometries=read_full_geometries)
    return [gis.parsed for gis in files]


def _stored_country(text: str, stored: Sequence[StoredBoundary]) -> str:
    """Return the osm_id of the stored country ``text`` names (osm_id, code, ISO code, name).

    Raises
    ------
    NoInput
        No stored country answers to it.
    """
    countries = [row for row in stored if row.level == 0]
    for row in countries:
        if text == row.osm_id or text in dict(row.codes).values():
            return row.osm_id
    known = find_country(text)
    if known is not None and any(row.osm_id == known.osm_id for row in countries):
        return known.osm_id
    raise NoInput(
        f"--country {text}: no stored country answers to it (by osm_id, code, ISO code or name); "
        "import the country first, or give the source's admin0 layer"
    )


def _stored_shapes(
    level: int, bounds: tuple[float, float, float, float]
) -> dict[str, shapely.Geometry]:
    """Read the stored boundaries of ``level`` whose geometry meets ``bounds``, by osm_id."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT osm_id, ST_AsBinary(geometry) FROM geo_boundary WHERE level = %s"
            " AND retired_at IS NULL AND geometry && ST_MakeEnvelope(%s, %s, %s, %s, 4326)",
            [level, *bounds],
        )
        return {osm_id: shapely.from_wkb(bytes(wkb)) for osm_id, wkb in cursor.fetchall()}
