from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from tests.repository import Repository


@pytest.fixture
def repo() -> Iterator[tuple[Repository, str]]:
    repository = Repository()
    server = ThreadingHTTPServer(("127.0.0.1", 0), repository.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield repository, f"http://127.0.0.1:{server.server_address[1]}/geojson/"
    server.shutdown()
    server.server_close()
