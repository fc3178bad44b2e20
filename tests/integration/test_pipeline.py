"""Alert in -> incident stored -> diagnosed -> paged, through the real pieces."""

from __future__ import annotations

from typing import Any

import redis

from receiver.jobs import Kind, Work
from tests.integration.conftest import body, checkout_payload, come_due, drained
from tests.support.page_receiver import PageReceiver

JSON = {"Content-Type": "application/json"}


async def post(client: Any, payload: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/api/v1/alerts/alertmanager", data=body(payload), headers=JSON)
    assert resp.status == 202, await resp.text()
    return await resp.json()


async def test_alert_becomes_incident_visible_at_once(client: Any) -> None:
    answer = await post(client, checkout_payload())
    [created] = answer["incidents"]
    assert created["result"] == "created"
    resp = await client.get(f"/api/v1/incidents/{created['id']}")
    detail = await resp.json()
    assert detail["status"] == "open"
    assert detail["severity"] == "SEV-1"
    assert detail["labels"] == {"alertname": "CheckoutDown"}
    assert detail["decision"]["rule"] == "checkout-down"
    assert [a["labels"]["service"] for a in detail["alerts"]] == ["checkout"]
    assert detail["timeline"][0]["kind"] == "opened"
    listed = await (await client.get("/api/v1/incidents?status=open")).json()
    assert [i["id"] for i in listed["incidents"]] == [created["id"]]


async def test_page_carries_contract_fields_and_diagnosis(
    client: Any, work: Any, pages: PageReceiver, redis_client: redis.Redis
) -> None:
    incident_id = (await post(client, checkout_payload()))["incidents"][0]["id"]
    await drained(redis_client)
    work()
    [page] = pages.requests("/primary")
    assert page.headers["Idempotency-Key"]
    doc = page.json
    assert doc["incident_id"] == incident_id
    assert doc["severity"] == "SEV-1"
    assert doc["summary"] == "Checkout is down"
    assert doc["labels"] == {"alertname": "CheckoutDown"}
    assert doc["escalation_step"] == 0
    assert doc["ack_url"].startswith(f"http://127.0.0.1:9797/ack/{incident_id}/primary-oncall?")
    outcomes = {d["name"]: (d["outcome"], d["detail"]) for d in doc["diagnosis"]}
    assert outcomes["checkout-health"][0] == "ok"
    assert outcomes["checkout-alive"] == ("failed", "HTTP 503: down")
    assert pages.requests("/lead") == []  # step 1 waits its 5m
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.count("probe") == 2 and "page_sent" in kinds
    assert detail["first_page_at"] is not None


async def test_same_payload_100_times_one_incident_one_page(
    client: Any, work: Any, pages: PageReceiver, redis_client: redis.Redis
) -> None:
    first = await post(client, checkout_payload())
    keys_after_first = redis_client.dbsize()
    for _ in range(99):
        again = await post(client, checkout_payload())
        assert again["incidents"] == [{"id": first["incidents"][0]["id"], "result": "duplicate"}]
    await drained(redis_client)
    assert redis_client.dbsize() <= keys_after_first + 8  # rq's queue keys, not per duplicate
    work()
    listed = await (await client.get("/api/v1/incidents")).json()
    assert len(listed["incidents"]) == 1
    assert len(pages.requests("/primary")) == 1
    metrics = await (await client.get("/metrics")).text()  # repeats are counted too
    assert 'triaged_alerts_received_total{source="alertmanager"} 100.0' in metrics


async def test_new_alert_joins_and_more_severe_raises(
    client: Any, work: Any, pages: PageReceiver, redis_client: redis.Redis
) -> None:
    from tests.support.payloads import alertmanager_payload, group_key_for

    key = group_key_for({"alertname": "CheckoutDown"})
    warning = {
        "labels": {"alertname": "CheckoutDown", "severity": "warning"},
        "startsAt": "2026-11-26T09:00:00Z",
    }
    first = await post(client, alertmanager_payload([warning], group_key=key))
    incident_id = first["incidents"][0]["id"]
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert detail["severity"] == "SEV-3"
    await drained(redis_client)
    work()
    assert [r.json["severity"] for r in pages.requests("/primary")] == ["SEV-3"]
    critical = {
        "labels": {"alertname": "CheckoutDown", "service": "checkout"},
        "startsAt": "2026-11-26T09:01:00Z",
    }
    second = await post(client, alertmanager_payload([warning, critical], group_key=key))
    assert second["incidents"] == [{"id": incident_id, "result": "raised"}]
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert detail["severity"] == "SEV-1"
    assert len(detail["alerts"]) == 2
    raised = [e for e in detail["timeline"] if e["kind"] == "severity_raised"]
    assert raised and raised[0]["detail"].startswith("SEV-3 -> SEV-1")
    await drained(redis_client)
    work()
    severities = [r.json["severity"] for r in pages.requests("/primary")]
    assert severities == ["SEV-3", "SEV-1"]  # re-planned: step 0 of SEV-1 pages at once


async def test_all_alerts_resolved_resolves_then_new_firing_opens_new(
    client: Any, redis_client: redis.Redis
) -> None:
    first = (await post(client, checkout_payload()))["incidents"][0]["id"]
    resolved = await post(client, checkout_payload(status="resolved"))
    assert resolved["incidents"] == [{"id": first, "result": "resolved"}]
    detail = await (await client.get(f"/api/v1/incidents/{first}")).json()
    assert detail["status"] == "resolved"
    assert detail["timeline"][-1]["kind"] == "resolved"
    assert "every alert" in detail["timeline"][-1]["detail"]
    # the same resolved notification again: nothing new
    again = await post(client, checkout_payload(status="resolved"))
    assert again["incidents"] == []
    # it fires again (a new startsAt): a new incident
    refire = checkout_payload()
    refire["alerts"][0]["startsAt"] = "2026-11-26T11:00:00Z"
    second = (await post(client, refire))["incidents"][0]
    assert second["result"] == "created" and second["id"] != first


async def test_acknowledged_incident_gets_no_further_step(
    client: Any, work: Any, pages: PageReceiver, queue: Any, redis_client: redis.Redis
) -> None:
    incident_id = (await post(client, checkout_payload()))["incidents"][0]["id"]
    await drained(redis_client)
    work()
    assert len(pages.requests("/primary")) == 1
    resp = await client.post(
        f"/api/v1/incidents/{incident_id}/ack", json={"by": "alice", "note": "looking"}
    )
    assert resp.status == 200
    assert (await resp.json())["acknowledged_by"] == "alice"
    # the step-1 job comes due (run it now instead of waiting 5 minutes)
    come_due(redis_client, queue, Work(Kind.PAGE, incident_id, 1, 0, 1))
    work()
    assert pages.requests("/lead") == []
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    stopped = [e for e in detail["timeline"] if e["kind"] == "escalation_stopped"]
    assert stopped and "acknowledged by alice" in stopped[0]["detail"]


async def test_unacknowledged_step_pages_next_contact(
    client: Any, work: Any, pages: PageReceiver, queue: Any, redis_client: redis.Redis
) -> None:
    incident_id = (await post(client, checkout_payload()))["incidents"][0]["id"]
    await drained(redis_client)
    work()
    scheduled = queue.scheduled_job_registry.get_job_ids()
    assert f"page-{incident_id}-g1-c0-s1" in scheduled
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    [planned] = [e for e in detail["timeline"] if e["kind"] == "escalation_scheduled"]
    assert planned["detail"].startswith("step 1 (engineering-lead) at ")
    come_due(redis_client, queue, Work(Kind.PAGE, incident_id, 1, 0, 1))
    work()
    [lead] = pages.requests("/lead")
    assert lead.json["escalation_step"] == 1
    assert lead.json["contact"] == "engineering-lead"


async def test_deadline_missed_is_recorded_counted_and_escalated(
    client: Any, work: Any, pages: PageReceiver, queue: Any, redis_client: redis.Redis
) -> None:
    incident_id = (await post(client, checkout_payload()))["incidents"][0]["id"]
    await drained(redis_client)
    work()
    assert f"deadline-{incident_id}-g1" in queue.scheduled_job_registry.get_job_ids()
    come_due(redis_client, queue, Work(Kind.DEADLINE, incident_id, 1))
    work()
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert any(e["kind"] == "deadline_missed" for e in detail["timeline"])
    assert [r.json["reason"] for r in pages.requests("/lead")] == ["response deadline missed"]
    metrics = await (await client.get("/metrics")).text()
    assert 'triaged_response_deadlines_missed_total{severity="SEV-1"} 1.0' in metrics
