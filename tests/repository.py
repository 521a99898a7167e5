"""A posm-extracts repository served on 127.0.0.1, so downloads in tests never leave the machine."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler

from tests.builders import collection, feature, square


class Repository:
    """A posm-extracts-style folder served over HTTP on 127.0.0.1, with scripted faults."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requested: list[str] = []
        self.fail_once: set[str] = set()
        self.always_fail: set[str] = set()
        self.slow: set[str] = set()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        repo = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                repo.requested.append(name)
                if name in repo.slow:
                    time.sleep(1.0)
                if name in repo.always_fail or name in repo.fail_once:
                    repo.fail_once.discard(name)
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"<html>Internal Server Error</html>")
                    return
                body = repo.files.get(name)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"Not Found")

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def country_files(repository: Repository, relation: str = "R12") -> None:
    repository.files[f"{relation}admin0.json"] = json.dumps(
        collection(feature(relation, "Land", coordinates=square(0, 0)))
    ).encode()
    repository.files[f"{relation}admin1_simplified.json"] = json.dumps(
        collection(feature(f"{relation}1", "State", country=relation, coordinates=square(0, 0)))
    ).encode()
