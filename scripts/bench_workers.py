"""Benchmark web workers with the world loaded: memory, start-up, p99 during a re-import.

    .venv/bin/python scripts/bench_workers.py [--seconds 15] [--connections 8] [--skip-baseline]

Uses the database of DATABASE_URL; imports every country of POSM_EXTRACTS_DIR
first unless they are all there (``manage.py import_geojson``, a minute or
two). In one run, with the same database and machine, it compares:

- **before**: the code this branch started from (``git merge-base HEAD main``,
  unpacked with ``git archive`` into a temporary folder): a per-process
  index, loaded by the first request that needs it;
- **after**: this tree with ``config/gunicorn.conf.py``: index files built once
  per import and mapped by every worker, loaded before a worker takes traffic,
  swapped in the background after an import.

Figures: memory of gunicorn (master + workers; sum of PSS from
``/proc/PID/smaps_rollup``, and of RSS) with 1, 2 and 4 workers after every
worker answered locate and match; time from a worker's start (its
predecessor killed with SIGKILL) to its first answer; and p99 of match/locate
from wrk (a second process) steady and during a world re-import that changes
one country's name (so the import bumps the version and workers swap).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from scripts.bench_api import wrk_figures, wrk_lua

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
POSM = Path(os.environ.get("POSM_EXTRACTS_DIR", ROOT.parent / "shared/data/posm-extracts/geojson"))
PYTHON = str(ROOT / ".venv/bin/python")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, token: str = "", timeout: float = 30) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Token {token}"} if token else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Server:
    """A gunicorn of either code tree, on a free port."""

    def __init__(self, tree: Path, *, workers: int, after: bool, index_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="config.settings",
            PYTHONPATH=str(tree),
            MIPAKA_INDEX_DIR=str(index_dir),
            LOG_LEVEL="WARNING",
        )
        env.pop("REDIS_URL", None)
        if after:
            command = [
                str(ROOT / ".venv/bin/gunicorn"),
                "-c",
                str(tree / "config/gunicorn.conf.py"),
            ]
        else:
            command = [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--preload"]
        command += [
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "warning",
        ]
        if (
            "--no-control-socket"
            in subprocess.run(
                [command[0], "--help"], capture_output=True, text=True, check=False
            ).stdout
        ):
            command.append("--no-control-socket")
        self.started = time.monotonic()
        self.process = subprocess.Popen(command, cwd=tree, env=env)
        for _ in range(600):
            try:
                get(f"{self.url}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)

    def workers(self) -> list[int]:
        pid = self.process.pid
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def memory_mb(self) -> tuple[float, float]:
        """Sum of PSS and of RSS over master and workers, in MB."""
        pss = rss = 0
        for pid in [self.process.pid, *self.workers()]:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            pss += int(re.search(r"^Pss:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
            rss += int(re.search(r"^Rss:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
        return pss / 1024, rss / 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def wrk(url: str, paths: list[str], token: str, *, seconds: float, connections: int,
        stop: threading.Event | None = None) -> dict[str, float]:  # fmt: skip
    """Run wrk over rotating paths; with ``stop``, until it is set (SIGINT prints the summary)."""
    lua = wrk_lua(paths, token)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    duration = 3600 if stop else seconds
    process = subprocess.Popen(
        ["wrk", "-t2", f"-c{connections}", f"-d{int(duration)}s", "--latency", "-s", script.name, url],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    if stop is not None:
        stop.wait()
        process.send_signal(signal.SIGINT)
    out, _ = process.communicate()
    os.unlink(script.name)

    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        **wrk_figures(out),
        "socket_errors": socket_errors.group(1) if socket_errors else "none",  # type: ignore[dict-item]
    }


def ensure_world() -> int:
    from geo.models import Boundary

    expected = len({p.name.split("admin")[0] for p in POSM.glob("R*admin0*.json")})
    countries = Boundary.objects.filter(level=0).count()
    if countries < expected:
        print(f"importing the world ({expected} countries) from {POSM} ...", flush=True)
        started = time.monotonic()
        subprocess.run([PYTHON, "manage.py", "import_geojson", str(POSM)], cwd=ROOT, check=True)
        print(f"  imported in {time.monotonic() - started:.0f} s", flush=True)
        countries = Boundary.objects.filter(level=0).count()
    return countries


def request_paths() -> tuple[list[str], list[str]]:
    from geo.models import Boundary

    rng = random.Random(20261130)
    names = list(Boundary.objects.filter(level__in=[1, 2]).values_list("name", "level"))
    match = []
    for name, level in rng.sample(names, 300):
        phrase = name if rng.random() < 0.5 else f"I live in {name.lower()}"
        match.append(f"/api/v1/match?level={level}&text={urllib.parse.quote(phrase)}")
    boxes: list[tuple[float, float, float, float]] = list(
        Boundary.objects.filter(level=0, bbox_west__isnull=False).values_list(  # type: ignore[arg-type]
            "bbox_west", "bbox_south", "bbox_east", "bbox_north"
        )
    )
    locate = []
    for n in range(1500):
        if n % 3 == 0:
            lon, lat = rng.uniform(-180, 180), rng.uniform(-60, 75)
        else:
            west, south, east, north = rng.choice(boxes)
            east = east + 360 if east < west else east
            lon = rng.uniform(west, east)
            lon, lat = (lon - 360 if lon > 180 else lon), rng.uniform(south, north)
        locate.append(f"/api/v1/locate?lat={lat:.6f}&lng={lon:.6f}")
    return match, locate


def baseline_tree(workdir: Path) -> Path:
    base = subprocess.run(
        ["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = workdir / "baseline"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "archive", base], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    print(f"baseline: {base[:10]} (git merge-base HEAD main) in {tree}", flush=True)
    return tree


def warm(server: Server, paths: list[str], token: str, workers: int) -> None:
    """Load until every worker's memory stops growing (the baseline loads on first use)."""
    sizes = [0.0] * workers
    for _ in range(8):
        wrk(server.url, paths, token, seconds=4, connections=max(4, workers * 3))
        now = [_rss_mb(pid) for pid in server.workers()]
        if len(now) == len(sizes) and all(n < s * 1.05 for n, s in zip(now, sizes, strict=True)):
            return
        sizes = now


def _rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]


def first_answer_seconds(server: Server, path: str, token: str) -> float:
    """SIGKILL the only worker; time until its replacement answers a locate."""
    (worker,) = server.workers()
    started = time.monotonic()
    os.kill(worker, signal.SIGKILL)
    while True:
        try:
            status, _ = get(server.url + path, token, timeout=60)
            if status == 200 and server.workers() != [worker]:
                return time.monotonic() - started
        except OSError:
            time.sleep(0.01)


def changed_world(workdir: Path, run: int) -> Path:
    """The posm folder with one small country renamed: a re-import that bumps the version."""
    folder = workdir / f"world-{run}"
    folder.mkdir()
    # The smallest country file with a feature in it (some files are empty).
    smallest = next(
        p
        for p in sorted(POSM.glob("R*admin0.json"), key=lambda p: p.stat().st_size)
        if json.loads(p.read_text() or "{}").get("features")
    )
    for path in POSM.iterdir():
        if path != smallest:
            (folder / path.name).symlink_to(path)
    data = json.loads(smallest.read_text())
    for feature in data["features"]:
        # name_en too: the importer keeps the English name where there is one.
        for key in ("name", "name_en"):
            if feature["properties"].get(key):
                feature["properties"][key] = f"{feature['properties'][key]} bench {run}"
    (folder / smallest.name).write_text(json.dumps(data))
    return folder


def during_reimport(server: Server, paths: list[str], token: str, *, workdir: Path, run: int,
                    connections: int) -> tuple[dict[str, float], float, int | None, int | None]:  # fmt: skip
    """p99 while a world re-import runs and the workers swap; returns figures, import s, versions."""
    before = ready_version(server)
    stop = threading.Event()
    result: dict[str, dict[str, float]] = {}
    thread = threading.Thread(
        target=lambda: result.update(load=wrk(server.url, paths, token, seconds=0, connections=connections, stop=stop))
    )  # fmt: skip
    thread.start()
    time.sleep(2)
    started = time.monotonic()
    subprocess.run(
        [PYTHON, "manage.py", "import_geojson", str(changed_world(workdir, run))],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    import_seconds = time.monotonic() - started
    after = before
    # Every worker swapped: /ready (any worker) shows the new version 20 times in a row.
    deadline = time.monotonic() + 300
    streak = 0
    while before is not None and streak < 20 and time.monotonic() < deadline:
        version = ready_version(server)
        streak = streak + 1 if version != before else 0
        after = version
        time.sleep(0.05)
    # The baseline has no /ready: its workers reload on the next requests, within seconds.
    time.sleep(2 if before is not None else 10)
    stop.set()
    thread.join()
    return result["load"], import_seconds, before, after


def ready_version(server: Server) -> int | None:
    """The index version /ready reports (None: the baseline, which has no /ready)."""
    status, body = get(server.url + "/ready")
    return None if status == 404 else json.loads(body).get("index_version", -1)


def measure(tree: Path, label: str, *, after: bool, args: argparse.Namespace, token: str,
            paths: list[str], workdir: Path, run: int) -> dict[str, Any]:  # fmt: skip
    index_dir = workdir / f"index-{label}"
    figures: dict[str, Any] = {}
    for workers in (1, 2, 4):
        server = Server(tree, workers=workers, after=after, index_dir=index_dir)
        try:
            if after:
                while get(server.url + "/ready")[0] != 200:
                    time.sleep(0.1)
            cold = time.monotonic() - server.started
            get(server.url + paths[-1], token)
            cold_answer = time.monotonic() - server.started
            warm(server, paths, token, workers)
            figures[f"memory {workers}"] = server.memory_mb()
            print(f"  {label} {workers} worker(s): PSS {figures[f'memory {workers}'][0]:.0f} MB, RSS {figures[f'memory {workers}'][1]:.0f} MB"
                  f" (start to first answer {cold_answer:.1f} s{', ready ' + format(cold, '.1f') + ' s' if after else ''})", flush=True)  # fmt: skip
            if workers == 1:
                figures["cold start s"] = cold_answer
                figures["worker restart s"] = sorted(
                    first_answer_seconds(server, paths[i], token) for i in range(3)
                )[1]
                print(
                    f"  {label}: new worker to first answer {figures['worker restart s']:.2f} s (median of 3)",
                    flush=True,
                )
            if workers == 2:
                figures["steady"] = wrk(
                    server.url, paths, token, seconds=args.seconds, connections=args.connections
                )
                print(f"  {label} steady: {figures['steady']}", flush=True)
                load, seconds, v0, v1 = during_reimport(
                    server, paths, token, workdir=workdir, run=run, connections=args.connections
                )
                figures["reimport"] = load
                print(
                    f"  {label} during re-import ({seconds:.0f} s, version {v0} -> {v1}): {load}",
                    flush=True,
                )
        finally:
            server.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from geo.workspaces import create_workspace

    countries = ensure_world()
    _, token = create_workspace(name=f"bench-workers-{time.time_ns()}")
    match, locate = request_paths()
    paths = [p for pair in zip(locate, match * 5, strict=False) for p in pair]
    workdir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        runs = [("after", ROOT, True)]
        if not args.skip_baseline:
            runs.insert(0, ("before", baseline_tree(workdir), False))
        for run, (label, tree, after) in enumerate(runs, start=int(time.time())):
            print(f"{label}:", flush=True)
            results[label] = measure(tree, label, after=after, args=args, token=token, paths=paths,
                                     workdir=workdir, run=run)  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        # Put the renamed country's name back.
        subprocess.run([PYTHON, "manage.py", "import_geojson", str(POSM)], cwd=ROOT,
                       check=False, stdout=subprocess.DEVNULL)  # fmt: skip
    report(results, countries, args)


def report(results: dict[str, dict[str, Any]], countries: int, args: argparse.Namespace) -> None:
    print(
        f"\n{countries} countries; wrk -t2 -c{args.connections}, match+locate mixed, from a second process"
    )
    print(f"{'':<34}" + "".join(f"{label:>14}" for label in results))
    for workers in (1, 2, 4):
        row = [results[label][f"memory {workers}"] for label in results]
        print(
            f"{'PSS sum, ' + str(workers) + ' worker(s) MB':<34}"
            + "".join(f"{m[0]:>14.0f}" for m in row)
        )
        print(
            f"{'RSS sum, ' + str(workers) + ' worker(s) MB':<34}"
            + "".join(f"{m[1]:>14.0f}" for m in row)
        )
    for label, figures in results.items():
        one, four = figures["memory 1"][0], figures["memory 4"][0]
        print(
            f"{label}: each worker beyond the first adds {(four - one) / 3:.0f} MB PSS (goal < 60)"
        )
    for key, unit in (("cold start s", "s"), ("worker restart s", "s")):
        print(f"{key:<34}" + "".join(f"{results[label][key]:>13.2f}{unit}" for label in results))
    for label, figures in results.items():
        steady, load = figures["steady"], figures["reimport"]
        print(
            f"{label}: p99 steady {steady['p99']:.1f} ms, during re-import {load['p99']:.1f} ms"
            f" = {load['p99'] / steady['p99']:.2f}x (goal <= 2x); p50 {steady['p50']:.1f} / {load['p50']:.1f} ms;"
            f" non-2xx {steady['non2xx']} / {load['non2xx']}, socket errors {load['socket_errors']}"
        )
    if "before" in results:
        before, after = results["before"], results["after"]
        print(
            f"memory with 4 workers, after / before = {after['memory 4'][0] / before['memory 4'][0]:.2f} (PSS)"
        )
        print(
            f"new worker to first answer, before / after = {before['worker restart s'] / after['worker restart s']:.1f}x"
        )


if __name__ == "__main__":
    main()
