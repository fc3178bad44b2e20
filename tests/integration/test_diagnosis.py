"""Diagnosis in the decision, through the real app, Redis, RQ (in-process burst
workers) and real HTTP targets: a rule regrades on what its probes found; a page
that went out with probes pending is followed by an update once they are in; a
deploy recorded through the API shows in the page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis

from receiver.api.app import create_app
from receiver.incidents import keys
from receiver.jobs import PROBES_QUEUE, Kind, Work, make_queue, redis_time
from rules import load_ruleset
from tests.integration.conftest import body, checkout_payload, drained
from tests.support.page_receiver import PageReceiver
from tests.support.wait import wait_until
from workers.main import build_worker

JSON = {"Content-Type": "application/json"}


def rules(
    directory: Path, pages: PageReceiver, budget: str = "3s", probe_timeout: str = "2s"
) -> Path:
    (directory / "rules.yaml").write_text(
        "severities:\n"
        f"  SEV-1: {{response_time: 15m, page: immediately, diagnosis_budget: {budget}}}\n"
        f"  SEV-2: {{response_time: 1h, page: immediately, diagnosis_budget: {budget}}}\n"
        f"  SEV-3: {{response_time: 4h, page: immediately, diagnosis_budget: {budget}}}\n"
        "contacts:\n"
        + "".join(
            f"  {n}: {{role: {n}, channels: [{{webhook: '{pages.url('/' + n)}'}}]}}\n"
            for n in ("sev1", "sev2", "sev3")
        )
        + "escalation:\n"
        "  SEV-1: [{notify: [sev1]}]\n  SEV-2: [{notify: [sev2]}]\n  SEV-3: [{notify: [sev3]}]\n"
        "probes:\n"
        f"  checkout-health: {{http: {{url: '{pages.url('/health')}', expect_status: 200, "
        f"timeout: {probe_timeout}}}}}\n"
        "  checkout-deploys: {deploys: {window: 1h}}\n"
        "rules:\n"
        "  - name: checkout-down\n"
        "    matchers: ['service = \"checkout\"']\n"
        "    severity: SEV-2\n"
        "    probes: [checkout-health, checkout-deploys]\n"
        "    regrade:\n"
        "      - {when: any_failed, probes: [checkout-health], severity: SEV-1}\n"
        "      - {when: all_ok, probes: [checkout-health], severity: SEV-3}\n"
    )
    return directory


@pytest.fixture
def site() -> Any:
    with PageReceiver() as receiver:
        yield receiver


async def open_incident(client: Any, redis_client: redis.Redis) -> str:
    resp = await client.post(
        "/api/v1/alerts/alertmanager", data=body(checkout_payload()), headers=JSON
    )
    assert resp.status == 202, await resp.text()
    await drained(redis_client)
    return str((await resp.json())["incidents"][0]["id"])


def raw_client(client: redis.Redis) -> redis.Redis:
    """A client of the same Redis that does not decode (what RQ needs)."""
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    return redis.Redis(connection_pool=redis.ConnectionPool(pool.connection_class, **kwargs))


def work(settings: Any, *queues: str, scheduler: bool = False) -> None:
    build_worker(settings, simple=True, queues=queues or ("pages", "probes")).work(
        burst=True, with_scheduler=scheduler
    )


@pytest.mark.parametrize(
    ("health", "severity", "contact"), [(500, "SEV-1", "sev1"), (200, "SEV-3", "sev3")]
)
async def test_the_rule_regrades_on_what_its_probes_found(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    site: PageReceiver,
    redis_client: redis.Redis,
    health: int,
    severity: str,
    contact: str,
) -> None:
    site.respond("/health", health, b"ok" if health == 200 else b"boom")
    client = await aiohttp_client(create_app(settings, load_ruleset(rules(rules_dir, site))))
    incident_id = await open_incident(client, redis_client)
    work(settings)
    [page] = site.requests(f"/{contact}")
    assert page.json["severity"] == severity and page.json["incident_id"] == incident_id
    assert site.requests("/sev2") == []  # the original grade paged nobody
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert detail["severity"] == severity
    [regraded] = [e["detail"] for e in detail["timeline"] if e["kind"] == "severity_regraded"]
    assert regraded.startswith(f"SEV-2 -> {severity}: ") and "checkout-health" in regraded
    lines = {d["name"]: d["outcome"] for d in page.json["diagnosis"]}
    assert lines["checkout-health"] == ("failed" if health == 500 else "ok")


async def test_a_page_sent_with_probes_pending_is_followed_by_an_update(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    site: PageReceiver,
    redis_client: redis.Redis,
) -> None:
    site.respond("/health", 200, b"ok")
    site.hang("/health", 2.5)
    ruleset = load_ruleset(rules(rules_dir, site, budget="1s", probe_timeout="6s"))
    client = await aiohttp_client(create_app(settings, ruleset))
    incident_id = await open_incident(client, redis_client)
    first = Work(Kind.PAGE, incident_id, 1, 0, 0)
    due = redis_client.zscore(keys.due(), first.member)
    assert due is not None
    wait_until(lambda: redis_time(redis_client) >= due, timeout=5, message="budget never ended")
    work(settings, "pages", scheduler=True)  # the budget's end: paged, probes pending
    [paged] = site.requests("/sev2")
    assert {d["name"]: d["outcome"] for d in paged.json["diagnosis"]}[
        "checkout-health"
    ] == "pending"
    started = time.monotonic()
    work(settings, "probes")  # the probes finish late: an update, not a second page
    assert time.monotonic() - started < 6
    first_page, update = site.requests("/sev2")
    assert update.json["reason"] == "diagnosis update"
    assert {d["name"]: d["outcome"] for d in update.json["diagnosis"]}["checkout-health"] == "ok"
    assert update.headers["Idempotency-Key"] != first_page.headers["Idempotency-Key"]
    # a second run of the diagnosis (a retry) owes nobody another update
    make_queue(raw_client(redis_client), PROBES_QUEUE).enqueue_call(
        "workers.jobs.diagnose", args=(incident_id, 1)
    )
    work(settings, "probes")
    assert len(site.requests("/sev2")) == 2
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert "diagnosis_update" in kinds
    # already paged at SEV-2: the all-ok regrade down to SEV-3 is not applied
    assert "regrade_skipped" in kinds and "severity_regraded" not in kinds
    assert detail["severity"] == "SEV-2" and site.requests("/sev3") == []


async def test_a_recorded_deploy_shows_in_the_page(
    aiohttp_client: Any,
    settings: Any,
    rules_dir: Path,
    site: PageReceiver,
    redis_client: redis.Redis,
) -> None:
    site.respond("/health", 200, b"ok")
    client = await aiohttp_client(create_app(settings, load_ruleset(rules(rules_dir, site))))
    deploy = {
        "service": "checkout",
        "version": "v2.3.1",
        "who": "ci",
        "environment": "prod",
        "when": "2026-11-26T09:40:00Z",
        "link": "https://ci.example/run/7",
    }
    resp = await client.post("/api/v1/deploys", json=deploy)
    assert resp.status == 201, await resp.text()
    bad = await client.post("/api/v1/deploys", json={"service": "checkout"})
    assert bad.status == 400 and (await bad.json())["field"] == "version"
    await open_incident(client, redis_client)  # the alert started at 10:00
    work(settings)
    [page] = site.requests("/sev1") + site.requests("/sev2") + site.requests("/sev3")
    deploys = {d["name"]: d for d in page.json["diagnosis"]}["checkout-deploys"]
    assert deploys["outcome"] == "failed" and "v2.3.1 at 09:40 by ci (prod)" in deploys["detail"]
