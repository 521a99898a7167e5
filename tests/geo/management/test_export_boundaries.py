"""manage.py export_boundaries: a thin shell over geo.exporting."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pyogrio
import pytest
from django.core.management import CommandError, call_command

from geo.aliases import set_aliases
from geo.importing import import_geojson
from geo.workspaces import create_workspace
from tests.builders import coded_country

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tmp_path: Path) -> Path:
    import_geojson([coded_country(tmp_path / "in")])
    return tmp_path


def export(*args: str) -> str:
    out = StringIO()
    call_command("export_boundaries", *args, stdout=out)
    return out.getvalue()


def test_writes_the_layout_and_says_what(world: Path) -> None:
    """The format follows the extension; one layer per level; the summary counts them."""
    target = world / "all.gpkg"
    said = export(str(target))
    assert said.startswith(
        f"Exported 9 boundaries of 2 countries (admin0: 2, admin1: 3, admin2: 4) to {target}"
        " as gpkg in "
    )
    assert [n for n, _ in pyogrio.list_layers(target)] == ["admin0", "admin1", "admin2"]


def test_countries_workspace_and_geometry_options(world: Path) -> None:
    """--country (repeatable), --workspace (its aliases, its country), --geometry, --format."""
    workspace, _ = create_workspace(name="tiny", country_osm_id="R1")
    set_aliases(workspace=workspace, osm_id="R12", aliases=["Orient"])
    target = world / "tiny.txt"
    said = export(
        str(target), "--format", "csv", "--workspace", "tiny", "--country", "R1",
        "--country", "R1", "--geometry", "none",
    )  # fmt: skip
    assert "Exported 7 boundaries of 1 countries" in said
    frame = pyogrio.read_dataframe(f"CSV:{target}")
    assert "geometry" not in frame.columns
    assert dict(zip(frame["osm_id"], frame["aliases"].fillna(""), strict=True))["R12"] == "Orient"
    shp = world / "two.zip"
    export(str(shp), "--country", "R2", "--country", "R1")
    assert len(pyogrio.read_dataframe(f"/vsizip/{shp}/admin1.shp")) == 3


def test_errors_are_one_line_and_write_nothing(world: Path) -> None:
    """Unknown country, workspace, a country outside the workspace, an unknown extension."""
    create_workspace(name="other", country_osm_id="R2")
    target = world / "out.gpkg"
    with pytest.raises(CommandError, match="country: no imported country 'R9' in scope"):
        export(str(target), "--country", "R9")
    with pytest.raises(CommandError, match="workspace: no workspace named 'nobody'"):
        export(str(target), "--workspace", "nobody")
    with pytest.raises(CommandError, match="country: no imported country 'R1' in scope"):
        export(str(target), "--workspace", "other", "--country", "R1")
    with pytest.raises(CommandError, match="the extension does not tell"):
        export(str(world / "out.kml"))
    assert sorted(p.name for p in world.iterdir()) == ["in"]
