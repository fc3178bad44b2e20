"""Group commit of the ingest script: POSTs that arrive together go to Redis in one
script run, each still atomic and answered with its own incidents; one POST the
script refuses does not fail its neighbours."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import redis

from tests.integration.conftest import checkout_payload

JSON = {"Content-Type": "application/json"}


def payload(n: int) -> bytes:
    p = checkout_payload(instance=f"i-{n}")
    p["groupKey"] = f'{{}}:{{alertname="CheckoutDown", n="{n}"}}'
    return json.dumps(p).encode()


async def test_posts_sent_together_share_script_runs_and_get_their_own_answers(
    client: Any, redis_client: redis.Redis
) -> None:
    redis_client.config_resetstat()
    posts = [
        client.post("/api/v1/alerts/alertmanager", data=payload(n), headers=JSON) for n in range(40)
    ]
    answers = await asyncio.gather(*posts)
    assert [a.status for a in answers] == [202] * 40
    bodies = [await a.json() for a in answers]
    ids = [b["incidents"][0]["id"] for b in bodies]
    assert len(set(ids)) == 40 and all(b["incidents"][0]["result"] == "created" for b in bodies)
    # each answer names the incident of its own group
    for n, incident_id in enumerate(ids):
        detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
        assert detail["alerts"][0]["labels"]["instance"] == f"i-{n}"
    runs = int(redis_client.info("commandstats")["cmdstat_evalsha"]["calls"])
    assert runs < 40, f"{runs} script runs for 40 POSTs sent together: no batching"
    # the same 40 again, together: every one a duplicate of its own incident
    again = await asyncio.gather(
        *[
            client.post("/api/v1/alerts/alertmanager", data=payload(n), headers=JSON)
            for n in range(40)
        ]
    )
    assert [(await a.json())["incidents"][0] for a in again] == [
        {"id": i, "result": "duplicate"} for i in ids
    ]


async def test_a_post_the_script_refuses_does_not_fail_its_neighbours(redis_url: str) -> None:
    from datetime import UTC, datetime

    import redis.asyncio as aioredis
    from redis.exceptions import ResponseError

    from receiver.incidents.codec import Classified, ingest_request
    from receiver.incidents.store import AsyncIncidentStore
    from receiver.sources import SOURCES
    from rules import load_ruleset

    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    store = AsyncIncidentStore(client)
    source = SOURCES["alertmanager"]
    ruleset = load_ruleset(Path(__file__).parents[2] / "rules" / "examples" / "product")

    def args_for(n: int) -> list[str]:
        alerts = source.to_alerts(source.payload.model_validate(json.loads(payload(n))))
        items = [Classified(a, ruleset.classify(a.labels)) for a in alerts]
        return ingest_request(items, "alertmanager", datetime.now(UTC))

    good = [asyncio.ensure_future(store._ingest.submit(args_for(n))) for n in range(3)]
    bad = asyncio.ensure_future(store._ingest.submit(["{not json"]))
    more = [asyncio.ensure_future(store._ingest.submit(args_for(n))) for n in range(3, 6)]
    results = await asyncio.gather(*good, bad, *more, return_exceptions=True)
    await client.aclose()
    assert isinstance(results[3], ResponseError)
    for r in results[:3] + results[4:]:
        assert isinstance(r, list) and r[0]["result"] in ("created", "duplicate"), r
