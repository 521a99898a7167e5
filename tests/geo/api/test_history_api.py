"""Retired boundaries through the API: gone from every lookup, still answerable by osm_id, and the change feed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from geo.aliases import set_aliases
from geo.exceptions import BoundaryNotFound
from geo.importing import import_geojson
from geo.lookup.history import list_changes, parse_since
from geo.lookup.snapshot import lookup_data
from geo.models import Boundary, Membership, Role, Workspace
from geo.workspaces import create_workspace, find_workspace_by_token
from tests.builders import changing_country, tile_of
from tests.geo.api.conftest import ApiClient
from tests.geo.web.conftest import signed_in

pytestmark = pytest.mark.django_db

RETIRED = {"R113", "R115", "R123", "R124"}


@dataclass
class History:
    """Stages 1 and 2 of ``changing_country`` imported, a workspace on the country."""

    api: ApiClient
    token: str
    workspace: Workspace
    first_run: int
    second_run: int


@pytest.fixture
def history(tmp_path: Path) -> History:
    folder = changing_country(tmp_path, stage=1)
    first = import_geojson([folder])
    workspace, token = create_workspace(name="hist", country_osm_id="R1")
    # Aliases on boundaries about to retire: they must stop matching.
    set_aliases(workspace=workspace, osm_id="R115", aliases=["Iotta"])
    set_aliases(workspace=workspace, osm_id="R113", aliases=["Epsi"])
    second = import_geojson([changing_country(folder, stage=2)], allow_alias_removal=True)
    lookup_data.forget()
    return History(ApiClient(token), token, workspace, first.run_id, second.run_id)


def osm_ids(rows: list[dict[str, Any]]) -> set[str]:
    return {row["osm_id"] for row in rows}


def test_no_lookup_listing_tile_or_count_returns_a_retired_boundary(history: History) -> None:
    """Match, locate, listings, children, RapidPro endpoints, counts and tiles know only current boundaries."""
    api = history.api
    for text in ("Iota", "Iotta", "Epsilon", "Epsi", "Eta", "Theta"):
        found = api.get("/api/v1/match", text=text, level=2).json()["results"]
        assert not osm_ids(found) & RETIRED, text
    # Inside Iota, which nothing took over: no district; inside Epsilon: its halves.
    at_iota = api.get("/api/v1/locate", lat=1.5, lng=1.5).json()["results"]
    assert osm_ids(at_iota) == {"R1", "R11"}
    at_epsilon = api.get("/api/v1/locate", lat=0.5, lng=1.25).json()["results"]
    assert osm_ids(at_epsilon) == {"R1", "R11", "R1131"}
    points = api.post("/api/v1/locate", {"points": [[1.5, 1.5], [3.5, 0.5]]}).json()["results"]
    assert [osm_ids(found) for found in points] == [{"R1", "R11"}, {"R1", "R12", "R125"}]

    listing = api.get("/api/v1/boundaries", page_size=500).json()
    assert listing["count"] == 11
    assert not osm_ids(listing["results"]) & RETIRED
    assert api.get("/api/v1/boundaries", q="Iot").json()["count"] == 0
    children = api.get("/api/v1/boundaries/R11/children.geojson", band="full").json()
    assert {f["properties"]["osm_id"] for f in children["features"]} == {"R111", "R1131", "R1132"}
    for band in ("0", "1", "2"):
        children = api.get("/api/v1/boundaries/R12/children.geojson", band=band).json()
        assert not {f["properties"]["osm_id"] for f in children["features"]} & RETIRED
    west = api.get("/api/v1/boundaries/R11").json()
    assert west["has_children"] is True

    v2 = api.get("/api/v2/boundaries.json", geometry="false").json()["results"]
    assert len(v2) == 11
    assert not osm_ids(v2) & RETIRED
    locations = api.get("/api/internal/locations.json", level="district").json()["results"]
    assert not osm_ids(locations) & RETIRED

    counts = api.post(
        "/api/v1/counts", {"rows": [{"osm_id": "R115", "value": 3}, {"name": "Iota", "value": 2}]}
    ).json()
    assert counts["values"] == {}
    assert [u["key"] for u in counts["unmatched"]] == ["R115", "Iota"]

    for lng, lat in ((1.5, 1.5), (1.25, 0.5), (3.5, 1.5)):
        for z in (4, 8, 12):
            response = api.get("/tiles/{}/{}/{}.mvt".format(*tile_of(lng, lat, z)))
            assert response.status_code == 200
            layers = mapbox_vector_tile.decode(response.content) if response.content else {}
            shown = {
                f["properties"]["osm_id"] for layer in layers.values() for f in layer["features"]
            }
            assert not shown & RETIRED, (lng, lat, z)


def test_alias_editor_and_aliases_refuse_retired_boundaries(history: History) -> None:
    """A retired boundary's aliases cannot be changed; RapidPro's editor does not list it."""
    with pytest.raises(BoundaryNotFound, match="R115' was retired on"):
        set_aliases(workspace=history.workspace, osm_id="R115", aliases=["Iota Mpya"])
    response = history.api.put("/api/v1/boundaries/R115/aliases", {"aliases": ["Iota Mpya"]})
    assert response.status_code == 404
    assert "retired" in response.json()["error"]["message"]
    user = User.objects.create_user(username="viewer", password="correct horse battery")
    Membership.objects.create(user=user, workspace=history.workspace, role=Role.VIEWER)
    chain = signed_in(user).get("/adminboundary/boundaries/R11/").json()
    assert {c["osm_id"] for c in chain[-1]["children"]} == {"R111", "R1131", "R1132"}
    assert signed_in(user).get("/adminboundary/boundaries/R115/").status_code == 404


def test_a_retired_boundary_answers_with_its_retirement_and_successors(history: History) -> None:
    """GET of a retired osm_id: 200, retired {at, import}, successors with kind and share."""
    body = history.api.get("/api/v1/boundaries/R113", geometry="full").json()
    assert body["retired"]["import"] == history.second_run
    retired_at = Boundary.objects.get(osm_id="R113").retired_at
    assert retired_at is not None
    assert body["retired"]["at"] == retired_at.isoformat().replace("+00:00", "Z")
    assert body["successors"] == [
        {"osm_id": "R1132", "name": "Eps East", "path": "Changeland > West > Eps East",
         "kind": "split", "share": 0.5},
        {"osm_id": "R1131", "name": "Eps West", "path": "Changeland > West > Eps West",
         "kind": "split", "share": 0.5},
    ]  # fmt: skip
    assert body["path"] == "Changeland > West > Epsilon"
    assert body["aliases"] == ["Epsi"]
    assert body["has_children"] is False
    assert [a["osm_id"] for a in body["ancestors"]] == ["R1", "R11"]
    assert body["geometry"]["type"] == "MultiPolygon"
    lost = history.api.get("/api/v1/boundaries/R115").json()
    assert (lost["retired"]["import"], lost["successors"]) == (history.second_run, [])


def test_a_current_boundary_shows_its_predecessors(history: History) -> None:
    """A merge's successor names what it took over; an untouched boundary has no history."""
    merged = history.api.get("/api/v1/boundaries/R125").json()
    assert merged["retired"] is None
    assert merged["successors"] == []
    assert sorted((p["osm_id"], p["kind"], p["share"]) for p in merged["predecessors"]) == [
        ("R123", "merged", 1.0),
        ("R124", "merged", 1.0),
    ]
    west = history.api.get("/api/v1/boundaries/R11").json()
    assert (west["retired"], west["predecessors"], west["successors"]) == (None, [], [])


def test_changes_since_an_import_list_what_it_changed_oldest_first(history: History) -> None:
    """since=<the first import> lists the second's changes, with what they replaced and successors."""
    body = history.api.get("/api/v1/changes", since=str(history.first_run)).json()
    assert (body["count"], body["page"], body["pages"]) == (12, 1, 1)
    results = body["results"]
    assert {r["import"] for r in results} == {history.second_run}
    by_key = {(r["kind"], r["osm_id"]): r for r in results}
    assert by_key[("renamed", "R111")]["was"] == {
        "name": "Alpha",
        "path": "Changeland > West > Alpha",
    }
    assert by_key[("moved", "R112")]["was"] == {"path": "Changeland > West > Beta"}
    assert by_key[("rekeyed", "W121")]["was"] == {"osm_id": "R121"}
    assert by_key[("added", "R125")]["was"] is None
    assert by_key[("geometry", "R122")]["successors"] == []
    split = by_key[("split", "R113")]
    assert [(s["osm_id"], s["share"]) for s in split["successors"]] == [
        ("R1132", 0.5),
        ("R1131", 0.5),
    ]
    assert [s["osm_id"] for s in by_key[("merged", "R123")]["successors"]] == ["R125"]
    assert by_key[("retired", "R115")]["successors"] == []
    # Every kind of change, each once or more; nothing of the first import.
    assert {r["kind"] for r in results} == {
        "added", "renamed", "moved", "rekeyed", "geometry", "split", "merged", "retired",
    }  # fmt: skip


def test_changes_page_filter_by_country_and_day(history: History, tmp_path: Path) -> None:
    """page/page_size page through the feed; since a day counts from its start; country filters."""
    api = history.api
    everything = api.get("/api/v1/changes", since="0", page_size=500).json()
    assert everything["count"] == 12 + 12  # the first import added 12 boundaries
    assert everything["results"][0]["import"] == history.first_run
    assert everything["results"][-1]["import"] == history.second_run
    pages = [
        api.get("/api/v1/changes", since="0", page_size=10, page=page).json() for page in (1, 2, 3)
    ]
    assert [len(p["results"]) for p in pages] == [10, 10, 4]
    assert [r for p in pages for r in p["results"]] == everything["results"]
    today = timezone.now().date().isoformat()
    assert api.get("/api/v1/changes", since=today).json()["count"] == 24
    assert api.get("/api/v1/changes", since="2999-01-01").json()["count"] == 0
    assert api.get("/api/v1/changes", since="0", country="R1").json()["count"] == 24
    assert api.get("/api/v1/changes", since="0", country="R2").json()["count"] == 0
    # The third stage restores Iota.
    restored = import_geojson([changing_country(tmp_path, stage=3)])
    after = api.get("/api/v1/changes", since=str(history.second_run)).json()["results"]
    assert [(r["import"], r["kind"], r["osm_id"]) for r in after] == [
        (restored.run_id, "restored", "R115")
    ]


@pytest.mark.parametrize("since", ["", "yesterday", "2024-13-01", "12a", " 12", "2024-1-01"])
def test_changes_refuse_a_since_that_is_neither_an_import_nor_a_day(
    history: History, since: str
) -> None:
    response = history.api.get("/api/v1/changes", since=since)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("since:")
    assert history.api.get("/api/v1/changes").status_code == 400


def test_operators_see_the_history_in_the_admin(history: History) -> None:
    """The admin lists retired boundaries (filterable), versions, links and the change log."""
    staff = User.objects.create_superuser(username="op", password="correct horse battery")
    client = signed_in(staff)
    retired = client.get("/admin/geo/boundary/", {"retired_at__isempty": "0"}).content.decode()
    assert "R115" in retired and "R111" not in retired
    current = client.get("/admin/geo/boundary/", {"retired_at__isempty": "1"}).content.decode()
    assert "R111" in current and "R115" not in current
    for model, shown in (
        ("boundarychange", "Epsilon"),
        ("boundaryversion", "Alpha"),
        ("boundarylink", "split"),
    ):
        page = client.get(f"/admin/geo/{model}/")
        assert page.status_code == 200, model
        assert shown in page.content.decode(), model


def test_a_restored_boundary_is_found_again_with_its_aliases(
    history: History, tmp_path: Path
) -> None:
    """Back in the source: matched by name and by the alias it kept, located, listed."""
    import_geojson([changing_country(tmp_path, stage=3)])
    lookup_data.forget()
    api = history.api
    for text in ("Iota", "Iotta"):
        found = api.get("/api/v1/match", text=text, level=2).json()["results"]
        assert osm_ids(found) == {"R115"}, text
    assert osm_ids(api.get("/api/v1/locate", lat=1.5, lng=1.5).json()["results"]) == {
        "R1",
        "R11",
        "R115",
    }
    detail = api.get("/api/v1/boundaries/R115").json()
    assert (detail["retired"], detail["aliases"]) == (None, ["Iotta"])


def test_a_page_of_changes_costs_three_queries(
    history: History, django_assert_num_queries: Any
) -> None:
    """Count, page, and every listed change's successors at once: no query per row."""
    access = find_workspace_by_token(history.token)
    assert access is not None
    with django_assert_num_queries(3):
        page = list_changes(access, since=parse_since("0"), page_size=500)
    assert len(page.items) == 24
