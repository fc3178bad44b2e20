"""In-process pipeline: the real app (aiohttp test client), real Redis, real RQ
SimpleWorker in burst mode, a real HTTP page receiver and probe target on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import SecretStr

from receiver.api.app import create_app
from receiver.jobs import drain_outbox, make_queue
from receiver.settings import Settings
from rules import RuleSet, load_ruleset
from tests.support.page_receiver import PageReceiver
from tests.support.payloads import alertmanager_payload, group_key_for
from workers.main import build_worker

STARTS = "2026-11-26T10:00:00Z"


def write_rules(
    directory: Path,
    pages: PageReceiver,
    *,
    lead_after: str = "5m",
    sev1_budget: str | None = None,
    probe_timeout: str = "2s",
) -> Path:
    """A rules set whose contacts page ``pages`` and whose probes hit it too."""
    budget = f", diagnosis_budget: {sev1_budget}" if sev1_budget else ""
    (directory / "severities.yaml").write_text(
        "severities:\n"
        f"  SEV-1: {{response_time: 15m, page: immediately{budget}}}\n"
        "  SEV-2: {response_time: 1h, page: immediately}\n"
        "  SEV-3: {response_time: 4h, page: immediately}\n"
        "  SEV-4: {response_time: next_sprint, page: never}\n"
        "default_severity: SEV-3\n"
    )
    (directory / "contacts.yaml").write_text(
        "contacts:\n"
        "  primary-oncall:\n"
        "    role: Primary on-call engineer\n"
        f"    channels: [{{webhook: '{pages.url('/primary')}'}}]\n"
        "  engineering-lead:\n"
        "    role: Engineering lead\n"
        f"    channels: [{{webhook: '{pages.url('/lead')}'}}]\n"
        "escalation:\n"
        "  SEV-1:\n"
        "    - notify: [primary-oncall]\n"
        f"    - after: {lead_after}\n"
        "      notify: [engineering-lead]\n"
        "  SEV-3:\n"
        "    - notify: [primary-oncall]\n"
    )
    (directory / "checkout.yaml").write_text(
        "probes:\n"
        "  checkout-health:\n"
        f"    http: {{url: '{pages.url('/health')}', expect_status: 200, "
        f"timeout: {probe_timeout}}}\n"
        "  checkout-alive:\n"
        f"    http: {{url: '{pages.url('/alive')}', timeout: {probe_timeout}}}\n"
        "rules:\n"
        "  - name: checkout-down\n"
        "    matchers: ['service = \"checkout\"', 'alertname =~ \"CheckoutDown|HighErrorRate\"']\n"
        "    severity: SEV-1\n"
        "    probes: [checkout-health, checkout-alive]\n"
        "  - name: warnings\n"
        "    matchers: ['severity = \"warning\"']\n"
        "    severity: SEV-3\n"
    )
    return directory


def checkout_payload(status: str = "firing", **extra_labels: str) -> dict[str, Any]:
    labels = {"alertname": "CheckoutDown", "service": "checkout", **extra_labels}
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {"summary": "Checkout is down"},
        "startsAt": STARTS,
        "status": status,
    }
    if status == "resolved":
        alert["endsAt"] = "2026-11-26T10:30:00Z"
    return alertmanager_payload([alert], group_key=group_key_for({"alertname": "CheckoutDown"}))


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


@pytest.fixture
def pages() -> Iterator[PageReceiver]:
    with PageReceiver() as receiver:
        receiver.respond("/health", status=200, body=b'{"status":"ok"}')
        receiver.respond("/alive", status=503, body=b"down")
        yield receiver


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return Settings(
        redis_url=redis_url, ack_key=SecretStr("test-ack-key"), public_url="http://127.0.0.1:9797"
    )


@pytest.fixture
def ruleset(rules_dir: Path, pages: PageReceiver) -> RuleSet:
    return load_ruleset(write_rules(rules_dir, pages))


@pytest.fixture
async def client(
    aiohttp_client: Any, settings: Settings, ruleset: RuleSet, redis_client: redis.Redis
) -> Any:
    return await aiohttp_client(create_app(settings, ruleset))


@pytest.fixture
def work(settings: Settings, redis_client: redis.Redis) -> Callable[[], None]:
    """Run every queued job to completion in this process (RQ SimpleWorker, burst)."""

    def run() -> None:
        build_worker(settings, simple=True).work(burst=True, with_scheduler=False)

    return run


@pytest.fixture
def queue(redis_url: str, redis_client: redis.Redis) -> Any:
    return make_queue(redis.Redis.from_url(redis_url))


async def drained(redis_client: redis.Redis, timeout: float = 5.0) -> None:
    """Hand the stored work to RQ, as a worker's auditor does when ingest wakes it
    (these in-process tests run no auditor)."""
    pool = redis_client.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    raw = redis.Redis(connection_pool=redis.ConnectionPool(pool.connection_class, **kwargs))
    drain_outbox(raw)
    raw.close()
    assert redis_client.zcard("triaged:outbox") == 0
    assert redis_client.llen("triaged:wake") <= 1


def come_due(redis_client: redis.Redis, queue: Any, work: Any) -> None:
    """Let scheduled ``work`` come due now: its due time moves to the past and its job
    leaves the scheduled registry for the queue (what time and RQ's scheduler do)."""
    assert redis_client.zadd("triaged:due", {work.member: 0}, xx=True, ch=True) == 1
    job = queue.fetch_job(work.job_id)
    queue.scheduled_job_registry.remove(job)
    queue.enqueue_job(job)
