"""The receiver -> workers contract: queue, work items, job ids, due times, enqueueing.

Nothing here imports ``workers``: jobs are enqueued by dotted name. Every piece of
work is a ``Work`` item with a member name (``page:<id>:<gen>:<cycle>:<step>``) and
a job id (``page-<id>-g<gen>-c<cycle>-s<step>``; RQ allows ``[A-Za-z0-9_-]``).

Due times live in one Redis sorted set (``keys.due()``), scored by Redis ``TIME``,
the one clock of the system. A member leaves it only when its job has done the
work, so a job lost anywhere (worker SIGKILLed, scheduler dead, Redis restarted)
stays visible as overdue, and the reconciler (``workers.reconciler``) re-drives it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer

from receiver.incidents import keys

QUEUE = "triaged"  # pages, escalation steps, deadlines: never behind a probe
PROBES_QUEUE = "triaged-probes"  # diagnosis: may be slow when everything is on fire

# Kept long enough that a late duplicate enqueue (a second receiver, the outbox
# re-drive) finds the job and is refused instead of running it again.
RESULT_TTL = 7 * 24 * 3600
JOB_TIMEOUT = 600


class Kind(StrEnum):
    DIAGNOSE = "diagnose"
    PAGE = "page"
    DEADLINE = "deadline"
    MIRROR = "mirror"  # tell PagerDuty / Opsgenie: acknowledged (cycle 1), resolved (cycle 2)
    DIGEST = "digest"  # the SEV-4 digest due at (generation =) its Unix time; id "all"


FUNCTIONS = {
    Kind.DIAGNOSE: "workers.jobs.diagnose",
    Kind.PAGE: "workers.jobs.page",
    Kind.DEADLINE: "workers.jobs.check_deadline",
    Kind.MIRROR: "workers.jobs.mirror",
    Kind.DIGEST: "workers.jobs.digest",
}
QUEUES = {
    Kind.DIAGNOSE: PROBES_QUEUE,
    Kind.PAGE: QUEUE,
    Kind.DEADLINE: QUEUE,
    Kind.MIRROR: QUEUE,
    Kind.DIGEST: QUEUE,
}
# work that is handed to RQ at once, never kept in the due set
UNSCHEDULED = frozenset({Kind.DIAGNOSE, Kind.MIRROR})
_FOUR_PART = frozenset({Kind.PAGE, Kind.MIRROR})


@dataclass(frozen=True)
class Work:
    """One piece of work on one incident: its due-set member, job id and call."""

    kind: Kind
    incident_id: str
    generation: int
    cycle: int = 0
    step: int = 0

    @property
    def member(self) -> str:
        if self.kind in _FOUR_PART:
            k = self.kind.value
            return f"{k}:{self.incident_id}:{self.generation}:{self.cycle}:{self.step}"
        return f"{self.kind.value}:{self.incident_id}:{self.generation}"

    @property
    def job_id(self) -> str:
        if self.kind in _FOUR_PART:
            k = self.kind.value
            return f"{k}-{self.incident_id}-g{self.generation}-c{self.cycle}-s{self.step}"
        return f"{self.kind.value}-{self.incident_id}-g{self.generation}"

    @property
    def args(self) -> tuple[str | int, ...]:
        if self.kind in _FOUR_PART:
            return (self.incident_id, self.generation, self.cycle, self.step)
        return (self.incident_id, self.generation)

    @classmethod
    def from_member(cls, member: str) -> Work:
        kind, incident_id, generation, *rest = member.split(":")
        cycle, step = (int(rest[0]), int(rest[1])) if rest else (0, 0)
        return cls(Kind(kind), incident_id, int(generation), cycle, step)


def make_queue(connection: Redis, name: str = QUEUE) -> Queue:
    """Return a work queue (JSON serializer: never pickle)."""
    return Queue(name, connection=connection, serializer=JSONSerializer)


def queue_for(connection: Redis, work: Work) -> Queue:
    return make_queue(connection, QUEUES[work.kind])


def redis_time(connection: Redis) -> float:
    """Now, by Redis's clock: every due time is compared with this one."""
    seconds, micros = connection.time()  # type: ignore[misc]
    return float(seconds) + float(micros) / 1e6


def _retry() -> Retry:
    """Every job's RQ retry: for crashes; the work itself is idempotent."""
    return Retry(max=5, interval=[2, 5, 10, 20, 30])


def _options(job_id: str) -> dict[str, object]:
    return {
        "job_id": job_id,
        "unique": True,
        "result_ttl": RESULT_TTL,
        "failure_ttl": RESULT_TTL,
        "retry": _retry(),
    }


def enqueue(connection: Redis, work: Work, job_id: str | None = None) -> bool:
    """Enqueue ``work`` now, on its queue; False when a job with that id exists."""
    try:
        queue_for(connection, work).enqueue_call(
            FUNCTIONS[work.kind],
            args=work.args,
            timeout=JOB_TIMEOUT,
            **_options(job_id or work.job_id),  # type: ignore[arg-type]
        )
    except DuplicateJobError:
        return False
    return True


def schedule(connection: Redis, work: Work, due: float) -> bool:
    """Record ``work`` as due at ``due`` (Redis time) and schedule its job then.

    False when it was already scheduled (the due time is kept as first set).
    """
    if not connection.zadd(keys.due(), {work.member: due}, nx=True):
        return False
    _enqueue_at(connection, work, due)
    return True


def reschedule(connection: Redis, work: Work, due: float, job_id: str) -> None:
    """Move ``work``'s due time to ``due`` and schedule it under a new job id (the
    running job keeps its own)."""
    connection.zadd(keys.due(), {work.member: due}, xx=True)
    _enqueue_at(connection, work, due, job_id)


def _enqueue_at(connection: Redis, work: Work, due: float, job_id: str | None = None) -> None:
    try:
        queue_for(connection, work).enqueue_at(
            datetime.fromtimestamp(due, UTC),
            FUNCTIONS[work.kind],
            *work.args,
            job_timeout=JOB_TIMEOUT,
            **_options(job_id or work.job_id),
        )
    except DuplicateJobError:
        pass


def done(connection: Redis, work: Work) -> None:
    """The work is done (or moot): it is no longer due."""
    connection.zrem(keys.due(), work.member)


def due_at(connection: Redis, work: Work) -> float | None:
    """When ``work`` is due (Redis time), or None when it is done."""
    score = connection.zscore(keys.due(), work.member)
    return float(score) if score is not None else None  # type: ignore[arg-type]


def drain_outbox(connection: Redis, limit: int = 500) -> int:
    """Enqueue (or schedule, when due later) stored work still in the outbox.

    One batch costs three round trips whatever its size: read the entries, read
    their due times, then one MULTI/EXEC that creates every job and removes the
    entries. An entry leaves the outbox only together with its job, so a crash
    anywhere leaves it for the next drain. A second receiver draining the same entry
    at once enqueues the same job id twice; the job is idempotent (due set, lease,
    page claims), so the repeat does nothing. Returns how many entries were handled.
    """
    entries = connection.zrange(keys.outbox(), 0, limit - 1)
    if not entries:
        return 0
    works = [Work.from_member(e.decode() if isinstance(e, bytes) else str(e)) for e in entries]
    with connection.pipeline(transaction=False) as pipe:
        for work in works:
            pipe.zscore(keys.due(), work.member)
        pipe.time()
        *dues, (seconds, micros) = pipe.execute()
    now = float(seconds) + float(micros) / 1e6
    with connection.pipeline(transaction=True) as pipe:
        for work, due in zip(works, dues, strict=True):
            if due is None and work.kind not in UNSCHEDULED:
                continue  # done already
            queue = queue_for(connection, work)
            job = queue.create_job(
                FUNCTIONS[work.kind],
                args=work.args,
                job_id=work.job_id,
                timeout=JOB_TIMEOUT,
                result_ttl=RESULT_TTL,
                failure_ttl=RESULT_TTL,
                retry=_retry(),
            )
            if due is not None and float(due) > now:
                queue.schedule_job(job, datetime.fromtimestamp(float(due), UTC), pipeline=pipe)
            else:
                queue.enqueue_job(job, pipeline=pipe)
        pipe.zrem(keys.outbox(), *entries)
        pipe.execute()
    return len(entries)
