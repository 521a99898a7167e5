"""Before and after shapes of what a dry run would change, for a person to look at.

A dry run writes no boundary, so the only record of what it would do is its
``ImportRun``. Beside the diff's lines it keeps, for the first
``MAX_PREVIEWED`` changed boundaries, a coarse outline of each as stored now
("before") and as the files have it ("after"). The outlines are simplified to
about ``OUTLINE_STEPS`` steps across each boundary's box, so a few hundred of
them stay small enough to keep in the record and draw on a page.
"""

from __future__ import annotations

from typing import Any

import shapely
from django.contrib.gis.geos import GEOSGeometry
from shapely.geometry import mapping

from geo.importing.plan import ImportPlan
from geo.importing.types import Change
from geo.models import Boundary

MAX_PREVIEWED = 300
OUTLINE_STEPS = 400
# Changes whose shape a person wants to see (renames and re-keys keep theirs).
SHAPE_CHANGES = frozenset(
    {Change.ADDED, Change.GEOMETRY, Change.MOVED, Change.RETIRED, Change.RESTORED}
)


def change_previews(plan: ImportPlan) -> list[dict[str, Any]]:
    """Return GeoJSON features of the plan's changed boundaries, before and after.

    Each feature's properties are ``osm_id``, ``name``, ``level``, ``change``
    and ``side`` (``"before"`` or ``"after"``). An added boundary has no
    "before", a retired one no "after".
    """
    entries = [entry for entry in plan.diff if entry.change in SHAPE_CHANGES][:MAX_PREVIEWED]
    stored = {
        planned.osm_id: planned.stored.id
        for planned in plan.boundaries.values()
        if planned.stored is not None
    } | {boundary.osm_id: boundary.id for boundary in plan.retired}
    wanted = [stored[entry.osm_id] for entry in entries if entry.osm_id in stored]
    before = {
        osm_id: shapely.from_wkb(bytes(geometry.wkb))
        for osm_id, geometry in Boundary.objects.filter(pk__in=wanted)
        .exclude(simplified_geometry=None)
        .values_list("osm_id", "simplified_geometry")
        if isinstance(geometry, GEOSGeometry)
    }
    retired_names = {stored.osm_id: stored.name for stored in plan.retired}
    features: list[dict[str, Any]] = []
    for entry in entries:
        planned = plan.boundaries.get(entry.osm_id)
        name = planned.name if planned is not None else retired_names.get(entry.osm_id, "")
        properties = {
            "osm_id": entry.osm_id,
            "name": name,
            "level": entry.level,
            "change": str(entry.change),
        }
        if entry.osm_id in before:
            features.append(_feature(before[entry.osm_id], properties, side="before"))
        after = planned.feature.geometry if planned and planned.feature else None
        if after is not None and entry.change != Change.RETIRED:
            features.append(_feature(after, properties, side="after"))
    return features


def _feature(
    geometry: shapely.Geometry, properties: dict[str, Any], *, side: str
) -> dict[str, Any]:
    west, south, east, north = geometry.bounds
    tolerance = max(east - west, north - south) / OUTLINE_STEPS
    outline = shapely.simplify(geometry, tolerance, preserve_topology=True)
    return {
        "type": "Feature",
        "properties": {**properties, "side": side},
        "geometry": mapping(shapely.set_precision(outline, 1e-6)),
    }
