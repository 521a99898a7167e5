"""Kill a node of the running cluster under lookup load; nothing a client sees may break.

Goals (issue 12): 0 failed and 0 wrong lookups, 0 HTTP 500, 0 lost
acknowledged writes, failover within 30 s, the import finishes once.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.drills.conftest import (
    ROOT,
    SECONDS,
    Cluster,
    Load,
    cluster,
    node_with_role,
    roles,
)

pytestmark = pytest.mark.drill

FAILOVER_LIMIT_S = 30


def assert_clean(summary: dict[str, object]) -> None:
    statuses = summary["statuses"]
    assert isinstance(statuses, dict)
    assert "500" not in statuses, summary
    assert summary["failed"] == 0, summary
    assert summary["wrong"] == 0, summary


def test_kill_a_web_node(ha: Cluster, tmp_path: Path) -> None:
    """SIGKILL of a web node mid-load: HAProxy retries and redispatches; no lookup fails."""
    load = Load(ha, tmp_path / "load.json")
    load.at(SECONDS * 0.25)
    cluster("kill", "web1")
    load.at(SECONDS * 0.6)
    cluster("start", "web1")
    assert_clean(load.result())
    assert roles()["web1"] == ("web", "up")


class AliasWriter(threading.Thread):
    """PUTs an alias per boundary, round robin, and remembers the last acknowledged one."""

    def __init__(self, ha: Cluster, osm_ids: list[str]) -> None:
        super().__init__()
        self.ha = ha
        self.osm_ids = osm_ids
        self.stop = threading.Event()
        self.acked: dict[str, str] = {}
        self.sent: dict[str, list[str]] = {osm_id: [] for osm_id in osm_ids}
        self.statuses: dict[int, int] = {}
        self.ack_times: list[float] = []
        self.refused_times: list[float] = []

    def run(self) -> None:
        parts = urllib.parse.urlsplit(self.ha.url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        i = 0
        while not self.stop.is_set():
            osm_id = self.osm_ids[i % len(self.osm_ids)]
            name = f"drill alias {i}"
            i += 1
            self.sent[osm_id].append(name)
            body = json.dumps({"aliases": [name]})
            headers = {
                "Authorization": f"Token {self.ha.token}",
                "Content-Type": "application/json",
            }
            try:
                conn.request("PUT", f"/api/v1/boundaries/{osm_id}/aliases", body, headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(
                    parts.hostname or "127.0.0.1", parts.port, timeout=30
                )
                status = 0
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 200:
                self.acked[osm_id] = name
                self.ack_times.append(time.monotonic())
            else:
                self.refused_times.append(time.monotonic())
                time.sleep(0.1)


def osm_ids(ha: Cluster, level: int) -> list[str]:
    parts = urllib.parse.urlsplit(ha.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    conn.request(
        "GET", f"/api/v1/boundaries?level={level}", headers={"Authorization": f"Token {ha.token}"}
    )
    return [item["osm_id"] for item in json.loads(conn.getresponse().read())["results"]]


def stored_aliases(ha: Cluster) -> dict[str, list[str]]:
    import psycopg

    url = ha.env["DATABASE_URL"].replace("postgis://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT b.osm_id, a.name FROM geo_boundaryalias a JOIN geo_boundary b ON b.id = a.boundary_id "
            "JOIN geo_workspace w ON w.id = a.workspace_id WHERE w.name = 'drill'"
        ).fetchall()
    out: dict[str, list[str]] = {}
    for osm_id, name in rows:
        out.setdefault(osm_id, []).append(name)
    return out


def test_kill_the_database_primary_while_writing_aliases(ha: Cluster, tmp_path: Path) -> None:
    """SIGKILL of the primary (keeper and postgres): the standby takes over; no acknowledged write is lost."""
    primary = node_with_role("primary", ("db1", "db2"))
    writer = AliasWriter(ha, osm_ids(ha, 2))
    load = Load(ha, tmp_path / "load.json")
    writer.start()
    load.at(SECONDS * 0.25)
    killed_at = time.monotonic()
    cluster("kill", primary)
    load.at(SECONDS * 0.75)
    writer.stop.set()
    writer.join()
    summary = load.result()
    cluster("start", primary)  # rejoins as the standby
    # Failover: from the kill to the first acknowledged write after the last refused one.
    last_refused = max([killed_at, *writer.refused_times])
    after = [t for t in writer.ack_times if t > last_refused]
    failover_s = after[0] - killed_at if after else float("inf")
    stored = stored_aliases(ha)
    lost = []
    for osm_id, name in writer.acked.items():
        sent = writer.sent[osm_id]
        # What is stored must be the last acknowledged write or one sent after it.
        if not stored.get(osm_id) or sent.index(stored[osm_id][0]) < sent.index(name):
            lost.append((osm_id, name, stored.get(osm_id)))
    print(
        f"\nwrites: {writer.statuses} acknowledged={sum(1 for _ in writer.ack_times)} "
        f"lost={len(lost)} failover={failover_s:.1f}s new primary={node_with_role('primary', ('db1', 'db2'))}"
    )
    assert lost == []
    assert 500 not in writer.statuses
    assert set(writer.statuses) <= {200, 503}, writer.statuses
    assert failover_s < FAILOVER_LIMIT_S
    assert roles()[primary] == ("standby", "up")
    assert_clean(summary)


def test_kill_the_redis_master(ha: Cluster, tmp_path: Path) -> None:
    """SIGKILL of the Redis master: Sentinel promotes the replica; tiles and lookups never fail."""
    master = node_with_role("master", ("redis1", "redis2"))
    load = Load(ha, tmp_path / "load.json", tiles=True)
    load.at(SECONDS * 0.25)
    killed_at = time.monotonic()
    cluster("kill", master)
    while node_with_role_or_none("master", ("redis1", "redis2")) in (None, master):
        assert time.monotonic() - killed_at < FAILOVER_LIMIT_S, "no new Redis master"
        time.sleep(0.2)
    print(f"\nredis failover: {time.monotonic() - killed_at:.1f}s")
    load.at(SECONDS * 0.6)
    cluster("start", master)
    summary = load.result()
    assert_clean(summary)
    assert roles()[master][0] == "replica"


def node_with_role_or_none(role: str, among: tuple[str, ...]) -> str | None:
    try:
        return node_with_role(role, among)
    except StopIteration:
        return None


@pytest.mark.skipif(
    not (ROOT / "config" / "celery.py").exists(),
    reason="needs the import jobs (issue 11: config/celery.py, POST /api/v1/imports)",
)
def test_kill_the_worker_running_an_import(ha: Cluster, tmp_path: Path) -> None:
    """SIGKILL of the worker running an import job: it finishes once, on the other worker."""
    import psycopg

    token = cluster("manage", "create_operator", "drill-operator").strip().splitlines()[-1]
    parts = urllib.parse.urlsplit(ha.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    posm = ROOT.parent.parent / "shared" / "data" / "posm-extracts" / "geojson"
    load = Load(ha, tmp_path / "load.json")
    conn.request(
        "POST",
        "/api/v1/imports",
        json.dumps({"download": ["R192796"]})
        if not posm.exists()
        else json.dumps({"download": ["UG"]}),
        {"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    assert response.status == 202
    run_id = json.loads(response.read())["id"]
    url = ha.env["DATABASE_URL"].replace("postgis://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as db:
        while True:
            row = db.execute(
                "SELECT status, pid FROM geo_importrun WHERE id = %s", [run_id]
            ).fetchone()
            assert row is not None
            if row[0] == "running" and row[1]:
                break
            time.sleep(0.2)
        pid = row[1]
        victim = next(
            name
            for name in ("worker1", "worker2")
            if (ROOT / "var" / "cluster" / f"{name}.pid").exists()
            and str(pid) in cluster_group(name)
        )
        cluster("kill", victim)
        deadline = time.monotonic() + 600
        while True:
            status = db.execute(
                "SELECT status FROM geo_importrun WHERE id = %s", [run_id]
            ).fetchone()
            assert status is not None
            if status[0] in ("succeeded", "failed"):
                break
            assert time.monotonic() < deadline
            time.sleep(1)
    cluster("start", victim)
    assert status[0] == "succeeded"
    assert_clean(load.result())


def cluster_group(name: str) -> str:
    import subprocess

    pid = (ROOT / "var" / "cluster" / f"{name}.pid").read_text().strip()
    return subprocess.run(["pgrep", "-g", pid], capture_output=True, text=True, check=False).stdout
