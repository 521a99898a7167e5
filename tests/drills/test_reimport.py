"""Lookups through the load balancer while the whole world is imported again.

``scripts/cluster drill -k reimport``. Imports every country of
POSM_EXTRACTS_DIR into the cluster first unless they are all there (minutes),
then measures match and locate under the same bounded load twice: steady, and
while ``import_geojson`` re-imports the world with another simplification
tolerance (every boundary's map geometry is made again, a new version) and
both web nodes build and swap in the new index. Goal (issue 12): p99 during
the re-import at most 2x the steady p99; printed, not asserted (timings on a
shared machine are figures, not test outcomes). Asserted: no lookup fails or
changes its answer, and the nodes end on the new import.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.drills.conftest import CLUSTER, ROOT, Cluster, Load, cluster, query, wait_until_served
from tests.drills.test_drills import assert_clean

pytestmark = pytest.mark.drill

POSM = Path(os.environ.get("POSM_EXTRACTS_DIR", ROOT.parent / "shared/data/posm-extracts/geojson"))
STEADY_SECONDS = float(os.environ.get("MIPAKA_DRILL_STEADY_SECONDS", "30"))
# Two tolerances taken in turn, so every run of the drill changes every boundary's map geometry.
TOLERANCES = ("0.01", "0.012")
QUERIES = 300


def ensure_world(ha: Cluster) -> int:
    """Import the whole folder unless every country in it is stored; return the country count."""
    expected = len({path.name.split("admin")[0] for path in POSM.glob("R*admin0*.json")})
    assert expected, f"no countries in {POSM} (set POSM_EXTRACTS_DIR)"
    (stored,) = query(ha, "SELECT count(*) FROM geo_boundary WHERE level = 0")[0]
    if stored < expected:
        print(f"\nimporting the world ({expected} countries) into the cluster...", flush=True)
        cluster("manage", "import_geojson", str(POSM))
    return expected


def world_plan(ha: Cluster, path: Path) -> None:
    """Match the names of districts and regions worldwide; locate a point inside each district."""
    names = query(
        ha,
        "SELECT name, level FROM geo_boundary WHERE level IN (1, 2) ORDER BY md5(osm_id) LIMIT %s",
        QUERIES,
    )
    points = query(
        ha,
        "SELECT ST_Y(p), ST_X(p) FROM (SELECT ST_PointOnSurface(COALESCE(geometry,"
        " simplified_geometry)) AS p FROM geo_boundary WHERE level = 2"
        " AND COALESCE(geometry, simplified_geometry) IS NOT NULL ORDER BY md5(osm_id)"
        " LIMIT %s) AS inside",
        QUERIES,
    )
    plan: list[tuple[str, str, None]] = []
    for (name, level), (lat, lng) in zip(names, points, strict=False):
        text = urllib.parse.quote(f"I live in {name}")
        plan.append(("GET", f"/api/v1/match?text={text}&level={level}", None))
        plan.append(("GET", f"/api/v1/locate?lat={lat:.6f}&lng={lng:.6f}", None))
    path.write_text(json.dumps(plan))


def next_tolerance(ha: Cluster) -> str:
    rows = query(
        ha,
        "SELECT options->>'tolerance_deg' FROM geo_importrun WHERE status = 'succeeded'"
        " ORDER BY id DESC LIMIT 1",
    )
    current = float(rows[0][0]) if rows and rows[0][0] else 0.01
    return TOLERANCES[1] if abs(current - float(TOLERANCES[0])) < 1e-9 else TOLERANCES[0]


def test_p99_of_lookups_during_a_world_reimport(ha: Cluster, tmp_path: Path) -> None:
    """Steady p99 of match/locate, then during a world re-import; no lookup fails or changes."""
    countries = ensure_world(ha)
    before = wait_until_served(ha)
    token = cluster("manage", "create_workspace", "drill-world", "--exist-ok")
    token = token.strip().splitlines()[-1]
    plan = tmp_path / "plan.json"
    world_plan(ha, plan)

    Load(ha, tmp_path / "warm.json", seconds=5, token=token, plan=plan).result()  # first answers
    steady = Load(ha, tmp_path / "steady.json", seconds=STEADY_SECONDS, token=token, plan=plan)
    steady_summary = steady.result()

    stop = tmp_path / "stop"
    during = Load(
        ha, tmp_path / "during.json", seconds=3600, token=token, plan=plan, stop_file=stop
    )
    during.at(3)
    tolerance = next_tolerance(ha)
    started = time.monotonic()
    # Niced as the workers are: on this one machine the import stands for a worker host's.
    subprocess.run(
        ["nice", "-n10", CLUSTER, "manage", "import_geojson", str(POSM), "--tolerance", tolerance],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    imported_s = time.monotonic() - started
    after = wait_until_served(ha)
    swapped_s = time.monotonic() - started - imported_s
    time.sleep(2)
    stop.touch()
    during_summary = during.result()

    steady_p99 = steady_summary["latency_ms"]["match+locate"]["p99"]  # type: ignore[index]
    during_p99 = during_summary["latency_ms"]["match+locate"]["p99"]  # type: ignore[index]
    print(
        f"\nre-import of {countries} countries (tolerance {tolerance}): import {imported_s:.0f} s,"
        f" both web nodes on the new index {swapped_s:.0f} s later (v{before} -> v{after});"
        f" match+locate p99 steady {steady_p99} ms at {steady_summary['rate']}/s,"
        f" during {during_p99} ms at {during_summary['rate']}/s"
        f" = {during_p99 / max(steady_p99, 0.1):.2f}x (goal <= 2x)"
    )
    assert after > before
    assert_clean(steady_summary)
    assert_clean(during_summary)
