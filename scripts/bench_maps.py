"""Benchmark map geometry: vector tiles, and the quality of the simplified zoom bands.

    .venv/bin/python scripts/bench_maps.py [--part tiles|quality|all] [--baseline-tiles 12]

Uses the database of DATABASE_URL (default: the local ``mipaka``), which should
hold the 101 posm-extracts countries (``manage.py import_geojson DIR``), and
reads the extracts' own ``_simplified`` files from POSM_EXTRACTS_DIR.

Tiles: every tile z0–z6 and a sample at z7–z12 (tiles around points on
boundaries), in one run:
- before: rendered on a first request as main does (``render_tile``, the
  zoom's band, unthinned, nothing pre-rendered);
- the import's pre-render of z0–z5 into the shared cache
  (``prerender_tiles``), timed;
- after: served on a first request once that is done (``cached_tile``: the
  pre-rendered tile at z0–z5, else ``tile_bytes``, thinned), which is what a
  map waits for; then a second request (from the Redis cache, ``REDIS_URL``);
- ``ST_AsMVT`` on the full geometry for a sample of the same tiles.
Prints time p50/p95 and size per zoom, the goal being a served p95 of at most
20 ms at every zoom and no tile over 100 KB.

Quality: for each band (and the default simplified geometry), beside
per-polygon topology-preserving simplification (GEOS's
TopologyPreservingSimplifier, which is what ``ST_SimplifyPreserveTopology``
runs) at the same vertex budget, and beside the extracts' own ``_simplified``
files: vertices kept, sibling overlap area introduced, random points (drawn
inside the full geometries) that fall in no sibling or in two, children
outside their parent, parents that differ from the union of the children that
tile them, invalid and vanished geometries.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXTRACTS = Path(
    os.environ.get(
        "POSM_EXTRACTS_DIR", ROOT.parent / "shared" / "data" / "posm-extracts" / "geojson"
    )
)


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    from bench import local_environment

    local_environment()
    import django

    django.setup()


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


# ---------------------------------------------------------------- tiles


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    lat = max(min(lat, 85.05), -85.05)
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return min(x, n - 1), min(y, n - 1)


def time_tile(
    render: Callable[..., bytes], z: int, x: int, y: int, **kwargs: object
) -> tuple[float, int]:
    start = time.perf_counter()
    data = render(z, x, y, **kwargs)
    return (time.perf_counter() - start) * 1000, len(data)


def bench_tiles(baseline_per_zoom: int, sample_per_zoom: int, seed: int) -> None:
    from django.db import connection

    from geo.bands import FULL_RESOLUTION_BAND
    from geo.lookup.tiles import PRERENDER_MAX_ZOOM, cached_tile, prerender_tiles, render_tile

    rng = random.Random(seed)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(simplified_geometry) p"
            " FROM geo_boundary WHERE simplified_geometry IS NOT NULL) q"
        )
        points = cursor.fetchall()
    tiles: dict[int, list[tuple[int, int]]] = {}
    for z in range(7):
        tiles[z] = [(x, y) for x in range(2**z) for y in range(2**z)]
    for z in range(7, 13):
        chosen: set[tuple[int, int]] = set()
        while len(chosen) < sample_per_zoom:
            lon, lat = rng.choice(points)
            jitter = 2.0 / 2**z * 180
            chosen.add(
                tile_of(lon + rng.uniform(-jitter, jitter), lat + rng.uniform(-jitter, jitter), z)
            )
        tiles[z] = sorted(chosen)
    render_tile(0, 0, 0)  # warm the connection and caches
    # A version of its own, so the cache starts empty for this run.
    version = -int(time.time())
    started = time.perf_counter()
    prerendered = prerender_tiles(version=version)
    print(
        f"\n== Tiles: pre-render after an import, z0-z{PRERENDER_MAX_ZOOM}: {prerendered.tiles}"
        f" tiles ({prerendered.rendered} with boundaries) in {time.perf_counter() - started:.1f} s"
    )
    print(
        "before = rendered on a first request as main does (render_tile, unthinned);"
        " after = served on a first request after the pre-render (cached_tile);"
        f" full = ST_AsMVT on full geometry, {baseline_per_zoom} tiles/zoom"
    )
    header = (
        f"{'zoom':>4} {'tiles':>5} {'nonempty':>8} | {'before p50':>10} {'p95':>6} {'max':>6}"
        f" {'KB p95':>6} {'KB max':>6} | {'after p50':>9} {'p95':>6} {'max':>6} {'KB p95':>6}"
        f" {'KB max':>6} | {'2nd p95':>7} | {'full p95':>8} {'KB p95':>6}"
    )
    print(header)
    totals: dict[str, list[float]] = defaultdict(list)
    worst_after = 0.0
    for z, coords in tiles.items():
        before = [time_tile(render_tile, z, x, y) for x, y in coords]
        nonempty = [(x, y) for (x, y), (_, size) in zip(coords, before, strict=True) if size]
        after = [
            time_tile(cached_tile, z, x, y, country_id=None, version=version) for x, y in coords
        ]
        second = [
            time_tile(cached_tile, z, x, y, country_id=None, version=version)[0]
            for x, y in nonempty
        ]
        sample = rng.sample(nonempty, min(baseline_per_zoom, len(nonempty)))
        full = [time_tile(render_tile, z, x, y, band=FULL_RESOLUTION_BAND) for x, y in sample]
        kept_before = [b for b in before if b[1]] or [(0.0, 0)]
        kept_after = [a for a, b in zip(after, before, strict=True) if b[1]] or [(0.0, 0)]
        b_ms, b_kb = [m for m, _ in kept_before], [k / 1024 for _, k in kept_before]
        a_ms, a_kb = [m for m, _ in kept_after], [k / 1024 for _, k in kept_after]
        worst_after = max(worst_after, percentile(a_ms, 0.95))
        kind = "z0-6" if z <= 6 else "z7-12"
        for name, values in (("before ms", b_ms), ("before KB", b_kb), ("after ms", a_ms), ("after KB", a_kb), ("second ms", second)):  # fmt: skip
            totals[f"{kind} {name}"] += values
        full_ms = [f[0] for f in full] or [float("nan")]
        full_kb = [f[1] / 1024 for f in full] or [float("nan")]
        print(
            f"{z:>4} {len(coords):>5} {len(nonempty):>8} | {percentile(b_ms, 0.5):>10.1f}"
            f" {percentile(b_ms, 0.95):>6.1f} {max(b_ms):>6.1f} {percentile(b_kb, 0.95):>6.1f}"
            f" {max(b_kb):>6.1f} | {percentile(a_ms, 0.5):>9.1f} {percentile(a_ms, 0.95):>6.1f}"
            f" {max(a_ms):>6.1f} {percentile(a_kb, 0.95):>6.1f} {max(a_kb):>6.1f} |"
            f" {percentile(second or [0.0], 0.95):>7.2f} | {percentile(full_ms, 0.95):>8.1f}"
            f" {percentile(full_kb, 0.95):>6.1f}"
        )
    for kind in ("z0-6", "z7-12"):
        for when in ("before", "after"):
            ms, kb = totals[f"{kind} {when} ms"], totals[f"{kind} {when} KB"]
            over = sum(1 for k in kb if k > 100)
            print(
                f"{kind} {when}: {len(ms)} non-empty tiles, first request p50 {percentile(ms, 0.5):.1f} ms,"
                f" p95 {percentile(ms, 0.95):.1f} ms, max {max(ms):.1f} ms; size p95"
                f" {percentile(kb, 0.95):.1f} KB, max {max(kb):.1f} KB, {over} over 100 KB"
            )
    print(f"worst per-zoom p95 after: {worst_after:.1f} ms (goal <= 20 ms at every zoom)")


# ---------------------------------------------------------------- quality


def load_hierarchy() -> tuple[list[dict[str, object]], dict[str, np.ndarray]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT b.id, b.osm_id, b.level, b.parent_id, b.country_id,"
            " ST_AsBinary(b.geometry), ST_AsBinary(b.simplified_geometry) FROM geo_boundary b ORDER BY b.id"
        )
        rows = cursor.fetchall()
        boundaries = [
            {"id": r[0], "osm_id": r[1], "level": r[2], "parent": r[3], "country": r[4]}
            for r in rows
        ]
        shapes = {
            "full": np.array(
                [shapely.from_wkb(bytes(r[5])) if r[5] else None for r in rows], dtype=object
            ),
            "default (0.01°)": np.array(
                [shapely.from_wkb(bytes(r[6])) if r[6] else None for r in rows], dtype=object
            ),
        }
        position = {r[0]: i for i, r in enumerate(rows)}
        for band in (2, 1, 0):
            cursor.execute(
                "SELECT boundary_id, ST_AsBinary(ST_Transform(geometry, 4326)) FROM geo_boundaryshape WHERE band = %s",
                [band],
            )
            column = np.full(len(rows), None, dtype=object)
            for boundary_id, wkb in cursor.fetchall():
                column[position[boundary_id]] = shapely.from_wkb(bytes(wkb)) if wkb else None
            shapes[f"band {band}"] = column
    return boundaries, shapes


def extract_simplified(boundaries: list[dict[str, object]]) -> np.ndarray:
    from geo.importing.parse import optional_ref

    by_osm = {str(b["osm_id"]): i for i, b in enumerate(boundaries)}
    column = np.full(len(boundaries), None, dtype=object)
    for path in sorted(EXTRACTS.glob("*_simplified.json")):
        for feature in json.loads(path.read_text()).get("features", []):
            index = by_osm.get(optional_ref((feature.get("properties") or {}).get("osm_id")) or "")
            if index is None or not feature.get("geometry"):
                continue
            shape = shapely.from_geojson(json.dumps(feature["geometry"]))
            if not shape.is_valid:
                shape = shapely.make_valid(shape)
            column[index] = shape
    return column


def vertex_count(shapes: np.ndarray) -> int:
    present = shapes[~shapely.is_missing(shapes)]
    return int(shapely.get_num_coordinates(present).sum())


def per_polygon_at_budget(full: np.ndarray, budget: int) -> tuple[np.ndarray, float]:
    """Per-polygon topology-preserving simplification; tolerance searched to match ``budget``."""
    present = ~shapely.is_missing(full)
    low, high = 1e-4, 0.5
    best = full
    for _ in range(14):
        tolerance = math.sqrt(low * high)
        simplified = full.copy()
        simplified[present] = shapely.simplify(full[present], tolerance, preserve_topology=True)
        count = vertex_count(simplified)
        best = simplified
        if count > budget:
            low = tolerance
        else:
            high = tolerance
        if abs(count - budget) <= 0.01 * budget:
            break
    return best, tolerance


def sample_points(
    full: np.ndarray, groups: dict[tuple[int, int], list[int]], per_group: int, seed: int
) -> dict[tuple[int, int], np.ndarray]:
    """Random points inside each sibling group's full geometries (uniform in degrees)."""
    rng = np.random.default_rng(seed)
    samples = {}
    for key, members in groups.items():
        shapes = [full[i] for i in members if full[i] is not None]
        if not shapes:
            continue
        union_box = shapely.bounds(np.array(shapes, dtype=object))
        west, south = union_box[:, 0].min(), union_box[:, 1].min()
        east, north = union_box[:, 2].max(), union_box[:, 3].max()
        tree = shapely.STRtree(shapes)
        found: list[np.ndarray] = []
        tries = 0
        while sum(len(f) for f in found) < per_group and tries < 20:
            tries += 1
            xs = rng.uniform(west, east, per_group * 4)
            ys = rng.uniform(south, north, per_group * 4)
            points = shapely.points(xs, ys)
            inside, _ = tree.query(points, predicate="within")
            found.append(points[np.unique(inside)])
        samples[key] = np.concatenate(found)[:per_group] if found else np.array([], dtype=object)
    return samples


def area_km2_of(shape: shapely.Geometry) -> float:
    from geo.importing.geometry import area_km2

    polygons = [
        p for p in shapely.get_parts(shape) if isinstance(p, shapely.Polygon) and not p.is_empty
    ]
    return area_km2(shapely.MultiPolygon(polygons)) if polygons else 0.0


def sibling_overlap_km2(shapes: np.ndarray, groups: dict[tuple[int, int], list[int]]) -> float:
    total = 0.0
    for members in groups.values():
        present = [i for i in members if shapes[i] is not None]
        if len(present) < 2:
            continue
        geoms = np.array([shapes[i] for i in present], dtype=object)
        left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        keep = left < right
        for a, b in zip(left[keep], right[keep], strict=True):
            overlap = shapely.intersection(geoms[a], geoms[b])
            if not overlap.is_empty and overlap.area > 0:
                total += area_km2_of(overlap)
    return total


def coverage_counts(
    shapes: np.ndarray,
    groups: dict[tuple[int, int], list[int]],
    samples: dict[tuple[int, int], np.ndarray],
) -> tuple[int, int, int]:
    """Points in no sibling, points in no sibling yet inside the siblings' outline (a gap between
    them, not a moved coastline), and points in two or more siblings."""
    none = inner = many = 0
    for key, points in samples.items():
        present = [i for i in groups[key] if shapes[i] is not None]
        if not present:
            none += len(points)
            continue
        geoms = np.array([shapes[i] for i in present], dtype=object)
        hits, _ = shapely.STRtree(geoms).query(points, predicate="within")
        counts = np.bincount(hits, minlength=len(points))
        missed = counts == 0
        none += int(missed.sum())
        many += int((counts >= 2).sum())
        if missed.any():
            union = shapely.union_all(geoms)
            outline = shapely.union_all(
                [
                    shapely.Polygon(shapely.get_exterior_ring(part))
                    for part in shapely.get_parts(union)
                ]
            )
            inner += int(
                shapely.contains_xy(
                    outline, shapely.get_x(points[missed]), shapely.get_y(points[missed])
                ).sum()
            )
    return none, inner, many


def families_of(
    boundaries: list[dict[str, object]], full: np.ndarray
) -> tuple[dict[int, list[int]], set[int]]:
    """Parent position → children positions, and the parents their children tile in the source (0.05 %)."""
    position = {b["id"]: i for i, b in enumerate(boundaries)}
    children: dict[int, list[int]] = defaultdict(list)
    for i, b in enumerate(boundaries):
        if b["parent"] is not None and full[i] is not None:
            children[position[b["parent"]]].append(i)
    tiled = set()
    for parent, kids in children.items():
        if full[parent] is None:
            continue
        union = shapely.union_all([full[k] for k in kids])
        if shapely.symmetric_difference(full[parent], union).area <= 0.0005 * full[parent].area:
            tiled.add(parent)
    return dict(children), tiled


def parent_checks(
    shapes: np.ndarray,
    children: dict[int, list[int]],
    tiled: set[int],
    spill_full: dict[int, float],
) -> tuple[float, list[tuple[int, float]]]:
    """Children's area outside their parent beyond the source's (km²); tiled parents that differ from their children's union."""
    outside = 0.0
    differing: list[tuple[int, float]] = []
    for parent, kids in children.items():
        present = [shapes[k] for k in kids if shapes[k] is not None]
        if shapes[parent] is None or not present:
            continue
        kid_union = shapely.union_all(present)
        spill = shapely.difference(kid_union, shapes[parent])
        outside += max(
            0.0, (area_km2_of(spill) if not spill.is_empty else 0.0) - spill_full.get(parent, 0.0)
        )
        if parent in tiled:
            xor = shapely.symmetric_difference(shapes[parent], kid_union)
            if not xor.is_empty and xor.area > 1e-9 * shapes[parent].area:
                differing.append((parent, area_km2_of(xor)))
    return outside, differing


def bench_quality(points_per_group: int, seed: int) -> None:
    print("\n== Simplification quality (siblings = one country's boundaries of one level)")
    started = time.perf_counter()
    boundaries, shapes = load_hierarchy()
    full = shapes["full"]
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, b in enumerate(boundaries):
        # Countries are compared with nothing: their outlines overlap at sea.
        if b["level"] != 0:
            groups[(int(str(b["country"])), int(str(b["level"])))].append(i)
    shapes["extracts' _simplified"] = extract_simplified(boundaries)
    samples = sample_points(full, groups, points_per_group, seed)
    print(
        f"loaded in {time.perf_counter() - started:.0f} s: {len(boundaries)} boundaries, {len(groups)} sibling groups, "
        f"{sum(len(p) for p in samples.values())} random points inside the full geometries"
    )
    children, tiled = families_of(boundaries, full)
    spill_full = {}
    for parent, kids in children.items():
        if full[parent] is not None:
            spill = shapely.difference(shapely.union_all([full[k] for k in kids]), full[parent])
            spill_full[parent] = area_km2_of(spill) if not spill.is_empty else 0.0
    print(
        f"{len(tiled)} of {len(children)} parents are tiled by their children in the source; "
        f"{time.perf_counter() - started:.0f} s"
    )
    source_overlap = sibling_overlap_km2(full, groups)
    source_none, source_inner, source_many = coverage_counts(full, groups, samples)
    rows = []
    methods = ["band 2", "band 1", "band 0", "default (0.01°)", "extracts' _simplified"]
    for method in methods:
        column = shapes[method]
        rows.append((method, column))
        if method.startswith(("band", "default")):
            budget = vertex_count(column)
            baseline, tolerance = per_polygon_at_budget(full, budget)
            rows.append((f"  per-polygon at {method} budget (tol {tolerance:.4f}°)", baseline))
    print(
        f"source (full geometry): {vertex_count(full):,} vertices; sibling overlap {source_overlap:,.1f} km²;"
        f" points in no sibling {source_none}, in two+ {source_many}"
    )
    print(
        f"{'method':<48} {'vertices':>10} {'overlap +km²':>13} {'out pts +':>9} {'gap pts +':>9} {'overlap pts +':>13} {'child out km²':>13} {'tiled≠union':>11} {'invalid':>7} {'vanished':>8}"
    )
    for name, column in rows:
        present = ~shapely.is_missing(column)
        invalid = int((~shapely.is_valid(column[present])).sum())
        vanished = sum(
            1
            for i in range(len(full))
            if full[i] is not None and (column[i] is None or column[i].is_empty)
        )
        overlap = sibling_overlap_km2(column, groups) - source_overlap
        none, inner, many = coverage_counts(column, groups, samples)
        outside, differing = parent_checks(column, children, tiled, spill_full)
        print(
            f"{name:<48} {vertex_count(column):>10,} {overlap:>13,.1f} {none - source_none:>9} {inner - source_inner:>9} {many - source_many:>13}"
            f" {outside:>13,.1f} {len(differing):>11} {invalid:>7} {vanished:>8}",
            flush=True,
        )
        if differing and not name.startswith(("  ", "extracts")):
            worst = sorted(differing, key=lambda d: -d[1])[:3]
            print(
                "    differing most:",
                ", ".join(f"{boundaries[i]['osm_id']} {km2:.3f} km²" for i, km2 in worst),
            )
    print(
        f"('out pts +': points, of {sum(len(p) for p in samples.values()):,}, newly in no sibling (mostly coasts moved"
        " by the tolerance); 'gap pts +': of those, inside the siblings' own outline (a gap between them);"
        " 'overlap pts +': newly in two siblings;"
        " 'child out': children's area outside their parent; 'tiled≠union': parents the source's children tile"
        " whose outline differs from the union of their children)"
    )
    print(f"quality part took {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["tiles", "quality", "all"], default="all")
    parser.add_argument(
        "--baseline-tiles", type=int, default=12, help="full-geometry tiles per zoom"
    )
    parser.add_argument("--sample-tiles", type=int, default=200, help="tiles per zoom for z7–z12")
    parser.add_argument("--points", type=int, default=200, help="random points per sibling group")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    setup_django()
    if args.part in ("tiles", "all"):
        bench_tiles(args.baseline_tiles, args.sample_tiles, args.seed)
    if args.part in ("quality", "all"):
        bench_quality(args.points, args.seed)


if __name__ == "__main__":
    main()
