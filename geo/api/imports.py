"""Import jobs over HTTP (operators only): thin views over ``geo.importing.jobs``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError

from geo import audit
from geo.api import params
from geo.api.errors import api_endpoint
from geo.api.serialize import job_to_dict
from geo.exceptions import InvalidQuery, TooLarge
from geo.importing.jobs import apply_job, get_job, list_jobs, submit_download, submit_upload
from geo.importing.preview import changed_shapes
from geo.models import AuditAction, ImportJob
from geo.workspaces import OperatorAccess

# Room for the multipart envelope around the file (boundaries, headers, fields).
MULTIPART_OVERHEAD_BYTES = 64 * 1024
MAX_DOWNLOAD_BODY_BYTES = 100_000


@api_endpoint("GET", "POST", operator=True)
def imports(request: HttpRequest, access: OperatorAccess) -> JsonResponse | dict[str, Any]:
    """List recent import jobs, or queue one from an upload or a list of countries."""
    if request.method == "GET":
        limit = params.integer(request.GET, "limit", low=1, high=500, default=50)
        assert limit is not None
        return {"results": [job_to_dict(job) for job in list_jobs(limit=limit)]}
    if request.content_type == "multipart/form-data":
        job = _submit_upload(request, access)
    elif request.content_type == "application/json":
        body = params.json_body(
            request, fields=("download", "dry_run"), max_bytes=MAX_DOWNLOAD_BODY_BYTES
        )
        countries = body.get("download")
        if not isinstance(countries, list) or not all(isinstance(c, str) for c in countries):
            raise InvalidQuery('download: required, a list of countries like ["uganda", "R171496"]')
        for country in countries:
            params.check_text(country, field="download")
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise InvalidQuery("dry_run: must be true or false")
        job = submit_download(countries, requested_by=access.user_id, dry_run=dry_run)
    else:
        raise InvalidQuery(
            'send multipart/form-data with a "file" (zip or GeoJSON), or JSON {"download": [...]}'
        )
    return _accepted(job, access)


@api_endpoint("GET", operator=True)
def import_detail(request: HttpRequest, access: OperatorAccess, job_id: int) -> dict[str, Any]:
    """One job: status, attempts, progress, counts, the diff, the error."""
    return job_to_dict(get_job(job_id), detail=True)


@api_endpoint("GET", operator=True)
def import_changes(request: HttpRequest, access: OperatorAccess, job_id: int) -> dict[str, Any]:
    """Return a job's changed boundaries as GeoJSON, before and after.

    A dry run kept them in its record; an applied import's come from the
    history it left.
    """
    run = get_job(job_id).import_run
    return {"type": "FeatureCollection", "features": changed_shapes(run) if run else []}


@api_endpoint("POST", operator=True)
def import_apply(request: HttpRequest, access: OperatorAccess, job_id: int) -> JsonResponse:
    """Queue the real import of a succeeded dry run's input."""
    return _accepted(apply_job(job_id, requested_by=access.user_id), access)


def _submit_upload(request: HttpRequest, access: OperatorAccess) -> ImportJob:
    limit: int = settings.MIPAKA_MAX_UPLOAD_BYTES
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > limit + MULTIPART_OVERHEAD_BYTES:
        raise TooLarge(f"file: larger than the limit of {limit:,} bytes")
    try:
        upload = request.FILES.get("file")
        dry_run = params.boolean(request.POST, "dry_run", default=False)
    except MultiPartParserError as exc:
        raise InvalidQuery(f"body: not valid multipart/form-data ({exc})") from None
    if upload is None:
        raise InvalidQuery('file: required (multipart/form-data with a "file" part)')
    if upload.size is not None and upload.size > limit:
        raise TooLarge(f"file: larger than the limit of {limit:,} bytes")
    return submit_upload(
        upload,
        name=upload.name or "",
        requested_by=access.user_id,
        dry_run=dry_run,
        max_bytes=limit,
    )


def _accepted(job: ImportJob, access: OperatorAccess) -> JsonResponse:
    # Imports change every workspace's boundaries: the log says who asked for each job.
    audit.record(
        AuditAction.IMPORT,
        actor=audit.Actor(f"operator {access.username}", user_id=access.user_id),
        target=f"import job #{job.pk}",
        details={
            "kind": job.kind,
            "dry_run": job.dry_run,
            "countries": job.countries,
            "applies": job.applies_id,
        },
    )
    response = JsonResponse(job_to_dict(job), status=202)
    response["Location"] = f"/api/v1/imports/{job.pk}"
    return response
