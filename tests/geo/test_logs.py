"""Request ids: kept from the load balancer or made, answered, and carried by every log line."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from geo.logs import (
    REQUEST_ID_HEADER,
    ContextFilter,
    JsonFormatter,
    RequestIdMiddleware,
    current_context,
    log_context,
)

logger = logging.getLogger("tests.geo.logs")


class Lines(logging.Handler):
    """Keep what the project's console handler would print, one JSON line per record."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.addFilter(ContextFilter())
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


def answer(request: HttpRequest) -> HttpResponse:
    """A view that logs while it answers, as a view or a lookup does."""
    logger.info("answering %s", request.path)
    return HttpResponse(b"{}", content_type="application/json")


def send(request_id: str | None = None) -> HttpResponse:
    """Send a request through the middleware, with ``X-Request-ID`` unless None."""
    request = RequestFactory().get("/api/v1/ping")
    if request_id is not None:
        request.META["HTTP_X_REQUEST_ID"] = request_id
    return RequestIdMiddleware(answer)(request)


def test_the_load_balancers_id_is_answered_and_logged(lines: Lines) -> None:
    response = send("haproxy-7f3a.42:1")

    assert response[REQUEST_ID_HEADER] == "haproxy-7f3a.42:1"
    assert [line["request_id"] for line in lines.lines] == ["haproxy-7f3a.42:1"]
    assert lines.lines[0]["message"] == "answering /api/v1/ping"


@pytest.mark.parametrize(
    "given",
    ["", "two words", "line\nbreak", "x" * 129, 'quote"d', "é"],
    ids=["empty", "space", "newline", "too long", "quote", "not ascii"],
)
def test_an_id_that_is_not_an_id_is_replaced(lines: Lines, given: str) -> None:
    # A header from outside goes into every log line: nothing that could forge one.
    response = send(given)

    made = response[REQUEST_ID_HEADER]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert [line["request_id"] for line in lines.lines] == [made]


def test_each_request_without_an_id_gets_its_own(lines: Lines) -> None:
    first, second = send()[REQUEST_ID_HEADER], send()[REQUEST_ID_HEADER]

    assert first != second
    assert [line["request_id"] for line in lines.lines] == [first, second]


def test_the_context_ends_with_the_request_even_when_the_view_fails() -> None:
    def failing(request: HttpRequest) -> HttpResponse:
        assert current_context()["request_id"] == "r-1"
        raise RuntimeError("the view broke")

    with log_context(run_id=7):
        with pytest.raises(RuntimeError):
            RequestIdMiddleware(failing)(RequestFactory().get("/", HTTP_X_REQUEST_ID="r-1"))
        # The request's id is gone, what surrounded it is kept.
        assert current_context() == {"run_id": 7}
    assert current_context() == {}


def test_fields_added_inside_a_request_join_its_id(lines: Lines) -> None:
    def importing(request: HttpRequest) -> HttpResponse:
        with log_context(run_id=12):
            logger.info("import started")
        logger.info("import queued")
        return HttpResponse()

    RequestIdMiddleware(importing)(RequestFactory().get("/", HTTP_X_REQUEST_ID="r-2"))

    assert [(line["message"], line.get("run_id"), line["request_id"]) for line in lines.lines] == [
        ("import started", 12, "r-2"),
        ("import queued", None, "r-2"),
    ]
