"""The lookup API (v1): thin views over ``geo.lookup``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Protocol

import numpy as np
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import reverse

from geo.aliases import set_aliases
from geo.api import params
from geo.api.errors import api_endpoint
from geo.api.serialize import (
    boundary_to_dict,
    match_to_dict,
    place_to_dict,
    point_result_to_dict,
    resolution_to_dict,
)
from geo.exceptions import BoundaryRekeyed, InvalidQuery, UnsupportedMediaType
from geo.exporting import (
    CONTENT_TYPES,
    EXTENSIONS,
    FORMATS,
    GEOMETRIES,
    export_scope,
    stream_export,
)
from geo.lookup.as_of import find_at_points_as_of, find_matches_as_of, list_places_as_of
from geo.lookup.boundaries import (
    aliases_of,
    children_collection,
    countries_collection,
    geometry_geojson,
    get_boundary,
    list_boundaries,
)
from geo.lookup.counts import KEY_COLUMNS, parse_csv, parse_json
from geo.lookup.hierarchy import Hierarchy, NameIndex, display_name
from geo.lookup.history import list_changes, parse_since, predecessor_rows, successor_rows
from geo.lookup.memo import SnapshotMemo
from geo.lookup.resolve import resolve
from geo.lookup.service import (
    PointResult,
    count_by_boundary,
    find_at_point,
    find_at_points,
    match_in,
)
from geo.lookup.snapshot import lookup_data
from geo.models import CODE_SCHEMES, Boundary, Role, Workspace
from geo.workspaces import WorkspaceAccess, require_role

MAX_POINTS = 10_000
GEOJSON_CONTENT_TYPE = "application/geo+json"
# How far off every boundary ``locate`` may look (metres): far enough for a
# pin on a beach or a boat off the coast, near enough not to cross a strait.
MAX_SNAP_METRES = 5_000
MAX_COUNTS_BYTES = 10_000_000
MAX_RESOLVE_VALUES = 1_000
# 1,000 values of 1,000 characters, each escaped as \uXXXX at worst.
MAX_RESOLVE_BYTES = 7_000_000


@api_endpoint("GET")
def ping(request: HttpRequest, access: WorkspaceAccess) -> dict[str, Any]:
    """Answer trivially (authenticated): the framework's floor in benchmarks."""
    return {"ok": True, "workspace": access.name}


# Match answers, by workspace and query string, for the snapshot and alias index
# they came from (geo.lookup.memo): a flow's replies repeat, each is matched once.
MATCH_MEMO_BYTES = 16 * 1024 * 1024
_match_bodies: SnapshotMemo[bytes] = SnapshotMemo(max_bytes=MATCH_MEMO_BYTES, size=len)


@api_endpoint("GET")
def match(request: HttpRequest, access: WorkspaceAccess) -> HttpResponse:
    """Free text → boundaries at a level (has_state / has_district / has_ward)."""
    query_string = request.META.get("QUERY_STRING", "")
    hierarchy = lookup_data.hierarchy()
    aliases = lookup_data.aliases(access, hierarchy)
    key = (access.id, access.country_id, access.name_language, query_string)
    body = _match_bodies.get(hierarchy, aliases, key)
    if body is not None:
        return HttpResponse(body, content_type="application/json")
    answer, today = _match(params.query(request), access, hierarchy=hierarchy, aliases=aliases)
    body = _encoded(answer)
    if today:
        _match_bodies.put(hierarchy, aliases, key, body)
    return HttpResponse(body, content_type="application/json")


def _encoded(answer: dict[str, Any]) -> bytes:
    """Return the JSON body of a lookup answer, as the memos keep it (UTF-8, not escaped)."""
    return json.dumps(answer, ensure_ascii=False).encode()


def _match(
    query: Mapping[str, str], access: WorkspaceAccess, *, hierarchy: Hierarchy, aliases: NameIndex
) -> tuple[dict[str, Any], bool]:
    """Answer a match query; also say whether it was today's (a past day's is not memoised)."""
    text = params.text(query, "text", required=True)
    level = params.integer(query, "level", low=0, high=3, required=True)
    assert text is not None and level is not None
    as_of = params.day(query, "as_of")
    parent = params.text(query, "parent")
    country = params.text(query, "country")
    fuzzy = params.boolean(query, "fuzzy", default=True)
    if as_of is None:
        outcome = match_in(
            hierarchy, aliases, access, text=text, level=level, parent=parent, country=country,
            fuzzy=fuzzy,
        )  # fmt: skip
    else:
        outcome = find_matches_as_of(
            access, day=as_of, text=text, level=level, parent=parent, country=country, fuzzy=fuzzy
        )
    hierarchy, language = outcome.hierarchy, access.name_language
    return {
        "results": [match_to_dict(m, hierarchy, language=language) for m in outcome.result.matches],
        "ambiguous": outcome.result.ambiguous,
        "parent": place_to_dict(outcome.parent, hierarchy, language=language)
        if outcome.parent
        else None,
        "parent_found": not outcome.parent_unresolved,
    }, as_of is None


@api_endpoint("GET", "POST")
def locate(request: HttpRequest, access: WorkspaceAccess) -> dict[str, Any] | HttpResponse:
    """Point(s) → every boundary containing each, country first; ``snap`` reaches off the coast."""
    if request.method == "GET":
        query = params.query(request)
        lat = params.number(query, "lat", low=-90, high=90)
        lng = params.number(query, "lng", low=-180, high=180)
        snap = params.number(query, "snap", low=0, high=MAX_SNAP_METRES, default=0.0)
        as_of = params.day(query, "as_of")
        if as_of is None:
            hierarchy, found = find_at_point(access, lon=lng, lat=lat, snap_m=snap)
            return _located(found, hierarchy, snap=snap > 0, language=access.name_language)
        hierarchy, (found,) = _locate(
            access, lons=np.array([lng]), lats=np.array([lat]), snap=snap, as_of=as_of
        )
        return {
            "results": [
                point_result_to_dict(r, hierarchy, snap=snap > 0, language=access.name_language)
                for r in found
            ]
        }
    body = params.json_body(request, fields={"points", "snap", "as_of"}, max_bytes=MAX_POINTS * 64)
    lons, lats = _points(body)
    snap = _snap(body)
    # Left out means today; given, it is a day (null included is refused, as the schema says).
    as_of = body.get("as_of")
    if "as_of" in body and not isinstance(as_of, str):
        raise InvalidQuery("as_of: must be a day as YYYY-MM-DD")
    day = params.parse_day(as_of, field="as_of") if isinstance(as_of, str) else None
    hierarchy, found_each = _locate(access, lons=lons, lats=lats, snap=snap, as_of=day)
    return {
        "results": [
            [
                point_result_to_dict(r, hierarchy, snap=snap > 0, language=access.name_language)
                for r in found
            ]
            for found in found_each
        ]
    }


# Locate answers by the places found: every point of a ward gets the same body
# (a few thousand distinct ones in a country), so each is encoded once per snapshot.
LOCATE_MEMO_BYTES = 16 * 1024 * 1024
_locate_bodies: SnapshotMemo[bytes] = SnapshotMemo(max_bytes=LOCATE_MEMO_BYTES, size=len)


def _located(
    found: list[PointResult], hierarchy: Hierarchy, *, snap: bool, language: str
) -> HttpResponse:
    """Answer one point's places, from the memo unless a snapped distance makes it unique."""
    key = (language, snap, tuple(r.place.id for r in found))
    remember = not any(r.distance_m for r in found)
    body = _locate_bodies.get(hierarchy, None, key) if remember else None
    if body is None:
        results = [point_result_to_dict(r, hierarchy, snap=snap, language=language) for r in found]
        body = _encoded({"results": results})
        if remember:
            _locate_bodies.put(hierarchy, None, key, body)
    return HttpResponse(body, content_type="application/json")


def _locate(
    access: WorkspaceAccess,
    *,
    lons: np.ndarray,
    lats: np.ndarray,
    snap: float,
    as_of: date | None,
) -> tuple[Hierarchy, list[list[PointResult]]]:
    # A past day is answered exactly (PostGIS); snapping works on today's index only.
    if as_of is not None:
        return find_at_points_as_of(access, day=as_of, lons=lons, lats=lats)
    return find_at_points(access, lons=lons, lats=lats, snap_m=snap)


def _snap(body: dict[str, Any]) -> float:
    if "snap" not in body:
        return 0.0
    snap = body["snap"]
    if (
        not isinstance(snap, int | float)
        or isinstance(snap, bool)
        or not 0 <= snap <= MAX_SNAP_METRES
    ):
        raise InvalidQuery(f"snap: must be a number of metres from 0 to {MAX_SNAP_METRES:,}")
    return float(snap)


def _points(body: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    points = body.get("points")
    if not isinstance(points, list):
        raise InvalidQuery("points: required, a list of [lng, lat] pairs")
    if len(points) > MAX_POINTS:
        raise InvalidQuery(f"points: at most {MAX_POINTS:,} per request, got {len(points):,}")
    if not all(
        isinstance(p, list)
        and len(p) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in p)
        for p in points
    ):
        raise InvalidQuery("points: each point must be [lng, lat] with two numbers")
    array = np.array(points, dtype=np.float64).reshape(-1, 2)
    lons, lats = array[:, 0], array[:, 1]
    bad = np.flatnonzero(~((np.abs(lons) <= 180) & (np.abs(lats) <= 90)))
    if bad.size:
        raise InvalidQuery(f"points[{bad[0]}]: lng must be -180..180 and lat -90..90")
    return lons, lats


@api_endpoint("GET")
def boundary_list(request: HttpRequest, access: WorkspaceAccess) -> dict[str, Any]:
    """Boundaries by path, filtered by level, parent and name/alias, paged."""
    query = request.GET
    page_size = params.integer(query, "page_size", low=1, high=500, default=100)
    page = params.integer(query, "page", low=1, high=1_000_000, default=1)
    assert page_size is not None and page is not None
    level = params.integer(query, "level", low=0, high=3)
    parent = params.text(query, "parent")
    q = params.text(query, "q", max_length=255)
    code = params.text(query, "code", max_length=255)
    scheme = params.choice(query, "scheme", choices=CODE_SCHEMES)
    as_of = params.day(query, "as_of")
    if as_of is not None:
        hierarchy, past = list_places_as_of(
            access, day=as_of, level=level, parent=parent, q=q, code=code, scheme=scheme,
            page=page, page_size=page_size,
        )  # fmt: skip
        return _paged(
            past,
            [
                {
                    **place_to_dict(p, hierarchy, language=access.name_language),
                    "aliases": past.aliases[p.id],
                }
                for p in past.items
            ],
        )
    listing = list_boundaries(
        access,
        level=level,
        parent=parent,
        q=q,
        code=code,
        scheme=scheme,
        page=page,
        page_size=page_size,
    )
    aliases = aliases_of(access, [b.pk for b in listing.items])
    return _paged(
        listing,
        [
            boundary_to_dict(b, aliases=aliases[b.pk], language=access.name_language)
            for b in listing.items
        ],
    )


@api_endpoint("GET")
def boundary_detail(
    request: HttpRequest, access: WorkspaceAccess, osm_id: str
) -> dict[str, Any] | HttpResponse:
    """One boundary, retired ones too; ``?geometry=simplified|full`` adds its GeoJSON geometry.

    A retired boundary says when and by which import (``retired``) and where
    it went (``successors``); a current one may say where it came from
    (``predecessors``). A key an import has since replaced is answered with a
    301 to today's key (flows keep the ids they stored).
    """
    kind = params.choice(request.GET, "geometry", choices=("simplified", "full"))
    try:
        boundary = get_boundary(access, osm_id, retired=True)
    except BoundaryRekeyed as moved:
        target = reverse("api:boundary", kwargs={"osm_id": moved.osm_id})
        query = request.META.get("QUERY_STRING", "")
        return HttpResponsePermanentRedirect(f"{target}?{query}" if query else target)
    retired = boundary.retired_at is not None
    body = boundary_to_dict(
        boundary,
        aliases=aliases_of(access, [boundary.pk])[boundary.pk],
        language=access.name_language,
    )
    body |= {
        "bbox": [boundary.bbox_west, boundary.bbox_south, boundary.bbox_east, boundary.bbox_north]
        if boundary.bbox_west is not None
        else None,
        "area_km2": boundary.area_km2,
        "geometry_source": boundary.geometry_source,
        "ancestors": _retired_ancestors(boundary, language=access.name_language)
        if retired
        else _ancestors(boundary.osm_id, language=access.name_language),
        "has_children": not retired
        and Boundary.objects.filter(parent_id=boundary.pk, retired_at=None).exists(),
        "retired": {
            "at": boundary.retired_at.isoformat().replace("+00:00", "Z"),
            "import": boundary.retired_by_id,
        }
        if boundary.retired_at is not None
        else None,
        "successors": successor_rows(boundary) if retired else [],
        "predecessors": predecessor_rows(boundary),
    }
    if kind is not None:
        body["geometry"] = geometry_geojson(boundary.pk, kind=kind)
    return body


@api_endpoint("GET")
def changes(request: HttpRequest, access: WorkspaceAccess) -> dict[str, Any]:
    """List what imports changed since an import (``since=12``) or a day (``since=2024-05-31``)."""
    query = request.GET
    # Checked as sent (not trimmed): it is an id or a day, nothing else.
    since = params.text(query, "since", required=True, max_length=32) and query["since"]
    page_size = params.integer(query, "page_size", low=1, high=500, default=100)
    page = params.integer(query, "page", low=1, high=1_000_000, default=1)
    assert since is not None and page_size is not None and page is not None
    listing = list_changes(
        access,
        since=parse_since(since),
        country=params.text(query, "country", max_length=64),
        page=page,
        page_size=page_size,
    )
    return _paged(listing, listing.items)


class _Paging(Protocol):
    @property
    def count(self) -> int: ...
    @property
    def page(self) -> int: ...
    @property
    def pages(self) -> int: ...


def _paged(paging: _Paging, results: list[Any]) -> dict[str, Any]:
    """Return a listing's body: how many in all, which page of how many, and its results."""
    return {"count": paging.count, "page": paging.page, "pages": paging.pages, "results": results}


@api_endpoint("GET")
def boundary_children(request: HttpRequest, access: WorkspaceAccess, osm_id: str) -> JsonResponse:
    """Return a boundary's children as GeoJSON at ``?band=0|1|2|full`` (default 1)."""
    return _geojson(children_collection(access, osm_id, band=params.band(request.GET)))


def _ancestors(osm_id: str, *, language: str) -> list[dict[str, Any]]:
    hierarchy = lookup_data.hierarchy()
    place = hierarchy.by_osm_id.get(osm_id)
    chain = []
    while place is not None:
        chain.append(
            {
                "osm_id": place.osm_id,
                "name": place.name,
                "display_name": place.name_in(language),
                "level": place.level,
            }
        )
        place = hierarchy.parent_of(place)
    return chain[:0:-1]


def _retired_ancestors(boundary: Boundary, *, language: str) -> list[dict[str, Any]]:
    """Return a retired boundary's ancestors as they stand (its parent may be retired too)."""
    chain = []
    parent_id = boundary.parent_id
    while parent_id is not None:
        parent = Boundary.objects.only(
            "osm_id", "name", "name_en", "names", "level", "parent_id"
        ).get(pk=parent_id)
        chain.append(
            {
                "osm_id": parent.osm_id,
                "name": parent.name,
                "display_name": display_name(
                    language, name=parent.name, name_en=parent.name_en, names=parent.names
                ),
                "level": parent.level,
            }
        )
        parent_id = parent.parent_id
    return chain[::-1]


@api_endpoint("GET")
def export(request: HttpRequest, access: WorkspaceAccess) -> StreamingHttpResponse:
    """Stream the workspace's boundaries as a file in the Mipaka layout (``geo.exporting``).

    ``format=gpkg|shp|geojson|csv`` (shp: a zip), ``country=`` (repeatable;
    default every country the workspace sees), ``geometry=full|simplified``
    (``none``: names and codes only, null geometries); the aliases column holds the workspace's aliases.
    """
    query = request.GET
    file_format = params.choice(query, "format", choices=FORMATS)
    if file_format is None:
        raise InvalidQuery(f"format: required, one of {', '.join(FORMATS)}")
    countries = [params.check_text(value, field="country") for value in query.getlist("country")]
    scope = export_scope(
        countries=countries,
        workspace_id=access.id,
        workspace_country_id=access.country_id,
        geometry=params.choice(query, "geometry", choices=GEOMETRIES) or "full",
    )
    response = StreamingHttpResponse(
        stream_export(scope, file_format=file_format), content_type=CONTENT_TYPES[file_format]
    )
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", "-".join(["mipaka-boundaries", *scope.osm_ids]))
    response["Content-Disposition"] = f'attachment; filename="{stem}.{EXTENSIONS[file_format]}"'
    return response


@api_endpoint("GET")
def countries(request: HttpRequest, access: WorkspaceAccess) -> JsonResponse:
    """Return the workspace's countries (or its one country) as GeoJSON at ``?band=``."""
    return _geojson(countries_collection(access, band=params.band(request.GET)))


def _geojson(collection: dict[str, Any]) -> JsonResponse:
    return JsonResponse(
        collection, content_type=GEOJSON_CONTENT_TYPE, json_dumps_params={"ensure_ascii": False}
    )


@api_endpoint("POST")
def counts(request: HttpRequest, access: WorkspaceAccess) -> dict[str, Any]:
    """Total a CSV (``text/csv``) or JSON table of counts per boundary, by osm_id.

    Counting stores nothing, so read-only tokens may do it.
    """
    if request.content_type == "text/csv":
        try:
            text = params.body_bytes(request, max_bytes=MAX_COUNTS_BYTES).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidQuery("body: CSV must be UTF-8") from None
        rows = parse_csv(params.check_text(text, field="body"))
    elif request.content_type == "application/json":
        body = params.json_body(request, fields={"rows"}, max_bytes=MAX_COUNTS_BYTES)
        records = body.get("rows")
        for position, record in enumerate(records if isinstance(records, list) else []):
            for column in KEY_COLUMNS:
                value = record.get(column) if isinstance(record, dict) else None
                if isinstance(value, str):
                    params.check_text(value, field=f"rows[{position}].{column}")
        rows = parse_json(body)
    else:
        raise UnsupportedMediaType("body: send text/csv or application/json")
    hierarchy, result = count_by_boundary(access, rows)
    return {
        "values": {hierarchy.places[i].osm_id: v for i, v in result.totals.items()},
        "matched_rows": result.matched_rows,
        "unmatched": [{"line": u.line, "key": u.key, "reason": u.reason} for u in result.unmatched],
    }


@api_endpoint("POST")
def resolve_values(request: HttpRequest, access: WorkspaceAccess) -> dict[str, Any]:
    """Resolve stored values (paths, osm_ids, codes, names) to what each means today.

    Resolving stores nothing, so read-only tokens may do it.
    """
    body = params.json_body(request, fields={"values", "level"}, max_bytes=MAX_RESOLVE_BYTES)
    values = body.get("values")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidQuery("values: required, a list of strings")
    if len(values) > MAX_RESOLVE_VALUES:
        raise InvalidQuery(
            f"values: at most {MAX_RESOLVE_VALUES:,} per request, got {len(values):,}"
        )
    for position, value in enumerate(values):
        params.check_text(value, field=f"values[{position}]")
        if len(value) > params.MAX_TEXT_LENGTH:
            raise InvalidQuery(
                f"values[{position}]: longer than {params.MAX_TEXT_LENGTH} characters"
            )
    level = body.get("level")
    # JSON Schema counts 2.0 as an integer; so does this.
    if isinstance(level, float) and level.is_integer():
        level = int(level)
    # Left out means every level; given (null included), it must be one.
    if "level" in body and (
        not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 3
    ):
        raise InvalidQuery("level: must be a whole number from 0 to 3")
    return {
        "results": [resolution_to_dict(r) for r in resolve(values, workspace=access, level=level)]
    }


@api_endpoint("GET", "PUT")
def boundary_aliases(request: HttpRequest, access: WorkspaceAccess, osm_id: str) -> dict[str, Any]:
    """Read or replace the workspace's aliases of one boundary."""
    if request.method == "PUT":
        require_role(access, Role.EDITOR)
        body = params.json_body(request, fields={"aliases"})
        aliases = body.get("aliases")
        if not isinstance(aliases, list):
            raise InvalidQuery("aliases: required, a list of strings")
        workspace = Workspace.objects.get(pk=access.id)
        return {
            "osm_id": osm_id,
            "aliases": set_aliases(
                workspace=workspace, osm_id=osm_id, aliases=aliases, actor=access.actor
            ),
        }
    boundary = get_boundary(access, osm_id)
    return {"osm_id": osm_id, "aliases": aliases_of(access, [boundary.pk])[boundary.pk]}
