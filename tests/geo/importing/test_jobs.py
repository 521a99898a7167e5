"""Import jobs run in this process (``run_job`` is what the Celery task calls)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from geo.api.serialize import job_to_dict
from geo.exceptions import InvalidQuery, JobNotFound, TooLarge
from geo.importing.jobs import (
    MAX_ATTEMPTS,
    apply_job,
    delete_old_uploads,
    get_job,
    run_job,
    submit_download,
    submit_upload,
)
from geo.models import (
    Boundary,
    ImportJob,
    ImportRun,
    ImportStatus,
    ImportUpload,
    ImportUploadChunk,
    JobStatus,
)
from tests.builders import collection, feature, square
from tests.gis_sources import cod_ab_geopackage, cod_ab_shapefiles, posm_places
from tests.jobs import sample_zip
from tests.repository import Repository, country_files

pytestmark = pytest.mark.django_db


def upload(path: Path, *, dry_run: bool = False, max_bytes: int = 10_000_000) -> ImportJob:
    with path.open("rb") as handle:
        return submit_upload(
            handle, name=path.name, requested_by=None, dry_run=dry_run, max_bytes=max_bytes
        )


def test_upload_job_imports_and_records_its_run(tmp_path: Path) -> None:
    """A queued upload job imports the file once run, and links the ImportRun it made."""
    path = sample_zip(tmp_path)
    job = upload(path)
    assert job.upload is not None and job.upload.size == path.stat().st_size
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)
    run_job(job.pk)
    job = get_job(job.pk)
    assert (job.status, job.attempts, job.error) == (JobStatus.SUCCEEDED, 1, "")
    assert job.import_run is not None
    assert job.import_run.status == ImportStatus.SUCCEEDED
    assert job.import_run.counts["changes"] == {"added": Boundary.objects.count()}
    assert Boundary.objects.filter(osm_id="R900000", level=0).exists()
    assert job.finished_at is not None and job.started_at is not None


def test_dry_run_writes_nothing_but_records_the_diff(tmp_path: Path) -> None:
    """A dry-run job leaves boundaries alone; its run holds the diff; apply imports it."""
    job = upload(sample_zip(tmp_path), dry_run=True)
    run_job(job.pk)
    job = get_job(job.pk)
    assert job.status == JobStatus.SUCCEEDED
    assert job.import_run is not None and job.import_run.status == ImportStatus.DRY_RUN
    assert Boundary.objects.count() == 0
    entries = job.import_run.diff["entries"]
    assert any("R900000" in line for line in entries)
    assert len(entries) == job.import_run.counts["changes"]["added"]

    applied = apply_job(job.pk, requested_by=None)
    assert (applied.dry_run, applied.applies_id, applied.upload_id) == (
        False,
        job.pk,
        job.upload_id,
    )
    run_job(applied.pk)
    assert get_job(applied.pk).status == JobStatus.SUCCEEDED
    assert Boundary.objects.count() == len(entries)


def test_only_succeeded_dry_runs_are_applied(tmp_path: Path) -> None:
    """Applying a real import, an unfinished dry run or an unknown job is refused clearly."""
    real = upload(sample_zip(tmp_path))
    with pytest.raises(InvalidQuery, match=f"job {real.pk} is not a dry run"):
        apply_job(real.pk, requested_by=None)
    dry = upload(sample_zip(tmp_path), dry_run=True)
    with pytest.raises(
        InvalidQuery, match=f"job {dry.pk} is queued; only a dry run that succeeded"
    ):
        apply_job(dry.pk, requested_by=None)
    with pytest.raises(JobNotFound, match="no import job 999999"):
        apply_job(999999, requested_by=None)


def test_a_finished_job_delivered_again_does_nothing(tmp_path: Path) -> None:
    """A re-delivery of a succeeded job starts no attempt and no import run."""
    job = upload(sample_zip(tmp_path))
    run_job(job.pk)
    runs = ImportRun.objects.count()
    run_job(job.pk)
    run_job(job.pk)
    job = get_job(job.pk)
    assert (job.status, job.attempts, ImportRun.objects.count()) == (JobStatus.SUCCEEDED, 1, runs)


def test_a_job_whose_attempts_ended_their_workers_fails(tmp_path: Path) -> None:
    """A delivery after MAX_ATTEMPTS started attempts fails the job without importing."""
    job = upload(sample_zip(tmp_path))
    # What two killed workers leave: the job running, its attempts counted, no live lock.
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempts=MAX_ATTEMPTS)
    run_job(job.pk)
    job = get_job(job.pk)
    assert job.status == JobStatus.FAILED
    assert job.attempts == MAX_ATTEMPTS + 1
    assert "gave up after 2 attempts" in job.error
    assert (Boundary.objects.count(), job.import_run) == (0, None)


def test_a_broken_upload_fails_the_job_with_the_import_message(tmp_path: Path) -> None:
    """Input the import refuses fails the job with the import's one-line problems."""
    path = tmp_path / "R1admin0.json"
    path.write_text(json.dumps(collection(feature("R1", "Land", coordinates=[[[0, 0], [500, 0]]]))))
    job = upload(path)
    run_job(job.pk)
    job = get_job(job.pk)
    assert job.status == JobStatus.FAILED
    assert "problem" in job.error and "R1admin0.json" in job.error
    assert job.import_run is not None and job.import_run.status == ImportStatus.FAILED


def test_any_gis_upload_is_imported_by_its_layout(tmp_path: Path, posm_extracts: Path) -> None:
    """A COD-AB GeoPackage, dry run then applied; zipped COD-AB Shapefiles; a broken GeoJSON."""
    rwanda = posm_places(posm_extracts, "R171496", states=2)
    dry = upload(cod_ab_geopackage(rwanda, tmp_path / "rwa.gpkg"), dry_run=True)
    run_job(dry.pk)
    dry = get_job(dry.pk)
    assert (dry.status, dry.error) == (JobStatus.SUCCEEDED, "")
    assert dry.import_run is not None and dry.import_run.status == ImportStatus.DRY_RUN
    assert Boundary.objects.count() == 0
    applied = apply_job(dry.pk, requested_by=None)
    run_job(applied.pk)
    pcodes = set(Boundary.objects.values_list("osm_id", flat=True))
    assert pcodes == {place.pcode for place in rwanda}
    # The same country as HDX publishes it: one zip holding every level's Shapefile.
    bundle = tmp_path / "rwa_shp.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        for level_zip in cod_ab_shapefiles(rwanda, tmp_path / "shp"):
            with zipfile.ZipFile(level_zip) as level:
                for member in level.namelist():
                    archive.writestr(member, level.read(member))
    again = upload(bundle)
    run_job(again.pk)
    again = get_job(again.pk)
    assert again.status == JobStatus.SUCCEEDED, again.error
    assert again.import_run is not None and again.import_run.status == ImportStatus.UNCHANGED
    broken = tmp_path / "uganda.json"
    broken.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature"}]}')
    failed = upload(broken)
    run_job(failed.pk)
    failed = get_job(failed.pk)
    assert failed.status == JobStatus.FAILED
    assert "uganda.json" in failed.error and "Traceback" not in failed.error
    assert set(Boundary.objects.values_list("osm_id", flat=True)) == pcodes


def test_upload_size_limit_and_names(tmp_path: Path) -> None:
    """Too large is TooLarge and keeps nothing; names the import cannot use are refused."""
    big = sample_zip(tmp_path)
    with pytest.raises(TooLarge, match="larger than the limit of 1,000 bytes"):
        upload(big, max_bytes=1000)
    assert ImportJob.objects.count() == 0
    cases = {
        "notes.txt": "is not a file the import reads",
        "rwa_adm1.shp": "a Shapefile alone; upload it zipped with its .dbf",
    }
    for name, message in cases.items():
        with pytest.raises(InvalidQuery, match=message):
            submit_upload(
                io.BytesIO(b"{}"), name=name, requested_by=None, dry_run=False, max_bytes=100
            )
    with pytest.raises(InvalidQuery, match="not a zip archive"):
        submit_upload(
            io.BytesIO(b"{}"), name="x.zip", requested_by=None, dry_run=False, max_bytes=100
        )
    with pytest.raises(InvalidQuery, match="is a zip archive; name it"):
        submit_upload(
            big.open("rb"), name="R1admin0.json", requested_by=None, dry_run=False, max_bytes=10**7
        )
    with pytest.raises(InvalidQuery, match="file: empty"):
        submit_upload(
            io.BytesIO(b""), name="R1admin0.json", requested_by=None, dry_run=False, max_bytes=10
        )


def test_single_geojson_upload(tmp_path: Path) -> None:
    """One GeoJSON file named as posm-extracts name them imports by itself."""
    path = tmp_path / "R5admin0.json"
    path.write_text(json.dumps(collection(feature("R5", "Five", coordinates=square(0, 0)))))
    job = upload(path)
    run_job(job.pk)
    assert get_job(job.pk).status == JobStatus.SUCCEEDED
    assert Boundary.objects.get(osm_id="R5").name == "Five"


def test_download_job_takes_country_names(repo: tuple[Repository, str]) -> None:
    """Names and codes resolve to relation ids at once; the worker downloads and imports them."""
    repository, url = repo
    country_files(repository, "R192796")
    country_files(repository, "R171496")
    job = submit_download(["uganda", "RWA", "R192796"], requested_by=None, dry_run=False)
    assert job.countries == ["R192796", "R171496"]
    with override_settings(MIPAKA_DOWNLOAD_BASE_URL=url):
        run_job(job.pk)
    job = get_job(job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress["stage"] == "download"
    assert job.progress["done"] == job.progress["total"] == 16
    assert set(Boundary.objects.filter(level=0).values_list("osm_id", flat=True)) == {
        "R192796",
        "R171496",
    }


def test_download_job_refuses_unknown_countries() -> None:
    """Unknown names are refused before anything is queued, with close suggestions."""
    with pytest.raises(InvalidQuery, match=r"unknown country 'ugnda' \(did you mean Uganda"):
        submit_download(["ugnda", "RW"], requested_by=None, dry_run=False)
    with pytest.raises(InvalidQuery, match="at least one country"):
        submit_download([], requested_by=None, dry_run=False)
    assert ImportJob.objects.count() == 0


def test_download_failure_fails_the_job(repo: tuple[Repository, str]) -> None:
    """A country the repository lacks fails the job with the download's message."""
    _, url = repo
    job = submit_download(["R7"], requested_by=None, dry_run=False)
    with override_settings(MIPAKA_DOWNLOAD_BASE_URL=url):
        run_job(job.pk)
    job = get_job(job.pk)
    assert job.status == JobStatus.FAILED
    assert "R7: no admin0 file" in job.error


def file_of(job: ImportJob) -> ImportUpload:
    """The job's upload, as stored now."""
    return ImportUpload.objects.get(jobs=job.pk)


def age(job: ImportJob, days: int) -> None:
    """Make the job's upload ``days`` old."""
    ImportUpload.objects.filter(jobs=job.pk).update(
        created_at=timezone.now() - timedelta(days=days)
    )


def test_old_uploads_lose_their_bytes_but_not_their_record(tmp_path: Path) -> None:
    """Past the retention, a finished job's file goes; a waiting job's and a recent one stay."""
    finished = upload(sample_zip(tmp_path), dry_run=True)
    run_job(finished.pk)
    waiting = upload(sample_zip(tmp_path))  # queued, never run
    recent = upload(sample_zip(tmp_path), dry_run=True)
    run_job(recent.pk)
    age(finished, 31)
    age(waiting, 31)
    age(recent, 29)
    size = file_of(finished).size

    assert delete_old_uploads(days=0) == (0, 0)
    assert delete_old_uploads(days=30) == (1, size)
    gone = file_of(finished)
    assert gone.deleted_at is not None
    assert (gone.name, gone.size, len(gone.sha256)) == ("sample.zip", size, 64)
    assert not ImportUploadChunk.objects.filter(upload_id=gone.pk).exists()
    for kept in (waiting, recent):
        assert ImportUploadChunk.objects.filter(upload__jobs=kept.pk).exists()
        assert file_of(kept).deleted_at is None
    assert delete_old_uploads(days=30) == (0, 0)

    with pytest.raises(
        InvalidQuery,
        match=r"its file 'sample.zip' was deleted on [-0-9]+, 31 days after its upload",
    ):
        apply_job(finished.pk, requested_by=None)
    assert job_to_dict(get_job(finished.pk))["file"]["deleted_at"] is not None
    assert job_to_dict(get_job(recent.pk))["file"]["deleted_at"] is None
    # Its dry run is still applicable: the file is there.
    assert apply_job(recent.pk, requested_by=None).upload_id == recent.upload_id


@override_settings(MIPAKA_UPLOAD_RETENTION_DAYS=30)
def test_every_finished_job_deletes_old_uploads(tmp_path: Path) -> None:
    """No scheduler: the next job to finish deletes what the retention allows."""
    old = upload(sample_zip(tmp_path), dry_run=True)
    run_job(old.pk)
    age(old, 31)
    assert file_of(old).deleted_at is None
    later = upload(sample_zip(tmp_path), dry_run=True)
    run_job(later.pk)
    assert get_job(later.pk).status == JobStatus.SUCCEEDED
    assert file_of(old).deleted_at is not None
    assert file_of(later).deleted_at is None


@pytest.mark.django_db(transaction=True)
@override_settings(MIPAKA_UPLOAD_RETENTION_DAYS=30)
def test_a_file_being_applied_is_never_deleted_under_it(tmp_path: Path) -> None:
    """An upload locked by an apply in progress is skipped; once applied, its job keeps it."""
    job = upload(sample_zip(tmp_path), dry_run=True)
    run_job(job.pk)
    age(job, 31)
    applying = connections.create_connection("default")
    try:
        applying.set_autocommit(False)
        with applying.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM geo_importupload WHERE id = %s FOR UPDATE", [file_of(job).pk]
            )
            assert delete_old_uploads(days=30) == (0, 0)
        applying.rollback()
    finally:
        applying.close()
    applied = apply_job(job.pk, requested_by=None)  # queued: its file is needed
    assert delete_old_uploads(days=30) == (0, 0)
    run_job(applied.pk)
    assert get_job(applied.pk).status == JobStatus.SUCCEEDED
    # The applied job was the last to need it: finished, it deleted it.
    assert file_of(job).deleted_at is not None


def test_a_job_whose_file_was_deleted_fails_saying_so(tmp_path: Path) -> None:
    """A job cannot read a deleted file: it fails with the reason, not a broken zip."""
    job = upload(sample_zip(tmp_path))
    ImportUploadChunk.objects.filter(upload__jobs=job.pk).delete()
    ImportUpload.objects.filter(jobs=job.pk).update(deleted_at=timezone.now())
    run_job(job.pk)
    job = get_job(job.pk)
    assert job.status == JobStatus.FAILED
    assert "was deleted on" in job.error and "upload it again" in job.error
    assert Boundary.objects.count() == 0


def test_delete_old_uploads_command(tmp_path: Path) -> None:
    """The command deletes as the jobs do and says how much; --days 0 is refused."""
    job = upload(sample_zip(tmp_path), dry_run=True)
    run_job(job.pk)
    age(job, 8)
    size = file_of(job).size
    out = io.StringIO()
    call_command("delete_old_uploads", "--days", "7", stdout=out)
    assert (
        out.getvalue().strip() == f"Deleted 1 uploaded file(s) older than 7 days ({size:,} bytes)."
    )
    with pytest.raises(CommandError, match="--days: 0 keeps every file"):
        call_command("delete_old_uploads", "--days", "0")
