"""gunicorn's response, with its headers sent in the same write as the first body bytes.

gunicorn writes a response's headers, then its body, in two ``sendall``
calls. A web node killed between the two (SIGKILL, the OOM killer, a power
cut) leaves HAProxy holding headers with no body: it has already taken the
response, so it cannot retry it on another node, and the client reads a
truncated answer. Sent together, a killed node has written either nothing
(HAProxy retries an empty response elsewhere) or the whole of a small
answer, as every lookup is. It is also one system call less per answer.

``config/gunicorn.conf.py`` installs it. Only the first write is held back
and joined; later writes of a streamed body (exports) go out as gunicorn
sends them.
"""

from __future__ import annotations

from typing import Any, cast

from gunicorn.http import wsgi


class _Gathered:
    """Stands in for the socket during the first write: keeps what gunicorn sends."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.parts.append(bytes(data))


class OneWriteResponse(wsgi.Response):
    """A gunicorn ``Response`` whose headers go out with the first body bytes."""

    def write(self, arg: Any) -> None:
        """Write body bytes; the first time, with the headers, in one ``sendall``."""
        if self.headers_sent:
            super().write(arg)
            return
        # gunicorn's own write (framing, Content-Length bookkeeping, HEAD and
        # 304 without a body) runs unchanged; only its output is gathered.
        socket = cast(Any, self).sock  # gunicorn's attribute, which mypy cannot type
        gathered = _Gathered()
        self.sock = gathered
        try:
            super().write(arg)
        finally:
            self.sock = socket
            if gathered.parts:
                socket.sendall(b"".join(gathered.parts))


def install() -> None:
    """Make gunicorn build every response as a ``OneWriteResponse`` (workers inherit it)."""
    # wsgi.create() looks the class up in its module at each request.
    wsgi.Response = OneWriteResponse
