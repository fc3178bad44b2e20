"""run_worker(): an RQ worker (with scheduler) tuned for a pager, not RQ's defaults."""

from __future__ import annotations

import logging
import multiprocessing
import os

from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from receiver.jobs import PROBES_QUEUE, QUEUE, make_queue
from receiver.redisconn import sync_client
from receiver.settings import Settings
from workers.context import WorkerContext, activate, deactivate
from workers.reconciler import run_reconciler


class _ContextMixin:
    """Opens a WorkerContext around every job, in the process that runs the job."""

    triaged_settings: Settings

    def perform_job(self, job: Job, queue: Queue) -> bool:
        ctx = WorkerContext.open(self.triaged_settings)
        token = activate(ctx)
        try:
            return super().perform_job(job, queue)  # type: ignore[misc, no-any-return]
        finally:
            deactivate(token)
            ctx.close()


class TriagedWorker(_ContextMixin, Worker):
    """Forking worker: a job that crashes or hangs cannot take the worker down."""


class TriagedSimpleWorker(_ContextMixin, SimpleWorker):
    """In-process worker, for tests and for hosts where fork is unwanted."""


QUEUE_NAMES = {"pages": QUEUE, "probes": PROBES_QUEUE}


def build_worker(
    settings: Settings, simple: bool = False, queues: tuple[str, ...] = ("pages", "probes")
) -> Worker:
    """A worker whose death is noticed in seconds, not minutes (see field notes).

    ``queues`` are worked in order: pages before probes.
    """
    connection = sync_client(settings.redis_url, socket_connect_timeout=5.0)
    cls = TriagedSimpleWorker if simple else TriagedWorker
    worker = cls(
        [make_queue(connection, QUEUE_NAMES[q]) for q in queues],
        connection=connection,
        serializer=JSONSerializer,
        worker_ttl=settings.worker_ttl,
        maintenance_interval=settings.maintenance_interval,
        job_monitoring_interval=5,
    )
    worker.triaged_settings = settings
    return worker


def run_worker(
    settings: Settings, queues: tuple[str, ...] = ("pages", "probes"), burst: bool = False
) -> bool:
    """Work the queues, run RQ's scheduler and the reconciler, until stopped."""
    worker = build_worker(settings, queues=queues)
    auditor = multiprocessing.get_context("spawn").Process(
        target=run_reconciler,
        args=(settings, os.getpid()),
        name="triaged-reconciler",
        daemon=True,
    )
    auditor.start()
    try:
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level=logging.INFO))
    finally:
        auditor.terminate()
        auditor.join(5)
