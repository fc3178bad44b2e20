"""Redis clients from REDIS_URL: a plain server, or a master found through Sentinel.

    redis://[:password@]host:port/db          one server (also rediss://, unix://)
    redis+sentinel://[:password@]h1:p1,h2:p2/service/db
                                              the master of ``service``, as the given
                                              Sentinels name it; a failover is
                                              followed on the next connection

RQ runs on either (it takes any redis-py client); Redis Cluster is not supported
(RQ does not support it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.driver_info import DriverInfo
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
# Bounded pools: redis-py's asyncio pool raises instead of waiting when exhausted.
MAX_CONNECTIONS = 64


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: list[tuple[str, int]]
    service: str
    db: int
    password: str | None


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Split a ``redis+sentinel://`` URL; ValueError naming what is wrong."""
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    password = unquote(parts.password) if parts.password else None
    sentinels = []
    for item in hosts.split(","):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"REDIS_URL: sentinel address {item!r} is not host:port")
        sentinels.append((host.strip("[]"), int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("REDIS_URL: redis+sentinel:// needs /service_name[/db]")
    db = int(path[1]) if len(path) > 1 else 0
    return SentinelUrl(sentinels, path[0], db, password)


# Given once: left out, redis-py reads its own package metadata on every new
# connection (~2 ms each), which a forked RQ job pays for each connection it opens.
DRIVER = DriverInfo(name="redis-py", lib_version=redis.__version__).add_upstream_driver(
    "triaged", "0.1.0"
)


def _with_driver(options: dict[str, Any]) -> dict[str, Any]:
    return {"driver_info": DRIVER, **options}


def sync_client(url: str, **options: Any) -> redis.Redis:
    """A synchronous client (RQ, workers, the outbox task)."""
    options = _with_driver(options)
    if urlsplit(url).scheme != SENTINEL_SCHEME:
        return redis.Redis.from_url(url, **options)
    s = parse_sentinel_url(url)
    sentinel = Sentinel(s.sentinels, sentinel_kwargs=_sentinel_kwargs(options))
    return sentinel.master_for(s.service, db=s.db, password=s.password, **options)


def async_client(url: str, **options: Any) -> aioredis.Redis:
    """An asyncio client with a bounded pool that waits (plain server) for a connection."""
    options = _with_driver(options)
    if urlsplit(url).scheme != SENTINEL_SCHEME:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=options.get("socket_timeout"),
            **options,
        )
        return aioredis.Redis(connection_pool=pool)
    s = parse_sentinel_url(url)
    sentinel = AsyncSentinel(s.sentinels, sentinel_kwargs=_sentinel_kwargs(options))
    return sentinel.master_for(
        s.service, db=s.db, password=s.password, max_connections=MAX_CONNECTIONS, **options
    )


def _sentinel_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    return {k: options[k] for k in ("socket_timeout", "socket_connect_timeout") if k in options}
