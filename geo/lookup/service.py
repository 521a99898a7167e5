"""Lookups as a workspace asks for them: scoping, parents, ordering. Read-only.

Callable without a request: the API views, the web UI and scripts all use these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geo.exceptions import BoundaryNotFound
from geo.lookup.counts import CountRow, Counts, resolve_counts
from geo.lookup.hierarchy import Hierarchy, Place
from geo.lookup.matching import MatchResult, Scope, match_text, resolve_parent
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


def find_matches(
    access: WorkspaceAccess,
    *,
    text: str,
    level: int,
    parent: str | None = None,
    country: str | None = None,
    fuzzy: bool = True,
) -> MatchOutcome:
    """Match ``text`` at ``level``; ``parent`` is an osm_id, a path, or text at the level above."""
    hierarchy = lookup_data.hierarchy()
    aliases = lookup_data.aliases(access)
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


def find_at_points(
    access: WorkspaceAccess, *, lons: np.ndarray, lats: np.ndarray
) -> tuple[Hierarchy, list[list[Place]]]:
    """Every boundary covering each point, country first, within the workspace's country."""
    hierarchy = lookup_data.hierarchy()
    index = lookup_data.points()
    results = []
    for ids in index.locate_many(lons, lats):
        places = [hierarchy.places[i] for i in ids if i in hierarchy.places]
        if access.country_id is not None:
            places = [p for p in places if p.country_id == access.country_id]
        results.append(sorted(places, key=lambda p: (p.level, p.path)))
    return hierarchy, results


def count_by_boundary(access: WorkspaceAccess, rows: list[CountRow]) -> tuple[Hierarchy, Counts]:
    """Resolve a table of counts to the workspace's boundaries, rolled up to ancestors."""
    hierarchy = lookup_data.hierarchy()
    counts = resolve_counts(
        hierarchy, rows, aliases=lookup_data.aliases(access), country_id=access.country_id
    )
    return hierarchy, counts
