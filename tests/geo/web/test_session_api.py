"""The lookup API, tiles and GeoJSON for a signed-in browser: roles, CSRF, workspaces."""

from __future__ import annotations

import json

import mapbox_vector_tile
import pytest
from django.test import Client

from geo.models import Membership, Role
from geo.workspaces import create_workspace
from tests.geo.web.conftest import SampleSite, signed_in

pytestmark = pytest.mark.django_db


def test_a_session_opens_tiles_and_geojson(site: SampleSite) -> None:
    client = signed_in(site.viewer)
    tile = client.get("/tiles/4/8/8.mvt")  # Mipakaland, where states show from z4
    assert tile.status_code == 200
    layers = mapbox_vector_tile.decode(tile.content)
    assert {f["properties"]["osm_id"] for f in layers["state"]["features"]} == {
        "R9001", "R9002", "R9003", "R9004",
    }  # fmt: skip
    assert "Cookie" in tile["Vary"]
    children = client.get("/api/v1/boundaries/R9003/children.geojson", {"band": "2"}).json()
    assert [f["properties"]["name"] for f in children["features"]] == [
        "Kôro",
        "Plateau",
        "Riverside",
    ]


def test_without_token_or_session_the_api_says_how_to_authenticate(site: SampleSite) -> None:
    response = Client().get("/tiles/0/0/0.mvt")
    assert response.status_code == 401
    assert "sign in" in response.json()["error"]["message"]


def test_a_bad_token_is_not_rescued_by_a_session(site: SampleSite) -> None:
    client = signed_in(site.viewer)
    response = client.get("/api/v1/ping", headers={"Authorization": "Token nope"})
    assert response.status_code == 401


def test_viewers_read_aliases_editors_write_them(site: SampleSite) -> None:
    body = json.dumps({"aliases": ["Green Coast"]})
    path = "/api/v1/boundaries/R9001/aliases"
    viewer = signed_in(site.viewer).put(path, body, content_type="application/json")
    assert viewer.status_code == 403
    assert viewer.json()["error"]["code"] == "forbidden"
    editor = signed_in(site.editor).put(path, body, content_type="application/json")
    assert editor.status_code == 200
    assert signed_in(site.viewer).get(path).json()["aliases"] == ["Green Coast"]


def test_session_writes_need_the_csrf_token(site: SampleSite) -> None:
    client = signed_in(site.editor, csrf=True)
    path = "/api/v1/boundaries/R9001/aliases"
    body = json.dumps({"aliases": ["Green Coast"]})
    refused = client.put(path, body, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]
    client.get("/")  # the map page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = client.put(
        path, body, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == 200


def test_a_person_in_two_workspaces_switches_between_them(site: SampleSite) -> None:
    world, _ = create_workspace(name="world")  # no country: sees every imported country
    Membership.objects.create(user=site.viewer, workspace=world, role=Role.ADMIN)
    client = signed_in(site.viewer)
    assert client.get("/api/v1/ping").json()["workspace"] == "demo"
    client.post("/workspace/", {"workspace": str(world.pk)})
    assert client.get("/api/v1/ping").json()["workspace"] == "world"
    client.post("/workspace/", {"workspace": "999999"})  # not theirs: ignored
    assert client.get("/api/v1/ping").json()["workspace"] == "world"


def test_a_person_in_no_workspace_is_told_so(site: SampleSite) -> None:
    from django.contrib.auth.models import User

    loner = User.objects.create_user(username="loner", password="x")
    response = signed_in(loner).get("/api/v1/ping")
    assert response.status_code == 403
    assert "no workspace" in response.json()["error"]["message"]


def test_countries_geojson_is_the_workspaces_country(site: SampleSite) -> None:
    body = signed_in(site.viewer).get("/api/v1/countries.geojson", {"band": "0"}).json()
    assert [f["properties"]["osm_id"] for f in body["features"]] == ["R900000"]
    assert "crs" not in body


def test_counts_from_csv_roll_up_and_list_unmatched_rows(site: SampleSite) -> None:
    csv_text = "name,value\nBélanou Centre,3\nmbele,4\nKôro,10\nRiverside,7\nAtlantis,1\n"
    response = signed_in(site.viewer).post("/api/v1/counts", csv_text, content_type="text/csv")
    assert response.status_code == 200
    body = response.json()
    assert body["values"]["R900121"] == 3
    assert body["values"]["R90012"] == 7  # Bélanou: its two wards
    assert body["values"]["R9001"] == 7
    assert body["values"]["R900000"] == 17
    assert body["matched_rows"] == 3
    reasons = {u["key"]: u["reason"] for u in body["unmatched"]}
    assert set(reasons) == {"Riverside", "Atlantis"}
    assert "ambiguous" in reasons["Riverside"]
    assert "Côte-Verte > Riverside" in reasons["Riverside"]


def test_counts_from_json_by_osm_id_and_path(site: SampleSite) -> None:
    rows = [
        {"osm_id": "R90011", "value": 2},
        {"path": "mipakaland > hautes terres > riverside", "value": 5},
        {"osm_id": "R1", "value": 9},
    ]
    body = (
        signed_in(site.viewer)
        .post("/api/v1/counts", json.dumps({"rows": rows}), content_type="application/json")
        .json()
    )
    assert body["values"]["R90011"] == 2
    assert body["values"]["R90031"] == 5
    assert body["values"]["R900000"] == 7
    assert [u["line"] for u in body["unmatched"]] == [3]


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        ("name,value\nKôro,lots\n", "text/csv", "row 2: value must be a number"),
        (
            "place,value\nKôro,1\n",
            "text/csv",
            "line 1: the header needs a column osm_id, path or name",
        ),
        ("[]", "text/csv", "line 1: the header needs"),
        ("name,value\nK\x00ro,1\n", "text/csv", "body: control character U+0000"),
        (
            '{"rows": [{"name": "K\\u0000ro", "value": 1}]}',
            "application/json",
            "rows[0].name: control",
        ),
        ('{"rows": [], "extra": 1}', "application/json", "body: unknown field 'extra'"),
        ('{"rows": 3}', "application/json", "rows: required"),
        (
            '{"rows": [{"name": "Kôro", "value": NaN}]}',
            "application/json",
            "row 1: value must be finite",
        ),
    ],
)
def test_bad_count_tables_get_one_line_errors(
    site: SampleSite, body: str, content_type: str, fragment: str
) -> None:
    response = signed_in(site.viewer).post("/api/v1/counts", body, content_type=content_type)
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]
