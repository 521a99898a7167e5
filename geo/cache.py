"""A Django cache on Redis found through Sentinel.

Django's own Redis cache takes fixed server URLs; after a Sentinel failover
the master is elsewhere. This client asks the Sentinels for the current
master on every new connection (redis-py's ``SentinelConnectionPool``), so
the tile cache follows a failover without a restart. Timeouts are short: the
cache is an optimisation, and a slow or absent one must only cost a render.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
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


class SentinelCacheClient(RedisCacheClient):
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


class SentinelRedisCache(RedisCache):
    """``CACHES`` backend: LOCATION is the Sentinels, OPTIONS has ``master_name`` and ``db``."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SentinelCacheClient
