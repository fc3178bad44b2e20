"""Live reload through the real app and a real Redis: GET /api/v1/rules, POST
/api/v1/rules/reload with a broken then a fixed directory, /health and /metrics
while broken, the file watcher, republishing, and shadow rules."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from receiver.api.app import create_app
from receiver.incidents import keys
from receiver.settings import Settings
from rules import RuleSet, load_ruleset
from tests.integration.conftest import body, checkout_payload
from tests.support.payloads import alertmanager_payload, group_key_for
from workers.main import build_worker

JSON = {"Content-Type": "application/json"}
BROKEN = "rules:\n  - name: broken\n    matchers: ['service =~ \"(\"']\n    severity: SEV-9\n"


@pytest.fixture
def live_worker(settings: Settings, redis_client: redis.Redis) -> Iterator[None]:
    """A registered RQ worker, so that /health can say ok (it counts live workers)."""
    worker = build_worker(settings, simple=True)
    worker.register_birth()
    yield
    worker.register_death()


@pytest.fixture
async def client(
    aiohttp_client: Any, settings: Settings, ruleset: RuleSet, redis_client: redis.Redis
) -> Any:
    # no polling here: these tests reload by API; the watcher has its own test
    app = create_app(settings.model_copy(update={"rules_poll_seconds": 0.0}), ruleset)
    return await aiohttp_client(app)


def _payload(alertname: str, **labels: str) -> dict[str, Any]:
    alert = {
        "labels": {"alertname": alertname, **labels},
        "annotations": {"summary": alertname},
        "startsAt": "2026-11-26T10:00:00Z",
        "status": "firing",
    }
    return alertmanager_payload([alert], group_key=group_key_for({"alertname": alertname}))


async def _decision(client: Any, payload: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/api/v1/alerts/alertmanager", data=body(payload), headers=JSON)
    assert resp.status == 202, await resp.text()
    [incident] = (await resp.json())["incidents"]
    detail = await (await client.get(f"/api/v1/incidents/{incident['id']}")).json()
    return dict(detail["decision"])


async def _metric(client: Any, name: str) -> float:
    text = await (await client.get("/metrics")).text()
    line = next(x for x in text.splitlines() if x.startswith(name + " "))
    return float(line.split()[1])


async def test_get_rules_shows_version_load_time_and_rules(client: Any, ruleset: RuleSet) -> None:
    doc = await (await client.get("/api/v1/rules")).json()
    assert doc["version"] == ruleset.version
    assert doc["last_reload"] == {"at": None, "reason": "start", "ok": True, "errors": []}
    assert [r["name"] for r in doc["rules"]] == ["checkout-down", "warnings"]
    first = doc["rules"][0]
    assert first["severity"] == "SEV-1" and first["source"] == "checkout.yaml #1"
    assert first["matchers"] == ['service="checkout"', 'alertname=~"CheckoutDown|HighErrorRate"']
    assert doc["shadow"] is None


async def test_a_broken_reload_keeps_the_old_rules_paging_until_fixed(
    client: Any, rules_dir: Path, ruleset: RuleSet, live_worker: None
) -> None:
    (rules_dir / "zz-broken.yaml").write_text(BROKEN)
    resp = await client.post("/api/v1/rules/reload")
    assert resp.status == 422
    refused = await resp.json()
    assert refused["version"] == ruleset.version
    where = [e.removeprefix(f"{rules_dir}/").split(": ")[0] for e in refused["errors"]]
    assert where == ["zz-broken.yaml:3:16", "zz-broken.yaml:4:15"]

    health = await client.get("/health")
    assert health.status == 200  # still serving
    doc = await health.json()
    assert doc["status"] == "degraded" and doc["checks"]["rules"] == ruleset.version
    assert doc["checks"]["rules_errors"] == refused["errors"]
    assert await _metric(client, "triaged_rules_last_reload_successful") == 0
    # the old rules still decide, and say so
    old = await _decision(client, checkout_payload())
    assert (old["rule"], old["severity"], old["rules_version"]) == (
        "checkout-down",
        "SEV-1",
        ruleset.version,
    )

    # fixed: the new rule is in, and decisions carry the new version
    (rules_dir / "zz-broken.yaml").write_text(
        "rules:\n  - name: payments\n    matchers: ['service = \"payments\"']\n"
        "    severity: SEV-1\n"
    )
    resp = await client.post("/api/v1/rules/reload")
    assert resp.status == 200
    reloaded = await resp.json()
    assert reloaded["status"] == "reloaded" and reloaded["version"] != ruleset.version
    doc = await (await client.get("/health")).json()
    assert doc["status"] == "ok" and "rules_errors" not in doc["checks"]
    assert doc["checks"]["rules"] == reloaded["version"]
    assert await _metric(client, "triaged_rules_last_reload_successful") == 1
    new = await _decision(client, _payload("PaymentsDown", service="payments"))
    assert (new["rule"], new["rules_version"]) == ("payments", reloaded["version"])
    shown = await (await client.get("/api/v1/rules")).json()
    assert shown["version"] == reloaded["version"]
    assert shown["last_reload"]["ok"] and shown["last_reload"]["reason"].startswith("POST")
    assert "payments" in [r["name"] for r in shown["rules"]]
    again = await (await client.post("/api/v1/rules/reload")).json()
    assert again == {"status": "unchanged", "version": reloaded["version"]}


async def test_reload_needs_the_api_token(
    aiohttp_client: Any, settings: Settings, ruleset: RuleSet, redis_client: redis.Redis
) -> None:
    from pydantic import SecretStr

    guarded = settings.model_copy(update={"api_token": SecretStr("t0ken")})
    client = await aiohttp_client(create_app(guarded, ruleset))
    assert (await client.post("/api/v1/rules/reload")).status == 401
    ok = await client.post("/api/v1/rules/reload", headers={"Authorization": "Bearer t0ken"})
    assert ok.status == 200


async def test_a_reload_republishes_what_workers_read(
    client: Any, rules_dir: Path, redis_client: redis.Redis
) -> None:
    assert redis_client.hlen(keys.silences("files")) == 0
    (rules_dir / "silences.yaml").write_text(
        "silences:\n  - name: checkout-maintenance\n    matchers: ['service = \"checkout\"']\n"
        "    starts_at: '2026-01-01T00:00:00Z'\n    ends_at: '2036-01-01T00:00:00Z'\n"
        "    author: sre\n    comment: maintenance\n"
    )
    (rules_dir / "templates").mkdir()
    (rules_dir / "templates" / "user_status.j2").write_text("We are on it: {{ incident.id }}\n")
    assert (await client.post("/api/v1/rules/reload")).status == 200
    [stored] = redis_client.hvals(keys.silences("files"))
    assert json.loads(stored)["silence"]["comment"] == "maintenance"
    assert redis_client.hget(keys.templates(), "user_status") == "We are on it: {{ incident.id }}\n"


async def test_the_watcher_reloads_a_changed_directory(
    aiohttp_client: Any,
    settings: Settings,
    ruleset: RuleSet,
    rules_dir: Path,
    redis_client: redis.Redis,
) -> None:
    app = create_app(settings.model_copy(update={"rules_poll_seconds": 0.05}), ruleset)
    client = await aiohttp_client(app)
    (rules_dir / "zz-new.yaml").write_text(
        "rules:\n  - name: new\n    matchers: ['alertname = \"New\"']\n    severity: SEV-2\n"
    )
    deadline = time.monotonic() + 10
    while True:
        doc = await (await client.get("/api/v1/rules")).json()
        if doc["version"] != ruleset.version:
            break
        assert time.monotonic() < deadline, "the watcher did not reload within 10 s"
        await asyncio.sleep(0.05)
    assert doc["last_reload"]["reason"] == "file change"
    assert (await _decision(client, _payload("New")))["rule"] == "new"


async def test_shadow_rules_are_recorded_and_counted_never_acted_on(
    aiohttp_client: Any,
    settings: Settings,
    ruleset: RuleSet,
    tmp_path: Path,
    rules_dir: Path,
    redis_client: redis.Redis,
) -> None:
    shadow_dir = tmp_path / "shadow"
    shadow_dir.mkdir()
    for f in rules_dir.glob("*.yaml"):
        (shadow_dir / f.name).write_text(f.read_text())
    text = (shadow_dir / "checkout.yaml").read_text()
    (shadow_dir / "checkout.yaml").write_text(
        text.replace("    severity: SEV-3\n", "    severity: SEV-1\n")  # warnings -> SEV-1
    )
    shadow = load_ruleset(shadow_dir)
    quiet = settings.model_copy(update={"rules_poll_seconds": 0.0})
    client = await aiohttp_client(create_app(quiet, ruleset, shadow=shadow, shadow_dir=shadow_dir))
    agree = await _decision(client, checkout_payload())  # both: checkout-down SEV-1
    differ = await _decision(client, _payload("DiskFilling", severity="warning"))
    await _decision(client, _payload("DiskFilling", severity="warning"))  # re-sent: not again
    # the live rules decided; the shadow's SEV-1 was not acted on
    assert (agree["severity"], differ["severity"]) == ("SEV-1", "SEV-3")
    assert differ["rules_version"] == ruleset.version
    metrics = await (await client.get("/metrics")).text()
    assert "triaged_shadow_alerts_total 2.0" in metrics
    assert 'triaged_shadow_disagreements_total{field="severity"} 1.0' in metrics
    assert 'triaged_shadow_disagreements_total{field="rule"}' not in metrics
    doc = await (await client.get("/api/v1/rules/shadow")).json()
    assert doc["shadow_version"] == shadow.version
    [seen] = doc["disagreements"]
    assert seen["labels"] == {"alertname": "DiskFilling", "severity": "warning"}
    assert seen["differs"] == ["severity"]
    assert (seen["live"]["severity"], seen["shadow"]["severity"]) == ("SEV-3", "SEV-1")
    assert seen["live"]["version"] == ruleset.version
    assert seen["shadow"]["version"] == shadow.version
    rules = await (await client.get("/api/v1/rules")).json()
    assert rules["shadow"] == {
        "directory": str(shadow_dir),
        "version": shadow.version,
        "errors": [],
    }
    bad = await client.get("/api/v1/rules/shadow?limit=0")
    assert bad.status == 400 and (await bad.json())["field"] == "limit"


async def test_errors_on_http_do_not_show_a_webhook_url_path(
    client: Any, rules_dir: Path, live_worker: None
) -> None:
    (rules_dir / "zz-team.yaml").write_text(
        "contacts:\n  team:\n    role: Team\n"
        "    channels: [{webhook: 'htps://hooks.example.com/services/T0/B0/SECRET'}]\n"
    )
    refused = await (await client.post("/api/v1/rules/reload")).json()
    health = await (await client.get("/health")).json()
    shown = await (await client.get("/api/v1/rules")).json()
    for errors in (
        refused["errors"],
        health["checks"]["rules_errors"],
        shown["last_reload"]["errors"],
    ):
        [error] = errors
        assert "zz-team.yaml:4:" in error and "htps://hooks.example.com/…" in error
        assert "SECRET" not in error


def test_the_script_keeps_as_many_disagreements_as_documented() -> None:
    from receiver.incidents import history, scripts

    assert f"local SHADOW_KEPT = {history.SHADOW_KEPT}" in scripts.INGEST
