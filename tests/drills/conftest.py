"""Drills: the cluster from scripts/cluster, under load, with nodes killed by SIGKILL.

Deselected from the default run (pyproject's ``-m "not drill"``); run them with
``scripts/cluster drill`` or ``.venv/bin/pytest tests/drills -m drill``. They
bring the cluster up (idempotent), import the sample country, and leave the
cluster running for a look afterwards (``scripts/cluster down`` removes it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = str(ROOT / "scripts" / "cluster")
# Seconds of load per drill (the issue asks for about 60).
SECONDS = float(os.environ.get("MIPAKA_DRILL_SECONDS", "60"))
RATE = float(os.environ.get("MIPAKA_DRILL_RATE", "300"))


def cluster(*args: str, check: bool = True) -> str:
    result = subprocess.run([CLUSTER, *args], capture_output=True, text=True, check=False, cwd=ROOT)
    if check and result.returncode != 0:
        raise AssertionError(f"scripts/cluster {' '.join(args)}: {result.stderr[-2000:]}")
    return result.stdout


def roles() -> dict[str, tuple[str, str]]:
    out = {}
    for line in cluster("status").splitlines():
        name, role, state = line.split(" ", 2)
        out[name] = (role, state)
    return out


def node_with_role(role: str, among: tuple[str, ...]) -> str:
    current = roles()
    return next(name for name in among if current[name] == (role, "up"))


@dataclass
class Cluster:
    url: str
    env: dict[str, str]
    token: str


@pytest.fixture(scope="session")
def ha() -> Cluster:
    out = cluster("up")
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    cluster("manage", "import_geojson", "fixtures/sample")
    token = cluster("manage", "create_workspace", "drill", "--country", "R900000", "--exist-ok")
    ha = Cluster(url=env["MIPAKA_URL"], env=env, token=token.strip().splitlines()[-1])
    wait_until_served(ha)
    return ha


def query(ha: Cluster, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of a query on the cluster's primary."""
    import psycopg

    url = ha.env["DATABASE_URL"].replace("postgis://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def web_ports() -> dict[str, int]:
    ports = json.loads((ROOT / "var" / "cluster" / "ports.json").read_text())
    return {name: int(ports[name]) for name in ("web1", "web2")}


def served_versions() -> dict[str, int | None]:
    """The import each web node answers from (its /ready), None when it does not answer."""
    out: dict[str, int | None] = {}
    for name, port in web_ports().items():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as response:
                out[name] = json.loads(response.read())["index_version"]
        except (OSError, ValueError, KeyError):
            out[name] = None
    return out


def wait_until_served(ha: Cluster, *, timeout: float = 600) -> int:
    """Wait until every web node answers from the newest import; return its version."""
    (version,) = query(
        ha, "SELECT COALESCE(max(id), 0) FROM geo_importrun WHERE status = 'succeeded'"
    )[0]
    deadline = time.monotonic() + timeout
    while set(served_versions().values()) != {version}:
        assert time.monotonic() < deadline, f"web nodes serve {served_versions()}, not {version}"
        time.sleep(0.5)
    return int(version)


class Load:
    """A load-generator subprocess; ``result()`` waits for it and reads its summary."""

    def __init__(
        self,
        ha: Cluster,
        out: Path,
        *,
        tiles: bool = False,
        seconds: float = SECONDS,
        token: str = "",
        plan: Path | None = None,
        stop_file: Path | None = None,
    ) -> None:
        self.out = out
        self.seconds = seconds
        argv = [sys.executable, "-m", "tests.drills.load", "--url", ha.url]
        argv += ["--token", token or ha.token, "--seconds", str(seconds), "--rate", str(RATE)]
        argv += ["--out", str(out)]
        if tiles:
            argv.append("--tiles")
        if plan is not None:
            argv += ["--plan", str(plan)]
        if stop_file is not None:
            argv += ["--stop-file", str(stop_file)]
        self.proc = subprocess.Popen(argv, cwd=ROOT)
        self.started = time.monotonic()

    def at(self, seconds: float) -> None:
        """Sleep until ``seconds`` into the load."""
        time.sleep(max(0.0, self.started + seconds - time.monotonic()))

    def result(self) -> dict[str, object]:
        assert self.proc.wait(timeout=self.seconds + 120) == 0
        summary: dict[str, object] = json.loads(self.out.read_text())
        print(f"\nload: {json.dumps(summary)}")  # the figures for the closing note
        return summary
