"""The only writer of boundaries: one run's plan, applied inside its transaction.

Rows travel to PostgreSQL by COPY into a temporary staging table, then one
INSERT and one UPDATE move them into place: a few statements per run, not a
few per feature.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from django.db import connection

from geo.exceptions import ImportInProgress, RemovalRefused
from geo.importing.geometry import area_km2, bounding_box
from geo.importing.parse import summarize_features
from geo.importing.plan import ImportPlan, PlannedBoundary, StoredBoundary
from geo.importing.types import ParsedFile
from geo.models import GeometrySource, ImportRun, ImportStatus, ParsedFileRecord

# pg_advisory_xact_lock key shared by every import: "mipaka" in ASCII, as an int.
IMPORT_LOCK_KEY = 0x6D6970616B61


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


def mark_abandoned_runs(*, current_run_id: int) -> int:
    """Mark runs still 'running' as abandoned; only call while holding the lock.

    Holding the lock proves no other import is alive, so any other 'running'
    record belongs to a process that was killed (its transaction rolled back).
    """
    return (
        ImportRun.objects.filter(status=ImportStatus.RUNNING)
        .exclude(pk=current_run_id)
        .update(
            status=ImportStatus.ABANDONED,
            error="process ended before finishing; nothing it did was kept",
        )
    )


def read_snapshot() -> list[StoredBoundary]:
    """Read every stored boundary without geometry, with its alias and workspace counts."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT b.id, b.osm_id, b.name, b.name_en, b.level, b.parent_id, b.country_id, b.path,
                   b.geometry_digest, COALESCE(a.n, 0), COALESCE(w.n, 0), b.simplification,
                   b.names, b.other_names, b.codes
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


def check_removals(plan: ImportPlan, *, allow_alias_removal: bool) -> None:
    """Refuse removals that would break a workspace or silently drop aliases.

    Raises
    ------
    RemovalRefused
        A removed boundary is a workspace's country, or carries aliases and
        ``allow_alias_removal`` is false.
    """
    countries = [row for row in plan.removed if row.workspace_count]
    if countries:
        names = ", ".join(f"{row.path} ({row.osm_id})" for row in countries)
        raise RemovalRefused(
            f"cannot remove {names}: it is the country of a workspace; nothing was changed"
        )
    aliased = [row for row in plan.removed if row.alias_count]
    if aliased and not allow_alias_removal:
        names = "; ".join(
            f"{row.path} ({row.osm_id}, {row.alias_count} aliases)" for row in aliased[:10]
        )
        more = f" and {len(aliased) - 10} more" if len(aliased) > 10 else ""
        raise RemovalRefused(
            f"this import would remove {len(aliased)} boundaries that carry aliases: {names}{more}. "
            "Nothing was changed; re-run with --allow-alias-removal to remove them and their aliases"
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
) -> int:
    """Apply the plan; return how many boundary rows were written or deleted."""
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
    with connection.cursor() as cursor:
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
        cursor.execute(
            """
            INSERT INTO geo_boundary (
                id, osm_id, name, name_en, level, parent_id, country_id, path, geometry,
                simplified_geometry, geometry_source, bbox_west, bbox_south, bbox_east, bbox_north,
                area_km2, vertex_count, geometry_digest, simplification, created_at, updated_at,
                last_import_id, names, other_names, codes, valid_from)
            SELECT id, osm_id, name, name_en, level, parent_id, country_id, path, geometry,
                simplified_geometry, geometry_source, bbox_west, bbox_south, bbox_east, bbox_north,
                area_km2, vertex_count, geometry_digest, simplification, now(), now(), %s,
                names::jsonb, other_names, codes::jsonb, now()
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
                updated_at = now(), last_import_id = %s
            FROM import_staged s WHERE b.id = s.id AND NOT s.is_new
            """,
            [run_id],
        )
        _write_shapes(cursor, {ids[osm_id]: shapes for osm_id, shapes in bands.items()})
        removed_ids = [row.id for row in plan.removed]
        if removed_ids:
            # Django's CASCADE lives in the ORM, not the database: delete dependants first.
            cursor.execute(
                "DELETE FROM geo_boundaryalias WHERE boundary_id = ANY(%s)", [removed_ids]
            )
            cursor.execute(
                "DELETE FROM geo_boundaryshape WHERE boundary_id = ANY(%s)", [removed_ids]
            )
            cursor.execute("DELETE FROM geo_boundary WHERE id = ANY(%s)", [removed_ids])
        # ON COMMIT DROP is not enough when the run is nested in an outer transaction (tests).
        cursor.execute("DROP VIEW import_staged")
        cursor.execute("DROP TABLE import_staging")
        # Fresh statistics: after a bulk write the planner's guesses (rows per
        # tile, per band) are far off, and tile queries pick poor plans.
        # (geo_boundary's geometry columns are left out: sampling them reads
        # every full geometry, and no query's plan turns on their statistics.)
        cursor.execute("ANALYZE geo_boundary (id, level, parent_id, country_id), geo_boundaryshape")
    return len(rows) + len(plan.removed)


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
        row is not None and labels != (row.names, row.other_names, row.codes)
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
