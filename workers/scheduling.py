"""Scheduled jobs moved to their queues by Redis's clock, not the worker's.

RQ's own scheduler compares scheduled times with the local clock of whichever
worker holds its lock, polls once a second, and leaves an orphan process behind
when its worker is SIGKILLed. This does the same move (RQ's
``RQScheduler.enqueue_scheduled_jobs``, pinned to rq 2.12) from the auditor
process, against Redis ``TIME``, several times a second.
"""

from __future__ import annotations

from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer

from receiver.jobs import PROBES_QUEUE, QUEUE, make_queue


def enqueue_due(raw: Redis, now: float, chunk: int = 1000) -> int:
    """Move every scheduled job whose time (whole seconds, as RQ keeps it) has come
    by ``now`` (Redis time) to its queue; return how many moved. ``raw`` does not
    decode responses. A job that starts a little early waits in the job itself."""
    moved = 0
    for name in (QUEUE, PROBES_QUEUE):
        queue = make_queue(raw, name)
        registry = queue.scheduled_job_registry
        job_ids = registry.get_jobs_to_schedule(int(now), chunk_size=chunk)
        if not job_ids:
            continue
        with raw.pipeline() as pipe:
            jobs = Job.fetch_many(job_ids, connection=raw, serializer=JSONSerializer)
            for job in jobs:
                if job is not None:
                    queue._enqueue_job(job, pipeline=pipe, at_front=job.should_enqueue_at_front())
            for job_id in job_ids:
                registry.remove(job_id, pipeline=pipe)
            pipe.execute()
        moved += len(job_ids)
    return moved
