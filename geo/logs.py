"""Logs as one JSON line per event, carrying the request id (and an import's run id).

HAProxy sets ``X-Request-ID`` on every request; a web node keeps it (or makes
one when called directly), answers with it, and puts it in a context
variable that every log line of the request carries, as do Celery tasks the
request sends. ``log_context(run_id=...)`` adds fields to every line logged
inside it (an import job's lines carry their run id).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
# Ids from outside are kept only when they look like ids (no log injection).
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "mipaka_log_context",
    default={},  # noqa: B039 (never mutated: replaced as a whole)
)


def current_context() -> dict[str, Any]:
    """Return the fields every log line gets now (request_id, run_id...)."""
    return _context.get()


class _LogContext:
    """The block of ``log_context``: a plain class, as every request enters one."""

    __slots__ = ("_fields", "_token")

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def __enter__(self) -> None:
        self._token = _context.set({**_context.get(), **self._fields})

    def __exit__(self, *exc: object) -> None:
        _context.reset(self._token)


def log_context(**fields: Any) -> contextlib.AbstractContextManager[None]:
    """Add ``fields`` to every log line written inside the block."""
    return _LogContext(fields)


class ContextFilter(logging.Filter):
    """Copy the context fields onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the fields; never drop a record."""
        record.context = current_context()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as one line of JSON."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "context", current_context()),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class RequestIdMiddleware:
    """Keep the load balancer's request id (or make one) for the request's logs and response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Answer the request inside its log context, and name its id in the response."""
        # META, not request.headers: that parses every header into a new mapping.
        given = request.META.get("HTTP_X_REQUEST_ID")
        request_id = given if given and _VALID_ID.match(given) else os.urandom(16).hex()
        with log_context(request_id=request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def connect_celery_signals() -> None:
    """Carry the context (request id) in Celery task headers, and restore it in the worker."""
    try:
        from celery import signals  # noqa: PLC0415 (optional: only workers and senders need it)
    except ImportError:
        return

    def publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
        if headers is not None and current_context():
            headers["mipaka_log_context"] = current_context()

    tokens: dict[str, contextvars.Token[dict[str, Any]]] = {}

    def prerun(task_id: str = "", task: Any = None, **_: Any) -> None:
        fields = getattr(getattr(task, "request", None), "mipaka_log_context", None) or {}
        tokens[task_id] = _context.set({**fields, "task_id": task_id})

    def postrun(task_id: str = "", **_: Any) -> None:
        token = tokens.pop(task_id, None)
        if token is not None:
            _context.reset(token)

    signals.before_task_publish.connect(publish, weak=False)
    signals.task_prerun.connect(prerun, weak=False)
    signals.task_postrun.connect(postrun, weak=False)
