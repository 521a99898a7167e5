"""One write per answer (config/gunicorn_response.py): gunicorn's response on real sockets."""

from __future__ import annotations

import runpy
import socket
from collections.abc import Iterable
from typing import Any

from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from config.gunicorn_response import OneWriteResponse
from tests.conftest import ROOT

BODY = b'{"results": []}'
# gunicorn's own class, whatever the module holds once the configuration ran.
GUNICORN_RESPONSE = OneWriteResponse.__bases__[0]


class CountingSocket(socket.socket):
    """A real socket that also keeps each ``sendall`` it is given."""

    sends: list[bytes]

    def sendall(self, data: Any, *args: Any) -> None:
        self.sends.append(bytes(data))
        super().sendall(data, *args)


def answer(
    response_class: type[Any],
    items: Iterable[bytes],
    *,
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
) -> tuple[list[bytes], bytes]:
    """Serve one request as gunicorn's sync worker does; return the writes and what arrived."""
    server, client = socket.socketpair()
    worker_side = CountingSocket(fileno=server.detach())
    worker_side.sends = []
    client.sendall(f"{method} /api/v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    cfg = Config()
    request = next(iter(RequestParser(cfg, worker_side, ("127.0.0.1", 4000))))
    response = response_class(request, worker_side, cfg)
    response.start_response(
        "200 OK",
        headers
        if headers is not None
        else [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))],
    )
    for item in items:
        response.write(item)
    response.close()
    worker_side.close()
    received = b""
    while chunk := client.recv(65536):
        received += chunk
    client.close()
    return worker_side.sends, received


def test_an_answer_goes_out_with_its_headers_in_one_write() -> None:
    writes, received = answer(OneWriteResponse, [BODY])
    assert len(writes) == 1
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.endswith(b"\r\n\r\n" + BODY)
    assert b"Content-Length: 15\r\n" in received
    # gunicorn's own response writes the same bytes in two: the gap a kill can fall into.
    plain_writes, plain_received = answer(GUNICORN_RESPONSE, [BODY])
    assert len(plain_writes) == 2
    assert plain_received.split(b"\r\nDate: ")[0] == received.split(b"\r\nDate: ")[0]


def test_a_streamed_body_sends_its_first_part_with_the_headers_then_the_rest() -> None:
    parts = [b"first,", b"second,", b"third"]
    writes, received = answer(OneWriteResponse, parts, headers=[("Content-Type", "text/csv")])
    assert len(writes) == 4  # headers + first chunk, two chunks, the last (empty) chunk
    assert b"Transfer-Encoding: chunked" in writes[0]
    assert writes[0].endswith(b"6\r\nfirst,\r\n")
    assert received.endswith(b"7\r\nsecond,\r\n5\r\nthird\r\n0\r\n\r\n")


def test_a_head_answer_is_its_headers_alone() -> None:
    writes, received = answer(OneWriteResponse, [BODY], method="HEAD")
    assert len(writes) == 1
    assert received.endswith(b"\r\n\r\n")
    assert BODY not in received


def test_the_server_configuration_installs_it() -> None:
    original = wsgi.Response
    try:
        wsgi.Response = GUNICORN_RESPONSE
        runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
        assert wsgi.Response is OneWriteResponse
    finally:
        wsgi.Response = original
