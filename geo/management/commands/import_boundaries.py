"""``manage.py import_boundaries``: any GIS file, through ``geo.importing.import_boundaries``."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from geo.importing import ImportReport
from geo.importing.gis import LayoutOptions
from geo.importing.gis_import import import_boundaries
from geo.importing.sources import MAX_LEVEL
from geo.management.commands.import_geojson import ImportCommand, TerminalProgress


class Command(ImportCommand):
    """Import boundaries from Shapefiles, GeoPackages, GeoJSON, FlatGeobuf or KML."""

    name = "import_boundaries"
    country_help = (
        "the stored country the source lies in (osm_id, ISO code or name): its level-1"
        " features hang under it, and the source's own level 0 is left out"
    )
    help = (
        "Import administrative boundaries from any file GDAL reads (Shapefile, zipped too,"
        " GeoPackage, GeoJSON, FlatGeobuf, KML), in any CRS. COD-AB, geoBoundaries, GADM and"
        " Mipaka's export are recognised; other layouts are read by --name-field and"
        " --code-field. All or nothing; prints the diff."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the shared import options and the layout flags."""
        super().add_arguments(parser)
        parser.add_argument(
            "--level",
            type=int,
            choices=range(MAX_LEVEL + 1),
            help="the level of every feature, where the source does not say (0 = country)",
        )
        parser.add_argument("--name-field", help="the column holding each feature's name")
        parser.add_argument(
            "--code-field", help="the column holding each feature's code (kept as its osm_id)"
        )
        parser.add_argument(
            "--code-scheme",
            default="ref",
            help="the scheme the --code-field codes are kept under (default ref; e.g. pcode)",
        )
        parser.add_argument("--parent-code-field", help="the column holding the parent's code")
        parser.add_argument(
            "--parent-by-containment",
            action="store_true",
            help="place each feature under the boundary one level up that holds most of it",
        )
        parser.add_argument(
            "--layer",
            action="append",
            default=[],
            help="read only this layer (repeat for several; default every layer)",
        )

    def run(self, options: dict[str, Any], progress: TerminalProgress | None) -> ImportReport:
        """Import the GIS files given."""
        return import_boundaries(
            options["paths"],
            layout=LayoutOptions(
                level=options["level"],
                name_field=options["name_field"],
                code_field=options["code_field"],
                code_scheme=options["code_scheme"],
                parent_code_field=options["parent_code_field"],
                parent_by_containment=options["parent_by_containment"],
                layers=tuple(options["layer"]),
            ),
            **self.import_options(options),
            progress=progress,
        )
