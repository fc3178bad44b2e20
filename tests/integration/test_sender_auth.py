"""Per-source authentication, rate limits and field mappings, through the real app
and Redis: a refused post stores nothing and says nothing about why it failed."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from receiver.api.app import create_app
from receiver.intake import IntakeConfigError
from receiver.settings import Settings
from rules import load_ruleset
from tests.integration.conftest import body, checkout_payload, write_rules
from tests.integration.test_bad_input import metric
from tests.support.page_receiver import PageReceiver

JSON = {"Content-Type": "application/json"}
SOURCES = """
sources:
  alertmanager:
    auth:
      bearer: {tokens: [{env: TEST_AM_OLD}, {env: TEST_AM_NEW}]}
  generic:
    auth:
      query_token: {param: key, tokens: [{env: TEST_GENERIC_KEY}]}
    rate_limit: {per_second: 0.01, burst: 2}
  my-tool:
    mapping:
      alerts: events
      labels: {alertname: name, service: svc, severity: level}
      status: {path: state, resolved: [ok]}
      fingerprint: [id]
"""
SECRETS = {
    "TEST_AM_OLD": "am-old-token",
    "TEST_AM_NEW": "am-new-token",
    "TEST_GENERIC_KEY": "generic-query-key-1234",
}


@pytest.fixture
async def client(
    aiohttp_client: Any,
    settings: Settings,
    rules_dir: Path,
    pages: PageReceiver,
    redis_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    write_rules(rules_dir, pages)
    (rules_dir / "sources.yaml").write_text(SOURCES)
    return await aiohttp_client(create_app(settings, load_ruleset(rules_dir), os.environ))


async def incidents(client: Any) -> list[dict[str, Any]]:
    return list((await (await client.get("/api/v1/incidents")).json())["incidents"])


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic YW0tbmV3LXRva2Vu"},
        {"Authorization": "Bearer am-new-token-"},
    ],
    ids=["missing", "wrong", "other-scheme", "longer"],
)
async def test_unauthenticated_post_is_401_says_nothing_more_and_stores_nothing(
    client: Any, headers: dict[str, str]
) -> None:
    labels = {"source": "alertmanager", "reason": "unauthorized"}
    counted = await metric(client, "triaged_alerts_rejected_total", **labels)
    resp = await client.post(
        "/api/v1/alerts/alertmanager", data=body(checkout_payload()), headers={**JSON, **headers}
    )
    assert resp.status == 401
    assert await resp.json() == {"error": "authentication failed"}
    assert await metric(client, "triaged_alerts_rejected_total", **labels) == counted + 1
    assert await incidents(client) == []


@pytest.mark.parametrize("token", ["am-old-token", "am-new-token"])
async def test_either_rotated_token_is_accepted(client: Any, token: str) -> None:
    resp = await client.post(
        "/api/v1/alerts/alertmanager",
        data=body(checkout_payload()),
        headers={**JSON, "Authorization": f"Bearer {token}"},
    )
    assert resp.status == 202, await resp.text()
    assert len(await incidents(client)) == 1


async def test_query_token_source_and_its_rate_limit(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alert = {"alerts": [{"labels": {"alertname": "DiskFull", "service": "db"}}]}
    wrong = await client.post("/api/v1/alerts/generic?key=nope", json=alert)
    assert wrong.status == 401
    url = f"/api/v1/alerts/generic?key={SECRETS['TEST_GENERIC_KEY']}"
    answers = [await client.post(url, json=alert) for _ in range(3)]
    assert [a.status for a in answers] == [202, 202, 503]
    over = answers[2]
    assert int(over.headers["Retry-After"]) >= 1
    assert "rate limit" in (await over.json())["error"]
    assert await metric(client, "triaged_alerts_rate_limited_total", source="generic") >= 1
    # the first of the accepted posts opened the incident; the third stored nothing
    [incident] = await incidents(client)
    detail = await (await client.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert len(detail["alerts"]) == 1
    # a query-string secret never reaches the log
    assert SECRETS["TEST_GENERIC_KEY"] not in caplog.text


async def test_mapped_sender_needs_no_code(client: Any) -> None:
    events = {
        "events": [
            {"id": "q-1", "name": "QueueBacklog", "svc": "billing", "level": "high", "state": "on"}
        ]
    }
    resp = await client.post("/api/v1/alerts/my-tool", json=events)
    assert resp.status == 202, await resp.text()
    [incident] = await incidents(client)
    assert incident["labels"] == {"alertname": "QueueBacklog", "service": "billing"}
    events["events"][0]["state"] = "ok"
    resolved = await (await client.post("/api/v1/alerts/my-tool", json=events)).json()
    assert resolved["incidents"] == [{"id": incident["id"], "result": "resolved"}]
    missing = await client.post("/api/v1/alerts/my-tool", json={"events": [{"id": 1}]})
    assert missing.status == 400
    assert (await missing.json())["field"] == "events.0.name"


async def test_a_source_whose_secret_is_missing_stops_the_start(
    settings: Settings, rules_dir: Path, pages: PageReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_AM_NEW", raising=False)
    write_rules(rules_dir, pages)
    (rules_dir / "sources.yaml").write_text(SOURCES)
    with pytest.raises(IntakeConfigError, match="sources.alertmanager.auth: environment variable"):
        create_app(settings, load_ruleset(rules_dir), os.environ)
