"""/alive (the process answers) and /health (ready: Redis, rules, a live worker)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from receiver.api.keys import DRAINING, RULESET, STORE

routes = web.RouteTableDef()

# RQ registers each live worker in this set, with a key that expires unless renewed.
_RQ_WORKERS = "rq:workers"


@routes.get("/alive")
async def alive(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def _live_workers(redis: Redis) -> int:
    """Workers whose registration key has not expired (RQ renews it while alive)."""
    members = await redis.smembers(_RQ_WORKERS)
    if not members:
        return 0
    return int(await redis.exists(*members))


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    store = request.app[STORE]
    if request.app[DRAINING].is_set():
        return web.json_response({"status": "draining"}, status=503)
    checks: dict[str, object] = {"rules": request.app[RULESET].version}
    try:
        async with asyncio.timeout(3):
            await store.redis.ping()
            checks["redis"] = "ok"
            checks["workers"] = await _live_workers(store.redis)
    except (RedisError, OSError, TimeoutError) as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
        checks.setdefault("workers", "unknown")
    ok = checks["redis"] == "ok" and isinstance(checks["workers"], int) and checks["workers"] > 0
    return web.json_response(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )
