"""Importing administrative boundaries from posm-extracts GeoJSON."""

from geo.importing.run import Progress, import_geojson
from geo.importing.types import ImportReport

__all__ = ["ImportReport", "Progress", "import_geojson"]
