"""Failure counters shared by every worker (Redis, through Django's cache).

A fixed window per client: each failure (a token nobody issued, a wrong
password) adds one; once a client has failed ``attempts`` times in the
current window it is refused with a ``RateLimited`` until the window ends,
whatever it sends, so a guess can no longer be told apart from a hit.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from geo.exceptions import RateLimited
from geo.shared_state import shared_state

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``attempts`` failures per ``window_seconds`` for one client."""

    name: str
    attempts: int
    window_seconds: int


def bad_token_limit() -> Limit:
    """Unknown API tokens per client IP (``MIPAKA_BAD_TOKEN_LIMIT``)."""
    attempts, window = settings.MIPAKA_BAD_TOKEN_LIMIT
    return Limit("bad-token", attempts, window)


def sign_in_limit() -> Limit:
    """Failed sign-ins per client IP (``MIPAKA_SIGN_IN_LIMIT``)."""
    attempts, window = settings.MIPAKA_SIGN_IN_LIMIT
    return Limit("sign-in", attempts, window)


def client_ip(request: HttpRequest) -> str:
    """Return the client's address, trusting ``MIPAKA_PROXY_COUNT`` proxies in front.

    Behind N proxies, the client is the Nth address from the right of
    ``X-Forwarded-For`` (each proxy appends the address it saw); anything
    further left is whatever the client wrote.
    """
    proxies = settings.MIPAKA_PROXY_COUNT
    if proxies > 0:
        # META, not request.headers: that parses every header into a new mapping.
        header = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
        forwarded = [part.strip() for part in header.split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return str(request.META.get("REMOTE_ADDR", ""))


# Every request of a client hashes the same address: remembered (a few thousand at most).
@functools.lru_cache(maxsize=4096)
def _digest(client: str) -> str:
    return hashlib.sha256(client.encode()).hexdigest()[:32]


def _key(limit: Limit, client: str, window: int) -> str:
    return f"ratelimit:{limit.name}:{_digest(client)}:{window}"


def _limited_key(limit: Limit, window: int) -> str:
    # The clients that used up their failures in a window (pushed to every worker).
    return f"ratelimit:{limit.name}:limited:{window}"


def _window(limit: Limit) -> tuple[int, int]:
    now = time.time()
    window = int(now // limit.window_seconds)
    retry_after = max(1, int((window + 1) * limit.window_seconds - now + 0.999))
    return window, retry_after


def window_key(limit: Limit, client: str) -> str:
    """Return the shared key of a client's failures in the current window."""
    window, _ = _window(limit)
    return _key(limit, client, window)


def check(limit: Limit, client: str, *, failures: int | None = None) -> None:
    """Refuse a client that has used up its failures in this window.

    ``failures`` is the count already read under ``window_key`` (with other
    shared values, in one round trip); without it the count is read here.
    A cache outage lets the request through (and is logged): the limit
    protects against guessing, it must not take the service down with Redis.

    Raises
    ------
    RateLimited
        Too many failures; ``retry_after`` is the rest of the window.
    """
    window, retry_after = _window(limit)
    if failures is None:
        try:
            failures = cache.get(_key(limit, client, window)) or 0
        except Exception:
            logger.warning(
                "rate limit %s not checked: cache unavailable", limit.name, exc_info=True
            )
            return
    if failures >= limit.attempts:
        _refuse(limit, retry_after)


def check_pushed(limit: Limit, client: str) -> bool:
    """Refuse a client that has used up its failures, from what this process was told.

    No round trip: ``record_failure`` tells every process of a client that
    reaches the limit (``geo.shared_state``). Returns False when this process
    cannot tell (no subscription): then ask ``check``.

    Raises
    ------
    RateLimited
        Too many failures; ``retry_after`` is the rest of the window.
    """
    window, retry_after = _window(limit)
    limited = shared_state.contains(_limited_key(limit, window), _digest(client))
    if limited is None:
        return False
    if limited:
        _refuse(limit, retry_after)
    return True


def _refuse(limit: Limit, retry_after: int) -> None:
    raise RateLimited(
        f"too many failed attempts ({limit.name}) from your address; try again in {retry_after} s",
        retry_after=retry_after,
    )


def record_failure(limit: Limit, client: str) -> None:
    """Count one failure for a client in the current window; at the limit, tell every process."""
    window, _ = _window(limit)
    key = _key(limit, client, window)
    timeout = limit.window_seconds + 1
    try:
        cache.add(key, 0, timeout=timeout)
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr: start again
        cache.add(key, 1, timeout=timeout)
        failures = 1
    except Exception:
        logger.warning("rate limit %s not counted: cache unavailable", limit.name, exc_info=True)
        return
    if failures >= limit.attempts:
        try:
            shared_state.add(_limited_key(limit, window), _digest(client), timeout=timeout)
        except Exception:  # the count stands: an unknown token is still checked against it
            logger.warning(
                "rate limit %s not announced: cache unavailable", limit.name, exc_info=True
            )


def reset(limit: Limit, client: str) -> None:
    """Forget a client's failures in the current window (after a success)."""
    window, _ = _window(limit)
    try:
        cache.delete(_key(limit, client, window))
    except Exception:
        logger.warning("rate limit %s not reset: cache unavailable", limit.name, exc_info=True)
