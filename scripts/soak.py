"""Soak: mixed lookups for minutes, with an import every few minutes; errors and memory.

    .venv/bin/python scripts/soak.py [--minutes 10] [--import-every 120] [--rate 150]
        [--workers 2] [--countries 6]

Uses the database of DATABASE_URL (default: the local ``mipaka``). If it holds
no boundaries, the script first imports ``--countries`` countries from
``POSM_EXTRACTS_DIR``. It serves them with the project's production server
(``gunicorn -c config/gunicorn.conf.py``) and sends, from threads in this
process, a paced mix of ``match`` (exact names, names in sentences) and
``locate`` (a point inside a known boundary, and points in the sea) whose
right answers were read from PostGIS at the start. Every ``--import-every``
seconds one country (the "churn" country, kept out of the checked answers) is
imported again, alternately from its full and its ``_simplified`` files, so
every import really changes geometry and every worker swaps its index.

Printed: one line per interval (requests, errors, wrong answers, p50/p99, the
workers' memory), then a summary. Goals: 0 errors, 0 wrong answers, memory
flat (the workers' total PSS at the end within 10 % of its value after the
warm-up, the first import included). Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
POSM = Path(
    os.environ.get(
        "POSM_EXTRACTS_DIR", ROOT.parent / "shared" / "data" / "posm-extracts" / "geojson"
    )
)
RELATION = re.compile(r"^(R\d+)admin(\d)(_simplified)?\.json$")


@dataclass(frozen=True)
class Probe:
    """One request and how to tell its answer is right."""

    path: str
    expect: str | None  # an osm_id the answer must contain; None: must be empty


@dataclass
class Tally:
    """What the load threads saw in one interval."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def country_files() -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for path in sorted(POSM.iterdir()):
        found = RELATION.match(path.name)
        if found:
            files.setdefault(found.group(1), []).append(path)
    return files


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def pss_mb(master: int) -> float:
    """Proportional set size of the server's workers (pages they share are split among them)."""
    total = 0
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    for pid in children:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except FileNotFoundError:
            continue
        total += int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1))  # type: ignore[union-attr]
    return total / 1024


def build_probes(rng: random.Random, churn: str) -> list[Probe]:
    """Right answers read from PostGIS, for boundaries outside the churn country."""
    from django.db import connection

    probes: list[Probe] = []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT b.osm_id, ST_X(ST_PointOnSurface(b.geometry)), ST_Y(ST_PointOnSurface(b.geometry))
            FROM geo_boundary b JOIN geo_boundary c ON c.id = b.country_id
            WHERE b.level IN (1, 2) AND c.osm_id <> %s
            ORDER BY random() LIMIT 400
            """,
            [churn],
        )
        for osm_id, lng, lat in cursor.fetchall():
            probes.append(Probe(f"/api/v1/locate?lat={lat:.7f}&lng={lng:.7f}", osm_id))
        # Names unique at their level in their country: exact, and inside a sentence.
        cursor.execute(
            """
            SELECT min(b.osm_id), b.name, b.level, c.osm_id
            FROM geo_boundary b JOIN geo_boundary c ON c.id = b.country_id
            WHERE b.level IN (1, 2) AND c.osm_id <> %s AND length(b.name) >= 4
            GROUP BY b.name, b.level, c.osm_id HAVING count(*) = 1
            ORDER BY random() LIMIT 400
            """,
            [churn],
        )
        for osm_id, name, level, country in cursor.fetchall():
            text = name if rng.random() < 0.5 else f"I live in {name}"
            query = urllib.parse.urlencode({"text": text, "level": level, "country": country})
            probes.append(Probe(f"/api/v1/match?{query}", osm_id))
    # The open sea: nothing.
    probes += [Probe("/api/v1/locate?lat=-40.0&lng=-120.0", None)] * 20
    rng.shuffle(probes)
    return probes


def answer_ids(body: dict[str, object]) -> set[str]:
    results = body.get("results", [])
    assert isinstance(results, list)
    return {str(item["osm_id"]) for item in results if isinstance(item, dict)}


def load(base: str, token: str, probes: list[Probe], *, rate: float, stop: threading.Event,
         tally: list[Tally], lock: threading.Lock, threads: int = 4) -> list[threading.Thread]:  # fmt: skip
    """Start paced load threads; each appends to ``tally[-1]``, the current interval."""

    def run(offset: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        gap = threads / rate
        due = time.monotonic()
        i = offset
        while not stop.is_set():
            probe = probes[i % len(probes)]
            i += threads
            started = time.monotonic()
            problem = wrong = None
            try:
                response = session.get(base + probe.path, timeout=10)
                if response.status_code != 200:
                    problem = f"{response.status_code} {probe.path}"
                else:
                    found = answer_ids(response.json())
                    if (probe.expect is None and found) or (
                        probe.expect is not None and probe.expect not in found
                    ):
                        wrong = f"{probe.path} → {sorted(found)[:3]}, expected {probe.expect}"
            except (requests.RequestException, ValueError) as exc:
                problem = f"{type(exc).__name__} {probe.path}"
            elapsed = (time.monotonic() - started) * 1000
            with lock:
                current = tally[-1]
                current.latencies.append(elapsed)
                if problem:
                    current.errors.append(problem)
                if wrong:
                    current.wrong.append(wrong)
            due += gap
            pause = due - time.monotonic()
            if pause > 0:
                stop.wait(pause)
            else:
                due = time.monotonic()

    workers = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(threads)]
    for thread in workers:
        thread.start()
    return workers


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:  # noqa: PLR0912, PLR0915  (a script: one straight sequence)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--import-every", type=float, default=120.0, help="seconds")
    parser.add_argument("--interval", type=float, default=30.0, help="report every N seconds")
    parser.add_argument("--rate", type=float, default=150.0, help="requests per second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--countries", type=int, default=6)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()
    from geo.models import Boundary
    from geo.workspaces import create_workspace

    env = dict(os.environ)
    by_country = country_files()
    stored = set(Boundary.objects.filter(level=0).values_list("osm_id", flat=True))
    if not stored:
        chosen = sorted(by_country, key=lambda c: sum(p.stat().st_size for p in by_country[c]))
        chosen = chosen[len(chosen) // 2 : len(chosen) // 2 + args.countries]
        print(f"importing {len(chosen)} countries: {' '.join(chosen)}", flush=True)
        with tempfile.TemporaryDirectory() as staging:
            for country in chosen:
                for path in by_country[country]:
                    os.symlink(path, Path(staging) / path.name)
            result = manage("import_geojson", staging, env=env)
            if result.returncode:
                print(result.stderr, file=sys.stderr)
                return 2
        stored = set(chosen)
    # The churn country: the smallest stored one with both full and simplified files.
    candidates = [
        c for c in stored
        if any("_simplified" in p.name for p in by_country.get(c, []))
        and any("_simplified" not in p.name for p in by_country.get(c, []))
    ]  # fmt: skip
    if not candidates:
        print("no stored country has both full and _simplified files to alternate", file=sys.stderr)
        return 2
    churn = min(candidates, key=lambda c: sum(p.stat().st_size for p in by_country[c]))
    work = Path(tempfile.mkdtemp(prefix="mipaka-soak-"))
    # Two folders with one file per level: the full files, and the simplified
    # ones (each falling back to the other form where a level has only one),
    # all under the full file's name, so each import replaces the other's geometry.
    variants = []
    levels: dict[str, dict[bool, Path]] = {}
    for path in by_country[churn]:
        found = RELATION.match(path.name)
        assert found
        levels.setdefault(found.group(2), {})[bool(found.group(3))] = path
    for simplified in (False, True):
        folder = work / ("simplified" if simplified else "full")
        folder.mkdir()
        for level, forms in levels.items():
            source = forms.get(simplified) or forms[not simplified]
            shutil.copy(source, folder / f"{churn}admin{level}.json")
        variants.append(folder)

    rng = random.Random(20261130)
    probes = build_probes(rng, churn)
    _, token = create_workspace(name=f"soak-{time.time_ns()}")
    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", str(ROOT / "config" / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/ready", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.2)
    else:
        os.killpg(server.pid, signal.SIGKILL)
        print("server never became ready", file=sys.stderr)
        return 2

    print(
        f"soak: {args.minutes} min, {args.rate:.0f} req/s, {args.workers} workers, "
        f"{len(probes)} probes, churn country {churn} imported every {args.import_every:.0f} s",
        flush=True,
    )
    stop = threading.Event()
    lock = threading.Lock()
    tallies: list[Tally] = [Tally()]
    threads = load(base, token, probes, rate=args.rate, stop=stop, tally=tallies, lock=lock)
    imports: list[str] = []
    memory: list[tuple[float, float]] = []
    started = time.monotonic()
    end = started + args.minutes * 60
    next_import = started + min(args.import_every, 30.0)
    next_report = started + args.interval
    turn = 0
    print(
        f"{'t (s)':>6} {'requests':>9} {'errors':>7} {'wrong':>6} {'p50 ms':>7} {'p99 ms':>7} {'PSS MB':>8}"
    )
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_import:
            folder = variants[turn % 2]
            turn += 1
            t0 = time.monotonic()
            result = manage("import_geojson", str(folder), "--wait", env=env)
            outcome = "ok" if result.returncode == 0 else "FAILED " + result.stderr.strip()[-200:]
            imports.append(
                f"t={now - started:5.0f}s {folder.name:<10} {time.monotonic() - t0:5.1f}s {outcome}"
            )
            next_import = now + args.import_every
        if now >= next_report:
            with lock:
                done = tallies[-1]
                tallies.append(Tally())
            memory.append((now - started, pss_mb(server.pid)))
            print(
                f"{now - started:6.0f} {len(done.latencies):9d} {len(done.errors):7d} {len(done.wrong):6d} "
                f"{percentile(done.latencies, 0.5):7.1f} {percentile(done.latencies, 0.99):7.1f} {memory[-1][1]:8.0f}",
                flush=True,
            )
            next_report = now + args.interval
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)
    shutil.rmtree(work, ignore_errors=True)

    everything = Tally()
    for tally in tallies:
        everything.latencies += tally.latencies
        everything.errors += tally.errors
        everything.wrong += tally.wrong
    print("\nimports:")
    for line in imports:
        print("  " + line)
    # Warm-up: up to the first report after the first import.
    first_import_at = min(args.import_every, 30.0)
    after_warmup = [mb for t, mb in memory if t > first_import_at + args.interval]
    baseline = after_warmup[0] if after_warmup else float("nan")
    final = after_warmup[-1] if after_warmup else float("nan")
    growth = (final - baseline) / baseline if after_warmup else float("nan")
    print(
        f"\nrequests {len(everything.latencies)}, errors {len(everything.errors)}, "
        f"wrong {len(everything.wrong)}, p50 {percentile(everything.latencies, 0.5):.1f} ms, "
        f"p99 {percentile(everything.latencies, 0.99):.1f} ms, "
        f"imports {len(imports)} ({sum('FAILED' in line for line in imports)} failed)"
    )
    print(
        f"workers' PSS after warm-up {baseline:.0f} MB, at the end {final:.0f} MB "
        f"({growth:+.1%}), max {max((mb for _, mb in memory), default=float('nan')):.0f} MB"
    )
    for line in (everything.errors + everything.wrong)[:20]:
        print("  " + line)
    median_pss = statistics.median(mb for _, mb in memory) if memory else 0.0
    ok = (
        not everything.errors
        and not everything.wrong
        and not any("FAILED" in line for line in imports)
        and abs(growth) <= 0.10
    )
    print(f"median PSS {median_pss:.0f} MB; {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
