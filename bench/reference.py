"""The minimal reference receiver the ingest figures are compared with.

    python -m bench.reference --listen 127.0.0.1:PORT --redis-url URL --processes 2

What it does, and nothing else:

- aiohttp, N processes sharing the port with SO_REUSEPORT (as ``triaged serve
  --processes N``), the default asyncio event loop (triaged uses no uvloop either),
  access log off;
- per request: read the body, ``json.loads`` it, check that ``groupKey`` is a string
  and ``alerts`` a non-empty list of objects with a ``fingerprint``;
- **one Redis pipeline per request** (not a transaction) writing **each alert**:
  ``HSET ref:group:<sha1(groupKey)> <fingerprint> <alert JSON>``; then answer 202.

No schema validation, classification, dedup, incidents, timeline, outbox or queue.
The same redis-py asyncio client and bounded pool as triaged's receiver.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import signal
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

REDIS: web.AppKey[aioredis.Redis] = web.AppKey("redis", aioredis.Redis)


def _invalid(why: str) -> web.Response:
    return web.json_response({"status": "invalid", "error": why}, status=400)


async def post_alerts(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        return _invalid("malformed JSON")
    if not isinstance(data, dict):
        return _invalid("not an object")
    group = data.get("groupKey")
    alerts = data.get("alerts")
    if not isinstance(group, str) or not isinstance(alerts, list) or not alerts:
        return _invalid("groupKey or alerts missing")
    key = "ref:group:" + hashlib.sha1(group.encode()).hexdigest()
    async with request.app[REDIS].pipeline(transaction=False) as pipe:
        for alert in alerts:
            if not isinstance(alert, dict) or not isinstance(alert.get("fingerprint"), str):
                return _invalid("alert without fingerprint")
            pipe.hset(key, alert["fingerprint"], json.dumps(alert))
        await pipe.execute()
    return web.json_response({"status": "accepted", "alerts": len(alerts)}, status=202)


async def alive(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


def create_app(redis_url: str) -> web.Application:
    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url, max_connections=64, timeout=3.0, socket_timeout=3.0, decode_responses=True
        )
        app[REDIS] = aioredis.Redis(connection_pool=pool)
        yield
        await app[REDIS].aclose()

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.cleanup_ctx.append(redis_ctx)
    app.router.add_post("/api/v1/alerts/{source}", post_alerts)
    app.router.add_get("/alive", alive)
    return app


def _serve_one(host: str, port: int, redis_url: str, reuse_port: bool) -> None:
    web.run_app(
        create_app(redis_url),
        host=host,
        port=port,
        reuse_port=reuse_port,
        print=None,
        access_log=None,
        shutdown_timeout=2.0,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reference")
    parser.add_argument("--listen", default="127.0.0.1:9798")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    host, _, port_text = args.listen.rpartition(":")
    port = int(port_text)
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the reference receiver listens on the loopback only")
    if args.processes == 1:
        _serve_one(host, port, args.redis_url, reuse_port=False)
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_serve_one, args=(host, port, args.redis_url, True))
        for _ in range(args.processes)
    ]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)
            if p.is_alive():
                p.kill()


if __name__ == "__main__":
    main()
