"""Fixtures of the import tests: hypothesis profiles, and a local posm-extracts mirror.

``ci`` (the default hypothesis profile) is small and derandomized, so every run
tries the same examples; ``HYPOTHESIS_PROFILE=long`` tries many more, at random.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, settings

from tests.repository import Repository

settings.register_profile(
    "ci",
    max_examples=15,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=400,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def repo() -> Iterator[tuple[Repository, str]]:
    repository = Repository()
    server = ThreadingHTTPServer(("127.0.0.1", 0), repository.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield repository, f"http://127.0.0.1:{server.server_address[1]}/geojson/"
    server.shutdown()
    server.server_close()
