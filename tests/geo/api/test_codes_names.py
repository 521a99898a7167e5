"""Codes and names in other languages: shown by the API, found by match and listing, display_name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from geo.importing import import_geojson
from geo.lookup.snapshot import lookup_data
from geo.models import Boundary
from geo.workspaces import create_workspace, set_name_language
from tests.builders import coded_country
from tests.geo.api.conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tmp_path: Path) -> None:
    import_geojson([coded_country(tmp_path)])
    # Variant names come from sources other than posm (GADM's VARNAME); set as stored.
    Boundary.objects.filter(osm_id="R12").update(other_names=["Eastern Marches"])
    lookup_data.forget()


def client(name: str = "flows", *, country: str | None = "R1", language: str = "") -> ApiClient:
    _, token = create_workspace(name=name, country_osm_id=country, language=language)
    return ApiClient(token)


def match(api: ApiClient, text: str, level: int, **params: Any) -> dict[str, Any]:
    response = api.get("/api/v1/match", text=text, level=level, **params)
    assert response.status_code == 200, response.content
    return dict(response.json())


def best(api: ApiClient, text: str, level: int) -> tuple[str, str, str] | None:
    body = match(api, text, level)
    if body["ambiguous"] or not body["results"]:
        return None
    found = body["results"][0]
    return found["osm_id"], found["match"]["method"], found["match"]["field"]


def test_match_finds_a_boundary_by_any_of_its_codes(world: None) -> None:
    """ISO 3166-2, ref and Wikidata codes, case and punctuation aside, at the asked level only."""
    api = client()
    assert best(api, "TL-01", 1) == ("R11", "code", "code")
    assert best(api, "tl01", 1) == ("R11", "code", "code")
    assert best(api, " tl 02 ", 1) == ("R12", "code", "code")
    assert best(api, "e2", 1) == ("R12", "code", "code")
    assert best(api, "Q111", 2) == ("R111", "code", "code")
    assert best(api, "Q11", 1) == ("R11", "code", "code")
    body = match(api, "TL-01", 1)
    assert body["results"][0]["match"] == {
        "method": "code",
        "field": "code",
        "text": "TL-01",
        "score": 1.0,
    }
    assert best(api, "TL-01", 2) is None  # a state's code is no district
    assert best(api, "Q1", 1) is None  # the country's code, asked as a state
    assert best(api, "OT-01", 1) is None  # another country's state, outside the workspace
    assert best(client("world", country=None), "OT-01", 1) == ("R21", "code", "code")
    # A short code of letters only is a likely reply: "ok" is not Gamma's ref here.
    assert match(api, "OK", 2)["results"] == []
    assert best(api, "Gamma", 2) == ("R121", "exact", "name")


def test_match_uses_every_name_with_the_usual_folding(world: None) -> None:
    """Names in other languages and variants match as names do: exact, accents, typos, in text."""
    api = client()
    assert best(api, "Ouest", 1) == ("R11", "exact", "names")
    assert best(api, "OESTE", 1) == ("R11", "exact", "names")
    assert best(api, "Petitpays", 0) == ("R1", "exact", "names")
    assert best(api, "Est", 1) == ("R12", "exact", "names")
    assert best(api, "eastern marches", 1) == ("R12", "exact", "other_names")
    assert best(api, "Ouset", 1) == ("R11", "fuzzy", "names")  # two letters swapped
    assert best(api, "easternmarches", 1) == ("R12", "token", "other_names")  # run together
    assert best(api, "I live in Eastern Marchs", 1) == ("R12", "fuzzy", "other_names")
    assert best(api, "nous sommes a l'ouest merci", 1) == ("R11", "token", "names")
    # The source name still wins where it matches: Beta's French name is Bêta.
    assert best(api, "bêta", 2) == ("R112", "exact", "name")


def test_codes_are_in_every_result(world: None) -> None:
    """match, locate, listings, details and RapidPro's boundaries carry the codes."""
    api = client()
    codes = {"iso3166_2": "TL-01", "wikidata": "Q11"}
    assert match(api, "West", 1)["results"][0]["codes"] == codes
    located = api.get("/api/v1/locate", lat=0.5, lng=0.5).json()["results"]
    assert [r["codes"] for r in located] == [{"wikidata": "Q1"}, codes, {"wikidata": "Q111"}]
    listed = api.get("/api/v1/boundaries", level=1).json()["results"]
    assert [r["codes"] for r in listed] == [{"iso3166_2": "TL-02", "ref": "E2"}, codes]
    assert api.get("/api/v1/boundaries/R11").json()["codes"] == codes
    rapidpro = api.get("/api/v2/boundaries.json", geometry="false").json()["results"]
    assert {r["osm_id"]: r["codes"] for r in rapidpro}["R11"] == codes
    assert {r["osm_id"]: r["codes"] for r in rapidpro}["R121"] == {"ref": "OK"}
    assert {r["osm_id"]: r["codes"] for r in rapidpro}["R122"] == {}


def test_listing_finds_by_code(world: None) -> None:
    """code= is exact but for case, in any scheme or the one in scheme=; scoped to the workspace."""
    api = client()

    def listed(**params: str) -> list[str]:
        response = api.get("/api/v1/boundaries", **params)
        assert response.status_code == 200, response.content
        return [r["osm_id"] for r in response.json()["results"]]

    assert listed(code="tl-02") == ["R12"]
    assert listed(code="Q111") == ["R111"]
    assert listed(code="E2", scheme="ref") == ["R12"]
    assert listed(code="E2", scheme="wikidata") == []
    assert listed(code="TL02") == []  # exact: the punctuation counts here
    assert listed(code="OT-01") == []  # Otherland's, outside the workspace
    assert listed(code="Q11", level="2") == []
    assert listed(code="ok") == ["R121"]  # listings find every code
    assert api.get("/api/v1/boundaries", code="E2", scheme="isbn").status_code == 400


def test_listing_q_searches_every_name(world: None) -> None:
    """q= looks in names in other languages and variant names too, as match does."""
    api = client()

    def listed(q: str, **params: str) -> list[str]:
        response = api.get("/api/v1/boundaries", q=q, **params)
        assert response.status_code == 200, response.content
        return [r["osm_id"] for r in response.json()["results"]]

    today = timezone.now().date().isoformat()
    assert listed("ouest", as_of=today) == listed("ouest") == ["R11"]  # name:fr
    assert listed("marches", as_of=today) == ["R12"]
    assert listed("OESTE") == ["R11"]  # name:pt-BR, any case
    assert listed("bêta") == ["R112"]  # name:fr Bêta (and not Beta: q is not folded)
    assert listed("marches") == ["R12"]  # a variant name
    assert listed("petitpays") == ["R1"]
    assert listed("%") == listed("_") == []  # literal characters, not wildcards
    assert listed("west") == ["R11"]  # the name itself, as before


def test_display_name_follows_the_workspace_language(world: None) -> None:
    """display_name is the name in the workspace's language where there is one; name stays."""
    french = client("fr", language="fr")
    found = match(french, "West", 1)["results"][0]
    assert (found["name"], found["display_name"]) == ("West", "Ouest")
    assert match(french, "Gamma", 2)["results"][0]["display_name"] == "Gamma"
    detail = french.get("/api/v1/boundaries/R112").json()
    assert (detail["name"], detail["display_name"]) == ("Beta", "Bêta")
    assert [a["display_name"] for a in detail["ancestors"]] == ["Petitpays", "Ouest"]
    children = french.get("/api/v1/boundaries/R1/children.geojson").json()["features"]
    assert [f["properties"]["display_name"] for f in children] == ["Est", "Ouest"]
    countries = french.get("/api/v1/countries.geojson").json()["features"]
    assert countries[0]["properties"]["display_name"] == "Petitpays"
    located = french.get("/api/v1/locate", lat=0.5, lng=0.5).json()["results"]
    assert [r["display_name"] for r in located] == ["Petitpays", "Ouest", "Alpha"]

    brazilian = client("br", language="pt-BR")
    assert match(brazilian, "West", 1)["results"][0]["display_name"] == "Oeste"
    plain = client("plain")
    assert match(plain, "West", 1)["results"][0]["display_name"] == "West"
    english = client("en", language="en")
    assert match(english, "Tinyland", 0)["results"][0]["display_name"] == "Tinyland"

    set_name_language("plain", language="fr")  # seen from the next request on
    assert match(plain, "West", 1)["results"][0]["display_name"] == "Ouest"
