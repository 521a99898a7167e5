"""Django caches on Redis: one client per connection pool, and Redis found through Sentinel.

Django's Redis cache makes a new ``redis.Redis`` for every operation, and
redis-py builds a table of some 170 response callbacks in each: about a
tenth of a millisecond, on every request (the token check reads the shared
cache each time). ``RedisCache`` keeps one client per connection pool
instead (a client is thread-safe: it takes a pooled connection per command,
and a pool re-opens its connections in a forked worker).

Django's own Redis cache takes fixed server URLs; after a Sentinel failover
the master is elsewhere. This client asks the Sentinels for the current
master on every new connection (redis-py's ``SentinelConnectionPool``), so
the tile cache follows a failover without a restart. Timeouts are short: the
cache is an optimisation, and a slow or absent one must only cost a render.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from redis.sentinel import Sentinel, SentinelConnectionPool

# Seconds; a master that does not answer within this is treated as down.
SOCKET_TIMEOUT_S = 0.5


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """Read ``host:port,host:port`` into (host, port) pairs.

    >>> parse_sentinels("127.0.0.1:26379, 10.0.0.2:26380")
    [('127.0.0.1', 26379), ('10.0.0.2', 26380)]
    """
    pairs = []
    for item in value.split(","):
        host, _, port = item.strip().rpartition(":")
        if item.strip():
            pairs.append((host, int(port)))
    return pairs


class ReusingCacheClient(RedisCacheClient):
    """Django's Redis cache client, keeping one ``redis.Redis`` per connection pool."""

    def get_client(
        self, key: str | bytes | memoryview | None = None, *, write: bool = False
    ) -> Any:
        """Return the client of the pool for ``write`` (made once)."""
        # Django's own attributes, which its type stubs leave out.
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        clients: dict[int, Any] = self.__dict__.setdefault("_clients_by_pool", {})
        client = clients.get(id(pool))
        if client is None:
            made = self._client(connection_pool=pool)  # type: ignore[attr-defined]
            client = clients.setdefault(id(pool), made)
        return client


class RedisCache(DjangoRedisCache):
    """``CACHES`` backend: Django's Redis cache, with one client per connection pool."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingCacheClient


class SentinelCacheClient(ReusingCacheClient):
    """Django's Redis cache client, connecting to whichever node the Sentinels name master."""

    def __init__(
        self,
        servers: list[str],
        *,
        master_name: str,
        db: int = 0,
        socket_timeout: float = SOCKET_TIMEOUT_S,
        **options: Any,
    ) -> None:
        super().__init__(servers, **options)
        timeouts = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout}
        self._sentinel = Sentinel(
            parse_sentinels(",".join(servers)), sentinel_kwargs=timeouts, **timeouts
        )
        self._master_name = master_name
        self._db = db
        self._timeouts = timeouts
        self._sentinel_pool: SentinelConnectionPool | None = None

    def _get_connection_pool(self, write: bool) -> SentinelConnectionPool:
        # One pool: reads go to the master too (a replica may lag a write just made).
        if self._sentinel_pool is None:
            self._sentinel_pool = SentinelConnectionPool(
                self._master_name, self._sentinel, db=self._db, **self._timeouts
            )
        return self._sentinel_pool


class SentinelRedisCache(DjangoRedisCache):
    """``CACHES`` backend: LOCATION is the Sentinels, OPTIONS has ``master_name`` and ``db``."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SentinelCacheClient
