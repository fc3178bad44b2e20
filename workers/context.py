"""WorkerContext: what a job needs (settings, Redis, store, HTTP client).

Opened for each job inside the process that runs it (after RQ's fork), handed to
the job through a context variable set by ``workers.main.TriagedWorker``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import random
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from redis import Redis

from receiver.incidents.sync_store import IncidentStore
from receiver.redisconn import sync_client
from receiver.settings import Settings

_CURRENT: contextvars.ContextVar[WorkerContext] = contextvars.ContextVar("triaged_worker")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The certificate store, loaded once per worker process (before RQ forks a job:
    loading it costs 15-35 ms, which every page would otherwise pay)."""
    return httpx.create_ssl_context()


@dataclass
class WorkerContext:
    settings: Settings
    redis: Redis
    store: IncidentStore
    raw: Redis  # not decoding: what RQ needs
    http: httpx.Client
    rng: random.Random = field(default_factory=random.Random)
    # the worker's environment (probes name credentials by variable): given by the CLI
    environ: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> WorkerContext:
        timeouts = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0}
        text = sync_client(settings.redis_url, decode_responses=True, **timeouts)
        raw = sync_client(settings.redis_url, **timeouts)
        return cls(
            settings=settings,
            redis=text,
            store=IncidentStore(text),
            raw=raw,
            http=httpx.Client(trust_env=False, follow_redirects=False, verify=tls_context()),
            environ=dict(environ or {}),
        )

    def close(self) -> None:
        self.http.close()
        self.redis.close()
        self.raw.close()


def warm_up() -> None:
    """Load, in the worker before it forks, what every job would otherwise load on its
    first request (httpx's sync and async transports, asyncio): ~40 ms a job. One
    connection attempt each to a closed port on 127.0.0.1, refused at once."""
    target = "http://127.0.0.1:9/"
    with httpx.Client(trust_env=False, verify=tls_context()) as client:
        try:
            client.get(target, timeout=0.5)
        except httpx.HTTPError:
            pass

    async def attempt() -> None:
        async with httpx.AsyncClient(trust_env=False, verify=tls_context()) as client:
            try:
                await client.get(target, timeout=0.5)
            except httpx.HTTPError:
                pass

    asyncio.run(attempt())


def current() -> WorkerContext:
    """The context of the running job (set by TriagedWorker.perform_job)."""
    return _CURRENT.get()


def activate(ctx: WorkerContext) -> contextvars.Token[WorkerContext]:
    return _CURRENT.set(ctx)


def deactivate(token: contextvars.Token[WorkerContext]) -> None:
    _CURRENT.reset(token)
