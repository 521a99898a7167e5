from __future__ import annotations

from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest

from geo.importing import import_geojson
from geo.lookup import snapshot
from geo.workspaces import create_workspace
from tests.builders import tile_of, tiny_country
from tests.geo.api.conftest import ApiClient

pytestmark = pytest.mark.django_db


def decode(content: bytes) -> dict[str, Any]:
    return mapbox_vector_tile.decode(content) if content else {}


@pytest.fixture
def api(tmp_path: Path) -> ApiClient:
    import_geojson([tiny_country(tmp_path / "tiny")])
    _, token = create_workspace(name="maps")
    return ApiClient(token)


def test_tile_has_a_layer_per_level_with_lookup_properties(api: ApiClient) -> None:
    """A tile over the country carries country, state and district layers with osm_id, name, level, path."""
    z, x, y = tile_of(1.0, 1.0, 6)
    response = api.get(f"/tiles/{z}/{x}/{y}.mvt")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.mapbox-vector-tile"
    layers = decode(response.content)
    assert set(layers) == {"country", "state", "district"}
    districts = {f["properties"]["osm_id"]: f["properties"] for f in layers["district"]["features"]}
    assert set(districts) == {"R111", "R112", "R121", "R122"}
    assert districts["R121"] == {
        "osm_id": "R121",
        "name": "Gamma",
        "level": 2,
        "path": "Tinyland > East > Gamma",
    }
    assert all(
        f["geometry"]["type"] in {"Polygon", "MultiPolygon"} for f in layers["district"]["features"]
    )


def test_sea_tiles_are_empty(api: ApiClient) -> None:
    """A tile with no boundary is an empty, valid tile."""
    z, x, y = tile_of(-140.0, -40.0, 6)
    response = api.get(f"/tiles/{z}/{x}/{y}.mvt")
    assert response.status_code == 200
    assert decode(response.content) == {}


def test_tiles_are_cacheable_and_a_new_import_changes_them(
    api: ApiClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ETag and Cache-Control are set; a matching If-None-Match is a 304; a new import changes the ETag."""
    monkeypatch.setattr(snapshot, "REFRESH_SECONDS", 0.0)
    path = "/tiles/{}/{}/{}.mvt".format(*tile_of(1.0, 1.0, 6))
    first = api.get(path)
    assert first["Cache-Control"] == "private, max-age=300"
    etag = first["ETag"]
    again = api.client.get(path, headers={**api.headers, "If-None-Match": etag})
    assert again.status_code == 304
    tiny_country(tmp_path / "tiny", district_names=("Alpha", "Beta", "Gamma Nova", "Delta"))
    import_geojson([tmp_path / "tiny"])
    after = api.client.get(path, headers={**api.headers, "If-None-Match": etag})
    assert after.status_code == 200
    assert after["ETag"] != etag
    names = {f["properties"]["name"] for f in decode(after.content)["district"]["features"]}
    assert "Gamma Nova" in names


def test_rendered_tiles_are_shared_through_the_cache(api: ApiClient) -> None:
    """A tile rendered once is served from Redis (every worker's cache) until the next import."""
    from django.core.cache import cache
    from django.db import connection

    z, x, y = tile_of(1.0, 1.0, 6)
    first = api.get(f"/tiles/{z}/{x}/{y}.mvt")
    version = first["ETag"].strip('"').split("-")[0]
    assert cache.get(f"tile:{version}:0:{z}:{x}:{y}") == first.content
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM geo_boundaryshape")  # a render now would be empty
    again = api.get(f"/tiles/{z}/{x}/{y}.mvt")
    assert again.content == first.content
    assert "district" in decode(again.content)


def test_tiles_render_while_the_cache_is_down(api: ApiClient, settings: Any) -> None:
    """A Redis outage costs a render per request, not an error."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    response = api.get("/tiles/{}/{}/{}.mvt".format(*tile_of(1.0, 1.0, 6)))
    assert response.status_code == 200
    assert "district" in decode(response.content)


@pytest.mark.parametrize("path", ["/tiles/23/0/0.mvt", "/tiles/2/4/0.mvt", "/tiles/2/0/4.mvt"])
def test_tiles_outside_the_pyramid_are_404(api: ApiClient, path: str) -> None:
    """A tile outside the pyramid does not exist: a JSON 404 naming the tile."""
    response = api.get(path)
    assert response.status_code == 404
    assert "outside the tile pyramid" in response.json()["error"]["message"]


def test_tiles_need_a_token(api: ApiClient) -> None:
    """Without a token a tile is a 401."""
    assert api.client.get("/tiles/0/0/0.mvt").status_code == 401
