"""Importing administrative boundaries from posm-extracts GeoJSON and any GIS file."""

from typing import Any

from geo.importing.run import Progress, import_geojson
from geo.importing.types import ImportReport

__all__ = ["ImportReport", "Progress", "import_boundaries", "import_geojson"]


def __getattr__(name: str) -> Any:
    # import_boundaries reads through GeoPandas and pyogrio: loaded when first asked
    # for, so the web workers and import_geojson never import them.
    if name == "import_boundaries":
        from geo.importing.gis_import import import_boundaries  # noqa: PLC0415

        return import_boundaries
    raise AttributeError(f"module 'geo.importing' has no attribute {name!r}")
