from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from geo.importing import import_geojson
from geo.models import BoundaryAlias, Workspace
from geo.workspaces import create_workspace
from tests.builders import tiny_country
from tests.geo.api.conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tmp_path: Path) -> ApiClient:
    import_geojson([tiny_country(tmp_path)])
    _, token = create_workspace(name="maps", country_osm_id="R1")
    return ApiClient(token)


def test_list_filters_by_level_parent_and_name(api: ApiClient) -> None:
    """Boundaries are listed by path, filtered by level, parent osm_id and a name substring."""
    body = api.get("/api/v1/boundaries", level=2, parent="R12").json()
    assert body["count"] == 2
    assert [r["path"] for r in body["results"]] == [
        "Tinyland > East > Delta",
        "Tinyland > East > Gamma",
    ]
    assert [r["osm_id"] for r in api.get("/api/v1/boundaries", q="amm").json()["results"]] == [
        "R121"
    ]


def test_list_pages(api: ApiClient) -> None:
    """page and page_size page through the listing."""
    first = api.get("/api/v1/boundaries", page_size=5).json()
    second = api.get("/api/v1/boundaries", page_size=5, page=2).json()
    assert (first["count"], first["pages"], len(first["results"]), len(second["results"])) == (
        7,
        2,
        5,
        2,
    )
    assert api.get("/api/v1/boundaries", page_size=501).status_code == 400


def test_detail_with_and_without_geometry(api: ApiClient) -> None:
    """A boundary's detail has bbox and area; ?geometry= adds GeoJSON, simplified or full."""
    plain = api.get("/api/v1/boundaries/R121").json()
    assert "geometry" not in plain
    assert plain["bbox"] == [1.0, 0.0, 2.0, 1.0]
    full = api.get("/api/v1/boundaries/R121", geometry="full").json()["geometry"]
    simple = api.get("/api/v1/boundaries/R121", geometry="simplified").json()["geometry"]
    assert full["type"] == simple["type"] == "MultiPolygon"
    assert "crs" not in full
    assert len(simple["coordinates"][0][0]) < len(full["coordinates"][0][0])
    assert api.get("/api/v1/boundaries/R121", geometry="huge").status_code == 400


def test_unknown_ids_are_404(api: ApiClient) -> None:
    """An unknown osm_id is a 404 with the error body."""
    response = api.get("/api/v1/boundaries/R404")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_alias_editing_round_trip(api: ApiClient) -> None:
    """PUT replaces the workspace's aliases (trimmed, de-duplicated, sorted); matching uses them at once."""
    response = api.put(
        "/api/v1/boundaries/R121/aliases", {"aliases": [" Gama ", "gama", "", "Γάμμα"]}
    )
    assert response.status_code == 200
    assert response.json() == {"osm_id": "R121", "aliases": ["Gama", "Γάμμα"]}
    assert api.get("/api/v1/boundaries/R121/aliases").json()["aliases"] == ["Gama", "Γάμμα"]
    assert (
        api.get("/api/v1/match", text="I am in gama", level=2).json()["results"][0]["osm_id"]
        == "R121"
    )
    api.put("/api/v1/boundaries/R121/aliases", {"aliases": []})
    assert (
        api.get("/api/v1/match", text="I am in gama", level=2, fuzzy="false").json()["results"]
        == []
    )


def test_alias_that_names_a_sibling_is_refused(api: ApiClient) -> None:
    """An alias equal to a sibling's name or alias is a 409 naming the sibling; nothing changes."""
    api.put("/api/v1/boundaries/R121/aliases", {"aliases": ["South"]})
    clash_alias = api.put("/api/v1/boundaries/R122/aliases", {"aliases": ["south", "North"]})
    clash_name = api.put("/api/v1/boundaries/R122/aliases", {"aliases": ["GAMMA"]})
    assert clash_alias.status_code == clash_name.status_code == 409
    assert "'south' is already an alias of Gamma" in clash_alias.json()["error"]["message"]
    assert "'GAMMA' is already the name of Gamma" in clash_name.json()["error"]["message"]
    assert not BoundaryAlias.objects.filter(boundary__osm_id="R122").exists()
    # Cousins (other parent) may share an alias, as in RapidPro.
    assert api.put("/api/v1/boundaries/R112/aliases", {"aliases": ["South"]}).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("not json", 400, "body: not valid JSON"),
        ("[1]", 400, "body: must be a JSON object"),
        ('{"aliases": "x"}', 400, "aliases: required, a list of strings"),
        ('{"aliases": [3]}', 400, "aliases[0]: must be a string"),
        ('{"aliases": ["' + "x" * 300 + '"]}', 400, "aliases[0]: longer than 255"),
        ('{"aliases": ["!!!"]}', 400, "has no letters or digits"),
    ],
)
def test_bad_alias_requests(api: ApiClient, body: str, status: int, message: str) -> None:
    """Malformed alias edits are 400s that name the field, never a 500."""
    response = api.client.put(
        "/api/v1/boundaries/R121/aliases",
        body,
        content_type="application/json",
        headers=api.headers,
    )
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_other_workspaces_and_countries_are_invisible(api: ApiClient, tmp_path: Path) -> None:
    """A workspace scoped to another country sees none of these boundaries, and cannot alias them."""
    other_country = tmp_path / "other"
    tiny_country(other_country)
    for path in other_country.iterdir():
        path.write_text(path.read_text().replace('"R1', '"R9'))
    (other_country / "R1admin0.json").rename(other_country / "R9admin0.json")
    (other_country / "R1admin1.json").rename(other_country / "R9admin1.json")
    (other_country / "R1admin2.json").rename(other_country / "R9admin2.json")
    import_geojson([other_country])
    _, token = create_workspace(name="elsewhere", country_osm_id="R9")
    other = ApiClient(token)
    assert other.get("/api/v1/boundaries/R121").status_code == 404
    assert other.put("/api/v1/boundaries/R121/aliases", {"aliases": ["x"]}).status_code == 404
    assert Workspace.objects.count() == 2


def test_wrong_method_is_405(api: ApiClient) -> None:
    """Methods an endpoint does not take get 405 with Allow."""
    response = api.post("/api/v1/match", {})
    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_children_geojson_at_each_band(api: ApiClient) -> None:
    """Children come as RFC 7946 FeatureCollections (CCW, no crs), finer bands with more vertices."""
    vertices = {}
    for band in ("0", "1", "2", "full"):
        body = api.get("/api/v1/boundaries/R12/children.geojson", band=band).json()
        assert body["type"] == "FeatureCollection" and "crs" not in body
        assert [f["properties"]["osm_id"] for f in body["features"]] == ["R122", "R121"]
        ring = body["features"][0]["geometry"]["coordinates"][0][0]
        signed = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in pairwise(ring))
        assert signed > 0
        vertices[band] = sum(
            len(r) for f in body["features"] for p in f["geometry"]["coordinates"] for r in p
        )
    assert vertices["0"] <= vertices["1"] <= vertices["2"] <= vertices["full"]
    leaf = api.get("/api/v1/boundaries/R121/children.geojson").json()
    assert [f["properties"]["osm_id"] for f in leaf["features"]] == ["R121"]
    assert leaf["features"][0]["properties"]["has_children"] is False
    assert api.get("/api/v1/boundaries/R12/children.geojson", band="9").status_code == 400
