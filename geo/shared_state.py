"""Values every worker shares through Redis, mirrored in memory and pushed to it on change.

A token check needs two things from Redis that change rarely: the version of
tokens and workspaces (``geo.workspaces``: a change anywhere must reach every
worker's token cache on its next request) and whether the client has used up
its failed attempts (``geo.ratelimit``: a limited client is refused whatever
token it sends). Asking Redis costs a round trip per request, as much as the
rest of an authenticated ping. Instead each process subscribes to one
channel; whoever changes a mirrored value publishes a notice there, and a
request first takes in the notices waiting on the subscription's socket (a
``poll``: no round trip), then answers from memory.

"On the next request" holds: a change publishes its notice and then waits for
one more reply from Redis (``PING``). Redis has written the notice to every
subscriber before it reads a later command, so once the change returns its
notice is on each worker's socket (on one host: in its receive buffer), before
any request that the change's answer could prompt reaches a worker.

While there is no subscription (no Redis, a lost connection, a cache that is
not Redis) ``SharedState.value`` and ``SharedState.contains`` answer None and
callers read Redis per request, as before. A subscription reads the values
only once it is subscribed, so nothing published in between is lost; and
every ``VERIFY_SECONDS`` the values are read again anyway: a subscription left
on a node that no longer gets the notices (an old master cut off after a
Sentinel failover) is replaced within that time.

Redis's own client-side caching (RESP3 ``CLIENT TRACKING``, redis-py's
``cache_config``) keeps values the same way, but redis-py refuses it below
Redis 7.4, and Debian 12 ships 7.0.
"""

from __future__ import annotations

import json
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed

logger = logging.getLogger(__name__)

# The channel of notices (under the cache's key prefix: one Redis may serve
# several deployments, and channels ignore the database number).
CHANNEL = "shared-changes"
# How often the mirrored values are read from Redis even without a notice.
VERIFY_SECONDS = 1.0
# How long to wait before subscribing again after a failure (meanwhile: round trips).
RETRY_SECONDS = 1.0
# Seconds to wait for Redis to confirm a new subscription.
SUBSCRIBE_TIMEOUT_S = 0.5
# Sets of members mirrored at once; more (old windows) and all are dropped and read again.
MAX_SETS = 8


def redis_client() -> Any | None:
    """Return the redis-py client of the default cache, None when it is not Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    # Django's RedisCacheClient (and geo.cache's): the client of the write pool.
    return backend._cache.get_client(write=True)


class SharedState:
    """One process's mirror of a few values in the default cache, kept current by notices.

    Values are named by cache key and read with Django's cache (as anything
    else reading them does); sets hold strings and are read with redis-py.
    Thread-safe; a forked child subscribes on its own.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._defaults: dict[str, Callable[[], Any]] = {}
        self._pid = 0
        self._pubsub: Any = None
        self._poller: Any = None
        self._socket: Any = None
        self._values: dict[str, Any] = {}
        self._sets: dict[str, set[str]] = {}
        self._verified_at = float("-inf")
        self._retry_at = float("-inf")

    def watch(self, key: str, *, default: Callable[[], Any]) -> None:
        """Mirror the cache value ``key``; when absent it is set to ``default()`` (first writer wins)."""
        with self._lock:
            self._defaults[key] = default
            self._close()

    def value(self, key: str) -> Any | None:
        """Return the current value of a watched key; None when there is no subscription."""
        with self._lock:
            if not self._current():
                return None
            return self._values.get(key)

    def contains(self, key: str, member: str) -> bool | None:
        """Tell whether the set at ``key`` holds ``member``; None when there is no subscription.

        The first call for a set reads it from Redis (one round trip); notices
        keep it current from then on.
        """
        with self._lock:
            if not self._current():
                return None
            members = self._sets.get(key)
            if members is None:
                try:
                    loaded = redis_client().smembers(self._redis_key(key))  # type: ignore[union-attr]
                except Exception:
                    logger.warning("shared set %s unreadable", key, exc_info=True)
                    self._close(retry=True)
                    return None
                if len(self._sets) >= MAX_SETS:
                    self._sets.clear()
                members = self._sets[key] = {m.decode() for m in loaded}
            return member in members

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` and tell every process before returning.

        Raises what the cache raises when Redis cannot be reached (the value
        is then not changed, or not announced: readers verify within
        ``VERIFY_SECONDS``).
        """
        cache.set(key, value, timeout=None)
        self._announce({"set": [key, value]})

    def add(self, key: str, member: str, *, timeout: int) -> None:
        """Add ``member`` to the set at ``key`` (kept ``timeout`` seconds) and tell every process."""
        client = redis_client()
        if client is None:
            return
        name = self._redis_key(key)
        with client.pipeline(transaction=True) as pipe:
            pipe.sadd(name, member)
            pipe.expire(name, timeout)
            pipe.execute()
        self._announce({"add": [key, member]})

    def close(self) -> None:
        """Drop the subscription (the next call subscribes again)."""
        with self._lock:
            self._close()

    def _announce(self, notice: dict[str, Any]) -> None:
        client = redis_client()
        if client is None:
            return
        client.publish(cache.make_key(CHANNEL), json.dumps(notice))
        # A later command's reply: by then Redis has written the notice to every subscriber.
        client.ping()

    def _redis_key(self, key: str) -> str:
        return cache.make_key(key)

    def _current(self) -> bool:
        """Take in waiting notices (subscribing first if needed); tell whether the mirror holds."""
        now = time.monotonic()
        if self._pid != os.getpid():
            self._pubsub = None  # the parent's: leave its socket to it
            self._close()
        if self._pubsub is None and (now < self._retry_at or not self._subscribe()):
            return False
        try:
            if self._poller.poll(0):
                self._drain()
                if getattr(self._pubsub.connection, "_sock", None) is not self._socket:
                    # redis-py reconnected by itself: notices may have been missed meanwhile.
                    raise ConnectionError("the subscription's connection was replaced")
            if now - self._verified_at >= VERIFY_SECONDS:
                self._verify(now)
        except Exception:
            logger.warning(
                "shared-state subscription lost; reading Redis per request", exc_info=True
            )
            self._close(retry=True)
            return False
        return True

    def _subscribe(self) -> bool:
        client = redis_client()
        if client is None:
            self._retry_at = float("inf")  # until the settings change (tests)
            return False
        try:
            pubsub = client.pubsub()
            pubsub.subscribe(cache.make_key(CHANNEL))
            confirmed = pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_S)
            if not confirmed or confirmed["type"] != "subscribe":
                raise ConnectionError(f"no subscription confirmed: {confirmed!r}")
            socket = pubsub.connection._sock
            poller = select.poll()
            poller.register(socket, select.POLLIN)
        except Exception:
            logger.warning("shared state not subscribed; reading Redis per request", exc_info=True)
            self._close(retry=True)
            return False
        self._pid = os.getpid()
        self._pubsub, self._poller, self._socket = pubsub, poller, socket
        self._sets.clear()
        # Read after subscribing: a change made in between arrives as a notice too.
        try:
            self._verify(time.monotonic())
        except Exception:
            logger.warning("shared state unreadable; reading Redis per request", exc_info=True)
            self._close(retry=True)
            return False
        return True

    def _drain(self) -> None:
        while True:
            message = self._pubsub.get_message(timeout=0)
            if message is None:
                return
            if message["type"] != "message":
                continue
            notice = json.loads(message["data"])
            if "set" in notice:
                key, value = notice["set"]
                self._values[key] = value
            elif "add" in notice:
                key, member = notice["add"]
                if key in self._sets:  # otherwise read whole at first use
                    self._sets[key].add(member)

    def _verify(self, now: float) -> None:
        values = cache.get_many(list(self._defaults))
        for key, default in self._defaults.items():
            if values.get(key) is None:
                cache.add(key, default(), timeout=None)
                values[key] = cache.get(key)
        # A notice waiting now is at most as new as what was just read: read wins.
        self._drain()
        self._values.update(values)
        # Sets too are read again at their next use: at most one round trip each per VERIFY_SECONDS.
        self._sets.clear()
        self._verified_at = now

    def _close(self, *, retry: bool = False) -> None:
        pubsub, self._pubsub, self._poller, self._socket = self._pubsub, None, None, None
        self._values.clear()
        self._sets.clear()
        self._verified_at = float("-inf")
        self._retry_at = time.monotonic() + RETRY_SECONDS if retry else float("-inf")
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:
                logger.debug("closing the shared-state subscription failed", exc_info=True)


shared_state = SharedState()


def _on_setting_changed(*, setting: str, **_: object) -> None:
    if setting == "CACHES":  # tests point the cache elsewhere
        shared_state.close()


setting_changed.connect(_on_setting_changed, dispatch_uid="geo.shared_state")
