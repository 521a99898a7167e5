from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from geo.aliases import set_aliases
from geo.importing import import_geojson
from geo.models import Workspace
from geo.workspaces import create_workspace
from tests.builders import tiny_country
from tests.geo.api.conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Workspace, ApiClient]:
    import_geojson([tiny_country(tmp_path)])
    workspace, token = create_workspace(name="rp", country_osm_id="R1")
    set_aliases(workspace=workspace, osm_id="R12", aliases=["Orient", "Levant"])
    return workspace, ApiClient(token)


def test_v2_boundaries_has_rapidpros_fields(tiny: tuple[Workspace, ApiClient]) -> None:
    """Fields as RapidPro's API v2: osm_id, name, parent {osm_id, name}, level, aliases, geometry;
    and Mipaka's codes beside them."""
    body = tiny[1].get("/api/v2/boundaries.json", geometry="false").json()
    assert body["next"] is None and body["previous"] is None
    by_id = {r["osm_id"]: r for r in body["results"]}
    assert [r["osm_id"] for r in body["results"]] == sorted(by_id)
    assert by_id["R12"] == {
        "osm_id": "R12", "name": "East", "parent": {"osm_id": "R1", "name": "Tinyland"}, "level": 1,
        "aliases": ["Levant", "Orient"], "geometry": None, "codes": {},
    }  # fmt: skip
    assert by_id["R1"]["parent"] is None


@pytest.mark.parametrize("query", [{}, {"geometry": "true"}])
def test_v2_boundaries_geometry_by_default_and_on_request(
    tiny: tuple[Workspace, ApiClient], query: dict[str, str]
) -> None:
    """Geometry comes without asking (current RapidPro) and with ?geometry=true (older clients).

    It is the simplified MultiPolygon, counter-clockwise (RFC 7946).
    """
    results = tiny[1].get("/api/v2/boundaries.json", **query).json()["results"]
    assert all(r["geometry"] is not None for r in results)
    geometry = next(r for r in results if r["osm_id"] == "R121")["geometry"]
    assert geometry["type"] == "MultiPolygon"
    ring = geometry["coordinates"][0][0]
    signed = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in pairwise(ring))
    assert signed > 0


def test_v2_boundaries_bad_geometry_flag(tiny: tuple[Workspace, ApiClient]) -> None:
    """A geometry flag that is not a boolean is a 400 naming the parameter."""
    response = tiny[1].get("/api/v2/boundaries.json", geometry="maybe")
    assert response.status_code == 400
    assert "geometry: must be true or false" in response.json()["error"]["message"]


def test_v2_cursor_paging(
    tiny: tuple[Workspace, ApiClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages follow osm_id order through opaque cursors until next is null."""
    monkeypatch.setattr("geo.api.rapidpro.PAGE_SIZE", 3)
    seen: list[str] = []
    url: str | None = "/api/v2/boundaries.json"
    while url:
        body = tiny[1].client.get(url, headers=tiny[1].headers).json()
        seen += [r["osm_id"] for r in body["results"]]
        url = body["next"]
    assert seen == sorted(seen) and len(seen) == 7
    bad = tiny[1].get("/api/v2/boundaries.json", cursor="%%%")
    assert bad.status_code == 400 and "cursor" in bad.json()["error"]["message"]


def test_internal_locations(tiny: tuple[Workspace, ApiClient]) -> None:
    """level=state|district|ward with query on the path; unknown levels give an empty list."""
    api = tiny[1]
    districts = api.get("/api/internal/locations.json", level="district", query="east").json()[
        "results"
    ]
    assert [(r["osm_id"], r["name"], r["path"]) for r in districts] == [
        ("R122", "Delta", "Tinyland > East > Delta"),
        ("R121", "Gamma", "Tinyland > East > Gamma"),
    ]
    assert api.get("/api/internal/locations.json", level="hood").json()["results"] == []
    assert api.get("/api/internal/locations.json").json()["results"] == []
