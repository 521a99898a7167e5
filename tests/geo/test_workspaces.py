"""Tokens: scopes, expiry, revocation that reaches every worker at once; the audit of it all."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from geo.models import AuditAction, AuditEvent, TokenScope
from geo.workspaces import create_workspace, issue_token, revoke_token
from tests.conftest import ROOT, subprocess_env
from tests.geo.api.conftest import ApiClient
from tests.geo.web.conftest import SampleSite, make_sample_site, signed_in

pytestmark = pytest.mark.django_db


def test_read_only_tokens_read_and_count_but_never_write(site: SampleSite) -> None:
    """Flows get read-only tokens: lookups and counts (they store nothing), no alias edits."""
    api = ApiClient(issue_token(site.workspace, name="flows", scope=TokenScope.READ))
    assert api.get("/api/v1/match", text="riverside", level=2).status_code == 200
    assert api.get("/api/v1/boundaries/R9001/aliases").status_code == 200
    assert (
        api.post("/api/v1/counts", {"rows": [{"osm_id": "R9001", "value": 1}]}).status_code == 200
    )
    refused = api.put("/api/v1/boundaries/R9001/aliases", {"aliases": ["Green Coast"]})
    assert refused.status_code == 403
    assert "editor" in refused.json()["error"]["message"]
    writer = ApiClient(issue_token(site.workspace, name="rapidpro", scope=TokenScope.WRITE))
    assert (
        writer.put("/api/v1/boundaries/R9001/aliases", {"aliases": ["Green Coast"]}).status_code
        == 200
    )


def test_expired_and_revoked_tokens_are_refused_saying_why(
    site: SampleSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An expiry is kept in the cached token and checked on every request."""
    now = timezone.now()
    soon = issue_token(site.workspace, expires_at=now + timedelta(seconds=60))
    api = ApiClient(soon)
    assert api.get("/api/v1/ping").status_code == 200  # now cached in this process
    monkeypatch.setattr(timezone, "now", lambda: now + timedelta(seconds=61))
    expired = api.get("/api/v1/ping")
    assert expired.status_code == 401
    assert "token expired on" in expired.json()["error"]["message"]

    token = issue_token(site.workspace, name="old")
    revoke_token(site.workspace.pk, token_id=site.workspace.tokens.get(name="old").pk)
    revoked = ApiClient(token).get("/api/v1/ping")
    assert revoked.status_code == 401
    assert "token revoked on" in revoked.json()["error"]["message"]


def test_an_expiry_in_the_past_is_refused(site: SampleSite) -> None:
    from geo.exceptions import InvalidQuery

    with pytest.raises(InvalidQuery, match="expires_at: must be in the future"):
        issue_token(site.workspace, expires_at=timezone.now() - timedelta(days=1))


def test_admins_issue_scoped_expiring_tokens_and_everything_is_audited(site: SampleSite) -> None:
    client = signed_in(site.admin)
    page = client.post(
        "/people/",
        {"action": "issue", "name": "flows", "scope": "read", "expires_in_days": "30"},
    ).content.decode()
    token = page.split('<code id="new-token">')[1].split("</code>")[0]
    row = site.workspace.tokens.get(name="flows")
    assert row.scope == TokenScope.READ
    assert row.expires_at is not None
    assert timedelta(days=29) < row.expires_at - timezone.now() <= timedelta(days=30)
    assert ApiClient(token).get("/api/v1/ping").status_code == 200
    client.post("/people/", {"action": "revoke", "token": row.pk})
    client.post("/people/", {"action": "add", "username": "newbie", "role": "viewer",
                             "password": "a long password 1"})  # fmt: skip
    client.post("/people/", {"action": "language", "language": "fr"})
    client.post("/people/", {"action": "language", "language": "fr"})  # no change, no event
    events = AuditEvent.objects.filter(workspace=site.workspace).order_by("id")
    actions = list(events.values_list("actor", "action", "target"))
    assert actions[-4:] == [
        ("admin", AuditAction.TOKEN_ISSUED, f"token {token[:8]}… (flows)"),
        ("admin", AuditAction.TOKEN_REVOKED, f"token {token[:8]}… (flows)"),
        ("admin", AuditAction.MEMBER_ADDED, "newbie"),
        ("admin", AuditAction.LANGUAGE_SET, site.workspace.name),
    ]
    assert events.last().details == {"from": "", "to": "fr"}  # type: ignore[union-attr]
    html = client.get("/people/").content.decode()
    assert '<table id="audit">' in html
    assert "token revoked" in html and "newbie" in html
    assert '<table id="audit">' not in signed_in(site.viewer).get("/people/").content.decode()


def test_api_alias_edits_name_the_token_in_the_audit_log(site: SampleSite) -> None:
    token = issue_token(site.workspace, name="rapidpro")
    ApiClient(token).put("/api/v1/boundaries/R9001/aliases", {"aliases": ["Green Coast"]})
    event = AuditEvent.objects.get(action=AuditAction.ALIASES_SET)
    assert event.actor == f"token {token[:8]}… (rapidpro)"
    assert event.workspace_name == "demo"


def test_operators_read_the_audit_log_in_the_django_admin_and_cannot_change_it(
    site: SampleSite,
) -> None:
    operator = User.objects.create_superuser(username="operator", password="x" * 12)
    admin_client = Client()
    admin_client.force_login(operator)
    create_workspace(name="audited")
    listing = admin_client.get("/admin/geo/auditevent/")
    assert listing.status_code == 200
    assert "audited" in listing.content.decode()
    event = AuditEvent.objects.first()
    assert event is not None
    assert admin_client.get("/admin/geo/auditevent/add/").status_code == 403
    delete = admin_client.post(f"/admin/geo/auditevent/{event.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def workers(transactional_db: None) -> Iterator[str]:
    """Three gunicorn workers on the test database and the test's Redis."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "3",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT, env=subprocess_env(DJANGO_SETTINGS_MODULE="config.settings_test"),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.05)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_revoked_token_is_refused_by_every_worker_at_once(workers: str) -> None:
    """Each worker caches tokens; revocation changes a version pushed to them all before it returns."""
    site = make_sample_site()
    token = issue_token(site.workspace, name="to revoke")
    warm = [_status(f"{workers}/api/v1/ping", token) for _ in range(60)]
    assert set(warm) == {200}
    revoke_token(site.workspace.pk, token_id=site.workspace.tokens.get(name="to revoke").pk)
    after = [_status(f"{workers}/api/v1/ping", token) for _ in range(60)]
    assert set(after) == {401}
    assert {_status(f"{workers}/api/v1/ping", site.token) for _ in range(10)} == {200}
