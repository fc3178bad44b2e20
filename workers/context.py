"""WorkerContext: what a job needs (settings, Redis, store, HTTP client).

Opened for each job inside the process that runs it (after RQ's fork), handed to
the job through a context variable set by ``workers.main.TriagedWorker``.
"""

from __future__ import annotations

import contextvars
import random
from dataclasses import dataclass, field

import httpx
from redis import Redis

from receiver.incidents.sync_store import IncidentStore
from receiver.redisconn import sync_client
from receiver.settings import Settings

_CURRENT: contextvars.ContextVar[WorkerContext] = contextvars.ContextVar("triaged_worker")


@dataclass
class WorkerContext:
    settings: Settings
    redis: Redis
    store: IncidentStore
    raw: Redis  # not decoding: what RQ needs
    http: httpx.Client
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def open(cls, settings: Settings) -> WorkerContext:
        timeouts = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0}
        text = sync_client(settings.redis_url, decode_responses=True, **timeouts)
        raw = sync_client(settings.redis_url, **timeouts)
        return cls(
            settings=settings,
            redis=text,
            store=IncidentStore(text),
            raw=raw,
            http=httpx.Client(trust_env=False, follow_redirects=False),
        )

    def close(self) -> None:
        self.http.close()
        self.redis.close()
        self.raw.close()


def current() -> WorkerContext:
    """The context of the running job (set by TriagedWorker.perform_job)."""
    return _CURRENT.get()


def activate(ctx: WorkerContext) -> contextvars.Token[WorkerContext]:
    return _CURRENT.set(ctx)


def deactivate(token: contextvars.Token[WorkerContext]) -> None:
    _CURRENT.reset(token)
