"""POST /api/v1/resolve: stored values to today's boundaries, with a read-only token."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo.api.views import MAX_RESOLVE_VALUES
from geo.models import TokenScope
from geo.workspaces import create_workspace, issue_token
from tests.geo.api.conftest import ApiClient
from tests.history import build_history_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tmp_path: Path) -> ApiClient:
    """A read-only token of a workspace bound to Tinyland, after its history was written."""
    build_history_world(tmp_path)
    workspace, _ = create_workspace(name="tiny", country_osm_id="R1")
    return ApiClient(issue_token(workspace, scope=TokenScope.READ))


def test_each_value_gets_its_status_and_todays_boundary(api: ApiClient) -> None:
    """Answers come in order: today's boundary, or what became of the value, with shares."""
    values = ["Tinyland > West > Alpha", "Tinyland > Westland > Oldalpha", "Omega", "R150", "?"]
    response = api.post("/api/v1/resolve", {"values": values})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["value"] for r in results] == values
    assert [r["status"] for r in results] == ["current", "renamed", "split", "retired", "unknown"]
    assert results[0]["boundary"] == {
        "osm_id": "R111", "name": "Alpha", "name_en": "", "level": 2,
        "path": "Tinyland > West > Alpha", "parent_osm_id": "R11",
    }  # fmt: skip
    assert results[0]["candidates"] == []
    assert results[1]["boundary"]["osm_id"] == "R111"
    assert results[2]["boundary"] is None
    assert [(c["osm_id"], c["path"], c["share"]) for c in results[2]["candidates"]] == [
        ("R121", "Tinyland > East > Gamma", 0.6),
        ("R122", "Tinyland > East > Delta", 0.4),
    ]
    assert results[3]["boundary"] is None and results[3]["candidates"] == []


def test_level_narrows_the_reading(api: ApiClient) -> None:
    """With level, a value of another level is unknown."""
    body = api.post("/api/v1/resolve", {"values": ["Alpha", "West"], "level": 2}).json()
    assert [r["status"] for r in body["results"]] == ["current", "unknown"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "values: required, a list of strings"),
        ({"values": "Alpha"}, "values: required, a list of strings"),
        ({"values": ["Alpha", 3]}, "values: required, a list of strings"),
        ({"values": ["ok", "bad\x00"]}, "values[1]: control character U+0000"),
        ({"values": ["x" * 1001]}, "values[0]: longer than 1000 characters"),
        ({"values": ["Alpha"], "level": 4}, "level: must be a whole number from 0 to 3"),
        ({"values": ["Alpha"], "level": True}, "level: must be a whole number from 0 to 3"),
        ({"values": ["Alpha"], "level": None}, "level: must be a whole number from 0 to 3"),
        ({"values": ["Alpha"], "extra": 1}, "body: unknown field 'extra'"),
        (
            {"values": ["a"] * (MAX_RESOLVE_VALUES + 1)},
            f"values: at most {MAX_RESOLVE_VALUES:,} per request",
        ),
    ],
)
def test_bad_bodies_are_refused_with_the_field_named(
    api: ApiClient, body: object, message: str
) -> None:
    """Malformed bodies are a 400 whose message names the field."""
    response = api.post("/api/v1/resolve", body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)


def test_a_thousand_values_in_one_call(api: ApiClient) -> None:
    """The limit itself is accepted."""
    values = ["R111", "Sigma", "Kappa", "nowhere"] * (MAX_RESOLVE_VALUES // 4)
    response = api.post("/api/v1/resolve", {"values": values})
    assert response.status_code == 200
    assert len(response.json()["results"]) == MAX_RESOLVE_VALUES


def test_needs_a_token_and_post(api: ApiClient) -> None:
    """No token: 401; GET: 405."""
    from django.test import Client

    assert Client().post("/api/v1/resolve", {}, content_type="application/json").status_code == 401
    assert api.get("/api/v1/resolve").status_code == 405
