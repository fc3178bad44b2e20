"""The escalation auditor: re-drives work that is overdue and that no live job holds.

RQ alone loses work a pager cannot lose: a job whose worker is SIGKILLed is noticed
only after a heartbeat TTL plus a maintenance interval; a scheduler that dies holds
its lock for about a minute; a Redis restart without AOF loses queued jobs. Every
piece of work is therefore also a member of the due set (``receiver.jobs``), which
a job leaves only when it has done the work. Once a second, one reconciler across
all workers (a Redis lock) looks for members overdue by Redis's clock whose job
holds no lease, and enqueues the work again under a new job id. Page claims and the
due set make a re-drive harmless when the original job turns up after all.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError
from rq.job import JobStatus

from receiver import logsafe, stats
from receiver.incidents import keys
from receiver.incidents.sync_store import IncidentStore
from receiver.jobs import Work, drain_outbox, enqueue, queue_for, redis_time
from receiver.redisconn import sync_client
from receiver.settings import Settings
from workers.lease import LEASE_TTL_S
from workers.scheduling import enqueue_due

log = logging.getLogger("triaged.reconciler")

PERIOD_S = 1.0
# How often due scheduled jobs are moved to their queues.
TICK_S = 0.2
# Overdue by more than this: RQ's scheduler polls once a second and may be late.
GRACE_S = 1.5
# At most one re-drive of one member in this period (a queue backlog is not a loss).
REDRIVE_GUARD_S = 20
_WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED}


def _abandoned(raw: Redis, work: Work, now: float) -> bool:
    """True unless the work's own job is waiting in the queue or running in a live job."""
    job = queue_for(raw, work).fetch_job(work.job_id)
    if job is None:
        return True
    status = job.get_status(refresh=False)
    if status in _WAITING:
        return False
    if status == JobStatus.STARTED and job.started_at is not None:
        started = job.started_at
        started = started if started.tzinfo else started.replace(tzinfo=UTC)
        # a job that has just started may not hold its lease yet
        return now - started.timestamp() > LEASE_TTL_S
    return True  # scheduled but not run (scheduler late or dead), or ended without finishing


def reconcile(redis: Redis, raw: Redis, limit: int = 200) -> list[str]:
    """One pass: re-drive overdue, unheld work. ``redis`` decodes responses, ``raw``
    does not (RQ)."""
    now = redis_time(redis)
    overdue = redis.zrangebyscore(
        keys.due(), "-inf", now - GRACE_S, start=0, num=limit, withscores=True
    )
    store = IncidentStore(redis)
    redriven = []
    for member, due in overdue:  # type: ignore[union-attr]
        work = Work.from_member(str(member))
        if redis.exists(keys.lease(work.member)) or not _abandoned(raw, work, now):
            continue
        # the job may have finished since the overdue list was read: done work is
        # no longer due, and must not be re-driven (nor counted)
        if redis.zscore(keys.due(), work.member) is None or redis.exists(keys.lease(work.member)):
            continue
        if not redis.set(keys.redrive_guard(work.member), "1", nx=True, ex=REDRIVE_GUARD_S):
            continue
        count = int(redis.hincrby(keys.redrive_counts(), work.member, 1))  # type: ignore[arg-type]
        enqueue(raw, work, job_id=f"{work.job_id}-r{count}")
        late = now - float(due)
        store.record(
            work.incident_id,
            "redriven",
            f"{work.kind.value} overdue by {late:.1f}s with no live job "
            "(scheduler late or worker died): re-driven",
            datetime.now(UTC),
            stats=stats.count("triaged_escalations_redriven_total", kind=work.kind.value),
            member=work.member,
        )
        log.warning("re-drove %s, overdue by %.1fs", work.member, late)
        redriven.append(work.member)
    return redriven


def run_auditor(settings: Settings, parent_pid: int) -> None:
    """Until the parent worker process is gone: hand the outbox to RQ as soon as
    ingest wakes it; move due scheduled jobs to their queues every ``TICK_S`` and
    reconcile once a second, one auditor at a time across all workers (a short
    Redis lock; another takes over within a second)."""
    logsafe.setup(logging.INFO, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    timeouts = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0}
    text = sync_client(settings.redis_url, decode_responses=True, **timeouts)
    raw = sync_client(settings.redis_url, **timeouts)
    # unique across hosts and containers (where PIDs repeat); the PID comes first
    token = f"{os.getpid()}@{socket.gethostname()}/{uuid.uuid4().hex[:8]}"
    last_pass = 0.0
    while os.getppid() == parent_pid:
        try:
            lock = keys.reconciler_lock()
            if text.set(lock, token, nx=True, px=1000) or text.get(lock) == token:
                text.pexpire(lock, 1000)
                now = redis_time(raw)
                enqueue_due(raw, now)
                if now - last_pass >= PERIOD_S:
                    reconcile(text, raw)
                    last_pass = now
            drain(raw, token)
            raw.blpop([keys.wake()], timeout=TICK_S)  # woken at once by new work
            drain(raw, token)
        except RedisError as exc:
            log.warning("auditor pass failed, will retry: %s", exc)
            time.sleep(TICK_S)


def drain(raw: Redis, token: str) -> int:
    """Hand the outbox's stored work to RQ, one drainer at a time (any auditor)."""
    if not raw.set(keys.drain_lock(), token, nx=True, px=5000):
        return 0
    try:
        return drain_outbox(raw)
    finally:
        if raw.get(keys.drain_lock()) == token.encode():
            raw.delete(keys.drain_lock())
