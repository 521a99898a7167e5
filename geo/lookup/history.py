"""Reads of boundary history: where a boundary went or came from, and what changed since.

Imports write the history (``geo.importing.load``): ``BoundaryLink`` rows
(predecessor → successor with a share of the predecessor's area) and the
``BoundaryChange`` log. This module only reads them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import F, QuerySet

from geo.exceptions import InvalidQuery
from geo.models import Boundary, BoundaryChange, BoundaryLink
from geo.workspaces import WorkspaceAccess

# ``since``: an import's id, or a day (UTC). The day's pattern is what the API
# documents; a day past its month's end (02-30) counts on into the next month.
SINCE_PATTERN = re.compile(
    r"(?:(?P<run>[0-9]{1,12})|(?P<year>[1-9][0-9]{3})-(?P<month>0[1-9]|1[0-2])"
    r"-(?P<day>0[1-9]|[12][0-9]|3[01]))"
)


@dataclass(frozen=True, slots=True)
class Since:
    """Where a change listing starts: after import ``run``, or from ``moment`` on."""

    run: int | None = None
    moment: dt.datetime | None = None


def parse_since(text: str) -> Since:
    """Read ``since``: an import id (changes of later imports) or ``YYYY-MM-DD`` (UTC).

    >>> parse_since("12")
    Since(run=12, moment=None)
    >>> parse_since("2024-02-30").moment.isoformat()
    '2024-03-01T00:00:00+00:00'

    Raises
    ------
    InvalidQuery
        Neither an import id nor a day.
    """
    found = SINCE_PATTERN.fullmatch(text)
    if found is None:
        raise InvalidQuery("since: an import id (12) or a day (2024-05-31)")
    if found["run"] is not None:
        return Since(run=int(found["run"]))
    first = dt.datetime(int(found["year"]), int(found["month"]), 1, tzinfo=dt.UTC)
    return Since(moment=first + dt.timedelta(days=int(found["day"]) - 1))


def successor_rows(boundary: Boundary) -> list[dict[str, Any]]:
    """Return where a boundary went: the other boundaries its links lead to, newest first."""
    links = (
        BoundaryLink.objects.filter(predecessor=boundary, successor__isnull=False)
        .exclude(successor=boundary)
        .order_by("-created_at", "-share", "id")
    )
    return [_link_row(row, "successor") for row in links.values(*_fields("successor"))]


def predecessor_rows(boundary: Boundary) -> list[dict[str, Any]]:
    """Return the other boundaries whose links lead to this one (it took their area), newest first."""
    links = (
        BoundaryLink.objects.filter(successor=boundary)
        .exclude(predecessor=boundary)
        .order_by("-created_at", "-share", "id")
    )
    return [_link_row(row, "predecessor") for row in links.values(*_fields("predecessor"))]


def _fields(side: str) -> list[str]:
    # Named columns only: a related boundary's geometry is never loaded.
    return ["kind", "share", f"{side}__osm_id", f"{side}__name", f"{side}__path"]


def _link_row(row: dict[str, Any], side: str) -> dict[str, Any]:
    return {
        "osm_id": row[f"{side}__osm_id"],
        "name": row[f"{side}__name"],
        "path": row[f"{side}__path"],
        "kind": row["kind"],
        "share": round(row["share"], 6),
    }


@dataclass(frozen=True, slots=True)
class ChangePage:
    """One page of the change log, oldest first."""

    items: list[dict[str, Any]]
    count: int
    page: int
    pages: int


def list_changes(
    access: WorkspaceAccess,
    *,
    since: Since,
    country: str | None = None,
    page: int = 1,
    page_size: int = 100,
) -> ChangePage:
    """List what imports changed since an import or a day, oldest first, paged.

    Only boundaries of the workspace's country (if it has one) and of
    ``country`` (an osm_id, if given) are listed. Each item names the import,
    when, the kind of change, the boundary (osm_id and path after the change,
    a retired one's last), what it replaced (``was``) and, for a boundary
    that retired, its successors with their shares.
    """
    queryset: QuerySet[BoundaryChange] = BoundaryChange.objects.all()
    if since.run is not None:
        queryset = queryset.filter(import_run_id__gt=since.run)
    if since.moment is not None:
        queryset = queryset.filter(created_at__gte=since.moment)
    if access.country_id is not None:
        queryset = queryset.filter(boundary__country_id=access.country_id)
    if country is not None:
        queryset = queryset.filter(boundary__country__osm_id=country)
    count = queryset.count()
    pages = max(1, -(-count // page_size))
    rows = list(queryset.order_by("created_at", "id")[(page - 1) * page_size : page * page_size])
    successors = _successors_of(rows)
    items = [
        {
            "import": row.import_run_id,
            "at": row.created_at.isoformat().replace("+00:00", "Z"),
            "kind": row.kind,
            "osm_id": row.osm_id,
            "path": row.path,
            "was": row.was or None,
            "successors": successors.get((row.boundary_id, row.import_run_id), []),
        }
        for row in rows
    ]
    return ChangePage(items=items, count=count, page=page, pages=pages)


def _successors_of(
    rows: list[BoundaryChange],
) -> dict[tuple[int, int | None], list[dict[str, Any]]]:
    """Successors (other than itself) of each listed boundary in the run that changed it: one query."""
    if not rows:
        return {}
    links = (
        BoundaryLink.objects.filter(
            predecessor_id__in={row.boundary_id for row in rows},
            import_run_id__in={row.import_run_id for row in rows},
            successor__isnull=False,
        )
        .exclude(successor_id=F("predecessor_id"))
        .order_by("-share", "id")
    )
    found: dict[tuple[int, int | None], list[dict[str, Any]]] = {}
    for link in links.values("predecessor_id", "import_run_id", *_fields("successor")):
        found.setdefault((link["predecessor_id"], link["import_run_id"]), []).append(
            _link_row(link, "successor")
        )
    return found
