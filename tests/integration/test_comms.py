"""The runbook's communication templates through the real app, Redis and RQ: each
renders for a human to copy; the stakeholder notification goes out with a SEV-1's
first page; a broken template never blocks anything (the built-in text goes, the
failure is recorded and counted)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import redis

from receiver.api.app import create_app
from rules import load_ruleset
from tests.integration.conftest import body, checkout_payload, drained, write_rules
from tests.integration.test_bad_input import metric
from tests.support.page_receiver import PageReceiver
from workers.main import build_worker

JSON = {"Content-Type": "application/json"}


def rules(directory: Path, pages: PageReceiver, broken: bool = False) -> Path:
    write_rules(directory, pages)
    (directory / "stakeholders.yaml").write_text(
        "contacts:\n"
        f"  exec: {{role: Stakeholders, channels: [{{webhook: '{pages.url('/exec')}'}}]}}\n"
        "stakeholders: {severities: [SEV-1], notify: [exec]}\n"
    )
    if broken:
        (directory / "templates").mkdir()
        (directory / "templates" / "stakeholder.j2").write_text("{{ incident.no_such_field }}\n")
    return directory


async def open_incident(client: Any, redis_client: redis.Redis, summary: str) -> str:
    payload = checkout_payload()
    payload["alerts"][0]["annotations"]["summary"] = summary
    resp = await client.post("/api/v1/alerts/alertmanager", data=body(payload), headers=JSON)
    assert resp.status == 202, await resp.text()
    await drained(redis_client)
    return str((await resp.json())["incidents"][0]["id"])


@pytest.mark.parametrize(
    "template", ["internal_status", "user_status", "stakeholder", "post_incident"]
)
async def test_each_template_renders_for_a_human_to_copy(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    pages: PageReceiver,
    redis_client: redis.Redis,
    template: str,
) -> None:
    client = await aiohttp_client(
        create_app(settings, load_ruleset(rules(rules_dir, pages)), os.environ)
    )
    incident_id = await open_incident(client, redis_client, "Checkout down {{ 7*7 }}")
    resp = await client.get(f"/api/v1/incidents/{incident_id}/updates/{template}")
    assert resp.status == 200 and resp.content_type == "text/plain"
    text = await resp.text()
    assert "X-Triaged-Template-Error" not in resp.headers
    assert "{{ 7*7 }}" in text and "down 49" not in text
    missing = await client.get(f"/api/v1/incidents/{incident_id}/updates/press_release")
    assert missing.status == 404


async def test_stakeholders_hear_of_a_sev1_with_its_first_page(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    pages: PageReceiver,
    redis_client: redis.Redis,
) -> None:
    client = await aiohttp_client(
        create_app(settings, load_ruleset(rules(rules_dir, pages)), os.environ)
    )
    incident_id = await open_incident(client, redis_client, "Checkout is down")
    build_worker(settings, simple=True).work(burst=True, with_scheduler=False)
    assert len(pages.requests("/primary")) == 1
    [note] = pages.requests("/exec")
    assert note.json["reason"] == "stakeholder notification"
    assert "Checkout is down" in note.json["message"]
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert "stakeholders_notified" in kinds and "template_failed" not in kinds


async def test_a_broken_template_never_blocks_a_page(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    pages: PageReceiver,
    redis_client: redis.Redis,
) -> None:
    ruleset = load_ruleset(rules(rules_dir, pages, broken=True))
    client = await aiohttp_client(create_app(settings, ruleset, os.environ))
    incident_id = await open_incident(client, redis_client, "Checkout is down")
    build_worker(settings, simple=True).work(burst=True, with_scheduler=False)
    assert len(pages.requests("/primary")) == 1  # the page itself
    [note] = pages.requests("/exec")  # the built-in stakeholder text instead
    assert "Checkout is down" in note.json["message"]
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    [failed] = [e["detail"] for e in detail["timeline"] if e["kind"] == "template_failed"]
    assert failed.startswith("stakeholder.j2:1:")
    resp = await client.get(f"/api/v1/incidents/{incident_id}/updates/stakeholder")
    assert resp.status == 200 and "stakeholder.j2:1" in resp.headers["X-Triaged-Template-Error"]
    assert await metric(client, "triaged_templates_failed_total", template="stakeholder") == 2
