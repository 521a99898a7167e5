"""``manage.py export_boundaries OUTPUT [--format gpkg] …``: a thin shell over ``geo.exporting``."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from geo.exceptions import GeoError
from geo.exporting import (
    FORMATS,
    GEOMETRIES,
    export_boundaries,
    export_scope,
    find_workspace,
)


class Command(BaseCommand):
    """Write stored boundaries to a GIS file in the Mipaka layout; GeoError becomes one line."""

    help = (
        "Export boundaries (one layer per level, admin0..admin3, with codes, names in every"
        " language, variant names and a workspace's aliases) as GeoPackage, zipped Shapefile,"
        " GeoJSON or CSV."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the command's options."""
        parser.add_argument("output", help="file to write (replaced if it exists)")
        parser.add_argument(
            "--format",
            choices=FORMATS,
            help="default: from OUTPUT's extension (.gpkg, .zip/.shp, .geojson/.json, .csv)",
        )
        parser.add_argument(
            "--country",
            action="append",
            metavar="OSM_ID",
            help="only this country (repeatable); default: every imported country",
        )
        parser.add_argument(
            "--workspace",
            metavar="NAME",
            help="fill the aliases column with this workspace's, and keep to its country",
        )
        parser.add_argument(
            "--geometry",
            choices=GEOMETRIES,
            default="full",
            help="full resolution (default), simplified, or none (names and codes only)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Export, then print what was written."""
        output = Path(options["output"])
        file_format = options["format"] or _format_of(output)
        started = time.monotonic()
        try:
            workspace_id = country_id = None
            if options["workspace"]:
                workspace_id, country_id = find_workspace(options["workspace"])
            scope = export_scope(
                countries=options["country"],
                workspace_id=workspace_id,
                workspace_country_id=country_id,
                geometry=options["geometry"],
            )
            summary = export_boundaries(output, scope=scope, file_format=file_format)
        except GeoError as exc:
            raise CommandError(exc.message) from exc
        levels = ", ".join(f"admin{level}: {n:,}" for level, n in sorted(summary.per_level.items()))
        self.stdout.write(
            f"Exported {summary.total:,} boundaries of {len(scope.country_ids)} countries"
            f" ({levels or 'none'}) to {output} as {file_format}"
            f" in {time.monotonic() - started:.1f} s."
        )


def _format_of(output: Path) -> str:
    suffix = output.suffix.lower().lstrip(".")
    found = {"gpkg": "gpkg", "zip": "shp", "shp": "shp", "geojson": "geojson", "json": "geojson",
             "csv": "csv"}.get(suffix)  # fmt: skip
    if found is None:
        raise CommandError(
            f"{output}: say --format ({', '.join(FORMATS)}); the extension does not tell"
        )
    return found
