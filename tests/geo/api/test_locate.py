from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from geo.importing import import_geojson
from geo.lookup import snapshot
from geo.workspaces import create_workspace
from tests.builders import tiny_country
from tests.geo.api.conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tmp_path: Path) -> ApiClient:
    import_geojson([tiny_country(tmp_path / "tiny")])
    _, token = create_workspace(name="geo")
    return ApiClient(token)


def paths(results: list[dict[str, Any]]) -> list[str]:
    return [r["path"] for r in results]


def test_locate_returns_the_hierarchy_country_first(api: ApiClient) -> None:
    """GET /api/v1/locate gives every containing boundary, country first, with the lookup fields."""
    body = api.get("/api/v1/locate", lat=0.5, lng=1.5).json()
    assert paths(body["results"]) == ["Tinyland", "Tinyland > East", "Tinyland > East > Gamma"]
    assert body["results"][2]["parent_osm_id"] == "R12"


def test_sea_and_borders(api: ApiClient) -> None:
    """A point in the sea has no boundary; one on a shared border has both sides."""
    assert api.get("/api/v1/locate", lat=-5, lng=-5).json()["results"] == []
    on_border = paths(api.get("/api/v1/locate", lat=0.5, lng=1.0).json()["results"])
    assert on_border == [
        "Tinyland",
        "Tinyland > East",
        "Tinyland > West",
        "Tinyland > East > Gamma",
        "Tinyland > West > Alpha",
    ]


def test_batch_keeps_the_order_of_the_points(api: ApiClient) -> None:
    """POST /api/v1/locate answers each point in order."""
    body = api.post("/api/v1/locate", {"points": [[1.5, 0.5], [-5, -5], [0.5, 1.5]]}).json()
    assert [paths(r)[-1] if r else None for r in body["results"]] == [
        "Tinyland > East > Gamma",
        None,
        "Tinyland > West > Beta",
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lat": 95, "lng": 0}, "lat: must be from -90 to 90"),
        ({"lat": 0, "lng": 181}, "lng: must be from -180 to 180"),
        ({"lat": "north", "lng": 0}, "lat: must be a number"),
        ({"lng": 0}, "lat: required"),
        ({"lat": "nan", "lng": 0}, "lat: must be a number"),
    ],
)
def test_bad_points_are_400(api: ApiClient, params: dict[str, Any], message: str) -> None:
    """Out-of-range or malformed coordinates get 400 naming the field."""
    response = api.get("/api/v1/locate", **params)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{nope", "body: not valid JSON"),
        ({"points": "x"}, "points: required"),
        ({"points": [[1, 2, 3]]}, "each point must be [lng, lat]"),
        ({"points": [["1", 2]]}, "each point must be [lng, lat]"),
        ({"points": [[0, 0], [200, 0]]}, "points[1]: lng must be -180..180"),
        ({"points": [[0, 0]] * 10_001}, "points: at most 10,000"),
    ],
)
def test_bad_batches_are_400(api: ApiClient, body: Any, message: str) -> None:
    """Malformed batches, and batches over 10,000 points, get 400 naming the field."""
    response = api.post("/api/v1/locate", body if isinstance(body, str) else json.dumps(body))
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_workers_follow_a_new_import_without_restart(
    api: ApiClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an import commits, the next lookups answer from the new data."""
    monkeypatch.setattr(snapshot, "REFRESH_SECONDS", 0.0)
    assert api.get("/api/v1/match", text="Gamma", level=2).json()["results"][0]["name"] == "Gamma"
    tiny_country(tmp_path / "tiny", district_names=("Alpha", "Beta", "Gamma Nova", "Delta"))
    import_geojson([tmp_path / "tiny"])
    renamed = api.get("/api/v1/match", text="gamma nova", level=2).json()["results"]
    assert [r["path"] for r in renamed] == ["Tinyland > East > Gamma Nova"]
    assert (
        paths(api.get("/api/v1/locate", lat=0.5, lng=1.5).json()["results"])[-1]
        == "Tinyland > East > Gamma Nova"
    )
