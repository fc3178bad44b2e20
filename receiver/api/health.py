"""/alive (the process answers) and /health (ready: Redis, rules, a live worker).

/health says ``degraded`` (200: still serving, on the older rules) when the last
rules reload failed, with its errors under ``checks.rules_errors``."""

from __future__ import annotations

import asyncio

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from receiver.api.keys import DRAINING, LIVE, STORE
from receiver.live import shown_errors

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
    live = request.app[LIVE]
    rules_errors = live.errors  # read once: a reload may end while Redis answers
    checks: dict[str, object] = {"rules": live.current.ruleset.version}
    if rules_errors:
        checks["rules_errors"] = shown_errors(rules_errors)
    if live.shadow_errors:  # the shadow serves nothing: shown, not degrading
        checks["shadow_rules_errors"] = shown_errors(live.shadow_errors)
    try:
        async with asyncio.timeout(3):
            await store.redis.ping()
            checks["redis"] = "ok"
            checks["workers"] = await _live_workers(store.redis)
    except (RedisError, OSError, TimeoutError) as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
        checks.setdefault("workers", "unknown")
    ok = checks["redis"] == "ok" and isinstance(checks["workers"], int) and checks["workers"] > 0
    status = ("degraded" if rules_errors else "ok") if ok else "unavailable"
    return web.json_response({"status": status, "checks": checks}, status=200 if ok else 503)
