"""Silences, from the API and from rule files, through the real app, Redis and RQ:
matching alerts are recorded but page nobody while the silence holds, the timeline
says which silence held them, and the page goes out when it ends."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from receiver.api.app import create_app
from receiver.jobs import Kind, Work, redis_time
from rules import load_ruleset
from tests.integration.conftest import body, checkout_payload, drained, write_rules
from tests.support.page_receiver import PageReceiver
from tests.support.wait import wait_until
from workers.main import build_worker

JSON = {"Content-Type": "application/json"}


def work(settings: Any, scheduler: bool = False) -> None:
    build_worker(settings, simple=True, queues=("pages",)).work(
        burst=True, with_scheduler=scheduler
    )


async def open_incident(client: Any, redis_client: redis.Redis) -> str:
    resp = await client.post(
        "/api/v1/alerts/alertmanager", data=body(checkout_payload()), headers=JSON
    )
    assert resp.status == 202, await resp.text()
    await drained(redis_client)
    return str((await resp.json())["incidents"][0]["id"])


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_an_api_silence_holds_the_page_until_it_ends(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    pages: PageReceiver,
    redis_client: redis.Redis,
) -> None:
    client = await aiohttp_client(
        create_app(settings, load_ruleset(write_rules(rules_dir, pages)), os.environ)
    )
    now = datetime.now(UTC)
    bad = await client.post(
        "/api/v1/silences", json={"name": "x", "matchers": ['service="checkout"']}
    )
    assert bad.status == 400 and (await bad.json())["field"] in ("comment", "author")
    silence = {
        "name": "deploy-window",
        "matchers": ['service = "checkout"'],
        "comment": "checkout deploy",
        "author": "alice",
        "starts_at": iso(now - timedelta(minutes=1)),
        "ends_at": iso(now + timedelta(seconds=3)),
    }
    created = await client.post("/api/v1/silences", json=silence)
    assert created.status == 201, await created.text()
    listed = (await (await client.get("/api/v1/silences")).json())["silences"]
    assert [(s["name"], s["origin"], s["active"]) for s in listed] == [
        ("deploy-window", "api", True)
    ]
    incident_id = await open_incident(client, redis_client)
    build_worker(settings, simple=True).work(
        burst=True, with_scheduler=False
    )  # probes, then the page
    assert pages.requests("/primary") == []
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    [held] = [e["detail"] for e in detail["timeline"] if e["kind"] == "silenced"]
    assert held.startswith("step 0 held by silence deploy-window until ")
    # the silence ends: the held step runs then, and pages
    first = Work(Kind.PAGE, incident_id, 1, 0, 0)
    due = redis_client.zscore("triaged:due", first.member)
    assert due is not None and due <= (now + timedelta(seconds=4)).timestamp()
    wait_until(lambda: redis_time(redis_client) >= due, timeout=10, message="silence never ended")
    work(settings, scheduler=True)
    assert len(pages.requests("/primary")) == 1


async def test_a_rule_file_silence_holds_pages_and_shows_in_the_api(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    pages: PageReceiver,
    redis_client: redis.Redis,
) -> None:
    write_rules(rules_dir, pages)
    now = datetime.now(UTC)
    start, end = (
        (now - timedelta(hours=1)).strftime("%H:%M"),
        (now + timedelta(hours=1)).strftime("%H:%M"),
    )
    (rules_dir / "silences.yaml").write_text(
        "silences:\n"
        "  - name: nightly-maintenance\n"
        "    matchers: ['service = \"checkout\"']\n"
        "    comment: maintenance\n"
        "    author: sre\n"
        "    every: {weekdays: [mon, tue, wed, thu, fri, sat, sun], "
        f"start: '{start}', end: '{end}', timezone: UTC}}\n"
    )
    client = await aiohttp_client(create_app(settings, load_ruleset(rules_dir), os.environ))
    listed = (await (await client.get("/api/v1/silences")).json())["silences"]
    assert [(s["id"], s["origin"], s["active"]) for s in listed] == [
        ("file:nightly-maintenance", "files", True)
    ]
    refused = await client.delete("/api/v1/silences/file:nightly-maintenance")
    assert refused.status == 409
    incident_id = await open_incident(client, redis_client)
    build_worker(settings, simple=True).work(burst=True, with_scheduler=False)
    assert pages.requests("/primary") == []
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert any(
        e["kind"] == "silenced" and "nightly-maintenance" in e["detail"] for e in detail["timeline"]
    )
    # another service is not silenced
    other = checkout_payload(service="payments")
    other["groupKey"] = '{}:{alertname="CheckoutDown", service="payments"}'
    resp = await client.post("/api/v1/alerts/alertmanager", data=body(other), headers=JSON)
    assert resp.status == 202
    payments_id = (await resp.json())["incidents"][0]["id"]
    await drained(redis_client)
    build_worker(settings, simple=True).work(burst=True, with_scheduler=False)
    assert [r.json["incident_id"] for r in pages.requests("/primary")] == [payments_id]


async def test_an_open_sev1_holds_lower_pages_for_the_same_service(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    pages: PageReceiver,
    redis_client: redis.Redis,
) -> None:
    write_rules(rules_dir, pages)
    (rules_dir / "inhibit.yaml").write_text(
        "inhibit:\n"
        "  - source: ['triaged_severity = \"SEV-1\"']\n"
        "    target: ['triaged_severity =~ \"SEV-[234]\"']\n"
        "    equal: [service]\n"
    )
    client = await aiohttp_client(create_app(settings, load_ruleset(rules_dir), os.environ))
    outage_id = await open_incident(client, redis_client)  # CheckoutDown: SEV-1
    build_worker(settings, simple=True).work(burst=True, with_scheduler=False)
    assert [r.json["incident_id"] for r in pages.requests("/primary")] == [outage_id]

    async def warning(service: str) -> str:
        payload = checkout_payload(alertname="SlowQueries", service=service, severity="warning")
        payload["groupKey"] = f'{{}}:{{alertname="SlowQueries", service="{service}"}}'
        resp = await client.post("/api/v1/alerts/alertmanager", data=body(payload), headers=JSON)
        assert resp.status == 202, await resp.text()
        return str((await resp.json())["incidents"][0]["id"])

    held_id = await warning("checkout")  # SEV-3, same service: held
    paged_id = await warning("payments")  # SEV-3, another service: paged
    await drained(redis_client)
    build_worker(settings, simple=True).work(burst=True, with_scheduler=False)
    assert [r.json["incident_id"] for r in pages.requests("/primary")] == [outage_id, paged_id]
    detail = await (await client.get(f"/api/v1/incidents/{held_id}")).json()
    [held] = [e["detail"] for e in detail["timeline"] if e["kind"] == "inhibited"]
    assert f"inhibited by SEV-1 incident {outage_id}" in held
