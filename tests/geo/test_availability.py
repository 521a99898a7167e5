from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from geo.importing import import_geojson
from geo.metrics import FAILOVER_EVENTS
from geo.workspaces import create_workspace
from tests.builders import tiny_country
from tests.geo.api.conftest import ApiClient

pytestmark = pytest.mark.django_db(transaction=True)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def database_gone() -> Iterator[None]:
    """Point the connection at a port nothing listens on, as after the primary died."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["HOST"] = "127.0.0.1"
    connection.settings_dict["PORT"] = str(closed_port())
    connection.settings_dict["OPTIONS"] = {**saved["OPTIONS"], "connect_timeout": 1}
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def test_writes_answer_503_with_retry_after_when_no_database_answers(
    tmp_path: Path, database_gone: None
) -> None:
    """A write during a failover is a 503 with Retry-After and the JSON error body, never a 500."""
    client = ApiClient("any-token")
    before = FAILOVER_EVENTS._value.get()
    response = client.put("/api/v1/boundaries/R1/aliases", {"aliases": ["x"]})
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.json()["error"]["code"] == "unavailable"
    assert FAILOVER_EVENTS._value.get() == before + 1


def test_requests_work_again_once_the_database_is_back(tmp_path: Path) -> None:
    """After the outage the next request opens a fresh connection (the dead one is not reused)."""
    import_geojson([tiny_country(tmp_path)])
    _, token = create_workspace(name="w")
    client = ApiClient(token)
    saved_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(closed_port())
    try:
        assert client.put("/api/v1/boundaries/R1/aliases", {"aliases": ["x"]}).status_code == 503
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved_port
    assert client.get("/api/v1/boundaries/R1/aliases").status_code == 200


def test_lookups_answer_from_memory_when_the_database_goes_right_after_an_alias_edit(
    tmp_path: Path,
) -> None:
    """An alias edit makes the worker ask for its tokens again; a failover just then is no 503."""
    import_geojson([tiny_country(tmp_path)])
    _, token = create_workspace(name="w")
    client = ApiClient(token)
    assert client.get("/api/v1/match?text=alpha&level=2").status_code == 200
    assert client.get("/api/v1/locate?lat=0.5&lng=0.5").status_code == 200
    assert client.put("/api/v1/boundaries/R112/aliases", {"aliases": ["bravo"]}).status_code == 200
    saved_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(closed_port())
    try:
        match = client.get("/api/v1/match?text=alpha&level=2")
        locate = client.get("/api/v1/locate?lat=0.5&lng=0.5")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = saved_port
    assert (match.status_code, locate.status_code) == (200, 200)
    assert match.json()["results"][0]["osm_id"] == "R111"
