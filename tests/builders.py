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
