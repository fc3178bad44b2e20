"""The receiver -> workers contract: queue, job names (dotted strings), ids, enqueueing.

Nothing here imports ``workers``: jobs are enqueued by name. Job ids use only
``[A-Za-z0-9_-]`` (RQ's rule) and are unique per piece of work, so a repeat
enqueue of the same work is refused by RQ (``unique=True``) while its record lives,
and every job is idempotent besides (pages are claimed per idempotency key).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer

from receiver.incidents import keys

QUEUE = "triaged"
TRIAGE = "workers.jobs.triage"
PAGE = "workers.jobs.page"
DEADLINE = "workers.jobs.check_deadline"

# Kept long enough that a late duplicate enqueue (a second receiver, the outbox
# re-drive) finds the job and is refused instead of running it again.
RESULT_TTL = 7 * 24 * 3600
JOB_TIMEOUT = 600


def make_queue(connection: Redis) -> Queue:
    """Return the work queue (JSON serializer: never pickle)."""
    return Queue(QUEUE, connection=connection, serializer=JSONSerializer)


def triage_job_id(incident_id: str, generation: int) -> str:
    return f"triage-{incident_id}-g{generation}"


def page_job_id(incident_id: str, generation: int, cycle: int, step: int) -> str:
    return f"page-{incident_id}-g{generation}-c{cycle}-s{step}"


def deadline_job_id(incident_id: str, generation: int) -> str:
    return f"deadline-{incident_id}-g{generation}"


def _retry() -> Retry:
    return Retry(max=5, interval=[2, 5, 10, 20, 30])


def enqueue_triage(queue: Queue, incident_id: str, generation: int) -> bool:
    """Enqueue diagnosis + first page; False when that job already exists."""
    try:
        queue.enqueue_call(
            TRIAGE,
            args=(incident_id, generation),
            job_id=triage_job_id(incident_id, generation),
            unique=True,
            result_ttl=RESULT_TTL,
            failure_ttl=RESULT_TTL,
            timeout=JOB_TIMEOUT,
            retry=_retry(),
        )
    except DuplicateJobError:
        return False
    return True


def schedule_page(
    queue: Queue, at: datetime, incident_id: str, generation: int, cycle: int, step: int
) -> bool:
    """Schedule escalation step ``step`` of ``cycle``; False when already scheduled."""
    job_id = page_job_id(incident_id, generation, cycle, step)
    if queue.fetch_job(job_id) is not None:
        return False
    try:
        queue.enqueue_at(
            at,
            PAGE,
            incident_id,
            generation,
            cycle,
            step,
            job_id=job_id,
            unique=True,
            result_ttl=RESULT_TTL,
            failure_ttl=RESULT_TTL,
            job_timeout=JOB_TIMEOUT,
            retry=_retry(),
        )
    except DuplicateJobError:
        return False
    return True


def schedule_deadline(queue: Queue, at: datetime, incident_id: str, generation: int) -> bool:
    """Schedule the response-deadline check; False when already scheduled."""
    job_id = deadline_job_id(incident_id, generation)
    if queue.fetch_job(job_id) is not None:
        return False
    try:
        queue.enqueue_at(
            at,
            DEADLINE,
            incident_id,
            generation,
            job_id=job_id,
            unique=True,
            result_ttl=RESULT_TTL,
            failure_ttl=RESULT_TTL,
            job_timeout=JOB_TIMEOUT,
            retry=_retry(),
        )
    except DuplicateJobError:
        return False
    return True


def drain_outbox(connection: Redis, queue: Queue, older_than: float, limit: int = 500) -> int:
    """Enqueue stored work whose outbox entry is at least ``older_than`` seconds old.

    An entry leaves the outbox only after its job is enqueued (or known to exist),
    so a crash anywhere in between leaves it for the next drain. Returns how many
    entries were handled.
    """
    cutoff = datetime.now().timestamp() - older_than
    entries = connection.zrangebyscore(keys.outbox(), "-inf", cutoff, start=0, num=limit)
    for entry in entries:
        text = entry.decode() if isinstance(entry, bytes) else str(entry)
        kind, incident_id, generation = text.split(":")
        if kind == "triage":
            enqueue_triage(queue, incident_id, int(generation))
        connection.zrem(keys.outbox(), entry)
    return len(entries)


def in_seconds(seconds: float) -> datetime:
    """Return an aware UTC datetime ``seconds`` from now (for enqueue_at)."""
    from datetime import UTC

    return datetime.now(UTC) + timedelta(seconds=seconds)
