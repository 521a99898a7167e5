"""Before and after shapes of what an import changes, for a person to look at.

A dry run writes no boundary, so the only record of what it would do is its
``ImportRun``. Beside the diff's lines it keeps, for the first
``MAX_PREVIEWED`` changed boundaries, a coarse outline of each as stored now
("before") and as the files have it ("after"). The outlines are simplified to
about ``OUTLINE_STEPS`` steps across each boundary's box, so a few hundred of
them stay small enough to keep in the record and draw on a page.

An applied import keeps no outlines in its record: the history it left does
(``applied_previews``): the states it ended (``BoundaryVersion`` rows and the
boundaries it retired) are the "before", the states it began the "after".
"""

from __future__ import annotations

from typing import Any

import shapely
from django.contrib.gis.geos import GEOSGeometry
from shapely.geometry import mapping

from geo.importing.plan import ImportPlan
from geo.importing.types import Change
from geo.models import Boundary, BoundaryVersion, ImportRun, ImportStatus

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


# Diff lines of an applied import whose shapes are shown; a retiring import may
# name its removals "retired".
APPLIED_SHAPE_CHANGES = frozenset({*map(str, SHAPE_CHANGES), "retired"})


def applied_previews(run: ImportRun) -> list[dict[str, Any]]:
    """Return GeoJSON features of what an applied import changed, before and after.

    Read from the history the run left: "before" is the state the run ended
    (its ``BoundaryVersion``, or the boundary itself when the run retired
    it), "after" the state it began (the boundary today, or the version a
    later import ended). Properties as ``change_previews``.
    """
    entries = [
        entry
        for entry in run.diff.get("changes", [])
        if isinstance(entry, dict) and entry.get("change") in APPLIED_SHAPE_CHANGES
    ][:MAX_PREVIEWED]
    if not entries:
        return []
    osm_ids = {entry["osm_id"] for entry in entries}
    ended = {
        version_of: (name, geometry)
        for version_of, name, geometry in BoundaryVersion.objects.filter(ended_by=run)
        .order_by("-valid_to")
        .values_list("boundary_id", "name", "simplified_geometry")
    }
    ids_by_osm_id = dict(
        BoundaryVersion.objects.filter(ended_by=run, osm_id__in=osm_ids).values_list(
            "osm_id", "boundary_id"
        )
    ) | dict(Boundary.objects.filter(osm_id__in=osm_ids).values_list("osm_id", "id"))
    boundaries = {
        row[0]: row
        for row in Boundary.with_geometry.filter(pk__in=set(ids_by_osm_id.values())).values_list(
            "id", "name", "simplified_geometry", "retired_by_id"
        )
    }
    # A later import may have changed the boundary again: its state after this run is
    # the version that later import ended.
    # Newest first, so the earliest one after this run is written last and kept.
    later = {
        version_of: (name, geometry)
        for version_of, name, geometry in BoundaryVersion.objects.filter(
            boundary_id__in=boundaries, ended_by_id__gt=run.pk
        )
        .order_by("-valid_to")
        .values_list("boundary_id", "name", "simplified_geometry")
    }
    features: list[dict[str, Any]] = []
    for entry in entries:
        boundary_id = ids_by_osm_id.get(entry["osm_id"])
        if boundary_id is None or boundary_id not in boundaries:
            continue
        _, name, geometry, retired_by = boundaries[boundary_id]
        properties = {
            "osm_id": entry["osm_id"],
            "name": name,
            "level": entry.get("level"),
            "change": entry["change"],
        }
        before = ended.get(boundary_id)
        if retired_by == run.pk:
            before = (name, geometry)
        if before is not None and isinstance(before[1], GEOSGeometry):
            shape = shapely.from_wkb(bytes(before[1].wkb))
            features.append(_feature(shape, properties | {"name": before[0]}, side="before"))
        if retired_by == run.pk:
            continue
        after = later.get(boundary_id, (name, geometry))
        if isinstance(after[1], GEOSGeometry):
            shape = shapely.from_wkb(bytes(after[1].wkb))
            features.append(_feature(shape, properties | {"name": after[0]}, side="after"))
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


def changed_shapes(run: ImportRun) -> list[dict[str, Any]]:
    """Return the before and after outlines of a run: a dry run's record, or its history."""
    if run.status == ImportStatus.DRY_RUN or run.diff.get("previews"):
        return list(run.diff.get("previews", []))
    if run.status == ImportStatus.SUCCEEDED:
        return applied_previews(run)
    return []
