"""Request parameters: parsed and checked, or an InvalidQuery naming the field.

Every text a request carries (query parameters, path parameters, strings in
JSON bodies) passes :func:`check_text` here, so NUL and other control
characters, which PostgreSQL cannot store or which only hide text, are a 400
everywhere at once rather than endpoint by endpoint. The OpenAPI document
uses the ``*_PATTERN`` constants below, so it states exactly what is accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpRequest

from geo.exceptions import InvalidQuery, PayloadTooLarge
from geo.lookup.boundaries import BANDS

# Python clients send str(True): "True".
TRUE = {"1", "true", "True", "yes", "on"}
FALSE = {"0", "false", "False", "no", "off"}

# C0 controls but tab, line feed and carriage return (an SMS may hold line
# breaks), DEL and the C1 controls. Lone surrogates are refused too: they are
# not text and the database driver cannot encode them.
CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_REFUSED = re.compile(f"[{CONTROL_CHARACTERS}\ud800-\udfff]")
# What str.strip() removes that is not already refused: a value made only of
# these is blank.
BLANK_CHARACTERS = r"\t\n\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# JSON Schema patterns (ECMA 262 and Python's re agree on these classes).
TEXT_PATTERN = f"^[^{CONTROL_CHARACTERS}]*$"
NON_BLANK_TEXT_PATTERN = (
    f"^[^{CONTROL_CHARACTERS}]*[^{CONTROL_CHARACTERS}{BLANK_CHARACTERS}][^{CONTROL_CHARACTERS}]*$"
)
INTEGER_PATTERN = re.compile(r"[+-]?[0-9]+")
DAY_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NUMBER_PATTERN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def query(request: HttpRequest) -> dict[str, str]:
    """Return the query string's parameters, the last value of each, as ``request.GET`` reads them.

    Parsed straight from the query string (UTF-8, undecodable bytes replaced,
    as Django does): ``QueryDict``'s lists of values and mutability guards
    cost a tenth of a point lookup, which reads three numbers.

    Raises
    ------
    InvalidQuery
        More parameters than ``DATA_UPLOAD_MAX_NUMBER_FIELDS``.
    """
    # The WSGI server hands the raw bytes over as latin-1: undo that, then decode as UTF-8.
    raw = request.META.get("QUERY_STRING", "").encode("iso-8859-1").decode("utf-8", "replace")
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    try:
        return dict(parse_qsl(raw, keep_blank_values=True, max_num_fields=limit))
    except ValueError:
        raise InvalidQuery(f"query: more than {limit} parameters") from None


def check_text(value: str, *, field: str) -> str:
    """Return ``value`` unchanged, or refuse it if it holds a control character.

    Raises
    ------
    InvalidQuery
        NUL, another control character (tab and line breaks are text), or a
        lone surrogate; the message names the field and the character's position.
    """
    found = _REFUSED.search(value)
    if found is not None:
        raise InvalidQuery(
            f"{field}: control character U+{ord(found.group()):04X} at position"
            f" {found.start() + 1} is not allowed in text"
        )
    return value


# The longest text a parameter or a value in a body may be, unless said otherwise.
MAX_TEXT_LENGTH = 1000


def text(
    params: Mapping[str, str],
    name: str,
    *,
    required: bool = False,
    max_length: int = MAX_TEXT_LENGTH,
) -> str | None:
    """Read a text parameter, trimmed; blank is absent.

    Raises
    ------
    InvalidQuery
        Required and blank, too long, or holding a control character.
    """
    value = params.get(name)
    if value is None:
        if required:
            raise InvalidQuery(f"{name}: required")
        return None
    check_text(value, field=name)
    if len(value) > max_length:
        raise InvalidQuery(f"{name}: longer than {max_length} characters")
    if not value.strip():
        if required:
            raise InvalidQuery(f"{name}: required")
        return None
    return value.strip()


def integer(
    params: Mapping[str, str],
    name: str,
    *,
    low: int,
    high: int,
    default: int | None = None,
    required: bool = False,
) -> int | None:
    """Read an integer parameter within [low, high] (ASCII digits only; empty is not a number)."""
    raw = params.get(name)
    if raw is None:
        if required:
            raise InvalidQuery(f"{name}: required ({low} to {high})")
        return default
    # int() also takes "1_000", " 7" and other scripts' digits: the contract says digits.
    if not INTEGER_PATTERN.fullmatch(raw) or len(raw) > 20:
        raise InvalidQuery(f"{name}: must be a whole number from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise InvalidQuery(f"{name}: must be from {low} to {high}, not {value}")
    return value


def number(
    params: Mapping[str, str],
    name: str,
    *,
    low: float,
    high: float,
    default: float | None = None,
) -> float:
    """Read a finite decimal number within [low, high]; required unless it has a ``default``."""
    raw = params.get(name)
    if raw is None and default is not None:
        return default
    if not raw:
        raise InvalidQuery(f"{name}: required" if default is None else f"{name}: must be a number")
    if not NUMBER_PATTERN.fullmatch(raw) or len(raw) > 100:
        raise InvalidQuery(f"{name}: must be a number")
    value = float(raw)
    if not low <= value <= high:
        raise InvalidQuery(f"{name}: must be from {low:g} to {high:g}")
    return value


def parse_day(raw: str, *, field: str) -> date:
    """Read a calendar day written ``YYYY-MM-DD``.

    Raises
    ------
    InvalidQuery
        Another format, or no such day (2023-02-30).
    """
    if not DAY_PATTERN.fullmatch(raw):
        raise InvalidQuery(f"{field}: must be a day as YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidQuery(f"{field}: {raw!r} is not a day of the calendar") from None


def day(params: Mapping[str, str], name: str) -> date | None:
    """Read an optional day parameter (``YYYY-MM-DD``); absent: None."""
    raw = params.get(name)
    return None if raw is None else parse_day(raw, field=name)


def boolean(params: Mapping[str, str], name: str, *, default: bool) -> bool:
    """Read a boolean parameter (true/false, 1/0, yes/no, on/off; also True/False)."""
    raw = params.get(name)
    if raw is None:
        return default
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise InvalidQuery(f"{name}: must be true or false")


def choice(params: Mapping[str, str], name: str, *, choices: Collection[str]) -> str | None:
    """Read a parameter that must be one of ``choices`` (absent: None)."""
    raw = params.get(name)
    if raw is None:
        return None
    if raw not in choices:
        raise InvalidQuery(f"{name}: must be one of {', '.join(choices)}")
    return raw


def body_bytes(request: HttpRequest, *, max_bytes: int) -> bytes:
    """Return the request body, refusing one larger than ``max_bytes`` before reading it.

    Raises
    ------
    PayloadTooLarge
        The body (by its Content-Length, or as read) is over the limit.
    """
    limit = min(max_bytes, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise PayloadTooLarge(f"body: larger than {limit:,} bytes")
    body = request.body
    if len(body) > limit:
        raise PayloadTooLarge(f"body: larger than {limit:,} bytes")
    return body


def json_body(
    request: HttpRequest, *, fields: Collection[str] | None, max_bytes: int = 2_000_000
) -> dict[str, Any]:
    """Read the request's JSON object body; only ``fields`` may appear in it (None: any).

    Raises
    ------
    InvalidQuery
        Not JSON, not an object, or a field that is not one of ``fields``.
    PayloadTooLarge
        Over ``max_bytes``.
    """
    raw = body_bytes(request, max_bytes=max_bytes)
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidQuery(f"body: not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(body, dict):
        raise InvalidQuery("body: must be a JSON object")
    if fields is not None and (unknown := sorted(set(body) - set(fields))):
        raise InvalidQuery(
            f"body: unknown field {unknown[0]!r}; expected {', '.join(sorted(fields))}"
        )
    return body


def band(params: Mapping[str, str]) -> str:
    """Read ``band``: a zoom band of the import (0, 1, 2, coarse to fine) or ``full``; default 1."""
    value = params.get("band", "1")
    if value not in BANDS and value != "full":
        raise InvalidQuery("band: must be 0, 1, 2 or full")
    return value
