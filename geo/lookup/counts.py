"""Counts per boundary for choropleth maps: parse rows, resolve them to boundaries, roll up.

Pure functions over a ``Hierarchy`` snapshot: the web map and the API post a
CSV or JSON table of ``osm_id`` (or ``path``, or ``name``) → ``value``; rows
that name no boundary, or several, come back listed with the reason, never
dropped. A value counts for its boundary and for every ancestor, so a map
drilled down to any level shows the totals of that level.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from geo.exceptions import InvalidQuery
from geo.lookup.hierarchy import Hierarchy, NameIndex, Place
from geo.lookup.names import normalise_name, normalise_path

KEY_COLUMNS = ("osm_id", "path", "name")
MAX_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class CountRow:
    """One row of an uploaded table: which boundary (by one key) and its value."""

    line: int
    key_column: str
    key: str
    value: float


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A row that named no boundary of the workspace, or several."""

    line: int
    key: str
    reason: str


@dataclass(slots=True)
class Counts:
    """Totals by boundary id (each boundary plus its descendants), and the rows left over."""

    totals: dict[int, float] = field(default_factory=dict)
    matched_rows: int = 0
    unmatched: list[Unmatched] = field(default_factory=list)


def parse_csv(text: str) -> list[CountRow]:
    """Read a CSV with a header naming a key column (osm_id, path or name) and ``value``.

    Raises
    ------
    InvalidQuery
        No usable header, too many rows, or a value that is not a number
        (the message names the line).
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in reader.fieldnames or []]
    except csv.Error as exc:
        raise InvalidQuery(f"line 1: not CSV ({exc})") from None
    if "value" not in header or not any(column in header for column in KEY_COLUMNS):
        raise InvalidQuery(
            f"line 1: the header needs a column {', '.join(KEY_COLUMNS[:-1])} or"
            f" {KEY_COLUMNS[-1]}, and a column value"
        )
    reader.fieldnames = header
    try:
        return _rows((line, record) for line, record in enumerate(reader, start=2))
    except csv.Error as exc:
        raise InvalidQuery(f"line {reader.line_num}: not CSV ({exc})") from None


def parse_json(body: Any) -> list[CountRow]:
    """Read ``{"rows": [{"osm_id"|"path"|"name": ..., "value": n}, ...]}`` (or the bare list).

    Raises
    ------
    InvalidQuery
        Not a list of objects, too many rows, or a bad value (the message names the row).
    """
    rows = body.get("rows") if isinstance(body, dict) else body
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidQuery("rows: required, a list of objects with osm_id, path or name and value")
    for position, record in enumerate(rows, start=1):
        # JSON is typed: a key is text, a value a number ("12" is CSV's business).
        for column in KEY_COLUMNS:
            if column in record and not isinstance(record[column], str):
                raise InvalidQuery(f"row {position}: {column} must be text")
        value = record.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidQuery(f"row {position}: value must be a number, got {value!r}")
    return _rows((position, record) for position, record in enumerate(rows, start=1))


def _rows(records: Iterable[tuple[int, Mapping[str, Any]]]) -> list[CountRow]:
    rows: list[CountRow] = []
    for line, record in records:
        if len(rows) >= MAX_ROWS:
            raise InvalidQuery(f"rows: at most {MAX_ROWS:,}")
        column = next((c for c in KEY_COLUMNS if str(record.get(c) or "").strip()), None)
        if column is None:
            raise InvalidQuery(f"row {line}: needs one of {', '.join(KEY_COLUMNS)}")
        rows.append(
            CountRow(
                line=line,
                key_column=column,
                key=str(record[column]).strip(),
                value=_number(record.get("value"), line),
            )
        )
    return rows


def _number(raw: object, line: int) -> float:
    if isinstance(raw, bool):
        raise InvalidQuery(f"row {line}: value must be a number, got {raw!r}")
    try:
        value = float(raw.replace(",", "") if isinstance(raw, str) else raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidQuery(f"row {line}: value must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise InvalidQuery(f"row {line}: value must be finite, got {raw!r}")
    return value


def resolve_counts(
    hierarchy: Hierarchy,
    rows: Iterable[CountRow],
    *,
    aliases: NameIndex,
    country_id: int | None,
) -> Counts:
    """Find each row's boundary and add its value to the boundary and its ancestors.

    Names are matched exactly after normalisation (accents, case, punctuation),
    against names, English names and the workspace's aliases at every level; a
    name carried by several boundaries is reported as ambiguous, with a hint
    to use the path or osm_id.
    """
    counts = Counts()
    totals: dict[int, float] = defaultdict(float)
    for row in rows:
        places, reason = _find(hierarchy, row, aliases=aliases, country_id=country_id)
        if len(places) != 1:
            counts.unmatched.append(Unmatched(line=row.line, key=row.key, reason=reason))
            continue
        counts.matched_rows += 1
        place: Place | None = places[0]
        while place is not None:
            totals[place.id] += row.value
            place = hierarchy.parent_of(place)
    counts.totals = dict(totals)
    return counts


def _find(
    hierarchy: Hierarchy, row: CountRow, *, aliases: NameIndex, country_id: int | None
) -> tuple[list[Place], str]:
    def in_scope(place: Place) -> bool:
        return country_id is None or place.country_id == country_id

    if row.key_column == "osm_id":
        place = hierarchy.by_osm_id.get(row.key)
        found = [place] if place is not None and in_scope(place) else []
        return found, f"no boundary with osm_id {row.key!r}"
    if row.key_column == "path":
        found = [p for p in hierarchy.by_path.get(normalise_path(row.key), []) if in_scope(p)]
        return found, f"no boundary with path {row.key!r}"
    key = normalise_name(row.key)
    ids: dict[int, None] = {}
    for level in range(4):
        for index in (hierarchy.names, aliases):
            for place_id, _kind in index.lookup(level, key):
                ids.setdefault(place_id, None)
    found = [hierarchy.places[i] for i in ids if in_scope(hierarchy.places[i])]
    if len(found) > 1:
        paths = "; ".join(sorted(p.path for p in found)[:5])
        return (
            found,
            f"ambiguous: {len(found)} boundaries are named {row.key!r} ({paths}); use path or osm_id",
        )
    return found, f"no boundary named {row.key!r}"
