"""Workspace isolation: every endpoint, called with another workspace's ids and tokens.

Two workspaces on two countries: ``mine`` (the sample country, R900000) and
``theirs`` (Tinyland, R1). Every URL pattern the project serves is listed in
CASES (the test fails on a pattern it does not know, so a new endpoint cannot
be forgotten); each case calls it as ``mine`` aimed at ``theirs`` and expects a
404 or 403, or, for listings, an answer without any of their data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from mapbox_vector_tile import decode

from geo.aliases import set_aliases
from geo.importing import import_geojson
from geo.importing.jobs import submit_download
from geo.models import BoundaryAlias, ImportJob, Membership, Role, Workspace
from geo.workspaces import create_workspace, find_workspace_by_token
from tests.builders import tile_of, tiny_country
from tests.geo.web.conftest import SAMPLE

pytestmark = pytest.mark.django_db

# Everything of theirs that must never show up in our answers.
THEIR_IDS = ["R1", "R11", "R12", "R111", "R112", "R121", "R122"]
THEIR_TEXT = ["Tinyland", "Gamma", "Delta", "Orientale", *THEIR_IDS]


@dataclass
class World:
    mine: Workspace
    my_token: str
    my_admin: Client
    theirs: Workspace
    their_token: str
    their_admin: User

    def api(self, method: str, path: str, body: object = None, **query: str) -> object:
        """Call as ``mine`` with my token."""
        headers = {"Authorization": f"Token {self.my_token}"}
        client = Client()
        if method == "get":
            return client.get(path, query, headers=headers)
        return getattr(client, method)(
            path, json.dumps(body), content_type="application/json", headers=headers
        )


@pytest.fixture
def world(tmp_path: Path) -> World:
    import_geojson([SAMPLE])
    import_geojson([tiny_country(tmp_path)])
    mine, my_token = create_workspace(name="mine", country_osm_id="R900000")
    theirs, their_token = create_workspace(name="theirs", country_osm_id="R1")
    set_aliases(workspace=theirs, osm_id="R12", aliases=["Orientale"])
    me = User.objects.create_user(username="me", password="x" * 12)
    Membership.objects.create(user=me, workspace=mine, role=Role.ADMIN)
    them = User.objects.create_user(username="them", password="x" * 12)
    Membership.objects.create(user=them, workspace=theirs, role=Role.ADMIN)
    my_admin = Client()
    my_admin.force_login(me)
    return World(mine, my_token, my_admin, theirs, their_token, them)


def no_data(response: object) -> str:
    body = response.content.decode(errors="replace")  # type: ignore[attr-defined]
    searched = body
    if response.status_code >= 400:  # type: ignore[attr-defined]
        # An error may quote what the caller sent ("no boundary 'R1'"): that is not their data.
        searched = re.sub(r"'[^']*'", "''", body)
    leaked = [t for t in THEIR_TEXT if re.search(rf"(?<![\w]){re.escape(t)}(?![\w])", searched)]
    assert not leaked, (leaked, body[:500])
    return body


def refused(response: object) -> None:
    assert response.status_code in {403, 404}, response.content[:300]  # type: ignore[attr-defined]
    no_data(response)


def their_boundary_paths(w: World, template: str) -> None:
    for osm_id in THEIR_IDS:
        refused(w.api("get", template.format(osm_id=osm_id)))


def aliases(w: World) -> None:
    their_boundary_paths(w, "/api/v1/boundaries/{osm_id}/aliases")
    refused(w.api("put", "/api/v1/boundaries/R12/aliases", {"aliases": ["Mine now"]}))
    assert list(
        BoundaryAlias.objects.filter(boundary__osm_id="R12").values_list("name", flat=True)
    ) == ["Orientale"]


def match(w: World) -> None:
    no_data(w.api("get", "/api/v1/match", text="Gamma", level="2"))
    no_data(w.api("get", "/api/v1/match", text="Orientale", level="1"))
    refused(w.api("get", "/api/v1/match", text="East", level="1", country="R1"))
    body = json.loads(no_data(w.api("get", "/api/v1/match", text="Gamma", level="2", parent="R12")))
    assert body["results"] == [] and body["parent_found"] is False


def locate(w: World) -> None:
    assert (
        json.loads(no_data(w.api("get", "/api/v1/locate", lat="1.5", lng="1.5")))["results"] == []
    )
    body = json.loads(
        no_data(w.api("post", "/api/v1/locate", {"points": [[0.5, 0.5], [1.5, 1.5]]}))
    )
    assert body["results"] == [[], []]


def listing(w: World) -> None:
    for query in ({}, {"parent": "R12"}, {"q": "Gamma"}, {"q": "Orientale"}, {"level": "0"}):
        no_data(w.api("get", "/api/v1/boundaries", **query))


def changes(w: World) -> None:
    """Their imports' changes never show in my feed, even asked for their country."""
    mine = json.loads(no_data(w.api("get", "/api/v1/changes", since="0", page_size="500")))
    assert mine["count"] > 0
    assert {r["path"].split(" > ")[0] for r in mine["results"]} == {"Mipakaland"}
    theirs = json.loads(no_data(w.api("get", "/api/v1/changes", since="0", country="R1")))
    assert theirs["count"] == 0


def counts(w: World) -> None:
    rows = [{"osm_id": i, "value": 1} for i in THEIR_IDS] + [{"name": "Gamma", "value": 1}]
    response = w.api("post", "/api/v1/counts", {"rows": rows})
    body = json.loads(response.content)  # type: ignore[attr-defined]
    assert body["values"] == {} and body["matched_rows"] == 0
    assert len(body["unmatched"]) == len(rows)


def export(w: World) -> None:
    for file_format in ("geojson", "csv"):
        response = w.api("get", "/api/v1/export", format=file_format)
        assert response.status_code == 200  # type: ignore[attr-defined]
        body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
        assert "Mipakaland" in body
        leaked = [t for t in THEIR_TEXT if re.search(rf"(?<![\w]){re.escape(t)}(?![\w])", body)]
        assert not leaked, leaked
    for country in ("R1", "R11"):
        refused(w.api("get", "/api/v1/export", format="csv", country=country))


# Values as their contact fields would store them: paths, ids, names, their alias.
THEIR_VALUES = ["Tinyland > East > Gamma", "R121", "Gamma", "Orientale", "Tinyland"]


def resolve_api(w: World) -> None:
    """Their paths, ids, names and aliases are unknown to me."""
    response = w.api("post", "/api/v1/resolve", {"values": THEIR_VALUES})
    results = json.loads(response.content)["results"]  # type: ignore[attr-defined]
    assert [r.pop("value") for r in results] == THEIR_VALUES  # echoed, as sent: not their data
    assert [r["status"] for r in results] == ["unknown"] * len(THEIR_VALUES)
    leaked = [t for t in THEIR_TEXT if t in json.dumps(results)]
    assert not leaked, leaked


def resolve_page(w: World) -> None:
    """The CSV page resolves within my workspace only."""
    rows = "place\n" + "\n".join(f'"{value}"' for value in THEIR_VALUES) + "\n"
    upload = SimpleUploadedFile("places.csv", rows.encode(), content_type="text/csv")
    response = w.my_admin.post("/resolve/", {"file": upload, "column": "place", "level": ""})
    assert response.status_code == 200, response.content[:300]
    answered = [line.split(",")[1] for line in response.content.decode().splitlines()[1:]]
    assert answered == ["unknown"] * len(THEIR_VALUES)


def countries(w: World) -> None:
    for band in ("0", "full"):
        no_data(w.api("get", "/api/v1/countries.geojson", band=band))


def tile(w: World) -> None:
    for zoom in (0, 6, 12):
        z, x, y = tile_of(1.5, 1.5, zoom)
        response = w.api("get", f"/tiles/{z}/{x}/{y}.mvt")
        assert response.status_code == 200  # type: ignore[attr-defined]
        names = {
            f["properties"].get("osm_id")
            for layer in decode(response.content).values()  # type: ignore[attr-defined]
            for f in layer["features"]
        }
        assert not names & set(THEIR_IDS), names


def rapidpro_v2(w: World) -> None:
    no_data(w.api("get", "/api/v2/boundaries.json", geometry="true"))


def rapidpro_locations(w: World) -> None:
    for level in ("state", "district", "ward"):
        no_data(w.api("get", "/api/internal/locations.json", level=level, query="Tinyland"))


def adminboundary_geometry(w: World) -> None:
    for osm_id in THEIR_IDS:
        refused(w.my_admin.get(f"/adminboundary/geometry/{osm_id}/"))


def adminboundary_boundaries(w: World) -> None:
    for osm_id in THEIR_IDS:
        refused(w.my_admin.get(f"/adminboundary/boundaries/{osm_id}/"))
    refused(
        w.my_admin.post(
            "/adminboundary/boundaries/R900000/",
            json.dumps({"osm_id": "R12", "aliases": "Mine now"}),
            content_type="application/json",
        )
    )
    assert BoundaryAlias.objects.filter(boundary__osm_id="R12", name="Mine now").count() == 0


def people(w: World) -> None:
    their_token_id = w.theirs.tokens.get().pk
    page = w.my_admin.post("/people/", {"action": "revoke", "token": their_token_id})
    no_data(page)
    assert find_workspace_by_token(w.their_token) is not None
    w.my_admin.post("/people/", {"action": "role", "user": w.their_admin.pk, "role": "viewer"})
    w.my_admin.post("/people/", {"action": "remove", "user": w.their_admin.pk})
    assert Membership.objects.get(user=w.their_admin).role == Role.ADMIN
    html = no_data(w.my_admin.get("/people/"))
    assert "them" not in re.sub(r"<[^>]+>", " ", html).split()


def switch_workspace(w: World) -> None:
    w.my_admin.post("/workspace/", {"workspace": str(w.theirs.pk)})
    no_data(w.my_admin.get("/"))
    assert w.my_admin.session.get("workspace_id") != w.theirs.pk


def imports_are_for_operators(w: World) -> None:
    """Import jobs are shared by every workspace: no workspace token or admin reaches them."""
    job = submit_download(["R1"], requested_by=None, dry_run=True)
    for method, path in (
        ("get", "/api/v1/imports"),
        ("post", "/api/v1/imports"),
        ("get", f"/api/v1/imports/{job.pk}"),
        ("get", f"/api/v1/imports/{job.pk}/changes.geojson"),
        ("post", f"/api/v1/imports/{job.pk}/apply"),
    ):
        response = w.api(method, path, {"download": ["R1"]})
        assert response.status_code == 403, (path, response.content[:300])  # type: ignore[attr-defined]
        no_data(response)
        session = getattr(w.my_admin, method)(path)
        assert session.status_code == 403, (path, session.content[:300])
    assert ImportJob.objects.count() == 1
    page = w.my_admin.get("/imports/")
    assert page.status_code == 403
    assert b"Operators only" in page.content


def their_token_on_my_boundaries(w: World) -> None:
    """The other way round: their token on my ids."""
    client = Client()
    headers = {"Authorization": f"Token {w.their_token}"}
    for path in ("/api/v1/boundaries/R9001", "/api/v1/boundaries/R9001/aliases",
                 "/api/v1/boundaries/R9001/children.geojson"):  # fmt: skip
        assert client.get(path, headers=headers).status_code == 404


# Every route the project serves (as Django spells it), and how it is attacked.
CASES: dict[str, Callable[[World], object]] = {
    "api/v1/ping": lambda w: None,  # answers only the caller's own workspace name
    "api/v1/match": match,
    "api/v1/locate": locate,
    "api/v1/counts": counts,
    "api/v1/changes": changes,
    "api/v1/countries.geojson": countries,
    "api/v1/export": export,
    "api/v1/resolve": resolve_api,
    "resolve/": resolve_page,
    "api/v1/boundaries": listing,
    "api/v1/boundaries/<str:osm_id>": lambda w: their_boundary_paths(
        w, "/api/v1/boundaries/{osm_id}"
    ),
    "api/v1/boundaries/<str:osm_id>/aliases": aliases,
    "api/v1/boundaries/<str:osm_id>/children.geojson": lambda w: their_boundary_paths(
        w, "/api/v1/boundaries/{osm_id}/children.geojson"
    ),
    "tiles/<int:z>/<int:x>/<int:y>.mvt": tile,
    "api/v2/boundaries.json": rapidpro_v2,
    "api/internal/locations.json": rapidpro_locations,
    "^adminboundary/geometry/(?P<osm_id>[\\w.]+)/$": adminboundary_geometry,
    "^adminboundary/boundaries/(?P<osm_id>[\\w.]+)/$": adminboundary_boundaries,
    "people/": people,
    "workspace/": switch_workspace,
    "": lambda w: no_data(w.my_admin.get("/")),
    "api/v1/imports": imports_are_for_operators,
    "api/v1/imports/<int:job_id>": imports_are_for_operators,
    "api/v1/imports/<int:job_id>/apply": imports_are_for_operators,
    "api/v1/imports/<int:job_id>/changes.geojson": imports_are_for_operators,
    "imports/": imports_are_for_operators,
}
# Routes with no workspace data: public, or for operators only.
NO_WORKSPACE_DATA = {
    "admin/": "the Django admin: staff only (operators see every workspace)",
    "health": "liveness probe",
    "ready": "readiness probe: the index version and the database's state",
    "metrics": "Prometheus metrics: request and import counts, no workspace data",
    "api/v1/openapi.json": "the API description",
    "accounts/login/": "sign-in",
    "accounts/logout/": "sign-out",
}


def served_routes() -> set[str]:
    routes: set[str] = set()

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver) and route != "admin/":
                walk(pattern.url_patterns, route)
            else:
                routes.add(route)

    walk(get_resolver().url_patterns, "")
    return routes


def test_every_route_is_covered() -> None:
    """A new URL pattern must get an isolation case (or a reason it holds no workspace data)."""
    assert served_routes() == set(CASES) | set(NO_WORKSPACE_DATA)


@pytest.mark.parametrize("route", sorted(CASES))
def test_another_workspaces_ids_get_404_and_no_data(world: World, route: str) -> None:
    CASES[route](world)


def test_their_token_opens_nothing_of_mine(world: World) -> None:
    their_token_on_my_boundaries(world)


def test_the_django_admin_is_for_staff_only(world: World) -> None:
    response = world.my_admin.get("/admin/geo/workspace/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
