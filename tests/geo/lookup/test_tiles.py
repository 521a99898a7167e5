"""Tiles: pre-rendered after an import, thinned where dense."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import numpy as np
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection

from geo.importing import import_geojson
from geo.lookup import tiles
from geo.lookup.tiles import PRERENDER_MAX_ZOOM, prerender_tiles, tile_bytes, tile_key
from geo.models import Boundary
from geo.workspaces import create_workspace
from tests.builders import collection, feature, tile_of, tiny_country, write

pytestmark = pytest.mark.django_db

LOW_ZOOM_TILES = sum(4**z for z in range(PRERENDER_MAX_ZOOM + 1))  # 5,461


def decode(content: bytes) -> dict[str, Any]:
    return mapbox_vector_tile.decode(content) if content else {}


def test_every_low_zoom_tile_is_in_the_cache_after_an_import(tmp_path: Path) -> None:
    """z0-z6 for every country, empty tiles too, and a workspace country's own; served from there."""
    report = import_geojson([tiny_country(tmp_path / "tiny")])
    country = Boundary.objects.get(osm_id="R1")
    create_workspace(name="tiny only", country_osm_id="R1")
    done = prerender_tiles(version=report.run_id)
    tinyland_tiles = done.rendered // 2  # the same tiles meet Tinyland in both scopes
    assert 0 < tinyland_tiles < LOW_ZOOM_TILES // 100  # the others are stored empty, not rendered
    assert done.tiles == LOW_ZOOM_TILES + tinyland_tiles
    z, x, y = tile_of(1.0, 1.0, 6)
    for scope in (None, country.pk):
        key = tile_key(z, x, y, country_id=scope, version=report.run_id)
        assert "state" in decode(cache.get(key))
    sea = tile_of(-140.0, -40.0, 6)
    assert cache.get(tile_key(*sea, country_id=None, version=report.run_id)) == b""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM geo_boundaryshape")  # a render now would be empty
    assert "state" in decode(tiles.cached_tile(z, x, y, country_id=None, version=report.run_id))


def test_a_new_import_removes_the_tiles_of_older_ones(tmp_path: Path) -> None:
    """The import before the newest keeps its tiles (workers may lag); older ones go."""
    versions = []
    for names in (("A", "B", "C", "D"), ("A", "B", "C", "E"), ("A", "B", "C", "F")):
        versions.append(
            import_geojson([tiny_country(tmp_path / "tiny", district_names=names)]).run_id
        )
        prerender_tiles(version=versions[-1], max_zoom=1)
    keys = {v: tile_key(1, 1, 0, country_id=None, version=v) for v in versions}
    assert cache.get(keys[versions[0]]) is None
    assert cache.get(keys[versions[1]]) is not None
    assert cache.get(keys[versions[2]]) is not None


def test_the_import_command_prerenders_after_the_commit(tmp_path: Path) -> None:
    """manage.py import_geojson says how long the tiles took; the tiles are the new import's."""
    out = StringIO()
    call_command("import_geojson", str(tiny_country(tmp_path / "tiny")), stdout=out)
    assert (
        f"Tiles z0-z{PRERENDER_MAX_ZOOM} pre-rendered into the shared cache: {LOW_ZOOM_TILES}"
        in (out.getvalue())
    )
    from geo.lookup.snapshot import data_version

    z, x, y = tile_of(1.0, 1.0, 4)
    assert "state" in decode(cache.get(tile_key(z, x, y, country_id=None, version=data_version())))
    again = StringIO()
    call_command("import_geojson", str(tmp_path / "tiny"), stdout=again)  # nothing changed
    assert "pre-rendered" not in again.getvalue()


def test_boundaries_under_a_pixel_are_left_out_of_low_zooms(tmp_path: Path) -> None:
    """An islet of 0.02° is under a pixel at z3 (not drawn) and drawn at z8."""
    tiny_country(tmp_path / "tiny")
    islet = [[[3.0, 0.0], [3.02, 0.0], [3.02, 0.02], [3.0, 0.02], [3.0, 0.0]]]
    write(
        tmp_path / "islet", "R7admin0.json", collection(feature("R7", "Islet", coordinates=islet))
    )
    import_geojson([tmp_path / "tiny", tmp_path / "islet"])
    low = decode(tile_bytes(*(3, *tile_of(3.01, 0.01, 3)[1:])))
    assert {f["properties"]["osm_id"] for f in low["country"]["features"]} == {"R1"}
    high = decode(tile_bytes(*(8, *tile_of(3.01, 0.01, 8)[1:])))
    assert {f["properties"]["osm_id"] for f in high["country"]["features"]} == {"R7"}


def test_a_tile_over_the_budget_is_rendered_coarser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_TILE_BYTES the coarser grid, then the coarser band, give a smaller tile."""
    angles = np.linspace(0, 2 * np.pi, 801)[:-1]
    radius = np.where(np.arange(800) % 2, 0.5, 0.47)  # a jagged coast: every vertex counts
    ring = np.stack([10 + radius * np.cos(angles), 10 + radius * np.sin(angles)], axis=1)
    coords = [[*ring.tolist(), ring[0].tolist()]]
    write(
        tmp_path / "jagged",
        "R8admin0.json",
        collection(feature("R8", "Jagged", coordinates=coords)),
    )
    import_geojson([tmp_path / "jagged"])
    z, x, y = tile_of(10.0, 10.0, 8)
    full = tile_bytes(z, x, y)
    monkeypatch.setattr(tiles, "MAX_TILE_BYTES", len(full) // 2)
    thinned = tile_bytes(z, x, y)
    assert 0 < len(thinned) < len(full)
    assert [f["properties"]["osm_id"] for f in decode(thinned)["country"]["features"]] == ["R8"]
