"""The escalation auditor: overdue work with no live job is re-driven, once; work a
live job holds, or that waits in the queue, is left alone; nothing pages early."""

from __future__ import annotations

from typing import Any

import redis

from receiver.incidents import keys
from receiver.jobs import Kind, Work, redis_time
from tests.integration.conftest import body, checkout_payload, drained
from tests.support.page_receiver import PageReceiver
from workers.reconciler import reconcile

JSON = {"Content-Type": "application/json"}


async def paged_incident(client: Any, work: Any, redis_client: redis.Redis) -> str:
    resp = await client.post(
        "/api/v1/alerts/alertmanager", data=body(checkout_payload()), headers=JSON
    )
    incident_id = str((await resp.json())["incidents"][0]["id"])
    await drained(redis_client)
    work()
    return incident_id


def overdue(redis_client: redis.Redis, work_item: Work, by: float = 30.0) -> None:
    """Move a scheduled item's due time into the past, as if its scheduler had died."""
    due = redis_time(redis_client) - by
    assert redis_client.zadd(keys.due(), {work_item.member: due}, xx=True, ch=True) == 1


async def test_overdue_step_is_redriven_once_and_counted(
    client: Any, work: Any, pages: PageReceiver, queue: Any, redis_client: redis.Redis
) -> None:
    incident_id = await paged_incident(client, work, redis_client)
    step1 = Work(Kind.PAGE, incident_id, 1, 0, 1)
    overdue(redis_client, step1)
    assert reconcile(redis_client, queue.connection) == [step1.member]
    assert reconcile(redis_client, queue.connection) == []  # guarded: one re-drive, not a storm
    work()
    [lead] = pages.requests("/lead")
    assert lead.json["escalation_step"] == 1
    assert redis_client.zscore(keys.due(), step1.member) is None  # done
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    [entry] = [e for e in detail["timeline"] if e["kind"] == "redriven"]
    assert "overdue by 3" in entry["detail"]
    metrics = await (await client.get("/metrics")).text()
    assert 'triaged_escalations_redriven_total{kind="page"} 1.0' in metrics
    # the original scheduled job, should it still run, does nothing
    original = queue.fetch_job(step1.job_id)
    queue.scheduled_job_registry.remove(original)
    queue.enqueue_job(original)
    work()
    assert len(pages.requests("/lead")) == 1


async def test_held_or_queued_work_is_left_alone(
    client: Any, work: Any, queue: Any, redis_client: redis.Redis
) -> None:
    incident_id = await paged_incident(client, work, redis_client)
    step1 = Work(Kind.PAGE, incident_id, 1, 0, 1)
    overdue(redis_client, step1)
    redis_client.set(keys.lease(step1.member), "live-job", ex=15)
    assert reconcile(redis_client, queue.connection) == []
    redis_client.delete(keys.lease(step1.member))
    original = queue.fetch_job(step1.job_id)
    queue.scheduled_job_registry.remove(original)
    queue.enqueue_job(original)  # waiting its turn in a busy queue
    assert reconcile(redis_client, queue.connection) == []


async def test_a_job_started_early_by_a_fast_clock_pages_nobody(
    client: Any, work: Any, pages: PageReceiver, queue: Any, redis_client: redis.Redis
) -> None:
    incident_id = await paged_incident(client, work, redis_client)
    step1 = Work(Kind.PAGE, incident_id, 1, 0, 1)
    original = queue.fetch_job(step1.job_id)
    queue.scheduled_job_registry.remove(original)
    queue.enqueue_job(original)  # what a scheduler whose clock runs 5 min fast does
    work()
    assert pages.requests("/lead") == []
    assert queue.fetch_job(step1.job_id).return_value() == "early"
    due = redis_client.zscore(keys.due(), step1.member)
    assert due is not None and due > redis_time(redis_client) + 200  # still due, later


async def test_a_step_cut_off_mid_way_is_resumed_not_counted_twice(
    client: Any, work: Any, pages: PageReceiver, queue: Any, redis_client: redis.Redis
) -> None:
    incident_id = await paged_incident(client, work, redis_client)
    step1 = Work(Kind.PAGE, incident_id, 1, 0, 1)
    # a worker began step 1 (recorded, counted) and was killed before paging
    redis_client.set(keys.step_started(f"{step1.member}:0"), "1")
    overdue(redis_client, step1)
    assert reconcile(redis_client, queue.connection) == [step1.member]
    work()
    assert len(pages.requests("/lead")) == 1
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.count("escalation_step") == 1  # step 0 only
    assert kinds.count("escalation_step_resumed") == 1
    metrics = await (await client.get("/metrics")).text()
    assert 'triaged_escalation_steps_total{severity="SEV-1"} 1.0' in metrics
