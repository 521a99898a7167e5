from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import geopandas
import pandas
import pyogrio
import pytest
import shapely

from geo.exceptions import InvalidInput, NoInput
from geo.importing.gis import (
    NO_FLAGS,
    GisFile,
    Layout,
    LayoutOptions,
    containment_shares,
    discover_gis_sources,
    place_features,
    read_gis_layer,
)
from geo.importing.plan import StoredBoundary
from geo.importing.types import SourceFeature
from tests.gis_sources import (
    Place,
    cod_ab_frame,
    cod_ab_geopackage,
    cod_ab_shapefiles,
    frame,
    gadm_geopackage,
    geoboundaries_geojson,
    mipaka_frame,
    posm_places,
    write,
)


@pytest.fixture
def rwanda(posm_extracts: Path) -> list[Place]:
    """Rwanda, two of its provinces and their districts (simplified geometry)."""
    return posm_places(posm_extracts, "R171496", states=2)


def read(
    paths: list[Path],
    *,
    options: LayoutOptions = NO_FLAGS,
    stored: list[StoredBoundary] | None = None,
    shapes: dict[int, dict[str, shapely.Geometry]] | None = None,
    country: str | None = None,
) -> tuple[list[GisFile], list[str]]:
    """Discover, read and place, as an import does; return the files and the notes."""
    selection = discover_gis_sources(paths, layers=options.layers)
    files = [
        read_gis_layer(selection.layers[source.label], source, options=options)
        for source in selection.files
    ]
    files = [f for f in files if not f.skipped]
    placement = place_features(
        files,
        stored=stored or [],
        stored_shapes=lambda level, _bounds: (shapes or {}).get(level, {}),
        country=country,
    )
    return files, placement.notes


def features(files: list[GisFile]) -> dict[str, SourceFeature]:
    return {f.osm_id: f for gis in files for f in gis.parsed.features}


def problems(files: list[GisFile]) -> list[str]:
    return [str(p) for gis in files for p in gis.parsed.problems]


def expected_parents(places: list[Place], key: str) -> dict[str, str | None]:
    by_osm = {p.osm_id: p for p in places}
    return {getattr(p, key): getattr(by_osm[p.parent], key) if p.parent else None for p in places}


def test_cod_ab_zipped_shapefiles_give_pcodes_parents_and_names(
    tmp_path: Path, rwanda: list[Place]
) -> None:
    """One zipped Shapefile per level: p-codes are ids, ADM<n-1>_PCODE the parent, names by language."""
    files, notes = read(cod_ab_shapefiles(rwanda, tmp_path))
    assert {gis.layout for gis in files} == {Layout.COD_AB}
    assert problems(files) == [] and notes == []
    found = features(files)
    assert {k: f.parent_ref for k, f in found.items()} == expected_parents(rwanda, "pcode")
    huye = next(p for p in rwanda if p.name == "Huye")
    feature = found[huye.pcode]
    assert (feature.level, feature.name) == (2, "Huye")
    assert feature.codes == (("pcode", huye.pcode),)
    assert dict(feature.names) == {"en": "Huye", "fr": "Huye (fr)"}
    assert feature.other_names == ("HUYE",)
    assert feature.file.endswith(
        "rwa_admbnda_adm2.zip!rwa_admbnda_adm2.shp, layer 'rwa_admbnda_adm2'"
    )
    assert shapely.equals_exact(feature.geometry, huye.geometry, tolerance=1e-9)


def test_cod_ab_geopackage_reads_every_layer(tmp_path: Path, rwanda: list[Place]) -> None:
    """A GeoPackage with a layer per level is read whole; --layer picks layers."""
    path = cod_ab_geopackage(rwanda, tmp_path / "rwa.gpkg")
    files, _ = read([path])
    assert sorted(f.level for f in features(files).values()) == sorted(p.level for p in rwanda)
    only, _ = read([path], options=LayoutOptions(layers=("ADM1",)), country="R171496")
    assert {f.level for f in features(only).values()} == {1}


def test_geoboundaries_parents_come_from_containment(tmp_path: Path, rwanda: list[Place]) -> None:
    """No parent column: each feature goes under the one a level up holding most of it."""
    files, _notes = read(geoboundaries_geojson(rwanda, tmp_path, "R171496"))
    assert problems(files) == []
    found = features(files)
    assert {k: f.parent_ref for k, f in found.items()} == expected_parents(rwanda, "shape_id")
    state = next(p for p in rwanda if p.level == 1)
    assert dict(found[state.shape_id].codes) == {
        "iso3166_2": f"RW-{state.number:02d}",
        "shape_id": state.shape_id,
    }
    # At ADM0 shapeISO is an ISO 3166-1 code, not a subdivision's.
    assert dict(found["RWA-ADM0-B0"].codes) == {"shape_id": "RWA-ADM0-B0"}


def test_gadm_gids_variant_and_local_names(tmp_path: Path, rwanda: list[Place]) -> None:
    """GID_n is the id, GID_{n-1} the parent; VARNAME splits into variants, NL_NAME is 'local'."""
    files, _ = read([gadm_geopackage(rwanda, tmp_path / "gadm41_RWA.gpkg")])
    assert {gis.layout for gis in files} == {Layout.GADM}
    found = features(files)
    assert {k: f.parent_ref for k, f in found.items()} == expected_parents(rwanda, "gid")
    state = next(p for p in rwanda if p.level == 1)
    feature = found[state.gid]
    assert dict(feature.codes) == {
        "gid": state.gid,
        "hasc": f"RW.{state.pcode[-2:]}",
        "iso3166_2": f"RW-{state.number:02d}",
    }
    assert feature.names == (("local", f"«{state.name}»"),)
    assert feature.other_names == (f"{state.name} A", f"{state.name} B")
    district = found[next(p for p in rwanda if p.level == 2).gid]
    assert district.names == () and dict(district.codes).keys() == {"gid"}  # "NA" is no value
    assert found["RWA"].name == "Rwanda"


@pytest.mark.parametrize("suffix", ["fgb", "kml"])
def test_mipaka_export_round_trips_in_one_layer(
    tmp_path: Path, rwanda: list[Place], suffix: str
) -> None:
    """Mipaka's export layout, all levels in one layer (level column), FlatGeobuf or KML."""
    path = write(mipaka_frame(rwanda), tmp_path / f"boundaries.{suffix}")
    files, _ = read([path])
    assert problems(files) == []
    found = features(files)
    assert {k: f.parent_ref for k, f in found.items()} == expected_parents(rwanda, "osm_id")
    huye = next(p for p in rwanda if p.name == "Huye")
    feature = found[huye.osm_id]
    assert dict(feature.names) == {"fr": "Huye (fr)", "pt-br": "Huye (pt-br)"}
    assert feature.other_names == ("Huye Old", "Huye Older")
    assert feature.codes == (("pcode", huye.pcode),)
    assert found["R171496"].name_en == "Rwanda"


def test_a_projected_source_is_reprojected_to_lonlat(tmp_path: Path, rwanda: list[Place]) -> None:
    """UTM 35S and Web Mercator sources land where the EPSG:4326 geometry is."""
    for crs in (32735, 3857):
        path = write(cod_ab_frame(rwanda, 2, crs=crs), tmp_path / f"adm2_{crs}.fgb")
        files, _ = read([path], country="R171496", stored=[])
        found = features(files)
        assert files[0].parsed.quirks["reprojected"] == len(found)
        for place in (p for p in rwanda if p.level == 2):
            shape = found[place.pcode].geometry
            assert shape is not None
            assert (
                shapely.symmetric_difference(shape, place.geometry).area
                < 1e-9 * place.geometry.area + 1e-12
            )


def test_containment_shares_report_a_split_child() -> None:
    """Shares are of the child's area; a child half in each parent is noted, with the shares."""
    west, east = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    child = shapely.MultiPolygon([shapely.box(0.3, 0, 1.3, 1)])
    shares = containment_shares(child, {"W": west, "E": east})
    assert [k for k, _ in shares] == ["W", "E"]
    assert [round(s, 2) for _, s in shares] == [0.7, 0.3]


def squares_source(tmp_path: Path, children: dict[str, shapely.Polygon]) -> Path:
    rows = [{"ADM0_PCODE": "XX", "ADM0_EN": "Land"}]
    write(
        frame(rows, [shapely.box(0, 0, 2, 1)]), tmp_path / "land.gpkg", layer="adm0", driver="GPKG"
    )
    write(
        frame(
            [{"ADM1_PCODE": "XX1", "ADM1_EN": "West", "ADM0_PCODE": "XX"},
             {"ADM1_PCODE": "XX2", "ADM1_EN": "East", "ADM0_PCODE": "XX"}],
            [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        ),
        tmp_path / "land.gpkg", layer="adm1", driver="GPKG",
    )  # fmt: skip
    write(
        frame(
            [{"ADM2_PCODE": code, "ADM2_EN": code} for code in children],
            list(children.values()),
        ),
        tmp_path / "land.gpkg", layer="adm2", driver="GPKG",
    )  # fmt: skip
    return tmp_path / "land.gpkg"


def test_split_children_are_noted_and_outsiders_are_problems(tmp_path: Path) -> None:
    """Without ADM1_PCODE the districts are placed by containment: a split is a note, none a problem."""
    path = squares_source(
        tmp_path,
        {
            "XX11": shapely.box(0.1, 0.1, 0.5, 0.5),
            "XX12": shapely.box(0.6, 0, 1.2, 1),
            "XX13": shapely.box(5, 5, 6, 6),
        },
    )
    files, notes = read([path])
    found = features(files)
    assert found["XX11"].parent_ref == "XX1"
    assert found["XX12"].parent_ref == "XX1"
    assert notes == [
        (
            f"XX12 (XX12, {path}, layer 'adm2' feature 1) is split between parents: "
            "XX1 (West) 67%, XX2 (East) 33%; placed under XX1"
        )
    ]
    assert problems(files) == [
        (
            f"{path}, layer 'adm2', feature 2, osm_id XX13, field 'geometry': no level 1 "
            "boundary, in this run or stored, holds a meaningful share of it; it cannot be placed "
            "by containment"
        )
    ]


def test_a_level_one_source_finds_its_stored_country(tmp_path: Path, rwanda: list[Place]) -> None:
    """ADM0_PCODE "RW" names Rwanda: the countries table maps it to the stored relation."""
    path = write(cod_ab_frame(rwanda, 1), tmp_path / "adm1.fgb")
    stored = [StoredBoundary(1, "R171496", "Rwanda", "Rwanda", 0, None, None, "Rwanda", "")]
    files, _ = read([path], stored=stored)
    assert {f.parent_ref for f in features(files).values()} == {"R171496"}
    alone, _ = read([path])
    assert problems(alone)[0].endswith(
        "field 'country': its country RW is neither in this run nor imported, and no stored "
        "country contains it; add the source's admin0 layer, or give --country with the "
        "stored country it belongs to"
    )
    # By containment, when the code means nothing: a geoBoundaries ADM1 under a stored country.
    paths = geoboundaries_geojson(rwanda, tmp_path / "gb", "R171496")
    outline = next(p.geometry for p in rwanda if p.level == 0)
    files, _ = read([paths[1]], stored=[], shapes={0: {"R9": outline}})
    assert {f.parent_ref for f in features(files).values()} == {"R9"}


def test_flags_read_any_layout(tmp_path: Path, rwanda: list[Place]) -> None:
    """--name-field, --code-field, --level and --parent-code-field read an unknown layout."""
    states = [p for p in rwanda if p.level == 2]
    rows = [{"NOM": p.name, "CODE": p.pcode, "PARENT": p.pcode[:4]} for p in states]
    path = write(frame(rows, [p.geometry for p in states]), tmp_path / "districts.gpkg")
    unknown, _ = read([path])
    assert "no known layout in its columns (CODE, NOM, PARENT)" in problems(unknown)[0]
    options = LayoutOptions(
        level=2, name_field="nom", code_field="code", code_scheme="pcode",
        parent_code_field="parent",
    )  # fmt: skip
    files, _ = read([path], options=options)
    feature = features(files)[states[0].pcode]
    assert (feature.name, feature.level, feature.parent_ref) == (
        states[0].name,
        2,
        states[0].pcode[:4],
    )
    assert feature.codes == (("pcode", states[0].pcode),)


def test_bad_values_are_one_line_each(tmp_path: Path, rwanda: list[Place]) -> None:
    """Missing names and codes, points and lines: file, layer, feature, field and what is wrong."""
    rows: list[dict[str, Any]] = [
        {"ADM1_PCODE": "RW01", "ADM1_EN": None, "ADM0_PCODE": "RW"},
        {"ADM1_PCODE": None, "ADM1_EN": "Nameless code", "ADM0_PCODE": "RW"},
        {"ADM1_PCODE": "RW03", "ADM1_EN": "Line", "ADM0_PCODE": "RW"},
        {"ADM1_PCODE": "RW04", "ADM1_EN": "Fine", "ADM0_PCODE": "RW"},
    ]
    shapes = [shapely.box(0, 0, 1, 1), shapely.box(0, 0, 1, 1),
              shapely.LineString([(0, 0), (1, 1)]), shapely.box(1, 1, 2, 2)]  # fmt: skip
    path = write(frame(rows, shapes), tmp_path / "bad.geojson", driver="GeoJSON")
    files, _ = read([path], country="R171496")
    layer = f"{path}, layer 'bad'"
    assert problems(files) == [
        f"{layer}, feature 0, osm_id RW01, field 'ADM1_EN': no name",
        f"{layer}, feature 1, field 'ADM1_PCODE': no p-code",
        (
            f"{layer}, feature 2, osm_id RW03, field 'geometry': geometry is a LineString, "
            "expected Polygon or MultiPolygon"
        ),
    ]
    assert list(features(files)) == ["RW04"]


def test_a_shapefile_without_crs_is_refused(tmp_path: Path, rwanda: list[Place]) -> None:
    """No .prj: the coordinates cannot be placed; GeoJSON and KML are EPSG:4326 by definition."""
    shp = write(cod_ab_frame(rwanda, 1, crs=32735), tmp_path / "adm1.shp")
    shp.with_suffix(".prj").unlink()
    files, _ = read([shp], country="R171496")
    assert problems(files) == [
        (
            f"{shp}, layer 'adm1', field 'crs': has no CRS (no .prj, or none recorded); give the "
            "file its CRS (e.g. ogr2ogr -a_srs EPSG:32735) so its coordinates can be placed"
        )
    ]


def test_unreadable_and_missing_paths(tmp_path: Path) -> None:
    """A file GDAL cannot open, a broken zip, a missing path: one line each, before any run."""
    (tmp_path / "junk.gpkg").write_bytes(b"not a geopackage")
    (tmp_path / "broken.zip").write_bytes(b"PK not a zip")
    with pytest.raises(InvalidInput) as caught:
        discover_gis_sources([tmp_path])
    lines = caught.value.problems
    assert (
        lines[0]
        == f"{tmp_path / 'broken.zip'}: not a readable zip archive (File is not a zip file)"
    )
    assert lines[1].startswith(f"{tmp_path / 'junk.gpkg'}: cannot be read as a GIS file (")
    with pytest.raises(NoInput, match="no such file or folder"):
        discover_gis_sources([tmp_path / "missing.gpkg"])
    climbing = tmp_path / "up" / "up.zip"
    climbing.parent.mkdir()
    with zipfile.ZipFile(climbing, "w") as archive:
        archive.writestr("../adm1.geojson", "{}")
    with pytest.raises(InvalidInput, match="climbs out of the archive"):
        discover_gis_sources([climbing])
    # A file named by the user with a suffix of no known format: GDAL decides, and says no.
    odd = tmp_path / "boundaries.xyz"
    odd.write_bytes(b"\x00\x01 nothing GDAL reads")
    with pytest.raises(InvalidInput) as caught:
        discover_gis_sources([odd])
    assert caught.value.problems[0].startswith(f"{odd}: cannot be read as a GIS file (")


def test_older_cod_ab_column_names_are_read(tmp_path: Path, rwanda: list[Place]) -> None:
    """Before 2019 COD-AB wrote admin1Pcode, admin1Name_en, admin1RefName, admin1AltName1_en."""
    states = [p for p in rwanda if p.level == 1]
    rows = [
        {"admin1Pcode": p.pcode, "admin1Name_en": f"{p.name} EN", "admin1Name_fr": p.name,
         "admin1RefName": p.name.upper(), "admin1AltName1_en": "Old", "admin0Pcode": "RW"}
        for p in states
    ]  # fmt: skip
    path = write(frame(rows, [p.geometry for p in states]), tmp_path / "adm1.fgb")
    files, _ = read([path], country="R171496")
    assert files[0].layout is Layout.COD_AB
    feature = features(files)[states[0].pcode]
    assert (feature.name, feature.parent_ref) == (f"{states[0].name} EN", "R171496")
    assert dict(feature.names) == {"en": f"{states[0].name} EN", "fr": states[0].name}
    assert feature.other_names == tuple(sorted(["Old", states[0].name.upper()]))


def test_posm_extracts_are_sent_to_import_geojson(posm_extracts: Path) -> None:
    """A posm-extracts file is GeoJSON GDAL reads, but its layout is import_geojson's."""
    files, _ = read([posm_extracts / "R171496admin1_simplified.json"], country="R171496")
    assert problems(files)[0].endswith(
        "field 'columns': posm-extracts GeoJSON (columns is_in_country, is_in_state, name, "
        "name_en, osm_id): import it with import_geojson"
    )


def test_a_download_with_several_formats_and_metadata_is_read_once(
    tmp_path: Path, rwanda: list[Place]
) -> None:
    """geoBoundaries zips hold GeoJSON, a Shapefile twin and a metadata .json; macOS adds ._ files."""
    paths = geoboundaries_geojson(rwanda, tmp_path / "gb", "R171496")
    adm1 = paths[1]
    geojson = geopandas.read_file(adm1)
    write(geojson, adm1.with_suffix(".shp"))
    (tmp_path / "gb" / f"{adm1.stem}-metaData.json").write_text('{"boundaryID": "x"}')
    archive = tmp_path / "geoBoundaries-RWA-ADM1-all.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in (tmp_path / "gb").glob(f"{adm1.stem}*"):
            zipped.write(part, part.name)
        zipped.writestr(f"__MACOSX/._{adm1.name}", b"\x00\x05\x16\x07")
    selection = discover_gis_sources([archive])
    assert [s.label for s in selection.files] == [f"{archive}!{adm1.name}, layer '{adm1.stem}'"]
    assert selection.skipped == [
        f"{archive}!{adm1.stem}.shp: the same data as {archive}!{adm1.name}",
        f"{archive}!{adm1.stem}-metaData.json: not GeoJSON",
    ]
    with pytest.raises(InvalidInput, match=r"metaData\.json: cannot be read as a GIS file"):
        discover_gis_sources([tmp_path / "gb" / f"{adm1.stem}-metaData.json"])


def test_parent_by_containment_overrides_parent_columns(tmp_path: Path) -> None:
    """--parent-by-containment ignores a wrong ADM1_PCODE and places by geometry."""
    path = squares_source(tmp_path, {"XX11": shapely.box(1.2, 0.2, 1.8, 0.8)})
    frame_rows = [{"ADM2_PCODE": "XX11", "ADM2_EN": "Moved", "ADM1_PCODE": "XX1"}]
    write(frame(frame_rows, [shapely.box(1.2, 0.2, 1.8, 0.8)]), path, layer="adm2", driver="GPKG")
    by_code, _ = read([path])
    assert features(by_code)["XX11"].parent_ref == "XX1"
    by_shape, _ = read([path], options=LayoutOptions(parent_by_containment=True))
    assert features(by_shape)["XX11"].parent_ref == "XX2"
    assert {f.parent_ref for f in features(by_shape).values() if f.level == 1} == {"XX"}


def test_lines_tables_and_deep_layers_beside_the_data_are_skipped(
    tmp_path: Path, rwanda: list[Place]
) -> None:
    """A COD-AB GeoPackage also holds boundary lines, a lookup table and admin4: each listed."""
    path = cod_ab_geopackage([p for p in rwanda if p.level < 2], tmp_path / "rwa.gpkg")
    lines = frame([{"ADM1_PCODE": "RW01"}], [shapely.LineString([(29, -2), (30, -1)])])
    write(lines, path, layer="admbndl_admALL", driver="GPKG")
    deep = frame([{"ADM4_PCODE": "RW01010101", "ADM4_EN": "Cell"}], [shapely.box(29, -2, 30, -1)])
    write(deep, path, layer="adm4", driver="GPKG")
    pyogrio.write_dataframe(pandas.DataFrame({"code": ["RW01"]}), path, layer="lookup")
    selection = discover_gis_sources([path])
    assert selection.skipped == [f"{path}, layer 'lookup': a table without geometry"]
    read_layers = [
        read_gis_layer(selection.layers[source.label], source) for source in selection.files
    ]
    assert [gis.skipped for gis in read_layers if gis.skipped] == [
        f"{path}, layer 'admbndl_admALL': holds LineString geometry, not polygons",
        f"{path}, layer 'adm4': level 4 is deeper than Mipaka keeps (0 to 3)",
    ]
    assert sum(len(gis.parsed.features) for gis in read_layers) == 3


def test_a_child_no_run_parent_holds_goes_to_a_stored_one(tmp_path: Path) -> None:
    """The run's own parents first; a child outside all of them falls to the stored ones."""
    rows = [
        {"shapeName": "West", "shapeID": "W", "shapeType": "ADM1", "shapeGroup": "XXX"},
        {"shapeName": "In West", "shapeID": "A", "shapeType": "ADM2", "shapeGroup": "XXX"},
        {"shapeName": "In East", "shapeID": "B", "shapeType": "ADM2", "shapeGroup": "XXX"},
    ]
    shapes = [
        shapely.box(0, 0, 1, 1),
        shapely.box(0.2, 0.2, 0.8, 0.8),
        shapely.box(1.2, 0.2, 1.8, 0.8),
    ]
    path = write(frame(rows, shapes), tmp_path / "mixed.geojson", driver="GeoJSON")  # fmt: skip
    stored = {0: {"L": shapely.box(0, 0, 2, 1)}, 1: {"W": shapely.box(0, 0, 1, 1),
                                                     "E": shapely.box(1, 0, 2, 1)}}  # fmt: skip
    files, notes = read([path], shapes=stored)
    assert problems(files) == [] and notes == []
    assert {k: f.parent_ref for k, f in features(files).items()} == {"W": "L", "A": "W", "B": "E"}


def test_numbers_and_nulls_from_typed_columns(tmp_path: Path) -> None:
    """Integer p-codes (Shapefile reals too) are codes; a number as a name is its text; nulls are absent."""
    rows: list[dict[str, Any]] = [
        {"ADM1_PCODE": 101.0, "ADM1_EN": 7, "ADM1_FR": None, "ADM0_PCODE": "RW"},
        {"ADM1_PCODE": 102.5, "ADM1_EN": "Half", "ADM1_FR": None, "ADM0_PCODE": "RW"},
    ]
    shapes = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]
    path = write(frame(rows, shapes), tmp_path / "typed.shp")
    files, _ = read([path], country="R171496")
    feature = features(files)["101"]
    assert (feature.name, feature.names) == ("7", (("en", "7"),))
    assert problems(files) == [
        f"{path}, layer 'typed', feature 1, field 'ADM1_PCODE': is 102.5, expected a code"
    ]
