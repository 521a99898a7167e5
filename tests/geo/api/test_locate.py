from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from geo.api import views
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


def test_a_point_answer_is_encoded_once_per_set_of_places(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two points of one ward share a body, worked out once; snap answers keep their distances."""
    encoded: list[str] = []
    real = views.point_result_to_dict

    def counting(result: Any, *args: Any, **kwargs: Any) -> Any:
        encoded.append(result.place.name)
        return real(result, *args, **kwargs)

    monkeypatch.setattr(views, "point_result_to_dict", counting)
    first = api.get("/api/v1/locate", lat=0.5, lng=1.5)
    second = api.get("/api/v1/locate", lat=0.25, lng=1.75)
    assert first.content == second.content
    assert paths(first.json()["results"])[-1] == "Tinyland > East > Gamma"
    assert encoded == ["Tinyland", "East", "Gamma"]

    # With snap, the same covering places carry distance_m (0): another body.
    snapped = api.get("/api/v1/locate", lat=0.5, lng=1.5, snap=100).json()["results"]
    assert [r["distance_m"] for r in snapped] == [0.0, 0.0, 0.0]
    # A point snapped to a place off the coast is not remembered: its distance is its own.
    for _ in range(2):
        off = api.get("/api/v1/locate", lat=0.5, lng=2.001, snap=5000).json()["results"]
        assert all(r["distance_m"] > 0 for r in off)
    assert len(encoded) == 3 + 3 + 3 + 3


@pytest.fixture
def jamaica(posm_extracts: Path) -> ApiClient:
    """Jamaica's three levels: its country outline takes in its waters, its parishes stop at the shore."""
    import_geojson(sorted(posm_extracts.glob("R555017admin[012].json")))
    _, token = create_workspace(name="jm")
    return ApiClient(token)


def postgis_metres(osm_id: str, lng: float, lat: float) -> float:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_Distance(geometry::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)"
            " FROM geo_boundary WHERE osm_id = %s",
            [lng, lat, osm_id],
        )
        (metres,) = cursor.fetchone()
    return float(metres)


def located(results: list[dict[str, Any]]) -> list[tuple[str, float | None]]:
    return [(r["osm_id"], r.get("distance_m")) for r in results]


def test_snap_finds_the_beach_200_m_away(jamaica: ApiClient) -> None:
    """200 m off Negril's beach: Jamaica covers the point; snap adds the county and the parish."""
    lng, lat = -78.3705, 18.27
    beach = postgis_metres("R319351", lng, lat)
    assert 150 < beach < 250
    exact = jamaica.get("/api/v1/locate", lat=lat, lng=lng).json()["results"]
    assert located(exact) == [("R555017", None)]  # no distance_m without snap
    snapped = jamaica.get("/api/v1/locate", lat=lat, lng=lng, snap=500).json()["results"]
    assert [r["osm_id"] for r in snapped] == ["R555017", "R1637036", "R319351"]
    assert [r["path"] for r in snapped][-1] == "Jamaica > Cornwall County > Westmoreland"
    assert snapped[0]["distance_m"] == 0
    assert snapped[1]["distance_m"] == pytest.approx(postgis_metres("R1637036", lng, lat), abs=0.1)
    assert snapped[2]["distance_m"] == pytest.approx(beach, abs=0.1)
    assert located(jamaica.get("/api/v1/locate", lat=lat, lng=lng, snap=100).json()["results"]) == [
        ("R555017", 0)
    ]


def test_snap_reaches_5_km_and_no_further(jamaica: ApiClient) -> None:
    """Off the south coast and off the country's outline: within snap found, 6 km off not."""
    lng, lat = -76.8, 17.885  # 5.1 km off Kingston's shore, inside Jamaica's waters
    assert 5000 < postgis_metres("R319355", lng, lat) < 5200
    assert located(
        jamaica.get("/api/v1/locate", lat=lat, lng=lng, snap=5000).json()["results"]
    ) == [("R555017", 0)]
    lng, lat = -77.0534, 17.532  # 220 m south of the outline of Jamaica's waters
    assert 200 < postgis_metres("R555017", lng, lat) < 250
    body = jamaica.get("/api/v1/locate", lat=lat, lng=lng, snap=5000).json()
    assert located(body["results"]) == [
        ("R555017", pytest.approx(postgis_metres("R555017", lng, lat), abs=0.1))
    ]
    lat = 17.4752  # 6 km off
    assert 5900 < postgis_metres("R555017", lng, lat) < 6100
    assert jamaica.get("/api/v1/locate", lat=lat, lng=lng, snap=5000).json()["results"] == []


def test_snap_in_a_batch(jamaica: ApiClient) -> None:
    """POST takes snap in the body; each point is snapped on its own, in order."""
    points = [[-78.3705, 18.27], [-77.0534, 17.4752], [-77.3, 18.2]]
    body = jamaica.post("/api/v1/locate", {"points": points, "snap": 5000}).json()
    assert [[r["osm_id"] for r in found] for found in body["results"]][:2] == [
        ["R555017", "R1637036", "R319351"],
        [],
    ]
    inland = body["results"][2]
    assert len(inland) == 3 and all(r["distance_m"] == 0 for r in inland)
    plain = jamaica.post("/api/v1/locate", {"points": points}).json()["results"]
    assert [len(found) for found in plain] == [1, 0, 3]
    assert all("distance_m" not in r for found in plain for r in found)


def test_snap_stays_in_the_workspace_country(api: ApiClient, jamaica: ApiClient) -> None:
    """A workspace of one country snaps only to that country's boundaries."""
    _, token = create_workspace(name="tiny only", country_osm_id="R1")
    tiny = ApiClient(token)
    assert tiny.get("/api/v1/locate", lat=18.27, lng=-78.3705, snap=5000).json()["results"] == []
    assert len(api.get("/api/v1/locate", lat=18.27, lng=-78.3705, snap=5000).json()["results"]) == 3
    body = tiny.get("/api/v1/locate", lat=0.5, lng=2.01, snap=5000).json()
    assert [r["path"] for r in body["results"]] == [
        "Tinyland",
        "Tinyland > East",
        "Tinyland > East > Gamma",
    ]
    assert all(0 < r["distance_m"] < 5000 for r in body["results"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"snap": -1}, "snap: must be from 0 to 5000"),
        ({"snap": 5001}, "snap: must be from 0 to 5000"),
        ({"snap": "far"}, "snap: must be a number"),
        ({"snap": "nan"}, "snap: must be a number"),
        ({"snap": ""}, "snap: must be a number"),  # given but empty is not "absent"
    ],
)
def test_bad_snap_is_400(api: ApiClient, params: dict[str, Any], message: str) -> None:
    """snap outside 0..5000 metres, or not a number, gets 400 naming it."""
    response = api.get("/api/v1/locate", lat=0.5, lng=0.5, **params)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    for snap in (-1, 5001, "200", True, None, [1]):
        response = api.post("/api/v1/locate", {"points": [[0.5, 0.5]], "snap": snap})
        assert response.status_code == 400, snap
        assert (
            "snap: must be a number of metres from 0 to 5,000"
            in response.json()["error"]["message"]
        )
