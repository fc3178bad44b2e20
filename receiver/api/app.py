"""create_app(): the one factory used by `triaged serve` and by the tests."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from receiver import digest, logsafe, metrics
from receiver.api import acklinks, alerts, comms, deploys, health, incidents, oncall, silences
from receiver.api import rules as rules_api
from receiver.api.keys import (
    DRAINING,
    INFLIGHT,
    LIVE,
    REPEATS,
    SETTINGS,
    SNS_GATE,
    STORE,
    InFlight,
)
from receiver.api.middleware import auth, errors
from receiver.api.sns_gate import SnsGate
from receiver.incidents.history import History
from receiver.incidents.store import AsyncIncidentStore
from receiver.live import LiveRules, LoadedRules, watch
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


async def publish(client: aioredis.Redis, loaded: LoadedRules, public_url: str) -> None:
    """What workers read of the rules (silences, inhibitions, digest, templates,
    stakeholders), written at start and after each reload."""
    ruleset = loaded.ruleset
    await silences.publish_file_silences(client, ruleset.silences, ruleset.inhibitions)
    await digest.publish(client, ruleset, public_url)
    await comms.publish(client, ruleset, loaded.templates)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = async_redis(settings)
    app[STORE] = AsyncIncidentStore(
        client, History(settings.history_retention_s, settings.history_max)
    )
    try:
        await publish(client, app[LIVE].current, settings.public_url)
    except RedisError as exc:  # Redis down at start: the receiver still starts (503s)
        log.warning("rules not published to Redis yet (tried again each second): %s", exc)
        app[LIVE].publish_pending = True
    yield
    await client.aclose()


def _sns_require_v2(loaded: LoadedRules) -> bool:
    config = loaded.ruleset.sources.get("cloudwatch")
    return bool(config is not None and config.sns is not None and config.sns.require_signature_v2)


async def _sns_ctx(app: web.Application) -> AsyncIterator[None]:
    gate = app.get(SNS_GATE)  # a test may have set its own
    if gate is None:
        app[SNS_GATE] = gate = SnsGate(AWS_SNS, require_v2=_sns_require_v2(app[LIVE].current))
    yield
    await gate.aclose()


async def _live_ctx(app: web.Application) -> AsyncIterator[None]:
    """Reload on SIGHUP and (polling) on file change; republish after a swap."""
    live, settings = app[LIVE], app[SETTINGS]

    async def swapped(loaded: LoadedRules) -> None:
        app[REPEATS].clear()
        app[SNS_GATE].require_v2(_sns_require_v2(loaded))
        # a RedisError is logged by LiveRules, and this runs again at the next look
        await publish(app[STORE].redis, loaded, settings.public_url)

    live.on_swap.append(swapped)
    tasks: set[asyncio.Task[object]] = set()
    loop = asyncio.get_running_loop()

    def on_sighup() -> None:
        task = loop.create_task(live.reload("SIGHUP"))
        tasks.add(task)
        task.add_done_callback(_reloaded)

    def _reloaded(task: asyncio.Task[object]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("rules reload on SIGHUP failed", exc_info=task.exception())

    try:
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
        hup = True
    except (RuntimeError, ValueError, NotImplementedError, AttributeError):
        hup = False  # not the main thread (or no SIGHUP): reload by file or API only
    watcher = None
    if live.directory is not None and settings.rules_poll_seconds > 0:
        watcher = loop.create_task(watch(live, settings.rules_poll_seconds))
    yield
    if hup:
        loop.remove_signal_handler(signal.SIGHUP)  # back to the default: exit
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for task in [*tasks, *([watcher] if watcher else [])]:
        task.cancel()
    await asyncio.gather(*tasks, *([watcher] if watcher else []), return_exceptions=True)
    live.on_swap.remove(swapped)


async def _metrics(request: web.Request) -> web.Response:
    body = await metrics.render(request.app[STORE].redis)
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})


async def serve_until_stopped(
    settings: Settings,
    rules: LoadedRules,
    reuse_port: bool,
    environ: Mapping[str, str],
    *,
    rules_dir: Path,
    shadow_dir: Path | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT, then drain: /health answers 503 at once while
    requests are still served for ``drain_seconds`` (load balancers stop sending),
    then stop listening and let in-flight requests finish within the shutdown timeout.
    """
    app = create_app(settings, rules, environ, rules_dir=rules_dir, shadow_dir=shadow_dir)
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
    log.info(
        "receiver listening on http://%s:%d (rules version %s)",
        settings.host,
        settings.port,
        rules.ruleset.version,
    )
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
    settings: Settings,
    rules: RuleSet | LoadedRules,
    environ: Mapping[str, str] | None = None,
    *,
    rules_dir: Path | None = None,
    shadow_dir: Path | None = None,
    shadow: RuleSet | None = None,
) -> web.Application:
    """Build the receiver application; resources open and close with it.

    ``rules``: a rule set (its intakes and templates are built here) or a whole
    ``LoadedRules``. ``rules_dir`` is where reloads read (default: the rule set's own
    directory); ``shadow_dir`` / ``shadow``: rules classifying in shadow."""
    app = web.Application(middlewares=[errors, auth], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    env = environ or {}
    loaded = rules if isinstance(rules, LoadedRules) else LoadedRules.of(rules, env)
    if shadow is not None:
        loaded = dataclasses.replace(loaded, shadow=shadow)
    if rules_dir is None and loaded.ruleset.source_files:
        rules_dir = Path(loaded.ruleset.source_files[0]).parent
    # sources' secrets are read from ``environ`` (the CLI's os.environ) at every load
    app[LIVE] = LiveRules(rules_dir, loaded, env, shadow_dir=shadow_dir)
    app[DRAINING] = asyncio.Event()
    app[INFLIGHT] = InFlight(settings.max_inflight)
    app[REPEATS] = RepeatCache()
    logsafe.redact_access_log()
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_sns_ctx)
    app.cleanup_ctx.append(_live_ctx)
    for module in (
        alerts,
        incidents,
        comms,
        acklinks,
        deploys,
        oncall,
        silences,
        rules_api,
        health,
    ):
        app.add_routes(module.routes)
    app.router.add_get("/metrics", _metrics)
    return app
