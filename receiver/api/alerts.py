"""POST /api/v1/alerts/{source}: store first, answer 202 with the ids stored."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import orjson
from aiohttp import web

from receiver import metrics, stats
from receiver.api.keys import INFLIGHT, LIVE, REPEATS, SETTINGS, SNS_GATE, STORE
from receiver.auth import Credentials
from receiver.errors import (
    Overloaded,
    PayloadError,
    PayloadTooLarge,
    StoreUnavailable,
    Unauthorized,
    UnknownSource,
    UnsupportedMediaType,
)
from receiver.incidents.store import AsyncIncidentStore
from receiver.ingest import ingest
from receiver.intake import Intake
from receiver.live import LoadedRules

routes = web.RouteTableDef()


@routes.post("/api/v1/alerts/{source}")
async def post_alerts(request: web.Request) -> web.Response:
    name = request.match_info["source"]
    rules = request.app[LIVE].current  # read once: a reload swaps it whole
    intakes = rules.intakes
    intake = intakes.get(name)
    if intake is None:
        raise UnknownSource(f"unknown source {name!r}", known=sorted(intakes))
    store = request.app[STORE]
    inflight = request.app[INFLIGHT]
    if inflight.full():
        # shed load deliberately: senders retry 503 (never 429, which Alertmanager
        # does not retry within its cycle), and nothing was accepted
        metrics.SHED.labels(source=name).inc()
        raise Overloaded("receiver is at its concurrency limit; retry", retry_after=1)
    with inflight:
        return await _accept(request, name, intake, store, rules)


async def _accept(
    request: web.Request, name: str, intake: Intake, store: AsyncIncidentStore, rules: LoadedRules
) -> web.Response:
    reason = "invalid"
    started = time.perf_counter()
    source = intake.source
    try:
        if request.content_type not in source.content_types:
            reason = "content_type"
            accepted = " or ".join(sorted(source.content_types))
            raise UnsupportedMediaType(
                f"content type {request.content_type!r} is not accepted; send {accepted}",
                field="Content-Type",
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            reason = "too_large"
            limit = request.app[SETTINGS].max_body_bytes
            raise PayloadTooLarge(f"body is larger than {limit} bytes", field="body") from exc
        if intake.auth is not None:
            offered = Credentials(request.headers, request.query, body, time.time())
            if not intake.auth.check(offered):
                reason = "unauthorized"
                raise Unauthorized("authentication failed")
        if intake.limiter is not None:
            wait = intake.limiter.take()
            if wait > 0:
                metrics.RATE_LIMITED.labels(source=name).inc()
                raise Overloaded(
                    f"source {name!r} is over its rate limit; retry",
                    retry_after=max(1, math.ceil(wait)),
                )
        if name == "cloudwatch":
            handshake = await request.app[SNS_GATE].admit(intake, body)
            if handshake is not None:
                return handshake
        outcome = await ingest(
            source,
            body,
            ruleset=rules.ruleset,
            shadow=rules.shadow,
            store=store,
            now=datetime.now(UTC),
            repeats=request.app[REPEATS],
        )
    except (PayloadError, PayloadTooLarge, UnsupportedMediaType, Unauthorized):
        await store.add_stats(
            stats.count("triaged_alerts_rejected_total", source=name, reason=reason)
        )
        raise
    except StoreUnavailable:
        metrics.UNAVAILABLE.labels(source=name).inc()
        raise
    finally:
        metrics.INGEST_SECONDS.observe(time.perf_counter() - started)
    answer = {
        "status": "accepted",
        "alerts": outcome.alerts,
        "incidents": [
            {"id": g.incident_id, "result": g.result} for g in outcome.groups if g.incident_id
        ],
    }
    return web.Response(body=orjson.dumps(answer), status=202, content_type="application/json")
