"""``import_geojson``: one import run from paths to committed boundaries.

The run is one durable transaction holding the import lock: either everything
it planned is written, or nothing is (an error, a refusal, Ctrl-C or a killed
process all leave the database as it was). Its ``ImportRun`` record is written
outside that transaction, so the outcome of a failed run is kept too.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Protocol, TypeAlias

import shapely
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from geo.exceptions import GeoError, InvalidInput, NoInput
from geo.importing.geometry import (
    DEFAULT_TOLERANCE_DEG,
    SimplifiedHierarchy,
    repair_geometry,
    simplification_signature,
    simplify_hierarchy,
)
from geo.importing.load import (
    GeometryUpdate,
    WriteOutcome,
    acquire_import_lock,
    check_retirements,
    hold_run_lock,
    mark_abandoned_runs,
    read_full_geometries,
    read_parsed_records,
    read_snapshot,
    release_run_lock,
    reserve_run_id,
    try_import_lock,
    write_parsed_records,
    write_plan,
)
from geo.importing.parse import digest_content, features_from_summary, parse_source
from geo.importing.plan import ImportPlan, PlannedBoundary, StoredBoundary, plan_import
from geo.importing.preview import change_previews
from geo.importing.sources import SourceSelection, discover_sources
from geo.importing.types import (
    Change,
    DiffEntry,
    GeometryState,
    ImportReport,
    ParsedFile,
    SourceFeature,
    SourceFile,
    describe_successors,
    printable,
)
from geo.logs import log_context
from geo.models import GeometrySource, ImportRun, ImportStatus

WORKERS = max(1, min(4, os.cpu_count() or 1))
# Below this much input, forking workers costs more than it saves.
PARALLEL_MIN_BYTES = 4_000_000

logger = logging.getLogger(__name__)


class Progress(Protocol):
    """Receives progress of the stages of a run (a terminal bar, a run record)."""

    def start(self, stage: str, total: int) -> None:
        """Begin a stage of ``total`` steps."""

    def advance(self, amount: int = 1) -> None:
        """Record ``amount`` more steps done."""


class RunRecordProgress:
    """Writes progress to the run's ``ImportRun`` row, at most once a second.

    It uses a connection of its own, outside the import's transaction, so
    whoever watches (the admin, a web page, a Celery caller) sees it move.
    """

    def __init__(self, run_id: int, *, also: Progress | None = None) -> None:
        self.run_id = run_id
        self.also = also
        self.stage = ""
        self.done = 0
        self.total = 0
        self._last_write = 0.0
        self._connection = connections.create_connection("default")

    def start(self, stage: str, total: int) -> None:
        """Begin a stage and record it at once."""
        self.stage, self.done, self.total = stage, 0, total
        self._write(force=True)
        if self.also:
            self.also.start(stage, total)

    def advance(self, amount: int = 1) -> None:
        """Count steps; the record is written at most once a second."""
        self.done += amount
        self._write(force=False)
        if self.also:
            self.also.advance(amount)

    def close(self) -> None:
        """Write the last figures and release the connection."""
        self._write(force=True)
        self._connection.close()

    def _write(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < 1.0:
            return
        self._last_write = now
        with self._connection.cursor() as cursor:
            cursor.execute(
                "UPDATE geo_importrun SET progress_stage = %s, progress_done = %s, progress_total = %s"
                " WHERE id = %s",
                [self.stage, self.done, self.total, self.run_id],
            )


def import_geojson(
    paths: Sequence[str | Path],
    *,
    country: str | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    allow_alias_removal: bool = False,
    wait: bool = False,
    tolerance_deg: float = DEFAULT_TOLERANCE_DEG,
    progress: Progress | None = None,
    on_run: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import boundaries from posm-extracts GeoJSON files, folders or zips.

    Parameters
    ----------
    paths
        Files, folders and zip archives, in any mix.
    country
        Import only this country (``R171496``) out of a larger set.
    dry_run
        Plan and report the diff; write nothing.
    skip_invalid
        Import what is valid and list the rest in ``report.skipped``, instead
        of stopping at the first broken feature.
    allow_alias_removal
        Let the run remove boundaries that carry workspace aliases.
    wait
        Wait for a running import to finish instead of refusing.
    tolerance_deg
        Simplification tolerance in degrees (see ``simplify_coverage``).
    progress
        Optional receiver of stage progress (e.g. a terminal progress bar).
    on_run
        Called with the id of the run's ``ImportRun`` as soon as it is
        recorded (an import job links it, so its progress can be watched).

    Raises
    ------
    GeoError
        Input that cannot be imported, a refused removal, or a concurrent run.
        The database is unchanged whenever this is raised.
    """
    selection = discover_sources(paths, country=country)
    options: dict[str, object] = {"paths": [str(p) for p in paths], "country": country}
    return run_import(
        selection, read_posm_geojson, options=options, country=country, dry_run=dry_run,
        skip_invalid=skip_invalid, allow_alias_removal=allow_alias_removal, wait=wait,
        tolerance_deg=tolerance_deg, progress=progress, on_run=on_run,
    )  # fmt: skip


class SourceReader(Protocol):
    """Reads a run's files into features: one per kind of source (posm GeoJSON, any GIS format)."""

    def __call__(
        self,
        sources: Sequence[SourceFile],
        *,
        stored: Sequence[StoredBoundary],
        report: ImportReport,
        progress: Progress,
    ) -> list[ParsedFile]:
        """Return every file read, adding a line per file to ``report.file_lines``.

        Files parsed anew carry ``content_digest`` (their records are written,
        and ``report.files_parsed`` counts them); the others were rebuilt.
        """


def run_import(
    selection: SourceSelection,
    read: SourceReader,
    *,
    options: dict[str, object],
    country: str | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    allow_alias_removal: bool = False,
    wait: bool = False,
    tolerance_deg: float = DEFAULT_TOLERANCE_DEG,
    progress: Progress | None = None,
    on_run: Callable[[int], None] | None = None,
) -> ImportReport:
    """Run one import of the files ``selection`` chose, read by ``read``.

    The options are those of ``import_geojson``; ``options`` is what the
    run's record keeps of the caller's own (paths, layout flags).

    Raises
    ------
    GeoError
        As ``import_geojson``; the database is unchanged whenever it is raised.
    """
    started = time.monotonic()
    # The liveness lock first, the record after: no reader ever sees the run
    # without its lock and takes a run just starting for one whose process died.
    run_id = reserve_run_id()
    hold_run_lock(run_id)
    run = ImportRun.objects.create(
        id=run_id,
        options={
            **options,
            "dry_run": dry_run,
            "skip_invalid": skip_invalid,
            "allow_alias_removal": allow_alias_removal,
            "tolerance_deg": tolerance_deg,
        },
        files=[source.label for source in selection.files],
        pid=os.getpid(),
        hostname=socket.gethostname(),
    )
    if on_run is not None:
        on_run(run.pk)
    report = ImportReport(
        run_id=run.pk, dry_run=dry_run, files=run.files, skipped=list(selection.skipped)
    )
    if selection.twins_unused:
        report.quirks["simplified_twin_unused"] = selection.twins_unused
    if selection.simplified_only:
        report.quirks["full_file_missing"] = selection.simplified_only
    recorder = RunRecordProgress(run.pk, also=progress)
    # Every line logged during the run (here, or in a job's worker) carries its id.
    with log_context(import_run=run.pk):
        logger.info(
            "import run %s: %d files%s", run.pk, len(run.files), " (dry run)" if dry_run else ""
        )
        try:
            with transaction.atomic(durable=True):
                if not dry_run:
                    acquire_import_lock(wait=wait)
                    mark_abandoned_runs(current_run_id=run.pk)
                _run(selection.files, read, report, recorder, run_id=run.pk, country=country, dry_run=dry_run,
                     skip_invalid=skip_invalid, allow_alias_removal=allow_alias_removal,
                     tolerance_deg=tolerance_deg)  # fmt: skip
        except GeoError as exc:
            _finish(run, report, status=ImportStatus.FAILED, error=exc.message, started=started)
            raise
        except BaseException as exc:  # Ctrl-C, or a bug: still record that nothing was kept
            _finish(
                run,
                report,
                status=ImportStatus.FAILED,
                error=f"{type(exc).__name__}: {exc}",
                started=started,
            )
            raise
        finally:
            recorder.close()
    if dry_run:
        status = ImportStatus.DRY_RUN
    elif report.changed or report.simplified:
        status = ImportStatus.SUCCEEDED
    else:
        status = ImportStatus.UNCHANGED
    _finish(run, report, status=status, error="", started=started)
    return report


def _run(
    sources: Sequence[SourceFile],
    read: SourceReader,
    report: ImportReport,
    progress: RunRecordProgress,
    *,
    run_id: int,
    country: str | None,
    dry_run: bool,
    skip_invalid: bool,
    allow_alias_removal: bool,
    tolerance_deg: float,
) -> None:
    snapshot = read_snapshot()
    features: list[SourceFeature] = []
    problems: list[str] = []
    broken_ids: set[str] = set()
    parsed_files: list[ParsedFile] = []
    for parsed in read(sources, stored=snapshot, report=report, progress=progress):
        if parsed.content_digest:
            parsed_files.append(parsed)
        features.extend(parsed.features)
        report.quirks.update(parsed.quirks)
        problems.extend(str(problem) for problem in parsed.problems)
        broken_ids.update(problem.osm_id for problem in parsed.problems if problem.osm_id)
    report.features_read = len(features)
    if skip_invalid:
        report.skipped.extend(problems)
        problems = []
    # Plan even when files had problems, so one run reports every problem at once;
    # children of a broken feature are not blamed for its absence.
    plan = plan_import(
        features, sources=sources, stored=snapshot, country=country, skip_invalid=skip_invalid,
        broken=broken_ids if not skip_invalid else frozenset(),
        simplification=simplification_signature(tolerance_deg),
    )  # fmt: skip
    problems.extend(_take_plan_findings(report, plan))
    if problems:
        raise InvalidInput(problems)
    _check_something_to_import(plan, report, sources, country=country)
    check_retirements(plan, allow_alias_removal=allow_alias_removal)
    report.diff = plan.diff
    report.total_after = len(plan.boundaries)
    touched = {entry.osm_id for entry in plan.diff}
    report.unchanged_entries = [
        DiffEntry(Change.UNCHANGED, b.osm_id, b.level, b.path)
        for b in plan.boundaries.values()
        if b.in_run and b.stored is not None and b.osm_id not in touched
    ]
    if dry_run:
        report.previews = change_previews(plan)
        if plan.retired:
            _rehearse_retirements(plan, report, progress, run_id=run_id)
        return
    write_parsed_records(parsed_files)
    if plan.diff or _paths_changed(plan) or plan.dirty_groups:
        _apply(plan, report, progress, sources=sources, run_id=run_id, tolerance_deg=tolerance_deg)


def _apply(
    plan: ImportPlan,
    report: ImportReport,
    progress: RunRecordProgress,
    *,
    sources: Sequence[SourceFile],
    run_id: int,
    tolerance_deg: float,
) -> None:
    """Repair, simplify and write what the plan changes."""
    units = _dirty_countries(plan)
    jobs = _repair_jobs(plan)
    simplified_here = {m.osm_id for members in units for m in members}
    # A changed boundary is repaired and measured by the worker that simplifies
    # its country (in parallel, and its shape crosses to the worker once); the
    # few outside every simplified country are repaired here.
    geometries = _repair(
        {k: job for k, job in jobs.items() if k not in simplified_here}, report.quirks, progress
    )
    simplified, bands = _simplify(
        units, jobs, geometries, report.quirks, progress, sources=sources,
        tolerance_deg=tolerance_deg,
    )  # fmt: skip
    report.simplified = len(simplified)
    progress.start("write", 1)
    outcome = write_plan(
        plan,
        run_id=run_id,
        geometries=geometries,
        simplified=simplified,
        bands=bands,
        simplification=simplification_signature(tolerance_deg),
    )
    _describe_retirements(report, outcome)
    progress.advance()


def read_posm_geojson(
    sources: Sequence[SourceFile],
    *,
    stored: Sequence[StoredBoundary],
    report: ImportReport,
    progress: Progress,
) -> list[ParsedFile]:
    """Read posm-extracts GeoJSON files: rebuilt from records where unchanged, else parsed."""
    known = {row.osm_id: row.geometry_digest for row in stored}
    files: list[ParsedFile] = []
    progress.start("read", len(sources))
    to_parse = []
    for source, rebuilt in zip(sources, _rebuild_unchanged(sources, known), strict=True):
        if rebuilt is None:
            to_parse.append(source)
            continue
        files.append(rebuilt)
        report.file_lines.append(
            f"{source.label}: {len(rebuilt.features)} features (content as before)"
        )
        progress.advance()
    with _workers(to_parse) as pool:
        for parsed in pool.map(partial(parse_source, known_digests=known), to_parse):
            files.append(parsed)
            report.files_parsed += 1
            report.file_lines.append(
                f"{parsed.source.label}: {len(parsed.features)} features, {len(parsed.problems)} problems (parsed)"
            )
            progress.advance()
    return files


def _rehearse_retirements(
    plan: ImportPlan, report: ImportReport, progress: RunRecordProgress, *, run_id: int
) -> None:
    """Find where a dry run's retired boundaries would go: write, measure, roll back.

    The successors and their shares come from the very statements a real
    run executes, inside a savepoint that is then rolled back, so the dry
    run's diff says what the import will say. Geometries are repaired (the
    successors' new outlines count), simplification is skipped.
    """
    # Writing, even to roll back, waits on a running import's rows: rehearse
    # only while none runs (holding the lock until the dry run ends).
    if not try_import_lock():
        report.notes.append(
            "where retired boundaries go was not worked out: another import is running"
        )
        return
    geometries = _repair(_repair_jobs(plan), Counter(), progress)
    progress.start("write", 1)
    try:
        with transaction.atomic():
            outcome = write_plan(
                plan, run_id=run_id, geometries=geometries, simplified={}, bands={},
                simplification="", rehearsal=True,
            )  # fmt: skip
            transaction.set_rollback(True)
    except IntegrityError:
        # An import committed since this run read the boundaries (an osm_id
        # it would add now exists): its plan is stale, its rehearsal moot.
        report.notes.append(
            "where retired boundaries go was not worked out: the boundaries changed meanwhile"
        )
        return
    _describe_retirements(report, outcome)
    progress.advance()


def _describe_retirements(report: ImportReport, outcome: WriteOutcome) -> None:
    """Say in the diff where each retired boundary went (``split into A 60%, B 40%``)."""
    report.successors = outcome.successors
    for position, entry in enumerate(report.diff):
        if entry.change is not Change.RETIRED or entry.osm_id not in outcome.successors:
            continue
        kind, successors = outcome.successors[entry.osm_id]
        detail = "; ".join(filter(None, [describe_successors(kind, successors), entry.detail]))
        report.diff[position] = DiffEntry(
            entry.change, entry.osm_id, entry.level, entry.path, detail
        )


def _take_plan_findings(report: ImportReport, plan: ImportPlan) -> list[str]:
    """Add the plan's quirks, skipped lines and notes to the report; return its problems."""
    report.quirks.update(plan.quirks)
    report.skipped.extend(plan.skipped)
    report.notes.extend(plan.notes)
    return [str(problem) for problem in plan.problems]


def _check_something_to_import(
    plan: ImportPlan, report: ImportReport, sources: Sequence[SourceFile], *, country: str | None
) -> None:
    """Fail a run that would import nothing and remove nothing, saying why.

    Raises
    ------
    NoInput
        Every file is empty, every feature was skipped, or none is in ``country``.
    """
    if plan.retired or any(b.in_run for b in plan.boundaries.values()):
        return
    more = f" and {len(sources) - 3} more" if len(sources) > 3 else ""
    files = ", ".join(source.label for source in sources[:3]) + more
    if not report.features_read:
        why = "no file holds a feature"
    elif country:
        why = f"none of its {report.features_read} features is in country {country}"
    else:
        first = f", first: {report.skipped[0]}" if report.skipped else ""
        why = f"all {report.features_read} features were skipped as invalid{first}"
    raise NoInput(f"nothing to import from {files}: {why}; nothing was changed")


def _rebuild_unchanged(
    sources: Sequence[SourceFile], known: dict[str, str]
) -> list[ParsedFile | None]:
    """Rebuild byte-identical files from earlier records; None where a parse is needed.

    Hashing a file costs a fraction of parsing it, and a no-change re-import
    of the whole world is mostly that.
    """
    digests = [_content_digest(source) for source in sources]
    records = read_parsed_records(
        (d, s.level, s.simplified) for d, s in zip(digests, sources, strict=True)
    )
    rebuilt: list[ParsedFile | None] = []
    for digest, source in zip(digests, sources, strict=True):
        record = records.get((digest, source.level, source.simplified))
        features = (
            features_from_summary(source, record.features, known_digests=known) if record else None
        )
        if record is None or features is None:
            rebuilt.append(None)
        else:
            quirks = Counter({name: int(count) for name, count in record.quirks.items()})
            rebuilt.append(ParsedFile(source=source, features=features, problems=[], quirks=quirks))
    return rebuilt


def _content_digest(source: SourceFile) -> str:
    try:
        return digest_content(source.read())
    except OSError:
        return ""  # parsed for real, which reports why it cannot be read


def _paths_changed(plan: ImportPlan) -> bool:
    return any(b.stored is not None and b.stored.path != b.path for b in plan.boundaries.values())


@dataclass(frozen=True, slots=True)
class _RepairJob:
    """A changed feature's geometry as read, to be repaired and measured."""

    geometry: shapely.MultiPolygon | None
    source: GeometrySource
    digest: str


def _repair_jobs(plan: ImportPlan) -> dict[str, _RepairJob]:
    """Return the boundaries whose geometry this run brings anew, by OSM id."""
    jobs: dict[str, _RepairJob] = {}
    for planned in plan.boundaries.values():
        feature = planned.feature
        if feature is None or not (planned.stored is None or planned.geometry_changed):
            continue
        if feature.geometry_state is GeometryState.UNCHANGED:
            continue
        source = GeometrySource.SIMPLIFIED if feature.from_simplified else GeometrySource.FULL
        jobs[planned.osm_id] = _RepairJob(feature.geometry, source, feature.geometry_digest)
    return jobs


def _repair_one(job: _RepairJob, quirks: Counter[str]) -> GeometryUpdate:
    full = repair_geometry(job.geometry, quirks) if job.geometry is not None else None
    update = GeometryUpdate.measure(full, source=job.source, digest=job.digest)
    if update.bbox and update.bbox[0] > update.bbox[2]:
        quirks["crosses_antimeridian"] += 1
    return update


def _repair(
    jobs: dict[str, _RepairJob], quirks: Counter[str], progress: Progress
) -> dict[str, GeometryUpdate]:
    progress.start("repair", len(jobs))
    updates: dict[str, GeometryUpdate] = {}
    for osm_id, job in jobs.items():
        updates[osm_id] = _repair_one(job, quirks)
        progress.advance()
    return updates


def _dirty_countries(plan: ImportPlan) -> list[list[PlannedBoundary]]:
    """Return the members of every country with a change, largest countries first.

    Largest first, so the last worker does not start the biggest job last.
    """
    dirty_countries = {country for country, _level in plan.dirty_groups}
    countries: dict[str, list[PlannedBoundary]] = {}
    for planned in plan.boundaries.values():
        if planned.country_osm_id in dirty_countries:
            countries.setdefault(planned.country_osm_id, []).append(planned)
    return sorted(countries.values(), key=len, reverse=True)


# What a worker gets of one boundary: a shape to repair, or the stored full shape.
_Member: TypeAlias = _RepairJob | shapely.MultiPolygon | None


def _simplify(
    units: list[list[PlannedBoundary]],
    jobs: dict[str, _RepairJob],
    geometries: dict[str, GeometryUpdate],
    quirks: Counter[str],
    progress: Progress,
    *,
    sources: Sequence[SourceFile],
    tolerance_deg: float,
) -> tuple[
    dict[str, shapely.MultiPolygon | None], dict[str, dict[int, shapely.MultiPolygon | None]]
]:
    """Simplify every country with a change: the default geometry and each zoom band.

    A country is simplified whole, every level at once (``simplify_hierarchy``):
    a state's border and its districts' edges are the same line at every band.
    Countries are independent of each other: a run seldom holds a country's
    neighbours, and their outlines (maritime limits vs coastlines) overlap.
    The members' changed geometries (``jobs``) are repaired and measured in
    the same worker; their updates are added to ``geometries``.
    """
    unchanged_ids = [
        m.stored.id for members in units for m in members
        if m.osm_id not in geometries and m.osm_id not in jobs and m.stored is not None
    ]  # fmt: skip
    stored = read_full_geometries(unchanged_ids)
    progress.start("simplify", len(units))

    def hierarchy_of(members: list[PlannedBoundary]) -> tuple[list[_Member], list[int | None]]:
        position = {m.osm_id: i for i, m in enumerate(members)}
        shapes: list[_Member] = [
            jobs[m.osm_id]
            if m.osm_id in jobs
            else geometries[m.osm_id].full
            if m.osm_id in geometries
            else stored.get(m.stored.id)
            if m.stored
            else None
            for m in members
        ]
        parents = [position.get(m.parent_osm_id or "") for m in members]
        return shapes, parents

    simplified: dict[str, shapely.MultiPolygon | None] = {}
    bands: dict[str, dict[int, shapely.MultiPolygon | None]] = {}
    with _workers(sources) as pool:
        results = pool.map(_simplify_country, map(hierarchy_of, units), repeat(tolerance_deg))
        for members, (updates, found, result) in zip(units, results, strict=True):
            quirks.update(found)
            for position, update in updates.items():
                geometries[members[position].osm_id] = update
            for position, member in enumerate(members):
                simplified[member.osm_id] = result.default[position]
                bands[member.osm_id] = {b: shapes[position] for b, shapes in result.bands.items()}
            progress.advance()
    return simplified, bands


def _simplify_country(
    hierarchy: tuple[list[_Member], list[int | None]], tolerance_deg: float
) -> tuple[dict[int, GeometryUpdate], Counter[str], SimplifiedHierarchy]:
    """Repair and measure a country's changed shapes, then simplify it (in a worker)."""
    members, parents = hierarchy
    quirks: Counter[str] = Counter()
    updates = {
        i: _repair_one(member, quirks)
        for i, member in enumerate(members)
        if isinstance(member, _RepairJob)
    }
    shapes = [
        updates[i].full if isinstance(member, _RepairJob) else member
        for i, member in enumerate(members)
    ]
    simplified = simplify_hierarchy(shapes, parents, tolerance_deg=tolerance_deg)
    return updates, quirks, simplified


class _InProcess(Executor):
    """An executor that runs everything here, for runs too small to fork for."""

    def map(self, fn, *iterables, timeout=None, chunksize=1, buffersize=None):  # type: ignore[no-untyped-def]
        return map(fn, *iterables)


@contextlib.contextmanager
def _workers(sources: Sequence[SourceFile]) -> Iterator[Executor]:
    """Worker processes for the pure, CPU-bound stages (GEOS holds the GIL).

    Workers are forked: they inherit the loaded code and never touch the
    database connection, which stays with this process.
    """
    size = sum(_size_hint(source) for source in sources)
    # A daemonic process (a Celery prefork pool process running an import
    # job) may not have children; it runs the stages itself. Celery scales
    # with more worker processes instead.
    if WORKERS == 1 or size < PARALLEL_MIN_BYTES or multiprocessing.current_process().daemon:
        yield _InProcess()
        return
    # What this process holds (every parsed file, by the simplify stage) is the
    # workers' to read, not to collect: frozen, a worker's cycle collector
    # neither walks it nor writes to the pages it shares with this process.
    gc.freeze()
    try:
        with ProcessPoolExecutor(
            max_workers=WORKERS, mp_context=multiprocessing.get_context("fork")
        ) as pool:
            yield pool
    finally:
        gc.unfreeze()


def _size_hint(source: SourceFile) -> int:
    path = getattr(source.read, "__self__", None)
    if isinstance(path, Path):
        return path.stat().st_size
    return PARALLEL_MIN_BYTES  # zip members: assume large


def _finish(
    run: ImportRun, report: ImportReport, *, status: ImportStatus, error: str, started: float
) -> None:
    report.seconds = time.monotonic() - started
    run.status = status
    # Whatever the input held, the record must be storable (no NUL, no lone surrogate).
    run.error = "\n".join(printable(line, limit=2000) for line in error.splitlines())
    run.finished_at = timezone.now()
    run.counts = {
        "features_read": report.features_read,
        "files_parsed": report.files_parsed,
        "boundaries_after": report.total_after,
        "quirks": dict(report.quirks),
        "changes": dict(report.counts()),
        "skipped": len(report.skipped),
        "seconds": round(report.seconds, 3),
    }
    run.diff = {
        "entries": [str(entry) for entry in report.diff[:5000]],
        "changes": [
            {
                "change": str(entry.change),
                "osm_id": entry.osm_id,
                "level": entry.level,
                "path": entry.path,
                "detail": entry.detail,
                **_successor_fields(report, entry),
            }
            for entry in report.diff[:5000]
        ],
        "previews": report.previews,
        "skipped": [printable(line, limit=2000) for line in report.skipped[:5000]],
        "notes": [printable(line, limit=2000) for line in report.notes[:5000]],
    }
    run.save(update_fields=["status", "error", "finished_at", "counts", "diff"])
    release_run_lock(run.pk)


def _successor_fields(report: ImportReport, entry: DiffEntry) -> dict[str, object]:
    """Return a retired entry's succession kind and successors, for the run record."""
    if entry.change is not Change.RETIRED or entry.osm_id not in report.successors:
        return {}
    kind, successors = report.successors[entry.osm_id]
    return {
        "succession": kind,
        "successors": [
            {"osm_id": s.osm_id, "name": s.name, "path": s.path, "share": round(s.share, 6)}
            for s in successors
        ],
    }
