from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import shapely
from django.core.management import CommandError, call_command

from geo.importing import import_geojson
from geo.models import Boundary, BoundaryAlias, ImportRun, ImportStatus, Workspace
from tests.gis_sources import (
    Place,
    cod_ab_frame,
    cod_ab_geopackage,
    cod_ab_shapefiles,
    frame,
    gadm_geopackage,
    geoboundaries_geojson,
    mipaka_export_of_stored,
    mipaka_frame,
    posm_places,
    write,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def rwanda(posm_extracts: Path) -> list[Place]:
    """Rwanda, two of its provinces and their districts (simplified geometry)."""
    return posm_places(posm_extracts, "R171496", states=2)


def run(*args: str | Path) -> str:
    out = StringIO()
    call_command("import_boundaries", *map(str, args), stdout=out)
    return out.getvalue()


def stored() -> dict[str, tuple[object, ...]]:
    """Every boundary: level, name, parent, path, names, other names, codes."""
    return {
        b.osm_id: (
            b.level,
            b.name,
            b.parent.osm_id if b.parent else None,
            b.path,
            b.names,
            b.other_names,
            b.codes,
        )
        for b in Boundary.objects.select_related("parent")
    }


def shape(osm_id: str) -> shapely.Geometry:
    geometry = Boundary.with_geometry.get(osm_id=osm_id).geometry
    assert geometry is not None
    return shapely.from_wkb(bytes(geometry.wkb))


def parents(places: list[Place], key: str) -> dict[str, str | None]:
    by_osm = {p.osm_id: p for p in places}
    return {getattr(p, key): getattr(by_osm[p.parent], key) if p.parent else None for p in places}


def test_cod_ab_shapefiles_import_and_reimport_changes_nothing(
    tmp_path: Path, rwanda: list[Place]
) -> None:
    """Zipped Shapefiles, one per level: p-codes are the ids, the hierarchy is the p-codes'."""
    zips = cod_ab_shapefiles(rwanda, tmp_path)
    output = run(*zips)
    assert f"committed: {len(rwanda)} changes" in output
    boundaries = stored()
    assert {k: v[2] for k, v in boundaries.items()} == parents(rwanda, "pcode")
    huye = next(p for p in rwanda if p.name == "Huye")
    state = next(p for p in rwanda if p.osm_id == huye.parent)
    assert boundaries[huye.pcode] == (
        2,
        "Huye",
        state.pcode,
        f"Rwanda > {state.name} > Huye",
        {"en": "Huye", "fr": "Huye (fr)"},
        ["HUYE"],
        {"pcode": huye.pcode},
    )
    assert boundaries["RW"][:4] == (0, "Rwanda", None, "Rwanda")
    before = Boundary.objects.values_list("osm_id", "updated_at").order_by("osm_id")
    snapshot = list(before)
    assert "no changes, everything was up to date" in run(*zips)
    assert list(before) == snapshot


def test_dry_run_of_a_geopackage_writes_nothing(tmp_path: Path, rwanda: list[Place]) -> None:
    """--dry-run prints the diff of every layer and leaves the database empty."""
    output = run(cod_ab_geopackage(rwanda, tmp_path / "rwa.gpkg"), "--dry-run")
    assert "added            L2 RW0101" in output
    assert "nothing was written" in output
    assert not Boundary.objects.exists()
    assert ImportRun.objects.get().status == ImportStatus.DRY_RUN


def test_geoboundaries_hierarchy_comes_from_containment(
    tmp_path: Path, rwanda: list[Place]
) -> None:
    """geoBoundaries GeoJSON, one file per level, no parent column: placed by area shares."""
    run(*geoboundaries_geojson(rwanda, tmp_path, "R171496"))
    boundaries = stored()
    assert {k: v[2] for k, v in boundaries.items()} == parents(rwanda, "shape_id")
    state = next(p for p in rwanda if p.level == 1)
    assert boundaries[state.shape_id][6] == {
        "shape_id": state.shape_id,
        "iso3166_2": f"RW-{state.number:02d}",
    }


def test_gadm_geopackage_imports_gids_and_names(tmp_path: Path, rwanda: list[Place]) -> None:
    """GADM: GID_n ids, GID_{n-1} parents, variant and local names, HASC and ISO codes."""
    run(gadm_geopackage(rwanda, tmp_path / "gadm41_RWA.gpkg"))
    boundaries = stored()
    assert {k: v[2] for k, v in boundaries.items()} == parents(rwanda, "gid")
    state = next(p for p in rwanda if p.level == 1)
    assert boundaries[state.gid][4:] == (
        {"local": f"«{state.name}»"},
        [f"{state.name} A", f"{state.name} B"],
        {"gid": state.gid, "hasc": f"RW.{state.pcode[-2:]}", "iso3166_2": f"RW-{state.number:02d}"},
    )


@pytest.mark.parametrize("suffix", ["fgb", "kml"])
def test_mipaka_export_layout_imports(tmp_path: Path, rwanda: list[Place], suffix: str) -> None:
    """Mipaka's own export, all levels in one FlatGeobuf or KML layer, keeps ids and names."""
    run(write(mipaka_frame(rwanda), tmp_path / f"rwanda.{suffix}"))
    boundaries = stored()
    assert {k: v[2] for k, v in boundaries.items()} == parents(rwanda, "osm_id")
    huye = next(p for p in rwanda if p.name == "Huye")
    assert boundaries[huye.osm_id][4:] == (
        {"fr": "Huye (fr)", "pt-br": "Huye (pt-br)"},
        ["Huye Old", "Huye Older"],
        {"pcode": huye.pcode},
    )


def test_a_projected_source_lands_where_the_geojson_does(
    tmp_path: Path, posm_extracts: Path, rwanda: list[Place]
) -> None:
    """COD-AB Shapefiles in UTM 35S import onto the posm-extracts geometry (within 1e-6 of area)."""
    import_geojson([posm_extracts / f"R171496admin{n}_simplified.json" for n in range(3)])
    output = run(*cod_ab_shapefiles(rwanda, tmp_path, crs=32735), "-v", "2")
    assert "quirk: reprojected" in output
    for place in rwanda:
        ours, posm = shape(place.pcode), shape(place.osm_id)
        assert shapely.symmetric_difference(ours, posm).area < 1e-6 * posm.area


def test_a_level_one_source_hangs_under_the_stored_country(
    tmp_path: Path, posm_extracts: Path, rwanda: list[Place]
) -> None:
    """ADM0_PCODE RW finds the stored Rwanda (R171496) through the countries table."""
    path = write(cod_ab_frame(rwanda, 1), tmp_path / "adm1.fgb")
    with pytest.raises(CommandError) as caught:
        run(path)
    assert (
        str(caught.value)
        .splitlines()[1]
        .endswith(
            "its country RW is neither in this run nor imported, and no stored country contains "
            "it; add the source's admin0 layer, or give --country with the stored country it belongs to"
        )
    )
    import_geojson([posm_extracts / "R171496admin0_simplified.json"])
    run(path)
    assert set(Boundary.objects.filter(level=1).values_list("parent__osm_id", flat=True)) == {
        "R171496"
    }


def test_country_flag_stands_for_the_sources_level_zero(
    tmp_path: Path, posm_extracts: Path, rwanda: list[Place]
) -> None:
    """--country RWA: the source's own Rwanda is left out (noted), its provinces go under R171496."""
    import_geojson([posm_extracts / "R171496admin0_simplified.json"])
    output = run(cod_ab_geopackage(rwanda, tmp_path / "rwa.gpkg"), "--country", "RWA")
    assert "--country R171496 stands for them" in output
    assert not Boundary.objects.filter(osm_id="RW").exists()
    assert set(Boundary.objects.filter(level=1).values_list("parent__osm_id", flat=True)) == {
        "R171496"
    }
    with pytest.raises(CommandError, match="--country Atlantis: no stored country answers to it"):
        run(tmp_path / "rwa.gpkg", "--country", "Atlantis")


def test_flags_read_an_unknown_layout(
    tmp_path: Path, posm_extracts: Path, rwanda: list[Place]
) -> None:
    """--name-field/--code-field/--level/--parent-code-field; without them, which flags to use."""
    districts = [p for p in rwanda if p.level == 2]
    rows = [{"NOM": p.name, "CODE": p.pcode, "PARENT": p.pcode[:4]} for p in districts]
    path = write(frame(rows, [p.geometry for p in districts]), tmp_path / "districts.gpkg")
    with pytest.raises(CommandError) as caught:
        run(path)
    line = str(caught.value).splitlines()[1]
    assert "no known layout in its columns (CODE, NOM, PARENT)" in line
    assert "--name-field and --code-field" in line
    run(cod_ab_geopackage([p for p in rwanda if p.level < 2], tmp_path / "states.gpkg"))
    run(path, "--name-field", "NOM", "--code-field", "CODE", "--code-scheme", "pcode",
        "--level", "2", "--parent-code-field", "PARENT")  # fmt: skip
    district = Boundary.objects.get(osm_id=districts[0].pcode)
    assert district.parent is not None and district.parent.osm_id == districts[0].pcode[:4]
    assert district.codes == {"pcode": districts[0].pcode}


def test_bad_input_is_one_line_each_and_changes_nothing(
    tmp_path: Path, rwanda: list[Place]
) -> None:
    """Missing names and lines instead of polygons stop the run; --skip-invalid imports the rest."""
    run(cod_ab_geopackage([p for p in rwanda if p.level == 0], tmp_path / "adm0.gpkg"))
    rows: list[dict[str, Any]] = [
        {"ADM1_PCODE": "RW01", "ADM1_EN": None, "ADM0_PCODE": "RW"},
        {"ADM1_PCODE": "RW02", "ADM1_EN": "Line", "ADM0_PCODE": "RW"},
        {"ADM1_PCODE": "RW03", "ADM1_EN": "Fine", "ADM0_PCODE": "RW"},
    ]
    shapes = [shapely.box(29.5, -2, 30, -1.5), shapely.LineString([(29, -2), (30, -1)]),
              shapely.box(30, -2, 30.5, -1.5)]  # fmt: skip
    path = write(frame(rows, shapes), tmp_path / "adm1.geojson", driver="GeoJSON")
    before = stored()
    with pytest.raises(CommandError) as caught:
        run(path)
    layer = f"{path}, layer 'adm1'"
    assert str(caught.value).splitlines() == [
        "2 problems in the input; nothing was changed",
        f"{layer}, feature 0, osm_id RW01, field 'ADM1_EN': no name",
        f"{layer}, feature 1, osm_id RW02, field 'geometry': geometry is a LineString, expected Polygon or MultiPolygon",
    ]
    assert stored() == before
    output = run(path, "--skip-invalid")
    assert f"skipped: {layer}, feature 0, osm_id RW01, field 'ADM1_EN': no name" in output
    assert Boundary.objects.filter(level=1).get().osm_id == "RW03"


def test_removing_an_aliased_boundary_needs_the_flag(tmp_path: Path, rwanda: list[Place]) -> None:
    """Alias protection holds as for import_geojson: a district gone from its level's layer."""
    path = cod_ab_geopackage(rwanda, tmp_path / "rwa.gpkg")
    run(path)
    gone = next(p for p in rwanda if p.level == 2)
    BoundaryAlias.objects.create(
        workspace=Workspace.objects.create(name="w"),
        boundary=Boundary.objects.get(osm_id=gone.pcode),
        name="Alias",
    )
    fewer = cod_ab_geopackage([p for p in rwanda if p is not gone], tmp_path / "fewer.gpkg")
    with pytest.raises(CommandError, match=rf"{gone.pcode}, 1 aliases\).*--allow-alias-removal"):
        run(fewer)
    assert Boundary.objects.filter(osm_id=gone.pcode).exists()
    assert f"retired          L2 {gone.pcode}" in run(fewer, "--allow-alias-removal")
    # Retired, not deleted: the row, its aliases and its history stay.
    retired = Boundary.objects.get(osm_id=gone.pcode)
    assert retired.retired_at is not None
    assert retired.aliases.count() == 1


def test_a_real_country_at_full_resolution(tmp_path: Path, posm_extracts: Path) -> None:
    """All of Rwanda (1 + 5 + 30), full resolution, as a COD-AB GeoPackage; beside it Djibouti from geoBoundaries."""
    rwanda = posm_places(posm_extracts, "R171496", simplified=False)
    djibouti = posm_places(posm_extracts, "R192801")
    run(cod_ab_geopackage(rwanda, tmp_path / "rwa.gpkg"),
        *geoboundaries_geojson(djibouti, tmp_path / "dji", "R192801"))  # fmt: skip
    boundaries = stored()
    assert len(boundaries) == len(rwanda) + len(djibouti)
    expected = parents(rwanda, "pcode") | parents(djibouti, "shape_id")
    assert {k: v[2] for k, v in boundaries.items()} == expected
    for place in rwanda[:6]:
        assert shapely.symmetric_difference(shape(place.pcode), place.geometry).area < (
            1e-6 * place.geometry.area
        )


@pytest.mark.parametrize("layer_per_level", [True, False])
def test_mipaka_export_of_stored_boundaries_round_trips(
    tmp_path: Path, posm_extracts: Path, layer_per_level: bool
) -> None:
    """Exported (a layer per level, or one with a level column) and read back: no change at all."""
    import_geojson([posm_extracts / f"R171496admin{n}_simplified.json" for n in range(3)])
    Boundary.objects.filter(osm_id="R1707122").update(
        names={"fr": "Sud", "pt-br": "Sul"}, other_names=["Southern"], codes={"iso3166_2": "RW-05"}
    )
    before = stored()
    path = mipaka_export_of_stored(tmp_path / "export.gpkg", layer_per_level=layer_per_level)
    output = run(path, "-v", "2")
    assert "no changes, everything was up to date" in output
    assert "quirk: geometry as stored" in output
    assert stored() == before


def test_a_split_child_is_noted_and_an_outsider_refused(tmp_path: Path) -> None:
    """geoBoundaries-style squares: a district across two states is a note; one outside, a problem."""

    def level(n: int, rows: list[dict[str, Any]], shapes: list[shapely.Geometry]) -> Path:
        for row in rows:
            row.update(shapeType=f"ADM{n}", shapeGroup="XXX", shapeISO="")
        return write(frame(rows, shapes), tmp_path / f"ADM{n}.geojson", driver="GeoJSON")

    paths = [
        level(0, [{"shapeName": "Land", "shapeID": "L"}], [shapely.box(0, 0, 2, 1)]),
        level(1, [{"shapeName": "West", "shapeID": "W"}, {"shapeName": "East", "shapeID": "E"}],
              [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]),
        level(2, [{"shapeName": "Across", "shapeID": "A"}, {"shapeName": "Inside", "shapeID": "I"}],
              [shapely.box(0.6, 0, 1.2, 1), shapely.box(1.2, 0.2, 1.8, 0.8)]),
    ]  # fmt: skip
    output = run(*paths)
    assert (
        f"note: A (Across, {paths[2]}, layer 'ADM2' feature 0) is split between parents: "
        "W (West) 67%, E (East) 33%; placed under W"
    ) in output
    assert Boundary.objects.get(osm_id="A").path == "Land > West > Across"
    assert Boundary.objects.get(osm_id="I").path == "Land > East > Inside"
    assert ImportRun.objects.order_by("-pk")[0].diff["notes"][0].startswith("A (Across")
    level(2, [{"shapeName": "Away", "shapeID": "F"}], [shapely.box(5, 5, 6, 6)])
    before = stored()
    with pytest.raises(CommandError) as caught:
        run(*paths)
    assert str(caught.value).splitlines()[1] == (
        f"{paths[2]}, layer 'ADM2', feature 0, osm_id F, field 'geometry': no level 1 boundary, "
        "in this run or stored, holds a meaningful share of it; it cannot be placed by containment"
    )
    assert stored() == before


def test_districts_alone_find_their_stored_provinces(
    tmp_path: Path, posm_extracts: Path, rwanda: list[Place]
) -> None:
    """A geoBoundaries ADM2 file on its own: parents are the stored (posm) provinces holding them."""
    import_geojson([posm_extracts / f"R171496admin{n}.json" for n in (0, 1)])
    output = run(geoboundaries_geojson(rwanda, tmp_path, "R171496")[2])
    assert f"committed: {sum(p.level == 2 for p in rwanda)} changes" in output
    placed = dict(Boundary.objects.filter(level=2).values_list("osm_id", "parent__osm_id"))
    assert placed == {p.shape_id: p.parent for p in rwanda if p.level == 2}
