from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from geo.aliases import set_aliases
from geo.api import views
from geo.importing import import_geojson
from geo.lookup import snapshot
from geo.models import Workspace
from geo.workspaces import create_workspace
from tests.geo.api.conftest import REFERENCE, ApiClient, goflow_hierarchy_files

pytestmark = pytest.mark.django_db

CASES = json.loads((REFERENCE / "goflow-cases.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"L{c['level']}:{c['text']}|{c['parent']}")
def test_goflow_cases_through_the_api(api: ApiClient, case: dict[str, Any]) -> None:
    """GET /api/v1/match answers every goflow acceptance case as goflow does."""
    params = {"text": case["text"], "level": case["level"]}
    if case["parent"] is not None:
        params["parent"] = case["parent"]
    body = api.get("/api/v1/match", **params).json()
    answer = body["results"][0]["path"] if body["results"] and not body["ambiguous"] else None
    assert answer == case["expect"]


def test_result_fields_and_how_it_matched(api: ApiClient) -> None:
    """Each result carries osm_id, name, level, path, parent and the match method and score."""
    body = api.get("/api/v1/match", text="I live in gasabo", level=2, parent="kigali").json()
    (result,) = body["results"]
    assert {k: result[k] for k in ("osm_id", "name", "level", "path", "parent_osm_id")} == {
        "osm_id": "R111", "name": "Gasabo", "level": 2, "path": "Rwanda > Kigali City > Gasabo", "parent_osm_id": "R11",
    }  # fmt: skip
    assert result["match"] == {"method": "token", "field": "name", "text": "gasabo", "score": 0.95}
    assert body["parent"]["osm_id"] == "R11"
    assert body["ambiguous"] is False


def test_parent_by_osm_id_or_path(api: ApiClient) -> None:
    """parent takes an osm_id or a path as well as free text."""
    by_id = api.get("/api/v1/match", text="Gisozi", level=3, parent="R111").json()
    by_path = api.get(
        "/api/v1/match", text="Gisozi", level=3, parent="Rwanda > Kigali City > Gasabo"
    ).json()
    assert by_id["results"][0]["osm_id"] == by_path["results"][0]["osm_id"] == "R1111"


def test_aliases_are_per_workspace(goflow_world: tuple[Workspace, str]) -> None:
    """Another workspace does not see the first one's aliases."""
    _, other_token = create_workspace(name="other", country_osm_id="R1")
    other = ApiClient(other_token)
    assert other.get("/api/v1/match", text="kigari", level=1).json()["results"] == []
    assert (
        ApiClient(goflow_world[1])
        .get("/api/v1/match", text="kigari", level=1)
        .json()["results"][0]["osm_id"]
        == "R11"
    )


def test_fuzzy_can_be_turned_off(api: ApiClient) -> None:
    """fuzzy=false keeps exact matching only."""
    assert (
        api.get("/api/v1/match", text="Paktikka", level=1).json()["results"][0]["osm_id"] == "R14"
    )
    assert api.get("/api/v1/match", text="Paktikka", level=1, fuzzy="false").json()["results"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"level": 1}, "text: required"),
        ({"text": "x"}, "level: required"),
        ({"text": "x", "level": 7}, "level: must be from 0 to 3, not 7"),
        ({"text": "x", "level": "one"}, "level: must be a whole number"),
        ({"text": "x", "level": 1, "fuzzy": "maybe"}, "fuzzy: must be true or false"),
    ],
)
def test_bad_requests_name_the_field(api: ApiClient, params: dict[str, Any], message: str) -> None:
    """Malformed parameters get 400 and an error naming the field."""
    response = api.get("/api/v1/match", **params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_query"
    assert message in response.json()["error"]["message"]


def test_tokens_are_required(api: ApiClient) -> None:
    """No token or a wrong one is 401 and nothing else."""
    anonymous = api.client.get("/api/v1/match", {"text": "Gasabo", "level": "2"})
    wrong = api.client.get(
        "/api/v1/match", {"text": "Gasabo", "level": "2"}, headers={"Authorization": "Token nope"}
    )
    for response in (anonymous, wrong):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert "results" not in response.json()


def test_other_countries_are_out_of_scope(api: ApiClient) -> None:
    """A workspace scoped to a country cannot ask for another one."""
    response = api.get("/api/v1/match", text="Gasabo", level=2, country="R999")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("text", "level", "expected", "method"),
    [
        ("Gasbao", 2, "R111", "fuzzy"),  # two letters swapped
        ("Kigalicity", 1, "R11", "token"),  # words run together
        ("Gasabo District", 2, "R111", "token"),  # a level word
        ("Kigali City, Gasabo", 2, "R111", "token"),  # the parent beside the child
        ("Province de Paktika", 1, "R14", "token"),
    ],
)
def test_matches_as_people_type(
    api: ApiClient, text: str, level: int, expected: str, method: str
) -> None:
    """Swaps, joined words, level words and a parent named beside the child all match."""
    body = api.get("/api/v1/match", text=text, level=level).json()
    assert body["ambiguous"] is False
    assert [(r["osm_id"], r["match"]["method"]) for r in body["results"]] == [(expected, method)]


@pytest.mark.parametrize("text", ["I don't know", "N/A", "no", "yes", "hello"])
def test_everyday_replies_match_nothing(api: ApiClient, text: str) -> None:
    """Replies that name no place give no result at any level."""
    for level in (1, 2, 3):
        assert api.get("/api/v1/match", text=text, level=level).json()["results"] == []


def test_repeated_questions_are_answered_from_memory_until_aliases_or_boundaries_change(
    goflow_world: tuple[Workspace, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flow's repeated reply is matched once; an alias edit or a new import shows at once."""
    workspace, token = goflow_world
    api = ApiClient(token)
    matched: list[str] = []
    real_match_in = views.match_in

    def counting_match_in(*args: Any, **kwargs: Any) -> Any:
        matched.append(kwargs["text"])
        return real_match_in(*args, **kwargs)

    monkeypatch.setattr(views, "match_in", counting_match_in)

    def answer(text: str) -> Any:
        response = api.get("/api/v1/match", text=text, level=2)
        assert response.status_code == 200
        return response

    first, again = answer("I live in gasabo"), answer("I live in gasabo")
    assert first.content == again.content
    assert first.json()["results"][0]["osm_id"] == "R111"
    assert matched == ["I live in gasabo"]  # the second came from memory

    # Another workspace asks the same: its own answer (its aliases, its country).
    _, other_token = create_workspace(name="other", country_osm_id="R1")
    ApiClient(other_token).get("/api/v1/match", text="I live in gasabo", level=2)
    assert len(matched) == 2

    # An alias edit: the same question is matched again, with the alias.
    set_aliases(workspace=workspace, osm_id="R111", aliases=["Gasabo Nshya"])
    assert answer("gasabo nshya").json()["results"][0]["osm_id"] == "R111"
    assert answer("I live in gasabo").content == first.content
    assert matched[-1] == "I live in gasabo" and len(matched) == 4

    # A new import renames the district: once the worker has the new snapshot (it checks
    # every REFRESH_SECONDS; here at once), the old answer is not served again.
    monkeypatch.setattr(snapshot, "REFRESH_SECONDS", 0.0)
    folder = goflow_hierarchy_files(tmp_path / "renamed")
    districts = folder / "R1admin2.json"
    districts.write_text(districts.read_text().replace('"Gasabo"', '"Gasabo Rural"'))
    import_geojson([folder])
    assert answer("I live in gasabo").json()["results"] == []
    assert len(matched) == 5
    assert answer("I live in gasabo rural").json()["results"][0]["osm_id"] == "R111"
