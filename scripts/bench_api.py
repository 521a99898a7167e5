"""Benchmark the lookup API as production runs it: gunicorn workers, wrk on loopback.

    .venv/bin/python scripts/bench_api.py [--workers 2] [--seconds 5] [--rounds 5]
        [--connections 16] [--compare main]

Uses the database of DATABASE_URL (default: the local ``mipaka``), which should
hold the 101 posm-extracts countries (``manage.py import_geojson DIR``). Three
servers run side by side, each gunicorn with the same workers:
- the floor: a bare one-view Django app (``scripts/bench/bare_settings.py``:
  no apps, no middleware, no database), its one JSON view, under stock
  gunicorn, and again under our server configuration's one write per answer
  (``scripts/bench/bare_gunicorn.conf.py``): ratios are printed against both;
- this tree, and with ``--compare REF`` the tree of a git ref (default main,
  exported with ``git archive``; ``--compare ''`` skips it), each with its
  production configuration (``config/gunicorn.conf.py``);
and wrk measures, in rounds that interleave the servers (the machine's load
drifts; each round's ratios are taken within the round, the median reported):
- ``/api/v1/ping``: a trivial authenticated JSON answer;
- ``/api/v1/match`` on 400 names and sentences drawn from the stored
  boundaries, sent again and again as a flow's replies are (matched once,
  then answered from the memo of answers);
- ``match-new``: ``/api/v1/match`` on texts never sent before (names in six
  ways of replying, in two cases): the matching itself on every request;
- ``/api/v1/locate`` (GET) on random points (half in a country's bbox, half anywhere);
the CPU time each answer took (the servers' workers and wrk, read from
``/proc`` and ``getrusage``), less swayed than requests/s by a shared
machine, with the ratios it predicts; then, on this tree only, the naive
GeoDjango locate (``geometry__contains`` per request) on the same points,
worker memory, and in-process figures: name matches/s and batch points/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
# The goal for match and locate, in requests/s of the bare one-view app's.
GOAL = 0.85
# The bare app under our server configuration (one write per answer).
BARE_ONE_WRITE = "bare Django 1w"
# Ways contacts reply, for match texts that are all different.
FRESH_TEMPLATES = ("{}", "I live in {}", "{} please", "from {}", "in {} town", "my home is {}")


def wrk_lua(paths: list[str], token: str) -> str:
    """A wrk script that sends ``paths`` in turn with the token, and prints its error count.

    Each of wrk's threads starts at its own share of the list, so with a list
    longer than a run sends, no path is sent twice.
    """
    return "\n".join(
        [
            "local paths = {" + ",".join(json.dumps(p) for p in paths) + "}",
            "local i = 0",
            "local threads = 0",
            "setup = function(thread) thread:set('offset', threads); threads = threads + 1 end",
            "init = function(args) i = math.floor(offset * #paths / 2) end",
            "request = function()",
            "  i = i % #paths + 1",
            f'  return wrk.format("GET", paths[i], {{["Authorization"] = "Token {token}"}})',
            "end",
            "done = function(summary, latency, requests)",
            '  io.write(string.format("errors %d %d\\n", summary.errors.status, summary.requests))',
            "end",
        ]
    )


def wrk(
    url_paths: list[str],
    token: str,
    *,
    port: int,
    seconds: int,
    connections: int,
    master: int | None = None,
) -> dict[str, float]:
    """Run wrk over a rotating list of paths; return requests/s and latency percentiles (ms).

    With ``master`` (the gunicorn master's pid), also the CPU time per request
    (µs) of its workers (``server_us``) and of wrk itself (``client_us``).
    """
    lua = wrk_lua(url_paths, token)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    server_before = server_cpu_seconds(master) if master else 0.0
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_after = server_cpu_seconds(master) if master else 0.0
    os.unlink(script.name)

    figures = wrk_figures(out)
    if master and figures["requests"] > 0:
        client = (client_after.ru_utime + client_after.ru_stime) - (
            client_before.ru_utime + client_before.ru_stime
        )
        figures["server_us"] = (server_after - server_before) / figures["requests"] * 1e6
        figures["client_us"] = client / figures["requests"] * 1e6
    return figures


def server_cpu_seconds(master: int) -> float:
    """CPU time (user + system) used so far by a gunicorn master's workers, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for child in workers(master):
        try:
            # Fields 14 and 15 (utime, stime), counted after the command's closing parenthesis.
            fields = Path(f"/proc/{child}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:  # a worker replaced meanwhile: its time is lost, not wrong
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def wrk_figures(out: str) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms), non-2xx answers and requests from wrk's output (-1: none)."""

    def latency(percent: str) -> float:
        value, unit = re.search(rf"\s{percent}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    found = re.search(r"errors (\d+) (\d+)", out)
    bad, total = (int(x) for x in found.groups()) if found else (-1, -1)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": latency("50"),
        "p99": latency("99"),
        "non2xx": bad,
        "requests": total,
    }


def workers(master: int) -> list[str]:
    """The pids of a gunicorn master's workers."""
    return Path(f"/proc/{master}/task/{master}/children").read_text().split()


def worker_rss_mb(master: int) -> list[float]:
    sizes = []
    for child in workers(master):
        status = Path(f"/proc/{child}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)  # type: ignore[union-attr]
    return sizes


@dataclass
class Server:
    """A gunicorn serving one tree with one settings module."""

    process: subprocess.Popen[bytes]
    port: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(tree: Path, settings_module: str, workers: int, *, one_write: bool = False) -> Server:
    """Start gunicorn for ``tree``; a tree's lookup index is built first, as in production.

    ``one_write``: the bare app under our gunicorn response class (a tree always has it).
    """
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=settings_module, PYTHONPATH=str(tree))
    bare = settings_module == "scripts.bench.bare_settings"
    if not bare:
        subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", "build_lookup_index"],
            cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    port = free_port()
    # The bare app gets Django's own WSGI handler; a tree, its production
    # configuration (config.wsgi, workers that load the index before they
    # take traffic and refresh it in the background), as scripts/run serves it.
    app = ["django.core.wsgi:get_wsgi_application()"] if bare else ["-c", "config/gunicorn.conf.py"]
    if bare and one_write:
        app += ["-c", "scripts/bench/bare_gunicorn.conf.py"]
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), *app, "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--preload"],
        cwd=tree, env=env,
    )  # fmt: skip
    return Server(process, port)


def wait_until_up(server: Server, token: str) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/api/v1/ping", headers={"Authorization": f"Token {token}"}
    )
    for _ in range(300):
        try:
            urllib.request.urlopen(request, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"server on port {server.port} did not start")


def main() -> None:  # noqa: PLR0912, PLR0915  (a script: one straight sequence of measurements)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=5)
    # On 2 shared cores one round's ratio moves by +-0.1 (the floor's own rate
    # moves by a tenth between rounds); the median of five is steadier than of three.
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--compare", default="main", help="git ref measured beside this tree ('' to skip)"
    )
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scripts.bench.settings")
    import django

    django.setup()
    import numpy as np

    from geo.models import Boundary
    from geo.workspaces import create_workspace
    from scripts.bench import export_tree

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
    # Replies never asked before: the matching itself on every request (the memo
    # of answers never hits). One disjoint list per round, longer than a round sends.
    fresh = [
        f"/api/v1/match?level={level}&text={urllib.parse.quote(template.format(cased))}"
        for name, level in names
        for template in FRESH_TEMPLATES
        for cased in (name, name.lower())
    ]
    rng.shuffle(fresh)
    fresh_per_round = len(fresh) // args.rounds
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

    trees = {"this tree": ROOT}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        if args.compare:
            trees[args.compare] = export_tree(args.compare, Path(scratch) / "ref")
        servers = {
            "bare Django": serve(ROOT, "scripts.bench.bare_settings", args.workers),
            BARE_ONE_WRITE: serve(
                ROOT, "scripts.bench.bare_settings", args.workers, one_write=True
            ),
        }
        for label, tree in trees.items():
            servers[label] = serve(tree, "scripts.bench.settings", args.workers)
        try:
            for server in servers.values():
                wait_until_up(server, token)
            for label in trees:
                # Warm every worker (hierarchy, point index) before measuring.
                warm = wrk(
                    locate_paths[:50] + texts[:50], token, port=servers[label].port,
                    seconds=3, connections=args.workers * 4,
                )  # fmt: skip
                assert warm["non2xx"] == 0, (label, warm)
            targets: list[tuple[str, str, Callable[[int], list[str]]]] = [
                ("bare Django", "one view", lambda _: ["/api/v1/ping"]),
                (BARE_ONE_WRITE, "one view", lambda _: ["/api/v1/ping"]),
            ]
            for label in trees:
                targets += [
                    (label, "ping", lambda _: ["/api/v1/ping"]),
                    (label, "match", lambda _: texts),
                    (label, "match-new", lambda n: fresh[n * fresh_per_round : (n + 1) * fresh_per_round]),
                    (label, "locate", lambda _: locate_paths),
                ]  # fmt: skip
            rounds: list[dict[tuple[str, str], dict[str, float]]] = []
            for n in range(args.rounds):
                print(f"round {n + 1}/{args.rounds}", file=sys.stderr)
                rounds.append(
                    {
                        (label, what): wrk(
                            paths(n), token, port=servers[label].port,
                            seconds=args.seconds, connections=args.connections,
                            master=servers[label].process.pid,
                        )
                        for label, what, paths in targets
                    }
                )  # fmt: skip
            naive = wrk(
                naive_paths, token, port=servers["this tree"].port,
                seconds=args.seconds, connections=args.connections,
            )  # fmt: skip
            memory = worker_rss_mb(servers["this tree"].process.pid)
        finally:
            for server in servers.values():
                server.process.terminate()
                server.process.wait()

    print(
        f"\n{countries} countries; gunicorn --workers {args.workers} each; wrk -t2"
        f" -c{args.connections} -d{args.seconds}s on 127.0.0.1; {args.rounds} rounds, medians"
    )
    print(f"{'server':<20}{'endpoint':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}"
          f"{'x bare':>8}{'x bare 1w':>10}")  # fmt: skip

    def ratios(label: str, what: str, floor: str) -> list[float]:
        return [r[(label, what)]["rps"] / r[(floor, "one view")]["rps"] for r in rounds]

    for label, what, _ in targets:
        runs = [r[(label, what)] for r in rounds]
        print(
            f"{label:<20}{what:<10}{median([r['rps'] for r in runs]):>10,.0f}"
            f"{median([r['p50'] for r in runs]):>9.2f}{median([r['p99'] for r in runs]):>9.2f}"
            f"{sum(int(r['non2xx']) for r in runs):>9}"
            f"{median(ratios(label, what, 'bare Django')):>8.2f}"
            f"{median(ratios(label, what, BARE_ONE_WRITE)):>10.2f}"
        )  # fmt: skip
    for label in trees:
        for what in ("match", "match-new", "locate"):
            for floor in ("bare Django", BARE_ONE_WRITE):
                each = ratios(label, what, floor)
                print(
                    f"{label}: {what} / {floor} = {median(each):.2f}"
                    f" (rounds {min(each):.2f}-{max(each):.2f}; goal >= {GOAL})"
                )
    cpu_per_request(rounds, targets, list(trees))
    ours = median([r[("this tree", "locate")]["rps"] for r in rounds])
    print(f"this tree: locate / naive GeoDjango locate = {ours / naive['rps']:.1f}x  (goal >= 10x)")
    print(
        f"worker RSS after warm-up: {', '.join(f'{m:.0f} MB' for m in memory)}  (goal < 500 MB each)"
    )

    in_process_figures(names, points, rng)


def cpu_per_request(
    rounds: list[dict[tuple[str, str], dict[str, float]]],
    targets: list[tuple[str, str, Callable[[int], list[str]]]],
    labels: list[str],
) -> None:
    """Print the CPU time each answer took, server and wrk, and the ratios it predicts.

    Requests/s on two shared cores move with whatever else the machine runs
    (a round's ratio by +-0.1); CPU time per answer moves less (+-7 % seen). With the
    cores saturated, requests/s is the cores' time over the CPU time per
    answer (server + client): the floor's CPU per answer over ours predicts
    the ratio of requests/s, and the server's alone is the stricter figure.
    """

    def cpu(label: str, what: str, part: str) -> float:
        return median([r[(label, what)][part] for r in rounds])

    print(f"\nCPU time per answer, median of rounds (µs; client = wrk){'':<6}"
          f"{'x bare':>8}{'x bare 1w':>10}  (server only: x bare, x bare 1w)")  # fmt: skip
    floors = {
        floor: (cpu(floor, "one view", "server_us"), cpu(floor, "one view", "client_us"))
        for floor in ("bare Django", BARE_ONE_WRITE)
    }
    for label, what, _ in targets:
        server, client = cpu(label, what, "server_us"), cpu(label, what, "client_us")
        both = [sum(floors[f]) / (server + client) for f in floors]
        alone = [floors[f][0] / server for f in floors]
        print(
            f"{label:<20}{what:<10} server {server:6.0f} client {client:5.0f}"
            f"{both[0]:>8.2f}{both[1]:>10.2f}  ({alone[0]:.2f}, {alone[1]:.2f})"
        )
    for label in labels:
        for what in ("match", "match-new", "locate"):
            server, client = cpu(label, what, "server_us"), cpu(label, what, "client_us")
            predicted = min(sum(floors[f]) / (server + client) for f in floors)
            print(
                f"{label}: {what}, requests/s predicted by CPU per answer = {predicted:.2f}"
                f" of the lower floor (goal >= {GOAL})"
            )


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
