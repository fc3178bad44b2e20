"""Channels through the real app, Redis and RQ, against real local endpoints: a
contact's channels are tried in order (a refusing or failing channel hands the page
to the next, and the timeline says so), log channels always write, and PagerDuty
hears when the incident is acknowledged here."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis

from receiver.api.app import create_app
from rules import load_ruleset
from tests.integration.conftest import body, checkout_payload, drained
from tests.support.page_receiver import PageReceiver
from workers.main import build_worker

JSON = {"Content-Type": "application/json"}


def rules(directory: Path, site: PageReceiver, channels: str, next_after: str = "10s") -> Path:
    (directory / "rules.yaml").write_text(
        "default_severity: SEV-1\n"
        "severities: {SEV-1: {response_time: 1h, page: immediately}}\n"
        "contacts:\n"
        f"  alice: {{role: Primary, channels: [{channels}]}}\n"
        f"  lead: {{role: Lead, channels: [{{webhook: '{site.url('/lead')}'}}]}}\n"
        "escalation:\n"
        f"  SEV-1: [{{notify: [alice]}}, {{after: {next_after}, notify: [lead]}}]\n"
    )
    return directory


@pytest.fixture
def site() -> Any:
    with PageReceiver() as receiver:
        yield receiver


ENV = {"SLACK_URL": "", "PD_KEY": "pd-routing-key-123"}


async def start(
    aiohttp_client: Any, settings: Any, directory: Path, redis_client: redis.Redis
) -> tuple[Any, str]:
    client = await aiohttp_client(create_app(settings, load_ruleset(directory), {}))
    resp = await client.post(
        "/api/v1/alerts/alertmanager", data=body(checkout_payload()), headers=JSON
    )
    assert resp.status == 202, await resp.text()
    await drained(redis_client)
    return client, str((await resp.json())["incidents"][0]["id"])


def work(settings: Any, environ: dict[str, str]) -> None:
    worker = build_worker(settings, simple=True)
    worker.triaged_environ = environ  # type: ignore[attr-defined]
    worker.work(burst=True, with_scheduler=False)


async def timeline(client: Any, incident_id: str) -> list[dict[str, Any]]:
    return list((await (await client.get(f"/api/v1/incidents/{incident_id}")).json())["timeline"])


async def test_a_refusing_channel_hands_the_page_to_the_next(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    site: PageReceiver,
    redis_client: redis.Redis,
) -> None:
    site.respond("/bad", 400, b"no such hook")
    site.respond("/slack", 200, b"ok")
    channels = (
        f"{{log: {{}}}}, {{webhook: '{site.url('/bad')}'}}, {{slack: {{url_env: SLACK_URL}}}}"
    )
    client, incident_id = await start(
        aiohttp_client, settings, rules(rules_dir, site, channels), redis_client
    )
    work(settings, {**ENV, "SLACK_URL": site.url("/slack")})
    assert len(site.requests("/bad")) == 1  # a 4xx is not retried
    [slack] = site.requests("/slack")
    assert "blocks" in slack.json and incident_id in slack.body.decode()
    entries = [(e["kind"], e["detail"]) for e in await timeline(client, incident_id)]
    assert ("page_sent", "alice via log: logged") in entries
    failed = [d for k, d in entries if k == "page_failed"]
    assert len(failed) == 1 and "handing the page to slack" in failed[0]
    assert any(k == "page_sent" and "via slack" in d for k, d in entries)


async def test_a_channel_still_failing_at_the_end_of_its_share_hands_over(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    site: PageReceiver,
    redis_client: redis.Redis,
) -> None:
    site.respond("/down", 503, b"busy")
    site.respond("/ok", 202)
    channels = f"{{webhook: '{site.url('/down')}'}}, {{webhook: '{site.url('/ok')}'}}"
    client, incident_id = await start(
        aiohttp_client, settings, rules(rules_dir, site, channels), redis_client
    )
    started = time.monotonic()
    work(settings, ENV)
    took = time.monotonic() - started
    assert len(site.requests("/down")) >= 2  # retried within its share...
    assert len(site.requests("/ok")) == 1  # ...then the next channel got the page
    assert took < 10  # half of the 10 s step budget, not all of it
    failed = [
        e["detail"] for e in await timeline(client, incident_id) if e["kind"] == "page_failed"
    ]
    assert (
        len(failed) == 1
        and "retries spent" in failed[0]
        and "handing the page to webhook" in failed[0]
    )


async def test_pagerduty_is_triggered_once_and_told_of_the_acknowledgement(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    site: PageReceiver,
    redis_client: redis.Redis,
) -> None:
    site.respond("/pd", 202, {"status": "success", "message": "Event processed", "dedup_key": "x"})
    channels = f"{{pagerduty: {{routing_key_env: PD_KEY, url: '{site.url('/pd')}'}}}}"
    client, incident_id = await start(
        aiohttp_client, settings, rules(rules_dir, site, channels), redis_client
    )
    work(settings, ENV)
    [trigger] = site.requests("/pd")
    assert trigger.json["event_action"] == "trigger" and trigger.json["dedup_key"] == incident_id
    assert trigger.json["routing_key"] == "pd-routing-key-123"
    resp = await client.post(f"/api/v1/incidents/{incident_id}/ack", json={"by": "alice"})
    assert resp.status == 200, await resp.text()
    await drained(redis_client)
    work(settings, ENV)
    trigger_again, ack = site.requests("/pd")
    assert ack.json["event_action"] == "acknowledge" and ack.json["dedup_key"] == incident_id
    resp = await client.post(f"/api/v1/incidents/{incident_id}/resolve", json={"by": "alice"})
    assert resp.status == 200
    await drained(redis_client)
    work(settings, ENV)
    assert [r.json["event_action"] for r in site.requests("/pd")] == [
        "trigger",
        "acknowledge",
        "resolve",
    ]
    kinds = [e["kind"] for e in await timeline(client, incident_id)]
    assert kinds.count("mirrored") == 2
