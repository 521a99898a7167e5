"""The WSGI handler: API calls with a token skip the browser middleware, the map keeps it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, override_settings
from django.urls.resolvers import URLResolver

from geo.handler import ApiAwareWSGIHandler, _resolve, api_middleware
from geo.models import Membership, Role
from geo.workspaces import create_workspace

pytestmark = pytest.mark.django_db


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def call(path: str, *, method: str = "GET", body: bytes = b"", **headers: str) -> Answer:
    """Send one request through the WSGI application, as gunicorn does."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        **{"HTTP_" + name.upper(): value for name, value in headers.items()},
    }
    started: list[Any] = []

    def start_response(status: str, items: list[tuple[str, str]], *_: Any) -> Any:
        started.append((status, items))
        return lambda _data: None

    # As Django's test client: keep the test's database connection (and its transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = ApiAwareWSGIHandler()(environ, start_response)
        content = b"".join(response)
        response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    status, items = started[0]
    return Answer(int(status.split()[0]), dict(items), content)


@pytest.fixture
def person() -> tuple[User, str]:
    workspace, token = create_workspace(name="mw")
    user = User.objects.create_user(username="mapper", password="x")
    Membership.objects.create(user=user, workspace=workspace, role=Role.EDITOR)
    return user, token


def session_cookies(user: User) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    client.get("/")  # the map page sets the CSRF cookie
    return {name: morsel.value for name, morsel in client.cookies.items()}


def test_the_short_chain_is_middleware_without_the_browser_only_entries() -> None:
    """Request ids, metrics, security headers and the 503 translation stay for API calls."""
    assert api_middleware() == [
        "geo.logs.RequestIdMiddleware",
        "geo.metrics.MetricsMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "geo.availability.DatabaseUnavailableMiddleware",
    ]


def test_a_token_call_skips_sessions_csrf_and_page_headers(person: tuple[User, str]) -> None:
    """With a token: no session read (no Vary: Cookie), no page headers; a page gets them."""
    _, token = person
    api = call("/api/v1/ping", authorization=f"Token {token}")
    assert api.status == 200
    assert "Cookie" not in api.headers.get("Vary", "")
    assert "X-Frame-Options" not in api.headers
    assert api.headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware runs for all
    assert api.headers["X-Request-ID"]
    # A length, not chunks: one write less per answer, and clients know where it ends.
    assert api.headers["Content-Length"] == str(len(api.body))
    assert "Transfer-Encoding" not in api.headers
    page = call("/accounts/login/")
    assert page.status == 200
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in page.headers


def test_a_token_wins_over_a_session_cookie(person: tuple[User, str]) -> None:
    """A signed-in browser sending a token acts for the token, and skips the session."""
    user, _ = person
    _, other_token = create_workspace(name="other")
    cookie = "; ".join(f"{k}={v}" for k, v in session_cookies(user).items())
    by_session = call("/api/v1/ping", cookie=cookie)
    assert b'"workspace": "mw"' in by_session.body
    assert "Cookie" in by_session.headers["Vary"]  # the session was read
    by_token = call("/api/v1/ping", cookie=cookie, authorization=f"Token {other_token}")
    assert b'"workspace": "other"' in by_token.body
    assert "Cookie" not in by_token.headers.get("Vary", "")


def test_session_calls_from_the_map_are_still_csrf_checked(person: tuple[User, str]) -> None:
    """The map's API writes: signed in by cookie, refused without X-CSRFToken, taken with it."""
    user, _ = person
    cookies = session_cookies(user)
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = b'{"rows": [{"name": "nowhere", "value": 1}]}'
    refused = call("/api/v1/counts", method="POST", body=body, cookie=cookie)
    assert refused.status == 403
    assert b"CSRF" in refused.body
    accepted = call(
        "/api/v1/counts", method="POST", body=body, cookie=cookie, x_csrftoken=cookies["csrftoken"]
    )
    assert accepted.status == 200


def test_without_a_cookie_or_token_the_api_asks_for_one() -> None:
    """No browser middleware ran, and the answer still says how to authenticate."""
    answer = call("/api/v1/ping")
    assert answer.status == 401
    assert b"sign in" in answer.body


def test_the_short_chain_resolves_a_path_once(
    person: tuple[User, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path's view is looked up once; each path keeps its own arguments; unknown ones 404."""
    _, token = person
    _resolve.cache_clear()
    walked: list[str] = []
    walk = URLResolver.resolve

    def counted(resolver: URLResolver, path: str) -> Any:
        walked.append(path)
        return walk(resolver, path)

    monkeypatch.setattr(URLResolver, "resolve", counted)
    for _ in range(3):
        assert call("/api/v1/ping", authorization=f"Token {token}").status == 200
    assert walked.count("/api/v1/ping") == 1
    for osm_id in ("R404001", "R404002", "R404001"):
        missing = call(f"/api/v1/boundaries/{osm_id}", authorization=f"Token {token}")
        assert missing.status == 404
        assert osm_id.encode() in missing.body
    assert walked.count("/api/v1/boundaries/R404001") == 1
    for _ in range(2):
        assert call("/api/v1/no-such-thing", authorization=f"Token {token}").status == 404
    assert walked.count("/api/v1/no-such-thing") == 2


def test_browser_only_entries_must_be_in_middleware() -> None:
    """geo.E001: a misspelt browser-only entry would silently skip nothing."""
    assert not [m for m in run_checks() if m.id == "geo.E001"]
    with override_settings(MIPAKA_BROWSER_ONLY_MIDDLEWARE=["django.contrib.sessions.Sesion"]):
        assert [m.id for m in run_checks() if m.id == "geo.E001"] == ["geo.E001"]
