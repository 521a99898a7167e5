"""History end to end: real imports record it; resolve, as_of and the changes map read it.

``changing_country`` stage 1 is imported and made ten days old, then stage 2
(every kind of change at once) is imported today. Nothing is written by hand
but the age of the first import.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from geo.importing import import_geojson
from geo.models import Boundary, TokenScope
from geo.workspaces import create_workspace, issue_token
from tests.builders import changing_country, tiny_country
from tests.geo.api.conftest import ApiClient
from tests.gis_sources import mipaka_export_of_stored

pytestmark = pytest.mark.django_db

TEN_DAYS = timedelta(days=10)


@pytest.fixture
def api(tmp_path: Path) -> ApiClient:
    """Changeland as imported ten days ago, then as imported today."""
    import_geojson([changing_country(tmp_path / "then", stage=1)])
    # The first import's states began ten days ago: valid_from is what as_of reads.
    Boundary.objects.update(
        valid_from=F("valid_from") - TEN_DAYS, created_at=F("created_at") - TEN_DAYS
    )
    import_geojson([changing_country(tmp_path / "now", stage=2)])
    workspace, _ = create_workspace(name="change", country_osm_id="R1")
    return ApiClient(issue_token(workspace, scope=TokenScope.READ))


def resolved(api: ApiClient, *values: str) -> list[dict[str, Any]]:
    response = api.post("/api/v1/resolve", {"values": list(values)})
    assert response.status_code == 200, response.content
    return list(response.json()["results"])


def test_values_stored_before_the_changes_resolve_to_todays_boundaries(api: ApiClient) -> None:
    """Each kind of change an import recorded is what resolve reports for the old value."""
    results = resolved(
        api,
        "Changeland > West > Alpha",  # renamed Alfa
        "Changeland > West > Beta",  # moved to East (now Orient)
        "R121",  # Gamma, re-keyed W121
        "Changeland > West > Epsilon",  # split in halves
        "Changeland > East > Eta",  # merged with Theta
        "R115",  # Iota, gone
        "Changeland > Orient > Kappa",  # today's path
        "Nowhere at all",
    )
    assert [r["status"] for r in results] == [
        "renamed", "moved", "rekeyed", "split", "merged", "retired", "current", "unknown",
    ]  # fmt: skip
    today = [r["boundary"] and r["boundary"]["path"] for r in results]
    assert today[:3] == [
        "Changeland > West > Alfa",
        "Changeland > Orient > Beta",
        "Changeland > Orient > Gamma",
    ]
    assert results[2]["boundary"]["osm_id"] == "W121"
    assert today[3] is None
    assert sorted((c["osm_id"], c["share"]) for c in results[3]["candidates"]) == [
        ("R1131", pytest.approx(0.5, abs=1e-6)),
        ("R1132", pytest.approx(0.5, abs=1e-6)),
    ]
    assert results[4]["boundary"]["osm_id"] == "R125"
    assert results[5]["boundary"] is None and results[5]["candidates"] == []
    assert today[6] == "Changeland > Orient > Kappa"


def test_as_of_answers_as_the_boundaries_were_that_day(api: ApiClient) -> None:
    """Before today's import: Alpha, Epsilon and East; today: Alfa, the halves and Orient."""
    then = (timezone.now() - timedelta(days=5)).date().isoformat()
    past = api.get("/api/v1/match", text="alpha", level=2, as_of=then).json()["results"]
    assert [(r["osm_id"], r["path"]) for r in past] == [("R111", "Changeland > West > Alpha")]
    assert api.get("/api/v1/match", text="alfa", level=2, as_of=then).json()["results"] == []
    now = api.get("/api/v1/match", text="alfa", level=2).json()["results"]
    assert [r["path"] for r in now] == ["Changeland > West > Alfa"]

    def districts(**extra: str) -> list[str]:
        found = api.get("/api/v1/locate", lat="0.5", lng="1.25", **extra).json()["results"]
        return [r["osm_id"] for r in found if r["level"] == 2]

    assert districts(as_of=then) == ["R113"]
    assert districts() == ["R1131"]
    listing = api.get("/api/v1/boundaries", level=1, as_of=then).json()["results"]
    assert sorted(r["name"] for r in listing) == ["East", "West"]
    long_ago = (timezone.now() - timedelta(days=30)).date().isoformat()
    assert api.get("/api/v1/boundaries", level=1, as_of=long_ago).json()["results"] == []


def test_variant_names_of_that_day(tmp_path: Path) -> None:
    """A re-import that changes only a variant name keeps the old one for as_of."""
    import_geojson([tiny_country(tmp_path / "tiny")])
    Boundary.objects.filter(osm_id="R12").update(other_names=["Eastern Marches"])
    Boundary.objects.update(
        valid_from=F("valid_from") - TEN_DAYS, created_at=F("created_at") - TEN_DAYS
    )
    # The source's new edition: the same boundaries, East known by another variant.
    Boundary.objects.filter(osm_id="R12").update(other_names=["Orient Province"])
    edition = mipaka_export_of_stored(tmp_path / "edition.gpkg")
    Boundary.objects.filter(osm_id="R12").update(other_names=["Eastern Marches"])
    call_command("import_boundaries", str(edition), stdout=StringIO())
    assert Boundary.objects.get(osm_id="R12").other_names == ["Orient Province"]
    workspace, _ = create_workspace(name="tiny", country_osm_id="R1")
    api = ApiClient(issue_token(workspace, scope=TokenScope.READ))
    then = (timezone.now() - timedelta(days=5)).date().isoformat()

    def found(text: str, **day: str) -> list[str]:
        query = {"text": text, "level": 1, "fuzzy": "false", **day}
        return [r["osm_id"] for r in api.get("/api/v1/match", **query).json()["results"]]

    assert found("Eastern Marches", as_of=then) == ["R12"]
    assert found("Orient Province", as_of=then) == []
    assert found("Orient Province") == ["R12"]
    assert found("Eastern Marches") == []


def test_a_key_an_import_replaced_leads_to_todays(api: ApiClient) -> None:
    """Gamma was R121 until today's import re-keyed it W121: its stored id still finds it."""
    moved = api.get("/api/v1/boundaries/R121", geometry="simplified")
    assert moved.status_code == 301
    assert moved["Location"] == "/api/v1/boundaries/W121?geometry=simplified"
    followed = api.get(moved["Location"].split("?")[0], geometry="simplified").json()
    assert (followed["osm_id"], followed["name"]) == ("W121", "Gamma")
    assert followed["geometry"]["type"] == "MultiPolygon"
    assert api.get("/api/v1/boundaries/R121")["Location"] == "/api/v1/boundaries/W121"
    aliases = api.get("/api/v1/boundaries/R121/aliases")
    assert aliases.status_code == 404
    assert "re-keyed 'W121' on " in aliases.json()["error"]["message"]
    assert api.get("/api/v1/boundaries/R999").status_code == 404
