"""Small posm-extracts files built in code, for tests of the import.

Shapes are unit squares on a grid, so containment and shared borders are
obvious: ``square(0, 0)`` and ``square(1, 0)`` share the edge x = 1.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

Coordinates = list[list[list[float]]]


def square(x: float, y: float, size: float = 1.0) -> Coordinates:
    """Polygon coordinates of an axis-aligned square, counter-clockwise."""
    return [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]]


def wiggly_square(x: float, y: float, size: float = 1.0, steps: int = 40) -> Coordinates:
    """A square whose edges carry many collinear vertices (for simplification)."""
    ring: list[list[float]] = []
    corners = [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]
    for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1], strict=True):
        # Rounded so that neighbours compute bit-identical shared vertices.
        ring.extend(
            [round(ax + (bx - ax) * i / steps, 9), round(ay + (by - ay) * i / steps, 9)]
            for i in range(steps)
        )
    ring.append(ring[0])
    return [ring]


def feature(
    osm_id: str | int,
    name: str,
    *,
    coordinates: Any = None,
    geometry_type: str = "Polygon",
    geometry: Any = "auto",
    name_en: str = "None",
    country: str | int = "None",
    state: str | int = "None",
    **extra: Any,
) -> dict[str, Any]:
    """A feature with posm-extracts properties (every value a string, "None" when missing)."""
    if geometry == "auto":
        geometry = (
            None if coordinates is None else {"type": geometry_type, "coordinates": coordinates}
        )
    properties = {
        "osm_id": osm_id,
        "name": name,
        "name_en": name_en,
        "is_in_country": country,
        "is_in_state": state,
        **extra,
    }
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    """A FeatureCollection with the extracts' (non-RFC 7946) crs member."""
    return {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": list(features),
    }


def write(folder: Path, name: str, content: dict[str, Any] | str | bytes) -> Path:
    """Write a file into ``folder`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(
            content if isinstance(content, str) else json.dumps(content), encoding="utf-8"
        )
    return path


def tiny_country(
    folder: Path, *, district_names: tuple[str, str, str, str] = ("Alpha", "Beta", "Gamma", "Delta")
) -> Path:
    """Write a 2x2 country R1 with states R11 (west) and R12 (east), two districts each.

    Districts: R111 (0,0), R112 (0,1) in R11; R121 (1,0), R122 (1,1) in R12.
    """
    write(
        folder,
        "R1admin0.json",
        collection(
            feature("R1", "Tinyland", name_en="Tinyland", coordinates=wiggly_square(0, 0, 2, 80))
        ),
    )
    west = [[[0, 0], [1, 0], [1, 2], [0, 2], [0, 0]]]
    east = [[[1, 0], [2, 0], [2, 2], [1, 2], [1, 0]]]
    write(
        folder,
        "R1admin1.json",
        collection(
            feature("R11", "West", coordinates=west, country="R1"),
            feature("R12", "East", coordinates=east, country="R1"),
        ),
    )
    a, b, c, d = district_names
    write(
        folder,
        "R1admin2.json",
        collection(
            feature("R111", a, coordinates=wiggly_square(0, 0), country="R1", state="R11"),
            feature("R112", b, coordinates=wiggly_square(0, 1), country="R1", state="R11"),
            feature("R121", c, coordinates=wiggly_square(1, 0), country="R1", state="R12"),
            feature("R122", d, coordinates=wiggly_square(1, 1), country="R1", state="R12"),
        ),
    )
    return folder


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """Return the (z, x, y) of the Web Mercator tile holding a point."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def coded_country(folder: Path) -> Path:
    """Write ``tiny_country`` with OSM codes and names in other languages, and a second country.

    R1 Tinyland (``name:fr`` Petitpays, ``wikidata`` Q1); states R11 West
    (``name:fr`` Ouest, ``name:pt-BR`` Oeste, ``ISO3166-2`` TL-01, Q11) and R12
    East (``name:fr`` Est, ``ISO3166-2`` TL-02, ``ref`` E2); districts R111
    Alpha (Q111), R112 Beta (``name:fr`` Bêta), R121 Gamma (``ref`` OK), R122 Delta. R2
    Otherland (a square at 10, 10) with one state R21 Solo (``ISO3166-2`` OT-01).
    """
    write(
        folder,
        "R1admin0.json",
        collection(
            feature(
                "R1",
                "Tinyland",
                name_en="Tinyland",
                coordinates=wiggly_square(0, 0, 2, 80),
                **{"name:fr": "Petitpays", "wikidata": "Q1"},
            )
        ),
    )
    west = [[[0, 0], [1, 0], [1, 2], [0, 2], [0, 0]]]
    east = [[[1, 0], [2, 0], [2, 2], [1, 2], [1, 0]]]
    write(
        folder,
        "R1admin1.json",
        collection(
            feature(
                "R11",
                "West",
                coordinates=west,
                country="R1",
                **{
                    "name:fr": "Ouest",
                    "name:pt-BR": "Oeste",
                    "ISO3166-2": "TL-01",
                    "wikidata": "Q11",
                },
            ),
            feature(
                "R12",
                "East",
                coordinates=east,
                country="R1",
                **{"name:fr": "Est", "ISO3166-2": "TL-02", "ref": "E2"},
            ),
        ),
    )
    write(
        folder,
        "R1admin2.json",
        collection(
            feature(
                "R111",
                "Alpha",
                coordinates=wiggly_square(0, 0),
                country="R1",
                state="R11",
                wikidata="Q111",
            ),
            feature(
                "R112",
                "Beta",
                coordinates=wiggly_square(0, 1),
                country="R1",
                state="R11",
                **{"name:fr": "Bêta"},
            ),
            feature(
                "R121",
                "Gamma",
                coordinates=wiggly_square(1, 0),
                country="R1",
                state="R12",
                ref="OK",
            ),
            feature("R122", "Delta", coordinates=wiggly_square(1, 1), country="R1", state="R12"),
        ),
    )
    write(
        folder,
        "R2admin0.json",
        collection(feature("R2", "Otherland", coordinates=square(10, 10))),
    )
    write(
        folder,
        "R2admin1.json",
        collection(
            feature(
                "R21", "Solo", coordinates=square(10, 10), country="R2", **{"ISO3166-2": "OT-01"}
            ),
        ),
    )
    return folder


def rectangle(west: float, south: float, east: float, north: float) -> Coordinates:
    """Polygon coordinates of an axis-aligned rectangle, counter-clockwise."""
    return [[[west, south], [east, south], [east, north], [west, north], [west, south]]]


def changing_country(folder: Path, *, stage: int) -> Path:
    """Write country R1 as it stands at ``stage`` 1, 2 or 3 of a history of changes.

    Stage 1: states R11 West (x 0..2) and R12 East (x 2..5); districts Alpha
    R111 (0,0), Beta R112 (0,1), Epsilon R113 (1,0), Iota R115 (1,1) in West;
    Gamma R121 (2,0), Delta R122 (2,1), Eta R123 (3,0), Theta R124 (3,1),
    Kappa R126 (4,0) in East; unit squares.

    Stage 2, every kind of change at once: Alpha renamed Alfa; Beta moved to
    East; Gamma re-keyed W121; Delta reshaped (its lower half); Epsilon split
    in halves (Eps West R1131, Eps East R1132); Eta and Theta merged into
    Etatheta R125; Iota gone (no successor); East renamed Orient (Kappa's
    path changes, nothing else about it).

    Stage 3: as stage 2, with Iota back under its old osm_id.
    """
    west, east = ("R11", "West"), ("R12", "East" if stage == 1 else "Orient")
    write(
        folder,
        "R1admin0.json",
        collection(
            feature("R1", "Changeland", name_en="Changeland", coordinates=rectangle(0, 0, 5, 2))
        ),
    )
    write(
        folder,
        "R1admin1.json",
        collection(
            feature(west[0], west[1], coordinates=rectangle(0, 0, 2, 2), country="R1"),
            feature(east[0], east[1], coordinates=rectangle(2, 0, 5, 2), country="R1"),
        ),
    )

    def district(osm_id: str, name: str, state: str, shape: Coordinates) -> dict[str, Any]:
        return feature(osm_id, name, coordinates=shape, country="R1", state=state)

    if stage == 1:
        districts = [
            district("R111", "Alpha", "R11", square(0, 0)),
            district("R112", "Beta", "R11", square(0, 1)),
            district("R113", "Epsilon", "R11", square(1, 0)),
            district("R115", "Iota", "R11", square(1, 1)),
            district("R121", "Gamma", "R12", square(2, 0)),
            district("R122", "Delta", "R12", square(2, 1)),
            district("R123", "Eta", "R12", square(3, 0)),
            district("R124", "Theta", "R12", square(3, 1)),
            district("R126", "Kappa", "R12", square(4, 0)),
        ]
    else:
        districts = [
            district("R111", "Alfa", "R11", square(0, 0)),
            district("R112", "Beta", "R12", square(0, 1)),
            district("R1131", "Eps West", "R11", rectangle(1, 0, 1.5, 1)),
            district("R1132", "Eps East", "R11", rectangle(1.5, 0, 2, 1)),
            district("W121", "Gamma", "R12", square(2, 0)),
            district("R122", "Delta", "R12", rectangle(2, 1, 3, 1.5)),
            district("R125", "Etatheta", "R12", rectangle(3, 0, 4, 2)),
            district("R126", "Kappa", "R12", square(4, 0)),
        ]
        if stage == 3:
            districts.append(district("R115", "Iota", "R11", square(1, 1)))
    write(folder, "R1admin2.json", collection(*districts))
    return folder
