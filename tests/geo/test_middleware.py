"""Browser machinery only for browser requests: API calls with a token skip it, the map keeps it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.test import Client, override_settings

from geo.models import Membership, Role
from geo.workspaces import create_workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def person() -> tuple[User, str]:
    workspace, token = create_workspace(name="mw")
    user = User.objects.create_user(username="mapper", password="x")
    Membership.objects.create(user=user, workspace=workspace, role=Role.EDITOR)
    return user, token


def test_a_token_call_skips_sessions_csrf_and_page_headers(person: tuple[User, str]) -> None:
    """With a token: no session read (no Vary: Cookie), no CSRF cookie, no page headers."""
    _, token = person
    response = Client().get("/api/v1/ping", headers={"Authorization": f"Token {token}"})
    assert response.status_code == 200
    assert "Cookie" not in response.get("Vary", "")
    assert "X-Frame-Options" not in response
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware runs for all
    page = Client().get("/accounts/login/")
    assert page.status_code == 200
    assert page["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in page


def test_a_token_wins_over_a_session_cookie(person: tuple[User, str]) -> None:
    """A signed-in browser sending a token acts for the token (and skips the session)."""
    user, _ = person
    _, other_token = create_workspace(name="other")
    client = Client()
    client.force_login(user)
    by_session = client.get("/api/v1/ping")
    assert by_session.json()["workspace"] == "mw"
    assert "Cookie" in by_session["Vary"]  # the session was read
    by_token = client.get("/api/v1/ping", headers={"Authorization": f"Token {other_token}"})
    assert by_token.json()["workspace"] == "other"
    assert "Cookie" not in by_token.get("Vary", "")


def test_session_calls_from_the_map_are_still_csrf_checked(person: tuple[User, str]) -> None:
    """The web map's API writes: signed in by cookie, refused without X-CSRFToken, taken with it."""
    user, _ = person
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    body = '{"rows": [{"name": "nowhere", "value": 1}]}'
    refused = client.post("/api/v1/counts", body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    client.get("/")  # the map page sets the CSRF cookie
    accepted = client.post(
        "/api/v1/counts",
        body,
        content_type="application/json",
        headers={"X-CSRFToken": client.cookies["csrftoken"].value},
    )
    assert accepted.status_code == 200


def test_without_a_cookie_or_token_the_api_asks_for_one() -> None:
    """No session machinery ran, and the answer still says how to authenticate."""
    response = Client().get("/api/v1/ping")
    assert response.status_code == 401
    assert "sign in" in response.json()["error"]["message"]


def test_the_browser_chain_must_keep_sessions_auth_and_messages() -> None:
    """geo.E001 stands in for the admin's checks, which only look at MIDDLEWARE."""
    assert not [m for m in run_checks() if m.id == "geo.E001"]
    chain = [
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ]
    with override_settings(MIPAKA_BROWSER_MIDDLEWARE=chain):
        assert [m.id for m in run_checks() if m.id == "geo.E001"] == ["geo.E001"]
