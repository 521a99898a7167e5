"""GET /api/v1/export: the workspace's boundaries as a file download in the Mipaka layout."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

from geo.aliases import set_aliases
from geo.importing import import_geojson
from geo.models import TokenScope
from geo.workspaces import create_workspace, issue_token
from tests.builders import coded_country
from tests.geo.api.conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tmp_path: Path) -> Path:
    import_geojson([coded_country(tmp_path / "in")])
    return tmp_path


def read_only_client(name: str, country: str | None = None) -> ApiClient:
    """A read-only token (what a flow holds) of a new workspace with an alias on Alpha."""
    workspace, _ = create_workspace(name=name, country_osm_id=country)
    if country in (None, "R1"):
        set_aliases(workspace=workspace, osm_id="R111", aliases=["alfa"])
    return ApiClient(issue_token(workspace, scope=TokenScope.READ))


def test_each_format_downloads_with_its_type_and_name(world: Path) -> None:
    """A read-only token downloads every format: content type, attachment name, readable body."""
    api = read_only_client("flows")
    expected = {
        "gpkg": ("application/geopackage+sqlite3", "mipaka-boundaries.gpkg"),
        "shp": ("application/zip", "mipaka-boundaries.zip"),
        "geojson": ("application/geo+json", "mipaka-boundaries.geojson"),
        "csv": ("text/csv; charset=utf-8", "mipaka-boundaries.csv"),
    }
    for file_format, (content_type, name) in expected.items():
        response = api.get("/api/v1/export", format=file_format)
        assert response.status_code == 200, response.content
        assert response.streaming
        assert response["Content-Type"] == content_type
        assert response["Content-Disposition"] == f'attachment; filename="{name}"'
        target = world / name
        target.write_bytes(b"".join(response.streaming_content))
        if file_format == "shp":
            with zipfile.ZipFile(target) as archive:
                assert sorted(archive.namelist())[:3] == ["admin0.cpg", "admin0.dbf", "admin0.prj"]
            frame = pyogrio.read_dataframe(f"/vsizip/{target}/admin2.shp")
        elif file_format == "gpkg":
            assert [n for n, _ in pyogrio.list_layers(target)] == ["admin0", "admin1", "admin2"]
            frame = pyogrio.read_dataframe(target, layer="admin2")
        else:
            frame = pyogrio.read_dataframe(target)
            frame = frame[frame["level"].astype(int) == 2]
        rows = frame.fillna("").set_index("osm_id")
        assert sorted(rows.index) == ["R111", "R112", "R121", "R122"]
        assert rows.loc["R111", "aliases"] == "alfa"
        assert rows.loc["R111", "wikidata"] == "Q111"
        assert rows.loc["R112", "name_fr"] == "Bêta"
        assert rows.loc["R112", "parent_id"] == "R11"


def test_workspace_country_and_country_parameter_scope_the_export(world: Path) -> None:
    """A workspace with a country exports it alone; country= picks countries, others are 404."""
    scoped = read_only_client("otherland", country="R2")
    body = scoped.get("/api/v1/export", format="csv", geometry="none")
    table = pd.read_csv(io.BytesIO(b"".join(body.streaming_content)), dtype=str)
    assert list(table["osm_id"]) == ["R2", "R21"]
    refused = scoped.get("/api/v1/export", format="csv", country="R1")
    assert refused.status_code == 404
    assert refused.json()["error"]["message"] == "country: no imported country 'R1' in scope"

    everywhere = read_only_client("world")
    one = everywhere.get("/api/v1/export", format="geojson", country="R2", geometry="simplified")
    assert one["Content-Disposition"] == 'attachment; filename="mipaka-boundaries-R2.geojson"'
    target = world / "one.geojson"
    target.write_bytes(b"".join(one.streaming_content))
    assert sorted(pyogrio.read_dataframe(target)["osm_id"]) == ["R2", "R21"]


def test_bad_parameters_are_400(world: Path) -> None:
    """No or an unknown format, an unknown geometry, a control character: 400."""
    api = read_only_client("flows")
    for params, message in (
        ({}, "format: required, one of gpkg, shp, geojson, csv"),
        ({"format": "kml"}, "format: must be one of gpkg, shp, geojson, csv"),
        ({"format": "csv", "geometry": "coarse"}, "geometry: must be one of full, simplified"),
        ({"format": "csv", "country": "R1\x00"}, "country: control character U+0000"),
    ):
        response = api.get("/api/v1/export", **params)
        assert response.status_code == 400, params
        assert response.json()["error"]["message"].startswith(message)


def test_export_needs_a_token(world: Path) -> None:
    """Without a token: 401, as every lookup."""
    assert ApiClient("nope").get("/api/v1/export", format="csv").status_code == 401
