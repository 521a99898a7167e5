"""The production server configuration, run for real: gunicorn workers on the sample country.

Each test gets a throwaway database of its own (created here, dropped after),
so the server sees committed data and a test can take the database away.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings

from tests.conftest import ROOT

SAMPLE = ROOT / "fixtures" / "sample"
LOCATE = "/api/v1/locate?lat=-2.5&lng=4"
MATCH = "/api/v1/match?text=I+live+in+riverside&level=2"


@dataclass
class Site:
    env: dict[str, str]
    token: str
    database: str


def admin_sql(sql: str) -> None:
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql)


def manage(site_env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", *args],
        cwd=ROOT, env=site_env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp_path = tmp_path_factory.mktemp("site")
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_gunicorn_{uuid.uuid4().hex[:8]}"
    admin_sql(f'CREATE DATABASE "{name}"')
    try:
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=f"postgis://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{name}",
            MIPAKA_SHARED_INDEX="1",
            MIPAKA_INDEX_DIR=str(tmp_path / "index"),
            # Plain HTTP on 127.0.0.1, as the test settings (no TLS proxy in front).
            SECURE_SSL_REDIRECT="false",
        )
        manage(env, "migrate", "--no-input", "-v", "0")
        manage(env, "import_geojson", str(SAMPLE))
        token = manage(env, "create_workspace", "probe").strip().splitlines()[-1]
        yield Site(env, token, name)
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def get(url: str, token: str = "") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def serve(site: Site) -> Iterator[Callable[[int], str]]:
    servers: list[subprocess.Popen[bytes]] = []

    def start(workers: int) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        servers.append(
            subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/gunicorn"),
                    "-c",
                    "config/gunicorn.conf.py",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(workers),
                ],
                cwd=ROOT,
                env=site.env,
            )
        )
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if get(f"{url}/ready")[0] == 200:
                    return url
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("gunicorn never became ready")

    yield start
    for server in servers:
        server.terminate()
        server.wait()


def paths(body: dict[str, Any]) -> list[str]:
    return [r["path"] for r in body["results"]]


def ready_version(url: str) -> int:
    status, body = get(f"{url}/ready")
    assert status == 200, body
    return int(body["index_version"])


def test_workers_answer_at_once_and_swap_to_a_new_import(
    site: Site, serve: Callable[[int], str], tmp_path: Path
) -> None:
    """Two workers: ready with the index, right answers first time, swap after an import with no error."""
    url = serve(2)
    version = ready_version(url)
    assert get(f"{url}/health") == (200, {"status": "ok"})
    status, body = get(url + LOCATE, site.token)
    assert status == 200
    assert paths(body)[0] == "Mipakaland"
    status, body = get(url + MATCH, site.token)
    assert status == 200
    assert {p.rsplit(" > ", 1)[-1] for p in paths(body)} == {"Riverside"}

    failures: list[tuple[int, object]] = []
    answered = [0]
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            for path in (LOCATE, MATCH):
                status, body = get(url + path, site.token)
                answered[0] += 1
                if status != 200 or not body["results"]:
                    failures.append((status, body))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        renamed = tmp_path / "renamed"
        shutil.copytree(SAMPLE, renamed)
        for path in renamed.glob("admin_level_0*.json"):
            path.write_text(path.read_text().replace('"Mipakaland"', '"Mipakaland Renamed"'))
        manage(site.env, "import_geojson", str(renamed))
        # Both workers swapped: /ready (either worker) shows the new version 30 times in a row.
        streak = 0
        for _ in range(3000):
            streak = streak + 1 if ready_version(url) > version else 0
            if streak == 30:
                break
            time.sleep(0.02)
        assert streak == 30
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert answered[0] > 0
    assert paths(get(url + LOCATE, site.token)[1])[0] == "Mipakaland Renamed"


def test_lookups_go_on_without_the_database(site: Site, serve: Callable[[int], str]) -> None:
    """The database refuses connections: match and locate still answer, /ready stays 200."""
    url = serve(1)
    before = (get(url + LOCATE, site.token), get(url + MATCH, site.token))
    admin_sql(f'ALTER DATABASE "{site.database}" ALLOW_CONNECTIONS false')
    admin_sql(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{site.database}'"
    )
    try:
        # Until the worker has found out (its next version check, within 2 s).
        for _ in range(500):
            if get(f"{url}/ready")[1]["database"] == "unreachable":
                break
            time.sleep(0.02)
        status, body = get(f"{url}/ready")
        assert (status, body["database"]) == (200, "unreachable")
        time.sleep(2.5)  # past the token cache: the token check meets the closed database too
        assert (get(url + LOCATE, site.token), get(url + MATCH, site.token)) == before
        assert get(f"{url}/ready")[0] == 200
    finally:
        admin_sql(f'ALTER DATABASE "{site.database}" ALLOW_CONNECTIONS true')
    for _ in range(500):
        if get(f"{url}/ready")[1]["database"] == "reachable":
            break
        time.sleep(0.02)
    assert get(f"{url}/ready")[1]["database"] == "reachable"
