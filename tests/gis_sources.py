"""GIS sources in the publishers' layouts, made by our own code from the real extracts.

``posm_places`` reads a country of the posm-extracts (the shared folder; nothing
is copied into the project) into ``Place`` values; the writers turn them into
the files a COD-AB, geoBoundaries, GADM or Mipaka export user would have:
zipped Shapefiles, GeoPackages, GeoJSON, FlatGeobuf, KML, in any CRS. The
codes each layout gives a place are functions of the place (``pcode``,
``gid``, ``shape_id``), so tests can say which boundary they expect.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

ISO = {"R171496": ("RW", "RWA"), "R192801": ("DJ", "DJI")}


@dataclass(frozen=True)
class Place:
    """One boundary of a posm-extracts country, with the codes layouts give it."""

    osm_id: str
    level: int
    name: str
    name_en: str
    parent: str | None
    geometry: shapely.MultiPolygon
    # Position among its siblings, from 1: the p-codes and GIDs number places so.
    number: int
    pcode: str
    gid: str
    shape_id: str


def posm_places(
    extracts: Path, relation: str, *, simplified: bool = True, states: int | None = None
) -> list[Place]:
    """Read a country, its states and districts (only the first ``states`` states, if given)."""
    alpha2, alpha3 = ISO[relation]
    suffix = "_simplified" if simplified else ""
    places: list[Place] = []
    by_osm: dict[str, Place] = {}
    for level in range(3):
        path = extracts / f"{relation}admin{level}{suffix}.json"
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
        siblings: dict[str | None, int] = {}
        for item in sorted(features, key=lambda f: f["properties"]["osm_id"]):
            props = item["properties"]
            parent = None if level == 0 else props["is_in_country" if level == 1 else "is_in_state"]
            if level > 0 and parent not in by_osm:
                continue  # a state left out, or a district of one
            if level == 1 and states is not None and siblings.get(parent, 0) >= states:
                continue
            number = siblings[parent] = siblings.get(parent, 0) + 1
            above = by_osm[parent] if parent else None
            shape = shapely.geometry.shape(item["geometry"])
            if shape.geom_type == "Polygon":
                shape = shapely.MultiPolygon([shape])
            place = Place(
                osm_id=props["osm_id"],
                level=level,
                name=props["name"] if props["name"] != "None" else props["name_en"],
                name_en=props["name_en"] if props["name_en"] != "None" else "",
                parent=parent,
                geometry=shapely.make_valid(shape),
                number=number,
                pcode=alpha2 if above is None else f"{above.pcode}{number:02d}",
                gid=alpha3 if above is None else f"{above.gid.removesuffix('_1')}.{number}_1",
                shape_id="",
            )
            # geoBoundaries ids are opaque; these only need to be unique.
            place = replace(place, shape_id=f"{alpha3}-ADM{level}-B{place.pcode[2:] or '0'}")
            places.append(place)
            by_osm[place.osm_id] = place
    return places


def frame(rows: list[dict[str, Any]], geometries: list[Any], crs: str | int = 4326) -> Any:
    """A GeoDataFrame in EPSG:4326, reprojected to ``crs``."""
    result = gpd.GeoDataFrame(rows, geometry=geometries, crs=4326)
    return result if crs == 4326 else result.to_crs(crs)


def write(data: Any, path: Path, **kwargs: Any) -> Path:
    """Write a frame with pyogrio, quietly (GDAL notes on field names)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data.to_file(path, engine="pyogrio", **kwargs)
    return path


def by_pcode(places: list[Place]) -> dict[str, Place]:
    """Places by p-code (to find a place's parent's code)."""
    return {p.osm_id: p for p in places}


# --- COD-AB ----------------------------------------------------------------------------


def cod_ab_frame(places: list[Place], level: int, *, crs: str | int = 4326) -> Any:
    """The COD-AB table of one level: ADM<n>_PCODE, ADM<n>_EN, ADM<n>_FR, parents' columns."""
    index = by_pcode(places)
    rows, geometries = [], []
    for place in (p for p in places if p.level == level):
        row: dict[str, Any] = {}
        chain = [place]
        while chain[-1].parent:
            chain.append(index[chain[-1].parent])
        for member in chain:
            row[f"ADM{member.level}_EN"] = member.name_en or member.name
            row[f"ADM{member.level}_PCODE"] = member.pcode
        row[f"ADM{level}_FR"] = f"{place.name} (fr)"
        row[f"ADM{level}_REF"] = place.name.upper()
        row["validOn"] = "2024-01-01"
        rows.append(row)
        geometries.append(place.geometry)
    return frame(rows, geometries, crs)


def cod_ab_shapefiles(places: list[Place], folder: Path, *, crs: str | int = 4326) -> list[Path]:
    """One zipped Shapefile per level, as HDX publishes them."""
    zips = []
    for level in sorted({p.level for p in places}):
        stem = f"rwa_admbnda_adm{level}"
        shp = write(cod_ab_frame(places, level, crs=crs), folder / "unzipped" / f"{stem}.shp")
        target = folder / f"{stem}.zip"
        with zipfile.ZipFile(target, "w") as archive:
            for part in shp.parent.glob(f"{stem}.*"):
                archive.write(part, part.name)
                part.unlink()
        shp.parent.rmdir()  # only the zips are left, as a download has them
        zips.append(target)
    return zips


def cod_ab_geopackage(places: list[Place], path: Path, *, crs: str | int = 4326) -> Path:
    """One GeoPackage with a layer per level."""
    for level in sorted({p.level for p in places}):
        write(cod_ab_frame(places, level, crs=crs), path, layer=f"adm{level}", driver="GPKG")
    return path


# --- geoBoundaries ---------------------------------------------------------------------


def geoboundaries_geojson(places: list[Place], folder: Path, relation: str) -> list[Path]:
    """One GeoJSON file per level, without parents (geoBoundaries has none)."""
    alpha2, alpha3 = ISO[relation]
    paths = []
    for level in sorted({p.level for p in places}):
        members = [p for p in places if p.level == level]
        rows = [
            {
                "shapeName": p.name_en or p.name if level == 0 else p.name,
                "shapeISO": alpha3
                if level == 0
                else f"{alpha2}-{p.number:02d}"
                if level == 1
                else "",
                "shapeID": p.shape_id,
                "shapeGroup": alpha3,
                "shapeType": f"ADM{level}",
            }
            for p in members
        ]
        paths.append(
            write(
                frame(rows, [p.geometry for p in members]),
                folder / f"geoBoundaries-{alpha3}-ADM{level}.geojson",
                driver="GeoJSON",
            )
        )
    return paths


# --- GADM ------------------------------------------------------------------------------


def gadm_geopackage(places: list[Place], path: Path) -> Path:
    """A GADM 4.1 GeoPackage: layers ADM_ADM_0.. with GID_n, NAME_n, VARNAME_n, NL_NAME_n."""
    index = by_pcode(places)
    for level in sorted({p.level for p in places}):
        rows, geometries = [], []
        for place in (p for p in places if p.level == level):
            row: dict[str, Any] = {}
            chain = [place]
            while chain[-1].parent:
                chain.append(index[chain[-1].parent])
            for member in reversed(chain):
                if member.level == 0:
                    row.update(GID_0=member.gid, COUNTRY=member.name_en or member.name)
                else:
                    row[f"GID_{member.level}"] = member.gid
                    row[f"NAME_{member.level}"] = member.name
                    row[f"NL_NAME_{member.level}"] = (
                        "NA" if member.level > 1 else f"«{member.name}»"
                    )
            if level > 0:
                row[f"VARNAME_{level}"] = f"{place.name} A|{place.name} B"
                row[f"HASC_{level}"] = f"RW.{place.pcode[-2:]}" if level == 1 else "NA"
                row[f"TYPE_{level}"] = "Intara" if level == 1 else "Akarere"
            if level == 1:
                row["ISO_1"] = f"RW-{place.number:02d}"
            rows.append(row)
            geometries.append(place.geometry)
        write(frame(rows, geometries), path, layer=f"ADM_ADM_{level}", driver="GPKG")
    return path


# --- Mipaka's export -------------------------------------------------------------------


def mipaka_frame(places: list[Place], levels: set[int] | None = None) -> Any:
    """Mipaka's export layout: osm_id, level, name, name_en, parent_id, path, codes, names."""
    index = by_pcode(places)
    rows, geometries = [], []
    for place in places:
        if levels is not None and place.level not in levels:
            continue
        chain = [place]
        while chain[-1].parent:
            chain.append(index[chain[-1].parent])
        rows.append(
            {
                "osm_id": place.osm_id,
                "level": place.level,
                "name": place.name,
                "name_en": place.name_en,
                "parent_id": place.parent or "",
                "path": " > ".join(p.name for p in reversed(chain)),
                "pcode": place.pcode,
                "wikidata": "",
                "name_fr": f"{place.name} (fr)",
                "name_pt_br": f"{place.name} (pt-br)",
                "alt_names": f"{place.name} Old;{place.name} Older",
                "aliases": "ignored",
            }
        )
        geometries.append(place.geometry)
    return frame(rows, geometries)


def mipaka_export_of_stored(path: Path, *, layer_per_level: bool = True) -> Path:
    """Write the stored boundaries in Mipaka's export layout (a stand-in for the exporter)."""
    from geo.models import Boundary

    rows, geometries = [], []
    for boundary in Boundary.with_geometry.select_related("parent").order_by("level", "osm_id"):
        row: dict[str, Any] = {
            "osm_id": boundary.osm_id,
            "level": boundary.level,
            "name": boundary.name,
            "name_en": boundary.name_en,
            "parent_id": boundary.parent.osm_id if boundary.parent else "",
            "path": boundary.path,
            "alt_names": ";".join(boundary.other_names),
            **boundary.codes,
            **{f"name_{lang.replace('-', '_')}": text for lang, text in boundary.names.items()},
        }
        rows.append(row)
        assert boundary.geometry is not None
        geometries.append(shapely.from_wkb(bytes(boundary.geometry.wkb)))
    table = frame(rows, geometries)
    if not layer_per_level:
        return write(table, path, layer="boundaries", driver="GPKG")
    for level in sorted(set(table["level"])):
        part = table[table["level"] == level].drop(columns="level")
        write(part, path, layer=f"admin{level}", driver="GPKG")
    return path
