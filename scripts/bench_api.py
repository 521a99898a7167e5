"""Benchmark the lookup API as production runs it: gunicorn workers, wrk on loopback.

    .venv/bin/python scripts/bench_api.py [--workers 2] [--seconds 10] [--connections 16]

Uses the database of DATABASE_URL (default: the local ``mipaka``), which should
hold the 101 posm-extracts countries (``manage.py import_geojson DIR``). In one
run it measures, with the same server:
- ``/api/v1/ping``: a trivial authenticated JSON answer, the framework's floor;
- ``/api/v1/match`` on names and sentences drawn from the stored boundaries;
- ``/api/v1/locate`` (GET) on random points (half in a country's bbox, half anywhere);
- the naive GeoDjango locate (``geometry__contains`` per request) on the same points;
then worker memory, and in-process figures: name matches/s and batch points/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 8765


def wrk_lua(paths: list[str], token: str) -> str:
    """A wrk script that sends ``paths`` in turn with the token, and prints its error count."""
    return "\n".join(
        [
            "local paths = {" + ",".join(json.dumps(p) for p in paths) + "}",
            "local i = 0",
            "request = function()",
            "  i = i % #paths + 1",
            f'  return wrk.format("GET", paths[i], {{["Authorization"] = "Token {token}"}})',
            "end",
            "done = function(summary, latency, requests)",
            '  io.write(string.format("errors %d %d\\n", summary.errors.status, summary.requests))',
            "end",
        ]
    )


def wrk(url_paths: list[str], token: str, *, seconds: int, connections: int) -> dict[str, float]:
    """Run wrk over a rotating list of paths; return requests/s and latency percentiles (ms)."""
    lua = wrk_lua(url_paths, token)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, f"http://127.0.0.1:{PORT}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    os.unlink(script.name)

    def latency(percent: str) -> float:
        value, unit = re.search(rf"\s{percent}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    bad, total = (int(x) for x in re.search(r"errors (\d+) (\d+)", out).groups())  # type: ignore[union-attr]
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": latency("50"),
        "p99": latency("99"),
        "non2xx": bad,
        "requests": total,
    }


def worker_rss_mb(master: int) -> list[float]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    sizes = []
    for child in children:
        status = Path(f"/proc/{child}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)  # type: ignore[union-attr]
    return sizes


def main() -> None:  # noqa: PLR0915  (a script: one straight sequence of measurements)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scripts.bench.settings")
    import django

    django.setup()
    import numpy as np

    from geo.models import Boundary
    from geo.workspaces import create_workspace

    countries = Boundary.objects.filter(level=0).count()
    if not countries:
        sys.exit(
            "no boundaries: import the posm-extracts folder first (manage.py import_geojson DIR)"
        )
    _, token = create_workspace(name=f"bench-{time.time_ns()}")
    rng = random.Random(20261124)
    names = list(Boundary.objects.filter(level__in=[1, 2]).values_list("name", "level"))
    texts = []
    for name, level in rng.sample(names, 400):
        phrase = name if rng.random() < 0.5 else f"I live in {name.lower()}"
        texts.append(f"/api/v1/match?level={level}&text={urllib.parse.quote(phrase)}")
    boxes = [
        tuple(float(v or 0.0) for v in box)
        for box in Boundary.objects.filter(level=0, bbox_west__isnull=False).values_list(
            "bbox_west", "bbox_south", "bbox_east", "bbox_north"
        )
    ]
    points = []
    for n in range(2000):
        if n % 2:
            points.append((rng.uniform(-180, 180), np.degrees(np.arcsin(rng.uniform(-1, 1)))))
        else:
            west, south, east, north = rng.choice(boxes)
            east = east + 360 if east < west else east
            lon = rng.uniform(west, east)
            points.append((lon - 360 if lon > 180 else lon, rng.uniform(south, north)))
    locate_paths = [f"/api/v1/locate?lat={lat:.6f}&lng={lon:.6f}" for lon, lat in points]
    naive_paths = [p.replace("/api/v1/locate", "/bench/naive-locate") for p in locate_paths]

    env = dict(os.environ, DJANGO_SETTINGS_MODULE="scripts.bench.settings", PYTHONPATH=str(ROOT))
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--workers", str(args.workers), "--bind", f"127.0.0.1:{PORT}",
         "--log-level", "warning", "--preload"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        # Warm every worker (hierarchy, point index) before measuring.
        warm = wrk(locate_paths[:50] + texts[:50], token, seconds=3, connections=args.workers * 4)
        assert warm["non2xx"] == 0, warm
        results = {
            "ping (framework floor)": wrk(
                ["/api/v1/ping"], token, seconds=args.seconds, connections=args.connections
            ),
            "match": wrk(texts, token, seconds=args.seconds, connections=args.connections),
            "locate (GET, one point)": wrk(
                locate_paths, token, seconds=args.seconds, connections=args.connections
            ),
            "naive GeoDjango locate": wrk(
                naive_paths, token, seconds=args.seconds, connections=args.connections
            ),
        }
        memory = worker_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait()

    print(
        f"\n{countries} countries; gunicorn --workers {args.workers}; wrk -t2 -c{args.connections} -d{args.seconds}s on 127.0.0.1"
    )
    print(f"{'endpoint':<26}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for label, r in results.items():
        print(f"{label:<26}{r['rps']:>10,.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['non2xx']:>9}")
    floor = results["ping (framework floor)"]["rps"]
    naive = results["naive GeoDjango locate"]["rps"]
    print(f"match / ping  = {results['match']['rps'] / floor:.2f}  (goal >= 0.70)")
    print(
        f"locate / ping = {results['locate (GET, one point)']['rps'] / floor:.2f}  (goal >= 0.70)"
    )
    print(
        f"locate / naive GeoDjango locate = {results['locate (GET, one point)']['rps'] / naive:.1f}x  (goal >= 10x)"
    )
    print(
        f"worker RSS after warm-up: {', '.join(f'{m:.0f} MB' for m in memory)}  (goal < 500 MB each)"
    )

    in_process_figures(names, points, rng)


def in_process_figures(
    names: list[tuple[str, int]], points: list[tuple[float, float]], rng: random.Random
) -> None:
    """Name matches/s, batch points/s and single-point locate vs the naive ORM query, one core."""
    import numpy as np

    from geo.lookup.hierarchy import Hierarchy
    from geo.lookup.matching import Scope, match_text
    from geo.lookup.points import PointIndex
    from geo.models import Boundary

    hierarchy = Hierarchy.from_database()
    phrases = [(name, level) for name, level in rng.sample(names, 2000)]
    started = time.perf_counter()
    for name, level in phrases:
        match_text(hierarchy, f"I live in {name}", scope=Scope(level=level))
    per_second = len(phrases) / (time.perf_counter() - started)
    print(f"in-process: {per_second:,.0f} name matches/s (sentences, fuzzy on)")
    index = PointIndex.from_database()
    lons = np.array([rng.uniform(-180, 180) for _ in range(200_000)])
    lats = np.degrees(np.arcsin(np.array([rng.uniform(-1, 1) for _ in range(200_000)])))
    sample_lons, sample_lats = (
        np.array([p[0] for p in points] * 50),
        np.array([p[1] for p in points] * 50),
    )
    lons[:100_000], lats[:100_000] = sample_lons[:100_000], sample_lats[:100_000]
    index.locate_pairs(lons, lats)  # first pass builds GEOS's lazy prepared indexes
    for label, fn in (
        ("(point, id) pairs", index.locate_pairs),
        ("lists per point", index.locate_many),
    ):
        started = time.perf_counter()
        fn(lons, lats)
        rate = len(lons) / (time.perf_counter() - started)
        print(
            f"in-process: {rate:,.0f} points/s batch locate, {label}; half in country boxes (goal 500,000)"
        )
    # The core of each locate without HTTP: one point at a time, ours vs the naive ORM query.
    from django.contrib.gis.geos import Point

    sample = points[:1000]
    started = time.perf_counter()
    for lon, lat in sample:
        index.locate(lon, lat)
    ours = len(sample) / (time.perf_counter() - started)
    started = time.perf_counter()
    for lon, lat in sample[:300]:
        list(
            Boundary.objects.filter(geometry__contains=Point(lon, lat, srid=4326)).values_list(
                "osm_id", flat=True
            )
        )
    naive_core = 300 / (time.perf_counter() - started)
    print(
        f"in-process single points: ours {ours:,.0f}/s vs naive ORM contains {naive_core:,.0f}/s = {ours / naive_core:.0f}x"
    )
    print(
        f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
