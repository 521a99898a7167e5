"""RapidPro's /adminboundary/ endpoints: shapes of rapidpro-locations.md §4.3, and the fixes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from geo.aliases import set_aliases
from geo.importing import import_geojson
from geo.workspaces import create_workspace
from tests.builders import tiny_country
from tests.geo.web.conftest import SampleSite, signed_in

pytestmark = pytest.mark.django_db


def test_geometry_of_the_country_is_its_states_with_zoomable_flags(site: SampleSite) -> None:
    body = signed_in(site.viewer).get("/adminboundary/geometry/R900000/").json()
    assert body["name"] == "Mipakaland"
    features = body["geometry"]["features"]
    assert body["geometry"]["type"] == "FeatureCollection"
    assert sorted(f["properties"]["osm_id"] for f in features) == [
        "R9001",
        "R9002",
        "R9003",
        "R9004",
    ]
    assert all(f["zoomable"] is True for f in features)
    assert {f["geometry"]["type"] for f in features} <= {"Polygon", "MultiPolygon"}
    assert {f["properties"]["level"] for f in features} == {1}


def test_geometry_of_a_leaf_is_itself(site: SampleSite) -> None:
    features = (
        signed_in(site.viewer)
        .get("/adminboundary/geometry/R900121/")
        .json()["geometry"]["features"]
    )
    assert [(f["properties"]["osm_id"], f["zoomable"]) for f in features] == [("R900121", False)]


def test_boundaries_at_the_country_lists_it_with_children_and_aliases(site: SampleSite) -> None:
    set_aliases(workspace=site.workspace, osm_id="R9004", aliases=["Sud", "South"])
    body = signed_in(site.viewer).get("/adminboundary/boundaries/R900000/").json()
    assert len(body) == 1
    country = body[0]
    assert {k: country[k] for k in ("osm_id", "name", "level", "aliases", "path", "has_children")} == {
        "osm_id": "R900000", "name": "Mipakaland", "level": 0, "aliases": "", "path": "Mipakaland",
        "has_children": True,
    }  # fmt: skip
    assert "parent_osm_id" not in country
    kusini = next(c for c in country["children"] if c["osm_id"] == "R9004")
    assert kusini == {
        "osm_id": "R9004", "name": "Kusini", "level": 1, "aliases": "South\nSud",
        "path": "Mipakaland > Kusini", "parent_osm_id": "R900000", "has_children": True,
    }  # fmt: skip


def test_boundaries_at_a_district_give_the_chain_from_the_country(site: SampleSite) -> None:
    body = signed_in(site.viewer).get("/adminboundary/boundaries/R90012/").json()
    assert [item["osm_id"] for item in body] == ["R900000", "R9001", "R90012"]
    assert [c["osm_id"] for c in body[2]["children"]] == ["R900121", "R900122", "R900123"]
    assert all(c["has_children"] is False for c in body[2]["children"])


def test_search_finds_names_and_this_workspaces_aliases_below_the_boundary(
    site: SampleSite,
) -> None:
    set_aliases(workspace=site.workspace, osm_id="R90043", aliases=["Bandari"])
    other, _ = create_workspace(name="other", country_osm_id="R900000")
    set_aliases(workspace=other, osm_id="R90041", aliases=["Bandari Ndogo"])
    client = signed_in(site.viewer)
    found = client.get("/adminboundary/boundaries/R900000/", {"q": "band"}).json()
    assert [b["osm_id"] for b in found] == ["R90043"]  # not the other workspace's alias
    # Started below the country, a name search still works (RapidPro matched on the name prefix).
    below = client.get("/adminboundary/boundaries/R9003/", {"q": "kôro"}).json()
    assert [b["name"] for b in below] == ["Kôro", "Kôro-Est", "Kôro-Ouest", "Kôro-Ville"]
    assert client.get("/adminboundary/boundaries/R9003/", {"q": "kôro", "page": "1"}).json() == []


def test_post_sets_aliases_from_lines_and_returns_the_stored_boundary(site: SampleSite) -> None:
    client = signed_in(site.editor)
    response = client.post(
        "/adminboundary/boundaries/R900000/",
        json.dumps(
            {"osm_id": "R9001", "aliases": "Green Coast\n\n  green coast \nCV\n", "children": []}
        ),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["aliases"] == "CV\nGreen Coast"
    again = client.get("/adminboundary/boundaries/R900000/").json()[0]["children"]
    assert next(c for c in again if c["osm_id"] == "R9001")["aliases"] == "CV\nGreen Coast"


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ("{not json", 400, "not valid JSON"),
        (json.dumps({"aliases": "x"}), 400, "osm_id: required"),
        (json.dumps({"osm_id": "R9001", "aliases": ["x"]}), 400, "aliases: must be a string"),
        (json.dumps({"osm_id": "R9001", "aliases": "x" * 300}), 400, "longer than"),
        (json.dumps({"osm_id": "R9001", "aliases": "Kusini"}), 409, "Kusini"),
        (json.dumps({"osm_id": "R424242", "aliases": "x"}), 404, "R424242"),
    ],
)
def test_bad_posts_get_a_rapidpro_style_error_and_change_nothing(
    site: SampleSite, body: str, status: int, fragment: str
) -> None:
    response = signed_in(site.editor).post(
        "/adminboundary/boundaries/R900000/", body, content_type="application/json"
    )
    assert response.status_code == status
    error = response.json()
    assert error["status"] == "error"
    assert fragment in error["description"]
    assert site.workspace.aliases.count() == 0


def test_viewers_cannot_post_and_posts_need_the_csrf_token(site: SampleSite) -> None:
    body = json.dumps({"osm_id": "R9001", "aliases": "CV"})
    viewer = signed_in(site.viewer).post(
        "/adminboundary/boundaries/R900000/", body, content_type="application/json"
    )
    assert viewer.status_code == 403
    assert "editor" in viewer.json()["description"]
    forged = signed_in(site.editor, csrf=True).post(
        "/adminboundary/boundaries/R900000/", body, content_type="application/json"
    )
    assert forged.status_code == 403
    assert "CSRF" in forged.json()["description"]
    assert site.workspace.aliases.count() == 0


def test_other_countries_are_out_of_the_workspaces_reach(site: SampleSite, tmp_path: Path) -> None:
    import_geojson([tiny_country(tmp_path)])
    client = signed_in(site.editor)
    assert client.get("/adminboundary/geometry/R1/").status_code == 404
    assert client.get("/adminboundary/boundaries/R11/").status_code == 404
    posted = client.post(
        "/adminboundary/boundaries/R900000/",
        json.dumps({"osm_id": "R11", "aliases": "mine"}),
        content_type="application/json",
    )
    assert posted.status_code == 404


def test_anonymous_requests_are_refused_and_tokens_work(site: SampleSite) -> None:
    assert Client().get("/adminboundary/geometry/R900000/").status_code == 401
    response = Client().get(
        "/adminboundary/geometry/R900000/", headers={"Authorization": f"Token {site.token}"}
    )
    assert response.status_code == 200
