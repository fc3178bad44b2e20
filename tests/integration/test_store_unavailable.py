"""Redis unreachable (stopped, or frozen by SIGSTOP): alert posts answer 503 with
Retry-After within the sender's patience, never 2xx; what was answered 202 before
survives a Redis restart (append-only file), and intake resumes by itself."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from receiver.api.app import create_app
from receiver.settings import Settings
from receiver.supervisor import EmbeddedRedis
from rules import RuleSet
from tests.integration.conftest import body, checkout_payload

JSON = {"Content-Type": "application/json"}
PATIENCE_S = 5.0  # a 503 must come sooner than this


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own, which the test may stop, restart and freeze."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


@pytest.fixture
async def client(
    own_redis: EmbeddedRedis, aiohttp_client: Any, ruleset: RuleSet
) -> AsyncIterator[Any]:
    """The real app against ``own_redis`` (torn down before it)."""
    yield await aiohttp_client(create_app(Settings(redis_url=own_redis.url), ruleset))


async def post(client: Any, n: int = 0, source: str = "alertmanager") -> tuple[int, Any, float]:
    """POST one alert (``n`` tells alerts apart); return status, answer and seconds taken."""
    if source == "generic":
        data = body({"alerts": [{"labels": {"alertname": "CheckoutDown", "n": str(n)}}]})
    else:
        data = body(checkout_payload(n=str(n)))
    started = time.monotonic()
    resp = await client.post(f"/api/v1/alerts/{source}", data=data, headers=JSON)
    answer = await resp.json()
    return resp.status, (answer, resp.headers), time.monotonic() - started


async def accepted(client: Any, n: int = 0) -> str:
    status, (answer, _), _ = await post(client, n)
    assert status == 202, answer
    return str(answer["incidents"][0]["id"])


def assert_unavailable(status: int, answer: Any, took: float) -> None:
    doc, headers = answer
    assert status == 503, (status, doc)
    assert took < PATIENCE_S, f"503 took {took:.2f}s"
    assert int(headers["Retry-After"]) > 0
    assert doc["error"], doc


async def unavailable_count(client: Any, source: str) -> float:
    text = await (await client.get("/metrics")).text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "triaged_store_unavailable_total" and sample.labels == {
                "source": source
            }:
                return float(sample.value)
    return 0.0


async def test_redis_down_answers_503_then_restart_keeps_what_was_accepted(
    client: Any, own_redis: EmbeddedRedis
) -> None:
    first = await accepted(client)
    before = await unavailable_count(client, "alertmanager")
    own_redis.stop()

    for n, source in enumerate(["alertmanager", "generic", "alertmanager"], start=1):
        assert_unavailable(*await post(client, n, source))
    assert await unavailable_count(client, "alertmanager") == before + 2
    assert (await client.get("/alive")).status == 200
    health = await client.get("/health")
    assert health.status == 503
    assert (await health.json())["checks"]["redis"].startswith("unreachable")
    reads = await client.get(f"/api/v1/incidents/{first}")
    assert reads.status == 503 and (await reads.json())["error"]

    own_redis.start()  # same data dir, same port: the append-only file is replayed
    detail = await client.get(f"/api/v1/incidents/{first}")
    assert detail.status == 200
    doc = await detail.json()
    assert doc["status"] == "open" and doc["timeline"][0]["kind"] == "opened"
    status, (answer, _), _ = await post(client, 99)
    assert status == 202, answer
    assert answer["incidents"] == [{"id": first, "result": "updated"}]
    assert (await client.get("/health")).status == 503  # ready needs a live worker too


async def test_frozen_redis_answers_503_within_patience(
    client: Any, own_redis: EmbeddedRedis
) -> None:
    first = await accepted(client)
    assert own_redis.process is not None
    pid = own_redis.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        # several senders at once: each one waits out the timeout in parallel
        answers = await asyncio.gather(*(post(client, n) for n in range(1, 6)))
        for status, answer, took in answers:
            assert_unavailable(status, answer, took)
        assert time.monotonic() - started < PATIENCE_S
        alive = await client.get("/alive")  # the event loop was never blocked
        assert alive.status == 200
    finally:
        os.kill(pid, signal.SIGCONT)
    status, (answer, _), _ = await post(client, 42)
    assert status == 202, answer
    assert answer["incidents"][0]["id"] == first
