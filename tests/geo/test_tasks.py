"""Import jobs on real Celery workers (subprocesses), Redis and PostgreSQL; workers killed for real.

Workers run the test settings, whose Redis visibility timeout is a few
seconds, so a killed worker's job comes back to another worker quickly.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import redis
from django.db.models import Count
from django.test import Client

from geo.api.serialize import job_to_dict
from geo.importing.jobs import get_job, submit_upload
from geo.importing.sources import discover_sources
from geo.models import Boundary, ImportJob, ImportRun, ImportStatus, JobStatus
from geo.workspaces import create_operator
from tests.jobs import Worker, broker_key, sample_zip, wait_for, zip_of

pytestmark = pytest.mark.django_db(transaction=True)

# A country whose import takes seconds: long enough to kill a worker in the middle.
SLOW_COUNTRY = "R192796"  # Uganda


def slow_upload(posm_extracts: Path) -> ImportJob:
    """Queue an upload of the slow country's files, zipped in memory."""
    files = sorted(posm_extracts.glob(f"{SLOW_COUNTRY}admin*.json"))
    return submit_upload(
        io.BytesIO(zip_of(files)),
        name=f"{SLOW_COUNTRY}.zip",
        requested_by=None,
        dry_run=False,
        max_bytes=10**9,
    )


def boundaries_in_files(posm_extracts: Path) -> int:
    ids: set[str] = set()
    for source in discover_sources([posm_extracts], country=SLOW_COUNTRY).files:
        ids.update(f["properties"]["osm_id"] for f in orjson.loads(source.read())["features"])
    return len(ids)


def running_run(job_id: int) -> ImportRun | None:
    """The job's import run once it is under way (a stage started), else None."""
    job = ImportJob.objects.select_related("import_run").get(pk=job_id)
    run = job.import_run
    if job.status == JobStatus.RUNNING and run is not None and run.progress_stage:
        return run
    return None


def drained(broker: redis.Redis) -> bool:
    return broker.llen(broker_key("imports")) == 0 and broker.hlen(broker_key("unacked")) == 0


def test_upload_through_the_api_runs_on_a_worker(
    workers: Callable[..., Worker], tmp_path: Path
) -> None:
    """POST a zip → 202 queued; a worker imports it; GET shows the succeeded job and its run."""
    worker = workers("one")
    _, token = create_operator(username="ops")
    client = Client(headers={"Authorization": f"Token {token}"})
    with sample_zip(tmp_path).open("rb") as handle:
        response = client.post("/api/v1/imports", {"file": handle})
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    assert response.json()["status"] == "queued"
    wait_for(
        lambda: client.get(f"/api/v1/imports/{job_id}").json()["status"] == "succeeded",
        "the job to succeed",
        worker,
    )
    body = client.get(f"/api/v1/imports/{job_id}").json()
    assert body["attempts"] == 1
    assert body["run"]["status"] == "succeeded"
    assert body["run"]["counts"]["changes"]["added"] == Boundary.objects.count() > 0
    assert len(body["diff"]["entries"]) == Boundary.objects.count()
    assert worker.runs(ImportRun.objects.get(pk=body["run"]["id"]).pid)


@pytest.mark.real_data
def test_a_killed_worker_job_finishes_once_on_another_worker(
    workers: Callable[..., Worker], broker: redis.Redis, posm_extracts: Path
) -> None:
    """SIGKILL the worker mid-import: the job is delivered again and succeeds once, elsewhere."""
    first, second = workers("first"), workers("second")
    job = slow_upload(posm_extracts)
    wait_for(lambda: running_run(job.pk), "the import to be under way", first, second)
    killed_run = running_run(job.pk)
    assert killed_run is not None
    # Whoever watches sees the import's stage (GET /api/v1/imports/N shows this).
    assert job_to_dict(get_job(job.pk))["progress"]["stage"] in {"read", "repair", "simplify"}
    victim, survivor = (first, second) if first.runs(killed_run.pid) else (second, first)
    assert victim.runs(killed_run.pid)
    victim.kill()

    wait_for(lambda: get_job(job.pk).status == JobStatus.SUCCEEDED, "the job to succeed", survivor)
    # Let every copy the broker handed out meanwhile be delivered and dropped.
    wait_for(lambda: drained(broker), "the imports queue to drain", survivor)
    job = get_job(job.pk)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    assert job.import_run is not None
    assert survivor.runs(job.import_run.pid)
    # The killed attempt's run and one more: no delivery imported it again.
    assert ImportRun.objects.count() == 2
    assert ImportRun.objects.filter(status=ImportStatus.SUCCEEDED).count() == 1
    killed_run.refresh_from_db()
    assert killed_run.status == ImportStatus.ABANDONED
    expected = boundaries_in_files(posm_extracts)
    assert Boundary.objects.count() == expected
    assert job.import_run.counts["changes"] == {"added": expected}
    runs = dict(ImportRun.objects.values_list("status").annotate(n=Count("pk")))
    print(  # the figures of this scenario, shown with pytest -s
        f"\njob {job.pk}: {job.status} after {job.attempts} attempts; runs {runs};"
        f" killed worker {victim.name} (run #{killed_run.pk}, pid {killed_run.pid}),"
        f" finished on {survivor.name} (run #{job.import_run.pk}, pid {job.import_run.pid});"
        f" boundaries {Boundary.objects.count()} = {expected} in the files"
    )


@pytest.mark.real_data
def test_a_job_that_kills_its_worker_twice_fails(
    workers: Callable[..., Worker], broker: redis.Redis, posm_extracts: Path
) -> None:
    """Two attempts each ended by a killed worker: the third delivery marks the job failed."""
    job = slow_upload(posm_extracts)
    seen_runs: list[int] = []
    for name in ("first", "second"):
        worker = workers(name)
        wait_for(
            lambda: (run := running_run(job.pk)) is not None and run.pk not in seen_runs,
            f"attempt {len(seen_runs) + 1} to be under way",
            worker,
        )
        run = running_run(job.pk)
        assert run is not None and worker.runs(run.pid)
        seen_runs.append(run.pk)
        worker.kill()
    third = workers("third")
    wait_for(lambda: get_job(job.pk).status == JobStatus.FAILED, "the job to fail", third)
    wait_for(lambda: drained(broker), "the imports queue to drain", third)
    job = get_job(job.pk)
    assert job.attempts == 3
    assert "gave up after 2 attempts" in job.error
    assert not ImportRun.objects.filter(status=ImportStatus.SUCCEEDED).exists()
    assert Boundary.objects.count() == 0


@pytest.mark.real_data
def test_a_starting_worker_resumes_a_dead_workers_job_at_once(
    workers: Callable[..., Worker], posm_extracts: Path
) -> None:
    """With the broker's timeout at an hour, a worker started after a crash resumes the job itself."""
    hour = {"CELERY_VISIBILITY_TIMEOUT": "3600"}
    first = workers("first", **hour)
    job = slow_upload(posm_extracts)
    wait_for(lambda: running_run(job.pk), "the import to be under way", first)
    first.kill()
    second = workers("second", **hour)
    wait_for(lambda: get_job(job.pk).status == JobStatus.SUCCEEDED, "the job to succeed", second)
    job = get_job(job.pk)
    assert job.attempts == 2
    assert job.import_run is not None and second.runs(job.import_run.pid)
    assert ImportRun.objects.count() == 2
    assert "left by a worker that died; sending it again" in second.log.read_text()


@pytest.mark.real_data
def test_a_live_worker_resumes_a_dead_workers_job(
    workers: Callable[..., Worker], broker: redis.Redis, posm_extracts: Path
) -> None:
    """With the broker's timeout at an hour, the other running worker resumes a killed worker's job."""
    hour = {"CELERY_VISIBILITY_TIMEOUT": "3600"}
    first, second = workers("first", **hour), workers("second", **hour)
    job = slow_upload(posm_extracts)
    wait_for(lambda: running_run(job.pk), "the import to be under way", first, second)
    killed_run = running_run(job.pk)
    assert killed_run is not None
    victim, survivor = (first, second) if first.runs(killed_run.pid) else (second, first)
    victim.kill()
    wait_for(lambda: get_job(job.pk).status == JobStatus.SUCCEEDED, "the job to succeed", survivor)
    job = get_job(job.pk)
    assert job.attempts == 2
    assert job.import_run is not None and survivor.runs(job.import_run.pid)
    assert ImportRun.objects.filter(status=ImportStatus.SUCCEEDED).count() == 1
    # Sent once more, not once per look: the job was marked queued when it was sent.
    assert survivor.log.read_text().count("left by a worker that died; sending it again") == 1
