"""Output shaping only: places, matches and import jobs to JSON-ready dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geo.lookup.hierarchy import Hierarchy, Place, display_name
from geo.lookup.matching import Match
from geo.lookup.resolve import Resolution, TodayBoundary
from geo.lookup.service import PointResult
from geo.models import Boundary, ImportJob


def place_to_dict(place: Place, hierarchy: Hierarchy, *, language: str = "") -> dict[str, Any]:
    """Return the fields every lookup result carries.

    ``display_name`` is the name in the workspace's ``language`` where the
    place has one; ``name`` stays the source's name, the one flows store.
    """
    parent = hierarchy.parent_of(place)
    return {
        "osm_id": place.osm_id,
        "name": place.name,
        "name_en": place.name_en,
        "display_name": place.name_in(language),
        "level": place.level,
        "path": place.path,
        "parent_osm_id": parent.osm_id if parent else None,
        "codes": dict(place.codes),
    }


def boundary_to_dict(
    boundary: Boundary, *, aliases: list[str], language: str = ""
) -> dict[str, Any]:
    """Return a stored boundary as listings and details show it (``place_to_dict``'s fields)."""
    return {
        "osm_id": boundary.osm_id,
        "name": boundary.name,
        "name_en": boundary.name_en,
        "display_name": display_name(
            language, name=boundary.name, name_en=boundary.name_en, names=boundary.names
        ),
        "level": boundary.level,
        "path": boundary.path,
        "parent_osm_id": boundary.parent.osm_id if boundary.parent else None,
        "codes": dict(sorted(boundary.codes.items())),
        "aliases": aliases,
    }


def point_result_to_dict(
    result: PointResult, hierarchy: Hierarchy, *, snap: bool, language: str = ""
) -> dict[str, Any]:
    """Return a place found for a point; with ``snap``, also its distance (0 when covering)."""
    body = place_to_dict(result.place, hierarchy, language=language)
    if snap:
        body["distance_m"] = round(result.distance_m, 1)
    return body


def match_to_dict(match: Match, hierarchy: Hierarchy, *, language: str = "") -> dict[str, Any]:
    """Return a place plus how it matched."""
    return {
        **place_to_dict(match.place, hierarchy, language=language),
        "match": {
            "method": str(match.method),
            "field": match.kind,
            "text": match.matched,
            "score": match.score,
        },
    }


def today_to_dict(boundary: TodayBoundary) -> dict[str, Any]:
    """Return one of today's boundaries with the fields every lookup result carries."""
    return {
        "osm_id": boundary.osm_id,
        "name": boundary.name,
        "name_en": boundary.name_en,
        "level": boundary.level,
        "path": boundary.path,
        "parent_osm_id": boundary.parent_osm_id,
    }


def resolution_to_dict(resolution: Resolution) -> dict[str, Any]:
    """Return what a stored value means today: status, boundary, candidates with shares."""
    return {
        "value": resolution.value,
        "status": resolution.status,
        "boundary": today_to_dict(resolution.boundary) if resolution.boundary else None,
        "candidates": [
            {**today_to_dict(candidate.boundary), "share": candidate.share}
            for candidate in resolution.candidates
        ],
    }


def job_to_dict(job: ImportJob, *, detail: bool = False) -> dict[str, Any]:
    """Return an import job: its state, progress, counts, and with ``detail`` the diff."""
    run = job.import_run
    if run is not None and run.progress_stage:
        progress = {
            "stage": run.progress_stage,
            "done": run.progress_done,
            "total": run.progress_total,
        }
    elif job.progress:
        progress = {key: job.progress[key] for key in ("stage", "done", "total")}
    else:
        progress = {"stage": str(job.status), "done": 0, "total": 0}
    body: dict[str, Any] = {
        "id": job.pk,
        "status": job.status,
        "kind": job.kind,
        "dry_run": job.dry_run,
        "attempts": job.attempts,
        "file": {
            "name": job.upload.name,
            "size": job.upload.size,
            "sha256": job.upload.sha256,
            "deleted_at": _time(job.upload.deleted_at),
        }
        if job.upload
        else None,
        "countries": job.countries,
        "applies": job.applies_id,
        "created_at": _time(job.created_at),
        "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at),
        "error": job.error or None,
        "progress": progress,
        "run": {
            "id": run.pk,
            "status": run.status,
            "counts": run.counts,
            "error": run.error or None,
        }
        if run
        else None,
    }
    if detail:
        # The outlines of a dry run's changes are served apart (changes.geojson).
        body["diff"] = (
            {key: value for key, value in run.diff.items() if key != "previews"} if run else None
        )
    return body


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
