"""The import on real posm-extracts countries, each with its own quirks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import shapely
from django.db import connection

from geo.importing import ImportReport, import_geojson
from geo.importing.sources import discover_sources
from geo.models import Boundary, GeometrySource

COUNTRIES = {
    "R171496": "Rwanda",
    "R192796": "Uganda",  # admin2 only simplified; two districts beside admin1 sub-regions
    "R270009": "Guernsey",  # admin2 repeats admin1 ids, self-parented
    "R365307": "Malta",  # same, and unnamed islets
    "R51477": "Germany",  # invalid simplified geometry; admin1/2 only simplified
    "R1311341": "Spain",
    "R556706": "New Zealand",  # Chatham Islands across the antimeridian
    "R2202162": "France",  # overseas territories all over the globe
    "R1428125": "Canada",  # thousands of W-ids, 735 "Middlesex"
    "R62273": "Ireland",  # Web Mercator rounding made County Kerry cross itself
}


@pytest.fixture(scope="module")
def imported(
    posm_extracts: Path, django_db_setup: None, django_db_blocker: pytest.FixtureRequest
) -> Iterator[ImportReport]:
    files = [p for p in sorted(posm_extracts.iterdir()) if p.name.split("admin")[0] in COUNTRIES]
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        report = import_geojson(files)
        yield report
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE geo_boundary, geo_importrun CASCADE")


@pytest.fixture(scope="module")
def posm_extracts() -> Path:
    from tests.conftest import POSM_EXTRACTS

    assert POSM_EXTRACTS.is_dir(), f"posm-extracts data not found at {POSM_EXTRACTS}"
    return POSM_EXTRACTS


def expected_levels(posm_extracts: Path) -> Counter[tuple[str, int]]:
    """Count features per (country, level) straight from the chosen files, ids kept once."""
    counts: Counter[tuple[str, int]] = Counter()
    for relation in COUNTRIES:
        seen: set[str] = set()
        for source in discover_sources([posm_extracts], country=relation).files:
            for feature in orjson.loads(source.read())["features"]:
                osm_id = feature["properties"]["osm_id"]
                if osm_id not in seen:
                    seen.add(osm_id)
                    counts[(relation, source.level)] += 1
    return counts


@pytest.mark.django_db
def test_every_feature_lands_at_its_level(imported: ImportReport, posm_extracts: Path) -> None:
    """Each country's boundaries per level equal the distinct ids of its files."""
    stored = Counter(Boundary.objects.values_list("country__osm_id", "level"))
    assert stored == expected_levels(posm_extracts)
    assert imported.quirks["self_parented_duplicate"] == 17  # Guernsey 9 + Malta 8
    assert imported.quirks["repaired_invalid"] >= 1  # Germany's simplified outline
    assert imported.quirks["crosses_antimeridian"] >= 1  # New Zealand
    assert imported.quirks["full_file_missing"] >= 6  # Uganda, Germany, Canada
    assert imported.quirks["duplicate_sibling_name"] >= 735  # Canada's Middlesex
    assert imported.quirks["missing_geometry"] > 0


@pytest.mark.django_db
def test_hierarchy_and_paths_are_consistent(imported: ImportReport) -> None:
    """Parents are one level up or more, paths chain names, countries are the roots."""
    rows = {b.pk: b for b in Boundary.objects.all()}
    for boundary in rows.values():
        if boundary.level == 0:
            assert boundary.parent_id is None
            assert boundary.path == boundary.name
            assert boundary.country_id == boundary.pk
            continue
        parent = rows[boundary.parent_id]  # type: ignore[index]
        assert parent.level < boundary.level
        assert boundary.path == f"{parent.path} > {boundary.name}"
        assert boundary.country_id == parent.country_id
    rwanda = Boundary.objects.get(osm_id="R1711131")
    assert rwanda.path == "Rwanda > Iburasirasuba > Gatsibo"
    assert (
        Boundary.objects.filter(country__osm_id="R1428125", level=2, name="Middlesex").count() > 100
    )


@pytest.mark.django_db
def test_every_stored_geometry_is_valid_in_postgis(imported: ImportReport) -> None:
    """PostGIS (GEOS 3.11) agrees every full and simplified geometry is valid."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT osm_id FROM geo_boundary WHERE NOT ST_IsValid(geometry) OR NOT ST_IsValid(simplified_geometry)"
            " OR (geometry IS NULL) <> (simplified_geometry IS NULL)"
        )
        assert cursor.fetchall() == []
        cursor.execute("SELECT geometry_source, count(*) FROM geo_boundary GROUP BY 1")
        sources = dict(cursor.fetchall())
    assert set(sources) <= {GeometrySource.FULL, GeometrySource.SIMPLIFIED, GeometrySource.NONE}
    assert sources[GeometrySource.SIMPLIFIED] > 0  # Uganda, Germany, Canada: full files absent
    assert sources[GeometrySource.NONE] > 0  # features the extractor dropped


@pytest.mark.django_db
def test_bounding_boxes_are_sane_across_the_antimeridian(imported: ImportReport) -> None:
    """New Zealand's box wraps through 180° instead of spanning the globe."""
    nz = Boundary.objects.get(osm_id="R556706")
    assert nz.bbox_west is not None and nz.bbox_east is not None
    assert nz.bbox_west > nz.bbox_east
    assert (nz.bbox_east + 360 - nz.bbox_west) < 60
    rwanda = Boundary.objects.get(osm_id="R171496")
    assert (rwanda.bbox_west, rwanda.bbox_east) == pytest.approx((28.86, 30.90), abs=0.05)


def sibling_groups() -> Iterator[list[tuple[str, shapely.Geometry, shapely.Geometry]]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT country_id, level, osm_id, ST_AsBinary(geometry), ST_AsBinary(simplified_geometry)"
            " FROM geo_boundary WHERE level > 0 AND geometry IS NOT NULL ORDER BY country_id, level"
        )
        groups: dict[tuple[int, int], list[tuple[str, shapely.Geometry, shapely.Geometry]]] = {}
        for country, level, osm_id, full, simple in cursor.fetchall():
            groups.setdefault((country, level), []).append(
                (osm_id, shapely.from_wkb(bytes(full)), shapely.from_wkb(bytes(simple)))
            )
    yield from groups.values()


@pytest.mark.django_db
def test_simplified_neighbours_keep_their_shared_borders(imported: ImportReport) -> None:
    """Same-level neighbours (siblings or across a state border) stay joined and apart once simplified."""
    pairs = 0
    for members in sibling_groups():
        fulls = [m[1] for m in members]
        tree = shapely.STRtree(fulls)
        left, right = tree.query(fulls, predicate="intersects")
        for i, j in zip(left.tolist(), right.tolist(), strict=True):
            if i >= j:
                continue
            (a_id, a_full, a_simple), (b_id, b_full, b_simple) = members[i], members[j]
            full_overlap = shapely.intersection(a_full, b_full).area
            if full_overlap > 0:
                continue  # overlapping systems in the source (Uganda, Slovakia): nothing to keep
            shared = shapely.intersection(a_full.boundary, b_full.boundary).length
            if shared < 1e-6:
                continue  # touching at a point only
            pairs += 1
            assert shapely.intersection(a_simple, b_simple).area < 1e-10, (
                f"{a_id} and {b_id} overlap once simplified"
            )
            assert shapely.intersection(a_simple.boundary, b_simple.boundary).length > 0, (
                f"{a_id} and {b_id} drifted apart"
            )
    assert pairs > 1000


@pytest.mark.django_db
def test_zoom_bands_are_complete_valid_and_joined(imported: ImportReport) -> None:
    """Every boundary with geometry has every band, valid, lighter as bands coarsen, no overlap introduced."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM geo_boundary b WHERE b.geometry IS NOT NULL"
            " AND (SELECT count(*) FROM geo_boundaryshape s WHERE s.boundary_id = b.id) <> 3"
        )
        assert cursor.fetchone() == (0,)
        cursor.execute(
            "SELECT count(*) FROM geo_boundaryshape WHERE NOT ST_IsValid(geometry) OR ST_IsEmpty(geometry)"
        )
        assert cursor.fetchone() == (0,)
        cursor.execute(
            "SELECT band, sum(vertex_count) FROM geo_boundaryshape GROUP BY band ORDER BY band"
        )
        vertices = [n for _, n in cursor.fetchall()]
        assert vertices == sorted(vertices)
        cursor.execute(
            """
            SELECT sa.band, count(*) FROM geo_boundaryshape sa
            JOIN geo_boundaryshape sb ON sa.band = sb.band AND sa.boundary_id < sb.boundary_id
            JOIN geo_boundary a ON a.id = sa.boundary_id
            JOIN geo_boundary b ON b.id = sb.boundary_id AND a.country_id = b.country_id AND a.level = b.level
            WHERE a.level > 0 AND sa.geometry && sb.geometry
              AND ST_Area(ST_Intersection(sa.geometry, sb.geometry)) > 1.0
              AND ST_Area(ST_Intersection(a.geometry, b.geometry)) = 0
            GROUP BY 1
            """
        )
        assert cursor.fetchall() == []


@pytest.mark.django_db
def test_tiles_either_side_of_the_antimeridian(imported: ImportReport) -> None:
    """New Zealand and France show in the z3 tiles either side of 180°."""
    import mapbox_vector_tile

    from geo.lookup.tiles import render_tile

    for x, y in ((0, 5), (7, 4), (7, 5)):
        layers = mapbox_vector_tile.decode(render_tile(3, x, y))
        names = {f["properties"]["osm_id"] for f in layers.get("country", {}).get("features", [])}
        assert "R556706" in names, x
    # France reaches across it too: Wallis-et-Futuna (x=0) and Paris (x=4) at z3.
    for x, y in ((0, 4), (4, 2)):
        layers = mapbox_vector_tile.decode(render_tile(3, x, y))
        names = {f["properties"]["osm_id"] for f in layers.get("country", {}).get("features", [])}
        assert "R2202162" in names, x


def shapes_by_id(column: str) -> dict[int, shapely.Geometry]:
    """Full geometry (``full``) or one band's shapes (``0``, ``1``, ``2``, in degrees) by boundary id."""
    with connection.cursor() as cursor:
        if column == "full":
            cursor.execute(
                "SELECT id, ST_AsBinary(geometry) FROM geo_boundary WHERE geometry IS NOT NULL"
            )
        else:
            cursor.execute(
                "SELECT boundary_id, ST_AsBinary(ST_Transform(geometry, 4326))"
                " FROM geo_boundaryshape WHERE band = %s",
                [int(column)],
            )
        return {row_id: shapely.from_wkb(bytes(wkb)) for row_id, wkb in cursor.fetchall()}


def families() -> dict[int, list[int]]:
    """Parent id → its children's ids."""
    result: dict[int, list[int]] = {}
    for boundary_id, parent_id in Boundary.objects.filter(parent__isnull=False).values_list(
        "id", "parent_id"
    ):
        result.setdefault(parent_id, []).append(boundary_id)
    return result


@pytest.mark.django_db
def test_parents_tiled_by_their_children_are_their_union_at_every_band(
    imported: ImportReport,
) -> None:
    """Where the source's children tile a parent, the parent's outline at each band is their union."""
    full = shapes_by_id("full")
    tiled = []
    for parent, kids in families().items():
        if parent not in full or not all(k in full for k in kids):
            continue
        union = shapely.union_all([full[k] for k in kids])
        if shapely.symmetric_difference(full[parent], union).area <= 0.0005 * full[parent].area:
            tiled.append((parent, kids))
    assert len(tiled) > 50  # Rwanda, Uganda, New Zealand, Ireland... have whole levels so
    for band in ("0", "1", "2"):
        shapes = shapes_by_id(band)
        for parent, kids in tiled:
            union = shapely.union_all([shapes[k] for k in kids])
            difference = shapely.symmetric_difference(shapes[parent], union).area
            assert difference <= 1e-9 * shapes[parent].area, (parent, band, difference)


@pytest.mark.django_db
def test_children_stay_inside_their_parents_at_every_band(imported: ImportReport) -> None:
    """A child that lies inside its parent in the source never pokes out of it once simplified."""
    full = shapes_by_id("full")
    nested = [
        (parent, kid)
        for parent, kids in families().items()
        for kid in kids
        if parent in full
        and kid in full
        and shapely.difference(full[kid], full[parent]).area <= 1e-9 * full[kid].area
    ]
    assert len(nested) > 500
    for band in ("0", "1", "2"):
        shapes = shapes_by_id(band)
        poking = [
            (parent, kid)
            for parent, kid in nested
            if shapely.difference(shapes[kid], shapes[parent]).area > 1e-9 * shapes[kid].area
        ]
        assert poking == [], (band, poking[:5])


@pytest.mark.django_db
def test_every_boundary_keeps_a_shape_in_its_tiles(imported: ImportReport) -> None:
    """Rwanda's and Uganda's states and districts, however small, are in the tile at their first zoom."""
    import mapbox_vector_tile

    from geo.lookup.tiles import LAYERS, MIN_ZOOM, render_tile
    from tests.builders import tile_of

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT b.osm_id, b.level, ST_X(p), ST_Y(p) FROM geo_boundary b"
            " JOIN geo_boundary c ON c.id = b.country_id,"
            " LATERAL ST_PointOnSurface(b.geometry) p"
            " WHERE c.osm_id IN ('R171496', 'R192796') AND b.level > 0 AND b.geometry IS NOT NULL"
        )
        rows = cursor.fetchall()
    assert len(rows) > 150
    missing = []
    for osm_id, level, lon, lat in rows:
        z, x, y = tile_of(lon, lat, MIN_ZOOM[level])
        layer = mapbox_vector_tile.decode(render_tile(z, x, y)).get(LAYERS[level], {})
        if osm_id not in {f["properties"]["osm_id"] for f in layer.get("features", [])}:
            missing.append(osm_id)
    assert missing == []


@pytest.mark.django_db
def test_geojson_children_on_real_countries(imported: ImportReport) -> None:
    """Children GeoJSON at each band: Rwanda's provinces, and New Zealand across the antimeridian."""
    from geo.lookup.boundaries import children_collection
    from geo.workspaces import WorkspaceAccess

    everywhere = WorkspaceAccess(id=0, name="all", country_id=None, aliases_version=0)
    for band in ("0", "1", "2", "full"):
        rwanda = children_collection(everywhere, "R171496", band=band)
        assert len(rwanda["features"]) == Boundary.objects.filter(parent__osm_id="R171496").count()
        assert "crs" not in rwanda
        for feature in rwanda["features"]:
            shape = shapely.from_geojson(orjson.dumps(feature["geometry"]))
            assert shape.is_valid
            exterior = shapely.get_exterior_ring(shapely.get_parts(shape)[0])
            assert shapely.is_ccw(exterior)  # RFC 7946: counter-clockwise exteriors
        zealand = children_collection(everywhere, "R556706", band=band)
        lons = [
            lon
            for feature in zealand["features"]
            for lon, _lat in shapely.get_coordinates(
                shapely.from_geojson(orjson.dumps(feature["geometry"]))
            )
        ]
        assert min(lons) < -175 and max(lons) > 170  # Chatham Islands and the mainland
        assert all(-180 <= lon <= 180 for lon in lons)
