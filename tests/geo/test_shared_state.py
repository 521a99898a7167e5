"""Shared values pushed to every process: no Redis round trip per request, nothing missed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from geo import shared_state as shared_state_module
from geo.shared_state import SharedState, redis_client, shared_state
from geo.workspaces import AUTH_VERSION_KEY
from tests.geo.web.conftest import SampleSite

pytestmark = pytest.mark.django_db


@pytest.fixture
def other() -> Iterator[SharedState]:
    """Another worker's mirror: its own subscription to the same Redis."""
    state = SharedState()
    state.watch("colour", default=lambda: "grey")
    yield state
    state.close()


def redis_commands(during: Any) -> list[str]:
    """Run ``during()``; return the commands Redis received meanwhile on the test's database.

    Read with MONITOR from Redis itself: what the processes really sent.
    """
    url = str(settings.CACHES["default"]["LOCATION"])
    location = redis.Redis.from_url(url)
    db = location.connection_pool.connection_kwargs.get("db", 0)
    stopper = redis.Redis.from_url(url)
    stopper.ping()  # connected (and its database selected) before MONITOR starts
    seen: list[str] = []
    monitor_ready = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        with location.monitor() as monitor:
            monitor_ready.set()
            for command in monitor.listen():
                if stop.is_set() and "stop-monitor" in command["command"]:
                    return
                if command["db"] == db:
                    seen.append(command["command"])

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert monitor_ready.wait(5)
    time.sleep(0.1)  # MONITOR is on once Redis has answered it
    during()
    stop.set()
    stopper.echo("stop-monitor")
    thread.join(5)
    return [c for c in seen if "stop-monitor" not in c]


def test_a_change_reaches_another_process_on_its_next_call(other: SharedState) -> None:
    assert other.value("colour") == "grey"
    writer = SharedState()
    writer.set("colour", "blue")
    # No sleep: the change returns once its notice is on the other's socket.
    assert other.value("colour") == "blue"
    writer.add("limited:1", "client-a", timeout=60)
    assert other.contains("limited:1", "client-a") is True
    assert other.contains("limited:1", "client-b") is False
    writer.add("limited:1", "client-b", timeout=60)
    assert other.contains("limited:1", "client-b") is True


def test_reading_a_mirrored_value_costs_no_round_trip(
    other: SharedState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_state_module, "VERIFY_SECONDS", 3600.0)
    other.value("colour")
    other.contains("limited:2", "client-a")  # the set's first use reads it
    commands = redis_commands(
        lambda: [(other.value("colour"), other.contains("limited:2", "x")) for _ in range(200)]
    )
    assert commands == []


def test_token_checks_make_no_redis_round_trip_in_steady_state(
    site: SampleSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_state_module, "VERIFY_SECONDS", 3600.0)
    client = Client()
    auth = {"Authorization": f"Token {site.token}"}
    assert client.get("/api/v1/ping", headers=auth).status_code == 200
    statuses: list[int] = []
    commands = redis_commands(
        lambda: statuses.extend(
            client.get("/api/v1/ping", headers=auth).status_code for _ in range(50)
        )
    )
    assert statuses == [200] * 50
    assert commands == []


def test_values_are_read_again_after_a_missed_notice(
    other: SharedState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value changed behind the channel's back (a failover, a flush) shows within VERIFY_SECONDS."""
    monkeypatch.setattr(shared_state_module, "VERIFY_SECONDS", 0.2)
    assert other.value("colour") == "grey"
    cache.set("colour", "green", timeout=None)  # no notice
    time.sleep(0.25)
    assert other.value("colour") == "green"


def test_a_lost_subscription_falls_back_to_redis_then_subscribes_again(
    other: SharedState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_state_module, "RETRY_SECONDS", 0.0)
    assert other.value("colour") == "grey"
    host, port = other._socket.getsockname()[:2]
    assert redis_client().client_kill(f"{host}:{port}")  # type: ignore[union-attr]
    cache.set("colour", "red", timeout=None)  # changed while no notice can arrive
    # The lost connection is noticed before anything is answered from memory.
    assert other.value("colour") in (None, "red")
    assert other.value("colour") == "red"
    SharedState().set("colour", "white")
    assert other.value("colour") == "white"


def test_without_redis_there_is_no_mirror(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    state = SharedState()
    state.watch(AUTH_VERSION_KEY, default=lambda: uuid.uuid4().hex)
    assert state.value(AUTH_VERSION_KEY) is None
    assert state.contains("limited:3", "client-a") is None
    assert shared_state.value(AUTH_VERSION_KEY) is None
