"""Whatever a client sends, the API answers with a 2xx or 4xx and the JSON error body."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from geo.importing import import_geojson
from geo.workspaces import create_workspace
from tests.builders import tiny_country
from tests.geo.api.conftest import ApiClient

pytestmark = pytest.mark.django_db

NASTY = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "nan",
    "inf",
    "-inf",
    "9" * 400,
    "%00",
    "\x00",
    "🙂",
    "R1",
    "R1 > x",
    ">",
    ">>",
    "null",
    "[]",
    "{}",
    "true",
    "ʘ" * 2000,
]
GET_ENDPOINTS = {
    "/api/v1/match": ["text", "level", "parent", "country", "fuzzy"],
    "/api/v1/locate": ["lat", "lng"],
    "/api/v1/boundaries": ["level", "parent", "q", "page", "page_size"],
    "/api/v1/boundaries/R1": ["geometry"],
    "/api/v1/boundaries/R1/aliases": [],
    "/api/v2/boundaries.json": ["geometry", "cursor"],
    "/api/internal/locations.json": ["level", "query", "cursor"],
}
BODIES = [
    "",
    "{",
    "[]",
    "null",
    '{"points": null}',
    '{"points": [[]]}',
    '{"points": [[1e999, 0]]}',
    '{"points": [[0, 0, 0]]}',
    '{"aliases": null}',
    '{"aliases": [null]}',
    '{"aliases": [' + '"a",' * 200 + '"a"]}',
    "\xff\xfe",
]


@pytest.fixture
def api(tmp_path: Path) -> ApiClient:
    import_geojson([tiny_country(tmp_path)])
    _, token = create_workspace(name="fuzz")
    return ApiClient(token)


def test_random_query_strings_never_make_a_500(api: ApiClient) -> None:
    """Hundreds of malformed query strings get 2xx/4xx answers, errors in the documented shape."""
    rng = random.Random(42)
    for _ in range(400):
        path, names = rng.choice(list(GET_ENDPOINTS.items()))
        params = {name: rng.choice(NASTY) for name in names if rng.random() < 0.8}
        response = api.get(path, **params)
        assert response.status_code < 500, (path, params, response.content[:200])
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"code", "message"}


@pytest.mark.parametrize("body", BODIES)
def test_malformed_bodies_never_make_a_500(api: ApiClient, body: str) -> None:
    """Broken JSON bodies to the POST and PUT endpoints are 4xx."""
    for method, path in (("post", "/api/v1/locate"), ("put", "/api/v1/boundaries/R121/aliases")):
        response = getattr(api.client, method)(
            path, body.encode("latin-1"), content_type="application/json", headers=api.headers
        )
        assert 400 <= response.status_code < 500, (path, body, response.content[:200])
