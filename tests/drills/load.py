"""Lookup load through the load balancer for a drill; records every response.

Run as ``python -m tests.drills.load --url URL --token T --seconds 60 --rate 300 --out F``.
Each query's first answer (taken before the load starts, with the cluster
whole) is the expected one: later answers must be 200 with the same body.
Writes a JSON summary to ``--out``: counts by status, failed, wrong, the first
failures, the rate reached, and latency percentiles per endpoint (match,
locate). ``--plan FILE`` replaces the sample country's queries with a JSON
list of ``[method, path, body or null]``; ``--stop-file F`` ends the load
early once F exists.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
import urllib.parse
from collections import Counter
from typing import Any

TILE_PATHS = ["/tiles/0/0/0.mvt", "/tiles/1/1/1.mvt", "/tiles/2/2/2.mvt"]


def request(
    conn: http.client.HTTPConnection, method: str, path: str, token: str, body: bytes | None = None
) -> tuple[int, bytes]:
    headers = {"Authorization": f"Token {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def queries(url: str, token: str, *, tiles: bool) -> list[tuple[str, str, bytes | None]]:
    """Match every state and district name, locate a grid of points, optionally tiles."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    out: list[tuple[str, str, bytes | None]] = []
    for level in (1, 2):
        status, body = request(conn, "GET", f"/api/v1/boundaries?level={level}", token)
        assert status == 200, body
        for item in json.loads(body)["results"][:10]:
            text = urllib.parse.quote(f"I live in {item['name']}")
            out.append(("GET", f"/api/v1/match?text={text}&level={level}", None))
    for lat in (-4.0, -2.5, -1.0):
        for lng in (2.0, 4.0, 6.0):
            out.append(("GET", f"/api/v1/locate?lat={lat}&lng={lng}", None))
    out.append(("POST", "/api/v1/locate", json.dumps({"points": [[4, -2.5], [2, -1]]}).encode()))
    if tiles:
        out += [("GET", path, None) for path in TILE_PATHS]
    return out


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ``values`` (milliseconds), 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)


def latency_summary(latencies: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """p50 and p99 per endpoint, and for match and locate together."""
    groups = dict(latencies)
    groups["match+locate"] = [
        value for name in ("/api/v1/match", "/api/v1/locate") for value in latencies.get(name, [])
    ]
    return {
        name: {"n": len(values), "p50": percentile(values, 0.5), "p99": percentile(values, 0.99)}
        for name, values in groups.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--tiles", action="store_true")
    parser.add_argument("--out", required=True)
    parser.add_argument("--plan")
    parser.add_argument("--stop-file")
    args = parser.parse_args()
    parts = urllib.parse.urlsplit(args.url)
    if args.plan:
        with open(args.plan) as handle:
            plan = [
                (method, path, body.encode() if body is not None else None)
                for method, path, body in json.load(handle)
            ]
    else:
        plan = queries(args.url, args.token, tiles=args.tiles)
    expected: dict[tuple[str, str, bytes | None], tuple[int, bytes]] = {}
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    for query in plan:
        expected[query] = request(conn, *query[:2], args.token, query[2])
        assert expected[query][0] == 200, (query, expected[query])
    lock = threading.Lock()
    statuses: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    wrong: list[dict[str, Any]] = []
    latencies: dict[str, list[float]] = {}
    # Latencies per 5 s of load: where in a drill the slow answers were.
    windows: dict[int, list[float]] = {}
    started = time.monotonic()
    deadline = started + args.seconds
    interval = args.threads / args.rate

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        i = offset
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            if args.stop_file and i % 20 == 0 and os.path.exists(args.stop_file):
                break
            query = plan[i % len(plan)]
            i += 1
            at = time.monotonic() - started
            try:
                sent = time.perf_counter()
                status, body = request(conn, *query[:2], args.token, query[2])
                took_ms = (time.perf_counter() - sent) * 1000
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(
                    parts.hostname or "127.0.0.1", parts.port, timeout=30
                )
                with lock:
                    statuses["error"] += 1
                    failures.append({"at": round(at, 2), "path": query[1], "error": repr(exc)})
            else:
                with lock:
                    statuses[str(status)] += 1
                    latencies.setdefault(query[1].split("?")[0], []).append(took_ms)
                    windows.setdefault(int(at // 5) * 5, []).append(took_ms)
                    if status != 200:
                        failures.append({"at": round(at, 2), "path": query[1], "status": status})
                    elif body != expected[query][1]:
                        wrong.append({"at": round(at, 2), "path": query[1]})
            # Bounded: a late request is not made up for by a burst (the rate reached says so).
            next_at = max(next_at + interval, time.monotonic() - interval)
            time.sleep(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    summary = {
        "requests": total,
        "rate": round(total / elapsed, 1),
        "statuses": dict(statuses),
        "failed": len(failures),
        "wrong": len(wrong),
        "first_failures": failures[:10],
        "first_wrong": wrong[:10],
        "target_rate": args.rate,
        "seconds": round(elapsed, 1),
        "latency_ms": latency_summary(latencies),
        "p99_ms_per_5s": {str(at): percentile(windows[at], 0.99) for at in sorted(windows)},
    }
    with open(args.out, "w") as out:
        json.dump(summary, out, indent=1)


if __name__ == "__main__":
    main()
