"""run_worker(): an RQ worker tuned for a pager, not RQ's defaults, with its auditor."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Mapping
from multiprocessing.process import BaseProcess

from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.serializers import JSONSerializer

# The jobs' module, imported here so that every forked job starts with it loaded
# (RQ imports a job's function by name; in a fresh fork that costs ~100 ms).
import workers.jobs  # noqa: F401
from receiver.jobs import PROBES_QUEUE, QUEUE, make_queue
from receiver.redisconn import sync_client
from receiver.settings import Settings
from workers.context import WorkerContext, activate, deactivate, warm_up
from workers.reconciler import run_auditor

log = logging.getLogger(__name__)


class _ContextMixin:
    """Opens a WorkerContext around every job, in the process that runs the job, and
    keeps the auditor process (workers.reconciler.run_auditor) alive beside it."""

    triaged_settings: Settings
    triaged_environ: Mapping[str, str] = {}
    auditor: BaseProcess | None = None
    with_auditor: bool = False  # run_worker turns it on; in-process test workers run none
    # An in-process worker may keep one context (its Redis and HTTP connections) for
    # every job; a forked job must open its own after the fork.
    keep_context: bool = False
    kept: WorkerContext | None = None

    def perform_job(self, job: Job, queue: Queue) -> bool:
        if self.keep_context:
            if self.kept is None:
                self.kept = WorkerContext.open(self.triaged_settings, self.triaged_environ)
            ctx = self.kept
        else:
            ctx = WorkerContext.open(self.triaged_settings, self.triaged_environ)
        token = activate(ctx)
        try:
            return super().perform_job(job, queue)  # type: ignore[misc, no-any-return]
        finally:
            deactivate(token)
            if ctx is not self.kept:
                ctx.close()

    def close_context(self) -> None:
        if self.kept is not None:
            self.kept.close()
            self.kept = None

    def run_maintenance_tasks(self) -> None:
        self.ensure_auditor()
        super().run_maintenance_tasks()  # type: ignore[misc]

    def ensure_auditor(self) -> None:
        """Start the auditor, or start it again if it died."""
        if not self.with_auditor or (self.auditor is not None and self.auditor.is_alive()):
            return
        if self.auditor is not None:
            log.warning("auditor process exited with %s; restarting", self.auditor.exitcode)
        self.auditor = multiprocessing.get_context("spawn").Process(
            target=run_auditor,
            args=(self.triaged_settings, os.getpid()),
            name="triaged-auditor",
            daemon=True,
        )
        self.auditor.start()

    def stop_auditor(self) -> None:
        if self.auditor is not None and self.auditor.is_alive():
            self.auditor.terminate()
            self.auditor.join(5)


class TriagedWorker(_ContextMixin, Worker):
    """Forking worker: a job that crashes or hangs cannot take the worker down."""


class TriagedSimpleWorker(_ContextMixin, SimpleWorker):
    """In-process worker: no fork per job (~10 ms and fresh connections saved), for the
    probes queue, for tests and for hosts where fork is unwanted. A job that crashes
    the process takes the worker with it; the supervisor starts it again, and the
    first page never depends on a diagnose job (see workers.jobs)."""


QUEUE_NAMES = {"pages": QUEUE, "probes": PROBES_QUEUE}


def forks_by_default(queues: tuple[str, ...]) -> bool:
    """Pages run in forked work horses (a crash or hang cannot take the worker down,
    and a page's sender is isolated); a worker serving only probes runs them in
    process: the probes' diagnosis sends the first page, and no fork saves ~10-25 ms of
    it. A probe job that kills its process loses nothing: the page is also due on the
    pages queue at the diagnosis budget's end."""
    return tuple(queues) != ("probes",)


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
    settings: Settings,
    queues: tuple[str, ...] = ("pages", "probes"),
    burst: bool = False,
    fork: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Work the queues, with the auditor (scheduled jobs by Redis time, reconciler)
    beside, until stopped. RQ's own scheduler is not used: see workers.scheduling.
    ``fork`` None: see forks_by_default."""
    if fork is None:
        fork = forks_by_default(queues)
    warm_up()  # loaded here, inherited by every forked job
    worker = build_worker(settings, simple=not fork, queues=queues)
    worker.with_auditor = True  # type: ignore[attr-defined]
    worker.keep_context = not fork  # type: ignore[attr-defined]
    worker.triaged_environ = dict(environ or {})  # type: ignore[attr-defined]
    worker.ensure_auditor()  # type: ignore[attr-defined]
    try:
        return bool(worker.work(burst=burst, with_scheduler=False, logging_level=logging.INFO))
    finally:
        worker.stop_auditor()  # type: ignore[attr-defined]
        worker.close_context()  # type: ignore[attr-defined]
