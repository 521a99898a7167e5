"""as_of=YYYY-MM-DD on match, locate and the boundary listing: answers of a past day."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from geo.aliases import set_aliases
from geo.lookup import as_of
from geo.models import (
    AuditAction,
    AuditEvent,
    Boundary,
    BoundaryAlias,
    BoundaryVersion,
    Workspace,
)
from geo.workspaces import create_workspace
from tests.geo.api.conftest import ApiClient
from tests.history import T0, T1, build_history_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tmp_path: Path) -> ApiClient:
    """A workspace bound to Tinyland, whose history goes back to 2020."""
    build_history_world(tmp_path)
    _, token = create_workspace(name="tiny", country_osm_id="R1")
    return ApiClient(token)


def paths(body: dict[str, Any]) -> list[str]:
    return [r["path"] for r in body["results"]]


def test_match_finds_the_names_of_that_day(api: ApiClient) -> None:
    """A name that was current on the day matches, with the path of that day."""
    body = api.get("/api/v1/match", text="Oldalpha", level=2, as_of="2023-06-01").json()
    assert [(r["osm_id"], r["path"]) for r in body["results"]] == [
        ("R111", "Tinyland > Westland > Oldalpha")
    ]
    assert paths(api.get("/api/v1/match", text="Eldest", level=2, as_of="2021-06-01").json()) == [
        "Tinyland > Westland > Eldest"
    ]
    assert api.get("/api/v1/match", text="Oldalpha", level=2, fuzzy="false").json()["results"] == []
    assert paths(api.get("/api/v1/match", text="Alpha", level=2, as_of="2023-06-01").json()) == []


def test_match_with_a_parent_of_that_day(api: ApiClient) -> None:
    """Gamma sat in Westland until 2024; the parent is resolved among that day's names."""
    body = api.get(
        "/api/v1/match", text="Gamma", level=2, parent="Westland", as_of="2023-06-01"
    ).json()
    assert body["parent"]["name"] == "Westland"
    assert paths(body) == ["Tinyland > Westland > Gamma"]
    assert api.get("/api/v1/match", text="Gamma", level=2, parent="West").json()["results"] == []


def test_retired_and_new_boundaries_by_day(api: ApiClient) -> None:
    """Lambda existed from 2024 to 2025 only; Omega until 2024."""

    def found(text: str, day: str) -> list[str]:
        body = api.get("/api/v1/match", text=text, level=2, as_of=day, fuzzy="false").json()
        return [r["osm_id"] for r in body["results"]]

    assert found("Lambda", "2023-12-31") == []
    assert found("Lambda", "2024-06-01") == ["R161"]
    assert found("Lambda", "2025-01-01") == []
    assert found("Omega", "2023-12-31") == ["R130"]
    assert found("Omega", "2024-01-01") == []


def test_locate_uses_the_shapes_of_that_day(api: ApiClient) -> None:
    """Alpha was only its south-west quarter before 2024; Omega covered (3.5, 5.5)."""
    today = api.get("/api/v1/locate", lat=0.75, lng=0.75).json()
    assert [r["name"] for r in today["results"]] == ["Tinyland", "West", "Alpha"]
    past = api.get("/api/v1/locate", lat=0.75, lng=0.75, as_of="2023-06-01").json()
    assert [r["name"] for r in past["results"]] == ["Tinyland", "Westland"]
    inner = api.get("/api/v1/locate", lat=0.25, lng=0.25, as_of="2023-06-01").json()
    assert paths(inner)[-1] == "Tinyland > Westland > Oldalpha"
    assert [r["osm_id"] for r in api.get(
        "/api/v1/locate", lat=5.5, lng=3.5, as_of="2023-06-01").json()["results"]] == ["R130"]  # fmt: skip
    assert api.get("/api/v1/locate", lat=5.5, lng=3.5, as_of="2024-06-01").json()["results"] == []


def test_locate_many_points_as_of(api: ApiClient) -> None:
    """POST locate takes as_of in its body; answers stay in the order of the points."""
    body = api.post(
        "/api/v1/locate", {"points": [[3.5, 5.5], [0.25, 0.25], [50, 50]], "as_of": "2023-06-01"}
    ).json()
    assert [[r["osm_id"] for r in found] for found in body["results"]] == [
        ["R130"],
        ["R1", "R11", "R111"],
        [],
    ]
    bad = api.post("/api/v1/locate", {"points": [[0, 0]], "as_of": 20230601})
    assert bad.status_code == 400


def test_listing_as_of(api: ApiClient) -> None:
    """The listing shows that day's boundaries, keys, names and paths."""
    body = api.get("/api/v1/boundaries", level=2, as_of="2023-06-01").json()
    listed = [(r["osm_id"], r["path"]) for r in body["results"]]
    assert listed == [
        ("R122", "Tinyland > East > Delta"),
        ("R130", "Tinyland > East > Omega"),
        ("R140", "Tinyland > East > Sigma"),
        ("R141", "Tinyland > East > Tau"),
        ("R150", "Tinyland > East > Zeta"),
        ("R9112", "Tinyland > Westland > Beta"),
        ("R121", "Tinyland > Westland > Gamma"),
        ("R160", "Tinyland > Westland > Kappa"),
        ("R111", "Tinyland > Westland > Oldalpha"),
    ]
    assert body["count"] == 9
    assert body["results"][0]["aliases"] == []
    children = api.get("/api/v1/boundaries", parent="R11", as_of="2023-06-01", q="ALP").json()
    assert [r["name"] for r in children["results"]] == ["Oldalpha"]


def set_aliases_on(day: str, osm_id: str, aliases: list[str]) -> None:
    """Set a boundary's aliases in the "tiny" workspace, as if on ``day`` (noon UTC)."""
    set_aliases(workspace=Workspace.objects.get(name="tiny"), osm_id=osm_id, aliases=aliases)
    AuditEvent.objects.filter(pk=AuditEvent.objects.latest("id").pk).update(
        created_at=datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC)
    )


def test_aliases_of_that_day(api: ApiClient) -> None:
    """An alias matches, and is listed, on the days it existed only: set, changed, then removed."""
    set_aliases_on("2023-01-10", "R111", ["Kigari"])
    set_aliases_on("2024-03-01", "R111", ["Kigali Town"])
    set_aliases(workspace=Workspace.objects.get(name="tiny"), osm_id="R111", aliases=[])

    def found(text: str, day: str | None = None) -> list[str]:
        query = {"text": text, "level": 2, "fuzzy": "false"} | ({"as_of": day} if day else {})
        return [r["osm_id"] for r in api.get("/api/v1/match", **query).json()["results"]]

    assert found("Kigari", "2022-06-01") == []
    assert found("Kigari", "2023-06-01") == ["R111"]
    assert found("Kigali Town", "2023-06-01") == []
    assert found("Kigali Town", "2024-06-01") == ["R111"]
    assert found("Kigari", "2024-06-01") == []
    assert found("Kigali Town") == found("Kigari") == []
    listed = api.get("/api/v1/boundaries", as_of="2023-06-01", q="kigar").json()["results"]
    assert [(r["osm_id"], r["name"], r["aliases"]) for r in listed] == [
        ("R111", "Oldalpha", ["Kigari"])
    ]
    assert api.get("/api/v1/boundaries", q="kigar").json()["results"] == []


def test_aliases_changed_before_changes_named_the_boundary_id(api: ApiClient) -> None:
    """An earlier release's change names the boundary by its osm_id then (R9112, now R112)."""
    beta = Boundary.objects.get(osm_id="R112")
    workspace = Workspace.objects.get(name="tiny")
    BoundaryAlias.objects.create(workspace=workspace, boundary=beta, name="Betaville")
    AuditEvent.objects.create(
        workspace=workspace, actor="an earlier release", action=AuditAction.ALIASES_SET,
        target="R9112", details={"before": ["Old Beta"], "after": ["Betaville"]},
    )  # fmt: skip
    AuditEvent.objects.filter(target="R9112").update(created_at=datetime(2023, 9, 1, tzinfo=UTC))
    assert as_of.aliases_at(workspace.pk, datetime(2023, 6, 2, tzinfo=UTC)) == [
        (beta.pk, "Old Beta")
    ]
    assert as_of.aliases_at(workspace.pk, datetime(2023, 12, 2, tzinfo=UTC)) == [
        (beta.pk, "Betaville")
    ]
    body = api.get("/api/v1/match", text="Old Beta", level=2, as_of="2023-06-01").json()
    assert [r["osm_id"] for r in body["results"]] == ["R9112"]


@pytest.mark.parametrize("day", ["1999-12-31", "2999-01-01"])
def test_days_without_boundaries_give_empty_answers(api: ApiClient, day: str) -> None:
    """Before the first import, or after today (UTC): nothing is known, answers are empty."""
    assert api.get("/api/v1/match", text="Tinyland", level=0, as_of=day).json()["results"] == []
    assert api.get("/api/v1/locate", lat=0.5, lng=0.5, as_of=day).json()["results"] == []
    assert api.get("/api/v1/boundaries", as_of=day).json()["count"] == 0


def test_today_as_of_answers_as_today(api: ApiClient) -> None:
    """as_of today is the boundaries of now."""
    today = timezone.now().date().isoformat()
    body = api.get("/api/v1/locate", lat=0.75, lng=0.75, as_of=today).json()
    assert [r["name"] for r in body["results"]] == ["Tinyland", "West", "Alpha"]


@pytest.mark.parametrize("day", ["2023-02-30", "2023-2-3", "yesterday", ""])
def test_bad_days_are_refused(api: ApiClient, day: str) -> None:
    """A day not written YYYY-MM-DD, or not on the calendar, is a 400 naming as_of."""
    response = api.get("/api/v1/match", text="Alpha", level=2, as_of=day)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("as_of: ")


def test_past_days_are_cached_with_a_bound(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each (day, country) is built once; the least recently used goes past the bound."""
    monkeypatch.setattr(as_of, "MAX_CACHED_DAYS", 2)
    as_of._cache.clear()
    for day in ("2021-01-01", "2022-01-01", "2023-01-01", "2023-01-01"):
        api.get("/api/v1/match", text="Alpha", level=2, as_of=day)
    assert [key[0].isoformat() for key in as_of._cache] == ["2022-01-01", "2023-01-01"]


def test_a_version_without_its_own_shape_keeps_the_next_one(api: ApiClient) -> None:
    """A rename stored without geometry: the shape is the next state's (here today's)."""
    delta = Boundary.objects.get(osm_id="R122")
    BoundaryVersion.objects.create(
        boundary=delta, osm_id="R122", name="Olddelta", level=2, parent=delta.parent,
        path="Tinyland > East > Olddelta", valid_from=T0, valid_to=T1,
    )  # fmt: skip
    Boundary.objects.filter(pk=delta.pk).update(valid_from=T1)
    body = api.get("/api/v1/locate", lat=1.5, lng=1.5, as_of="2023-06-01").json()
    assert [r["name"] for r in body["results"]] == ["Tinyland", "East", "Olddelta"]


def test_listing_by_a_code_of_that_day(api: ApiClient) -> None:
    """code= finds the codes boundaries had that day; an empty scheme is refused, as today."""
    then = api.get("/api/v1/boundaries", code="tl9112", as_of="2023-06-01").json()
    assert [r["osm_id"] for r in then["results"]] == ["R9112"]
    assert api.get("/api/v1/boundaries", code="TL9112").json()["results"] == []
    assert [
        r["osm_id"] for r in api.get("/api/v1/boundaries", code="TL0112").json()["results"]
    ] == ["R112"]
    for query in ({"scheme": ""}, {"scheme": "", "as_of": "2023-06-01"}):
        assert api.get("/api/v1/boundaries", **query).status_code == 400


def test_a_null_day_in_a_locate_body_is_refused(api: ApiClient) -> None:
    """Left out means today; null is not a day."""
    response = api.post("/api/v1/locate", {"points": [], "as_of": None})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("as_of: must be a day")
