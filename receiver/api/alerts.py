"""POST /api/v1/alerts/{source}: store first, answer 202 with the ids stored."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web

from receiver import metrics, stats
from receiver.api.keys import INFLIGHT, REPEATS, RULESET, SETTINGS, STORE
from receiver.errors import (
    Overloaded,
    PayloadError,
    PayloadTooLarge,
    StoreUnavailable,
    UnknownSource,
    UnsupportedMediaType,
)
from receiver.incidents.store import AsyncIncidentStore
from receiver.ingest import ingest
from receiver.sources import SOURCES, Source

routes = web.RouteTableDef()

JSON_TYPES = frozenset({"application/json"})


@routes.post("/api/v1/alerts/{source}")
async def post_alerts(request: web.Request) -> web.Response:
    name = request.match_info["source"]
    source = SOURCES.get(name)
    if source is None:
        raise UnknownSource(f"unknown source {name!r}", known=sorted(SOURCES))
    store = request.app[STORE]
    inflight = request.app[INFLIGHT]
    if inflight.full():
        # shed load deliberately: senders retry 503 (never 429, which Alertmanager
        # does not retry within its cycle), and nothing was accepted
        metrics.SHED.labels(source=name).inc()
        raise Overloaded("receiver is at its concurrency limit; retry", retry_after=1)
    with inflight:
        return await _accept(request, name, source, store)


async def _accept(
    request: web.Request, name: str, source: Source, store: AsyncIncidentStore
) -> web.Response:
    reason = "invalid"
    started = time.perf_counter()
    try:
        if request.content_type not in JSON_TYPES:
            reason = "content_type"
            raise UnsupportedMediaType(
                f"content type {request.content_type!r} is not accepted; send application/json",
                field="Content-Type",
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            reason = "too_large"
            limit = request.app[SETTINGS].max_body_bytes
            raise PayloadTooLarge(f"body is larger than {limit} bytes", field="body") from exc
        outcome = await ingest(
            source,
            body,
            ruleset=request.app[RULESET],
            store=store,
            now=datetime.now(UTC),
            repeats=request.app[REPEATS],
        )
    except (PayloadError, PayloadTooLarge, UnsupportedMediaType):
        await store.add_stats(
            stats.count("triaged_alerts_rejected_total", source=name, reason=reason)
        )
        raise
    except StoreUnavailable:
        metrics.UNAVAILABLE.labels(source=name).inc()
        raise
    finally:
        metrics.INGEST_SECONDS.observe(time.perf_counter() - started)
    return web.json_response(
        {
            "status": "accepted",
            "alerts": outcome.alerts,
            "incidents": [
                {"id": g.incident_id, "result": g.result} for g in outcome.groups if g.incident_id
            ],
        },
        status=202,
    )
