"""Importing administrative boundaries from posm-extracts GeoJSON and any GIS file."""

from geo.importing.gis_import import import_boundaries
from geo.importing.run import Progress, import_geojson
from geo.importing.types import ImportReport

__all__ = ["ImportReport", "Progress", "import_boundaries", "import_geojson"]
