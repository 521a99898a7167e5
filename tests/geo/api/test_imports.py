"""POST/GET /api/v1/imports: operators only, uploads and downloads, sizes, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings

from config.celery import app as celery_app
from geo.importing.jobs import run_job
from geo.models import Boundary, ImportJob, JobStatus
from geo.workspaces import create_operator, create_workspace, forget_cached_tokens
from tests.jobs import sample_zip

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    _, token = create_operator(username="ops")
    return Client(headers={"Authorization": f"Token {token}"})


def post_file(client: Client, path: Path, **fields: Any) -> Any:
    with path.open("rb") as handle:
        return client.post("/api/v1/imports", {"file": handle, **fields})


def post_json(client: Client, body: object, path: str = "/api/v1/imports") -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")


def test_upload_is_queued_and_reported(operator: Client, tmp_path: Path) -> None:
    """202 with the queued job and its URL; GET shows progress, then the run's counts and diff."""
    response = post_file(operator, sample_zip(tmp_path), dry_run="true")
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["attempts"], body["kind"], body["dry_run"]) == (
        "queued",
        0,
        "upload",
        True,
    )
    assert response["Location"] == f"/api/v1/imports/{body['id']}"
    assert body["file"]["name"] == "sample.zip"
    assert body["progress"] == {"stage": "queued", "done": 0, "total": 0}

    run_job(body["id"])  # what the worker does
    detail = operator.get(f"/api/v1/imports/{body['id']}").json()
    assert (detail["status"], detail["attempts"], detail["error"]) == ("succeeded", 1, None)
    assert detail["run"]["status"] == "dry_run"
    added = detail["run"]["counts"]["changes"]["added"]
    assert len(detail["diff"]["entries"]) == added > 0
    assert Boundary.objects.count() == 0

    listing = operator.get("/api/v1/imports").json()["results"]
    assert [job["id"] for job in listing] == [body["id"]]
    assert "diff" not in listing[0]

    applied = operator.post(f"/api/v1/imports/{body['id']}/apply")
    assert applied.status_code == 202
    assert (applied.json()["applies"], applied.json()["dry_run"]) == (body["id"], False)
    run_job(applied.json()["id"])
    assert Boundary.objects.count() == added


def test_download_by_country_names(operator: Client) -> None:
    """JSON {"download": [...]} takes names, ISO codes and relation ids."""
    response = post_json(operator, {"download": ["R171496", "uganda", "UG"], "dry_run": True})
    assert response.status_code == 202
    assert response.json()["countries"] == ["R171496", "R192796"]
    assert ImportJob.objects.get().dry_run is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"download": ["ugnda"]}, "unknown country 'ugnda' (did you mean Uganda (UG, R192796)?)"),
        ({"download": ["Kenya"]}, "Kenya (KE) has no OSM relation id"),
        ({"download": "uganda"}, "download: required, a list of countries"),
        ({"download": []}, "download: give at least one country"),
        ({"download": ["RW"], "dry_run": "yes"}, "dry_run: must be true or false"),
        ({}, "download: required"),
    ],
)
def test_bad_download_requests(operator: Client, body: object, message: str) -> None:
    """Bad input is a 400 with one clear message; nothing is queued."""
    response = post_json(operator, body)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert not ImportJob.objects.exists()


def test_bad_uploads(operator: Client, tmp_path: Path) -> None:
    """No file, a name the import cannot use, or a fake zip: 400; other bodies: 400."""
    cases = [
        ({"other": SimpleUploadedFile("x.zip", b"PK")}, "file: required"),
        ({"file": SimpleUploadedFile("uganda.txt", b"{}")}, "is not a file the import reads"),
        ({"file": SimpleUploadedFile("x.zip", b"not a zip")}, "x.zip is not a zip archive"),
    ]
    for data, message in cases:
        response = operator.post("/api/v1/imports", data)
        assert response.status_code == 400, data
        assert message in response.json()["error"]["message"]
    response = operator.post("/api/v1/imports", "a,b", content_type="text/csv")
    assert response.status_code == 400
    assert "multipart/form-data" in response.json()["error"]["message"]
    assert not ImportJob.objects.exists()


def test_size_limit(operator: Client, tmp_path: Path) -> None:
    """A file over MIPAKA_MAX_UPLOAD_BYTES is a 413 and nothing is kept."""
    path = sample_zip(tmp_path)
    with override_settings(MIPAKA_MAX_UPLOAD_BYTES=path.stat().st_size - 1):
        response = post_file(operator, path)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert "larger than the limit" in response.json()["error"]["message"]
    with override_settings(MIPAKA_MAX_UPLOAD_BYTES=path.stat().st_size):
        assert post_file(operator, path).status_code == 202


def test_only_operators_import(tmp_path: Path) -> None:
    """No token 401; a workspace token or a non-staff person 403; operator tokens open only imports."""
    path = sample_zip(tmp_path)
    assert post_file(Client(), path).status_code == 401
    assert Client().get("/api/v1/imports").status_code == 401
    _, workspace_token = create_workspace(name="w")
    workspace = Client(headers={"Authorization": f"Token {workspace_token}"})
    response = post_file(workspace, path)
    assert response.status_code == 403
    assert "only operators may import" in response.json()["error"]["message"]
    assert workspace.get("/api/v1/imports").status_code == 403

    person = Client()
    person.force_login(User.objects.create_user(username="someone", password="x"))
    assert person.get("/api/v1/imports").status_code == 403

    _, operator_token = create_operator(username="ops")
    operator = Client(headers={"Authorization": f"Token {operator_token}"})
    response = operator.get("/api/v1/match", {"text": "x", "level": "1"})
    assert response.status_code == 403
    assert "operator token opens only the import endpoints" in response.json()["error"]["message"]
    assert not ImportJob.objects.exists()


def test_operator_token_stops_with_staff_status(operator: Client) -> None:
    """Taking staff status away revokes the operator's tokens."""
    assert operator.get("/api/v1/imports").status_code == 200
    User.objects.filter(username="ops").update(is_staff=False)
    forget_cached_tokens()
    assert operator.get("/api/v1/imports").status_code == 401


def test_staff_session_imports_with_csrf(tmp_path: Path) -> None:
    """A signed-in staff person imports from the browser, with the CSRF token."""
    staff = User.objects.create_user(username="boss", password="x", is_staff=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    path = sample_zip(tmp_path)
    response = post_file(browser, path)
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    browser.get("/")  # sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    with path.open("rb") as handle:
        response = browser.post("/api/v1/imports", {"file": handle}, headers={"X-CSRFToken": token})
    assert response.status_code == 202
    assert ImportJob.objects.get().requested_by == staff


def test_unknown_jobs_and_unappliable_ones(operator: Client, tmp_path: Path) -> None:
    """Unknown ids are 404; applying a job that is not a succeeded dry run is 400."""
    assert operator.get("/api/v1/imports/999999").status_code == 404
    assert operator.post("/api/v1/imports/999999/apply").status_code == 404
    job_id = post_file(operator, sample_zip(tmp_path)).json()["id"]
    response = operator.post(f"/api/v1/imports/{job_id}/apply")
    assert response.status_code == 400
    assert "is not a dry run" in response.json()["error"]["message"]
    assert operator.put(f"/api/v1/imports/{job_id}").status_code == 405
    assert ImportJob.objects.get(pk=job_id).status == JobStatus.QUEUED


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", "{"),
        ("application/json", "[]"),
        ("application/json", "null"),
        ("application/json", '{"download": [null]}'),
        ("application/json", '{"download": ["' + "x" * 5000 + '"]}'),
        ("application/json", '{"download": ["🙂", "", " "]}'),
        ("application/json", '{"download": ["R' + "9" * 400 + '"]}'),
        ("application/json", b"\xff\xfe"),
        ("multipart/form-data; boundary=xyz", "garbage"),
        ("multipart/form-data", "garbage"),
        (
            "multipart/form-data; boundary=xyz",
            '--xyz\r\nContent-Disposition: form-data; name="file"',
        ),
    ],
)
def test_malformed_requests_never_make_a_500(
    operator: Client, content_type: str, body: str | bytes
) -> None:
    """Broken bodies are 4xx in the error shape, never a 500."""
    data = body if isinstance(body, bytes) else body.encode()
    response = operator.post("/api/v1/imports", data, content_type=content_type)
    assert 400 <= response.status_code < 500, response.content[:300]
    assert set(response.json()["error"]) == {"code", "message"}
    for limit in ("", "0", "-1", "x", "9" * 40, "501"):
        response = operator.get("/api/v1/imports", {"limit": limit})
        assert response.status_code in {200, 400}


def reset_broker_connections(app: Celery, url: str) -> None:
    """Point the app at another broker, dropping the connections it pooled for the old one."""
    app.conf.broker_url = url
    app.__dict__.pop("amqp", None)  # holds the producer pool
    app._pool = None


@pytest.mark.django_db(transaction=True)
def test_broker_down_is_a_503_and_a_failed_job(tmp_path: Path) -> None:
    """With Redis unreachable the job is recorded as failed and the caller told at once."""
    _, token = create_operator(username="ops")
    client = Client(headers={"Authorization": f"Token {token}"})
    saved = celery_app.conf.broker_url
    reset_broker_connections(
        celery_app, "redis://127.0.0.1:9/3"
    )  # the discard port: nothing listens
    try:
        response = post_json(client, {"download": ["RW"]})
    finally:
        reset_broker_connections(celery_app, saved)
    assert response.status_code == 503
    assert "the job queue could not be reached" in response.json()["error"]["message"]
    job = ImportJob.objects.get()
    assert (job.status, job.attempts) == (JobStatus.FAILED, 0)


def test_the_django_admin_shows_jobs_and_operator_tokens(operator: Client, tmp_path: Path) -> None:
    """Jobs and operator tokens are listed read-only in the Django admin."""
    job_id = post_file(operator, sample_zip(tmp_path)).json()["id"]
    admin = Client()
    admin.force_login(User.objects.create_superuser(username="root", password="x"))
    listing = admin.get("/admin/geo/importjob/")
    assert listing.status_code == 200 and f"/admin/geo/importjob/{job_id}/change/" in str(
        listing.content
    )
    page = admin.get(f"/admin/geo/importjob/{job_id}/change/")
    assert page.status_code == 200 and "queued" in page.content.decode()
    tokens = admin.get("/admin/geo/operatortoken/").content.decode()
    assert "ops" in tokens
