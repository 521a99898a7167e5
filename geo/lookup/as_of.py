"""Lookups as the boundaries were at the end of a past day (UTC): ``as_of``.

The in-memory indexes serve today only. A past day is read from the database:
a boundary row is that day's state when it began by then and was not retired
by then (``valid_from < end`` and ``retired_at`` null or ``>= end``); otherwise
a ``BoundaryVersion`` valid at the day's end (``valid_from < end <= valid_to``)
is. Names are matched with the same matcher as today's, on a ``Hierarchy`` of
that day's names (paths rebuilt from that day's parents), cached per (day,
country) with a bound; points are found with PostGIS (``ST_Covers`` on the
full-resolution geometry of that day).

A day before the first import has no boundaries, and a day after today
(UTC) is not known yet: every answer for them is empty. A workspace's
aliases are those it had that day: today's, with every later change undone
from the audit log (``geo.aliases.set_aliases`` records each boundary's
aliases before and after a change).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from django.db import connection
from django.utils import timezone

from geo.lookup.boundaries import aliases_by_boundary
from geo.lookup.hierarchy import Hierarchy, NameIndex, Place, alias_index, pairs
from geo.lookup.resolve import history_key
from geo.lookup.service import MatchOutcome, PointResult, match_in
from geo.models import (
    PATH_SEPARATOR,
    AuditAction,
    AuditEvent,
    Boundary,
    BoundaryAlias,
    BoundaryVersion,
)
from geo.workspaces import WorkspaceAccess

# Hierarchies of past days kept per process: a flow asks about few days.
MAX_CACHED_DAYS = 16


def is_known(day: date) -> bool:
    """Tell whether ``day`` is today or before (UTC): later days have no boundaries yet."""
    return day <= timezone.now().astimezone(UTC).date()


def day_end(day: date) -> datetime:
    """Return the first instant after ``day`` (UTC): states are taken as they were just before."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


_STATES_SQL = """
    SELECT b.id, b.osm_id, b.name, b.name_en, b.level, b.parent_id, b.country_id,
           b.names, b.codes, b.other_names, 0 AS rank
    FROM geo_boundary b
    WHERE (b.valid_from IS NULL OR b.valid_from < %(end)s)
      AND (b.retired_at IS NULL OR b.retired_at >= %(end)s) {country}
    UNION ALL
    -- Versions keep names, codes and variant names (written before variants were kept: today's).
    SELECT v.boundary_id, v.osm_id, v.name, v.name_en, v.level, v.parent_id, b.country_id,
           v.names, v.codes, COALESCE(v.other_names, b.other_names), 1
    FROM geo_boundaryversion v JOIN geo_boundary b ON b.id = v.boundary_id
    WHERE (v.valid_from IS NULL OR v.valid_from < %(end)s) AND v.valid_to >= %(end)s {country}
    ORDER BY rank
"""


def _places_as_of(end: datetime, country_id: int | None) -> list[Place]:
    where = "AND b.country_id = %(country)s" if country_id is not None else ""
    with connection.cursor() as cursor:
        cursor.execute(
            _STATES_SQL.format(country=where),  # where: one of two constants
            {"end": end, "country": country_id},
        )
        rows = cursor.fetchall()
    # One state per boundary: the row when both claim the day (a version that
    # overlaps the row's own start would be an inconsistency; the row wins).
    states: dict[int, tuple[str, str, str, int, int | None, int | None]] = {}
    labels: dict[int, tuple[Any, Any, Any]] = {}
    for pk, osm_id, name, name_en, level, parent_id, country, names, codes, others, _ in rows:
        if pk not in states:
            states[pk] = (osm_id, name, name_en, level, parent_id, country)
            labels[pk] = (names, codes, others)
    paths: dict[int, str] = {}

    def path_of(pk: int, depth: int = 0) -> str:
        if pk not in paths:
            _, name, _, _, parent_id, _ = states[pk]
            parent = path_of(parent_id, depth + 1) if parent_id in states and depth < 8 else ""
            paths[pk] = f"{parent}{PATH_SEPARATOR}{name}" if parent else name
        return paths[pk]

    return [
        Place(
            pk, osm_id, name, name_en, level, parent_id, country, path_of(pk),
            names=pairs(labels[pk][0]), codes=pairs(labels[pk][1]),
            other_names=tuple(labels[pk][2] or ()),
        )
        for pk, (osm_id, name, name_en, level, parent_id, country) in states.items()
    ]  # fmt: skip


_lock = threading.Lock()
_cache: OrderedDict[tuple[date, int | None, tuple[object, ...]], Hierarchy] = OrderedDict()


def hierarchy_as_of(day: date, *, country_id: int | None) -> Hierarchy:
    """Return the boundaries of the end of ``day`` (those of one country, or all), indexed.

    Cached per (day, country, state of the history tables), the
    ``MAX_CACHED_DAYS`` most recently used kept.
    """
    if not is_known(day):
        return Hierarchy([], version=-1)
    key = (day, country_id, history_key())
    with _lock:
        hierarchy = _cache.get(key)
        if hierarchy is not None:
            _cache.move_to_end(key)
            return hierarchy
    hierarchy = Hierarchy(_places_as_of(day_end(day), country_id), version=-1)
    with _lock:
        _cache[key] = hierarchy
        while len(_cache) > MAX_CACHED_DAYS:
            _cache.popitem(last=False)
    return hierarchy


def aliases_at(workspace_id: int, moment: datetime) -> list[tuple[int, str]]:
    """Return a workspace's aliases, ``(boundary id, alias)``, as they were just before ``moment``.

    Today's aliases, then every change made since ``moment`` undone, newest
    first: each sets a boundary's aliases back to what they were before it.
    A change recorded before changes named the boundary's id finds it by the
    osm_id it had then (today's, or an earlier state's).
    """
    names: defaultdict[int, list[str]] = defaultdict(list)
    for boundary_id, name in BoundaryAlias.objects.filter(workspace_id=workspace_id).values_list(
        "boundary_id", "name"
    ):
        names[boundary_id].append(name)
    changes = list(
        AuditEvent.objects.filter(
            workspace_id=workspace_id, action=AuditAction.ALIASES_SET, created_at__gte=moment
        )
        .order_by("-created_at", "-id")
        .values_list("target", "details")
    )
    by_osm_id = _boundaries_by_osm_id({t for t, d in changes if "boundary_id" not in d})
    for target, details in changes:
        boundary_id = details.get("boundary_id", by_osm_id.get(target))
        if boundary_id is not None:
            names[boundary_id] = list(details.get("before", []))
    return [(boundary_id, name) for boundary_id, kept in names.items() for name in kept]


def _boundaries_by_osm_id(osm_ids: set[str]) -> dict[str, int]:
    """Boundary ids by osm_id: today's keys first, then those of earlier states."""
    if not osm_ids:
        return {}
    found = dict(
        BoundaryVersion.objects.filter(osm_id__in=osm_ids).values_list("osm_id", "boundary_id")
    )
    found.update(Boundary.objects.filter(osm_id__in=osm_ids).values_list("osm_id", "id"))
    return found


def _aliases(hierarchy: Hierarchy, access: WorkspaceAccess, day: date) -> NameIndex:
    return alias_index(hierarchy, aliases_at(access.id, day_end(day)))


def find_matches_as_of(
    access: WorkspaceAccess,
    *,
    day: date,
    text: str,
    level: int,
    parent: str | None = None,
    country: str | None = None,
    fuzzy: bool = True,
) -> MatchOutcome:
    """Match ``text`` as ``geo.lookup.service.match_in`` does today, on the names and aliases of ``day``."""
    hierarchy = hierarchy_as_of(day, country_id=access.country_id)
    return match_in(
        hierarchy, _aliases(hierarchy, access, day), access, text=text, level=level, parent=parent,
        country=country, fuzzy=fuzzy,
    )  # fmt: skip


# Points are grouped per candidate boundary (bounding boxes, from the GiST index)
# and each boundary's full geometry is then tested against its points at once: it
# is read and prepared once, not once per point (20 times faster on 1,000 points
# over one country, 15 over the world).
_COVERING_SQL = """
    WITH p AS MATERIALIZED (
        SELECT n::int AS n, ST_SetSRID(ST_MakePoint(x, y), 4326) AS g
        FROM unnest(%(lons)s::float8[], %(lats)s::float8[]) WITH ORDINALITY AS t(x, y, n)
    ),
    near_rows AS (
        SELECT b.id, array_agg(p.n) AS ns FROM p JOIN geo_boundary b ON b.geometry && p.g
        WHERE (b.valid_from IS NULL OR b.valid_from < %(end)s)
          AND (b.retired_at IS NULL OR b.retired_at >= %(end)s)
        GROUP BY b.id
    ),
    near_versions AS (
        SELECT v.id, array_agg(p.n) AS ns FROM p JOIN geo_boundaryversion v ON v.geometry && p.g
        WHERE (v.valid_from IS NULL OR v.valid_from < %(end)s) AND v.valid_to >= %(end)s
        GROUP BY v.id
    )
    SELECT q.n - 1, b.id FROM near_rows JOIN geo_boundary b ON b.id = near_rows.id
    CROSS JOIN LATERAL (
        SELECT n FROM unnest(near_rows.ns) AS n
        WHERE ST_Covers(b.geometry, ST_SetSRID(ST_MakePoint(
            (%(lons)s::float8[])[n], (%(lats)s::float8[])[n]), 4326))
    ) q
    UNION
    SELECT q.n - 1, v.boundary_id FROM near_versions
    JOIN geo_boundaryversion v ON v.id = near_versions.id
    CROSS JOIN LATERAL (
        SELECT n FROM unnest(near_versions.ns) AS n
        WHERE ST_Covers(v.geometry, ST_SetSRID(ST_MakePoint(
            (%(lons)s::float8[])[n], (%(lats)s::float8[])[n]), 4326))
    ) q
    UNION
    -- A version without a geometry of its own (a rename) kept the next state's.
    SELECT p.n - 1, v.boundary_id
    FROM geo_boundaryversion v JOIN geo_boundary b ON b.id = v.boundary_id, p
    WHERE v.geometry IS NULL
      AND (v.valid_from IS NULL OR v.valid_from < %(end)s) AND v.valid_to >= %(end)s
      AND ST_Covers(COALESCE(
            (SELECT later.geometry FROM geo_boundaryversion later
             WHERE later.boundary_id = v.boundary_id AND later.valid_to > v.valid_to
               AND later.geometry IS NOT NULL ORDER BY later.valid_to LIMIT 1),
            b.geometry), p.g)
"""


def find_at_points_as_of(
    access: WorkspaceAccess, *, day: date, lons: np.ndarray, lats: np.ndarray
) -> tuple[Hierarchy, list[list[PointResult]]]:
    """Every boundary covering each point at the end of ``day``, country first (PostGIS)."""
    hierarchy = hierarchy_as_of(day, country_id=access.country_id)
    found: list[list[PointResult]] = [[] for _ in range(len(lons))]
    if not is_known(day):
        return hierarchy, found
    with connection.cursor() as cursor:
        cursor.execute(
            _COVERING_SQL,
            {
                "lons": [float(x) for x in lons],
                "lats": [float(y) for y in lats],
                "end": day_end(day),
            },
        )
        rows = cursor.fetchall()
    for i, boundary_id in rows:
        place = hierarchy.places.get(boundary_id)
        if place is not None:  # outside the workspace's country, or not of that day
            found[i].append(PointResult(place))
    for results in found:
        results.sort(key=lambda r: (r.place.level, r.place.path))
    return hierarchy, found


@dataclass(frozen=True, slots=True)
class PlacePage:
    """One page of a listing of a past day."""

    items: list[Place]
    count: int
    page: int
    pages: int
    # The workspace's aliases of each item on that day, sorted.
    aliases: dict[int, list[str]]


def list_places_as_of(
    access: WorkspaceAccess,
    *,
    day: date,
    level: int | None = None,
    parent: str | None = None,
    q: str | None = None,
    code: str | None = None,
    scheme: str | None = None,
    page: int = 1,
    page_size: int = 100,
) -> tuple[Hierarchy, PlacePage]:
    """List the boundaries of ``day`` by path, filtered as ``list_boundaries`` filters today's."""
    hierarchy = hierarchy_as_of(day, country_id=access.country_id)
    places: Iterable[Place] = hierarchy.places.values()
    if code is not None:
        # The codes the boundaries had that day (versions keep them).
        found = hierarchy.by_code.get(code.strip().casefold(), [])
        ids = {pid for pid, kind in found if scheme is None or kind == scheme}
        places = [p for p in places if p.id in ids]
    if level is not None:
        places = [p for p in places if p.level == level]
    if parent is not None:
        parent_place = hierarchy.by_osm_id.get(parent)
        parent_id = parent_place.id if parent_place else None
        places = [p for p in places if parent_id is not None and p.parent_id == parent_id]
    aliases = aliases_at(access.id, day_end(day)) if is_known(day) else []
    if q:
        needle = q.casefold()
        aliased = {boundary_id for boundary_id, alias in aliases if needle in alias.casefold()}
        places = [
            p
            for p in places
            if p.id in aliased or any(needle in name.casefold() for name, _ in p.all_names())
        ]
    ordered = sorted(places, key=lambda p: (p.path, p.osm_id))
    count = len(ordered)
    pages = max(1, -(-count // page_size))
    items = ordered[(page - 1) * page_size : page * page_size]
    on_page = aliases_by_boundary(aliases, [p.id for p in items])
    return hierarchy, PlacePage(items=items, count=count, page=page, pages=pages, aliases=on_page)
