"""Reads of stored boundaries for listings and details (the database, not the snapshot)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

from geo.exceptions import BoundaryNotFound, BoundaryRekeyed
from geo.lookup.hierarchy import display_name
from geo.lookup.snapshot import lookup_data
from geo.models import Boundary, BoundaryAlias, BoundaryVersion
from geo.workspaces import WorkspaceAccess

GEOMETRY_COLUMNS = {"simplified": "simplified_geometry", "full": "geometry"}


def boundaries_in_scope(access: WorkspaceAccess, *, retired: bool = False) -> QuerySet[Boundary]:
    """Return the current boundaries the workspace may see (its country, or every country).

    ``retired``: retired boundaries too (a detail page, an old key looked up);
    a listing or lookup never shows them.
    """
    queryset = Boundary.objects.all()
    if not retired:
        queryset = queryset.filter(retired_at=None)
    if access.country_id is not None:
        queryset = queryset.filter(country_id=access.country_id)
    return queryset


def get_boundary(access: WorkspaceAccess, osm_id: str, *, retired: bool = False) -> Boundary:
    """Return one current boundary the workspace may see (or a retired one, if ``retired``).

    Raises
    ------
    BoundaryRekeyed
        The osm_id was one of the workspace's boundaries until an import
        re-keyed it (stored ids outlive re-keys): the error names today's key.
    BoundaryNotFound
        No such osm_id in the workspace's scope, now or before.
    """
    boundary = (
        boundaries_in_scope(access, retired=retired)
        .select_related("parent")
        .filter(osm_id=osm_id)
        .first()
    )
    if boundary is None:
        # The latest state that had this key; its boundary has another one now.
        earlier = (
            BoundaryVersion.objects.filter(
                osm_id=osm_id,
                boundary__in=boundaries_in_scope(access, retired=retired),
            )
            .exclude(boundary__osm_id=osm_id)
            .order_by("-valid_to")
            .values_list("boundary__osm_id", "valid_to")
            .first()
        )
        if earlier is not None:
            current, until = earlier
            raise BoundaryRekeyed(
                f"no boundary {osm_id!r}: it was re-keyed {current!r} on {until:%Y-%m-%d}",
                osm_id=current,
            )
        raise BoundaryNotFound(f"no boundary {osm_id!r}")
    return boundary


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing."""

    items: list[Boundary]
    count: int
    page: int
    pages: int


def list_boundaries(
    access: WorkspaceAccess,
    *,
    level: int | None = None,
    parent: str | None = None,
    q: str | None = None,
    code: str | None = None,
    scheme: str | None = None,
    page: int = 1,
    page_size: int = 100,
) -> Page:
    """List boundaries by path, filtered by level, parent osm_id, a name/alias substring, a code.

    ``code`` is any of a boundary's codes (``scheme``'s only, if given),
    exactly but for case; the ids come from the lookup snapshot's code index.
    """
    queryset = boundaries_in_scope(access).select_related("parent")
    if code is not None:
        found = lookup_data.hierarchy().by_code.get(code.strip().casefold(), [])
        queryset = queryset.filter(
            id__in=[pid for pid, kind in found if scheme is None or kind == scheme]
        )
    if level is not None:
        queryset = queryset.filter(level=level)
    if parent is not None:
        queryset = queryset.filter(parent__osm_id=parent)
    if q:
        queryset = named_like(queryset, access, q)
    count = queryset.count()
    pages = max(1, -(-count // page_size))
    items = list(queryset.order_by("path", "osm_id")[(page - 1) * page_size : page * page_size])
    return Page(items=items, count=count, page=page, pages=pages)


def named_like(queryset: QuerySet[Boundary], access: WorkspaceAccess, q: str) -> QuerySet[Boundary]:
    """Keep the boundaries any of whose names, or the workspace's aliases of them, holds ``q``.

    Their name, English name, names in other languages (``names``) and
    variant names (``other_names``): every name match looks through.
    """
    aliased = BoundaryAlias.objects.filter(workspace_id=access.id, name__icontains=q).values(
        "boundary_id"
    )
    # As icontains does: q's own % and _ are literal characters.
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", q) + "%"
    in_other_names = RawSQL(
        "EXISTS (SELECT 1 FROM jsonb_each_text(geo_boundary.names) AS n WHERE n.value ILIKE %s)"
        " OR EXISTS (SELECT 1 FROM unnest(geo_boundary.other_names) AS v WHERE v ILIKE %s)",
        (pattern, pattern),
        output_field=BooleanField(),
    )
    return queryset.filter(
        Q(name__icontains=q) | Q(name_en__icontains=q) | Q(id__in=aliased) | Q(in_other_names)
    )


def aliases_of(access: WorkspaceAccess, boundary_ids: list[int]) -> dict[int, list[str]]:
    """Return the workspace's aliases of these boundaries, sorted, by boundary id."""
    rows = BoundaryAlias.objects.filter(
        workspace_id=access.id, boundary_id__in=boundary_ids
    ).values_list("boundary_id", "name")
    return aliases_by_boundary(rows, boundary_ids)


def aliases_by_boundary(
    rows: Iterable[tuple[int, str]], boundary_ids: Iterable[int]
) -> dict[int, list[str]]:
    """Group ``(boundary id, alias)`` rows by these boundaries (others left out), sorted."""
    result: dict[int, list[str]] = {i: [] for i in boundary_ids}
    for boundary_id, name in rows:
        if boundary_id in result:
            result[boundary_id].append(name)
    for names in result.values():
        names.sort(key=str.casefold)
    return result


def geometry_geojson(boundary_id: int, *, kind: str, decimals: int = 6) -> dict[str, Any] | None:
    """Return a boundary's geometry as an RFC 7946 GeoJSON object (counter-clockwise exteriors)."""
    column = GEOMETRY_COLUMNS[kind]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ST_AsGeoJSON(ST_ForcePolygonCCW({column}), %s) FROM geo_boundary WHERE id = %s",  # noqa: S608 (column from a fixed map)
            [decimals, boundary_id],
        )
        row = cursor.fetchone()
    return json.loads(row[0]) if row and row[0] else None


def geometries_geojson(
    boundary_ids: list[int], *, kind: str, decimals: int = 6
) -> dict[int, dict[str, Any]]:
    """Return many boundaries' geometries as RFC 7946 GeoJSON, by id (one query)."""
    column = GEOMETRY_COLUMNS[kind]
    if not boundary_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, ST_AsGeoJSON(ST_ForcePolygonCCW({column}), %s) FROM geo_boundary"  # noqa: S608 (column from a fixed map)
            f" WHERE id = ANY(%s) AND {column} IS NOT NULL",
            [decimals, boundary_ids],
        )
        return {row_id: json.loads(text) for row_id, text in cursor.fetchall()}


BANDS = {"0": 0, "1": 1, "2": 2}


def _json(value: Any) -> Any:
    # A raw cursor gives jsonb as text (Django's loader); the ORM decodes it.
    return json.loads(value) if isinstance(value, str) else value


def children_collection(access: WorkspaceAccess, osm_id: str, *, band: str) -> dict[str, Any]:
    """Return a boundary's children as an RFC 7946 FeatureCollection at a zoom band.

    ``band`` is ``0``, ``1``, ``2`` (coarse to fine) or ``full``. A boundary
    without children gives a collection of itself, as RapidPro's geometry view does.
    Exteriors are counter-clockwise; there is no ``crs`` member.
    """
    boundary = get_boundary(access, osm_id)
    has_children = Boundary.objects.filter(parent=boundary, retired_at=None).exists()
    which = "b.parent_id = %s" if has_children else "b.id = %s"
    return _collection(
        boundary.name,
        band=band,
        where=which,
        params=[boundary.pk],
        language=access.name_language,
    )


def countries_collection(access: WorkspaceAccess, *, band: str) -> dict[str, Any]:
    """Return the countries a workspace sees as a FeatureCollection at a zoom band."""
    language = access.name_language
    if access.country_id is not None:
        return _collection(
            "", band=band, where="b.id = %s", params=[access.country_id], language=language
        )
    return _collection("", band=band, where="b.level = %s", params=[0], language=language)


def _collection(
    name: str, *, band: str, where: str, params: list[Any], language: str
) -> dict[str, Any]:
    if band == "full":
        geometry = "ST_ForcePolygonCCW(b.geometry)"
        source = "geo_boundary b WHERE b.geometry IS NOT NULL AND b.retired_at IS NULL"
        band_params: list[Any] = []
    else:
        geometry = "ST_ForcePolygonCCW(ST_Transform(s.geometry, 4326))"
        source = (
            "geo_boundary b JOIN geo_boundaryshape s ON s.boundary_id = b.id AND s.band = %s"
            " WHERE b.retired_at IS NULL"
        )
        band_params = [BANDS[band]]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT b.osm_id, b.name, b.level, b.path,
                   EXISTS (SELECT 1 FROM geo_boundary c
                           WHERE c.parent_id = b.id AND c.retired_at IS NULL),
                   ST_AsGeoJSON({geometry}, 6), b.name_en, b.names
            FROM {source} AND {where}
            ORDER BY b.path
            """,  # noqa: S608 (fragments chosen from constants above)
            [*band_params, *params],
        )
        rows = cursor.fetchall()
    return {
        "type": "FeatureCollection",
        "name": name,
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "osm_id": o,
                    "name": n,
                    "display_name": display_name(language, name=n, name_en=en, names=_json(names)),
                    "level": lvl,
                    "path": p,
                    "has_children": kids,
                },
                "geometry": json.loads(g),
            }
            for o, n, lvl, p, kids, g, en, names in rows
        ],
    }
