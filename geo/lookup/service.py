"""Lookups as a workspace asks for them: scoping, parents, ordering. Read-only.

Callable without a request: the API views, the web UI and scripts all use these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from geo.exceptions import BoundaryNotFound
from geo.lookup.counts import CountRow, Counts, resolve_counts
from geo.lookup.hierarchy import Hierarchy, NameIndex, Place
from geo.lookup.matching import MatchResult, Scope, match_text, resolve_parent
from geo.lookup.points import PointIndex
from geo.lookup.snapshot import lookup_data
from geo.workspaces import WorkspaceAccess


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """A match, with the parent it was scoped to and the snapshot it came from."""

    result: MatchResult
    hierarchy: Hierarchy
    parent: Place | None
    parent_unresolved: bool = False


def country_scope(hierarchy: Hierarchy, access: WorkspaceAccess, country: str | None) -> int | None:
    """Return the country id a request is limited to.

    A workspace with a country is always limited to it; one without may ask
    for one country with ``country``.

    Raises
    ------
    BoundaryNotFound
        ``country`` is not an imported country, or not the workspace's.
    """
    if country is None:
        return access.country_id
    place = hierarchy.by_osm_id.get(country)
    if place is None or place.level != 0 or (access.country_id and place.id != access.country_id):
        raise BoundaryNotFound(f"country: no imported country {country!r} in this workspace")
    return place.id


def match_in(
    hierarchy: Hierarchy,
    aliases: NameIndex,
    access: WorkspaceAccess,
    *,
    text: str,
    level: int,
    parent: str | None,
    country: str | None,
    fuzzy: bool,
) -> MatchOutcome:
    """Match ``text`` at ``level`` among the names of ``hierarchy`` (today's, or a past day's) and ``aliases``.

    ``parent`` is an osm_id, a path, or text at the level above. Today's
    caller passes ``lookup_data``'s hierarchy and the workspace's alias index
    built on it (``lookup_data.aliases(access, hierarchy)``).
    """
    country_id = country_scope(hierarchy, access, country)
    parent_place = None
    if parent is not None:
        parent_place = resolve_parent(
            hierarchy, parent, level=level, country_id=country_id, aliases=aliases
        )
        if parent_place is None:
            return MatchOutcome(MatchResult(matches=[]), hierarchy, None, parent_unresolved=True)
    scope = Scope(level=level, parent=parent_place, country_id=country_id)
    result = match_text(hierarchy, text, scope=scope, aliases=aliases, fuzzy=fuzzy)
    return MatchOutcome(result, hierarchy, parent_place)


@dataclass(frozen=True, slots=True)
class PointResult:
    """A boundary found for a point, and how far it is (0: the boundary covers the point)."""

    place: Place
    distance_m: float = 0.0


def find_at_points(
    access: WorkspaceAccess, *, lons: np.ndarray, lats: np.ndarray, snap_m: float = 0.0
) -> tuple[Hierarchy, list[list[PointResult]]]:
    """Every boundary covering each point, country first, within the workspace's country.

    With ``snap_m``, the levels below the deepest boundary covering a point
    (every level when none does: a boat off the coast) are filled from the
    boundaries within ``snap_m`` metres: level by level, the nearest one
    inside the boundaries found so far (several when equally near, within
    ``TIE_METRES``: off the end of a shared border). So a pin 200 m off a
    beach, in a country whose outline takes in its waters but whose states
    stop at the shore, gets the country, and the state and district of that
    beach. A level with no such boundary within reach is left empty.
    """
    snapshot = lookup_data.serving(points=True)
    hierarchy, index = snapshot.hierarchy, snapshot.points
    assert index is not None
    results = [
        _found_at(hierarchy, access, index, ids, lon=lons[i], lat=lats[i], snap_m=snap_m)
        for i, ids in enumerate(index.locate_many(lons, lats))
    ]
    return hierarchy, results


def find_at_point(
    access: WorkspaceAccess, *, lon: float, lat: float, snap_m: float = 0.0
) -> tuple[Hierarchy, list[PointResult]]:
    """``find_at_points`` for one point: the per-message path, with no arrays to build.

    Raises
    ------
    ValueError
        A longitude outside -180..180 or a latitude outside -90..90.
    """
    snapshot = lookup_data.serving(points=True)
    hierarchy, index = snapshot.hierarchy, snapshot.points
    assert index is not None
    ids = index.locate(lon, lat)
    return hierarchy, _found_at(hierarchy, access, index, ids, lon=lon, lat=lat, snap_m=snap_m)


def _found_at(
    hierarchy: Hierarchy,
    access: WorkspaceAccess,
    index: PointIndex,
    ids: list[int],
    *,
    lon: float,
    lat: float,
    snap_m: float,
) -> list[PointResult]:
    found = [PointResult(p) for p in _visible(hierarchy, access, ids)]
    if snap_m > 0:
        found += _snapped(hierarchy, access, index, found, lon=lon, lat=lat, snap_m=snap_m)
    return sorted(found, key=lambda r: (r.place.level, r.place.path))


# Boundaries of a level this close to its nearest one are equally near.
TIE_METRES = 0.5


def _visible(hierarchy: Hierarchy, access: WorkspaceAccess, ids: Iterable[int]) -> list[Place]:
    """Return the places of these ids that the workspace sees (its country, if it has one)."""
    places = [hierarchy.places[i] for i in ids if i in hierarchy.places]
    if access.country_id is not None:
        places = [p for p in places if p.country_id == access.country_id]
    return places


def _snapped(
    hierarchy: Hierarchy,
    access: WorkspaceAccess,
    index: PointIndex,
    covering: list[PointResult],
    *,
    lon: float,
    lat: float,
    snap_m: float,
) -> list[PointResult]:
    """Return the nearest places of the levels below ``covering``, as ``find_at_points`` says."""
    deepest = max((r.place.level for r in covering), default=-1)
    anchors = [r.place for r in covering if r.place.level == deepest]
    if anchors and not any(place.id in hierarchy.parents for place in anchors):
        return []  # nothing below: no need to look around
    distance = dict(index.nearest(float(lon), float(lat), within_m=snap_m))
    by_level: dict[int, list[Place]] = {}
    for place in _visible(hierarchy, access, distance):
        if place.level > deepest:
            by_level.setdefault(place.level, []).append(place)
    snapped = []
    for level in sorted(by_level):
        inside = [
            place
            for place in by_level[level]
            if not anchors or any(hierarchy.is_within(place, anchor.id) for anchor in anchors)
        ]
        if not inside:
            continue
        nearest = min(distance[place.id] for place in inside)
        anchors = [place for place in inside if distance[place.id] <= nearest + TIE_METRES]
        snapped += [PointResult(place, distance[place.id]) for place in anchors]
    return snapped


def count_by_boundary(access: WorkspaceAccess, rows: list[CountRow]) -> tuple[Hierarchy, Counts]:
    """Resolve a table of counts to the workspace's boundaries, rolled up to ancestors."""
    hierarchy = lookup_data.hierarchy()
    counts = resolve_counts(
        hierarchy,
        rows,
        aliases=lookup_data.aliases(access, hierarchy),
        country_id=access.country_id,
    )
    return hierarchy, counts
