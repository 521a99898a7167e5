"""geo.exporting: every format read back with pyogrio holds what is stored, in the Mipaka layout."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from geo.aliases import set_aliases
from geo.exceptions import BoundaryNotFound, InvalidQuery
from geo.exporting import (
    EXTENSIONS,
    ExportScope,
    export_boundaries,
    export_scope,
    language_column,
    stream_export,
)
from geo.importing import import_geojson
from geo.models import Boundary, Workspace
from geo.workspaces import create_workspace
from tests.builders import coded_country

COLUMNS = [
    "osm_id", "level", "name", "name_en", "parent_id", "path",
    "iso3166_2", "wikidata", "ref", "name_fr", "name_pt_br", "alt_names", "aliases",
]  # fmt: skip


@pytest.fixture
def coded(db: None, tmp_path: Path) -> Workspace:
    """Tinyland and Otherland imported; West has variant names; Delta is retired; aliases set."""
    import_geojson([coded_country(tmp_path / "in")])
    Boundary.objects.filter(osm_id="R11").update(other_names=["Westside", "W. Province"])
    Boundary.objects.filter(osm_id="R122").update(retired_at=timezone.now())
    workspace, _ = create_workspace(name="exports")
    set_aliases(workspace=workspace, osm_id="R111", aliases=["alfa", "Alpha town"])
    set_aliases(workspace=workspace, osm_id="R21", aliases=["Solo state"])
    return workspace


def read_back(path: Path, file_format: str) -> dict[int, gpd.GeoDataFrame]:
    """Read an export with pyogrio, by level."""
    if file_format == "gpkg":
        layers = [name for name, _ in pyogrio.list_layers(path)]
        return {int(name[5:]): pyogrio.read_dataframe(path, layer=name) for name in layers}
    if file_format == "shp":
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.endswith(".shp"))
        return {int(name[5:-4]): pyogrio.read_dataframe(f"/vsizip/{path}/{name}") for name in names}
    if file_format == "csv":
        frame = pyogrio.read_dataframe(path, GEOM_POSSIBLE_NAMES="geometry", KEEP_GEOM_COLUMNS="NO")
    else:
        frame = pyogrio.read_dataframe(path)
    frame["level"] = frame["level"].astype(int)
    return {int(level): rows.reset_index(drop=True) for level, rows in frame.groupby("level")}


def stored(kind: str = "geometry") -> dict[str, Any]:
    """Current boundaries by osm_id, with their geometry as shapely."""
    rows = Boundary.with_geometry.filter(retired_at__isnull=True)
    return {b.osm_id: (b, shapely.from_wkb(bytes(getattr(b, kind).wkb))) for b in rows}


def same_shape(a: Any, b: Any) -> bool:
    # Shapefiles store exteriors clockwise, and a one-part shape reads back as a Polygon:
    # compare as normalised multipolygons, vertex by vertex.
    if isinstance(a, shapely.Polygon):
        a = shapely.MultiPolygon([a])
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=1e-9))


@pytest.mark.parametrize("file_format", ["gpkg", "shp", "geojson", "csv"])
def test_each_format_reads_back_as_stored(
    coded: Workspace, tmp_path: Path, file_format: str
) -> None:
    """Rows, columns, hierarchy, codes, names, variants, aliases and geometry survive the trip."""
    scope = export_scope(workspace_id=coded.pk)
    target = tmp_path / f"out.{EXTENSIONS[file_format]}"
    summary = export_boundaries(target, scope=scope, file_format=file_format)
    assert summary.per_level == {0: 2, 1: 3, 2: 3}
    assert summary.columns == COLUMNS
    layers = read_back(target, file_format)
    assert sorted(layers) == [0, 1, 2]
    boundaries = stored()
    seen = set()
    for level, frame in layers.items():
        assert list(frame.columns) == [*COLUMNS, "geometry"]
        if file_format != "csv":  # CSV has no place for a CRS
            assert frame.crs is not None and frame.crs.to_epsg() == 4326
        for row in frame.fillna("").to_dict("records"):
            boundary, shape = boundaries[row["osm_id"]]
            seen.add(row["osm_id"])
            assert int(row["level"]) == boundary.level == level
            assert row["name"] == boundary.name
            assert row["name_en"] == boundary.name_en
            assert row["path"] == boundary.path
            assert row["parent_id"] == (boundary.parent.osm_id if boundary.parent else "")
            for scheme in ("iso3166_2", "wikidata", "ref"):
                assert row[scheme] == boundary.codes.get(scheme, "")
            for language in ("fr", "pt-br"):
                assert row[language_column(language)] == boundary.names.get(language, "")
            assert row["alt_names"] == ";".join(boundary.other_names)
            assert same_shape(row["geometry"], shape), row["osm_id"]
    assert seen == set(boundaries)  # the retired Delta left out, everything else in
    rows = {r["osm_id"]: r for f in layers.values() for r in f.fillna("").to_dict("records")}
    assert rows["R111"]["aliases"] == "alfa;Alpha town"
    assert rows["R21"]["aliases"] == "Solo state"
    assert rows["R11"]["alt_names"] == "Westside;W. Province"
    assert rows["R11"]["name_pt_br"] == "Oeste"
    assert rows["R12"]["iso3166_2"] == "TL-02"
    assert rows["R12"]["ref"] == "E2"
    assert rows["R112"]["parent_id"] == "R11"
    assert "R122" not in rows


def test_simplified_geometry_and_one_country(coded: Workspace, tmp_path: Path) -> None:
    """``simplified`` writes the simplified shapes; ``countries`` keeps to them; no workspace, no aliases."""
    scope = export_scope(countries=["R1"], geometry="simplified")
    target = tmp_path / "out.gpkg"
    export_boundaries(target, scope=scope, file_format="gpkg")
    boundaries = stored("simplified_geometry")
    layers = read_back(target, "gpkg")
    osm_ids = {row for frame in layers.values() for row in frame["osm_id"]}
    assert osm_ids == {"R1", "R11", "R12", "R111", "R112", "R121"}
    for frame in layers.values():
        assert set(frame["aliases"].fillna("")) == {""}
        for osm_id, shape in zip(frame["osm_id"], frame.geometry, strict=True):
            assert same_shape(shape, boundaries[osm_id][1])
    # Simplified differs from full here (the wiggly squares lose their collinear vertices).
    assert shapely.get_num_coordinates(boundaries["R1"][1]) < shapely.get_num_coordinates(
        stored()["R1"][1]
    )


def test_csv_without_geometry_and_to_a_file_object(coded: Workspace) -> None:
    """``geometry=none`` (CSV only) leaves the geometry column out; a file object is written to."""
    out = io.BytesIO()
    export_boundaries(out, scope=export_scope(geometry="none"), file_format="csv")
    frame = pd.read_csv(io.BytesIO(out.getvalue()), dtype=str, keep_default_na=False)
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 8
    assert frame.set_index("osm_id").loc["R1", "name_fr"] == "Petitpays"


def test_streamed_export_is_the_written_one(coded: Workspace, tmp_path: Path) -> None:
    """The chunks a response streams make the same file as a write to a path."""
    scope = export_scope(workspace_id=coded.pk)
    for file_format in ("geojson", "csv"):
        target = tmp_path / f"out.{file_format}"
        export_boundaries(target, scope=scope, file_format=file_format)
        assert b"".join(stream_export(scope, file_format=file_format)) == target.read_bytes()
    zipped = b"".join(stream_export(scope, file_format="shp"))
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        assert {n for n in archive.namelist() if n.endswith(".shp")} == {
            "admin0.shp", "admin1.shp", "admin2.shp",
        }  # fmt: skip


def test_workspace_country_limits_the_export(coded: Workspace) -> None:
    """A workspace's country is the whole export; another country asked for is not found."""
    country = Boundary.objects.get(osm_id="R2")
    scope = export_scope(workspace_id=coded.pk, workspace_country_id=country.pk)
    assert scope.country_ids == [country.pk]
    with pytest.raises(BoundaryNotFound, match="no imported country 'R1'"):
        export_scope(countries=["R1"], workspace_country_id=country.pk)
    with pytest.raises(BoundaryNotFound, match="no imported country 'R11'"):
        export_scope(countries=["R11"])


def test_bad_requests_are_refused(coded: Workspace, tmp_path: Path) -> None:
    """Unknown format or geometry are one-line errors; nothing written."""
    target = tmp_path / "out.gpkg"
    with pytest.raises(InvalidQuery, match="format: must be one of"):
        export_boundaries(target, scope=export_scope(), file_format="kml")
    with pytest.raises(InvalidQuery, match="geometry: must be one of"):
        export_scope(geometry="coarse")
    assert [p.name for p in tmp_path.iterdir()] == ["in"]  # the fixture's input only


@pytest.mark.parametrize("file_format", ["gpkg", "shp", "geojson"])
def test_no_geometry_gives_every_row_with_null_shapes(
    coded: Workspace, tmp_path: Path, file_format: str
) -> None:
    """geometry=none in a GIS format: the same rows and columns, every shape null."""
    path = tmp_path / f"out.{EXTENSIONS[file_format]}"
    export_boundaries(path, scope=export_scope(geometry="none"), file_format=file_format)
    levels = read_back(path, file_format)
    current = Boundary.objects.filter(retired_at__isnull=True)
    assert sum(len(frame) for frame in levels.values()) == current.count()
    assert all(frame.geometry.isna().all() for frame in levels.values())


@pytest.mark.parametrize("file_format", ["gpkg", "shp"])
def test_nothing_to_export_is_an_empty_admin0_layer(
    db: None, tmp_path: Path, file_format: str
) -> None:
    """With no boundary, the file still has the layout's admin0 layer, empty."""
    target = tmp_path / f"out.{EXTENSIONS[file_format]}"
    summary = export_boundaries(target, scope=ExportScope(country_ids=[]), file_format=file_format)
    assert summary.total == 0
    layers = read_back(target, file_format)
    assert list(layers) == [0]
    assert len(layers[0]) == 0


def empty_the_database() -> None:
    """Remove every boundary and what hangs on it, as a fresh database has none."""
    with connection.cursor() as cursor:
        for table in (
            "boundaryalias",
            "boundaryshape",
            "boundaryversion",
            "boundarylink",
            "boundarychange",
        ):
            cursor.execute(f"DELETE FROM geo_{table}")
        cursor.execute("DELETE FROM geo_boundary")


def described() -> dict[str, tuple[Any, ...]]:
    """Every current boundary as the round trip must keep it: identity, labels, full geometry."""
    return {
        b.osm_id: (
            b.level, b.name, b.name_en, b.parent.osm_id if b.parent else None, b.path,
            b.names, sorted(b.other_names), b.codes,
            shapely.normalize(shapely.from_wkb(bytes(b.geometry.wkb)) if b.geometry else None),
        )
        for b in Boundary.with_geometry.filter(retired_at__isnull=True).select_related("parent")
    }  # fmt: skip


@pytest.mark.parametrize("file_format", ["gpkg", "shp", "geojson", "csv"])
def test_export_then_import_into_an_empty_database_gives_the_same_boundaries(
    db: None, tmp_path: Path, posm_extracts: Path, file_format: str
) -> None:
    """Rwanda (with names, variants and codes) exported, the database emptied, the file imported."""
    import_geojson([posm_extracts / f"R171496admin{n}_simplified.json" for n in range(3)])
    Boundary.objects.filter(osm_id="R1707122").update(
        names={"fr": "Province du Sud", "rw": "Amajyepfo"},
        other_names=["Southern", "South"],
        codes={"iso3166_2": "RW-05", "wikidata": "Q59136"},
    )
    before = described()
    path = tmp_path / f"rwanda.{EXTENSIONS[file_format]}"
    export_boundaries(path, scope=export_scope(countries=["R171496"]), file_format=file_format)
    empty_the_database()
    call_command("import_boundaries", str(path), stdout=io.StringIO())
    after = described()
    assert after.keys() == before.keys()
    for osm_id, (*labels, shape) in before.items():
        *labels_after, shape_after = after[osm_id]
        assert labels_after == labels, osm_id
        # Text formats carry coordinates as decimal text: equal to far below a millimetre.
        assert shapely.equals_exact(shape_after, shape, tolerance=1e-9), osm_id
