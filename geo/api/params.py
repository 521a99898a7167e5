"""Request parameters: parsed and checked, or an InvalidQuery naming the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from geo.exceptions import InvalidQuery
from geo.lookup.boundaries import BANDS

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def text(
    params: Mapping[str, str], name: str, *, required: bool = False, max_length: int = 1000
) -> str | None:
    """Read a text parameter, trimmed."""
    value = params.get(name)
    if value is None or not value.strip():
        if required:
            raise InvalidQuery(f"{name}: required")
        return None
    if len(value) > max_length:
        raise InvalidQuery(f"{name}: longer than {max_length} characters")
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
    """Read an integer parameter within [low, high]."""
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise InvalidQuery(f"{name}: required ({low} to {high})")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidQuery(f"{name}: must be a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise InvalidQuery(f"{name}: must be from {low} to {high}, not {value}")
    return value


def number(params: Mapping[str, str], name: str, *, low: float, high: float) -> float:
    """Read a required finite number within [low, high]."""
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        raise InvalidQuery(f"{name}: required")
    try:
        value = float(raw)
    except ValueError:
        raise InvalidQuery(f"{name}: must be a number") from None
    if not low <= value <= high:  # also false for nan
        raise InvalidQuery(f"{name}: must be from {low:g} to {high:g}")
    return value


def boolean(params: Mapping[str, str], name: str, *, default: bool) -> bool:
    """Read a boolean parameter (true/false, 1/0, yes/no)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise InvalidQuery(f"{name}: must be true or false")


def json_body(request: HttpRequest, *, max_bytes: int = 2_000_000) -> dict[str, Any]:
    """Read the request's JSON object body."""
    if len(request.body) > max_bytes:
        raise InvalidQuery(f"body: larger than {max_bytes:,} bytes")
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidQuery(f"body: not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidQuery("body: must be a JSON object")
    return body


def band(params: Mapping[str, str]) -> str:
    """Read ``band``: a zoom band of the import (0, 1, 2, coarse to fine) or ``full``; default 1."""
    value = params.get("band") or "1"
    if value not in BANDS and value != "full":
        raise InvalidQuery("band: must be 0, 1, 2 or full")
    return value
