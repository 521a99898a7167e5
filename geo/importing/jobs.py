"""Import jobs: imports asked for through the API, run by Celery workers.

A job is a row (``ImportJob``) holding what to import: an uploaded file,
kept in PostgreSQL, or countries to download. The web process records it and
queues its id; a worker on the ``imports`` queue calls ``run_job``.

Exactly once to success, also when workers die:

- The broker message is acknowledged only when the job ends (``acks_late``):
  a worker killed mid-import leaves it to be delivered again.
- Every delivery first takes the job's own advisory lock on a connection of
  its own. PostgreSQL drops it when the worker's process dies, so holding it
  proves that no live worker runs the job; a delivery of a job that a live
  worker runs (the broker re-sends after its visibility timeout) waits for
  that worker, then finds the job finished and does nothing.
- With the lock held, the attempt counter goes up in PostgreSQL
  (``SELECT … FOR UPDATE``). A job already succeeded or failed does nothing;
  a job whose earlier attempts ended their worker ``MAX_ATTEMPTS`` times is
  marked failed rather than tried forever.
- The import itself is one transaction under the import lock, waited for
  (``--wait``) rather than refused, and skips what is already stored: a
  killed attempt left nothing behind, and a re-run changes nothing twice.

Uploaded files are kept ``MIPAKA_UPLOAD_RETENTION_DAYS`` (a dry run may be
applied meanwhile), then every finished job deletes the bytes of older
uploads that no queued or running job needs (``delete_old_uploads``, also
``manage.py delete_old_uploads``): a world upload is 120 MB in the database,
its standby and its backups, and operators upload again and again.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import zipfile
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import IO, NamedTuple

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from geo.exceptions import GeoError, InvalidQuery, JobNotFound, QueueUnavailable, TooLarge
from geo.importing.countries import resolve_relations
from geo.importing.download import DEFAULT_BASE_URL, candidate_names, download_country
from geo.importing.run import import_geojson
from geo.importing.sources import LEVEL_FILE, RELATION_FILE
from geo.lookup.tiles import prerender_after_import
from geo.models import ImportJob, ImportUpload, ImportUploadChunk, JobKind, JobStatus

logger = logging.getLogger(__name__)

# Deliveries that may start a job; one more means its attempts killed their workers.
MAX_ATTEMPTS = 2
# Uploaded files are stored and read back in pieces of this size.
UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024
# Class of the per-job advisory locks (pg_advisory_lock(class, job id)); the
# two-key form never collides with the import lock's single bigint key.
JOB_LOCK_CLASS = 0x4D4A  # "MJ"
MAX_DOWNLOAD_COUNTRIES = 300
ZIP_MAGIC = b"PK\x03\x04"
SAFE_NAME = re.compile(r"[^\w.\-]+")


def submit_upload(
    file: IO[bytes],
    *,
    name: str,
    requested_by: int | None,
    dry_run: bool,
    max_bytes: int,
) -> ImportJob:
    """Store an uploaded zip or GeoJSON file and queue a job that imports it.

    Parameters
    ----------
    file
        The upload, read in chunks (never whole into memory).
    name
        Its file name: ``*.zip``, or a posm-extracts GeoJSON name
        (``R171496admin1.json``, ``admin_level_2.json``) that tells the
        import its country and level.
    requested_by
        The operator's user id.
    dry_run
        Only work out and record the diff.
    max_bytes
        The size limit.

    Raises
    ------
    InvalidQuery
        No name, a name the import cannot use, an empty file or a broken zip.
    TooLarge
        The file is over ``max_bytes``; nothing was kept.
    QueueUnavailable
        The broker could not be reached; the job is recorded as failed.
    """
    name = SAFE_NAME.sub("_", Path(name or "").name)[:255]
    _check_upload_name(name)
    with transaction.atomic():
        upload = ImportUpload.objects.create(name=name, sha256="")
        digest = hashlib.sha256()
        size = 0
        position = 0
        first = b""
        while chunk := file.read(UPLOAD_CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"file: larger than the limit of {max_bytes:,} bytes")
            first = first or chunk[:4]
            digest.update(chunk)
            ImportUploadChunk.objects.create(upload=upload, position=position, data=chunk)
            position += 1
        if size == 0:
            raise InvalidQuery("file: empty")
        is_zip = name.lower().endswith(".zip")
        if is_zip != (first == ZIP_MAGIC):
            raise InvalidQuery(
                f"file: {name} is not a zip archive"
                if is_zip
                else f"file: {name} is a zip archive; name it *.zip"
            )
        upload.size, upload.sha256 = size, digest.hexdigest()
        upload.save(update_fields=["size", "sha256"])
        job = ImportJob.objects.create(
            kind=JobKind.UPLOAD, upload=upload, dry_run=dry_run, requested_by_id=requested_by
        )
        transaction.on_commit(partial(_queue, job.pk))
    return _checked_queued(job.pk)


def submit_download(countries: list[str], *, requested_by: int | None, dry_run: bool) -> ImportJob:
    """Queue a job that downloads countries' posm-extracts files and imports them.

    ``countries`` are names, ISO 3166 codes or OSM relation ids, in any mix
    (``["uganda", "RW", "R171496"]``); they are resolved to relation ids now,
    so a typo is an error at once rather than a failed job later.

    Raises
    ------
    InvalidQuery
        No country, too many, or ones the country table cannot resolve.
    QueueUnavailable
        The broker could not be reached; the job is recorded as failed.
    """
    if not countries:
        raise InvalidQuery("download: give at least one country")
    if len(countries) > MAX_DOWNLOAD_COUNTRIES:
        raise InvalidQuery(f"download: at most {MAX_DOWNLOAD_COUNTRIES} countries per job")
    relations = resolve_relations(countries)
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=JobKind.DOWNLOAD,
            countries=relations,
            dry_run=dry_run,
            requested_by_id=requested_by,
        )
        transaction.on_commit(partial(_queue, job.pk))
    return _checked_queued(job.pk)


def apply_job(job_id: int, *, requested_by: int | None) -> ImportJob:
    """Queue a real import of what a succeeded dry run looked at.

    The new job reads the same uploaded file, or downloads the same countries
    again (the repository may have changed since the dry run).

    Raises
    ------
    InvalidQuery
        No such job, or it is not a dry run that succeeded.
    QueueUnavailable
        The broker could not be reached; the job is recorded as failed.
    """
    source = get_job(job_id)
    if not source.dry_run:
        raise InvalidQuery(f"job {job_id} is not a dry run; only a dry run can be applied")
    if source.status != JobStatus.SUCCEEDED:
        raise InvalidQuery(
            f"job {job_id} is {source.status}; only a dry run that succeeded can be applied"
        )
    with transaction.atomic():
        if source.upload_id is not None:
            # Locked: the file is either deleted before this job exists (refused
            # here), or kept because this job waits for it (delete_old_uploads).
            upload = ImportUpload.objects.select_for_update().get(pk=source.upload_id)
            _check_not_deleted(upload, job_id=job_id)
        job = ImportJob.objects.create(
            kind=source.kind,
            upload_id=source.upload_id,
            countries=source.countries,
            dry_run=False,
            applies=source,
            requested_by_id=requested_by,
        )
        transaction.on_commit(partial(_queue, job.pk))
    return _checked_queued(job.pk)


def get_job(job_id: int) -> ImportJob:
    """Return a job with its run and upload.

    Raises
    ------
    JobNotFound
        No such job.
    """
    job = ImportJob.objects.select_related("import_run", "upload").filter(pk=job_id).first()
    if job is None:
        raise JobNotFound(f"no import job {job_id}")
    return job


def list_jobs(*, limit: int = 50) -> list[ImportJob]:
    """Return the most recent jobs, newest first, with their runs and uploads."""
    return list(
        ImportJob.objects.select_related("import_run", "upload")
        .defer("import_run__diff")
        .order_by("-created_at", "-pk")[:limit]
    )


def run_job(job_id: int) -> None:
    """Run one delivery of a job, in a worker: at most one live delivery runs it.

    Safe to call any number of times for the same job (see the module
    docstring): a finished job is left alone, a running one waited for.
    """
    lock = connections.create_connection("default")
    try:
        _hold_job_lock(lock, job_id)
        job = _start_attempt(job_id)
        if job is not None:
            _execute(job)
    finally:
        lock.close()


class DeletedUploads(NamedTuple):
    """What ``delete_old_uploads`` deleted."""

    uploads: int
    bytes: int


def delete_old_uploads(*, days: int) -> DeletedUploads:
    """Delete the bytes of uploads older than ``days`` that no queued or running job needs.

    Each upload's row stays (name, size, digest: what an import read) with
    ``deleted_at`` set; applying a dry run of a deleted file is refused with
    a message that says so. ``days`` 0 deletes nothing.
    """
    if days <= 0:
        return DeletedUploads(0, 0)
    cutoff = timezone.now() - timedelta(days=days)
    waiting = ImportJob.objects.filter(
        upload_id=OuterRef("pk"), status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    )
    with transaction.atomic():
        # Rows another transaction holds (a dry run being applied) are left to the next call.
        locked = list(
            ImportUpload.objects.select_for_update(skip_locked=True)
            .filter(created_at__lt=cutoff, deleted_at__isnull=True)
            .values_list("pk", flat=True)
        )
        # Read after the locks: a job created before them is seen, none can be created after.
        old = ImportUpload.objects.filter(pk__in=locked).exclude(Exists(waiting))
        sizes = dict(old.values_list("pk", "size"))
        if not sizes:
            return DeletedUploads(0, 0)
        ids, size = list(sizes), sum(sizes.values())
        ImportUploadChunk.objects.filter(upload_id__in=ids).delete()
        ImportUpload.objects.filter(pk__in=ids).update(deleted_at=timezone.now())
    logger.info("deleted %d uploaded files older than %d days (%d bytes)", len(ids), days, size)
    return DeletedUploads(len(ids), size)


def requeue_stranded_jobs(*, lost_after_seconds: int) -> list[int]:
    """Send again the jobs no live worker runs and no queue may still hold; return their ids.

    Called when a worker starts, and every few seconds by each live worker
    (``geo.tasks``). After a power loss or a killed worker, the broker hands
    the job out again only after its visibility timeout (hours); a worker
    resumes it at once instead. "Running" jobs whose lock is free were left
    by a dead worker; queued jobs older than ``lost_after_seconds`` (the
    visibility timeout) lost their message. A needless extra copy is
    harmless: a delivery of a finished job does nothing.
    """
    cutoff = timezone.now() - timedelta(seconds=lost_after_seconds)
    candidates = list(
        ImportJob.objects.filter(
            Q(status=JobStatus.RUNNING) | Q(status=JobStatus.QUEUED, created_at__lt=cutoff)
        ).values_list("pk", "status")
    )
    stranded = []
    lock = connections.create_connection("default")
    try:
        with lock.cursor() as cursor:
            for job_id, status in candidates:
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [JOB_LOCK_CLASS, job_id])
                (free,) = cursor.fetchone()
                if not free:
                    continue
                # Marked queued while its lock is held (so no delivery starts it meanwhile):
                # the next look, this worker's or another's, does not send it once more.
                if status == JobStatus.QUEUED or ImportJob.objects.filter(
                    pk=job_id, status=JobStatus.RUNNING
                ).update(status=JobStatus.QUEUED):
                    stranded.append(job_id)
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [JOB_LOCK_CLASS, job_id])
    finally:
        lock.close()
    for job_id in stranded:
        logger.warning("import job %s was left by a worker that died; sending it again", job_id)
        _queue(job_id)
    return stranded


# One-file GIS formats an upload may be (a Shapefile comes zipped, with its sidecars).
GIS_UPLOAD_SUFFIXES = (".gpkg", ".geojson", ".json", ".fgb", ".kml", ".kmz", ".csv")


def _check_upload_name(name: str) -> None:
    if not name:
        raise InvalidQuery("file: the upload needs a file name")
    lower = name.lower()
    if lower.endswith(".shp"):
        raise InvalidQuery(
            f"file: {name!r} is a Shapefile alone; upload it zipped with its .dbf, .shx and .prj"
        )
    if not lower.endswith((".zip", *GIS_UPLOAD_SUFFIXES)):
        raise InvalidQuery(
            f"file: {name!r} is not a file the import reads: a .zip (posm-extracts files,"
            " Shapefiles, any of these), a posm-extracts GeoJSON file (R171496admin1.json,"
            " admin_level_2.json), or one GeoPackage, GeoJSON, FlatGeobuf, KML or CSV file"
        )


def is_posm_extract(path: Path) -> bool:
    """Tell whether ``path`` holds posm-extracts files (read by ``import_geojson``).

    Anything else (COD-AB, geoBoundaries, GADM, any GIS file) is read by
    ``import_boundaries``. A folder is the downloads of a download job.
    """
    if path.is_dir():
        return True

    def posm_name(name: str) -> bool:
        base = Path(name).name
        return bool(RELATION_FILE.match(base) or LEVEL_FILE.match(base))

    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            return any(posm_name(member) for member in archive.namelist())
    return posm_name(path.name)


def _queue(job_id: int) -> None:
    """Send the job to the ``imports`` queue; a broker outage fails the job clearly."""
    from geo.tasks import run_import_job  # noqa: PLC0415 (the task module imports this one)

    try:
        run_import_job.apply_async((job_id,), retry=True)
    except Exception as exc:  # kombu and redis-py raise their own families
        logger.warning("could not queue import job %s: %s", job_id, exc)
        ImportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.FAILED,
            error=f"the job queue could not be reached ({type(exc).__name__}); submit it again",
            finished_at=timezone.now(),
        )


def _checked_queued(job_id: int) -> ImportJob:
    job = get_job(job_id)
    if job.status == JobStatus.FAILED and job.attempts == 0:
        raise QueueUnavailable(f"import job {job_id}: {job.error}")
    return job


def _hold_job_lock(lock: BaseDatabaseWrapper, job_id: int) -> None:
    with lock.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [JOB_LOCK_CLASS, job_id])
        (acquired,) = cursor.fetchone()
        if not acquired:
            logger.info("import job %s runs on another worker; waiting for it to end", job_id)
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [JOB_LOCK_CLASS, job_id])


def _start_attempt(job_id: int) -> ImportJob | None:
    """Count this delivery as an attempt; None when there is nothing (more) to do."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.warning("import job %s does not exist; delivery dropped", job_id)
            return None
        if job.status in {JobStatus.SUCCEEDED, JobStatus.FAILED}:
            logger.info("import job %s already %s; delivery dropped", job_id, job.status)
            return None
        job.attempts += 1
        now = timezone.now()
        if job.attempts > MAX_ATTEMPTS:
            job.status = JobStatus.FAILED
            job.error = (
                f"gave up after {MAX_ATTEMPTS} attempts: each one ended with its worker"
                " (killed, or out of memory?); nothing they did was kept"
            )
            job.finished_at = now
        else:
            job.status = JobStatus.RUNNING
            job.started_at = now
            job.error = ""
        job.save(update_fields=["attempts", "status", "error", "started_at", "finished_at"])
        return job if job.status == JobStatus.RUNNING else None


def _execute(job: ImportJob) -> None:
    try:
        with tempfile.TemporaryDirectory(prefix=f"mipaka-job-{job.pk}-") as folder:
            paths = _materialise(job, Path(folder))
            # posm-extracts files, or any other GIS source (COD-AB, geoBoundaries, GADM...).
            # (GeoPandas is loaded by the worker that needs it, never by a web worker.)
            from geo.importing.gis_import import import_boundaries  # noqa: PLC0415

            importer = import_geojson if all(map(is_posm_extract, paths)) else import_boundaries
            report = importer(
                paths, dry_run=job.dry_run, wait=True, on_run=partial(_link_run, job.pk)
            )
    except GeoError as exc:
        _finish(job.pk, status=JobStatus.FAILED, error=exc.message)
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        _finish(job.pk, status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
    else:
        _finish(job.pk, status=JobStatus.SUCCEEDED, error="")
        if report.made_new_version:
            # After the job is done: maps of the new import need no render at z0-z5.
            prerender_after_import(report.run_id)
    _delete_old_uploads_quietly()


def _delete_old_uploads_quietly() -> None:
    # Housekeeping after each job (no scheduler to run): it never fails the job.
    try:
        delete_old_uploads(days=settings.MIPAKA_UPLOAD_RETENTION_DAYS)
    except DatabaseError:
        logger.warning("old uploads not deleted; the next job tries again", exc_info=True)


def _check_not_deleted(upload: ImportUpload, *, job_id: int) -> None:
    if upload.deleted_at is not None:
        kept = (upload.deleted_at - upload.created_at).days
        raise InvalidQuery(
            f"job {job_id}: its file {upload.name!r} was deleted on"
            f" {upload.deleted_at:%Y-%m-%d}, {kept} days after its upload"
            " (MIPAKA_UPLOAD_RETENTION_DAYS); upload it again"
        )


def _materialise(job: ImportJob, folder: Path) -> list[Path]:
    """Write the job's input into ``folder``: the uploaded file, or the downloads."""
    if job.kind == JobKind.UPLOAD:
        assert job.upload is not None
        _check_not_deleted(job.upload, job_id=job.pk)
        path = folder / job.upload.name
        ids = ImportUploadChunk.objects.filter(upload_id=job.upload_id).order_by("position")
        with path.open("wb") as handle:
            for chunk_id in ids.values_list("pk", flat=True):
                data = ImportUploadChunk.objects.values_list("data", flat=True).get(pk=chunk_id)
                handle.write(data)
        if path.suffix.lower() == ".zip" and not zipfile.is_zipfile(path):
            raise InvalidQuery(f"{job.upload.name}: not a readable zip archive")
        return [path]
    base_url = settings.MIPAKA_DOWNLOAD_BASE_URL or DEFAULT_BASE_URL
    total = len(job.countries) * len(candidate_names("R1"))
    done = 0

    def fetched(name: str) -> None:
        nonlocal done
        done += 1
        ImportJob.objects.filter(pk=job.pk).update(
            progress={"stage": "download", "done": done, "total": total, "file": name}
        )

    for relation in job.countries:
        download_country(relation, directory=folder, base_url=base_url, progress=fetched)
    return [folder]


def _link_run(job_id: int, run_id: int) -> None:
    ImportJob.objects.filter(pk=job_id).update(import_run_id=run_id)


def _finish(job_id: int, *, status: JobStatus, error: str) -> None:
    ImportJob.objects.filter(pk=job_id).update(
        status=status, error=error, finished_at=timezone.now()
    )
