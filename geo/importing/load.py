"""The only writer of boundaries: one run's plan, applied inside its transaction.

Rows travel to PostgreSQL by COPY into a temporary staging table, then one
INSERT and one UPDATE move them into place: a few statements per run, not a
few per feature.

Nothing is forgotten. Before a stored boundary changes (name, codes, key,
parent or path, level, geometry) its old state is copied to
``BoundaryVersion``; a boundary that left its source is retired, not deleted,
and linked to the current boundaries that took its area (``BoundaryLink``);
every change is logged in ``BoundaryChange``. All of it in SQL, in the run's
transaction, touching only the rows that change.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from django.db import connection

from geo.exceptions import ImportInProgress, RemovalRefused
from geo.importing.geometry import area_km2, bounding_box
from geo.importing.parse import summarize_features
from geo.importing.plan import ImportPlan, PlannedBoundary, StoredBoundary
from geo.importing.types import Change, ParsedFile, Successor
from geo.models import (
    ChangeKind,
    GeometrySource,
    ImportRun,
    ImportStatus,
    ParsedFileRecord,
    Succession,
)

# pg_advisory_xact_lock key shared by every import: "mipaka" in ASCII, as an int.
IMPORT_LOCK_KEY = 0x6D6970616B61

# A retired boundary's successors are the current boundaries taking at least
# this share of its area: below it is border noise (a redrawn coastline).
MIN_SUCCESSOR_SHARE = 0.01
# One successor whose area is at least this much the retired boundary's own is
# the same place under a new key or name; below it, the successor also took
# other land: a merge.
SAME_PLACE_SHARE = 0.9
# Longest edge (degrees) measured as one great-circle arc when shares are taken.
SEGMENT_DEG = 0.01


@dataclass(slots=True)
class WriteOutcome:
    """What ``write_plan`` did: rows written, and where retired boundaries went."""

    rows: int = 0
    # osm_id of each retired boundary → (its ``Succession`` kind, its successors).
    successors: dict[str, tuple[str, tuple[Successor, ...]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GeometryUpdate:
    """New geometry for one boundary and its measures (``full`` None: the source had none)."""

    full: shapely.MultiPolygon | None
    source: GeometrySource
    digest: str
    bbox: tuple[float, float, float, float] | None = None
    area_km2: float | None = None
    vertex_count: int = 0

    @classmethod
    def measure(
        cls, full: shapely.MultiPolygon | None, *, source: GeometrySource, digest: str
    ) -> GeometryUpdate:
        """Build the update, measuring bbox, area and vertices of ``full``."""
        if full is None:
            return cls(full=None, source=GeometrySource.NONE, digest=digest)
        return cls(
            full=full,
            source=source,
            digest=digest,
            bbox=bounding_box(full),
            area_km2=area_km2(full),
            vertex_count=int(shapely.get_num_coordinates(full)),
        )


def acquire_import_lock(*, wait: bool) -> None:
    """Take the import lock for the current transaction, or refuse clearly.

    Raises
    ------
    ImportInProgress
        Another import holds the lock and ``wait`` is false.
    """
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK_KEY])
            return
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [IMPORT_LOCK_KEY])
        (acquired,) = cursor.fetchone()
    if not acquired:
        other = (
            ImportRun.objects.filter(status=ImportStatus.RUNNING).order_by("-started_at").first()
        )
        who = (
            f" (run #{other.pk}, pid {other.pid}, started {other.started_at:%Y-%m-%d %H:%M:%S} UTC)"
            if other
            else ""
        )
        raise ImportInProgress(
            f"another import is running{who}; nothing was changed. Wait for it, or re-run with --wait"
        )


def try_import_lock() -> bool:
    """Take the import lock for the current transaction if it is free; say whether it was."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [IMPORT_LOCK_KEY])
        (acquired,) = cursor.fetchone()
    return bool(acquired)


# Each run holds a session-level advisory lock (this class, its id) for as long as
# its process lives: PostgreSQL frees it when the connection ends, killed or not.
RUN_LOCK_CLASS = 0x6D6970  # "mip"


def reserve_run_id() -> int:
    """Return the id the next ``ImportRun`` will have (its lock is taken before it exists)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('geo_importrun', 'id'))")
        (run_id,) = cursor.fetchone()
    return int(run_id)


def hold_run_lock(run_id: int) -> None:
    """Take the run's liveness lock on this connection (kept across its transactions)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [RUN_LOCK_CLASS, run_id])


def release_run_lock(run_id: int) -> None:
    """Give the run's liveness lock back: the run has finished and said so."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK_CLASS, run_id])


def settle_abandoned_runs() -> int:
    """Mark the runs still 'running' whose process is gone as abandoned; return how many.

    A run's process is gone when its liveness lock is free (``hold_run_lock``).
    For whoever reads the runs (the imports page and API, the metrics): a
    killed import says so at once, not only when the next import starts.
    """
    settled = 0
    running = ImportRun.objects.filter(status=ImportStatus.RUNNING)
    with connection.cursor() as cursor:
        for run_id in running.values_list("pk", flat=True):
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RUN_LOCK_CLASS, run_id])
            (free,) = cursor.fetchone()
            if not free:
                continue
            try:
                settled += running.filter(pk=run_id).update(
                    status=ImportStatus.ABANDONED, error=ABANDONED_ERROR
                )
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RUN_LOCK_CLASS, run_id])
    return settled


ABANDONED_ERROR = "process ended before finishing; nothing it did was kept"


def mark_abandoned_runs(*, current_run_id: int) -> int:
    """Mark runs still 'running' as abandoned; only call while holding the lock.

    Holding the lock proves no other import is alive, so any other 'running'
    record belongs to a process that was killed (its transaction rolled back).
    """
    return (
        ImportRun.objects.filter(status=ImportStatus.RUNNING)
        .exclude(pk=current_run_id)
        .update(status=ImportStatus.ABANDONED, error=ABANDONED_ERROR)
    )


def read_snapshot() -> list[StoredBoundary]:
    """Read every stored boundary, retired ones too, without geometry, with its alias and workspace counts."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT b.id, b.osm_id, b.name, b.name_en, b.level, b.parent_id, b.country_id, b.path,
                   b.geometry_digest, COALESCE(a.n, 0), COALESCE(w.n, 0), b.simplification,
                   b.names, b.other_names, b.codes, b.retired_at IS NOT NULL
            FROM geo_boundary b
            LEFT JOIN (SELECT boundary_id, count(*) AS n FROM geo_boundaryalias GROUP BY 1) a
              ON a.boundary_id = b.id
            LEFT JOIN (SELECT country_id, count(*) AS n FROM geo_workspace GROUP BY 1) w
              ON w.country_id = b.id
            """
        )
        return [
            StoredBoundary(
                id=row[0],
                osm_id=row[1],
                name=row[2],
                name_en=row[3],
                level=row[4],
                parent_id=row[5],
                country_id=row[6],
                path=row[7],
                geometry_digest=row[8],
                alias_count=row[9],
                workspace_count=row[10],
                simplification=row[11],
                # Django has psycopg hand jsonb over as text.
                names=tuple(sorted(json.loads(row[12]).items())),
                other_names=tuple(row[13]),
                codes=tuple(sorted(json.loads(row[14]).items())),
                retired=row[15],
            )
            for row in cursor.fetchall()
        ]


def read_full_geometries(ids: Iterable[int]) -> dict[int, shapely.MultiPolygon]:
    """Load stored full-resolution geometries (to re-simplify unchanged siblings)."""
    wanted = list(ids)
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, ST_AsBinary(geometry) FROM geo_boundary WHERE id = ANY(%s) AND geometry IS NOT NULL",
            [wanted],
        )
        return {row_id: shapely.from_wkb(bytes(wkb)) for row_id, wkb in cursor.fetchall()}


def read_parsed_records(
    keys: Iterable[tuple[str, int, bool]],
) -> dict[tuple[str, int, bool], ParsedFileRecord]:
    """Find what earlier imports read from files of this content, level and kind."""
    wanted = set(keys)
    digests = {digest for digest, _, _ in wanted}
    records = ParsedFileRecord.objects.filter(content_digest__in=digests)
    return {
        key: record
        for record in records
        if (key := (record.content_digest, record.level, record.simplified)) in wanted
    }


def write_parsed_records(files: Iterable[ParsedFile]) -> None:
    """Remember what this run parsed, for the next import of the same content."""
    # Keyed by content: byte-identical files (the many empty admin2 files) make one record.
    by_key = {
        (parsed.content_digest, parsed.source.level, parsed.source.simplified): ParsedFileRecord(
            content_digest=parsed.content_digest,
            level=parsed.source.level,
            simplified=parsed.source.simplified,
            label=parsed.source.label,
            features=summarize_features(parsed.features),
            quirks=dict(parsed.quirks),
        )
        for parsed in files
        if parsed.content_digest and not parsed.problems
    }
    records = list(by_key.values())
    if not records:
        return
    # A path read again with new content supersedes what was recorded for it.
    ParsedFileRecord.objects.filter(label__in=[r.label for r in records]).exclude(
        content_digest__in=[r.content_digest for r in records]
    ).delete()
    ParsedFileRecord.objects.bulk_create(
        records,
        update_conflicts=True,
        unique_fields=["content_digest", "level", "simplified"],
        update_fields=["label", "features", "quirks", "updated_at"],
    )


def check_retirements(plan: ImportPlan, *, allow_alias_removal: bool) -> None:
    """Refuse retirements that would break a workspace or silently stop aliases matching.

    A retired boundary keeps its aliases, but no lookup finds it any more, so
    its aliases stop working: that needs saying yes to.

    Raises
    ------
    RemovalRefused
        A retired boundary is a workspace's country, or carries aliases and
        ``allow_alias_removal`` is false.
    """
    countries = [row for row in plan.retired if row.workspace_count]
    if countries:
        names = ", ".join(f"{row.path} ({row.osm_id})" for row in countries)
        raise RemovalRefused(
            f"cannot retire {names}: it is the country of a workspace; nothing was changed"
        )
    aliased = [row for row in plan.retired if row.alias_count]
    if aliased and not allow_alias_removal:
        names = "; ".join(
            f"{row.path} ({row.osm_id}, {row.alias_count} aliases)" for row in aliased[:10]
        )
        more = f" and {len(aliased) - 10} more" if len(aliased) > 10 else ""
        raise RemovalRefused(
            f"this import would retire {len(aliased)} boundaries that carry aliases: {names}{more}. "
            "Nothing was changed; re-run with --allow-alias-removal to retire them "
            "(their aliases stop matching)"
        )


# Column name and PostgreSQL type of the staging table, in COPY order.
STAGING_COLUMNS = (
    ("id", "bigint"), ("is_new", "boolean"), ("osm_id", "text"), ("name", "text"),
    ("name_en", "text"), ("level", "smallint"), ("parent_id", "bigint"), ("country_id", "bigint"),
    ("path", "text"), ("set_geometry", "boolean"), ("geometry_wkb", "bytea"),
    ("geometry_source", "text"), ("bbox_west", "double precision"),
    ("bbox_south", "double precision"), ("bbox_east", "double precision"),
    ("bbox_north", "double precision"), ("area_km2", "double precision"),
    ("vertex_count", "integer"), ("geometry_digest", "text"), ("set_simplified", "boolean"),
    ("simplified_wkb", "bytea"), ("simplification", "text"), ("names", "text"),
    ("other_names", "text[]"), ("codes", "text"),
)  # fmt: skip


def write_plan(
    plan: ImportPlan,
    *,
    run_id: int,
    geometries: dict[str, GeometryUpdate],
    simplified: dict[str, shapely.MultiPolygon | None],
    bands: dict[str, dict[int, shapely.MultiPolygon | None]],
    simplification: str,
    rehearsal: bool = False,
) -> WriteOutcome:
    """Apply the plan, keeping every earlier state; return what was written.

    ``rehearsal``: the caller rolls the write back (a dry run that wants the
    successors of what it would retire); skip the statistics refresh.
    """
    boundaries = plan.boundaries
    new = [b for b in boundaries.values() if b.stored is None]
    ids = {b.osm_id: b.stored.id for b in boundaries.values() if b.stored is not None}
    ids.update(zip((b.osm_id for b in new), _reserve_ids(len(new)), strict=True))

    rows = []
    for planned in boundaries.values():
        row = _staging_row(
            planned,
            ids,
            geometries.get(planned.osm_id),
            set_simplified=planned.osm_id in simplified,
            simplified=simplified,
            simplification=simplification,
        )
        if row is not None:
            rows.append(row)
    columns = ", ".join(name for name, _ in STAGING_COLUMNS)
    retired_ids = [row.id for row in plan.retired]
    outcome = WriteOutcome(rows=len(rows) + len(retired_ids))
    with connection.cursor() as cursor:
        # The run's moment, read once: every row it writes (valid_from,
        # valid_to, retired_at, the change log) carries the same time. The
        # clock, not now(): that is the start of the transaction, which may
        # hold earlier runs (tests nest them) or a long read-and-plan.
        cursor.execute(
            "CREATE TEMP TABLE import_clock ON COMMIT DROP AS SELECT clock_timestamp() AS at"
        )
        cursor.execute(
            "CREATE TEMP TABLE import_staging ("
            + ", ".join(f"{name} {kind}" for name, kind in STAGING_COLUMNS)
            + ") ON COMMIT DROP"
        )
        # Binary COPY: WKB travels as raw bytes, with no hex round trip.
        with cursor.cursor.copy(
            f"COPY import_staging ({columns}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types([kind for _, kind in STAGING_COLUMNS])
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            """
            CREATE TEMP VIEW import_staged AS
            SELECT *, ST_GeomFromWKB(geometry_wkb, 4326) AS geometry,
                   ST_GeomFromWKB(simplified_wkb, 4326) AS simplified_geometry
            FROM import_staging
            """
        )
        _write_versions_and_self_links(cursor, run_id=run_id)
        cursor.execute(
            """
            INSERT INTO geo_boundary (
                id, osm_id, name, name_en, level, parent_id, country_id, path, geometry,
                simplified_geometry, geometry_source, bbox_west, bbox_south, bbox_east, bbox_north,
                area_km2, vertex_count, geometry_digest, simplification, created_at, updated_at,
                last_import_id, names, other_names, codes, valid_from)
            SELECT id, osm_id, name, name_en, level, parent_id, country_id, path, geometry,
                simplified_geometry, geometry_source, bbox_west, bbox_south, bbox_east, bbox_north,
                area_km2, vertex_count, geometry_digest, simplification, (SELECT at FROM import_clock), (SELECT at FROM import_clock), %s,
                names::jsonb, other_names, codes::jsonb, (SELECT at FROM import_clock)
            FROM import_staged WHERE is_new
            """,
            [run_id],
        )
        cursor.execute(
            """
            UPDATE geo_boundary b SET
                osm_id = s.osm_id, name = s.name, name_en = s.name_en, level = s.level,
                parent_id = s.parent_id, country_id = s.country_id, path = s.path,
                names = s.names::jsonb, other_names = s.other_names, codes = s.codes::jsonb,
                geometry = CASE WHEN s.set_geometry THEN s.geometry ELSE b.geometry END,
                geometry_source = CASE WHEN s.set_geometry THEN s.geometry_source ELSE b.geometry_source END,
                bbox_west = CASE WHEN s.set_geometry THEN s.bbox_west ELSE b.bbox_west END,
                bbox_south = CASE WHEN s.set_geometry THEN s.bbox_south ELSE b.bbox_south END,
                bbox_east = CASE WHEN s.set_geometry THEN s.bbox_east ELSE b.bbox_east END,
                bbox_north = CASE WHEN s.set_geometry THEN s.bbox_north ELSE b.bbox_north END,
                area_km2 = CASE WHEN s.set_geometry THEN s.area_km2 ELSE b.area_km2 END,
                vertex_count = CASE WHEN s.set_geometry THEN s.vertex_count ELSE b.vertex_count END,
                geometry_digest = CASE WHEN s.set_geometry THEN s.geometry_digest ELSE b.geometry_digest END,
                simplification = CASE WHEN s.set_simplified THEN s.simplification
                                      ELSE b.simplification END,
                simplified_geometry = CASE WHEN s.set_simplified THEN s.simplified_geometry
                                           ELSE b.simplified_geometry END,
                valid_from = CASE WHEN c.id IS NULL THEN b.valid_from ELSE (SELECT at FROM import_clock) END,
                retired_at = NULL, retired_by_id = NULL,
                updated_at = (SELECT at FROM import_clock), last_import_id = %s
            FROM import_staged s LEFT JOIN import_changed c ON c.id = s.id
            WHERE b.id = s.id AND NOT s.is_new
            """,
            [run_id],
        )
        _write_shapes(cursor, {ids[osm_id]: shapes for osm_id, shapes in bands.items()})
        if retired_ids:
            # Kept, with its aliases (they match again if it comes back); its
            # zoom-band shapes are derived data, made again on restore.
            cursor.execute(
                "UPDATE geo_boundary SET retired_at = (SELECT at FROM import_clock), retired_by_id = %s,"
                " updated_at = (SELECT at FROM import_clock), last_import_id = %s WHERE id = ANY(%s)",
                [run_id, run_id, retired_ids],
            )
            cursor.execute(
                "DELETE FROM geo_boundaryshape WHERE boundary_id = ANY(%s)", [retired_ids]
            )
            outcome.successors = _link_retired(cursor, plan, run_id=run_id)
        _write_changes(cursor, plan, ids, outcome.successors, run_id=run_id)
        # ON COMMIT DROP is not enough when the run is nested in an outer transaction (tests).
        cursor.execute("DROP VIEW import_staged")
        cursor.execute("DROP TABLE import_changed")
        cursor.execute("DROP TABLE import_staging")
        cursor.execute("DROP TABLE import_clock")
        if not rehearsal:
            # Fresh statistics: after a bulk write the planner's guesses (rows per
            # tile, per band) are far off, and tile queries pick poor plans.
            # (geo_boundary's geometry columns are left out: sampling them reads
            # every full geometry, and no query's plan turns on their statistics.)
            cursor.execute(
                "ANALYZE geo_boundary (id, level, parent_id, country_id, retired_at),"
                " geo_boundaryshape"
            )
    return outcome


def _write_versions_and_self_links(cursor: Any, *, run_id: int) -> None:
    """Copy the old state of every staged boundary that changes into ``BoundaryVersion``; self-link it.

    A change is any difference in key, names (variants too), codes, level, parent, path
    (an ancestor's rename changes it) or geometry; a restored boundary's
    state before it was retired is kept too, ending when it was retired.
    The changed rows are left in ``import_changed`` (with what changed) for
    the UPDATE, the self-links and the change log. Unchanged rows cost a
    join, nothing more.
    """
    cursor.execute(
        """
        CREATE TEMP TABLE import_changed ON COMMIT DROP AS
        SELECT b.id, b.retired_at IS NOT NULL AS restored,
               b.name <> s.name AS renamed,
               b.parent_id IS DISTINCT FROM s.parent_id AS moved,
               b.osm_id <> s.osm_id AS rekeyed
        FROM geo_boundary b JOIN import_staging s ON s.id = b.id
        WHERE NOT s.is_new AND (
            b.retired_at IS NOT NULL OR b.osm_id <> s.osm_id OR b.name <> s.name
            OR b.name_en <> s.name_en OR b.names <> s.names::jsonb
            OR b.other_names::text[] <> s.other_names
            OR b.codes <> s.codes::jsonb OR b.level <> s.level
            OR b.parent_id IS DISTINCT FROM s.parent_id OR b.path <> s.path OR s.set_geometry)
        """
    )
    cursor.execute(
        """
        INSERT INTO geo_boundaryversion (
            boundary_id, osm_id, name, name_en, names, codes, other_names, level, parent_id, path,
            geometry, simplified_geometry, valid_from, valid_to, ended_by_id)
        SELECT b.id, b.osm_id, b.name, b.name_en, b.names, b.codes, b.other_names, b.level,
               b.parent_id, b.path,
               b.geometry, b.simplified_geometry, b.valid_from,
               CASE WHEN c.restored THEN b.retired_at ELSE (SELECT at FROM import_clock) END,
               CASE WHEN c.restored THEN b.retired_by_id ELSE %s END
        FROM import_changed c JOIN geo_boundary b ON b.id = c.id
        """,
        [run_id],
    )
    # A renamed, moved or re-keyed boundary is its own successor, once per kind.
    cursor.execute(
        """
        INSERT INTO geo_boundarylink (predecessor_id, successor_id, import_run_id, kind, share,
                                      created_at)
        SELECT c.id, c.id, %s, k.kind, 1.0, (SELECT at FROM import_clock)
        FROM import_changed c
        CROSS JOIN LATERAL (VALUES (%s, c.renamed), (%s, c.moved), (%s, c.rekeyed)) AS k(kind, flag)
        WHERE k.flag AND NOT c.restored
        """,
        [run_id, Succession.RENAMED, Succession.MOVED, Succession.REKEYED],
    )


def _link_retired(
    cursor: Any, plan: ImportPlan, *, run_id: int
) -> dict[str, tuple[str, tuple[Successor, ...]]]:
    """Link each retired boundary to the current boundaries that took its area.

    Successors are the current boundaries of the same level and country
    (after the write) whose full geometry covers at least
    ``MIN_SUCCESSOR_SHARE`` of the retired one's; shares are geodesic areas.
    Several successors: a split. One that also took land of another boundary
    retired now, or much more land than the retired one had: a merge. One
    alone: the same place, re-keyed (same name) or renamed. None: retired.
    """
    retired = {row.id: row for row in plan.retired}
    # Geodesic areas of the planar (degree) shapes, their edges first cut to
    # at most SEGMENT_DEG: then a great-circle edge and the degree-space edge
    # it stands for bound the same area, and the pieces of a boundary add up
    # to the whole (a square split in halves gives 0.5 and 0.5).
    cursor.execute(
        f"""
        WITH r AS (
            SELECT id, level, country_id, geometry,
                   ST_Area(ST_Segmentize(geometry, {SEGMENT_DEG})::geography) AS area
            FROM geo_boundary WHERE id = ANY(%s) AND geometry IS NOT NULL
        )
        SELECT r.id, c.id, c.osm_id, c.name, c.path,
               ST_Area(ST_Segmentize(ST_Intersection(r.geometry, c.geometry), {SEGMENT_DEG})
                       ::geography) / r.area,
               r.area / NULLIF(ST_Area(ST_Segmentize(c.geometry, {SEGMENT_DEG})::geography), 0)
        FROM r JOIN geo_boundary c
          ON c.level = r.level AND c.country_id = r.country_id AND c.retired_at IS NULL
         AND c.geometry && r.geometry AND ST_Intersects(c.geometry, r.geometry)
        WHERE r.area > 0
        ORDER BY r.id, 6 DESC, c.path
        """,  # noqa: S608 (a constant)
        [list(retired)],
    )
    found: dict[int, list[tuple[int, str, str, str, float, float]]] = defaultdict(list)
    for retired_id, successor_id, osm_id, name, path, share, relative_size in cursor.fetchall():
        if share >= MIN_SUCCESSOR_SHARE:
            # Measured on differently cut edges, a whole may come out a hair over 1.
            found[retired_id].append(
                (successor_id, osm_id, name, path, min(share, 1.0), relative_size or 0)
            )
    predecessors = Counter(entry[0] for entries in found.values() for entry in entries)
    links: list[tuple[int, int | None, str, float]] = []
    outcome: dict[str, tuple[str, tuple[Successor, ...]]] = {}
    for retired_id, row in retired.items():
        entries = found.get(retired_id, [])
        if not entries:
            kind = Succession.RETIRED
        elif len(entries) > 1:
            kind = Succession.SPLIT
        else:
            successor_id, _, name, _, share, relative_size = entries[0]
            # relative_size: the retired area over the successor's; a share of
            # it this far below 1 means the successor took other land too.
            if predecessors[successor_id] > 1 or share * relative_size < SAME_PLACE_SHARE:
                kind = Succession.MERGED
            elif name.casefold() == row.name.casefold():
                kind = Succession.REKEYED
            else:
                kind = Succession.RENAMED
        successors = tuple(
            Successor(osm_id=osm_id, name=name, path=path, kind=kind, share=share)
            for _, osm_id, name, path, share, _ in entries
        )
        outcome[row.osm_id] = (str(kind), successors)
        if entries:
            links.extend((retired_id, entry[0], kind, entry[4]) for entry in entries)
        else:
            links.append((retired_id, None, kind, 0.0))
    cursor.executemany(
        "INSERT INTO geo_boundarylink (predecessor_id, successor_id, import_run_id, kind, share,"
        " created_at) VALUES (%s, %s, %s, %s, %s, (SELECT at FROM import_clock))",
        [(pred, succ, run_id, str(kind), share) for pred, succ, kind, share in links],
    )
    return outcome


# Diff changes logged in ``BoundaryChange`` (UPDATED, a label change, is not).
LOGGED_CHANGES = {
    Change.ADDED: ChangeKind.ADDED,
    Change.RENAMED: ChangeKind.RENAMED,
    Change.MOVED: ChangeKind.MOVED,
    Change.REKEYED: ChangeKind.REKEYED,
    Change.GEOMETRY: ChangeKind.GEOMETRY,
    Change.RESTORED: ChangeKind.RESTORED,
    Change.RETIRED: ChangeKind.RETIRED,
}
# How a retired boundary's change is logged, by its succession kind.
RETIRED_KINDS = {
    Succession.SPLIT: ChangeKind.SPLIT,
    Succession.MERGED: ChangeKind.MERGED,
    Succession.RENAMED: ChangeKind.RENAMED,
    Succession.REKEYED: ChangeKind.REKEYED,
}


def _write_changes(
    cursor: Any,
    plan: ImportPlan,
    ids: dict[str, int],
    successors: dict[str, tuple[str, tuple[Successor, ...]]],
    *,
    run_id: int,
) -> None:
    """Log the run's changes, in diff order, one row per boundary and kind."""
    retired = {row.osm_id: row for row in plan.retired}
    rows = []
    for entry in plan.diff:
        kind = LOGGED_CHANGES.get(entry.change)
        if kind is None:
            continue
        was: dict[str, str] = {}
        if entry.change is Change.RETIRED:
            boundary_id = retired[entry.osm_id].id
            kind = RETIRED_KINDS.get(Succession(successors[entry.osm_id][0]), kind)
        else:
            boundary_id = ids[entry.osm_id]
            planned = plan.boundaries[entry.osm_id]
            old = planned.stored
            if old is not None:
                was = {
                    Change.RENAMED: {"name": old.name, "path": old.path},
                    Change.MOVED: {"path": old.path},
                    Change.REKEYED: {"osm_id": old.osm_id},
                    Change.RESTORED: {"path": old.path} if old.path != planned.path else {},
                }.get(entry.change, {})
        rows.append(
            (run_id, boundary_id, str(kind), entry.osm_id, entry.level, entry.path, json.dumps(was))
        )
    if not rows:
        return
    cursor.execute(
        "CREATE TEMP TABLE change_staging (import_run_id bigint, boundary_id bigint, kind text,"
        " osm_id text, level smallint, path text, was text, position serial)"
    )
    with cursor.cursor.copy(
        "COPY change_staging (import_run_id, boundary_id, kind, osm_id, level, path, was)"
        " FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["bigint", "bigint", "text", "text", "smallint", "text", "text"])
        for row in rows:
            copy.write_row(row)
    cursor.execute(
        "INSERT INTO geo_boundarychange (import_run_id, boundary_id, kind, osm_id, level, path,"
        " was, created_at)"
        " SELECT import_run_id, boundary_id, kind, osm_id, level, path, was::jsonb, (SELECT at FROM import_clock)"
        " FROM change_staging ORDER BY position"
    )
    cursor.execute("DROP TABLE change_staging")


def _write_shapes(cursor: Any, shapes: dict[int, dict[int, shapely.MultiPolygon | None]]) -> None:
    """Replace the zoom-band shapes of these boundaries (already in EPSG:3857)."""
    if not shapes:
        return
    cursor.execute("DELETE FROM geo_boundaryshape WHERE boundary_id = ANY(%s)", [list(shapes)])
    cursor.execute(
        "CREATE TEMP TABLE shape_staging (boundary_id bigint, band smallint, wkb bytea, vertex_count integer)"
    )
    with cursor.cursor.copy(
        "COPY shape_staging (boundary_id, band, wkb, vertex_count) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["bigint", "smallint", "bytea", "integer"])
        for boundary_id, per_band in shapes.items():
            for band, shape in per_band.items():
                if shape is not None:
                    copy.write_row(
                        (boundary_id, band, _wkb(shape), int(shapely.get_num_coordinates(shape)))
                    )
    cursor.execute(
        "INSERT INTO geo_boundaryshape (boundary_id, band, geometry, vertex_count)"
        " SELECT boundary_id, band, ST_GeomFromWKB(wkb, 3857), vertex_count FROM shape_staging"
    )
    cursor.execute("DROP TABLE shape_staging")


def _reserve_ids(count: int) -> Sequence[int]:
    if not count:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('geo_boundary', 'id')) FROM generate_series(1, %s)",
            [count],
        )
        return [row[0] for row in cursor.fetchall()]


def _staging_row(
    planned: PlannedBoundary,
    ids: dict[str, int],
    geometry: GeometryUpdate | None,
    *,
    set_simplified: bool,
    simplified: dict[str, shapely.MultiPolygon | None],
    simplification: str,
) -> tuple[object, ...] | None:
    row = planned.stored
    parent_id = ids[planned.parent_osm_id] if planned.parent_osm_id else None
    country_id = ids[planned.country_osm_id]
    identity = (
        planned.osm_id,
        planned.name,
        planned.name_en,
        planned.level,
        parent_id,
        country_id,
        planned.path,
    )
    stored = (
        None
        if row is None
        else (row.osm_id, row.name, row.name_en, row.level, row.parent_id, row.country_id, row.path)
    )
    labels = (planned.names, planned.other_names, planned.codes)
    identity_changed = stored != identity or (
        row is not None and (row.retired or labels != (row.names, row.other_names, row.codes))
    )
    if not (identity_changed or geometry is not None or set_simplified):
        return None
    full = geometry.full if geometry else None
    bbox = geometry.bbox if geometry and geometry.bbox else (None, None, None, None)
    simple = simplified.get(planned.osm_id) if set_simplified else None
    return (
        ids[planned.osm_id],
        row is None,
        *identity,
        geometry is not None,
        _wkb(full),
        str(geometry.source) if geometry else str(GeometrySource.NONE),
        *bbox,
        geometry.area_km2 if geometry else None,
        geometry.vertex_count if geometry else 0,
        geometry.digest if geometry else "",
        set_simplified,
        _wkb(simple),
        simplification if set_simplified else "",
        json.dumps(dict(planned.names), ensure_ascii=False),
        list(planned.other_names),
        json.dumps(dict(planned.codes), ensure_ascii=False),
    )


def _wkb(shape: shapely.MultiPolygon | None) -> bytes | None:
    return None if shape is None else bytes(shapely.to_wkb(shape))
