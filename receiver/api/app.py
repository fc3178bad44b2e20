"""create_app(): the one factory used by `triaged serve` and by the tests."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Mapping

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from receiver import digest, logsafe, metrics
from receiver.api import acklinks, alerts, comms, deploys, health, incidents, oncall, silences
from receiver.api.keys import (
    DRAINING,
    INFLIGHT,
    INTAKES,
    REPEATS,
    RULESET,
    SETTINGS,
    SNS_GATE,
    STORE,
    TEMPLATES,
    InFlight,
)
from receiver.api.middleware import auth, errors
from receiver.api.sns_gate import SnsGate
from receiver.incidents.history import History
from receiver.incidents.store import AsyncIncidentStore
from receiver.intake import build_intakes
from receiver.redisconn import async_client
from receiver.repeats import RepeatCache
from receiver.settings import Settings
from receiver.sns import AWS_SNS
from rules import RuleSet

log = logging.getLogger(__name__)

OUTBOX_PERIOD_SECONDS = 1.0


def async_redis(settings: Settings) -> aioredis.Redis:
    """A client that fails fast (503 within the sender's patience) and, on a plain
    server, waits for a free connection instead of raising (bounded pool)."""
    t = settings.redis_timeout
    return async_client(
        settings.redis_url,
        socket_timeout=t,
        socket_connect_timeout=t,
        decode_responses=True,
    )


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    client = async_redis(app[SETTINGS])
    settings = app[SETTINGS]
    app[STORE] = AsyncIncidentStore(
        client, History(settings.history_retention_s, settings.history_max)
    )
    try:
        ruleset = app[RULESET]
        await silences.publish_file_silences(client, ruleset.silences, ruleset.inhibitions)
        await digest.publish(client, ruleset, app[SETTINGS].public_url)
        await comms.publish(client, ruleset, app[TEMPLATES])
    except RedisError as exc:  # Redis down at start: the receiver still starts (503s)
        log.warning("rule-file silences not published: %s", exc)
    yield
    await client.aclose()


async def _sns_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[RULESET].sources.get("cloudwatch")
    sns = config.sns if config is not None else None
    require_v2 = sns.require_signature_v2 if sns is not None else False
    gate = app.get(SNS_GATE)  # a test may have set its own
    if gate is None:
        app[SNS_GATE] = gate = SnsGate(AWS_SNS, require_v2=require_v2)
    yield
    await gate.aclose()


async def _metrics(request: web.Request) -> web.Response:
    body = await metrics.render(request.app[STORE].redis)
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})


async def serve_until_stopped(
    settings: Settings, ruleset: RuleSet, reuse_port: bool, environ: Mapping[str, str]
) -> None:
    """Serve until SIGTERM/SIGINT, then drain: /health answers 503 at once while
    requests are still served for ``drain_seconds`` (load balancers stop sending),
    then stop listening and let in-flight requests finish within the shutdown timeout.
    """
    app = create_app(settings, ruleset, environ)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.shutdown_seconds)
    await runner.setup()
    site = web.TCPSite(
        runner,
        settings.host,
        settings.port,
        reuse_port=reuse_port,
        shutdown_timeout=settings.shutdown_seconds,
    )
    await site.start()
    log.info("receiver listening on http://%s:%d", settings.host, settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("draining for %.1fs, then stopping", settings.drain_seconds)
    app[DRAINING].set()
    await asyncio.sleep(settings.drain_seconds)
    await runner.cleanup()


def create_app(
    settings: Settings, ruleset: RuleSet, environ: Mapping[str, str] | None = None
) -> web.Application:
    """Build the receiver application; resources open and close with it."""
    app = web.Application(middlewares=[errors, auth], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[RULESET] = ruleset
    app[DRAINING] = asyncio.Event()
    app[INFLIGHT] = InFlight(settings.max_inflight)
    app[REPEATS] = RepeatCache()
    # sources' secrets are read from ``environ`` (the CLI's os.environ) once, here
    app[INTAKES] = build_intakes(ruleset, environ or {})
    app[TEMPLATES] = comms.templates_of(ruleset)
    logsafe.redact_access_log()
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_sns_ctx)
    for module in (alerts, incidents, comms, acklinks, deploys, oncall, silences, health):
        app.add_routes(module.routes)
    app.router.add_get("/metrics", _metrics)
    return app
