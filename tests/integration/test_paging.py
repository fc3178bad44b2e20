"""Page delivery through real channels: retries, refusals, the diagnosis budget, and
the outbox that survives a crash between storing and enqueueing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families

from receiver.incidents import keys
from receiver.jobs import PROBES_QUEUE, Kind, Work, make_queue, redis_time
from rules import load_ruleset
from tests.integration.conftest import body, checkout_payload, drained, write_rules
from tests.support.page_receiver import PageReceiver
from tests.support.wait import wait_until

JSON = {"Content-Type": "application/json"}


async def open_incident(client: Any, redis_client: redis.Redis) -> str:
    resp = await client.post(
        "/api/v1/alerts/alertmanager", data=body(checkout_payload()), headers=JSON
    )
    assert resp.status == 202
    await drained(redis_client)
    return str((await resp.json())["incidents"][0]["id"])


async def metric(client: Any, name: str, **labels: str) -> float:
    text = await (await client.get("/metrics")).text()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


async def timeline(client: Any, incident_id: str) -> list[dict[str, Any]]:
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    return list(detail["timeline"])


async def test_5xx_and_429_are_retried_with_the_same_idempotency_key(
    client: Any, work: Any, pages: PageReceiver, redis_client: redis.Redis
) -> None:
    pages.respond_sequence("/primary", [503, 429, 500, 202])
    incident_id = await open_incident(client, redis_client)
    work()
    attempts = pages.requests("/primary")
    assert [r.status for r in attempts] == [503, 429, 500, 202]
    assert len({r.headers["Idempotency-Key"] for r in attempts}) == 1
    assert await metric(client, "triaged_pages_total", channel="webhook", outcome="retried") == 3
    assert await metric(client, "triaged_pages_total", channel="webhook", outcome="sent") == 1
    sent = [e for e in await timeline(client, incident_id) if e["kind"] == "page_sent"]
    assert sent and sent[0]["attempts"] == 4


async def test_4xx_is_not_retried_and_is_recorded_as_misconfigured(
    client: Any, work: Any, pages: PageReceiver, redis_client: redis.Redis
) -> None:
    pages.respond("/primary", status=400, body=b"bad webhook")
    incident_id = await open_incident(client, redis_client)
    work()
    assert len(pages.requests("/primary")) == 1
    [failed] = [e for e in await timeline(client, incident_id) if e["kind"] == "page_failed"]
    assert "misconfigured" in failed["detail"] and "HTTP 400" in failed["detail"]
    assert await metric(client, "triaged_pages_total", channel="webhook", outcome="failed") == 1
    assert await metric(client, "triaged_pages_misconfigured_total", channel="webhook") == 1


async def test_a_rerun_of_the_page_job_does_not_page_twice(
    client: Any, work: Any, pages: PageReceiver, queue: Any, redis_client: redis.Redis
) -> None:
    incident_id = await open_incident(client, redis_client)
    work()
    # duplicate runs of every job the incident had
    queue.enqueue_call("workers.jobs.page", args=(incident_id, 1, 0, 0))
    make_queue(queue.connection, PROBES_QUEUE).enqueue_call(
        "workers.jobs.diagnose", args=(incident_id, 1)
    )
    work()
    assert len(pages.requests("/primary")) == 1


async def test_slow_probe_does_not_hold_the_page_past_the_budget(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    pages: PageReceiver,
    redis_client: redis.Redis,
) -> None:
    from receiver.api.app import create_app
    from workers.main import build_worker

    ruleset = load_ruleset(write_rules(rules_dir, pages, sev1_budget="1s", probe_timeout="8s"))
    client = await aiohttp_client(create_app(settings, ruleset))
    pages.hang("/health", 4)
    posted = time.monotonic()
    incident_id = await open_incident(client, redis_client)
    first = Work(Kind.PAGE, incident_id, 1, 0, 0)
    due = redis_client.zscore(keys.due(), first.member)
    assert due is not None
    # the probe worker is busy with the hanging probe; the budget runs out
    wait_until(lambda: redis_time(redis_client) >= due, timeout=5, message="budget never ended")
    pages_only = build_worker(settings, simple=True, queues=("pages",))
    pages_only.work(burst=True, with_scheduler=True)
    [page] = pages.requests("/primary")
    health = {d["name"]: d for d in page.json["diagnosis"]}["checkout-health"]
    assert health["outcome"] == "pending"
    assert "1s diagnosis budget" in health["detail"]
    assert page.at - posted < 3  # paged at the budget's end, not after the probe


CRASH_AFTER_STORE = """
import asyncio, os, signal, sys
from datetime import UTC, datetime
import redis.asyncio as aioredis
from receiver.incidents.store import AsyncIncidentStore
from receiver.ingest import ingest
from receiver.sources import SOURCES
from receiver.incidents import keys
from receiver.jobs import PROBES_QUEUE, Kind, Work, make_queue, redis_time
from rules import load_ruleset

async def main():
    store = AsyncIncidentStore(aioredis.Redis.from_url(sys.argv[1], decode_responses=True))
    with open(sys.argv[3], "rb") as f:
        payload = f.read()
    outcome = await ingest(SOURCES["alertmanager"], payload, ruleset=load_ruleset(sys.argv[2]),
                           store=store, now=datetime.now(UTC))
    print(outcome.groups[0].incident_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # stored; the enqueue never happens

asyncio.run(main())
"""


async def test_crash_between_store_and_enqueue_loses_nothing(
    aiohttp_client: Any,
    settings: Any,
    redis_url: str,
    rules_dir: Path,
    pages: PageReceiver,
    work: Any,
    queue: Any,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    from receiver.api.app import create_app

    write_rules(rules_dir, pages)
    payload_file = tmp_path / "payload.json"
    payload_file.write_bytes(body(checkout_payload()))
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_STORE, redis_url, str(rules_dir), str(payload_file)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert crashed.returncode == -9, crashed.stderr
    incident_id = crashed.stdout.strip()
    # stored: the diagnosis and the first page, neither enqueued
    assert redis_client.zcard("triaged:outbox") == 2 and queue.count == 0
    # an auditor finds the stored work and enqueues it
    client = await aiohttp_client(create_app(settings, load_ruleset(rules_dir)))
    await drained(redis_client)
    assert make_queue(queue.connection, PROBES_QUEUE).count == 1  # diagnose
    work()
    [page] = pages.requests("/primary")
    assert page.json["incident_id"] == incident_id
    assert (await client.get("/alive")).status == 200


async def test_over_the_concurrency_limit_sheds_with_503_and_retry_after(
    aiohttp_client: Any, redis_url: str, ruleset: Any, redis_client: redis.Redis
) -> None:
    from pydantic import SecretStr

    from receiver.api.app import create_app
    from receiver.settings import Settings

    full = Settings(redis_url=redis_url, ack_key=SecretStr("k"), max_inflight=0)
    client = await aiohttp_client(create_app(full, ruleset))
    resp = await client.post(
        "/api/v1/alerts/alertmanager", data=body(checkout_payload()), headers=JSON
    )
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert "concurrency limit" in (await resp.json())["error"]
    assert redis_client.zcard(keys.incident_index()) == 0  # nothing half-accepted


async def test_in_process_probe_worker_pages_from_one_kept_context(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    pages: PageReceiver,
    redis_client: redis.Redis,
    monkeypatch: Any,
) -> None:
    """A probes-only worker runs in process (``forks_by_default``) and keeps one
    context, its Redis and HTTP connections, for every job: each incident's first page
    still goes out from its diagnosis, with the probes' results."""
    from receiver.api.app import create_app
    from workers.context import WorkerContext
    from workers.main import build_worker, forks_by_default

    assert not forks_by_default(("probes",))
    assert forks_by_default(("pages",)) and forks_by_default(("pages", "probes"))
    opened: list[WorkerContext] = []
    real_open = WorkerContext.open.__func__  # type: ignore[attr-defined]

    def counting_open(cls: type[WorkerContext], *args: Any) -> WorkerContext:
        ctx: WorkerContext = real_open(cls, *args)
        opened.append(ctx)
        return ctx

    monkeypatch.setattr(WorkerContext, "open", classmethod(counting_open))
    client = await aiohttp_client(create_app(settings, load_ruleset(write_rules(rules_dir, pages))))
    ids = []
    for n in range(2):  # two groups: two incidents, two diagnose jobs
        payload = checkout_payload(instance=f"checkout-{n}")
        payload["groupKey"] = f'{{}}:{{alertname="CheckoutDown", n="{n}"}}'
        resp = await client.post("/api/v1/alerts/alertmanager", data=body(payload), headers=JSON)
        assert resp.status == 202
        ids.append((await resp.json())["incidents"][0]["id"])
    assert len(set(ids)) == 2
    await drained(redis_client)
    probes = build_worker(settings, simple=True, queues=("probes",))
    probes.keep_context = True  # type: ignore[attr-defined]
    try:
        probes.work(burst=True, with_scheduler=False)
    finally:
        probes.close_context()  # type: ignore[attr-defined]
    assert len(opened) == 1, "one context for every job of the in-process worker"
    sent = pages.requests("/primary")
    assert sorted(r.json["incident_id"] for r in sent) == sorted(ids)
    for r in sent:
        assert {d["name"]: d["outcome"] for d in r.json["diagnosis"]} == {
            "checkout-health": "ok",
            "checkout-alive": "failed",
        }
